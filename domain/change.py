"""Changes (ISO/IEC 20000-1 8.5.1) and the standard change templates they may come from.

    raised -> assessed -> authorised | rejected
    authorised -> scheduled (a window) -> implementing -> implemented -> reviewed -> closed
    raised, assessed, authorised, scheduled -> cancelled

- standard: raised from a pre-approved template, authorised by it at once (no CAB); a successful
  one may close without a review.
- normal: assessed by a change manager (risk, impact on services, the CAB's named approvers and
  quorum), then authorised when a quorum of them approve. The requester cannot approve.
- emergency: the same with an emergency CAB (expedited), and a review afterwards is required.

A backout plan is required before authorisation. A change that fails or is backed out requires a
review (the review task); the application may also open a problem for it.

Every change records what it does to a service (`service_action`) and where it came from
(`source`: a person, a problem, an incident, or a machine through the intake). Its assessment
records continuity, availability and security, and the impact the CMDB gives. Tests on its
checklist pass before implementation (an emergency change may waive them, saying why). The
versioned change policy (domain/change_policy.py) judges the CAB and the approvers, and routes a
change of major impact to design and transition, which must be accepted before it is authorised.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Protocol, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from domain.actors import Role
from domain.aggregate import Aggregate, LifecycleAggregate, applies
from domain.attachments import Attachable, Attached, Detached
from domain.configuration_item import Code, CodeList
from domain.context import Context
from domain.errors import (
    AlreadyDecided,
    AlreadyLinked,
    AttachmentNotFound,
    BackoutPlanMissing,
    BackoutTestUnexplained,
    DomainError,
    NotANamedApprover,
    NothingChanged,
    NotPermitted,
    RequesterCannotApprove,
    ReviewRequired,
)
from domain.events import DomainEvent
from domain.fields import (
    Description,
    Items,
    Name,
    NamesIncident,
    NamesProblem,
    Note,
    Number,
    OptionalReason,
    Reason,
    Reasoned,
    Text,
)
from domain.organisations import ORGANISATION_PATTERN, PROVINCE
from domain.record_numbers import named_id


class ChangeKind(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class ChangeState(StrEnum):
    RAISED = "raised"
    ASSESSED = "assessed"
    AUTHORISED = "authorised"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    IMPLEMENTING = "implementing"
    IMPLEMENTED = "implemented"
    REVIEWED = "reviewed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ServiceAction(StrEnum):
    """What a change does to a service (ISO/IEC 20000-1 8.5.1.1: proposals to add, remove or
    transfer services are changes too): nothing to the service as such, or add one, remove
    one, transfer one (to whom: `transfer_to`), or modify one."""

    NONE = "none"
    ADD = "add"
    REMOVE = "remove"
    TRANSFER = "transfer"
    MODIFY = "modify"


class ChangeSource(StrEnum):
    """Where a request for change came from (8.5.1.1: RFCs from every source are recorded)."""

    PERSON = "person"
    PROBLEM = "problem"
    INCIDENT = "incident"
    RELEASE_PIPELINE = "release-pipeline"
    VENDOR = "vendor"
    UPGRADE_NOTICE = "upgrade-notice"


#: The sources a person names when raising a change (`POST /api/v1/changes`).
PEOPLES_SOURCES = frozenset({ChangeSource.PERSON, ChangeSource.PROBLEM, ChangeSource.INCIDENT})
#: The sources machines raise changes from (`POST /api/v1/changes/intake`, the integration role).
MACHINE_SOURCES = frozenset(set(ChangeSource) - PEOPLES_SOURCES)

#: A reference in another system (a pipeline run, a vendor's advisory, PRB-000012): printable,
#: no spaces, at most 200 characters.
EXTERNAL_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/#@+=-]{0,199}$"
ExternalReference = Field(
    default=None, min_length=1, max_length=200, pattern=EXTERNAL_REFERENCE_PATTERN
)
#: Where a transferred service goes: another organisation, a supplier, a party, in words.
TransferTo = Field(default=None, min_length=1, max_length=200)


class _Classified(Protocol):
    service_action: ServiceAction
    transfer_to: str | None
    services: list[str]


C = TypeVar("C", bound=_Classified)


def classification_checked(raised: C) -> C:
    """A change that adds, removes, transfers or modifies a service names it; a transfer, and
    only a transfer, says where to. The command and the event run it as their validator."""
    if (raised.service_action is ServiceAction.TRANSFER) != (raised.transfer_to is not None):
        raise ValueError("a transfer of a service says where to (transfer_to), and only a transfer")
    if raised.service_action is not ServiceAction.NONE and not raised.services:
        raise ValueError(f"a change to {raised.service_action} a service names the service")
    return raised


class TestsNotPassed(DomainError):
    """Implementation waits until every test on the change's checklist has passed (ISO/IEC
    20000-1 8.5.1.3: changes are tested before they are deployed): a normal change plans at
    least one, a standard one those its template lists; an emergency change may waive them with
    a recorded reason instead."""

    __test__ = False  # an error about tests, not a test class for pytest
    code = "tests-not-passed"


class WaiverNotAllowed(DomainError):
    """Only an emergency change starts without its tests passed, and says why."""

    code = "waiver-not-allowed"


class UnknownTest(DomainError):
    """A test result for a test the change's checklist does not hold."""

    code = "unknown-test"


