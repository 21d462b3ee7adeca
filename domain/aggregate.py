"""A small event-sourced aggregate base that fits the eventsourcing library's protocols.

Public methods decide: they check the rules and raise a named error, or record events. Recording
an event applies it through `_apply`, which only assigns state; the same code runs on replay, so
it must never check a rule or read anything but the event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar
from uuid import UUID

from domain.errors import RecordIllegalTransition
from domain.events import DomainEvent

if TYPE_CHECKING:
    from domain.context import Context


class Aggregate:
    """`class Change(Aggregate, events=ChangeEvent)`: `events` is the base class of this kind's
    events; replay refuses any other, so a stream of another kind never loads as this one."""

    #: How refusals and errors name this kind of record ("change", "service request").
    KIND: ClassVar[str]
    #: event class -> method that applies it; filled in by subclasses through `applies`.
    _appliers: ClassVar[dict[type[DomainEvent], Callable[[Any, Any], None]]]
    _events: ClassVar[type[DomainEvent]] = DomainEvent

    #: The organisation whose record this is. None: data of no organisation (the catalogues,
    #: the rules), which every caller reaches. A record kind that sets it when created is
    #: scoped wherever commands load records (domain/organisations.py).
    organisation: str | None = None

    @property
    def owned_by(self) -> str | None:
        """Whose own record this is, for a requester's reach (an incident's caller, a service
        request's requester); None when no requester owns records of this kind."""
        return None

    def reachable(self, ctx: Context) -> bool:
        """Whether the command's caller may see and act on this record (Context.reaches)."""
        return self.organisation is None or ctx.reaches(self.organisation, self.owned_by)

    def __init__(self, id: UUID) -> None:
        self.id = id
        self.version = 0
        self._pending: list[DomainEvent] = []

    def __init_subclass__(cls, *, events: type[DomainEvent] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if events is not None:
            cls._events = events
        cls._appliers = {}
        for member in vars(cls).values():
            for event_type in getattr(member, "_applies_to", ()):
                cls._appliers[event_type] = member

    # -- recording and replay -------------------------------------------------------------------

    def _record(self, event: DomainEvent) -> None:
        self._apply(event)
        self._pending.append(event)

    def _apply(self, event: DomainEvent) -> None:
        if not isinstance(event, self._events):
            raise LookupError(f"{event.type_name} is not a {self.KIND} event")
        try:
            applier = self._appliers[type(event)]
        except KeyError:
            raise LookupError(
                f"{type(self).__name__} does not apply {type(event).__name__}"
            ) from None
        applier(self, event)
        self.version = event.originator_version

    @classmethod
    def _begin(cls, ctx: Context, id: UUID, first: type[DomainEvent], **fields: Any) -> Self:
        """A new record whose history starts with `first` (version 1), carrying `fields`."""
        record = cls(id)
        record._record(first(originator_id=id, originator_version=1, **fields, **ctx.stamp()))
        return record

    def _next_version(self) -> int:
        return self.version + 1

    def _envelope(self, ctx: Context) -> dict[str, object]:
        """What every event after the first carries: whose, which version, who and when."""
        return {"originator_id": self.id, "originator_version": self._next_version(), **ctx.stamp()}

    def collect_events(self) -> list[DomainEvent]:
        """Hand the recorded events to the application for saving (library protocol)."""
        pending, self._pending = self._pending, []
        return pending

    @classmethod
    def project(cls, state: Self | None, events: Iterable[DomainEvent]) -> Self | None:
        """Fold stored events into state: the projector the repository calls."""
        for event in events:
            if state is None:
                state = cls(event.originator_id)
            state._apply(event)
        return state

    def copy(self) -> Self:
        """A copy to change freely, this left as it is. State holds only immutable values, so a
        shallow copy with its own pending list is a safe and cheap one."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._pending = []
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.copy()


State = TypeVar("State", bound=str)


class LifecycleAggregate(Aggregate, Generic[State]):
    """A record that moves through a lifecycle, its `state`.

    `class Problem(LifecycleAggregate[ProblemState], events=ProblemEvent, transition=transition)`:
    `transition(state, event)` is the kind's lifecycle function, shared with its projections, and
    every applied event advances `state` through it after the kind's own applier has run.
    `noun` names the record in a refused action ("cannot close while the article is draft");
    the KIND unless given.
    """

    state: State
    _transition: ClassVar[Callable[[Any, Any], Any]]
    _noun: ClassVar[str]

    def __init_subclass__(
        cls,
        *,
        transition: Callable[[Any, Any], Any] | None = None,
        noun: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if transition is not None:
            cls._transition = transition
        cls._noun = getattr(cls, "KIND", "") if noun is None else noun

    def _require(self, action: str, *states: State) -> None:
        """Refuse the action unless the record is in one of `states`."""
        if self.state not in states:
            raise RecordIllegalTransition(self._noun, action, self.state)

    def _apply(self, event: DomainEvent) -> None:
        before = getattr(self, "state", None)
        super()._apply(event)
        self.state = type(self)._transition(before, event)


def applies(
    *event_types: type[DomainEvent],
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a method as the one that applies the given events to state."""

    def mark(method: Callable[..., None]) -> Callable[..., None]:
        method._applies_to = event_types  # type: ignore[attr-defined]
        return method

    return mark
