"""Problems (ISO/IEC 20000-1 8.6.3): the causes of incidents, and the known errors they become.

    logged -> investigating -> known_error -> resolved -> closed
    logged | investigating | known_error -> cancelled

A problem is logged from one or more incidents or on its own (or by a failed change). While it is
investigated its root cause is recorded; a workaround may be published at any point before it is
resolved, and every linked incident that is still open is told of it (an event on the incident,
in the same write). Publishing it as a known error needs the root cause. It is resolved through a
change that was implemented successfully, and then closed; the recurrence report looks for
incidents on its service or configuration items logged after that.

A problem has a priority, from its impact and urgency through the priority matrix in force (as an
incident has); it is reprioritised with a reason, and escalated with a reason to a group or a
named manager while it is open. The people working it add work notes (the staff's, as every
problem event is) and record the actions they took, each an event with who and when.

The root cause is recorded with the method of the analysis (five whys, fishbone, fault tree,
Kepner-Tregoe, other), the analysis itself, and the potential actions it points to (preventive or
corrective, each with an owner and a change or improvement that carries it out); each potential
action is decided once: taken, or rejected with a reason.

Links to incidents, changes and configuration items are events on both records, saved together.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.aggregate import LifecycleAggregate, applies
from domain.attachments import Attachable, Attached, Detached
from domain.configuration_item import Code, CodeList
from domain.context import Context
from domain.errors import (
    AlreadyLinked,
    ChangeNotImplemented,
    EscalationTargetUnchanged,
    NotPermitted,
    PotentialActionAlreadyDecided,
    PriorityUnchanged,
    RootCauseMissing,
    TooManyRelated,
    UnknownPotentialAction,
)
from domain.events import MAX_INT, DomainEvent
from domain.fields import (
    Description,
    Items,
    Name,
    NamesChange,
    NamesIncident,
    Number,
    OptionalName,
    OptionalReason,
    Reason,
    Reasoned,
    Text,
)
from domain.incident import Escalation, EscalationKind
from domain.organisations import PROVINCE, OrganisationCode
from domain.priority import Impact, PriorityMatrix, Urgency


class ProblemState(StrEnum):
    LOGGED = "logged"
    INVESTIGATING = "investigating"
    KNOWN_ERROR = "known_error"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({ProblemState.LOGGED, ProblemState.INVESTIGATING, ProblemState.KNOWN_ERROR})
#: While notes, actions taken and decisions are recorded: until it is closed or cancelled.
WORKED_STATES = OPEN_STATES | {ProblemState.RESOLVED}
#: While potential actions are decided: once investigated (they come with a root cause), until it
#: is closed or cancelled.
ANALYSED_STATES = WORKED_STATES - {ProblemState.LOGGED}


class ProblemEvent(DomainEvent):
    """A fact in a problem's history."""


class Prioritised(BaseModel):
    """A problem's impact, urgency and the priority the matrix gave them (its version), as a
    logging or a reprioritisation records them. Mixed in first, so the fields follow the
    envelope."""

    impact: Impact
    urgency: Urgency
    priority: int = Field(ge=1, le=5)
    #: The priority matrix's version that gave the priority; None: no matrix judged it (a problem
    #: logged before problems had priorities, or opened by a failed change), and it reads as
    #: UNJUDGED until reprioritised.
    matrix_version: int | None = Field(default=None, ge=1, le=MAX_INT)


#: The priority of a problem no matrix judged: medium impact and urgency, P3 (as the first
#: matrix rates them); reprioritise it to judge it by the matrix in force.
UNJUDGED: dict[str, Any] = {
    "impact": Impact.MEDIUM,
    "urgency": Urgency.MEDIUM,
    "priority": 3,
    "matrix_version": None,
}


def judged(matrix: PriorityMatrix, impact: Impact, urgency: Urgency) -> dict[str, Any]:
    """Impact and urgency with the priority `matrix` gives them, and its version."""
    return {
        "impact": impact,
        "urgency": urgency,
        "priority": matrix.priority(impact, urgency),
        "matrix_version": matrix.version,
    }


class Logged(Prioritised, ProblemEvent):
    type_name: ClassVar[str] = "Problem.Logged"
    number: int = Number
    title: str = Name
    description: str = Description
    service: str | None = OptionalName
    configuration_items: CodeList = Items
    #: The organisation whose record it is (events stored before organisations: the province).
    organisation: str = OrganisationCode

    #: Version 2 has a priority (impact, urgency, the matrix's version); a problem logged before
    #: reads as UNJUDGED.
    class_version: ClassVar[int] = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        for name, value in UNJUDGED.items():
            state.setdefault(name, value)