class BelowApprovalMatrix(DomainError):
    """The CAB or its quorum is smaller than the change policy's approval matrix asks for the
    change's kind and risk."""

    code = "below-approval-matrix"


class ApproverRoleNotAllowed(NotPermitted):
    """The approver holds none of the roles the approval matrix names for the change (by their
    token or in the directory)."""

    code = "approver-role-not-allowed"


class DesignAcceptanceRequired(DomainError):
    """A change of major impact is authorised only after its design and transition are
    accepted."""

    code = "design-acceptance-required"


class DesignReviewNotRequired(DomainError):
    """A design-and-transition acceptance for a change the policy did not route there."""

    code = "design-review-not-required"


class NoticeAlreadyTakenIn(NothingChanged):
    """The same notice (source and reference) came again: it raised its change the first time.
    The intake answers with that change; nothing is recorded."""

    code = "notice-already-taken-in"

    def __init__(self, detail: str, change_id: UUID) -> None:
        super().__init__(detail)
        self.change_id = change_id


def intake_id(source: ChangeSource, external_reference: str) -> UUID:
    """The id of the change a machine's notice raises: the same notice again names the same
    change, so it raises none (and two at once collide in the store)."""
    return named_id("change-intake", f"{source}\n{external_reference}")


class Level(StrEnum):
    """How much a change bears on an aspect of the service (continuity, availability,
    security): an assessment says one of these for each."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Aspect(BaseModel):
    """One aspect of an assessment (8.5.1.2: continuity, availability, information security):
    a level, and what the assessor found, optionally."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    level: Level
    note: str | None = OptionalReason


class ImpactedItem(BaseModel):
    """An item that depends on one the change names, directly (distance 1) or further off."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Code
    distance: int = Field(ge=1, le=10_000)


class CmdbImpact(BaseModel):
    """What the CMDB said depends on the change's items when it was assessed: the items
    (transitively, as GET /api/v1/configuration-items/{code}/impact answers) and the services
    of those items and of the change's own. Read by the application, recorded as it was."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    items: list[ImpactedItem] = Field(default_factory=list, max_length=10_000)
    services: list[str] = Field(default_factory=list, max_length=1_000)


class TestResult(StrEnum):
    __test__ = False  # a fact about tests, not a test class for pytest

    PASSED = "passed"
    FAILED = "failed"


#: A test on a change's checklist, by its name ("restore drill on staging", "SIP2 checkout").
TestName = Annotated[str, Field(min_length=1, max_length=200)]
TestNames = list[TestName]


def distinct_tests(names: list[str]) -> list[str]:
    """A checklist names each test once."""
    if len(set(names)) != len(names):
        raise PydanticCustomError("tests_distinct", "a checklist names each test once")
    return names


