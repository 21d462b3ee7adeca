"""The change schedule: the one record of booked change windows and blackout windows.

Scheduling decides conflicts, and a conflict is between two changes, so the windows live in one
record: two change managers booking clashing windows at once cannot both succeed, because both
writes take the schedule's next version and the store refuses the second (which is then decided
again on the fresh schedule). Each booking keeps the items the change touches and the items
related to them through depends-on (either way, transitively), as they were when it was booked.

Conflicts (the one statement of them, shared by the domain and the change calendar view):
- two bookings conflict when their windows overlap and either touches an item related to the
  other's (a relation that is symmetric, so conflict is too);
- a blackout applies to a booking when the windows overlap and the blackout covers every item
  (no items named) or one the booking touches or is related to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator
from pydantic_core import PydanticCustomError

from domain.actors import Role
from domain.aggregate import Aggregate, applies
from domain.configuration_item import Code, CodeList
from domain.context import Context
from domain.errors import InvalidWindow, NotPermitted, RecordNotFound, ScheduleConflict
from domain.events import DomainEvent
from domain.fields import Items, Name, NamesChange, OptionalReason, Reason
from domain.record_numbers import named_id

SCHEDULE_ID = named_id("change-schedule", "the change schedule")


@dataclass(frozen=True, slots=True)
class Booking:
    change_id: str
    ref: str
    start: datetime
    end: datetime
    items: frozenset[str]
    reach: frozenset[str]  # the items and those related to them


@dataclass(frozen=True, slots=True)
class Blackout:
    code: str
    title: str
    start: datetime
    end: datetime
    items: frozenset[str]  # empty: every item


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def clash(a: Booking, b: Booking) -> bool:
    return (
        a.change_id != b.change_id
        and overlaps(a.start, a.end, b.start, b.end)
        and bool(a.items & b.reach or b.items & a.reach)
    )


def blacked_out(booking: Booking, blackout: Blackout) -> bool:
    return overlaps(booking.start, booking.end, blackout.start, blackout.end) and (
        not blackout.items or bool(blackout.items & (booking.reach | booking.items))
    )


def conflicts_of(
    booking: Booking, bookings: Iterable[Booking], blackouts: Iterable[Blackout]
) -> list[dict[str, str]]:
    """What a booking conflicts with: other changes (by number) and blackouts (by code)."""
    found = [
        {"kind": "change", "ref": other.ref, "id": other.change_id}
        for other in bookings
        if clash(booking, other)
    ]
    found += [
        {"kind": "blackout", "ref": blackout.code, "title": blackout.title}
        for blackout in blackouts
        if blacked_out(booking, blackout)
    ]
    return sorted(found, key=lambda c: (c["kind"], c["ref"]))


class _Window(Protocol):
    start: datetime
    end: datetime


W = TypeVar("W", bound=_Window)


def window_checked(window: W) -> W:
    """A booking, blackout or schedule command, refused unless its window ends after it starts.
    Each runs it as its validator: `model_validator(mode="after")(window_checked)`."""
    if window.end <= window.start:
        raise PydanticCustomError("window_order", "a window ends after it starts")
    return window


# -- events ------------------------------------------------------------------------------------


class ScheduleEvent(DomainEvent):
    """A fact in the change schedule's history: a window booked or released, a blackout."""


class WindowBooked(NamesChange, ScheduleEvent):
    type_name: ClassVar[str] = "ChangeSchedule.WindowBooked"
    title: str = Name
    start: AwareDatetime
    end: AwareDatetime
    configuration_items: CodeList = Field(max_length=100)
    reach: CodeList = Field(max_length=10_000)
    #: what the booking conflicted with when a change manager overrode the conflict check
    overridden: list[str] = Field(default_factory=list, max_length=1_000)
    override_reason: str | None = OptionalReason

    _valid = model_validator(mode="after")(window_checked)


class WindowReleased(ScheduleEvent):
    type_name: ClassVar[str] = "ChangeSchedule.WindowReleased"
    change_id: UUID
    reason: str = Reason


class BlackoutDeclared(ScheduleEvent):
    type_name: ClassVar[str] = "ChangeSchedule.BlackoutDeclared"
    code: str = Code
    title: str = Name
    start: AwareDatetime
    end: AwareDatetime
    configuration_items: CodeList = Items
    reason: str = Reason

    _valid = model_validator(mode="after")(window_checked)


