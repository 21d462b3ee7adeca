"""Commands on configuration items, change templates, changes and the change schedule.

Each command is a pydantic model (the API's request body and the domain's input). `decide` reads
and changes records through the session: everything it records on any of them is saved in one
atomic write (both sides of a dependency, a change and its window in the schedule).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from domain import links
from domain.change import (
    EXTERNAL_REFERENCE_PATTERN as EXTERNAL_REFERENCE,
)
from domain.change import (
    MACHINE_SOURCES,
    PEOPLES_SOURCES,
    Aspect,
    Change,
    ChangeKind,
    ChangeSource,
    ChangeTemplate,
    ExternalReference,
    ImplementationOutcome,
    NoticeAlreadyTakenIn,
    Risk,
    ServiceAction,
    TestNames,
    TestResult,
    TransferTo,
    cab_checked,
    classification_checked,
    distinct_tests,
    intake_id,
    template_id,
)
from domain.change_policy import major_criteria_met
from domain.change_schedule import SCHEDULE_ID, ChangeSchedule, window_checked
from domain.commands import ActionCommand, Approval, Command, Rejection, by_action
from domain.configuration_item import (
    CODE_PATTERN,
    CiStatus,
    CiType,
    Code,
    CodeList,
    ConfigurationItem,
    Criticality,
    VerificationResult,
    ci_id,
    related,
)
from domain.context import Context
from domain.errors import (
    ChangeNotImplemented,
    DependencyCycle,
    RecordAlreadyExists,
    RecordNotFound,
)
from domain.examples import example
from domain.fields import (
    Description,
    Name,
    Note,
    OptionalName,
    OptionalReason,
    Reason,
    Reasoned,
    Text,
    record_ref,
)
from domain.fields import Items as Codes
from domain.moments import Timestamp
from domain.organisations import RequestedOrganisation
from domain.problem import Problem
from domain.record_numbers import RecordKind, number_label
from domain.service_catalogue import CODE_PATTERN as SERVICE_CODE
from domain.service_catalogue import OptionalCode as OptionalServiceCode
from domain.session import Session

CodeField = Code  # the configuration item's code, as the other commands modules name it
#: The tests a command puts on a change's checklist, each passed before implementation.
PlannedTests: Any = Field(
    default_factory=list,
    max_length=50,
    description="tests to put on the change's checklist (each must pass before implementation)",
)
#: The services a record touches, by their codes in the service catalogue.
ServiceNames = list[Annotated[str, Field(pattern=SERVICE_CODE, min_length=1, max_length=40)]]


class RecordCommand(ActionCommand):
    """An action on one numbered record (a change, service request or problem): one route
    POST /api/v1/{records}/{ref}/{action}, deciding on the record the path names."""

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        raise NotImplementedError


# -- configuration items -----------------------------------------------------------------------


def load_items(session: Session, codes: list[str]) -> dict[str, ConfigurationItem]:
    return {code: session.get(ConfigurationItem, ci_id(code), code) for code in codes}


def graph(session: Session, start: list[str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The part of the depends-on graph reachable from `start` either way, read from the store:
    (depends_on, dependants) by code."""
    depends_on: dict[str, set[str]] = {}
    dependants: dict[str, set[str]] = {}
    frontier = list(start)
    while frontier:
        code = frontier.pop()
        if code in depends_on:
            continue
        item = session.get(ConfigurationItem, ci_id(code), code)
        depends_on[code], dependants[code] = set(item.depends_on), set(item.dependants)
        frontier.extend((item.depends_on | item.dependants) - depends_on.keys())
    return depends_on, dependants


class RegisterConfigurationItem(Command):
    model_config = example(
        {
            "code": "kiosk-dpk-04",
            "name": "Self-check kiosk 4",
            "ci_type": "kiosk",
            "owner": "kiosk-team",
            "service": "kiosks-gates",
            "depends_on": ["srv-inlislite-01"],
            "description": "SIP2 self-check kiosk on the ground floor, RFID pad and printer",
            "criticality": "high",
        }
    )

    code: str = CodeField
    name: str = Name
    ci_type: CiType
    owner: str = Name
    status: CiStatus = CiStatus.ACTIVE
    service: str | None = OptionalServiceCode
    location: str | None = OptionalName
    depends_on: CodeList = Codes
    description: str | None = Note
    criticality: Criticality = Criticality.MEDIUM

    def decide(self, session: Session, ctx: Context) -> UUID:
        if session.find(ConfigurationItem, ci_id(self.code)) is not None:
            raise RecordAlreadyExists(f"configuration item {self.code} is already registered")
        if self.service is not None:
            session.service_catalogue().known([self.service])
        targets = load_items(session, self.depends_on)
        item = ConfigurationItem.register(ctx, **dict(self))
        session.add(item)
        for target in targets.values():
            target.add_dependant(ctx, self.code)
        return item.id


