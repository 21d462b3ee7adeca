"""The incident aggregate (ISO/IEC 20000-1 8.6.1).

    logged -> assigned -> in_progress <-> on_hold -> resolved -> closed
                                                        |  ^
                                                reopen  v  | (within the window)
    any open state -> cancelled (duplicate, or logged in error)
    any open state -> resolved, when its parent is resolved (Incident.ParentResolved, then
                      Incident.Resolved, recorded by the service on behalf of the resolver)

Related incidents: a parent (a major incident) and its children (the reports of it), one parent
per child and no cycles, a child unlinked (on the child: it holds the one link) with a reason; and
a duplicate, cancelled, whose caller the surviving incident records as affected
(Incident.DuplicateMerged) so that they hear of its resolution.

Write-side state keeps only what decisions need; titles, descriptions and notes live in the events
and in the projections built from them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Protocol, Self, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.actors import SYSTEM, Actor, Role
from domain.aggregate import Aggregate, applies
from domain.attachments import Attachable, Attached, Detached
from domain.context import Context
from domain.errors import (
    AlreadyAMajorIncident,
    AlreadyHasParent,
    AlreadyLinked,
    AssignmentUnchanged,
    ConfirmationWindowOpen,
    DuplicateOfItself,
    EscalationTargetUnchanged,
    IllegalTransition,
    IncidentAlreadyClosed,
    NoParent,
    NotAMajorIncident,
    NothingChanged,
    NotTheCaller,
    ParentCycle,
    PriorityUnchanged,
    ReopenWindowClosed,
    ReviewRequired,
    SlaAlertNotDue,
    SlaAlertsAlreadyRecorded,
    SupplierNotAwaited,
    TooManyRelated,
)
from domain.events import MAX_INT, DomainEvent
from domain.fields import (
    Description,
    Name,
    NamesChange,
    NamesProblem,
    Number,
    OptionalName,
    Reason,
    Reasoned,
    Ref,
    Text,
)
from domain.major_incident import Criterion, MajorIncidentCriteria
from domain.organisations import PROVINCE, OrganisationCode
from domain.priority import Impact, PriorityMatrix, Urgency
from domain.records import incident_number_label
from domain.rule_versions import RuleVersions, SlaBreach, SlaTarget, SlaWarning
from domain.satisfaction import Rating, check_rater
from domain.service_catalogue import Classification, OptionalCode


class IncidentState(StrEnum):
    LOGGED = "logged"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset(
    {IncidentState.LOGGED, IncidentState.ASSIGNED, IncidentState.IN_PROGRESS, IncidentState.ON_HOLD}
)


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    WALK_IN = "walk_in"
    PORTAL = "portal"
    CHAT = "chat"
    MONITORING = "monitoring"


class HoldReason(StrEnum):
    AWAITING_CALLER = "awaiting_caller"
    AWAITING_SUPPLIER = "awaiting_supplier"
    AWAITING_CHANGE = "awaiting_change"


class EscalationKind(StrEnum):
    FUNCTIONAL = "functional"  # to another group with the skills
    HIERARCHICAL = "hierarchical"  # up the line, to a manager


class ResolutionCode(StrEnum):
    FIXED = "fixed"
    WORKAROUND = "workaround"
    NOT_REPRODUCIBLE = "not_reproducible"
    CALLER_RESOLVED = "caller_resolved"
    RESOLVED_BY_CHANGE = "resolved_by_change"


class CancelReason(StrEnum):
    DUPLICATE = "duplicate"
    LOGGED_IN_ERROR = "logged_in_error"


#: How many children a parent holds, and affected callers a survivor: each is written in one
#: atomic write when the parent is resolved, so the number is bounded.
MAX_RELATED = 500
#: How far up a chain of parents a link looks for a cycle (a chain longer is refused as one).
MAX_DEPTH = 20


class ClosureBasis(StrEnum):
    CONFIRMED_BY_CALLER = "confirmed_by_caller"
    WINDOW_ELAPSED = "window_elapsed"


class _Cancellation(Protocol):
    reason: CancelReason
    duplicate_of: UUID | None


_C = TypeVar("_C", bound=_Cancellation)


class Escalation(BaseModel):
    """An escalation, as asked for (the command) and as recorded (the event): its kind, why, and
    a target that fits the kind. Mixed in first, so the fields follow the event's envelope."""

    kind: EscalationKind
    reason: str = Reason
    to_group: str | None = OptionalName
    to_manager: str | None = OptionalName

    @model_validator(mode="after")
    def _target_fits_kind(self) -> Self:
        kind, to_group, to_manager = self.kind, self.to_group, self.to_manager
        if kind is EscalationKind.FUNCTIONAL and (not to_group or to_manager):
            raise ValueError("a functional escalation names a group (to_group), and only a group")
        if kind is EscalationKind.HIERARCHICAL and (not to_manager or to_group):
            raise ValueError(
                "a hierarchical escalation names a manager (to_manager), and only that"
            )
        return self


def cancellation_checked(cancellation: _C) -> _C:
    """A cancellation (as asked for, and as recorded) refused unless it names the original
    exactly when it cancels a duplicate; run as the validator of each."""
    if (cancellation.reason is CancelReason.DUPLICATE) != (cancellation.duplicate_of is not None):
        raise ValueError(
            "a duplicate names the incident it duplicates (duplicate_of), and only then"
        )
    return cancellation