class BlackoutWithdrawn(ScheduleEvent):
    type_name: ClassVar[str] = "ChangeSchedule.BlackoutWithdrawn"
    code: str = Code
    reason: str = Reason


# -- the aggregate -----------------------------------------------------------------------------


class ChangeSchedule(Aggregate, events=ScheduleEvent):
    KIND: ClassVar[str] = "change schedule"

    def __init__(self, id: UUID) -> None:
        super().__init__(id)
        self.bookings: dict[str, Booking] = {}
        self.blackouts: dict[str, Blackout] = {}

    def book(
        self,
        ctx: Context,
        *,
        change_id: UUID,
        change_ref: str,
        title: str,
        start: datetime,
        end: datetime,
        items: Iterable[str],
        reach: Iterable[str],
        override_reason: str | None,
    ) -> list[dict[str, str]]:
        """Book a change's window; the conflicts it overrode (empty when there were none).
        Refused on a conflict unless a change manager overrides it with a reason."""
        if end <= start:
            raise InvalidWindow("a window ends after it starts")
        if end <= ctx.at:
            raise InvalidWindow("the window has already passed")
        booking = Booking(
            str(change_id), change_ref, start, end, frozenset(items), frozenset(reach)
        )
        conflicts = conflicts_of(booking, self.bookings.values(), self.blackouts.values())
        if conflicts and override_reason is None:
            names = ", ".join(c["ref"] for c in conflicts)
            raise ScheduleConflict(
                f"the window conflicts with {names}; a change manager may override with a reason",
                conflicts,
            )
        if conflicts and ctx.actor.role is not Role.CHANGE_MANAGER:
            raise NotPermitted("only a change manager may override a schedule conflict")
        if str(change_id) in self.bookings:
            self.release(ctx, change_id=change_id, reason="rescheduled")
        self._record(
            WindowBooked(
                **self._envelope(ctx),
                change_id=change_id,
                change_ref=change_ref,
                title=title,
                start=start,
                end=end,
                configuration_items=sorted(booking.items),
                reach=sorted(booking.reach),
                overridden=[c["ref"] for c in conflicts],
                override_reason=override_reason if conflicts else None,
            )
        )
        return conflicts

    def release(self, ctx: Context, *, change_id: UUID, reason: str) -> None:
        if str(change_id) in self.bookings:
            self._record(WindowReleased(**self._envelope(ctx), change_id=change_id, reason=reason))

    def declare_blackout(
        self,
        ctx: Context,
        *,
        code: str,
        title: str,
        start: datetime,
        end: datetime,
        items: list[str],
        reason: str,
    ) -> None:
        if ctx.actor.role not in (Role.SERVICE_MANAGER, Role.ADMIN):
            raise NotPermitted("blackout windows are declared by a service manager")
        if end <= start:
            raise InvalidWindow("a window ends after it starts")
        self._record(
            BlackoutDeclared(
                **self._envelope(ctx),
                code=code,
                title=title,
                start=start,
                end=end,
                configuration_items=items,
                reason=reason,
            )
        )

    def withdraw_blackout(self, ctx: Context, *, code: str, reason: str) -> None:
        if ctx.actor.role not in (Role.SERVICE_MANAGER, Role.ADMIN):
            raise NotPermitted("blackout windows are withdrawn by a service manager")
        if code not in self.blackouts:
            raise RecordNotFound(f"no blackout window {code}")
        self._record(BlackoutWithdrawn(**self._envelope(ctx), code=code, reason=reason))

    @applies(WindowBooked)
    def _booked(self, e: WindowBooked) -> None:
        booking = Booking(
            str(e.change_id),
            e.change_ref,
            e.start,
            e.end,
            frozenset(e.configuration_items),
            frozenset(e.reach),
        )
        self.bookings = {**self.bookings, booking.change_id: booking}

    @applies(WindowReleased)
    def _released(self, e: WindowReleased) -> None:
        self.bookings = {k: v for k, v in self.bookings.items() if k != str(e.change_id)}

    @applies(BlackoutDeclared)
    def _blackout_declared(self, e: BlackoutDeclared) -> None:
        blackout = Blackout(e.code, e.title, e.start, e.end, frozenset(e.configuration_items))
        self.blackouts = {**self.blackouts, e.code: blackout}

    @applies(BlackoutWithdrawn)
    def _blackout_withdrawn(self, e: BlackoutWithdrawn) -> None:
        self.blackouts = {k: v for k, v in self.blackouts.items() if k != e.code}