class VerifyConfigurationItem(ActionCommand):
    """Record that the item was compared with its record (ISO/IEC 20000-1 8.2.6, periodic
    verification): accurate, or a discrepancy saying what differs. A discrepancy is put right
    by a change, never by editing the record; the configuration report counts the items not
    verified within a year (docs/reports.md)."""

    model_config = example({"result": "accurate", "note": "checked on site, serial matches"})

    action: ClassVar[str] = "verify"
    summary: ClassVar[str] = "Record a verification of the item against the record"
    result: VerificationResult
    note: str | None = Note

    def decide(self, session: Session, ctx: Context, item_id: UUID) -> UUID:
        self.call_action(session.get(ConfigurationItem, item_id), ctx)
        return item_id


class ChangeConfigurationItem(Command):
    """Record what an implemented change did to an item: its status, owner or dependencies. An
    item of a type under change control (the change policy) changes only naming a successfully
    implemented change; any other may be edited directly, leaving `change` out (recorded so)."""

    model_config = example({"change": "CHG-000007", "status": "maintenance"})

    action: ClassVar[str] = "apply-change"
    change: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="CHG-000042 or the change's id; required for an item whose type is under"
        " change control",
    )
    status: CiStatus | None = None
    owner: str | None = OptionalName
    add_dependencies: CodeList = Codes
    remove_dependencies: CodeList = Codes

    @model_validator(mode="after")
    def _something(self) -> ChangeConfigurationItem:
        if not (self.status or self.owner or self.add_dependencies or self.remove_dependencies):
            raise ValueError("say what the change did: status, owner or dependencies")
        return self

    def decide(
        self, session: Session, ctx: Context, item_code: str, change_id: UUID | None
    ) -> UUID:
        item = session.get(ConfigurationItem, ci_id(item_code), item_code)
        policy = session.change_policy()
        controlled = policy is None or item.ci_type in policy.terms.control.ci_types
        if change_id is None:
            if controlled:
                raise ChangeNotImplemented(
                    f"{item.code} is a {item.ci_type}, under change control: name the"
                    " successfully implemented change that changed it"
                )
            return self._apply(session, ctx, item, None)
        change = session.get(Change, change_id, self.change)
        if not change.implemented_successfully:
            raise ChangeNotImplemented(
                f"{number_label(RecordKind.CHANGE, change.number)} is {change.state}"
                f"{'' if change.outcome is None else ' (' + change.outcome + ')'}: only a"
                " successfully implemented change may change a configuration item"
            )
        if item.code not in change.configuration_items:
            raise ChangeNotImplemented(
                f"{number_label(RecordKind.CHANGE, change.number)} does not name {item.code}"
            )
        return self._apply(
            session, ctx, item, (change.id, number_label(RecordKind.CHANGE, change.number))
        )

    def _apply(
        self,
        session: Session,
        ctx: Context,
        item: ConfigurationItem,
        through: tuple[UUID, str] | None,
    ) -> UUID:
        if self.status is not None:
            item.change_status(ctx, through, self.status)
        if self.owner is not None:
            item.change_owner(ctx, through, self.owner)
        for code in self.add_dependencies:
            target = session.get(ConfigurationItem, ci_id(code), code)
            if code == item.code or item.code in _upstream(session, code):
                raise DependencyCycle(f"{code} already depends on {item.code}")
            item.add_dependency(ctx, through, code)
            target.add_dependant(ctx, item.code, through)
        for code in self.remove_dependencies:
            item.remove_dependency(ctx, through, code)
            session.get(ConfigurationItem, ci_id(code), code).remove_dependant(
                ctx, through, item.code
            )
        return item.id


def _upstream(session: Session, code: str) -> set[str]:
    """Everything `code` depends on, transitively, as stored."""
    found: set[str] = set()
    frontier = [code]
    while frontier:
        item = session.get(ConfigurationItem, ci_id(frontier.pop()))
        for target in item.depends_on - found:
            found.add(target)
            frontier.append(target)
    return found


# -- change templates --------------------------------------------------------------------------


