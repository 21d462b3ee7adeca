"""The auditor's pages (docs/console.md, "The auditor's pages"): read-only, for the roles the API's
audit routes admit (api/audit.py AUDIT_ROLES: auditors and admins).

- `/console/audit`: the chain's state as `GET /api/v1/audit/verify` and `/audit/checkpoints`
  tell it: verified up to which position, ok or the first bad entry, the last signed checkpoint,
  where checkpoints go (Kafka, witnesses) and how that goes, the public key's id;
- `/console/audit/records?ref=&as_of=`: an incident, request, problem or change (by its number,
  or its id) as it stood at a moment typed in Jakarta's time, and its history up to then, read
  as the API reads them (api/reads.py Readable.read and .history with `as_of`);
- `/console/audit/sample`: a reproducible sample (audit/evidence.py `sample`, the code behind
  `GET /api/v1/audit/sample`), each record linked to its page as of the period's end;
- `POST /console/audit/evidence-pack?from=&to=&seed=&n=&type=&closed=`: the evidence pack of
  the period (and the sample), the export `GET /api/v1/audit/export` makes, as a download. A
  POST with the form's CSRF token, because handing out a pack records a disclosure: another
  site cannot make an auditor's browser take one. The question stays in the query, so the
  disclosure records it as the API's does.

Moments are typed as a browser's `datetime-local` writes them (no zone), read as Jakarta's time
and converted to UTC, as every time in the store is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api import audit as audit_api
from api.changes import CHANGES
from api.deps import services_of
from api.incidents import INCIDENTS
from api.params import MAX_INT
from api.problem_details import ApiProblem
from api.problem_records import PROBLEMS
from api.reads import Readable
from api.service_requests import REQUESTS
from audit.evidence import Sample, sample
from audit.keys import key_id
from audit.publish import KafkaPublisher, Publishers
from audit.service import Audit
from console import auth
from console.i18n import JAKARTA, catalogue, moment, translations
from console.render import HEADERS, render
from domain.errors import NotFound
from service.bootstrap import Services

router = APIRouter(prefix="/console", include_in_schema=False)

#: The records an auditor looks up here, by their number's prefix, and the sample's record type
#: that draws each.
KINDS: Mapping[str, Readable] = {
    "INC": INCIDENTS,
    "REQ": REQUESTS,
    "PRB": PROBLEMS,
    "CHG": CHANGES,
}
SAMPLE_TYPES: Mapping[str, str] = {
    "Incident": "INC",
    "ServiceRequest": "REQ",
    "Problem": "PRB",
    "Change": "CHG",
}
#: The most records a sample draws (the API's bound: api/audit.py SampleSize).
MOST_DRAWN = 1000
#: A moment as `<input type="datetime-local">` sends it: no zone (read as Jakarta's).
LOCAL_MOMENT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$")
#: A value shown in a record's table is cut here (a long description stays readable).
SHOWN_CHARS = 300

Text = Annotated[str | None, Query(max_length=60)]
Moment = Annotated[str | None, Query(max_length=40)]
Number = Annotated[str | None, Query(max_length=20)]


def _forbidden(request: Request, who: auth.Visitor) -> Response | None:
    """403 unless the visitor acts in a role the API's audit routes admit."""
    if who.role in audit_api.AUDIT_ROLES:
        return None
    return render(request, "error.html", who, status=403, problem="forbidden")


def _audit_of(services: Services) -> Audit | None:
    return services.audit


def local_moment(text: str | None) -> datetime | None:
    """A `datetime-local` value, read as Jakarta's time, in UTC; None when empty; ValueError when
    it is not one."""
    if not text:
        return None
    if not LOCAL_MOMENT.fullmatch(text):
        raise ValueError(f"not a datetime-local moment: {text!r}")
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA).astimezone(UTC)


def local_text(at: datetime | str | None) -> str:
    """A moment as a `datetime-local` input shows it, in Jakarta's time (to the minute)."""
    if at is None:
        return ""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return when.astimezone(JAKARTA).strftime("%Y-%m-%dT%H:%M")


# -- the chain ------------------------------------------------------------------------------------


@router.get("/audit")
async def chain_page(request: Request) -> Response:
    who = await auth.visitor(request)
    if (refused := _forbidden(request, who)) is not None:
        return refused
    services = services_of(request)
    audit = _audit_of(services)
    if audit is None:
        return render(request, "error.html", who, status=503, problem="audit-not-ready")
    state = await run_in_threadpool(chain_state, audit)
    return render(request, "audit_chain.html", who, **state)


def chain_state(audit: Audit) -> dict[str, Any]:
    """What `GET /audit/verify` and `/audit/checkpoints` say, and where checkpoints go."""
    report = audit.verified().as_json()
    held = audit.store.checkpoints()
    publisher = audit.ledger.publisher
    publishers = publisher.publishers if isinstance(publisher, Publishers) else [publisher]
    kafka = any(isinstance(p, KafkaPublisher) for p in publishers)
    witnesses = []
    for witness in audit.witnesses:
        failing = witness.failing()
        witnesses.append(
            {
                "url": witness.url,
                "failing_seconds": None if failing is None else failing.seconds(),
                "reason": None if failing is None else str(failing.error)[:300],
                "refused": witness.refused,
            }
        )
    return {
        "report": report,
        "last": held[-1] if held else None,
        "recent": list(reversed(held[-10:])),
        "checkpoint_count": len(held),
        "kafka": kafka,
        "published": audit.store.published() if kafka else None,
        "witnesses": witnesses,
        "key_id": key_id(audit.public_key),
    }


