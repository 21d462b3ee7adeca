"""Auditor access: verify the ledger, read the history as NDJSON, sample records, take evidence.

Auditors (and admins) only; auditors may read every record too (READ_ROLES) but write nothing.
Everything here reads the event store and the ledger, never the disposable views.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import StringConstraints
from starlette.background import BackgroundTask

from api.deps import ServicesDep, authorised
from api.disclosures import disclosed
from api.models import AuditSample, LedgerVerification, streamed
from api.params import MAX_INT, Since, Until
from api.problem_details import NOT_FOUND, ApiProblem, documented
from api.routing import ResourceRouter
from audit.evidence import EventFilter, Sample, event_lines, export_pack, sample
from audit.keys import key_id, public_pem
from audit.reports import period_reports
from audit.service import Audit
from domain.actors import Role
from domain.context import Context
from domain.disclosure import DisclosureKind
from service.bootstrap import Services

router = ResourceRouter(prefix="/audit", tags=["audit"])

AUDIT_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})
AuditorDep = Annotated[Context, authorised(AUDIT_ROLES, "use the audit endpoints")]


def _audit(services: Services) -> Audit:
    if services.audit is None:
        raise ApiProblem(503, "not-ready", "the audit ledger is not configured in this process")
    return services.audit


@router.get(
    "/verify",
    response_model=LedgerVerification,
    summary="Recompute the hash chain against the event store and checkpoints",
)
def verify_ledger(services: ServicesDep, _: AuditorDep) -> Response:
    """Walks the whole ledger: every stored event's digest, every link, every signed checkpoint
    (with this service's public key), and every seal of the events the service wrote (with its
    seal key), the tail not yet chained included. `first_bad` names the first position that
    fails and why; `ok` is false then. Checkpoints you hold yourself: `itsm audit verify
    --checkpoints`. One walk at a time: a request made while one runs waits for the next walk,
    which begins when that one ends and answers every request made meanwhile."""
    report = _audit(services).verified()
    return Response(orjson.dumps(report.as_json()), media_type="application/json")


@router.get(
    "/events",
    summary="The history as NDJSON (one CloudEvent per line), streamed",
    response_class=StreamingResponse,
    responses={**streamed("application/x-ndjson", "One CloudEvent per line"), **NOT_FOUND},
)
def audit_events(
    request: Request,
    services: ServicesDep,
    ctx: AuditorDep,
    since: Since = None,
    until: Until = None,
    aggregate: Annotated[
        str | None,
        Query(max_length=36, description="one record: its id, or an incident number"),
    ] = None,
    type_: Annotated[
        list[Annotated[str, StringConstraints(max_length=100)]] | None,
        Query(alias="type", max_length=100, description="event types, e.g. Incident.Resolved"),
    ] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
) -> StreamingResponse:
    """Every stored event in global order, filtered; read from the store one page at a time,
    so a year of history never sits in memory."""
    audit = _audit(services)
    record: UUID | None = None
    if aggregate is not None:
        record = services.desk.find_incident(aggregate)
    wanted = EventFilter(since, until, record, frozenset(type_ or ()), actor)
    disclosed(request, ctx, DisclosureKind.HISTORY, record=aggregate)
    lines = event_lines(
        audit.store,
        services.desk.mapper,
        wanted,
        source=services.settings.event_source,
        reader=ctx.actor.role,
    )
    return StreamingResponse(lines, media_type="application/x-ndjson")


SampleType = Annotated[
    str, Query(alias="type", max_length=40, pattern=r"^[A-Z][A-Za-z]+$", description="record type")
]
SampleSize = Annotated[int, Query(ge=1, le=1000, description="how many records to draw")]
ClosedOnly = Annotated[
    bool, Query(description="draw from the records closed in the period, not those created in it")
]


@router.get(
    "/sample",
    response_model=AuditSample,
    summary="N random records of a type created (or closed) in a period, by seed",
)
def sample_records(
    services: ServicesDep,
    _: AuditorDep,
    seed: Annotated[int, Query(ge=0, le=MAX_INT, description="draws the same records again")],
    since: Since = None,
    until: Until = None,
    type_: SampleType = "Incident",
    n: SampleSize = 10,
    closed: ClosedOnly = False,
) -> Response:
    """The same seed over the same history draws the same records, so a sample can be shown
    to be unbiased and drawn again; `GET /audit/export` with the same `seed` puts the whole
    history of each in the evidence pack."""
    audit = _audit(services)
    drawn = sample(audit.store, services.desk.mapper, Sample(type_, n, seed, since, until, closed))
    body: dict[str, Any] = {
        "type": type_,
        "seed": seed,
        "n": n,
        "closed": closed,
        "records": drawn,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/checkpoints",
    name="list_audit_checkpoints",
    summary="Every signed checkpoint (NDJSON)",
    response_class=Response,
    responses=streamed("application/x-ndjson", "One signed checkpoint per line"),
)
def checkpoints(services: ServicesDep, _: AuditorDep) -> Response:
    held = _audit(services).store.checkpoints()
    body = b"".join(orjson.dumps(c.as_json()) + b"\n" for c in held)
    return Response(body, media_type="application/x-ndjson")


@router.get(
    "/public-key",
    name="get_audit_public_key",
    summary="The public key that verifies checkpoints (PEM)",
    response_class=Response,
    responses=streamed("application/x-pem-file", "The public key (PEM); Key-Id names it"),
)
def public_key(services: ServicesDep, _: AuditorDep) -> Response:
    public = _audit(services).public_key
    return Response(
        public_pem(public), media_type="application/x-pem-file", headers={"Key-Id": key_id(public)}
    )


@router.get(
    "/export",
    name="export_audit_pack",
    summary="An evidence pack for a period (zip)",
    response_class=FileResponse,
    responses={
        **streamed("application/zip", "The evidence pack"),
        503: documented(
            "The ledger has not yet chained what is stored (`ledger-behind`), or this process is"
            " making another pack (`export-under-way`); see Retry-After"
        ),
    },
)
def export(
    request: Request,
    services: ServicesDep,
    ctx: AuditorDep,
    since: Since = None,
    until: Until = None,
    seed: Annotated[
        int | None,
        Query(ge=0, le=MAX_INT, description="hold whole the records this sample seed draws"),
    ] = None,
    type_: SampleType = "Incident",
    n: SampleSize = 10,
    closed: ClosedOnly = False,
) -> Any:
    """Events, ledger extract, checkpoints with signatures and public key, reports and a signed
    manifest; check it offline with `itsm audit verify-pack`. With `seed` (and the sample's
    `type`, `n`, `closed`), the pack also holds the whole history of each record that sample
    of the period draws, and proves no event of theirs is missing."""
    audit = _audit(services)
    if not audit.exporting.acquire(blocking=False):
        raise ApiProblem(
            503,
            "export-under-way",
            "this process is making another evidence pack; ask again once it is done",
            {"Retry-After": str(EXPORT_RETRY_S)},
        )
    try:
        return _export(request, services, audit, ctx, since, until, seed, type_, n, closed)
    finally:
        audit.exporting.release()


#: When to ask again for a pack while another is made (seconds; a pack of a year is a minute).
EXPORT_RETRY_S = 30


def _export(
    request: Request,
    services: Services,
    audit: Audit,
    ctx: Context,
    since: datetime | None,
    until: datetime | None,
    seed: int | None,
    type_: str,
    n: int,
    closed: bool,
) -> FileResponse:
    through = _chained(services, audit)
    records: list[UUID] = []
    if seed is not None:
        drawn = sample(
            audit.store, services.desk.mapper, Sample(type_, n, seed, since, until, closed)
        )
        records = [UUID(r["id"]) for r in drawn]
    fd, name = tempfile.mkstemp(prefix="itsm-evidence-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as file:
            export_pack(
                file,
                audit.store,
                services.desk.mapper,
                audit.key,
                since,
                until,
                services.clock(),
                reports=lambda a, b: period_reports(audit.store, services.desk, a, b),
                views=lambda: audit.audit_views(services.desk.recorder),
                records=records,
                through=through,
            )
        disclosed(request, ctx, DisclosureKind.EVIDENCE_PACK, sha256=_sha256(name))
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type="application/zip",
        filename="evidence.zip",
        background=BackgroundTask(os.unlink, name),
    )


def _sha256(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _chained(services: Services, audit: Audit) -> int:
    """The ledger's head once it has chained every event stored when the export was asked for
    (waiting a few seconds at most for the follower): a pack holds only events it can prove.
    503 `ledger-behind` if the ledger does not get there in time."""
    stored = audit.store.store_head()
    deadline = time.monotonic() + services.settings.read_your_writes_timeout
    while (chained := audit.store.head()[0]) < stored:
        if time.monotonic() > deadline:
            raise ApiProblem(
                503,
                "ledger-behind",
                f"the audit ledger has chained the events up to position {chained} of {stored};"
                " export again shortly (or after `itsm audit follow` runs)",
            )
        audit.ledger.wake()
        time.sleep(0.05)
    return chained
