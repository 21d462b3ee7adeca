"""Response shapes of the records other than incidents (api/schemas.py has those), for the
OpenAPI document and so for a generated client. Rows are served as the views store them, without
re-validation; each model declares exactly the fields a row carries (extra fields are refused,
and tests/integration/test_answer_schemas.py checks every answer of the lifecycles against its
declared schema). Nested parts whose shape belongs to a view (an assessment, an SLA rule set)
are open objects."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import ActorOut

#: An open object: a part of a row whose fields its view owns.
Part = dict[str, Any]


class Answer(BaseModel):
    """A response body: exactly these fields."""

    model_config = ConfigDict(extra="forbid")


class Link(Answer):
    """A link to another record, and when it was made."""

    id: str
    ref: str
    at: str


class Stamp(Link):
    """A link to another record, with who made it and when."""

    by: ActorOut


class ChangeApproval(Answer):
    approver: str
    comment: str | None
    at: str


class FulfilmentStep(Answer):
    step: int = Field(description="1, 2, ... in the catalogue item's order")
    text: str
    done: Part | None = Field(description="when, by whom and with what note; null until done")


class ChangeDetails(Answer):
    id: str
    ref: str = Field(examples=["CHG-000007"])
    number: int
    kind: str = Field(examples=["normal"])
    title: str
    description: str
    requester: str
    organisation: str
    services: list[str]
    configuration_items: list[str]
    backout_plan: str | None
    backout_test: Part | None = Field(
        description="whether and how the backout plan was tested, when, by whom (null: not yet)"
    )
    template: str | None
    service_action: str = Field(
        examples=["none"],
        description="what it does to a service: none, add, remove, transfer or modify",
    )
    transfer_to: str | None = Field(description="where a transferred service goes")
    source: str = Field(
        examples=["person"],
        description="where the request came from: person, problem, incident, release-pipeline,"
        " vendor or upgrade-notice",
    )
    external_reference: str | None = Field(
        description="its reference where it came from (a pipeline run, an advisory)"
    )
    state: str = Field(examples=["scheduled"])
    assessment: Part | None = Field(
        description="risk, impact in words, the CAB and quorum; continuity, availability and"
        " security (each a level and a note; null: assessed before they were recorded); the"
        " impact read from the CMDB (items that depend on the change's, with their distance,"
        " and their services); the change policy version that judged the CAB and the roles"
        " it lets approve; when and by whom"
    )
    tests: list[Part] = Field(
        description="the checklist: each test's name, latest result (null: not run), note,"
        " evidence (attachment ids), when and by whom; implementation waits until all passed"
    )
    design_and_transition: Part | None = Field(
        description="a change of major impact: the change policy's criteria it met (and the"
        " policy version), and the design-and-transition acceptance once recorded (the design"
        " document, the acceptance criteria, when, by whom); null: not of major impact"
    )
    approvals: list[ChangeApproval]
    authorisation: Part | None
    rejection: Part | None
    window: Part | None
    implementation: Part | None
    review_task: Part | None
    review: Part | None
    cancellation: Part | None
    problems: list[Link]
    incidents: list[Link]
    raised_at: str
    raised_by: ActorOut
    updated_at: str
    version: int


class ChangeReceipt(Answer):
    """What the intake answers a machine: which change its notice raised (a machine reads no
    staff record)."""

    id: str
    ref: str = Field(examples=["CHG-000007"])
    state: str = Field(examples=["raised"])
    source: str = Field(examples=["upgrade-notice"])
    external_reference: str | None = Field(examples=["SLiMS-SA-2026-004"])
    version: int


class ServiceRequestDetails(Answer):
    id: str
    ref: str = Field(examples=["REQ-000012"])
    number: int
    catalogue_item: str
    title: str
    details: str
    requester: str
    organisation: str
    service: str
    priority: int
    sla: Part | None
    state: str = Field(examples=["in_fulfilment"])
    paused: bool
    approval: Part
    fulfilment_group: str
    fulfiller: str | None
    steps: list[FulfilmentStep]
    conversation: list[Part]
    fulfilment: Part | None
    cancellation: Part | None
    ended_at: str | None = Field(
        default=None,
        description="when it ended (closed, cancelled or rejected): its requester reads it for"
        " the years the retention schedule gives after (GET /api/v1/retention)",
    )
    rating: Part | None = Field(
        default=None,
        description="the requester's rating once it is closed: score (1 to 5), comment, when, by"
        " whom",
    )
    submitted_at: str
    submitted_by: ActorOut
    updated_at: str
    version: int


class ProblemFacts(Answer):
    """What a problem says of itself, in its detail and in the known error database."""

    id: str
    number: int
    title: str
    description: str
    service: str | None
    configuration_items: list[str]
    organisation: str


class ProblemDetails(ProblemFacts):
    ref: str = Field(examples=["PRB-000003"])
    state: str = Field(examples=["known_error"])
    impact: str = Field(examples=["high"])
    urgency: str = Field(examples=["medium"])
    priority: int = Field(examples=[2], description="1 (P1, most urgent) to 5")
    matrix_version: int | None = Field(
        description="the priority matrix's version that judged it; null: none did (logged before"
        " problems had priorities, or by a failed change): medium/medium, P3"
    )
    priority_rank: str = Field(description="the queue's order: priority, then the oldest first")
    investigator: str | None
    escalated_to: str | None = Field(description="the group or manager last escalated to")
    escalations: list[Part]
    work_notes: list[Part] = Field(description="the staff's notes: text, when, by whom")
    actions_taken: list[Part] = Field(description="actions taken: what, with what result, when, by")
    root_cause: Part | None = Field(
        description="text, method (five-whys, fishbone...), analysis, when, by whom"
    )
    potential_actions: list[Part] = Field(
        description="the analyses' potential actions, numbered, each with its decision (null:"
        " not yet decided)"
    )
    workaround: Part | None
    known_error: Part | None
    resolution: Part | None
    closed_at: str | None
    cancellation: Part | None
    incidents: list[Stamp]
    changes: list[Stamp]
    logged_at: str
    logged_by: ActorOut
    updated_at: str
    version: int


class ConfigurationItemDetails(Answer):
    id: str
    code: str = Field(examples=["kiosk-03"])
    name: str
    ci_type: str
    owner: str
    status: str
    service: str | None
    location: str | None
    description: str | None
    criticality: str = Field(examples=["high"])
    depends_on: list[str]
    dependants: list[str]
    changes: list[Part]
    linked_problems: list[Stamp]
    linked_changes: list[Stamp]
    verifications: list[Part] = Field(
        description="each verification against the item itself: when, by whom (or the"
        " reconciliation: source circulation), the result, and the change that corrected it"
    )
    discrepancy_open: bool = Field(
        description="the last verification found a discrepancy no change has corrected yet"
    )
    registered_at: str
    registered_by: ActorOut
    updated_at: str
    version: int


class LastAudit(Answer):
    ref: str = Field(examples=["AUD-000003"])
    ended: str
    found: dict[str, int] = Field(description="its findings against the process's clause, by kind")


class ProgrammedProcess(Answer):
    clause: str = Field(examples=["8.6.1"])
    importance: str = Field(examples=["high"])
    every_months: int
    owner: str | None
    last_audit: LastAudit | None
    planned: list[str] = Field(description="audits planned or in progress that cover it")
    due: str = Field(description="when the next audit of it is due")
    overdue: bool
    brought_forward: bool = Field(
        description="its last audit found a major nonconformity: due in half the interval"
    )


class AuditProgramme(Answer):
    on: str
    schedule_version: int
    processes: list[ProgrammedProcess] = Field(description="the soonest due first")


class LegalHoldDetails(Answer):
    id: str
    record_id: str
    record_ref: str = Field(examples=["DOC-000003"])
    held: bool = Field(description="whether any hold stands: nothing of it is destroyed")
    holding: int = Field(description="`held` as 1 or 0 (the list's filter column)")
    matters: list[Part] = Field(description="each matter it is held for: why, when, by whom")
    released: list[Part] = Field(description="each matter once held for, and its release")
    updated_at: str
    version: int


class ReconciledItem(Answer):
    code: str = Field(examples=["kiosk-serang-01"])
    result: str = Field(examples=["discrepancy"])
    note: str = Field(examples=["recorded active, last heard from: never"])
    recorded: bool = Field(description="recorded as a verification (else as the last one)")


class UnregisteredDevice(Answer):
    device: str = Field(examples=["gate-lebak-02"])
    last_seen: str


class Reconciliation(Answer):
    stream_time: str | None = Field(description="the stream's time; null: nothing heard yet")
    compared: int
    recorded: int
    findings: list[ReconciledItem]
    unregistered: list[UnregisteredDevice] = Field(
        description="devices heard from that no configuration item records"
    )
    skipped: list[str] = Field(description="items in maintenance, left alone")


class LinkedArticle(Answer):
    ref: str = Field(examples=["KB-000001"])
    title: str
    linked_at: str
    linked_by: ActorOut


class CatalogueItem(Answer):
    code: str = Field(examples=["new-library-card"])
    title: str
    description: str
    service: str
    priority: int
    approval_required: bool
    approver_role: str | None
    approvers: list[str]
    approvals_needed: int
    fulfilment_group: str
    steps: list[str]
    knowledge: list[LinkedArticle] = Field(
        description="published knowledge articles the fulfilment follows"
    )
    defined_at: str
    defined_by: ActorOut
    version: int


class ChangeTemplate(Answer):
    code: str = Field(examples=["restart-kiosk"])
    title: str
    description: str
    services: list[str]
    configuration_items: list[str]
    backout_plan: str
    tests: list[str] = Field(
        description="tests a change from it passes before implementation (none: exempt)"
    )


class Blackout(Answer):
    ref: str = Field(description="the blackout's code")
    title: str
    start: str
    end: str
    configuration_items: list[str]
    reason: str
    declared_at: str
    declared_by: ActorOut


class DeclaredBlackout(Blackout):
    kind: str = Field(examples=["blackout"])


class WithdrawnBlackout(Answer):
    withdrawn: str = Field(description="the code of the blackout withdrawn")


class BookedWindow(Answer):
    change_id: str
    ref: str
    title: str
    start: str
    end: str
    configuration_items: list[str]
    override: Part | None
    booked_at: str
    booked_by: ActorOut
    conflicts: list[Part]


class ChangeCalendar(Answer):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    changes: list[BookedWindow]
    blackouts: list[Blackout]


class Impacted(Answer):
    code: str
    name: str
    ci_type: str
    status: str
    distance: int = Field(description="dependency hops from the item asked about")


class ImpactReport(Answer):
    code: str
    impacted: list[Impacted]


class KnownError(ProblemFacts):
    problem: str = Field(examples=["PRB-000003"])
    published_at: str | None
    symptoms: str | None
    root_cause: str | None
    workaround: str | None
    state: str


class PublishedKnownError(Answer):
    """A published known error as everyone reads it, requesters included: what goes wrong and
    what to do until it is fixed; never how the staff found out (the description, the root cause,
    work notes: the problem's own detail, staff only)."""

    id: str
    problem: str = Field(examples=["PRB-000003"])
    number: int
    title: str
    service: str | None
    configuration_items: list[str]
    symptoms: str | None = Field(examples=["Tombol perpanjang tidak bereaksi setelah pukul 23.00"])
    workaround: str | None = Field(description="the latest workaround published, if any")
    state: str = Field(
        examples=["known_error"], description="`resolved` or `closed`: fixed (by a change)"
    )
    published_at: str | None


class Recurrence(Answer):
    problem: str
    id: str
    title: str
    service: str | None
    configuration_items: list[str]
    closed_at: str | None
    recurrences: int
    incidents: list[Part]


class CandidateIncident(Answer):
    id: str
    ref: str = Field(examples=["INC-000042"])
    title: str
    logged_at: str


class ProblemProposal(Answer):
    """The body of POST /api/v1/problems that logs a problem from a candidate (edit it first)."""

    title: str
    service: str | None
    configuration_items: list[str]
    incidents: list[str]


class ProblemCandidate(Answer):
    basis: str = Field(examples=["configuration_item"], description="how the incidents gather")
    key: str = Field(
        examples=["kiosk-dpk-01"],
        description="what they share: the item, service/category, or the title words",
    )
    count: int
    first_seen: str
    last_seen: str
    incidents: list[CandidateIncident] = Field(description="the first 100, oldest first")
    proposal: ProblemProposal


class ProblemCandidates(Answer):
    since: str
    until: str
    threshold: int
    incidents_read: int = Field(description="the window's incidents looked at")
    truncated: bool = Field(description="the window held more incidents than are looked at")
    candidates: list[ProblemCandidate]


class SlaClock(Answer):
    id: str
    kind: str = Field(examples=["incident"])
    ref: str
    as_of: str
    state: str
    rules: Part
    response: Part | None
    resolution: Part | None
    paused: list[Part]
    timeline: list[Part] | None = None


class CalendarVersion(Answer):
    name: str
    version: int


class LedgerVerification(Answer):
    ok: bool
    entries_checked: int
    ledger_head: int
    store_head: int
    not_yet_in_ledger: int
    checkpoints_checked: int
    signed_through: int
    #: Seals checked after the seal key's `sealed_from`; null when no seal key was at hand.
    seals_checked: int | None
    first_bad: Part | None
    notes: list[str]


class SampledRecord(Answer):
    id: str
    position: int
    created_at: str
    created_by: ActorOut
    closed_at: str | None = Field(description="when it was closed in the period (closed only)")


class AuditSample(Answer):
    type: str
    seed: int
    n: int
    closed: bool
    records: list[SampledRecord]


class DeadLetter(Answer):
    line: int
    reason: str


class IngestReport(Answer):
    received: int
    accepted: int
    duplicates: int
    dead_letters: list[DeadLetter]


class ServiceHealth(Answer):
    stream_time: str | None
    services: list[Part]


class WhatIfStarted(Answer):
    id: str
    status: str = Field(examples=["queued"])
    location: str


class WhatIfJob(Answer):
    id: str
    status: str = Field(examples=["done"])
    requested_by: ActorOut
    requested_at: str
    request: Part
    finished_at: str | None = None
    report: Part | None = None
    error: str | None = None


class Readiness(Answer):
    status: str = Field(examples=["ready"])
    store_position: int
    projection_position: int


class Liveness(Answer):
    status: str = Field(examples=["ok"])


class ErrorCode(Answer):
    code: str
    title: str


class Page(Answer):
    """A page of a list (api/pages.py): its rows, and the cursor of the next page."""

    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: last")


class ChangeList(Page):
    items: list[ChangeDetails]


class ServiceRequestList(Page):
    items: list[ServiceRequestDetails]


class ProblemList(Page):
    items: list[ProblemDetails]


class ConfigurationItemList(Page):
    items: list[ConfigurationItemDetails]


class LegalHoldList(Page):
    items: list[LegalHoldDetails]


class CatalogueItemList(Page):
    items: list[CatalogueItem]


class KnownErrorList(Page):
    items: list[KnownError]


class RecurrenceList(Page):
    items: list[Recurrence]


class KnowledgeArticleDetails(Answer):
    id: str
    number: int
    ref: str = Field(examples=["KB-000001"])
    title: str
    body: str
    service: str | None
    keywords: list[str]
    organisation: str
    state: str = Field(examples=["published"])
    author: str
    review: dict[str, Any] | None
    published_at: str | None
    retirement: dict[str, Any] | None
    problems: list[dict[str, Any]]
    drafted_at: str
    updated_at: str
    version: int


class KnowledgeArticleList(Page):
    items: list[KnowledgeArticleDetails]


class ImprovementDetails(Answer):
    id: str
    number: int
    ref: str = Field(examples=["IMP-000001"])
    title: str
    description: str
    source: str = Field(examples=["rating"])
    source_record: Part | None = Field(description="the record it came from: kind, id and ref")
    owner: str | None = Field(description="who owns it; null: unowned")
    owned: int = Field(description="1: it has an owner; 0: unowned (list them with ?owned=false)")
    expected_benefit: str | None
    realised_benefit: str | None
    due: str | None = Field(examples=["2027-03-31"])
    organisation: str
    state: str = Field(examples=["approved"])
    approval: Part | None
    started: Part | None
    completion: Part | None
    rejection: Part | None
    owners: list[Part] = Field(description="each owner named, when, by whom and why")
    proposed_at: str
    proposed_by: ActorOut
    updated_at: str
    version: int


class ImprovementList(Page):
    items: list[ImprovementDetails]


class InternalAuditDetails(Answer):
    id: str
    number: int
    ref: str = Field(examples=["AUD-000001"])
    title: str
    scope: list[str] = Field(description="the clauses audited", examples=[["8.6.1", "8.5.1"]])
    services: list[str]
    criteria: str
    method: str
    planned: Part = Field(description="the planned start and end dates")
    period: Part = Field(description="the audited period: from and to, whole days (Jakarta)")
    lead_auditor: str
    auditors: list[str] = Field(description="every auditor, the lead first")
    organisation: str
    state: str = Field(examples=["in_progress"])
    assignments: list[Part] = Field(description="auditors named after planning: who, when, why")
    started: Part | None
    findings: list[Part] = Field(
        description="each finding: its number, kind, clause, text, evidence, the record it opened"
    )
    report: Part | None = Field(description="the conclusions, when and by whom")
    closure: Part | None
    cancellation: Part | None
    planned_at: str
    planned_by: ActorOut
    updated_at: str
    version: int


class InternalAuditList(Page):
    items: list[InternalAuditDetails]


class NonconformityDetails(Answer):
    id: str
    number: int
    ref: str = Field(examples=["NC-000001"])
    clause: str = Field(examples=["8.6.1"])
    grade: str = Field(examples=["minor"])
    description: str
    source: str = Field(examples=["audit-finding"])
    source_ref: str | None
    finding: Part | None = Field(description="the audit finding it came from: audit and number")
    owner: str
    due: str = Field(examples=["2027-04-30"])
    organisation: str
    state: str = Field(examples=["open"])
    correction: Part | None
    root_cause: Part | None
    actions: list[Part] = Field(description="corrective actions: owner, due, done with a note")
    next_due: str | None = Field(description="the earliest due date of what is left to do")
    verifications: list[Part] = Field(description="each verification: effective or not, a note")
    raised_at: str
    raised_by: ActorOut
    closed_at: str | None
    updated_at: str
    version: int


class DocumentDetails(Answer):
    """A controlled document (projections/documents.py `document_register`)."""

    id: str
    number: int
    ref: str = Field(examples=["DOC-000001"])
    title: str
    kind: str = Field(examples=["policy"])
    owner: str
    clauses: list[str] = Field(examples=[["8.5.1.1"]])
    clause_index: str
    origin: str = Field(examples=["external"])
    source: Part | None = Field(description="an external document's publisher and version")
    medium: str = Field(examples=["PDF"])
    review_months: int
    retention: Part = Field(description="keep_months after it ends, then archive or destroy")
    state: str = Field(examples=["published"])
    current_version: int | None = Field(description="the published version in force; null: none")
    next_review: str | None = Field(examples=["2027-03-02"], description="Asia/Jakarta date")
    review_due_noticed: str | None
    reviews: list[Part] = Field(description="each review that changed nothing: when, by whom")
    withdrawal: Part | None
    versions: list[Part] = Field(
        description="every version: its state, content (a file or a link), authors, submission,"
        " approval (who, when), returns (why), publication, end (superseded or withdrawn) and"
        " disposition"
    )
    registered_at: str
    registered_by: ActorOut
    registrant: str
    updated_at: str
    version: int


class NonconformityList(Page):
    items: list[NonconformityDetails]


class OverdueNonconformities(Answer):
    today: str = Field(description="the day judged by, in Asia/Jakarta")
    items: list[NonconformityDetails]


class DocumentList(Page):
    items: list[DocumentDetails]


class RetentionClassOut(Answer):
    code: str = Field(examples=["operational"])
    meaning: str


class RetentionAccess(Answer):
    who: str = Field(examples=["requester"])
    reads: str
    years_after_end: int | None = Field(
        description="years after the record ends that this access lasts; null: as long as the"
        " service runs; 0: only while it is in force"
    )


class RetentionEntry(Answer):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    record: str = Field(examples=["incident"])
    kinds: list[str] = Field(description="the kinds of record (application/kinds.py) it covers")
    class_: str = Field(alias="class", examples=["operational"])
    clauses: list[str]
    access: list[RetentionAccess]
    ends: str = Field(description="when a record of this kind ends, for the years above")


class RetentionSchedule(Answer):
    rule: str
    classes: list[RetentionClassOut]
    records: list[RetentionEntry]


class PersonDetails(Answer):
    """A person's entry in the directory (projections/directory.py `directory_people`)."""

    id: str
    actor_id: str = Field(examples=["siti.rahma"])
    name: str
    email: str | None
    phone: str | None
    language: str = Field(examples=["id"], description="id (Bahasa Indonesia) or en")
    organisation: str
    roles: list[str]
    muted: list[str] = Field(description="the optional notifications they chose not to receive")
    active: int = Field(description="1: active; 0: deactivated (told nothing, assigned nothing)")
    erased: bool = Field(
        default=False,
        description="their own data erased for good: the name reads [shredded], no contact"
        " details (docs/privacy.md)",
    )
    source: str = Field(examples=["sso"], description="admin, import, sso or seed")
    registered_at: str
    registered_by: ActorOut
    updated_at: str
    version: int


class PersonList(Page):
    items: list[PersonDetails]


class OnCallShift(Answer):
    person: str
    starts: str
    ends: str


class GroupDetails(Answer):
    """A resolver group (projections/directory.py `directory_groups`)."""

    id: str
    code: str = Field(examples=["kiosk-team"])
    name: str
    organisation: str
    manager: str | None
    members: list[str]
    hours: str | None = Field(description="the business calendar of its working hours")
    on_call: list[OnCallShift]
    disbanded: int = Field(description="1: disbanded (assigned nothing); 0: working")
    formed_at: str
    formed_by: ActorOut
    updated_at: str
    version: int


class GroupList(Page):
    items: list[GroupDetails]


class BroadcastListDetails(Answer):
    """A broadcast list: the people told of a major incident (`major-incident`)."""

    id: str
    code: str = Field(examples=["major-incident"])
    name: str
    members: list[str]
    created_at: str
    created_by: ActorOut
    updated_at: str
    version: int


class BroadcastListList(Page):
    items: list[BroadcastListDetails]


class SlaClocks(Answer):
    as_of: str
    items: list[SlaClock]


def _header(description: str, **schema: Any) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string", **schema}}


ETAG = {"ETag": _header('the record\'s version, quoted ("7"): send it as If-Match')}
LOCATION = {"Location": _header("where the record is read")}
REPLAYED = {
    "Idempotent-Replayed": _header(
        "true when this answers a retry with the same Idempotency-Key: nothing was written again",
        enum=["true"],
    )
}
LAGGING: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Recorded, but the views have not caught up yet (problem `projection-lag`):"
        " read Location shortly",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
        "headers": LOCATION,
    }
}


