"""The scale benchmark's history: N incidents with their events, written fast, cached per size
and backend (benchmarks/scale.py).

Each incident is one decision of the command pipeline (as `itsm import` writes a case): its
whole life decided on the `Incident` aggregate's own commands and written with its number in
one group commit of `BATCH` incidents, so numbers, events and the store are the API's own. The
load model (docs/capacity.md): about 137 tickets a day (500,000 over ten years), so a history of
N incidents spans N / 137 days ending at `END`; nine organisations; six resolver groups.
`QUEUE` incidents, spread evenly over the whole history (the oldest as old as the history),
are the queue group's, of the provincial office, in progress: the team's queue and the filtered
list the benchmark walks, the same 500 at every size, among ever more closed incidents of the
same group and organisation as the history grows (the case an index must serve). Of the others,
half of the newest `OPEN_TAIL` are open; the rest closed or cancelled.

The mix follows benchmarks/whatif.py (holds for each reason, reprioritisations, functional
escalations, comments, reopens, cancellations): about 7 events an incident, plus its number.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

from application.kinds import GROUP, PERSON
from application.pipeline import Submission
from application.session import Session
from domain.actors import SYSTEM, Actor, Role
from domain.context import Context
from domain.directory import FormGroup, RegisterPerson
from domain.incident import CancelReason, Channel, EscalationKind, HoldReason, Incident
from domain.incident import ResolutionCode as Code
from domain.organisations import ORGANISATIONS, PROVINCE
from domain.priority import Impact, PriorityMatrix, Urgency
from domain.records import INCIDENT_PREFIX
from domain.rule_versions import RuleVersions
from service.bootstrap import Services

AGENT = Actor(id="bench", role=Role.AGENT)
CALLER = Actor(id="bench-caller", role=Role.REQUESTER)
ADMIN = Actor(id="bench-admin", role=Role.ADMIN)
#: The queue group: QUEUE of its incidents are open, in progress, of the provincial office.
QUEUE_GROUP = "kiosk-team"
GROUPS = (
    "helpdesk",
    "tim-inlislite",
    "tim-jaringan",
    QUEUE_GROUP,
    "layanan-sirkulasi",
    "layanan-keanggotaan",
)
#: The group the REST lifecycles assign to (benchmarks/lifecycles.py).
LIFECYCLE_GROUP = "library-ict"
QUEUE = 500
#: The newest incidents, of which half are open.
OPEN_TAIL = 500
PER_DAY = 137  # 500,000 over ten years
END = datetime(2026, 12, 1, tzinfo=UTC)
BATCH = 500
REOPEN_WINDOW = timedelta(days=5)
WORDS = (
    "kios", "gerbang", "rfid", "wifi", "katalog", "inlislite", "slims", "printer", "kartu",
    "anggota", "sirkulasi", "server", "jaringan", "lambat", "mati", "galat", "masuk", "buku",
    "peminjaman", "pengembalian", "pencarian", "ebook", "aplikasi", "batupusaka", "layar",
)  # fmt: skip
SERVICES = ("kiosks-gates", "public-wifi", "inlislite-slims", "catalogue-search", "circulation")


def directory(services: Services) -> None:
    """The bench agent and caller, and the groups the history assigns to."""
    at = services.clock()

    def ctx() -> Context:
        return Context(ADMIN, at, uuid4())

    people = [
        RegisterPerson(actor_id=AGENT.id, name="Bench Agent", roles=[Role.AGENT]),
        RegisterPerson(actor_id=CALLER.id, name="Bench Caller", roles=[Role.REQUESTER]),
    ]
    groups = [
        FormGroup(code=code, name=code.replace("-", " ").title(), members=[AGENT.id])
        for code in (*GROUPS, LIFECYCLE_GROUP)
    ]
    for batch in (people, groups):
        kind = PERSON if batch is people else GROUP
        for result in services.desk.execute_batch([Submission(ctx(), c, kind) for c in batch]):
            if isinstance(result, Exception):
                raise result


def write_incidents(
    services: Services,
    incidents: int,
    *,
    seed: int = 23,
    first: int = 0,
    total: int | None = None,
    queue: bool = True,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write incidents `first` .. `first + incidents` of a history of `total` (default: just
    these), the queue's among them unless `queue` is false; the incidents written."""
    total = total or first + incidents
    desk = services.desk
    matrix = desk.priority_matrix()
    rules = {service: desk.sla_rules_for(service) for service in SERVICES}
    organisations = [code for code, _, _ in ORGANISATIONS]
    days = max(total / PER_DAY, 1.0)
    start = END - timedelta(days=days)
    step = max(total // QUEUE, 1)
    written = 0
    ctx = Context(Actor(id="importer:bench", role=Role.INTEGRATION), services.clock(), uuid4())
    for lo in range(first, first + incidents, BATCH):
        hi = min(lo + BATCH, first + incidents)
        submissions = []
        for i in range(lo, hi):
            rng = random.Random(seed * 1_000_003 + i)
            at = start + timedelta(days=days * i / total, minutes=rng.randrange(60))
            back = total - 1 - i
            queued = queue and back % step == 0 and back // step < QUEUE
            open_ = i >= total - OPEN_TAIL
            life = partial(_life, rng, i, at, matrix, rules, organisations, queued, open_)
            submissions.append(
                Submission(ctx, f"bench-{i}", operation="bench_history", decision=life)
            )
        for result in desk.execute_batch(submissions):
            if isinstance(result, Exception):
                raise result
            written += 1
        if progress:
            progress(hi - first)
    return written


def _life(
    rng: random.Random,
    i: int,
    at: datetime,
    matrix: PriorityMatrix,
    rules: dict[str, RuleVersions | None],
    organisations: list[str],
    queue: bool,
    open_: bool,
    session: Session,
) -> UUID:
    """One incident's life: logged, assigned, worked; held, escalated, commented on; resolved and
    closed (cancelled now and then), unless it is one of the newest, which stay open."""
    record_id = uuid4()
    number = session.allocate(INCIDENT_PREFIX, record_id)
    clock = [at]

    def ctx(actor: Actor = AGENT) -> Context:
        return Context(actor, clock[0], uuid4())

    def later(low: float, high: float) -> None:
        clock[0] = clock[0] + timedelta(minutes=rng.uniform(low, high))

    service = rng.choice(SERVICES)
    words = " ".join(rng.sample(WORDS, 3))
    incident = Incident.log(
        ctx(),
        id=record_id,
        number=number,
        title=f"{words} ({i})",
        description=f"Dilaporkan di loket: {words}.",
        service=service,
        configuration_item=None,
        caller=CALLER.id,
        channel=rng.choice(list(Channel)),
        impact=rng.choices(list(Impact), weights=(1, 3, 6))[0],
        urgency=rng.choices(list(Urgency), weights=(2, 4, 4))[0],
        matrix=matrix,
        sla=rules[service],
        organisation=PROVINCE if queue else rng.choice(organisations),
    )
    group = QUEUE_GROUP if queue else rng.choice(GROUPS)
    later(2, 60)
    incident.assign(ctx(), group=group)
    if not queue and rng.random() < 0.02:
        later(5, 120)
        incident.cancel(ctx(), reason=CancelReason.LOGGED_IN_ERROR)
        session.add(incident)
        return record_id
    later(5, 240)
    incident.start_work(ctx())
    if rng.random() < 0.1:
        later(30, 600)
        new = (rng.choice(list(Impact)), rng.choice(list(Urgency)))
        if new != (incident.impact, incident.urgency):
            incident.reprioritise(
                ctx(), impact=new[0], urgency=new[1], reason="dinilai ulang", matrix=matrix
            )
    if not queue and rng.random() < 0.1:
        later(30, 900)
        to = rng.choice([g for g in GROUPS if g != group])
        incident.escalate(
            ctx(), kind=EscalationKind.FUNCTIONAL, reason="perlu tim ahli", to_group=to
        )
        later(5, 120)
        incident.start_work(ctx())
    if rng.random() < 0.3:
        later(10, 600)
        reason = rng.choices(list(HoldReason), weights=(5, 3, 2))[0]
        incident.put_on_hold(ctx(), reason=reason)
        later(60, 4 * 24 * 60)
        incident.resume(ctx())
    if rng.random() < 0.4:
        later(5, 300)
        incident.add_comment(ctx(), text=f"Sedang ditangani: {words}.")
    if not (queue or (open_ and rng.random() < 0.5)):
        _resolve_and_close(rng, incident, ctx, later, clock)
    session.add(incident)
    return record_id


def _resolve_and_close(
    rng: random.Random,
    incident: Incident,
    ctx: Callable[..., Context],
    later: Callable[[float, float], None],
    clock: list[datetime],
) -> None:
    later(20, rng.lognormvariate(7.0, 1.1))
    incident.resolve(ctx(), code=Code.FIXED, notes="sudah diperbaiki", reopen_window=REOPEN_WINDOW)
    if rng.random() < 0.05:
        later(60, 2 * 24 * 60)
        incident.reopen(ctx(CALLER), reason="rusak lagi")
        later(60, 3 * 24 * 60)
        incident.resolve(
            ctx(), code=Code.FIXED, notes="diperbaiki lagi", reopen_window=REOPEN_WINDOW
        )
    clock[0] = clock[0] + REOPEN_WINDOW + timedelta(minutes=1)
    incident.close(ctx())


__all__ = ["SYSTEM", "directory", "write_incidents"]