class DefineChangeTemplate(Command):
    model_config = example(
        {
            "code": "restart-kiosk",
            "title": "Restart a self-service kiosk",
            "services": ["kiosks-gates"],
            "backout_plan": "Power-cycle the kiosk again",
        }
    )

    code: str = CodeField
    title: str = Name
    description: str = Description
    services: ServiceNames = Codes
    configuration_items: CodeList = Codes
    backout_plan: str = Text
    tests: TestNames = Field(
        default_factory=list,
        max_length=50,
        description="tests a change from the template passes before implementation (none:"
        " pre-authorised changes of this template are exempt)",
    )

    _distinct = field_validator("tests")(distinct_tests)

    def decide(self, session: Session, ctx: Context) -> UUID:
        if session.find(ChangeTemplate, template_id(self.code)) is not None:
            raise RecordAlreadyExists(f"change template {self.code} is already defined")
        session.service_catalogue().known(self.services)
        load_items(session, self.configuration_items)
        template = ChangeTemplate.define(ctx, **dict(self))
        session.add(template)
        return template.id


# -- changes -----------------------------------------------------------------------------------


class RaiseChange(Command):
    model_config = example(
        {
            "kind": "normal",
            "title": "Patch the INLISLite server",
            "configuration_items": ["srv-inlislite-01"],
            "backout_plan": "Restore the snapshot",
        }
    )

    kind: ChangeKind
    title: str = Name
    description: str = Description
    requester: str | None = Field(
        default=None, min_length=1, max_length=200, description="default: whoever raises it"
    )
    services: ServiceNames = Codes
    configuration_items: CodeList = Codes
    backout_plan: str | None = Note
    template: str | None = Field(
        default=None,
        pattern=CODE_PATTERN,
        max_length=80,
        description="a standard change's template",
    )
    organisation: str | None = RequestedOrganisation
    service_action: ServiceAction = Field(
        default=ServiceAction.NONE,
        description="what the change does to a service: none, add, remove, transfer (say where"
        " to in transfer_to) or modify; a service it adds need not be in the catalogue yet",
    )
    transfer_to: str | None = TransferTo
    source: ChangeSource = Field(
        default=ChangeSource.PERSON,
        description="where the request came from: person, problem or incident (machines raise"
        " theirs through POST /api/v1/changes/intake)",
    )
    external_reference: str | None = ExternalReference

    _classified = model_validator(mode="after")(classification_checked)

    @model_validator(mode="after")
    def _template_fits_kind(self) -> RaiseChange:
        if (self.kind is ChangeKind.STANDARD) != (self.template is not None):
            raise ValueError("a standard change names its template, and only a standard change")
        return self

    @model_validator(mode="after")
    def _a_peoples_source(self) -> RaiseChange:
        if self.source not in self.allowed_sources():
            raise ValueError(f"a change from {self.source} is raised through another route")
        return self

    @classmethod
    def allowed_sources(cls) -> frozenset[ChangeSource]:
        return PEOPLES_SOURCES

    def decide(self, session: Session, ctx: Context) -> UUID:
        return self.raise_in(session, ctx, session.new_id())

    def raise_in(self, session: Session, ctx: Context, change_id: UUID) -> UUID:
        template = None
        items, services, plan = self.configuration_items, self.services, self.backout_plan
        if self.template is not None:
            template = session.get(ChangeTemplate, template_id(self.template), self.template)
            items = sorted({*items, *template.configuration_items})
            services = list(dict.fromkeys([*services, *template.services]))
            plan = plan or template.backout_plan
        elif self.service_action is not ServiceAction.ADD:  # a new service is not listed yet
            session.service_catalogue().known(services)
        load_items(session, items)
        change = Change.raise_change(
            ctx,
            id=change_id,
            number=session.allocate(RecordKind.CHANGE, change_id),
            kind=self.kind,
            title=self.title,
            description=self.description,
            requester=self.requester or ctx.actor.id,
            services=services,
            configuration_items=items,
            backout_plan=plan,
            template=template,
            organisation=ctx.organisation_for(self.organisation),
            service_action=self.service_action,
            transfer_to=self.transfer_to,
            source=self.source,
            external_reference=self.external_reference,
        )
        session.add(change)
        links.change_and_items(session, ctx, change)
        if self.kind is not ChangeKind.STANDARD:  # a template's change is pre-authorised
            route_if_major(session, ctx, change, risk=None, services=services)
        return change.id