class ImportSource(BaseModel):
    """Where an imported incident came from: the source system, its case id, and the file line of
    the case's first row. Each imported event's correlation id is derived from (system, case, line)
    of the row it came from (processes/importer.py, `source_correlation`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    system: str = Field(min_length=1, max_length=64)
    case: str = Name
    line: int = Number
    file: str | None = Field(default=None, min_length=1, max_length=255)


# -- events ------------------------------------------------------------------------------------


class IncidentEvent(DomainEvent):
    """A fact in an incident's history."""


class Logged(IncidentEvent):
    type_name: ClassVar[str] = "Incident.Logged"
    number: int = Number
    title: str = Name
    description: str = Description
    service: str = Name
    configuration_item: str | None = OptionalName
    caller: str = Name
    channel: Channel
    impact: Impact
    urgency: Urgency
    priority: int = Field(ge=1, le=5)
    matrix_version: int = Number
    #: The SLA policy and calendar versions that judge it. Incidents logged before SLA policies
    #: existed have none, and are judged by the first versions (see docs/sla.md).
    sla: RuleVersions | None = None
    #: The organisation whose record it is (events stored before organisations: the province).
    organisation: str = OrganisationCode
    #: Imported from another system's history (None when logged here).
    source: ImportSource | None = None
    #: Within the service (a code of the service catalogue's version `catalogue_version`; events
    #: stored before the catalogue, and imports, name none and their service as free text).
    category: str | None = OptionalCode
    subcategory: str | None = OptionalCode
    catalogue_version: int | None = Field(default=None, ge=1, le=MAX_INT)


class Recategorised(IncidentEvent):
    """The service, category or subcategory changed, and why (by the catalogue's version
    `catalogue_version`). The SLA rules it was logged under stay (docs/sla.md)."""

    type_name: ClassVar[str] = "Incident.Recategorised"
    service: str = Name
    category: str | None = OptionalCode
    subcategory: str | None = OptionalCode
    catalogue_version: int = Number
    reason: str = Reason


class Assigned(IncidentEvent):
    type_name: ClassVar[str] = "Incident.Assigned"
    group: str = Name
    agent: str | None = OptionalName


class WorkStarted(IncidentEvent):
    type_name: ClassVar[str] = "Incident.WorkStarted"
    agent: str = Name


class PutOnHold(IncidentEvent):
    type_name: ClassVar[str] = "Incident.PutOnHold"
    reason: HoldReason
    note: str | None = Field(default=None, max_length=10_000)
    #: Awaiting this supplier (domain/supplier.py), under its contract's version: its clock runs
    #: until the incident resumes, is resolved, closed or cancelled, or is held again.
    supplier: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    contract_version: int | None = Field(default=None, ge=1, le=MAX_INT)


class Resumed(IncidentEvent):
    type_name: ClassVar[str] = "Incident.Resumed"
    note: str | None = Field(default=None, max_length=10_000)


class WorkNoteAdded(IncidentEvent):
    type_name: ClassVar[str] = "Incident.WorkNoteAdded"
    text: str = Text


class CommentAdded(IncidentEvent):
    """A public comment, visible to the caller (unlike a work note)."""

    type_name: ClassVar[str] = "Incident.CommentAdded"
    text: str = Text


class Reprioritised(IncidentEvent):
    type_name: ClassVar[str] = "Incident.Reprioritised"
    impact: Impact
    urgency: Urgency
    priority: int = Field(ge=1, le=5)
    matrix_version: int = Number
    reason: str = Reason


class Escalated(Escalation, IncidentEvent):
    type_name: ClassVar[str] = "Incident.Escalated"


class MajorIncidentDeclared(IncidentEvent):
    type_name: ClassVar[str] = "Incident.MajorIncidentDeclared"
    manager: str = Name
    reason: str = Reason


class MajorIncidentStoodDown(Reasoned, IncidentEvent):
    type_name: ClassVar[str] = "Incident.MajorIncidentStoodDown"


class MajorIncidentProposed(IncidentEvent):
    """The incident meets the major-incident criteria in force (domain/major_incident.py): the
    service proposes it as a major incident, naming the criteria met and the rule's version. A
    person declares it, or not."""

    type_name: ClassVar[str] = "Incident.MajorIncidentProposed"
    criteria: list[Criterion] = Field(min_length=1, max_length=len(Criterion))
    rule_version: int = Number


#: A line of a major incident's review: an action agreed.
ReviewLine = Annotated[str, Field(min_length=1, max_length=2_000)]


class MajorIncidentReview(BaseModel):
    """A major incident's review after its resolution (the command, and the event it becomes):
    what happened when, what went well and badly, the actions agreed, and the problems and
    improvements it led to (by number). Mixed in first, so the fields follow the envelope."""

    timeline: str = Text
    went_well: str = Text
    went_badly: str = Text
    actions: list[ReviewLine] = Field(default_factory=list, max_length=50)
    problems: list[Annotated[str, Field(max_length=23, pattern=r"^PRB-[0-9]{6,19}$")]] = Field(
        default_factory=list, max_length=50, description="PRB-000001: problems linked to it"
    )
    improvements: list[Annotated[str, Field(max_length=23, pattern=r"^IMP-[0-9]{6,19}$")]] = Field(
        default_factory=list, max_length=50, description="IMP-000001: improvements opened from it"
    )


class MajorIncidentReviewed(MajorIncidentReview, IncidentEvent):
    """The major incident's review is recorded (a later one revises it); a major incident is
    closed only once it is."""

    type_name: ClassVar[str] = "Incident.MajorIncidentReviewed"


