"""Nonconformities and corrective action (ISO/IEC 20000-1 10.1): what did not conform to a
requirement, what was done about it at once, why it happened, what is done so that it does not
happen again, and whether that worked.

    open -> closed              (verified effective)
    open -> open                (verified not effective: back to the actions)

A nonconformity comes from an audit finding (domain/internal_audit.py opens one for each
nonconformity found) or is raised directly by a service manager or an auditor, from a breach, a
complaint or anything else. It names the clause it fails, an owner (a person of the directory)
and a due date. While it is open its owner (or a service manager) records the correction made at
once, the root cause, and corrective actions, each with its own owner and due date; an action is
recorded done with a note by its owner, the nonconformity's owner or a service manager.

Verification of effectiveness comes after every action is done, from someone who owned none of
the work (segregation: not the nonconformity's owner nor an action's owner), a service manager or
an auditor. Effective closes it; not effective sends it back to the actions, with what was found,
and new actions are planned. Every step is an event with who and when.

A nonconformity is overdue while it is open after its due date, or while an action of it is not
done after the action's due date (`overdue`).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.actors import Role
from domain.aggregate import LifecycleAggregate, applies
from domain.context import Context
from domain.errors import DomainError, NotPermitted
from domain.events import DomainEvent
from domain.fields import Name, Number, Text
from domain.fields import Ref as RefField
from domain.organisations import PROVINCE, OrganisationCode

#: A clause of ISO/IEC 20000-1 ("8.6.1", "10.1").
CLAUSE_PATTERN = r"^\d{1,2}(\.\d{1,2}){0,3}$"
Clause = Field(pattern=CLAUSE_PATTERN, min_length=1, max_length=12)
#: Who raises nonconformities and verifies their corrective actions.
RAISERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN, Role.AUDITOR})
#: Who may do any of the owner's work besides the owner.
MANAGERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})
#: The most corrective actions one nonconformity holds.
MAX_ACTIONS = 50


class NonconformityState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class NonconformitySource(StrEnum):
    AUDIT_FINDING = "audit-finding"
    BREACH = "breach"
    COMPLAINT = "complaint"
    OTHER = "other"


class NonconformityGrade(StrEnum):
    MAJOR = "major"
    MINOR = "minor"


class FindingRef(BaseModel):
    """The audit finding a nonconformity came from: the audit's number and the finding's."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    audit_id: UUID
    audit: str = RefField
    finding: int = Number


class ActionsOutstanding(DomainError):
    """Effectiveness is verified once the corrective actions are done, not before."""

    code = "actions-outstanding"


class VerifierNotIndependent(NotPermitted):
    """The owner of the nonconformity, or of one of its actions, verifies none of their work."""

    code = "verifier-not-independent"


class UnknownAction(DomainError):
    """An action number the nonconformity does not have."""

    code = "unknown-action"


class ActionAlreadyDone(DomainError):
    code = "action-already-done"


# -- events --------------------------------------------------------------------------------------


class NonconformityEvent(DomainEvent):
    """A fact in a nonconformity's history."""


class Raised(NonconformityEvent):
    type_name: ClassVar[str] = "Nonconformity.Raised"
    number: int = Number
    clause: str = Clause
    grade: NonconformityGrade
    description: str = Text
    source: NonconformitySource
    finding: FindingRef | None = None
    #: the breach or complaint it came from, as people read it (INC-000123, REQ-000007)
    source_ref: str | None = Field(default=None, min_length=1, max_length=40)
    owner: str = Name
    due: date
    organisation: str = OrganisationCode


class CorrectionRecorded(NonconformityEvent):
    type_name: ClassVar[str] = "Nonconformity.CorrectionRecorded"
    correction: str = Text


class RootCauseRecorded(NonconformityEvent):
    type_name: ClassVar[str] = "Nonconformity.RootCauseRecorded"
    root_cause: str = Text


class ActionPlanned(NonconformityEvent):
    type_name: ClassVar[str] = "Nonconformity.ActionPlanned"
    #: the action's number within the nonconformity, from 1
    action: int = Number
    description: str = Text
    owner: str = Name
    due: date


class ActionDone(NonconformityEvent):
    type_name: ClassVar[str] = "Nonconformity.ActionDone"
    action: int = Number
    note: str = Text


class VerifiedEffective(NonconformityEvent):
    type_name: ClassVar[str] = "Nonconformity.VerifiedEffective"
    note: str = Text


class VerifiedNotEffective(NonconformityEvent):
    type_name: ClassVar[str] = "Nonconformity.VerifiedNotEffective"
    note: str = Text


def transition(state: NonconformityState | None, event: NonconformityEvent) -> NonconformityState:
    """The lifecycle state after an event: shared by the aggregate and the view."""
    match event:
        case Raised() | VerifiedNotEffective():
            return NonconformityState.OPEN
        case VerifiedEffective():
            return NonconformityState.CLOSED
    assert state is not None, "a nonconformity's history starts with Nonconformity.Raised"
    return state


def overdue(due: date, open_: bool, today: date) -> bool:
    """Whether something due on `due` and still open is overdue on `today`."""
    return open_ and due < today


# -- the aggregate -------------------------------------------------------------------------------