def route_if_major(
    session: Session, ctx: Context, change: Change, *, risk: Risk | None, services: list[str]
) -> None:
    """Route the change to service design and transition if it meets the change policy's
    criteria for major impact (criteria it met already are not recorded again)."""
    policy = session.change_policy()
    if policy is None:
        return
    items = {
        code: session.get(ConfigurationItem, ci_id(code), code).criticality
        for code in change.configuration_items
    }
    met = major_criteria_met(
        policy.terms.major,
        service_action=change.service_action,
        risk=risk,
        items=items,
        services=services,
    )
    if met:
        change.route_to_design_and_transition(ctx, criteria=met, policy_version=policy.version)


class TakeInChange(RaiseChange):
    """A request for change from a machine (a release pipeline, a vendor's upgrade notice): the
    integration role's intake. Idempotent on (source, external reference): the same notice
    again raises nothing and answers the change the first one raised."""

    model_config = example(
        {
            "source": "upgrade-notice",
            "external_reference": "SLiMS-SA-2026-004",
            "kind": "normal",
            "title": "SLiMS 9.6.2 security release",
            "services": ["inlislite-slims"],
            "service_action": "modify",
            "backout_plan": "Reinstall 9.6.1 from the package cache",
        }
    )

    source: ChangeSource = Field(
        description="release-pipeline, vendor or upgrade-notice",
    )
    external_reference: str = Field(
        min_length=1,
        max_length=200,
        pattern=EXTERNAL_REFERENCE,
        description="the notice's own reference (a pipeline run, an advisory): a second notice"
        " with the same source and reference raises nothing and answers the first change",
    )

    @classmethod
    def allowed_sources(cls) -> frozenset[ChangeSource]:
        return MACHINE_SOURCES

    def decide(self, session: Session, ctx: Context) -> UUID:
        change_id = intake_id(self.source, self.external_reference)
        if session.find(Change, change_id) is not None:
            raise NoticeAlreadyTakenIn(
                f"{self.source} {self.external_reference} has raised its change", change_id
            )
        return self.raise_in(session, ctx, change_id)


class ChangeCommand(RecordCommand):
    """An action on one change: POST /api/v1/changes/{ref}/{action}."""

    def decide(self, session: Session, ctx: Context, change_id: UUID) -> UUID:
        self.execute(session.get(Change, change_id), session, ctx)
        return change_id

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        self.call_action(change, ctx)


class RecordBackoutPlan(ChangeCommand):
    model_config = example(
        {
            "plan": "Restore last night's snapshot",
            "tested": True,
            "test_note": "Snapshot restored on the staging server in 12 minutes",
        }
    )

    action = "record-backout-plan"
    summary = (
        "Record (or replace) the backout plan, and whether it was tested; required before"
        " authorisation. `tests` put tests on the change's checklist"
    )
    plan: str = Text
    tested: bool = False
    test_note: str | None = Note
    tests: TestNames = PlannedTests

    _distinct = field_validator("tests")(distinct_tests)


class Assess(ChangeCommand):
    model_config = example(
        {
            "risk": "medium",
            "impact": "The catalogue is down for an hour",
            "cab": ["ahmad", "yusuf", "lina"],
            "quorum": 2,
            "continuity": {"level": "low", "note": "the branches issue on paper for an hour"},
            "availability": {"level": "medium", "note": "OPAC down 22:00-23:00"},
            "security": {"level": "none"},
        }
    )

    action = "assess"
    summary = (
        "Assess risk, impact, continuity, availability and security; name the CAB and its"
        " quorum (change manager). What depends on the change's items is read from the CMDB"
        " and recorded with it"
    )
    risk: Risk
    impact: str = Text
    cab: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=50
    )
    quorum: int = Field(ge=1, le=50)
    continuity: Aspect = Field(description="the bearing on service continuity")
    availability: Aspect = Field(description="the bearing on availability")
    security: Aspect = Field(description="the information security review")
    tests: TestNames = PlannedTests

    _quorum_fits = model_validator(mode="after")(cab_checked)
    _distinct = field_validator("tests")(distinct_tests)

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        policy = session.change_policy()
        matrix = None
        if policy is not None and change.kind is not ChangeKind.STANDARD:
            approvers = policy.terms.approvers(change.kind, self.risk)
            matrix = (policy.version, approvers.roles, approvers.quorum)
        cmdb_impact = session.impact_of(change.configuration_items)
        change.assess(
            ctx,
            risk=self.risk,
            impact=self.impact,
            cab=self.cab,
            quorum=self.quorum,
            continuity=self.continuity,
            availability=self.availability,
            security=self.security,
            cmdb_impact=cmdb_impact,
            tests=self.tests,
            matrix=matrix,
        )
        services = list(dict.fromkeys([*change.services, *cmdb_impact.services]))
        route_if_major(session, ctx, change, risk=self.risk, services=services)