class Reprioritised(Prioritised, ProblemEvent):
    type_name: ClassVar[str] = "Problem.Reprioritised"
    reason: str = Reason


class Escalated(Escalation, ProblemEvent):
    """Escalated functionally (to a group with the skills) or hierarchically (to a named
    manager), and why."""

    type_name: ClassVar[str] = "Problem.Escalated"


class WorkNoteAdded(ProblemEvent):
    """A work note: what the people working the problem tell each other (the staff's only)."""

    type_name: ClassVar[str] = "Problem.WorkNoteAdded"
    text: str = Text


class ActionTaken(ProblemEvent):
    """An action taken on the problem (logs gathered, a test run, a vendor called), what came of
    it, by whom and when."""

    type_name: ClassVar[str] = "Problem.ActionTaken"
    description: str = Reason
    result: str | None = OptionalReason


class InvestigationStarted(ProblemEvent):
    type_name: ClassVar[str] = "Problem.InvestigationStarted"
    investigator: str = Name


class RcaMethod(StrEnum):
    """How the root cause was analysed."""

    FIVE_WHYS = "five-whys"
    FISHBONE = "fishbone"
    FAULT_TREE = "fault-tree"
    KEPNER_TREGOE = "kepner-tregoe"
    OTHER = "other"


#: The most whys, factors and potential actions an analysis holds.
MAX_WHYS = 10
MAX_FACTORS = 50
MAX_ACTIONS = 50
#: The most potential actions a problem holds over all its analyses.
MAX_PROBLEM_ACTIONS = 200

#: A line of an analysis: a why, a cause.
Line = Field(min_length=1, max_length=2_000)


class Factor(BaseModel):
    """A contributing factor: under which heading (a fishbone's bone: people, process,
    technology...; a fault tree's gate; a Kepner-Tregoe distinction) and what it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    category: str = Name
    cause: str = Line


class Analysis(BaseModel):
    """The analysis behind a root cause, bounded: the whys in order (five whys), the factors
    (fishbone, fault tree, Kepner-Tregoe), and what else the analyst wrote."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    whys: list[Annotated[str, Line]] = Field(default_factory=list, max_length=MAX_WHYS)
    factors: list[Factor] = Field(default_factory=list, max_length=MAX_FACTORS)
    notes: str | None = Field(default=None, min_length=1, max_length=10_000)


class ActionKind(StrEnum):
    PREVENTIVE = "preventive"  # keeps the cause from happening again
    CORRECTIVE = "corrective"  # removes the cause that happened


class PotentialAction(BaseModel):
    """An action the analysis points to: preventive or corrective, who owns it, and the change
    or improvement that would carry it out, if one is named (CHG-000007, IMP-000003)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ActionKind
    description: str = Line
    owner: str = Name
    change: str | None = Field(default=None, max_length=23, pattern=r"^CHG-[0-9]{6,19}$")
    improvement: str | None = Field(default=None, max_length=23, pattern=r"^IMP-[0-9]{6,19}$")


class NumberedAction(PotentialAction):
    """A potential action as recorded: numbered within the problem (1, 2, ...), in order."""

    number: int = Number


class RootCauseRecorded(ProblemEvent):
    type_name: ClassVar[str] = "Problem.RootCauseRecorded"
    root_cause: str = Text
    #: How it was analysed, and the analysis (None: recorded before either was asked).
    method: RcaMethod | None = None
    analysis: Analysis | None = None
    #: The potential actions this analysis adds, numbered on from the problem's last.
    actions: list[NumberedAction] = Field(default_factory=list, max_length=MAX_ACTIONS)

    #: Version 2 says how the cause was analysed: a root cause recorded before, by no method.
    class_version: ClassVar[int] = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.setdefault("method", None)
        state.setdefault("analysis", None)
        state.setdefault("actions", [])


class ActionDecision(StrEnum):
    TAKEN = "taken"
    REJECTED = "rejected"


class Decision(BaseModel):
    """A potential action's decision (the command, and the event it becomes): taken, or rejected
    with a reason. Mixed in first, so the fields follow the event's envelope."""

    potential_action: int = Field(
        ge=1, le=MAX_PROBLEM_ACTIONS, description="the potential action's number"
    )
    decision: ActionDecision
    reason: str | None = OptionalReason

    @model_validator(mode="after")
    def _rejection_says_why(self) -> Self:
        if self.decision is ActionDecision.REJECTED and not self.reason:
            raise ValueError("a rejected potential action says why (reason)")
        return self