class ImplementationOutcome(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    BACKED_OUT = "backed_out"


#: Where tests are run and recorded: before implementation starts.
TESTABLE = (ChangeState.RAISED, ChangeState.ASSESSED, ChangeState.AUTHORISED, ChangeState.SCHEDULED)

CANCELLABLE = frozenset(
    {ChangeState.RAISED, ChangeState.ASSESSED, ChangeState.AUTHORISED, ChangeState.SCHEDULED}
)


def template_id(code: str) -> UUID:
    return named_id("change-template", code)


# -- templates ---------------------------------------------------------------------------------


class TemplateDefined(DomainEvent):
    type_name: ClassVar[str] = "ChangeTemplate.Defined"
    code: str = Code
    title: str = Name
    description: str = Description
    services: list[str] = Items
    configuration_items: CodeList = Items
    backout_plan: str = Text
    #: The tests a change from the template passes before it is implemented (none: exempt).
    tests: TestNames = Field(default_factory=list, max_length=50)


class ChangeTemplate(Aggregate):
    """A pre-approved standard change: what it does, to which items, and how to back it out."""

    KIND: ClassVar[str] = "change template"

    code: str
    title: str
    services: list[str]
    configuration_items: list[str]
    backout_plan: str
    tests: list[str]

    @classmethod
    def define(
        cls,
        ctx: Context,
        *,
        code: str,
        title: str,
        description: str,
        services: list[str],
        configuration_items: list[str],
        backout_plan: str,
        tests: list[str] | None = None,
    ) -> ChangeTemplate:
        if ctx.actor.role not in (Role.CHANGE_MANAGER, Role.ADMIN):
            raise NotPermitted("standard change templates are approved by a change manager")
        return cls._begin(
            ctx,
            template_id(code),
            TemplateDefined,
            code=code,
            title=title,
            description=description,
            services=services,
            configuration_items=configuration_items,
            backout_plan=backout_plan,
            tests=tests or [],
        )

    @applies(TemplateDefined)
    def _defined(self, e: TemplateDefined) -> None:
        self.code, self.title, self.backout_plan = e.code, e.title, e.backout_plan
        self.services, self.configuration_items = list(e.services), list(e.configuration_items)
        self.tests = list(e.tests)


class _Assessment(Protocol):
    cab: list[str]
    quorum: int


A = TypeVar("A", bound=_Assessment)


def cab_checked(assessment: A) -> A:
    """An assessment (the command and its event), refused unless its CAB names each approver
    once and its quorum is at most the CAB's size. Both run it as their validator:
    `model_validator(mode="after")(cab_checked)`."""
    if len(set(assessment.cab)) != len(assessment.cab) or assessment.quorum > len(assessment.cab):
        raise PydanticCustomError(
            "cab_quorum", "the CAB names each approver once, and the quorum is at most its size"
        )
    return assessment


# -- change events -----------------------------------------------------------------------------


class ChangeEvent(DomainEvent):
    """A fact in a change's history (the change schedule keeps its own)."""


class Raised(ChangeEvent):
    type_name: ClassVar[str] = "Change.Raised"
    number: int = Number
    kind: ChangeKind
    title: str = Name
    description: str = Description
    requester: str = Name
    services: list[str] = Items
    configuration_items: CodeList = Items
    backout_plan: str | None = Note
    template: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")
    #: The organisation whose record it is.
    organisation: str = Field(min_length=1, max_length=64, pattern=ORGANISATION_PATTERN)
    #: What it does to a service, and where a transferred one goes.
    service_action: ServiceAction
    transfer_to: str | None = TransferTo
    #: Where the request came from, and its reference there (a pipeline run, an advisory).
    source: ChangeSource
    external_reference: str | None = ExternalReference

    #: Version 2 names the organisation always; version 1 did not have to (changes raised
    #: before records carried one belong to the province). Version 3 classifies the change
    #: and names its source; a change raised before did neither, and was a person's, touching
    #: no service as such.
    class_version: ClassVar[int] = 3

    _classified = model_validator(mode="after")(classification_checked)

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.setdefault("organisation", PROVINCE)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state.setdefault("service_action", ServiceAction.NONE.value)
        state.setdefault("source", ChangeSource.PERSON.value)


class PreAuthorised(ChangeEvent):
    """A standard change is authorised by its template, with no CAB."""

    type_name: ClassVar[str] = "Change.PreAuthorised"
    template: str = Code


class BackoutPlanRecorded(ChangeEvent):
    type_name: ClassVar[str] = "Change.BackoutPlanRecorded"
    plan: str = Text
    #: Whether the plan was tried (on a test instance, a snapshot restored) before deployment,
    #: and how (8.5.1.3: reversal planned and, where possible, tested).
    tested: bool = False
    test_note: str | None = Field(default=None, min_length=1, max_length=10_000)


class Assessed(ChangeEvent):
    type_name: ClassVar[str] = "Change.Assessed"
    risk: Risk
    impact: str = Text  # the impact on services, in words
    cab: list[str] = Field(min_length=1, max_length=50)
    quorum: int = Field(ge=1, le=50)
    #: The continuity, availability and security review (None: assessed before they were).
    continuity: Aspect | None
    availability: Aspect | None
    security: Aspect | None
    #: What depended on the change's items, as the CMDB said then (None: not read, before).
    cmdb_impact: CmdbImpact | None
    #: The change policy version that judged the CAB and quorum, and the roles it lets approve
    #: (None and none: assessed before the policy, by no matrix).
    policy_version: int | None = Field(default=None, ge=1)
    approver_roles: list[Role] = Field(default_factory=list, max_length=10)

    #: Version 2 records the three aspects and the impact read from the CMDB; an assessment
    #: stored before recorded neither, and reads as such (None), not as "no impact".
    class_version: ClassVar[int] = 2

    _quorum_fits = model_validator(mode="after")(cab_checked)

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        for name in ("continuity", "availability", "security", "cmdb_impact"):
            state.setdefault(name, None)


class RoutedToDesignAndTransition(ChangeEvent):
    """The change meets the change policy's criteria for major impact (8.5.1.1): it goes to
    service design and transition, and is not authorised before its design is accepted."""

    type_name: ClassVar[str] = "Change.RoutedToDesignAndTransition"
    criteria: list[Annotated[str, Field(min_length=1, max_length=2_000)]] = Field(
        min_length=1, max_length=10
    )
    policy_version: int = Field(ge=1)


class DesignAccepted(ChangeEvent):
    """The design and transition of a change of major impact were accepted: by whom (the
    actor), against which design document (a controlled document's code, DOC-...) and which
    acceptance criteria."""

    type_name: ClassVar[str] = "Change.DesignAccepted"
    design_document: str = Name
    acceptance_criteria: str = Text


class Approved(ChangeEvent):
    type_name: ClassVar[str] = "Change.Approved"
    approver: str = Name
    comment: str | None = OptionalReason


class Authorised(ChangeEvent):
    type_name: ClassVar[str] = "Change.Authorised"
    approvers: list[str] = Field(min_length=1, max_length=50)
    emergency: bool


class Rejected(ChangeEvent):
    type_name: ClassVar[str] = "Change.Rejected"
    approver: str = Name
    reason: str = Reason


class Scheduled(ChangeEvent):
    type_name: ClassVar[str] = "Change.Scheduled"
    start: AwareDatetime
    end: AwareDatetime
    #: what the window conflicted with, when a change manager overrode the check
    overridden: list[str] = Field(default_factory=list, max_length=1_000)
    override_reason: str | None = OptionalReason


class TestsPlanned(ChangeEvent):
    """Tests join the change's checklist (named with the backout plan, at assessment, or by
    the standard change's template): each must pass before implementation starts."""

    __test__ = False  # a fact about tests, not a test class for pytest

    type_name: ClassVar[str] = "Change.TestsPlanned"
    tests: TestNames = Field(min_length=1, max_length=50)


class TestRecorded(ChangeEvent):
    """A test on the checklist was run: passed or failed, with what was seen and the files on
    the change that hold the evidence. The latest result of a test is the one that counts."""

    __test__ = False  # a fact about tests, not a test class for pytest

    type_name: ClassVar[str] = "Change.TestRecorded"
    test: str = Name
    result: TestResult
    note: str | None = Note
    attachments: list[UUID] = Field(default_factory=list, max_length=20)


class ImplementationStarted(ChangeEvent):
    type_name: ClassVar[str] = "Change.ImplementationStarted"
    implementer: str = Name
    #: An emergency change started before its tests all passed: why.
    tests_waived: str | None = OptionalReason


class Implemented(ChangeEvent):
    type_name: ClassVar[str] = "Change.Implemented"
    outcome: ImplementationOutcome
    notes: str = Text


class ReviewTaskOpened(Reasoned, ChangeEvent):
    """A failed or backed-out change, or an emergency one, must be reviewed before it closes."""

    type_name: ClassVar[str] = "Change.ReviewTaskOpened"


class Reviewed(ChangeEvent):
    type_name: ClassVar[str] = "Change.Reviewed"
    summary: str = Text
    objectives_met: bool


class Closed(ChangeEvent):
    type_name: ClassVar[str] = "Change.Closed"


class Cancelled(Reasoned, ChangeEvent):
    type_name: ClassVar[str] = "Change.Cancelled"


class ProblemLinked(NamesProblem, ChangeEvent):
    """The change is linked to a problem (the problem records Problem.ChangeLinked)."""

    type_name: ClassVar[str] = "Change.ProblemLinked"


class IncidentLinked(NamesIncident, ChangeEvent):
    """The change is linked to an incident (the incident records Incident.LinkedToChange)."""

    type_name: ClassVar[str] = "Change.IncidentLinked"


def transition(state: ChangeState | None, event: ChangeEvent) -> ChangeState:
    """The lifecycle state after an event: shared by the aggregate and the projections."""
    match event:
        case Raised():
            return ChangeState.RAISED
        case PreAuthorised() | Authorised():
            return ChangeState.AUTHORISED
        case Assessed():
            return ChangeState.ASSESSED
        case Rejected():
            return ChangeState.REJECTED
        case Scheduled():
            return ChangeState.SCHEDULED
        case ImplementationStarted():
            return ChangeState.IMPLEMENTING
        case Implemented():
            return ChangeState.IMPLEMENTED
        case Reviewed():
            return ChangeState.REVIEWED
        case Closed():
            return ChangeState.CLOSED
        case Cancelled():
            return ChangeState.CANCELLED
    assert state is not None, "a change's history starts with Change.Raised"
    return state


class AttachmentAdded(Attached, ChangeEvent):
    """A file put on a change (domain/attachments.py): its hash, size, type and name."""

    type_name: ClassVar[str] = "Change.AttachmentAdded"


class InternalAttachmentAdded(Attached, ChangeEvent):
    """A file for the staff only (with a work note): callers never read it."""

    type_name: ClassVar[str] = "Change.InternalAttachmentAdded"


class AttachmentRemoved(Detached, ChangeEvent):
    """A file removed for privacy: its bytes deleted, its hash and the reason kept."""

    type_name: ClassVar[str] = "Change.AttachmentRemoved"


# -- the aggregate -----------------------------------------------------------------------------


class Change(
    Attachable,
    LifecycleAggregate[ChangeState],
    events=ChangeEvent,
    transition=transition,
    attachments=(AttachmentAdded, InternalAttachmentAdded, AttachmentRemoved),
):
    KIND: ClassVar[str] = "change"

    number: int
    kind: ChangeKind
    state: ChangeState
    title: str
    raised_by: str
    requester: str
    configuration_items: list[str]
    services: tuple[str, ...]
    backout_plan: str | None
    cab: frozenset[str]
    quorum: int
    approvals: tuple[str, ...]
    window: tuple[datetime, datetime] | None
    outcome: ImplementationOutcome | None
    review_required: bool
    problems: frozenset[UUID]
    incidents: frozenset[UUID]
    organisation: str
    service_action: ServiceAction
    source: ChangeSource
    #: The checklist: each test's latest result (None: not run yet), in the order planned.
    checklist: Mapping[str, TestResult | None]
    #: The roles the approval matrix let approve it (empty: assessed by no matrix).
    approver_roles: frozenset[Role]
    #: The criteria for major impact it met (empty: none), and whether its design was accepted.
    major_criteria: tuple[str, ...]
    design_accepted: bool

    @classmethod
    def raise_change(
        cls,
        ctx: Context,
        *,
        id: UUID,
        number: int,
        kind: ChangeKind,
        title: str,
        description: str,
        requester: str,
        services: list[str],
        configuration_items: list[str],
        backout_plan: str | None,
        template: ChangeTemplate | None,
        organisation: str = PROVINCE,
        service_action: ServiceAction = ServiceAction.NONE,
        transfer_to: str | None = None,
        source: ChangeSource = ChangeSource.PERSON,
        external_reference: str | None = None,
    ) -> Change:
        if (kind is ChangeKind.STANDARD) != (template is not None):
            raise ValueError("a standard change, and only a standard change, has a template")
        change = cls._begin(
            ctx,
            id,
            Raised,
            number=number,
            kind=kind,
            title=title,
            description=description,
            requester=requester,
            services=services,
            configuration_items=configuration_items,
            backout_plan=backout_plan,
            template=template.code if template else None,
            organisation=organisation,
            service_action=service_action,
            transfer_to=transfer_to,
            source=source,
            external_reference=external_reference,
        )
        if template is not None:
            change._record(PreAuthorised(**change._envelope(ctx), template=template.code))
            if template.tests:
                change._record(TestsPlanned(**change._envelope(ctx), tests=template.tests))
        return change

    def record_backout_plan(
        self,
        ctx: Context,
        *,
        plan: str,
        tested: bool = False,
        test_note: str | None = None,
        tests: list[str] | None = None,
    ) -> None:
        """The plan, and whether and how it was tested (a test says how: `test_note`); `tests`
        join the checklist."""
        self._require("record_backout_plan", ChangeState.RAISED, ChangeState.ASSESSED)
        if tested and not test_note:
            raise BackoutTestUnexplained("a tested backout plan says how it was tested")
        self._record(
            BackoutPlanRecorded(
                **self._envelope(ctx), plan=plan, tested=tested, test_note=test_note
            )
        )
        self._plan_tests(ctx, tests or [])

    def _plan_tests(self, ctx: Context, tests: list[str]) -> None:
        """Put the tests not on the checklist yet on it (one already there stays as it is)."""
        new = [name for name in dict.fromkeys(tests) if name not in self.checklist]
        if new:
            self._record(TestsPlanned(**self._envelope(ctx), tests=new))

    def record_test(
        self,
        ctx: Context,
        *,
        test: str,
        result: TestResult,
        note: str | None = None,
        attachments: list[UUID] | None = None,
    ) -> None:
        """A test on the checklist was run, before implementation: its result, what was seen,
        and the files on the change that show it."""
        self._require("record_test", *TESTABLE)
        if test not in self.checklist:
            raise UnknownTest(f"the checklist has no test {test!r}: {sorted(self.checklist)}")
        for attachment in attachments or []:
            if attachment not in self.files or attachment in self.removed_files:
                raise AttachmentNotFound(f"no attachment {attachment} on this change")
        self._record(
            TestRecorded(
                **self._envelope(ctx),
                test=test,
                result=result,
                note=note,
                attachments=list(attachments or []),
            )
        )

    @property
    def tests_outstanding(self) -> list[str]:
        """The tests on the checklist that have not passed (last run failed, or never run)."""
        return [name for name, result in self.checklist.items() if result is not TestResult.PASSED]

    def assess(
        self,
        ctx: Context,
        *,
        risk: Risk,
        impact: str,
        cab: list[str],
        quorum: int,
        continuity: Aspect,
        availability: Aspect,
        security: Aspect,
        cmdb_impact: CmdbImpact | None = None,
        tests: list[str] | None = None,
        matrix: tuple[int, list[Role], int] | None = None,
    ) -> None:
        """Risk, impact in words, the CAB and its quorum, the continuity, availability and
        security review, and what the CMDB says depends on the change's items (read by the
        application: `Session.impact_of`). `matrix`: the change policy's version, and the roles
        and least quorum its approval matrix names for this kind and risk."""
        self._require("assess", ChangeState.RAISED)
        if ctx.actor.role not in (Role.CHANGE_MANAGER, Role.ADMIN):
            raise NotPermitted("changes are assessed by a change manager")
        if matrix is not None and min(quorum, len(cab)) < matrix[2]:
            raise BelowApprovalMatrix(
                f"a {self.kind} change of {risk} risk needs a CAB and quorum of at least"
                f" {matrix[2]} (change policy version {matrix[0]})"
            )
        for approver in (self.requester, self.raised_by):
            if approver in cab:
                raise RequesterCannotApprove(f"{approver} requested the change: not on its CAB")
        self._record(
            Assessed(
                **self._envelope(ctx),
                risk=risk,
                impact=impact,
                cab=cab,
                quorum=quorum,
                continuity=continuity,
                availability=availability,
                security=security,
                cmdb_impact=cmdb_impact or CmdbImpact(),
                policy_version=matrix[0] if matrix else None,
                approver_roles=list(matrix[1]) if matrix else [],
            )
        )
        self._plan_tests(ctx, tests or [])

    def approve(
        self, ctx: Context, *, comment: str | None = None, roles: frozenset[Role] | None = None
    ) -> None:
        """A named approver approves; `roles`: all the roles they hold (their token's and the
        directory's, read by the application; by default their token's), one of which the
        approval matrix must name. A change of major impact waits for its design's acceptance."""
        approver = self._approver(ctx, "approve", roles)
        if self.backout_plan is None:
            raise BackoutPlanMissing("record a backout plan before the change is authorised")
        if self.major_criteria and not self.design_accepted:
            raise DesignAcceptanceRequired(
                "a change of major impact ("
                + "; ".join(self.major_criteria)
                + ") is authorised once its design and transition are accepted"
            )
        self._record(Approved(**self._envelope(ctx), approver=approver, comment=comment))
        if len(self.approvals) >= self.quorum:
            self._record(
                Authorised(
                    **self._envelope(ctx),
                    approvers=list(self.approvals),
                    emergency=self.kind is ChangeKind.EMERGENCY,
                )
            )

    def route_to_design_and_transition(
        self, ctx: Context, *, criteria: list[str], policy_version: int
    ) -> None:
        """Route the change to service design and transition for the criteria of major impact
        it meets (as the change policy's version judged it), those not recorded yet."""
        self._require("route_to_design_and_transition", ChangeState.RAISED, ChangeState.ASSESSED)
        new = [c for c in dict.fromkeys(criteria) if c not in self.major_criteria]
        if new:
            self._record(
                RoutedToDesignAndTransition(
                    **self._envelope(ctx), criteria=new, policy_version=policy_version
                )
            )

    def accept_design(
        self, ctx: Context, *, design_document: str, acceptance_criteria: str
    ) -> None:
        """Record that the design and transition of a change of major impact were accepted
        (a change manager, service manager or admin), before it is authorised."""
        self._require("accept_design", ChangeState.RAISED, ChangeState.ASSESSED)
        if ctx.actor.role not in (Role.CHANGE_MANAGER, Role.SERVICE_MANAGER, Role.ADMIN):
            raise NotPermitted("a design and transition is accepted by a change or service manager")
        if not self.major_criteria:
            raise DesignReviewNotRequired("the change is not one of major impact")
        if self.design_accepted:
            raise AlreadyDecided("the design and transition of this change are accepted already")
        self._record(
            DesignAccepted(
                **self._envelope(ctx),
                design_document=design_document,
                acceptance_criteria=acceptance_criteria,
            )
        )

    def reject(self, ctx: Context, *, reason: str, roles: frozenset[Role] | None = None) -> None:
        """A named approver rejects: the same standing as to approve (`roles` as there)."""
        approver = self._approver(ctx, "reject", roles)
        self._record(Rejected(**self._envelope(ctx), approver=approver, reason=reason))

    def _approver(self, ctx: Context, action: str, roles: frozenset[Role] | None) -> str:
        """Who decides: a named CAB member, not the requester, not twice, holding a role the
        approval matrix names (when the change recorded one)."""
        self._require(action, ChangeState.ASSESSED)
        who = ctx.actor.id
        if who in (self.requester, self.raised_by):
            raise RequesterCannotApprove("the requester of a change cannot approve or reject it")
        if who not in self.cab:
            raise NotANamedApprover(f"{who} is not a named approver of this change")
        if who in self.approvals:
            raise AlreadyDecided(f"{who} has already approved this change")
        if self.approver_roles and not (roles or {ctx.actor.role}) & self.approver_roles:
            raise ApproverRoleNotAllowed(
                f"{who} holds none of the roles that decide this change:"
                f" {', '.join(sorted(self.approver_roles))}"
            )
        return who

    def check_schedulable(self) -> None:
        self._require("schedule", ChangeState.AUTHORISED, ChangeState.SCHEDULED)

    def schedule(
        self,
        ctx: Context,
        *,
        start: datetime,
        end: datetime,
        overridden: list[str],
        override_reason: str | None,
    ) -> None:
        self.check_schedulable()
        self._record(
            Scheduled(
                **self._envelope(ctx),
                start=start,
                end=end,
                overridden=overridden,
                override_reason=override_reason,
            )
        )

    def start_implementation(self, ctx: Context, *, waiver: str | None = None) -> None:
        """Start in the window, once every test on the checklist has passed: a normal change
        has at least one; a standard change is exempt unless its template lists some; an
        emergency change may start without them, saying why (`waiver`, recorded)."""
        self._require("start_implementation", ChangeState.SCHEDULED)
        outstanding = self.tests_outstanding
        untested = bool(outstanding) or (
            not self.checklist and self.kind is not ChangeKind.STANDARD
        )
        if waiver is not None and self.kind is not ChangeKind.EMERGENCY:
            raise WaiverNotAllowed("only an emergency change may start with its tests waived")
        if untested and waiver is None:
            raise TestsNotPassed(
                "record the tests of the change before implementation (none planned)"
                if not self.checklist
                else f"tests not passed yet: {', '.join(outstanding)}"
                + (" (or waive them, saying why)" if self.kind is ChangeKind.EMERGENCY else "")
            )
        self._record(
            ImplementationStarted(
                **self._envelope(ctx), implementer=ctx.actor.id, tests_waived=waiver
            )
        )

    def record_implementation(
        self, ctx: Context, *, outcome: ImplementationOutcome, notes: str
    ) -> None:
        self._require("record_implementation", ChangeState.IMPLEMENTING)
        self._record(Implemented(**self._envelope(ctx), outcome=outcome, notes=notes))
        if outcome is not ImplementationOutcome.SUCCESSFUL:
            self._record(
                ReviewTaskOpened(
                    **self._envelope(ctx),
                    reason=f"the change was {outcome.value.replace('_', ' ')}: review it",
                )
            )
        elif self.kind is ChangeKind.EMERGENCY:
            self._record(
                ReviewTaskOpened(
                    **self._envelope(ctx), reason="an emergency change is reviewed afterwards"
                )
            )

    def review(self, ctx: Context, *, summary: str, objectives_met: bool) -> None:
        self._require("review", ChangeState.IMPLEMENTED)
        self._record(
            Reviewed(**self._envelope(ctx), summary=summary, objectives_met=objectives_met)
        )

    def close(self, ctx: Context) -> None:
        self._require("close", ChangeState.IMPLEMENTED, ChangeState.REVIEWED)
        if self.state is ChangeState.IMPLEMENTED and (
            self.review_required or self.kind is not ChangeKind.STANDARD
        ):
            raise ReviewRequired("review the change before it is closed")
        self._record(Closed(**self._envelope(ctx)))

    def cancel(self, ctx: Context, *, reason: str) -> None:
        self._require("cancel", *CANCELLABLE)
        self._record(Cancelled(**self._envelope(ctx), reason=reason))

    # -- links: the other record records its side in the same write --------------------------

    def link_problem(self, ctx: Context, *, problem_id: UUID, problem_ref: str) -> None:
        if problem_id in self.problems:
            raise AlreadyLinked(f"the change is already linked to {problem_ref}")
        self._record(
            ProblemLinked(**self._envelope(ctx), problem_id=problem_id, problem_ref=problem_ref)
        )

    def link_incident(self, ctx: Context, *, incident_id: UUID, incident_ref: str) -> None:
        if incident_id in self.incidents:
            raise AlreadyLinked(f"the change is already linked to {incident_ref}")
        self._record(
            IncidentLinked(
                **self._envelope(ctx), incident_id=incident_id, incident_ref=incident_ref
            )
        )

    @property
    def implemented_successfully(self) -> bool:
        return self.outcome is ImplementationOutcome.SUCCESSFUL and self.state in (
            ChangeState.IMPLEMENTED,
            ChangeState.REVIEWED,
        )

    # -- helpers --------------------------------------------------------------------------------

    # -- state changes --------------------------------------------------------------------------

    @applies(Raised)
    def _raised(self, e: Raised) -> None:
        self.number, self.kind, self.title = e.number, e.kind, e.title
        self.raised_by, self.requester = e.actor.id, e.requester
        self.configuration_items = list(e.configuration_items)
        self.services = tuple(e.services)
        self.backout_plan = e.backout_plan
        self.cab, self.quorum, self.approvals = frozenset(), 0, ()
        self.window, self.outcome, self.review_required = None, None, False
        self.problems, self.incidents = frozenset(), frozenset()
        self.organisation = e.organisation
        self.service_action, self.source = e.service_action, e.source
        self.checklist = MappingProxyType({})
        self.approver_roles, self.major_criteria, self.design_accepted = frozenset(), (), False

    @applies(PreAuthorised, Authorised, Rejected, ImplementationStarted, Closed, Cancelled)
    def _moved(self, e: ChangeEvent) -> None:
        pass  # the lifecycle state is all that changes

    @applies(BackoutPlanRecorded)
    def _backout_plan(self, e: BackoutPlanRecorded) -> None:
        self.backout_plan = e.plan

    @applies(TestsPlanned)
    def _tests_planned(self, e: TestsPlanned) -> None:
        self.checklist = MappingProxyType({**self.checklist, **dict.fromkeys(e.tests)})

    @applies(TestRecorded)
    def _test_recorded(self, e: TestRecorded) -> None:
        self.checklist = MappingProxyType({**self.checklist, e.test: e.result})

    @applies(Assessed)
    def _assessed(self, e: Assessed) -> None:
        self.cab, self.quorum = frozenset(e.cab), e.quorum
        self.approver_roles = frozenset(e.approver_roles)

    @applies(RoutedToDesignAndTransition)
    def _routed(self, e: RoutedToDesignAndTransition) -> None:
        self.major_criteria = (*self.major_criteria, *e.criteria)

    @applies(DesignAccepted)
    def _design_accepted(self, e: DesignAccepted) -> None:
        self.design_accepted = True

    @applies(Approved)
    def _approved(self, e: Approved) -> None:
        self.approvals = (*self.approvals, e.approver)

    @applies(Scheduled)
    def _scheduled(self, e: Scheduled) -> None:
        self.window = (e.start, e.end)

    @applies(Implemented)
    def _implemented(self, e: Implemented) -> None:
        self.outcome = e.outcome

    @applies(ReviewTaskOpened)
    def _review_task(self, e: ReviewTaskOpened) -> None:
        self.review_required = True

    @applies(Reviewed)
    def _reviewed(self, e: Reviewed) -> None:
        self.review_required = False

    @applies(ProblemLinked)
    def _problem_linked(self, e: ProblemLinked) -> None:
        self.problems = self.problems | {e.problem_id}

    @applies(IncidentLinked)
    def _incident_linked(self, e: IncidentLinked) -> None:
        self.incidents = self.incidents | {e.incident_id}