# -- a record as of a moment ----------------------------------------------------------------------


@router.get("/audit/records")
async def record_page(request: Request, ref: Text = None, as_of: Moment = None) -> Response:
    who = await auth.visitor(request)
    if (refused := _forbidden(request, who)) is not None:
        return refused
    ref, typed = (ref or "").strip(), as_of or ""
    page: dict[str, Any] = {"ref": ref, "as_of": typed, "row": None, "error": None}
    try:
        moment_asked = local_moment(typed)
    except ValueError:
        return render(request, "audit_record.html", who, status=422, **{**page, "error": "moment"})
    if not ref:
        return render(request, "audit_record.html", who, **page)
    services = services_of(request)
    try:
        kind, row, history = await run_in_threadpool(_read_as_of, services, who, ref, moment_asked)
    except NotFound:
        error = "not-yet" if moment_asked is not None and _exists(services, who, ref) else "missing"
        return render(request, "audit_record.html", who, status=404, **{**page, "error": error})
    return render(
        request,
        "audit_record.html",
        who,
        **{**page, "row": row},
        kind_type=next(t for t, prefix in SAMPLE_TYPES.items() if KINDS[prefix] is kind),
        at=moment_asked,
        fields=shown_fields(row, who.lang),
        events=shown_events(history["events"], who.lang),
    )


def _kinds_for(ref: str) -> list[Readable]:
    """The kinds a reference may name: its number's, or (an id) any of them."""
    prefix = ref.upper().partition("-")[0]
    if prefix in KINDS:
        return [KINDS[prefix]]
    try:
        UUID(ref)
    except ValueError:
        return []
    return list(KINDS.values())


def _read_as_of(
    services: Services, who: auth.Visitor, ref: str, at: datetime | None
) -> tuple[Readable, dict[str, Any], dict[str, Any]]:
    for kind in _kinds_for(ref):
        try:
            row = kind.read(services, who.ctx, ref, at)
        except NotFound:
            if len(_kinds_for(ref)) == 1:
                raise
            continue
        return kind, row, kind.history(services, who.ctx, ref, at)
    raise NotFound(f"no record {ref}")


def _exists(services: Services, who: auth.Visitor, ref: str) -> bool:
    try:
        _read_as_of(services, who, ref, None)
    except NotFound:
        return False
    return True


def _shown(value: Any, name: str, lang: str) -> str:
    """A value of a record as the page writes it: a moment in Jakarta's time, a structure as
    compact JSON, anything long cut."""
    if value is None or value in ("", [], {}):
        return "—"
    if isinstance(value, str) and name.endswith("_at"):
        try:
            return moment(value, lang)
        except ValueError:
            pass
    if isinstance(value, bool):
        return str(translations(lang).gettext("audit.yes" if value else "audit.no"))
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _label(key: str, lang: str) -> str | None:
    """The catalogue's words for a key, if it has them (a field or event it names)."""
    if catalogue(lang).get(key) is None:
        return None
    return str(translations(lang).gettext(key))


def shown_fields(row: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "label": _label(f"field.{name}", lang), "value": _shown(value, name, lang)}
        for name, value in row.items()
    ]