class AcceptDesign(ChangeCommand):
    model_config = example(
        {
            "design_document": "DOC-000031 v2",
            "acceptance_criteria": "E-journal reachable from OPAC; SSO for members; a support"
            " agreement with the publisher",
        }
    )

    action = "accept-design"
    summary = (
        "Record that the design and transition of a change of major impact were accepted (a"
        " change or service manager): the design document and the acceptance criteria"
    )
    design_document: str = Field(
        min_length=1,
        max_length=200,
        description="the design document: a controlled document's code (DOC-...) or a title",
    )
    acceptance_criteria: str = Text


class Approve(Approval, ChangeCommand):
    action = "approve"
    summary = (
        "Approve as a named CAB member holding a role the approval matrix names (by token or in"
        " the directory); the quorum's last approval authorises the change"
    )

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        roles = {ctx.actor.role, *session.directory_roles(ctx.actor.id)}
        change.approve(ctx, comment=self.comment, roles=frozenset(roles))


class Reject(Rejection, ChangeCommand):
    action = "reject"
    summary = "Reject as a named CAB member holding a role the approval matrix names"

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        roles = {ctx.actor.role, *session.directory_roles(ctx.actor.id)}
        change.reject(ctx, reason=self.reason, roles=frozenset(roles))


class Schedule(ChangeCommand):
    model_config = example(
        {"start": "2026-03-04T22:00:00+07:00", "end": "2026-03-05T00:00:00+07:00"}
    )

    action = "schedule"
    summary = (
        "Book the implementation window; refused on a conflict unless a change manager"
        " overrides it with a reason (the override is recorded)"
    )
    start: Timestamp
    end: Timestamp
    override_reason: str | None = OptionalReason

    _valid_window = model_validator(mode="after")(window_checked)

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        change.check_schedulable()
        depends_on, dependants = graph(session, change.configuration_items)
        reach = related(depends_on, dependants, change.configuration_items)
        schedule = session.get_or_new(ChangeSchedule, SCHEDULE_ID)
        conflicts = schedule.book(
            ctx,
            change_id=change.id,
            change_ref=number_label(RecordKind.CHANGE, change.number),
            title=change.title,
            start=_utc(self.start),
            end=_utc(self.end),
            items=change.configuration_items,
            reach=reach,
            override_reason=self.override_reason,
        )
        change.schedule(
            ctx,
            start=_utc(self.start),
            end=_utc(self.end),
            overridden=[c["ref"] for c in conflicts],
            override_reason=self.override_reason if conflicts else None,
        )


class RecordTest(ChangeCommand):
    model_config = example(
        {
            "test": "restore drill on staging",
            "result": "passed",
            "note": "snapshot restored in 12 minutes; OPAC answered",
            "attachments": ["4f0c5d1e-8a2b-4c3d-9e7f-0a1b2c3d4e5f"],
        }
    )

    action = "record-test"
    summary = (
        "Record a test on the checklist as passed or failed, with a note and the change's files"
        " that show it (before implementation; the latest result of a test counts)"
    )
    test: str = Field(min_length=1, max_length=200, description="a test on the checklist")
    result: TestResult
    note: str | None = Note
    attachments: list[UUID] = Field(
        default_factory=list,
        max_length=20,
        description="ids of files attached to the change (POST .../attachments) as evidence",
    )


class StartImplementation(ChangeCommand):
    model_config = example({})

    action = "start-implementation"
    summary = (
        "Start implementing in the scheduled window, once every test on the checklist passed"
        " (a normal change has at least one; an emergency change may waive them, saying why)"
    )
    waiver: str | None = Field(
        default=None,
        min_length=1,
        max_length=2_000,
        description="an emergency change only: why it starts before its tests all passed",
    )