class PotentialActionDecided(Decision, ProblemEvent):
    """A potential action taken, or rejected with a reason; once."""

    type_name: ClassVar[str] = "Problem.PotentialActionDecided"


class WorkaroundPublished(ProblemEvent):
    type_name: ClassVar[str] = "Problem.WorkaroundPublished"
    workaround: str = Text


class KnownErrorPublished(ProblemEvent):
    type_name: ClassVar[str] = "Problem.KnownErrorPublished"
    symptoms: str = Text


class Resolved(NamesChange, ProblemEvent):
    type_name: ClassVar[str] = "Problem.Resolved"
    notes: str = Text


class Closed(ProblemEvent):
    type_name: ClassVar[str] = "Problem.Closed"


class Cancelled(Reasoned, ProblemEvent):
    type_name: ClassVar[str] = "Problem.Cancelled"


class IncidentLinked(NamesIncident, ProblemEvent):
    type_name: ClassVar[str] = "Problem.IncidentLinked"


class ChangeLinked(NamesChange, ProblemEvent):
    type_name: ClassVar[str] = "Problem.ChangeLinked"


class ConfigurationItemLinked(ProblemEvent):
    type_name: ClassVar[str] = "Problem.ConfigurationItemLinked"
    code: str = Code


def transition(state: ProblemState | None, event: ProblemEvent) -> ProblemState:
    """The lifecycle state after an event: shared by the aggregate and the projections."""
    match event:
        case Logged():
            return ProblemState.LOGGED
        case InvestigationStarted():
            return ProblemState.INVESTIGATING
        case KnownErrorPublished():
            return ProblemState.KNOWN_ERROR
        case Resolved():
            return ProblemState.RESOLVED
        case Closed():
            return ProblemState.CLOSED
        case Cancelled():
            return ProblemState.CANCELLED
    assert state is not None, "a problem's history starts with Problem.Logged"
    return state


class AttachmentAdded(Attached, ProblemEvent):
    """A file put on a problem (domain/attachments.py): its hash, size, type and name."""

    type_name: ClassVar[str] = "Problem.AttachmentAdded"


class InternalAttachmentAdded(Attached, ProblemEvent):
    """A file for the staff only (with a work note): callers never read it."""

    type_name: ClassVar[str] = "Problem.InternalAttachmentAdded"


class AttachmentRemoved(Detached, ProblemEvent):
    """A file removed for privacy: its bytes deleted, its hash and the reason kept."""

    type_name: ClassVar[str] = "Problem.AttachmentRemoved"