class Resolved(IncidentEvent):
    type_name: ClassVar[str] = "Incident.Resolved"
    code: ResolutionCode
    notes: str = Text
    reopen_until: AwareDatetime


class Reopened(Reasoned, IncidentEvent):
    type_name: ClassVar[str] = "Incident.Reopened"


class Closed(IncidentEvent):
    type_name: ClassVar[str] = "Incident.Closed"
    basis: ClosureBasis


class Rated(Rating, IncidentEvent):
    """The caller rated the closed incident (domain/satisfaction.py): once, and only they."""

    type_name: ClassVar[str] = "Incident.Rated"


class Cancelled(IncidentEvent):
    type_name: ClassVar[str] = "Incident.Cancelled"
    reason: CancelReason
    duplicate_of: UUID | None = None
    note: str | None = Field(default=None, max_length=10_000)

    _duplicate_names_original = model_validator(mode="after")(cancellation_checked)


class SlaWarned(IncidentEvent, SlaWarning):
    """A warning threshold of an SLA target was passed (recorded by the SLA watcher)."""

    type_name: ClassVar[str] = "Incident.SlaWarned"


class SlaBreached(IncidentEvent, SlaBreach):
    """An SLA target was missed (recorded by the SLA watcher, at or after the moment)."""

    type_name: ClassVar[str] = "Incident.SlaBreached"


BREACH = 100  # the alert level of a breach: all of the target used


class SlaAlert(BaseModel):
    """A threshold the clock says was passed: a warning (level < 100) or a breach (100)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    target: SlaTarget
    level: int = Field(ge=1, le=BREACH)
    at: AwareDatetime


def alerts_to_record(
    recorded: frozenset[tuple[SlaTarget, int]], alerts: list[SlaAlert], at: datetime
) -> list[SlaAlert]:
    """The alerts not on the record yet, each (target, level) once, in time order; refused if
    one is not due at `at`, or if all are recorded (any ticket kind records alerts this way)."""
    if any(alert.at > at for alert in alerts):
        raise SlaAlertNotDue("an SLA alert is recorded only once its moment has passed")
    new: dict[tuple[SlaTarget, int], SlaAlert] = {}
    for alert in sorted(alerts, key=lambda a: (a.at, a.target, a.level)):
        key = (alert.target, alert.level)
        if key not in recorded and key not in new:
            new[key] = alert
    if not new:
        raise SlaAlertsAlreadyRecorded("these SLA alerts are already recorded")
    return list(new.values())


class SlaAlerted(Aggregate):
    """A ticket the SLA watcher records warnings and breaches on, each (target, level) once:
    `class Incident(SlaAlerted, alerts=(SlaWarned, SlaBreached))` names the kind's two events
    (an SlaWarning and an SlaBreach)."""

    #: (target, level) of every SLA warning and breach recorded: each is recorded once.
    sla_alerts: frozenset[tuple[SlaTarget, int]]
    #: (the kind's SlaWarned, its SlaBreached): each a DomainEvent and an SlaWarning or SlaBreach,
    #: an intersection the type checker cannot say.
    _alert_events: ClassVar[tuple[type[Any], type[Any]]]

    def __init_subclass__(
        cls, *, alerts: tuple[type[Any], type[Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if alerts is not None:
            cls._alert_events = alerts
        if hasattr(cls, "_alert_events"):
            warned, breached = cls._alert_events
            cls._appliers[warned] = SlaAlerted._sla_warned
            cls._appliers[breached] = SlaAlerted._sla_breached

    def record_sla_alerts(self, ctx: Context, alerts: list[SlaAlert]) -> None:
        """Record the SLA warnings and breaches the clock says have happened, each only once:
        a second watcher, or a retry, finds them recorded and records nothing. In any state: a
        breach found late still belongs on a finished ticket's record."""
        warned, breached = self._alert_events
        for alert in alerts_to_record(self.sla_alerts, alerts, ctx.at):
            target, at = alert.target, alert.at
            if alert.level == BREACH:
                event = breached(**self._envelope(ctx), target=target, breached_at=at)
            else:
                event = warned(
                    **self._envelope(ctx), target=target, threshold=alert.level, passed_at=at
                )
            self._record(event)

    def _sla_warned(self, e: SlaWarning) -> None:
        self.sla_alerts = self.sla_alerts | {(e.target, e.threshold)}

    def _sla_breached(self, e: SlaBreach) -> None:
        self.sla_alerts = self.sla_alerts | {(e.target, BREACH)}


class LinkedToProblem(NamesProblem, IncidentEvent):
    """The incident is linked to a problem (the problem records Problem.IncidentLinked)."""

    type_name: ClassVar[str] = "Incident.LinkedToProblem"


class LinkedToChange(NamesChange, IncidentEvent):
    """The incident is linked to a change (the change records Change.IncidentLinked)."""

    type_name: ClassVar[str] = "Incident.LinkedToChange"


class WorkaroundShared(NamesProblem, IncidentEvent):
    """A linked problem published a workaround: the people working the incident can use it."""

    type_name: ClassVar[str] = "Incident.WorkaroundShared"
    workaround: str = Text


class AttachmentAdded(Attached, IncidentEvent):
    """A file put on an incident (domain/attachments.py): its hash, size, type and name."""

    type_name: ClassVar[str] = "Incident.AttachmentAdded"


class InternalAttachmentAdded(Attached, IncidentEvent):
    """A file for the staff only (with a work note): callers never read it."""

    type_name: ClassVar[str] = "Incident.InternalAttachmentAdded"