def written(status: int = 200, *, versioned: bool = True) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a write answered with the record as a following read shows it."""
    headers = {**(ETAG if versioned else {}), **LOCATION, **REPLAYED}
    return {status: {"headers": headers}, **LAGGING}


#: `responses=` of a read of one record: its version, for If-Match.
READ: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG}}


def streamed(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route answering bytes, not JSON: a generated client returns them."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


class WebhookEndpointDetails(Answer):
    """Where webhooks go (docs/notifications.md): never the secret, only its fingerprint."""

    id: str
    code: str = Field(examples=["bot-helpdesk"])
    name: str
    url: str
    topics: list[str] = Field(examples=[["incident.major_declared", "incident.resolved"]])
    organisation: str | None = Field(description="whose records it hears of; null: everyone's")
    state: str = Field(examples=["active"])
    paused_reason: str | None
    secret_fingerprint: str = Field(description="the first 16 hex digits of its SHA-256")
    registered_at: str
    registered_by: ActorOut
    updated_at: str
    version: int


class CannedResponseDetails(Answer):
    """A canned response: its words in Bahasa Indonesia and English, placeholders and all."""

    id: str
    code: str = Field(examples=["kartu-hilang"])
    title: str
    text_id: str
    text_en: str | None
    state: str = Field(examples=["active"], description="active or retired")
    created_at: str
    created_by: ActorOut
    revised_by: ActorOut
    revision_reason: str | None
    retired_reason: str | None
    updated_at: str
    version: int


class CannedResponseList(Page):
    items: list[CannedResponseDetails]


class BulkItem(BaseModel):
    """One record's outcome in a bulk action: its new version (status 200), or the problem its
    own action would have answered (RFC 9457 fields: type, title, status, detail, code)."""

    ref: str = Field(examples=["INC-000042"], description="the record as named (or its id)")
    status: int = Field(examples=[200, 409])
    id: str | None = None
    version: int | None = None
    type: str | None = None
    title: str | None = None
    detail: str | None = None
    code: str | None = Field(default=None, examples=["illegal-transition"])


class BulkOutcome(Answer):
    """Each record's outcome, in the order named (a saved filter's: newest first)."""

    action: str = Field(examples=["assign"])
    succeeded: int
    failed: int
    items: list[BulkItem]


class SavedFilterOut(Answer):
    """A saved filter (docs/bulk-and-filters.md): a queue its owner looks at, as
    GET /api/v1/incidents?filter=<id>."""

    id: str
    name: str = Field(examples=["Kiosk queue, waiting"])
    owner_kind: str = Field(examples=["group"], description="person or group")
    owner: str = Field(examples=["kiosk-team"], description="the person's actor id or group code")
    list: str = Field(
        examples=["incidents"],
        description="the list route it filters: incidents, service-requests, problems, changes",
    )
    query: dict[str, Any] = Field(
        examples=[{"status": "assigned", "group": "kiosk-team", "priority": None, "service": None}]
    )
    deleted: bool
    saved_at: str
    saved_by: ActorOut
    updated_at: str
    version: int


class SavedFilterList(Answer):
    """The filters the caller keeps (their own and their groups'), by name."""

    items: list[SavedFilterOut]


class InboundMailOut(Answer):
    """A message the helpdesk mailbox received, and what became of it (docs/mail-in.md)."""

    id: str
    message_id: str = Field(examples=["<CAK1x7=abc@mail.gmail.com>"])
    received_at: str
    state: str = Field(examples=["applied"], description="applied, ignored, dead or replaying")
    sender: str | None = Field(examples=["budi@perpus-serang.example"])
    subject: str
    action: str | None = Field(
        examples=["commented"], description="logged, commented, reopened or responded"
    )
    record_id: str | None
    record_ref: str | None = Field(examples=["INC-000123"])
    acted_as: str | None = Field(description="the actor it acted as: a person, or mail:<address>")
    reason: str | None = Field(description="why it was ignored or dead-lettered")
    sha256: str | None = Field(description="the hash of a dead letter's kept bytes")
    size: int | None
    uidvalidity: int | None
    uid: int | None
    redeliveries: int
    replays: int
    settled_by: ActorOut
    updated_at: str
    version: int


class WebhookEndpointWithSecret(WebhookEndpointDetails):
    """A registration's or rotation's answer: the secret, shown this once."""

    secret: str | None = Field(
        description="whsec_ and base64: the signing secret, shown only in this answer (null in"
        " the answer to a retry with the same Idempotency-Key)"
    )


class WebhookEndpointList(Page):
    items: list[WebhookEndpointDetails]


class InboundMailList(Page):
    items: list[InboundMailOut]


class MailReplayOut(Answer):
    """What a replayed dead letter became."""

    id: str
    outcome: str = Field(examples=["applied"], description="applied, ignored or dead")
    action: str | None = Field(examples=["commented"])
    record_ref: str | None = Field(examples=["INC-000123"])
    reason: str | None


class AttachmentRemovalOut(Answer):
    """Who removed a file for privacy, when and why (its hash stays on the record)."""

    at: str
    by: ActorOut
    reason: str


class AttachmentOut(Answer):
    """A file on a record: what its bytes are (their SHA-256, size and type, told from the bytes),
    its sanitised name, and whether it is the staff's only or was removed."""

    id: str
    record_id: str
    record_kind: str = Field(examples=["Incident"])
    name: str = Field(examples=["kiosk-3-error.png"])
    content_type: str = Field(examples=["image/png"])
    size: int
    sha256: str
    internal: bool = Field(
        description="a file for the staff (with a work note): callers never see it"
    )
    added_at: str
    added_by: ActorOut
    removed: AttachmentRemovalOut | None
    version: int = Field(description="the record's version after this file's last event")


class AttachmentList(Answer):
    items: list[AttachmentOut]


# -- service reports (docs/reports.md) -----------------------------------------------------------


class ReportMeasure(Answer):
    name: str = Field(examples=["resolution_met_pct"])
    unit: str = Field(examples=["percent"])
    definition: str


class ReportEntry(Answer):
    name: str = Field(examples=["incidents"])
    title: str
    purpose: str
    clauses: list[str] = Field(examples=[["8.6.1", "9.4"]])
    owner: str = Field(description="who answers for the report and its figures")
    frequency: str = Field(examples=["monthly"])
    audience: list[str]
    dimensions: list[str]
    measures: list[ReportMeasure]


class ReportCatalogue(Answer):
    reports: list[ReportEntry]


#: A report's figures by their catalogue names (a count, a percentage, hours or days; null where
#: there is nothing to divide or rank).
ReportFigures = dict[str, int | float | None]


class ReportPeriod(Answer):
    from_: str = Field(alias="from", examples=["2026-11-01"])
    to: str = Field(examples=["2026-11-30"])


class ReportRow(Answer):
    dimension: str = Field(examples=["service"])
    key: str = Field(examples=["batupusaka"])
    figures: ReportFigures


class ReportMonth(Answer):
    month: str = Field(examples=["2026-11"])
    figures: ReportFigures


class ServiceReport(Answer):
    report: str = Field(examples=["incidents"])
    period: ReportPeriod
    as_of: str = Field(description="the period's end: what the figures are as of")
    position: int = Field(description="the record was read up to this position")
    measures: list[str]
    total: ReportFigures
    rows: list[ReportRow]
    months: list[ReportMonth]
    digest: str = Field(description="SHA-256 of the report's canonical JSON, without this field")


class IssuedReportDetails(Answer):
    id: str
    code: str = Field(examples=["2026-11-incidents"])
    report: str = Field(examples=["incidents"])
    period: ReportPeriod
    position: int = Field(description="the report was made from the record up to here")
    digest: str = Field(description="SHA-256 of the report's canonical JSON, without its digest")
    trigger: str = Field(examples=["schedule"], description="schedule or request")
    body: ServiceReport
    decisions: list[Part] = Field(description="what management decided from it: when, who")
    issued_at: str
    issued_by: ActorOut
    updated_at: str
    version: int


class IssuedReportList(Page):
    items: list[IssuedReportDetails]


class ReportCheck(Answer):
    code: str
    position: int
    issued_digest: str
    digest_now: str
    same: bool


class SupplierDetails(Answer):
    id: str
    code: str = Field(examples=["vendor-ebook"])
    name: str
    kind: str = Field(examples=["external"])
    state: str = Field(examples=["active"])
    contract: Part = Field(description="the contract in force: services, targets, calendar")
    contract_version: int = Field(description="what a hold awaiting the supplier records")
    contracts: list[Part] = Field(description="each earlier contract, and why it was revised")
    retired_reason: str | None
    registered_at: str
    registered_by: ActorOut
    updated_at: str
    version: int


class SupplierList(Page):
    items: list[SupplierDetails]
