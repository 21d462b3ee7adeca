"""Problems (ISO/IEC 20000-1 8.6.3): the causes of incidents, and the known errors they become.

    logged -> investigating -> known_error -> resolved -> closed
    logged | investigating | known_error -> cancelled

A problem is logged from one or more incidents or on its own (or by a failed change). While it is
investigated its root cause is recorded; a workaround may be published at any point before it is
resolved, and every linked incident that is still open is told of it (an event on the incident,
in the same write). Publishing it as a known error needs the root cause. It is resolved through a
change that was implemented successfully, and then closed; the recurrence report looks for
incidents on its service or configuration items logged after that.

Links to incidents, changes and configuration items are events on both records, saved together.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from domain.aggregate import LifecycleAggregate, applies
from domain.attachments import Attachable, Attached, Detached
from domain.configuration_item import Code, CodeList
from domain.context import Context
from domain.errors import (
    AlreadyLinked,
    ChangeNotImplemented,
    NotPermitted,
    RootCauseMissing,
)
from domain.events import DomainEvent
from domain.fields import (
    Description,
    Items,
    Name,
    NamesChange,
    NamesIncident,
    Number,
    OptionalName,
    Reasoned,
    Text,
)
from domain.organisations import PROVINCE, OrganisationCode


class ProblemState(StrEnum):
    LOGGED = "logged"
    INVESTIGATING = "investigating"
    KNOWN_ERROR = "known_error"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({ProblemState.LOGGED, ProblemState.INVESTIGATING, ProblemState.KNOWN_ERROR})


class ProblemEvent(DomainEvent):
    """A fact in a problem's history."""


class Logged(ProblemEvent):
    type_name: ClassVar[str] = "Problem.Logged"
    number: int = Number
    title: str = Name
    description: str = Description
    service: str | None = OptionalName
    configuration_items: CodeList = Items
    #: The organisation whose record it is (events stored before organisations: the province).
    organisation: str = OrganisationCode


class InvestigationStarted(ProblemEvent):
    type_name: ClassVar[str] = "Problem.InvestigationStarted"
    investigator: str = Name


class RootCauseRecorded(ProblemEvent):
    type_name: ClassVar[str] = "Problem.RootCauseRecorded"
    root_cause: str = Text


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
    ) -> Problem:
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
        )

    def start_investigation(self, ctx: Context) -> None:
        self._require("start_investigation", ProblemState.LOGGED)
        self._record(InvestigationStarted(**self._envelope(ctx), investigator=ctx.actor.id))

    def record_root_cause(self, ctx: Context, *, root_cause: str) -> None:
        self._require("record_root_cause", ProblemState.INVESTIGATING, ProblemState.KNOWN_ERROR)
        self._record(RootCauseRecorded(**self._envelope(ctx), root_cause=root_cause))

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

    # -- helpers --------------------------------------------------------------------------------

    # -- state changes --------------------------------------------------------------------------

    @applies(Logged)
    def _logged(self, e: Logged) -> None:
        self.number = e.number
        self.root_cause = self.workaround = None
        self.incidents, self.changes = frozenset(), frozenset()
        self.configuration_items = frozenset(e.configuration_items)
        self.organisation = e.organisation

    @applies(InvestigationStarted, KnownErrorPublished, Resolved, Closed, Cancelled)
    def _moved(self, e: ProblemEvent) -> None:
        pass  # the lifecycle state is all that changes

    @applies(RootCauseRecorded)
    def _root_cause(self, e: RootCauseRecorded) -> None:
        self.root_cause = e.root_cause

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