class Nonconformity(
    LifecycleAggregate[NonconformityState],
    events=NonconformityEvent,
    transition=transition,
    noun="nonconformity",
):
    KIND: ClassVar[str] = "nonconformity"

    number: int
    state: NonconformityState
    owner: str
    organisation: str
    root_cause: bool
    #: action number -> (its owner, whether done)
    actions: dict[int, tuple[str, bool]]

    @classmethod
    def raise_(
        cls,
        ctx: Context,
        *,
        id: UUID,
        number: int,
        clause: str,
        grade: NonconformityGrade,
        description: str,
        source: NonconformitySource,
        owner: str,
        due: date,
        finding: FindingRef | None = None,
        source_ref: str | None = None,
        organisation: str = PROVINCE,
    ) -> Nonconformity:
        """Raise a nonconformity (who may is the command's to check: anyone who raises one
        directly, or an audit's auditor through a finding)."""
        return cls._begin(
            ctx,
            id,
            Raised,
            number=number,
            clause=clause,
            grade=grade,
            description=description,
            source=source,
            finding=finding,
            source_ref=source_ref,
            owner=owner,
            due=due,
            organisation=organisation,
        )

    def record_correction(self, ctx: Context, *, correction: str) -> None:
        self._require("record_correction", NonconformityState.OPEN)
        self._owner_or_manager(ctx, "record the correction of")
        self._record(CorrectionRecorded(**self._envelope(ctx), correction=correction))

    def record_root_cause(self, ctx: Context, *, root_cause: str) -> None:
        self._require("record_root_cause", NonconformityState.OPEN)
        self._owner_or_manager(ctx, "record the root cause of")
        self._record(RootCauseRecorded(**self._envelope(ctx), root_cause=root_cause))

    def plan_action(self, ctx: Context, *, description: str, owner: str, due: date) -> None:
        self._require("plan_action", NonconformityState.OPEN)
        self._owner_or_manager(ctx, "plan the actions of")
        if len(self.actions) >= MAX_ACTIONS:
            raise NotPermitted(f"a nonconformity holds at most {MAX_ACTIONS} actions")
        number = len(self.actions) + 1
        self._record(
            ActionPlanned(
                **self._envelope(ctx), action=number, description=description, owner=owner, due=due
            )
        )

    def complete_action(self, ctx: Context, *, action: int, note: str) -> None:
        self._require("complete_action", NonconformityState.OPEN)
        found = self.actions.get(action)
        if found is None:
            raise UnknownAction(f"this nonconformity has no action {action}")
        action_owner, done = found
        if done:
            raise ActionAlreadyDone(f"action {action} is already done")
        if ctx.actor.id not in (action_owner, self.owner) and ctx.actor.role not in MANAGERS:
            raise NotPermitted(
                "only the action's owner, the nonconformity's owner or a service manager may"
                " record an action done"
            )
        self._record(ActionDone(**self._envelope(ctx), action=action, note=note))

    def verify(self, ctx: Context, *, effective: bool, note: str) -> None:
        self._require("verify", NonconformityState.OPEN)
        if ctx.actor.role not in RAISERS:
            raise NotPermitted("only a service manager or an auditor verifies effectiveness")
        if ctx.actor.id in self.workers:
            raise VerifierNotIndependent(
                f"{ctx.actor.id} owns this nonconformity or one of its actions: someone else"
                " verifies their work"
            )
        if not self.root_cause:
            raise ActionsOutstanding("the root cause is recorded before effectiveness is verified")
        if not self.actions or not all(done for _, done in self.actions.values()):
            raise ActionsOutstanding(
                "effectiveness is verified once every corrective action is done (and there is one)"
            )
        event = VerifiedEffective if effective else VerifiedNotEffective
        self._record(event(**self._envelope(ctx), note=note))

    @staticmethod
    def check_raiser(ctx: Context) -> None:
        if ctx.actor.role not in RAISERS:
            raise NotPermitted("only a service manager or an auditor raises a nonconformity")

    @property
    def workers(self) -> set[str]:
        """Whoever owns this nonconformity or one of its actions."""
        return {self.owner, *(owner for owner, _ in self.actions.values())}

    # -- helpers --------------------------------------------------------------------------------

    def _owner_or_manager(self, ctx: Context, action: str) -> None:
        if ctx.actor.id != self.owner and ctx.actor.role not in MANAGERS:
            raise NotPermitted(f"only its owner or a service manager may {action} a nonconformity")

    @applies(Raised)
    def _raised(self, e: Raised) -> None:
        self.number = e.number
        self.owner = e.owner
        self.organisation = e.organisation
        self.root_cause = False
        self.actions = {}

    @applies(RootCauseRecorded)
    def _root_cause(self, e: RootCauseRecorded) -> None:
        self.root_cause = True

    @applies(ActionPlanned)
    def _planned(self, e: ActionPlanned) -> None:
        self.actions = {**self.actions, e.action: (e.owner, False)}

    @applies(ActionDone)
    def _done(self, e: ActionDone) -> None:
        self.actions = {**self.actions, e.action: (self.actions[e.action][0], True)}

    @applies(CorrectionRecorded, VerifiedEffective, VerifiedNotEffective)
    def _moved(self, e: NonconformityEvent) -> None:
        pass  # the lifecycle state is all the decisions need