def shown_events(events: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    shown = []
    for event in events:
        changes = []
        for name, change in event["changes"].items():
            if "added" in change:
                what = "+ " + _shown(change["added"], name, lang)
            else:
                what = f"{_shown(change.get('from'), name, lang)} → "
                what += _shown(change.get("to"), name, lang)
            changes.append({"name": name, "what": what})
        shown.append(
            {
                **event,
                "label": _label(f"event.{event['type']}", lang),
                "shown_changes": changes,
            }
        )
    return shown


# -- a sample, and the evidence pack --------------------------------------------------------------


@dataclass
class Asked:
    """The sample page's question: a period typed in Jakarta's time, and the sample's seed,
    size, record type and whether it draws the records closed in the period."""

    since: str = ""
    until: str = ""
    seed: str = ""
    n: str = "10"
    type: str = "Incident"
    closed: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def parsed(self) -> tuple[datetime | None, datetime | None, int | None, int]:
        """The period in UTC, the seed (None: no sample asked) and the size; the fields in
        error are named in `errors`."""
        period: list[datetime | None] = []
        for name in ("since", "until"):
            try:
                period.append(local_moment(getattr(self, name)))
            except ValueError:
                self.errors[name] = "moment"
                period.append(None)
        since, until = period
        if since is not None and until is not None and until <= since:
            self.errors["until"] = "period"
        seed: int | None = None
        if self.seed:
            if self.seed.isdigit() and int(self.seed) <= MAX_INT:
                seed = int(self.seed)
            else:
                self.errors["seed"] = "seed"
        count = 10
        if self.n.isdigit() and 1 <= int(self.n) <= MOST_DRAWN:
            count = int(self.n)
        else:
            self.errors["n"] = "size"
        if self.type not in SAMPLE_TYPES:
            self.errors["type"] = "type"
        return since, until, seed, count

    def query(self) -> str:
        """The question as the evidence pack's address asks it."""
        asked = {"from": self.since, "to": self.until, "seed": self.seed}
        kept = {name: value for name, value in asked.items() if value}
        kept |= {"n": self.n, "type": self.type}
        if self.closed:
            kept["closed"] = "on"
        return urlencode(kept)


def _asked(
    since: str | None,
    until: str | None,
    seed: str | None,
    n: str | None,
    type_: str | None,
    closed: str | None,
) -> Asked:
    return Asked(
        since=since or "",
        until=until or "",
        seed=(seed or "").strip(),
        n=(n or "10").strip(),
        type=type_ or "Incident",
        closed=bool(closed),
    )


Since = Annotated[str | None, Query(alias="from", max_length=40)]
Until = Annotated[str | None, Query(alias="to", max_length=40)]
RecordType = Annotated[str | None, Query(alias="type", max_length=40)]
Closed = Annotated[str | None, Query(max_length=5)]


@router.get("/audit/sample")
async def sample_page(
    request: Request,
    since: Since = None,
    until: Until = None,
    seed: Number = None,
    n: Number = None,
    type_: RecordType = None,
    closed: Closed = None,
) -> Response:
    who = await auth.visitor(request)
    if (refused := _forbidden(request, who)) is not None:
        return refused
    services = services_of(request)
    audit = _audit_of(services)
    if audit is None:
        return render(request, "error.html", who, status=503, problem="audit-not-ready")
    asked = _asked(since, until, seed, n, type_, closed)
    submitted = bool(request.url.query)
    page: dict[str, Any] = {
        "asked": asked,
        "types": list(SAMPLE_TYPES),
        "submitted": submitted,
        "drawn": None,
    }
    if not submitted:
        return render(request, "audit_sample.html", who, **page)
    first, last, chosen, count = asked.parsed()
    if asked.errors:
        return render(request, "audit_sample.html", who, status=422, **page)
    if chosen is not None:
        wanted = Sample(asked.type, count, chosen, first, last, asked.closed)
        page["drawn"] = await run_in_threadpool(_drawn, services, who, wanted, asked)
    return render(request, "audit_sample.html", who, **page, pack_query=asked.query())


def _drawn(
    services: Services, who: auth.Visitor, wanted: Sample, asked: Asked
) -> list[dict[str, Any]]:
    """The sample's records, each with its number and the address of its page as of the period's
    end (as of now when the period has none)."""
    assert services.audit is not None
    kind = KINDS[SAMPLE_TYPES[wanted.record_type]]
    drawn = sample(services.audit.store, services.desk.mapper, wanted)
    for record in drawn:
        try:
            record["ref"] = kind.row(services, who.ctx, record["id"]).get("ref") or record["id"]
        except NotFound:
            record["ref"] = record["id"]
        question = {"ref": record["ref"], **({"as_of": asked.until} if asked.until else {})}
        record["href"] = "/console/audit/records?" + urlencode(question)
    return drawn


#: The API's refusals of a pack that the page says in words (any other: the ledger is not ready).
SAID_IN_WORDS = frozenset({"ledger-behind", "export-under-way"})


@router.post("/audit/evidence-pack")
async def evidence_pack(
    request: Request,
    since: Since = None,
    until: Until = None,
    seed: Number = None,
    n: Number = None,
    type_: RecordType = None,
    closed: Closed = None,
) -> Response:
    """The evidence pack of the period (and of the sample, with a seed), as a download."""
    who, _ = await auth.posted(request)
    if (refused := _forbidden(request, who)) is not None:
        return refused
    services = services_of(request)
    asked = _asked(since, until, seed, n, type_, closed)
    first, last, chosen, count = asked.parsed()
    if asked.errors:
        page = {"asked": asked, "types": list(SAMPLE_TYPES), "submitted": True, "drawn": None}
        return render(request, "audit_sample.html", who, status=422, **page)
    try:
        pack = await run_in_threadpool(
            audit_api.export,
            request,
            services,
            who.ctx,
            first,
            last,
            chosen,
            asked.type,
            count,
            asked.closed,
        )
    except ApiProblem as problem:
        code = problem.code if problem.code in SAID_IN_WORDS else "audit-not-ready"
        refused = render(request, "error.html", who, status=problem.status, problem=code)
        refused.headers.update(problem.headers or {})  # Retry-After, when there is one
        return refused
    stamp = services.clock().astimezone(JAKARTA).strftime("%Y%m%d-%H%M")
    pack.headers.update(HEADERS)
    pack.headers["content-disposition"] = f'attachment; filename="evidence-{stamp}.zip"'
    return pack  # type: ignore[no-any-return]