class AttachmentRemoved(Detached, IncidentEvent):
    """A file removed for privacy: its bytes deleted, its hash and the reason kept."""

    type_name: ClassVar[str] = "Incident.AttachmentRemoved"


class NamesIncident(BaseModel):
    """An event that names another incident: its id, and its number as people read it."""

    incident_id: UUID
    incident_ref: str = Ref


class ChildLinked(NamesIncident, IncidentEvent):
    """Another incident is a child of this one (it records Incident.LinkedToParent): a report of
    the same outage, resolved with this one."""

    type_name: ClassVar[str] = "Incident.ChildLinked"


class LinkedToParent(NamesIncident, IncidentEvent):
    """The incident is a child of another (which records Incident.ChildLinked)."""

    type_name: ClassVar[str] = "Incident.LinkedToParent"


class UnlinkedFromParent(NamesIncident, Reasoned, IncidentEvent):
    """The incident is no longer a child of its parent (`incident_*`, which records
    Incident.ChildUnlinked): resolving the parent no longer resolves it."""

    type_name: ClassVar[str] = "Incident.UnlinkedFromParent"


class ChildUnlinked(NamesIncident, Reasoned, IncidentEvent):
    """A child (`incident_*`) left this incident (it records Incident.UnlinkedFromParent)."""

    type_name: ClassVar[str] = "Incident.ChildUnlinked"


class ParentResolved(NamesIncident, IncidentEvent):
    """Why the incident is resolved: its parent (`incident_*`) was resolved, with this code. The
    service records it, on behalf of the parent's resolver, just before the child's
    Incident.Resolved (which carries the parent's notes and opens the caller's window)."""

    type_name: ClassVar[str] = "Incident.ParentResolved"
    code: ResolutionCode
    on_behalf_of: Actor


class DuplicateMerged(NamesIncident, IncidentEvent):
    """Another incident (`incident_*`) was cancelled as a duplicate of this one; its caller is
    affected by this one now and hears of its resolution."""

    type_name: ClassVar[str] = "Incident.DuplicateMerged"
    caller: str = Name


#: Events that never move the lifecycle. They are most of an incident's history, and each would
#: otherwise miss every case below (a class pattern is an isinstance check through ABCMeta).
_STATE_KEPT = frozenset(
    {
        WorkNoteAdded,
        CommentAdded,
        Reprioritised,
        MajorIncidentDeclared,
        MajorIncidentStoodDown,
        MajorIncidentProposed,
        MajorIncidentReviewed,
        SlaWarned,
        SlaBreached,
        LinkedToProblem,
        LinkedToChange,
        WorkaroundShared,
        AttachmentAdded,
        InternalAttachmentAdded,
        AttachmentRemoved,
        ChildLinked,
        LinkedToParent,
        UnlinkedFromParent,
        ChildUnlinked,
        ParentResolved,
        DuplicateMerged,
        Recategorised,
        Rated,
    }
)


def transition(
    state: IncidentState | None, group: str | None, agent: str | None, event: IncidentEvent
) -> IncidentState:
    """The lifecycle state after an event, from the state, group and agent before it.

    The one statement of the lifecycle, shared by the aggregate and every projection.
    """
    if state is not None and type(event) in _STATE_KEPT:
        return state
    match event:
        case Logged():
            return IncidentState.LOGGED
        case Assigned() if state is IncidentState.LOGGED or (
            # work in progress belongs to an agent of its group: a new group, or no agent,
            # puts it back in the group's queue
            state is IncidentState.IN_PROGRESS and (event.group != group or event.agent is None)
        ):
            return IncidentState.ASSIGNED
        case WorkStarted():
            return IncidentState.IN_PROGRESS
        case Resumed():
            return IncidentState.IN_PROGRESS if agent else IncidentState.ASSIGNED
        case PutOnHold():
            return IncidentState.ON_HOLD
        case Escalated(kind=EscalationKind.FUNCTIONAL) if state is not IncidentState.ON_HOLD:
            return IncidentState.ASSIGNED
        case Resolved():
            return IncidentState.RESOLVED
        case Reopened():
            return IncidentState.IN_PROGRESS if agent else IncidentState.ASSIGNED
        case Closed():
            return IncidentState.CLOSED
        case Cancelled():
            return IncidentState.CANCELLED
    assert state is not None, "an incident's history starts with Incident.Logged"
    return state


def incident_label(incident: Incident) -> str:
    """The incident's number as people read it (INC-000042)."""
    return incident_number_label(incident.number)


# -- the aggregate -----------------------------------------------------------------------------