class Problem(
    Attachable,
    LifecycleAggregate[ProblemState],
    events=ProblemEvent,
    transition=transition,
    attachments=(AttachmentAdded, InternalAttachmentAdded, AttachmentRemoved),
):
    KIND: ClassVar[str] = "problem"

    number: int
    state: ProblemState
    root_cause: str | None
    workaround: str | None
    incidents: frozenset[UUID]
    changes: frozenset[UUID]
    configuration_items: frozenset[str]
    organisation: str
    impact: Impact
    urgency: Urgency
    priority: int
    #: Where the last escalation sent it: a group or a manager (None: never escalated).
    escalated_to: str | None
    #: The potential actions its analyses proposed, by number: whether each is decided yet
    #: (replaced, never changed in place: an empty one until Problem.Logged says otherwise).
    potential_actions: Mapping[int, bool] = MappingProxyType({})

    @classmethod
    def log(
        cls,
        ctx: Context,
        *,
        id: UUID,
        number: int,
        title: str,
        description: str,
        service: str | None,
        configuration_items: list[str],
        organisation: str = PROVINCE,
        priority: dict[str, Any] | None = None,
    ) -> Problem:
        """`priority`: impact and urgency as the matrix in force judged them (`judged`); None
        (a problem opened by a failed change): UNJUDGED, until reprioritised."""
        return cls._begin(
            ctx,
            id,
            Logged,
            number=number,
            title=title,
            description=description,
            service=service,
            configuration_items=configuration_items,
            organisation=organisation,
            **(UNJUDGED if priority is None else priority),
        )

    def reprioritise(
        self, ctx: Context, *, impact: Impact, urgency: Urgency, reason: str, matrix: PriorityMatrix
    ) -> None:
        """New impact and urgency, with a reason: the priority the matrix in force gives them."""
        self._require("reprioritise", *OPEN_STATES)
        if (impact, urgency) == (self.impact, self.urgency):
            raise PriorityUnchanged(f"impact is already {impact} and urgency {urgency}")
        judgement = judged(matrix, impact, urgency)
        self._record(Reprioritised(**self._envelope(ctx), **judgement, reason=reason))

    def escalate(
        self,
        ctx: Context,
        *,
        kind: EscalationKind,
        reason: str,
        to_group: str | None = None,
        to_manager: str | None = None,
    ) -> None:
        """To a group (functional) or a named manager (hierarchical), with a reason, while open;
        not to where the last escalation sent it."""
        self._require("escalate", *OPEN_STATES)
        target = to_group or to_manager
        if target is not None and target == self.escalated_to:
            raise EscalationTargetUnchanged(f"the problem is already escalated to {target}")
        self._record(
            Escalated(
                **self._envelope(ctx),
                kind=kind,
                reason=reason,
                to_group=to_group,
                to_manager=to_manager,
            )
        )

    def add_work_note(self, ctx: Context, *, text: str) -> None:
        """A note for the people working the problem, until it is closed or cancelled."""
        self._require("add_work_note", *WORKED_STATES)
        self._record(WorkNoteAdded(**self._envelope(ctx), text=text))

    def record_action(self, ctx: Context, *, description: str, result: str | None = None) -> None:
        """An action taken on the problem, and what came of it, until it is closed or cancelled."""
        self._require("record_action", *WORKED_STATES)
        self._record(ActionTaken(**self._envelope(ctx), description=description, result=result))

    def start_investigation(self, ctx: Context) -> None:
        self._require("start_investigation", ProblemState.LOGGED)
        self._record(InvestigationStarted(**self._envelope(ctx), investigator=ctx.actor.id))

    def record_root_cause(
        self,
        ctx: Context,
        *,
        root_cause: str,
        method: RcaMethod | None = None,
        analysis: Analysis | None = None,
        actions: list[PotentialAction] | tuple[PotentialAction, ...] = (),
    ) -> None:
        """The root cause (a revision replaces it), how it was analysed, and the potential
        actions the analysis points to: numbered on from the problem's last, each to be
        decided."""
        self._require("record_root_cause", ProblemState.INVESTIGATING, ProblemState.KNOWN_ERROR)
        if len(self.potential_actions) + len(actions) > MAX_PROBLEM_ACTIONS:
            raise TooManyRelated(f"a problem holds at most {MAX_PROBLEM_ACTIONS} potential actions")
        first = len(self.potential_actions) + 1
        numbered = [
            NumberedAction(**action.model_dump(), number=first + n)
            for n, action in enumerate(actions)
        ]
        self._record(
            RootCauseRecorded(
                **self._envelope(ctx),
                root_cause=root_cause,
                method=method,
                analysis=analysis,
                actions=numbered,
            )
        )

    def decide_potential_action(
        self,
        ctx: Context,
        *,
        potential_action: int,
        decision: ActionDecision,
        reason: str | None = None,
    ) -> None:
        """Take a potential action, or reject it with a reason: once, while the problem is
        worked."""
        self._require("decide_potential_action", *ANALYSED_STATES)
        number = potential_action
        if number not in self.potential_actions:
            raise UnknownPotentialAction(f"the problem has no potential action {number}")
        if self.potential_actions[number]:
            raise PotentialActionAlreadyDecided(f"potential action {number} is already decided")
        self._record(
            PotentialActionDecided(
                **self._envelope(ctx), potential_action=number, decision=decision, reason=reason
            )
        )

    def publish_workaround(self, ctx: Context, *, workaround: str) -> None:
        self._require("publish_workaround", *OPEN_STATES)
        self._record(WorkaroundPublished(**self._envelope(ctx), workaround=workaround))

    def publish_known_error(self, ctx: Context, *, symptoms: str) -> None:
        self._require("publish_known_error", ProblemState.INVESTIGATING)
        if self.root_cause is None:
            raise RootCauseMissing("record the root cause before publishing a known error")
        self._record(KnownErrorPublished(**self._envelope(ctx), symptoms=symptoms))

    def resolve(
        self,
        ctx: Context,
        *,
        change_id: UUID,
        change_ref: str,
        implemented_successfully: bool,
        notes: str,
    ) -> None:
        """Resolve through a change that was implemented successfully (linked first)."""
        self._require("resolve", ProblemState.INVESTIGATING, ProblemState.KNOWN_ERROR)
        if not implemented_successfully:
            raise ChangeNotImplemented(
                f"{change_ref} was not implemented successfully: it cannot resolve the problem"
            )
        if change_id not in self.changes:
            raise NotPermitted(f"link {change_ref} to the problem before resolving through it")
        self._record(
            Resolved(**self._envelope(ctx), change_id=change_id, change_ref=change_ref, notes=notes)
        )

    def close(self, ctx: Context) -> None:
        self._require("close", ProblemState.RESOLVED)
        self._record(Closed(**self._envelope(ctx)))

    def cancel(self, ctx: Context, *, reason: str) -> None:
        self._require("cancel", *OPEN_STATES)
        self._record(Cancelled(**self._envelope(ctx), reason=reason))

    # -- links: the other record records its side in the same write ----------------------------

    def link_incident(self, ctx: Context, *, incident_id: UUID, incident_ref: str) -> None:
        if incident_id in self.incidents:
            raise AlreadyLinked(f"{incident_ref} is already linked to this problem")
        self._record(
            IncidentLinked(
                **self._envelope(ctx), incident_id=incident_id, incident_ref=incident_ref
            )
        )

    def link_change(self, ctx: Context, *, change_id: UUID, change_ref: str) -> None:
        if change_id in self.changes:
            raise AlreadyLinked(f"{change_ref} is already linked to this problem")
        self._record(
            ChangeLinked(**self._envelope(ctx), change_id=change_id, change_ref=change_ref)
        )

    def link_configuration_item(self, ctx: Context, *, code: str) -> None:
        if code in self.configuration_items:
            raise AlreadyLinked(f"{code} is already linked to this problem")
        self._record(ConfigurationItemLinked(**self._envelope(ctx), code=code))

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    # -- state changes --------------------------------------------------------------------------

    @applies(Logged)
    def _logged(self, e: Logged) -> None:
        self.number = e.number
        self.root_cause = self.workaround = None
        self.incidents, self.changes = frozenset(), frozenset()
        self.configuration_items = frozenset(e.configuration_items)
        self.organisation = e.organisation
        self.impact, self.urgency, self.priority = e.impact, e.urgency, e.priority
        self.escalated_to = None
        self.potential_actions = MappingProxyType({})

    @applies(InvestigationStarted, KnownErrorPublished, Resolved, Closed, Cancelled)
    def _moved(self, e: ProblemEvent) -> None:
        pass  # the lifecycle state is all that changes

    @applies(WorkNoteAdded, ActionTaken)
    def _worked(self, e: ProblemEvent) -> None:
        pass  # facts of its history (its views show them); no decision reads them

    @applies(Reprioritised)
    def _reprioritised(self, e: Reprioritised) -> None:
        self.impact, self.urgency, self.priority = e.impact, e.urgency, e.priority

    @applies(Escalated)
    def _escalated(self, e: Escalated) -> None:
        self.escalated_to = e.to_group or e.to_manager

    @applies(RootCauseRecorded)
    def _root_cause(self, e: RootCauseRecorded) -> None:
        self.root_cause = e.root_cause
        self.potential_actions = {
            **self.potential_actions,
            **{action.number: False for action in e.actions},
        }

    @applies(PotentialActionDecided)
    def _action_decided(self, e: PotentialActionDecided) -> None:
        self.potential_actions = {**self.potential_actions, e.potential_action: True}

    @applies(WorkaroundPublished)
    def _workaround(self, e: WorkaroundPublished) -> None:
        self.workaround = e.workaround

    @applies(IncidentLinked)
    def _incident_linked(self, e: IncidentLinked) -> None:
        self.incidents = self.incidents | {e.incident_id}

    @applies(ChangeLinked)
    def _change_linked(self, e: ChangeLinked) -> None:
        self.changes = self.changes | {e.change_id}

    @applies(ConfigurationItemLinked)
    def _ci_linked(self, e: ConfigurationItemLinked) -> None:
        self.configuration_items = self.configuration_items | {e.code}