class RecordImplementation(ChangeCommand):
    model_config = example(
        {"outcome": "successful", "notes": "Kernel patched; the catalogue answers again"}
    )

    action = "record-implementation"
    summary = (
        "Record the outcome: successful, failed or backed out (a failed or backed-out change"
        " opens a review task, and a problem when asked)"
    )
    outcome: ImplementationOutcome
    notes: str = Text
    open_problem: bool = Field(
        default=False,
        description="a failed or backed-out change: also log a problem for it, linked both ways",
    )

    @model_validator(mode="after")
    def _problem_for_failure(self) -> RecordImplementation:
        if self.open_problem and self.outcome is ImplementationOutcome.SUCCESSFUL:
            raise ValueError("a problem is opened for a failed or backed-out change only")
        return self

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        change.record_implementation(ctx, outcome=self.outcome, notes=self.notes)
        session.get_or_new(ChangeSchedule, SCHEDULE_ID).release(
            ctx, change_id=change.id, reason=f"implemented: {self.outcome.value}"
        )
        if self.open_problem:
            ref = number_label(RecordKind.CHANGE, change.number)
            problem_id = session.new_id()
            problem = Problem.log(
                ctx,
                id=problem_id,
                number=session.allocate(RecordKind.PROBLEM, problem_id),
                title=f"{ref} {self.outcome.value.replace('_', ' ')}: {change.title}"[:200],
                description=self.notes,
                service=change.services[0] if change.services else None,
                configuration_items=change.configuration_items,
            )
            session.add(problem)
            for item in load_items(session, change.configuration_items).values():
                item.link_problem(
                    ctx, problem_id=problem_id, problem_ref=links.problem_ref(problem)
                )
            links.problem_and_change(ctx, problem, change)


class LinkIncident(ChangeCommand):
    model_config = example({"incident": "INC-000042"})

    action = "link-incident"
    summary = "Link an incident to the change (both records record the link)"
    incident: str = record_ref("INC-000042 or the id")

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        links.incident_and_change(ctx, links.load_incident(session, self.incident), change)


class Review(ChangeCommand):
    action = "review"
    summary = "Record the post-implementation review"
    summary_text: str = Field(alias="summary", min_length=1, max_length=10_000)
    objectives_met: bool

    model_config = example(
        {"summary": "Patched within the window; no incidents after", "objectives_met": True},
        frozen=True,
        extra="forbid",
        populate_by_name=True,
    )

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        change.review(ctx, summary=self.summary_text, objectives_met=self.objectives_met)


class Close(ChangeCommand):
    model_config = example({})

    action = "close"
    summary = "Close (after the review; a successful standard change may close without one)"


class CancelChange(Reasoned, ChangeCommand):
    model_config = example({"reason": "Superseded by CHG-000009"})

    action = "cancel"
    summary = "Cancel before implementation; a booked window is released"

    def execute(self, change: Change, session: Session, ctx: Context) -> None:
        change.cancel(ctx, reason=self.reason)
        session.get_or_new(ChangeSchedule, SCHEDULE_ID).release(
            ctx, change_id=change.id, reason="cancelled"
        )


CHANGE_COMMANDS = by_action(
    RecordBackoutPlan,
    Assess,
    AcceptDesign,
    RecordTest,
    Approve,
    Reject,
    Schedule,
    StartImplementation,
    RecordImplementation,
    Review,
    Close,
    CancelChange,
    LinkIncident,
)


# -- blackout windows --------------------------------------------------------------------------


class DeclareBlackout(Command):
    model_config = example(
        {
            "code": "year-end-2026",
            "title": "Year-end closing",
            "start": "2026-12-28T00:00:00+07:00",
            "end": "2027-01-02T00:00:00+07:00",
            "configuration_items": ["srv-inlislite-01"],
            "reason": "Annual stock-taking",
        }
    )

    code: str = CodeField
    title: str = Name
    start: Timestamp
    end: Timestamp
    configuration_items: CodeList = Field(
        default_factory=list, max_length=100, description="empty: every item"
    )
    reason: str = Reason

    _valid_window = model_validator(mode="after")(window_checked)

    def decide(self, session: Session, ctx: Context) -> UUID:
        load_items(session, self.configuration_items)
        schedule = session.get_or_new(ChangeSchedule, SCHEDULE_ID)
        if self.code in schedule.blackouts:
            raise RecordAlreadyExists(f"blackout window {self.code} is already declared")
        schedule.declare_blackout(
            ctx,
            code=self.code,
            title=self.title,
            start=_utc(self.start),
            end=_utc(self.end),
            items=self.configuration_items,
            reason=self.reason,
        )
        return schedule.id


class WithdrawBlackout(Reasoned, Command):
    model_config = example({"reason": "Stock-taking moved to February"})

    def decide(self, session: Session, ctx: Context, code: str) -> UUID:
        schedule = session.find(ChangeSchedule, SCHEDULE_ID)
        if schedule is None:
            raise RecordNotFound(f"no blackout window {code}")
        schedule.withdraw_blackout(ctx, code=code, reason=self.reason)
        return schedule.id


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