class Incident(
    SlaAlerted,
    Attachable,
    alerts=(SlaWarned, SlaBreached),
    attachments=(AttachmentAdded, InternalAttachmentAdded, AttachmentRemoved),
):
    number: int
    state: IncidentState
    title: str
    service: str
    category: str | None
    subcategory: str | None
    caller: str
    group: str | None
    agent: str | None
    impact: Impact
    urgency: Urgency
    priority: int
    matrix_version: int
    hold_reason: HoldReason | None
    escalation_level: int
    major_manager: str | None
    #: Whether the service proposed it as a major incident (once: a person decides).
    major_proposed: bool
    #: Whether its review as a major incident is recorded (needed before it is closed).
    major_reviewed: bool
    reopen_until: datetime | None
    reopen_count: int
    sla: RuleVersions | None
    problems: frozenset[UUID]
    changes: frozenset[UUID]
    organisation: str
    parent: UUID | None
    children: frozenset[UUID]
    #: The callers of duplicates merged into this one: told of its resolution too.
    affected_callers: frozenset[str]
    #: Whether the caller has rated it (once closed; a rating is given once).
    rated: bool

    #: The incident's last resolution, which its children take when it propagates to them.
    _last_resolution: Resolved | None
    #: When each of its children was linked (the major-incident criteria count them).
    _children_at: dict[UUID, datetime]

    @property
    def owned_by(self) -> str:
        return self.caller

    @property
    def classification(self) -> Classification:
        return Classification.model_construct(
            service=self.service, category=self.category, subcategory=self.subcategory
        )

    # -- decisions ------------------------------------------------------------------------------

    @classmethod
    def log(
        cls,
        ctx: Context,
        *,
        id: UUID,
        number: int,
        title: str,
        description: str,
        service: str,
        configuration_item: str | None,
        caller: str,
        channel: Channel,
        impact: Impact,
        urgency: Urgency,
        matrix: PriorityMatrix,
        sla: RuleVersions | None = None,
        organisation: str = PROVINCE,
        source: ImportSource | None = None,
        priority: int | None = None,
        classification: Classification | None = None,
        catalogue_version: int | None = None,
    ) -> Incident:
        """`priority`: only where it is a fact of another system's history (an import); an
        incident logged here takes the matrix's. `classification`: the catalogue's (at
        `catalogue_version`), whose service is then `service`."""
        if ctx.actor.role is Role.REQUESTER and ctx.actor.id != caller:
            raise NotTheCaller("a requester logs incidents as their own caller")
        return cls._begin(
            ctx,
            id,
            Logged,
            number=number,
            title=title,
            description=description,
            service=service,
            configuration_item=configuration_item,
            caller=caller,
            channel=channel,
            impact=impact,
            urgency=urgency,
            priority=matrix.priority(impact, urgency) if priority is None else priority,
            matrix_version=matrix.version,
            sla=sla,
            organisation=organisation,
            source=source,
            category=classification.category if classification else None,
            subcategory=classification.subcategory if classification else None,
            catalogue_version=catalogue_version,
        )

    def recategorise(
        self, ctx: Context, *, to: Classification, catalogue_version: int, reason: str
    ) -> None:
        """Move the incident to another service, category or subcategory, saying why; an open
        or resolved incident (once closed, its classification is what reports count)."""
        self._require_not_finished("recategorise")
        if to == self.classification:
            raise NothingChanged(f"the incident is already classified as {_said(to)}")
        self._record(
            Recategorised(
                **self._envelope(ctx),
                service=to.service,
                category=to.category,
                subcategory=to.subcategory,
                catalogue_version=catalogue_version,
                reason=reason,
            )
        )

    def assign(self, ctx: Context, *, group: str, agent: str | None = None) -> None:
        self._require_open("assign")
        if group == self.group and agent == self.agent:
            raise AssignmentUnchanged(f"the incident is already with {agent or group}")
        self._record(Assigned(**self._envelope(ctx), group=group, agent=agent))

    def start_work(self, ctx: Context, *, agent: str | None = None) -> None:
        """The assigned agent starts work, or else the actor; `agent` names another (an import
        whose source names no agent must not make the updater one)."""
        self._require("start_work", IncidentState.ASSIGNED)
        who = agent or self.agent or ctx.actor.id
        self._record(WorkStarted(**self._envelope(ctx), agent=who))

    def put_on_hold(
        self,
        ctx: Context,
        *,
        reason: HoldReason,
        note: str | None = None,
        supplier: tuple[str, int] | None = None,
    ) -> None:
        """On hold for `reason`; awaiting a supplier, `supplier` names it and its contract's
        version (domain/supplier.py `awaited`)."""
        self._require("put_on_hold", IncidentState.ASSIGNED, IncidentState.IN_PROGRESS)
        if supplier is not None and reason is not HoldReason.AWAITING_SUPPLIER:
            raise SupplierNotAwaited(f"a hold {reason.value} awaits no supplier")
        code, version = supplier if supplier is not None else (None, None)
        self._record(
            PutOnHold(
                **self._envelope(ctx),
                reason=reason,
                note=note,
                supplier=code,
                contract_version=version,
            )
        )

    def resume(self, ctx: Context, *, note: str | None = None) -> None:
        self._require("resume", IncidentState.ON_HOLD)
        self._record(Resumed(**self._envelope(ctx), note=note))

    def add_work_note(self, ctx: Context, *, text: str) -> None:
        self._require_not_finished("add_work_note")
        self._record(WorkNoteAdded(**self._envelope(ctx), text=text))

    def add_comment(self, ctx: Context, *, text: str) -> None:
        self._require_not_finished("add_comment")
        self._record(CommentAdded(**self._envelope(ctx), text=text))

    def reprioritise(
        self,
        ctx: Context,
        *,
        impact: Impact,
        urgency: Urgency,
        reason: str,
        matrix: PriorityMatrix,
        priority: int | None = None,
    ) -> None:
        """`priority`: as in `log`, only an import's fact."""
        self._require_open("reprioritise")
        if (impact, urgency) == (self.impact, self.urgency):
            raise PriorityUnchanged(f"impact is already {impact} and urgency {urgency}")
        self._record(
            Reprioritised(
                **self._envelope(ctx),
                impact=impact,
                urgency=urgency,
                priority=matrix.priority(impact, urgency) if priority is None else priority,
                matrix_version=matrix.version,
                reason=reason,
            )
        )

    def escalate(
        self,
        ctx: Context,
        *,
        kind: EscalationKind,
        reason: str,
        to_group: str | None = None,
        to_manager: str | None = None,
    ) -> None:
        self._require_open("escalate")
        if kind is EscalationKind.FUNCTIONAL and to_group == self.group:
            raise EscalationTargetUnchanged(f"the incident is already with {to_group}")
        self._record(
            Escalated(
                **self._envelope(ctx),
                kind=kind,
                reason=reason,
                to_group=to_group,
                to_manager=to_manager,
            )
        )

    def declare_major(self, ctx: Context, *, manager: str, reason: str) -> None:
        self._require_open("declare_major")
        if self.major_manager is not None:
            raise AlreadyAMajorIncident(f"already a major incident under {self.major_manager}")
        self._record(MajorIncidentDeclared(**self._envelope(ctx), manager=manager, reason=reason))

    def propose_major(self, ctx: Context, *, rule: MajorIncidentCriteria) -> bool:
        """Record, as the service, that the incident meets the major-incident criteria in force,
        if it does, while it is open, not yet a major incident and not yet proposed; whether it
        was proposed. (Called after the incident is logged, reprioritised or given a child.)"""
        if self.state not in OPEN_STATES or self.major_manager is not None or self.major_proposed:
            return False
        met = rule.criteria.met(
            service=self.service,
            priority=self.priority,
            children_linked_at=self._children_at.values(),
        )
        if not met:
            return False
        service = Context(SYSTEM, ctx.at, ctx.correlation_id)
        self._record(
            MajorIncidentProposed(
                **self._envelope(service), criteria=met, rule_version=rule.version
            )
        )
        return True

    def review_major(
        self,
        ctx: Context,
        *,
        timeline: str,
        went_well: str,
        went_badly: str,
        actions: list[str] | None = None,
        problems: list[str] | None = None,
        improvements: list[str] | None = None,
    ) -> None:
        """Record the review of a major incident once it is resolved (again, to revise it)."""
        self._require("review_major", IncidentState.RESOLVED)
        if self.major_manager is None:
            raise NotAMajorIncident("only a major incident is reviewed as one")
        self._record(
            MajorIncidentReviewed(
                **self._envelope(ctx),
                timeline=timeline,
                went_well=went_well,
                went_badly=went_badly,
                actions=actions or [],
                problems=problems or [],
                improvements=improvements or [],
            )
        )

    def stand_down_major(self, ctx: Context, *, reason: str) -> None:
        self._require_not_finished("stand_down_major")
        if self.major_manager is None:
            raise NotAMajorIncident("the incident is not a major incident")
        self._record(MajorIncidentStoodDown(**self._envelope(ctx), reason=reason))

    def resolve(
        self, ctx: Context, *, code: ResolutionCode, notes: str, reopen_window: timedelta
    ) -> None:
        self._require("resolve", IncidentState.IN_PROGRESS, IncidentState.ON_HOLD)
        self._record(
            Resolved(
                **self._envelope(ctx), code=code, notes=notes, reopen_until=ctx.at + reopen_window
            )
        )

    def confirm_resolution(self, ctx: Context) -> None:
        self._require("confirm_resolution", IncidentState.RESOLVED)
        self._require_caller_if_requester(ctx)
        self._require_review()
        self._record(Closed(**self._envelope(ctx), basis=ClosureBasis.CONFIRMED_BY_CALLER))

    def reopen(self, ctx: Context, *, reason: str) -> None:
        self._require("reopen", IncidentState.RESOLVED)
        self._require_caller_if_requester(ctx)
        assert self.reopen_until is not None
        if ctx.at > self.reopen_until:
            raise ReopenWindowClosed(
                f"the window to reopen closed at {self.reopen_until.isoformat()}"
            )
        self._record(Reopened(**self._envelope(ctx), reason=reason))

    def close(self, ctx: Context) -> None:
        self._require("close", IncidentState.RESOLVED)
        assert self.reopen_until is not None
        if ctx.at < self.reopen_until:
            raise ConfirmationWindowOpen(
                "the caller may confirm or reopen until "
                f"{self.reopen_until.isoformat()}; close after that, or record their confirmation"
            )
        self._require_review()
        self._record(Closed(**self._envelope(ctx), basis=ClosureBasis.WINDOW_ELAPSED))

    def rate(self, ctx: Context, *, score: int, comment: str | None = None) -> None:
        """The caller rates the closed incident, once (domain/satisfaction.py)."""
        self._require("rate", IncidentState.CLOSED)
        check_rater(ctx, self.caller, self.rated)
        self._record(Rated(**self._envelope(ctx), score=score, comment=comment))

    def cancel(
        self,
        ctx: Context,
        *,
        reason: CancelReason,
        duplicate_of: UUID | None = None,
        note: str | None = None,
    ) -> None:
        self._require_open("cancel")
        if duplicate_of == self.id:
            raise DuplicateOfItself("an incident cannot duplicate itself")
        self._record(
            Cancelled(**self._envelope(ctx), reason=reason, duplicate_of=duplicate_of, note=note)
        )

    # -- related incidents: both records record the link in the same write (domain/links.py)

    def link_child(self, ctx: Context, *, child: Incident, ancestors: list[Incident]) -> None:
        """Make `child` a child of this incident, both open; `ancestors`: this incident's
        parent, its parent's parent..., as far as MAX_DEPTH, to refuse a cycle."""
        self._require_open("link_child")
        child._require_open("link_to_parent")
        if child.id == self.id or any(a.id == child.id for a in ancestors):
            raise ParentCycle(f"{incident_label(child)} is this incident or one of its parents")
        if len(ancestors) > MAX_DEPTH:
            raise ParentCycle(f"a chain of parents is at most {MAX_DEPTH} long")
        if child.parent == self.id:
            raise AlreadyLinked(f"{incident_label(child)} is already a child of this incident")
        if child.parent is not None:
            raise AlreadyHasParent(f"{incident_label(child)} already has a parent")
        if len(self.children) >= MAX_RELATED:
            raise TooManyRelated(f"an incident has at most {MAX_RELATED} children")
        self._record(
            ChildLinked(
                **self._envelope(ctx), incident_id=child.id, incident_ref=incident_label(child)
            )
        )
        child._record(
            LinkedToParent(
                **child._envelope(ctx), incident_id=self.id, incident_ref=incident_label(self)
            )
        )

    def unlink_from_parent(self, ctx: Context, *, parent: Incident, reason: str) -> None:
        """Leave the parent (this incident's, `parent`), while this incident is open, for a
        reason (linked in error, a different fault after all): both record it, and resolving
        the parent no longer resolves this one. The parent may be in any state (a child reopened
        after its parent was resolved is unlinked from a resolved parent)."""
        self._require_open("unlink_from_parent")
        if self.parent is None:
            raise NoParent(f"{incident_label(self)} has no parent")
        assert parent.id == self.parent, "the parent is this incident's own"
        self._record(
            UnlinkedFromParent(
                **self._envelope(ctx),
                incident_id=parent.id,
                incident_ref=incident_label(parent),
                reason=reason,
            )
        )
        parent._record(
            ChildUnlinked(
                **parent._envelope(ctx),
                incident_id=self.id,
                incident_ref=incident_label(self),
                reason=reason,
            )
        )

    def resolve_with_parent(self, ctx: Context, *, parent: Incident) -> bool:
        """Resolve this child as its parent just was (code, notes, reopen window), as the
        service on behalf of the parent's resolver; whether it was (a child no longer open,
        already resolved or closed on its own, keeps its own outcome)."""
        resolved = parent._last_resolution
        if self.state not in OPEN_STATES or resolved is None or self.parent != parent.id:
            return False
        service = Context(SYSTEM, ctx.at, ctx.correlation_id)
        self._record(
            ParentResolved(
                **self._envelope(service),
                incident_id=parent.id,
                incident_ref=incident_label(parent),
                code=resolved.code,
                on_behalf_of=ctx.actor,
            )
        )
        self._record(
            Resolved(
                **self._envelope(service),
                code=resolved.code,
                notes=resolved.notes,
                reopen_until=resolved.reopen_until,
            )
        )
        return True

    def merge_duplicate(self, ctx: Context, *, duplicate: Incident) -> None:
        """Record that `duplicate` (just cancelled as a duplicate of this one) is merged here:
        its caller is affected by this incident from now on."""
        if len(self.affected_callers) >= MAX_RELATED:
            raise TooManyRelated(f"an incident has at most {MAX_RELATED} affected callers")
        self._record(
            DuplicateMerged(
                **self._envelope(ctx),
                incident_id=duplicate.id,
                incident_ref=incident_label(duplicate),
                caller=duplicate.caller,
            )
        )

    # -- links: the other record records its side in the same write (any state: a closed
    # incident may still be evidence of a problem)

    def link_to_problem(self, ctx: Context, *, problem_id: UUID, problem_ref: str) -> None:
        if problem_id in self.problems:
            raise AlreadyLinked(f"the incident is already linked to {problem_ref}")
        self._record(
            LinkedToProblem(**self._envelope(ctx), problem_id=problem_id, problem_ref=problem_ref)
        )

    def link_to_change(self, ctx: Context, *, change_id: UUID, change_ref: str) -> None:
        if change_id in self.changes:
            raise AlreadyLinked(f"the incident is already linked to {change_ref}")
        self._record(
            LinkedToChange(**self._envelope(ctx), change_id=change_id, change_ref=change_ref)
        )

    def share_workaround(
        self, ctx: Context, *, problem_id: UUID, problem_ref: str, workaround: str
    ) -> bool:
        """Tell the incident of a linked problem's workaround, if it is still being worked;
        whether it was told."""
        if self.state not in OPEN_STATES or problem_id not in self.problems:
            return False
        self._record(
            WorkaroundShared(
                **self._envelope(ctx),
                problem_id=problem_id,
                problem_ref=problem_ref,
                workaround=workaround,
            )
        )
        return True

    def _apply(self, event: DomainEvent) -> None:
        if not isinstance(event, IncidentEvent):
            raise LookupError(f"{event.type_name} is not an incident event")
        before = (
            getattr(self, "state", None),
            getattr(self, "group", None),
            getattr(self, "agent", None),
        )
        super()._apply(event)
        self.state = transition(*before, event)

    # -- rule helpers ---------------------------------------------------------------------------

    def _require(self, action: str, *states: IncidentState) -> None:
        if self.state not in states:
            if self.state is IncidentState.CLOSED:
                raise IncidentAlreadyClosed(action, self.state)
            raise IllegalTransition(action, self.state)

    def _require_open(self, action: str) -> None:
        self._require(action, *OPEN_STATES)

    def _require_not_finished(self, action: str) -> None:
        self._require(action, *OPEN_STATES, IncidentState.RESOLVED)

    def _require_review(self) -> None:
        if self.major_manager is not None and not self.major_reviewed:
            raise ReviewRequired(
                "a major incident is closed once its review is recorded (review-major)"
            )

    def _require_caller_if_requester(self, ctx: Context) -> None:
        # Agents may record a caller's answer given by phone; a requester speaks only for
        # incidents they reported.
        if ctx.actor.role is Role.REQUESTER and ctx.actor.id != self.caller:
            raise NotTheCaller("only the caller, or an agent on their behalf, may do this")

    # -- state changes: assignment only, no rules (the lifecycle state comes from `transition`)

    @applies(Recategorised)
    def _recategorised(self, e: Recategorised) -> None:
        self.service, self.category, self.subcategory = e.service, e.category, e.subcategory

    @applies(Logged)
    def _logged(self, e: Logged) -> None:
        self.number = e.number
        self.title, self.service = e.title, e.service
        self.category, self.subcategory = e.category, e.subcategory
        self.caller = e.caller
        self.group = self.agent = None
        self.impact, self.urgency = e.impact, e.urgency
        self.priority, self.matrix_version = e.priority, e.matrix_version
        self.hold_reason = None
        self.escalation_level = 0
        self.major_manager = None
        self.major_proposed = self.major_reviewed = False
        self.reopen_until = None
        self.reopen_count = 0
        self.sla = e.sla
        self.sla_alerts = frozenset()
        self.problems, self.changes = frozenset(), frozenset()
        self.organisation = e.organisation
        self.parent, self.children = None, frozenset()
        self.affected_callers = frozenset()
        self.rated = False
        self._last_resolution = None
        self._children_at = {}

    @applies(Assigned)
    def _assigned(self, e: Assigned) -> None:
        self.group, self.agent = e.group, e.agent

    @applies(WorkStarted)
    def _work_started(self, e: WorkStarted) -> None:
        self.agent = e.agent

    @applies(PutOnHold)
    def _put_on_hold(self, e: PutOnHold) -> None:
        self.hold_reason = e.reason

    @applies(Resumed)
    def _resumed(self, e: Resumed) -> None:
        self.hold_reason = None

    @applies(WorkNoteAdded, CommentAdded)
    def _noted(self, e: IncidentEvent) -> None:
        pass  # notes matter to people and projections, not to decisions

    @applies(MajorIncidentDeclared)
    def _declared_major(self, e: MajorIncidentDeclared) -> None:
        self.major_manager = e.manager

    @applies(MajorIncidentStoodDown)
    def _stood_down_major(self, e: MajorIncidentStoodDown) -> None:
        self.major_manager = None

    @applies(MajorIncidentProposed)
    def _proposed_major(self, e: MajorIncidentProposed) -> None:
        self.major_proposed = True

    @applies(MajorIncidentReviewed)
    def _reviewed_major(self, e: MajorIncidentReviewed) -> None:
        self.major_reviewed = True

    @applies(Reprioritised)
    def _reprioritised(self, e: Reprioritised) -> None:
        self.impact, self.urgency = e.impact, e.urgency
        self.priority, self.matrix_version = e.priority, e.matrix_version

    @applies(Escalated)
    def _escalated(self, e: Escalated) -> None:
        if e.kind is EscalationKind.FUNCTIONAL:
            self.group, self.agent = e.to_group, None
        else:
            self.escalation_level += 1

    @applies(Resolved)
    def _resolved(self, e: Resolved) -> None:
        self.hold_reason = None
        self.reopen_until = e.reopen_until
        self._last_resolution = e

    @applies(Reopened)
    def _reopened(self, e: Reopened) -> None:
        self.reopen_until = None
        self.reopen_count += 1

    @applies(Closed)
    def _closed(self, e: Closed) -> None:
        pass  # the lifecycle state is all that changes

    @applies(Rated)
    def _rated(self, e: Rated) -> None:
        self.rated = True

    @applies(Cancelled)
    def _cancelled(self, e: Cancelled) -> None:
        self.hold_reason = None

    @applies(LinkedToProblem)
    def _linked_to_problem(self, e: LinkedToProblem) -> None:
        self.problems = self.problems | {e.problem_id}

    @applies(LinkedToChange)
    def _linked_to_change(self, e: LinkedToChange) -> None:
        self.changes = self.changes | {e.change_id}

    @applies(WorkaroundShared)
    def _workaround_shared(self, e: WorkaroundShared) -> None:
        pass  # the workaround matters to people and projections, not to decisions

    @applies(ChildLinked)
    def _child_linked(self, e: ChildLinked) -> None:
        self.children = self.children | {e.incident_id}
        self._children_at = {**self._children_at, e.incident_id: e.timestamp}

    @applies(LinkedToParent)
    def _linked_to_parent(self, e: LinkedToParent) -> None:
        self.parent = e.incident_id

    @applies(UnlinkedFromParent)
    def _unlinked_from_parent(self, e: UnlinkedFromParent) -> None:
        self.parent = None

    @applies(ChildUnlinked)
    def _child_unlinked(self, e: ChildUnlinked) -> None:
        self.children = self.children - {e.incident_id}
        self._children_at = {k: v for k, v in self._children_at.items() if k != e.incident_id}

    @applies(ParentResolved)
    def _parent_resolved(self, e: ParentResolved) -> None:
        pass  # why it was resolved matters to people; its Incident.Resolved follows

    @applies(DuplicateMerged)
    def _duplicate_merged(self, e: DuplicateMerged) -> None:
        self.affected_callers = self.affected_callers | {e.caller}


def _said(classification: Classification) -> str:
    c = classification
    return "/".join(code for code in (c.service, c.category, c.subcategory) if code)
