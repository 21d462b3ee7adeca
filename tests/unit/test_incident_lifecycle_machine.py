"""The incident lifecycle as a state machine, checked against a small independent model.

The model is written from the lifecycle in the docstring of domain/incident.py and the rules each
aggregate method states, not from `transition`:

    logged -> assigned -> in_progress <-> on_hold -> resolved -> closed
                                                        |  ^
                                                reopen  v  | (within the window)
    any open state -> cancelled (duplicate, or logged in error)

Each step tries one action some time after the last. The model says whether it is allowed (and
which named error it breaks otherwise); the aggregate must then record exactly one event and agree
with the model, or raise that error and record nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.actors import Actor, Role
from domain.context import Context
from domain.errors import (
    AlreadyAMajorIncident,
    AssignmentUnchanged,
    ConfirmationWindowOpen,
    DomainError,
    EscalationTargetUnchanged,
    IllegalTransition,
    IncidentAlreadyClosed,
    NotAMajorIncident,
    NotTheCaller,
    PriorityUnchanged,
    ReopenWindowClosed,
    ReviewRequired,
)
from domain.events import DomainEvent
from domain.incident import (
    Assigned,
    Cancelled,
    CancelReason,
    Channel,
    Closed,
    ClosureBasis,
    CommentAdded,
    Escalated,
    EscalationKind,
    HoldReason,
    Incident,
    Logged,
    MajorIncidentDeclared,
    MajorIncidentReviewed,
    MajorIncidentStoodDown,
    PutOnHold,
    Reopened,
    Reprioritised,
    ResolutionCode,
    Resolved,
    Resumed,
    WorkNoteAdded,
    WorkStarted,
)
from domain.priority import DEFAULT_CELLS, Impact, PriorityMatrix, Urgency
from tests.conftest import AGENT, CALLER, MANAGER, T0

WINDOW = timedelta(hours=48)
MATRIX = PriorityMatrix.define(Context(actor=MANAGER, at=T0, correlation_id=uuid4()), DEFAULT_CELLS)

OPEN = frozenset({"logged", "assigned", "in_progress", "on_hold"})
NOT_FINISHED = OPEN | {"resolved"}
FINISHED = frozenset({"closed", "cancelled"})
#: Actions tried on a closed or cancelled incident before a run stops acting on it.
TRIES_AFTER_THE_END = 3

RESOLVER = Actor(id="andi.wijaya", role=Role.RESOLVER)
OTHER_REQUESTER = Actor(id="rina.kartika", role=Role.REQUESTER)

groups = st.sampled_from(["service-desk", "network", "library-systems"])
agents = st.sampled_from([None, "siti.rahma", "andi.wijaya"])
workers = st.sampled_from([AGENT, RESOLVER, MANAGER])
anyone = st.sampled_from([AGENT, CALLER, OTHER_REQUESTER, MANAGER])
# the time before each action: mostly short; longer spells pass in `time_passes`
elapsed = st.sampled_from([0, 0, 1, 60, 360]).map(lambda minutes: timedelta(minutes=minutes))
impacts = st.sampled_from(list(Impact))
urgencies = st.sampled_from(list(Urgency))


@dataclass
class Model:
    """What the lifecycle says the incident is."""

    state: str = "logged"
    caller: str = CALLER.id
    group: str | None = None
    agent: str | None = None
    impact: Impact = Impact.MEDIUM
    urgency: Urgency = Urgency.MEDIUM
    hold_reason: HoldReason | None = None
    major_manager: str | None = None
    #: a major incident is closed once its review is recorded (and a review stays recorded)
    major_reviewed: bool = False
    escalation_level: int = 0
    reopen_until: datetime | None = None
    reopen_count: int = 0
    version: int = 1

    @property
    def priority(self) -> int:
        return DEFAULT_CELLS[self.impact][self.urgency]

    def refuse(self, allowed_in: frozenset[str] | set[str]) -> type[DomainError] | None:
        """The error for acting in a state that does not allow it, or None."""
        if self.state in allowed_in:
            return None
        return IncidentAlreadyClosed if self.state == "closed" else IllegalTransition

    def speaks_for_caller(self, actor: Actor) -> bool:
        return actor.role is not Role.REQUESTER or actor.id == self.caller


going = precondition(lambda machine: machine.still_going())


class IncidentLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.model = Model()
        self.incident: Incident
        self.history: list[DomainEvent] = []
        self.tries_after_the_end = 0

    def still_going(self) -> bool:
        """False once a closed or cancelled incident has had a few tries: it stays finished
        (checked), so the rest of the run only lets time pass."""
        return self.tries_after_the_end < TRIES_AFTER_THE_END

    @initialize(impact=impacts, urgency=urgencies, progress=st.integers(0, 3))
    def log(self, impact: Impact, urgency: Urgency, progress: int) -> None:
        """Log the incident, then take it some way along the usual path (checked like any step),
        so that runs start all over the lifecycle."""
        ctx = self.context(AGENT)
        self.incident = Incident.log(
            ctx,
            id=uuid4(),
            number=1,
            title="Wi-Fi down in the reading room",
            description="",
            service="public-wifi",
            configuration_item=None,
            caller=CALLER.id,
            channel=Channel.PHONE,
            impact=impact,
            urgency=urgency,
            matrix=MATRIX,
        )
        self.model.impact, self.model.urgency = impact, urgency
        events = self.incident.collect_events()
        assert [type(e) for e in events] == [Logged]
        self.history.extend(events)
        usual_path = [
            lambda: self.assign(timedelta(hours=1), "service-desk", None),
            lambda: self.start_work(timedelta(hours=1), AGENT),
            lambda: self.resolve(timedelta(hours=1), ResolutionCode.FIXED),
        ]
        for step in usual_path[:progress]:
            step()
        assert self.model.state == ["logged", "assigned", "in_progress", "resolved"][progress]

    # -- helpers -----------------------------------------------------------------------------------

    def context(self, actor: Actor) -> Context:
        return Context(actor=actor, at=self.now, correlation_id=uuid4())

    def attempt(
        self,
        wait: timedelta,
        actor: Actor,
        act: Callable[[Context], None],
        expected_error: type[DomainError] | None,
        expected_event: type[DomainEvent],
        **expected_fields: Any,
    ) -> bool:
        """Run one action; True if it was (rightly) accepted, so the caller updates the model."""
        self.now += wait
        if self.model.state in FINISHED:
            self.tries_after_the_end += 1
        ctx = self.context(actor)
        before = live_state(self.incident)
        if expected_error is not None:
            with pytest.raises(DomainError) as raised:
                act(ctx)
            assert type(raised.value) is expected_error
            assert self.incident.collect_events() == []
            assert live_state(self.incident) == before
            return False
        act(ctx)
        events = self.incident.collect_events()
        assert [type(e) for e in events] == [expected_event]
        event = events[0]
        assert event.originator_id == self.incident.id
        assert event.originator_version == self.model.version + 1
        assert (event.actor, event.timestamp, event.correlation_id) == (
            ctx.actor,
            ctx.at,
            ctx.correlation_id,
        )
        for name, value in expected_fields.items():
            assert getattr(event, name) == value, name
        self.history.append(event)
        self.model.version += 1
        return True

    # -- rules -------------------------------------------------------------------------------------

    @going
    @rule(wait=elapsed, group=groups, agent=agents)
    def assign(self, wait: timedelta, group: str, agent: str | None) -> None:
        m = self.model
        error = m.refuse(OPEN) or (
            AssignmentUnchanged if (group, agent) == (m.group, m.agent) else None
        )

        def act(ctx: Context) -> None:
            self.incident.assign(ctx, group=group, agent=agent)

        if self.attempt(wait, AGENT, act, error, Assigned, group=group, agent=agent):
            # assignment puts a logged incident in a queue; a move to another group puts work in
            # progress back in the queue; otherwise the incident stays where it is
            if m.state == "logged" or (
                m.state == "in_progress" and (group != m.group or agent is None)
            ):
                m.state = "assigned"
            m.group, m.agent = group, agent

    @going
    @rule(wait=elapsed, actor=workers)
    def start_work(self, wait: timedelta, actor: Actor) -> None:
        m = self.model
        agent = m.agent or actor.id
        if self.attempt(
            wait,
            actor,
            self.incident.start_work,
            m.refuse({"assigned"}),
            WorkStarted,
            agent=agent,
        ):
            m.state, m.agent = "in_progress", agent

    @going
    @rule(wait=elapsed, reason=st.sampled_from(list(HoldReason)))
    def put_on_hold(self, wait: timedelta, reason: HoldReason) -> None:
        m = self.model

        def act(ctx: Context) -> None:
            self.incident.put_on_hold(ctx, reason=reason)

        if self.attempt(
            wait, AGENT, act, m.refuse({"assigned", "in_progress"}), PutOnHold, reason=reason
        ):
            m.state, m.hold_reason = "on_hold", reason

    @going
    @rule(wait=elapsed)
    def resume(self, wait: timedelta) -> None:
        m = self.model
        if self.attempt(wait, AGENT, self.incident.resume, m.refuse({"on_hold"}), Resumed):
            # work in progress always has an agent: without one it goes back to the queue
            m.state, m.hold_reason = ("in_progress" if m.agent else "assigned"), None

    @going
    @rule(wait=elapsed, actor=anyone, public=st.booleans())
    def add_note(self, wait: timedelta, actor: Actor, public: bool) -> None:
        def act(ctx: Context) -> None:
            if public:
                self.incident.add_comment(ctx, text="any news?")
            else:
                self.incident.add_work_note(ctx, text="checked the access point")

        expected = CommentAdded if public else WorkNoteAdded
        self.attempt(wait, actor, act, self.model.refuse(NOT_FINISHED), expected)

    @going
    @rule(wait=elapsed, impact=impacts, urgency=urgencies)
    def reprioritise(self, wait: timedelta, impact: Impact, urgency: Urgency) -> None:
        m = self.model
        error = m.refuse(OPEN) or (
            PriorityUnchanged if (impact, urgency) == (m.impact, m.urgency) else None
        )

        def act(ctx: Context) -> None:
            self.incident.reprioritise(
                ctx, impact=impact, urgency=urgency, reason="more users affected", matrix=MATRIX
            )

        if self.attempt(
            wait,
            AGENT,
            act,
            error,
            Reprioritised,
            priority=DEFAULT_CELLS[impact][urgency],
            matrix_version=1,
        ):
            m.impact, m.urgency = impact, urgency

    @going
    @rule(wait=elapsed, group=groups)
    def escalate_functionally(self, wait: timedelta, group: str) -> None:
        m = self.model
        error = m.refuse(OPEN) or (EscalationTargetUnchanged if group == m.group else None)

        def act(ctx: Context) -> None:
            self.incident.escalate(
                ctx, kind=EscalationKind.FUNCTIONAL, reason="needs skills", to_group=group
            )

        if self.attempt(wait, AGENT, act, error, Escalated, to_group=group, to_manager=None):
            # the work goes to the new group's queue, for anyone there; a hold still holds
            if m.state != "on_hold":
                m.state = "assigned"
            m.group, m.agent = group, None

    @going
    @rule(wait=elapsed)
    def escalate_hierarchically(self, wait: timedelta) -> None:
        m = self.model

        def act(ctx: Context) -> None:
            self.incident.escalate(
                ctx, kind=EscalationKind.HIERARCHICAL, reason="SLA at risk", to_manager=MANAGER.id
            )

        if self.attempt(wait, AGENT, act, m.refuse(OPEN), Escalated, to_manager=MANAGER.id):
            m.escalation_level += 1

    @going
    @rule(wait=elapsed, manager=st.sampled_from([MANAGER.id, "kepala.dinas"]))
    def declare_major(self, wait: timedelta, manager: str) -> None:
        m = self.model
        error = m.refuse(OPEN) or (AlreadyAMajorIncident if m.major_manager else None)

        def act(ctx: Context) -> None:
            self.incident.declare_major(ctx, manager=manager, reason="every branch is offline")

        if self.attempt(wait, MANAGER, act, error, MajorIncidentDeclared, manager=manager):
            m.major_manager = manager

    @going
    @rule(wait=elapsed)
    def stand_down_major(self, wait: timedelta) -> None:
        m = self.model
        error = m.refuse(NOT_FINISHED) or (NotAMajorIncident if m.major_manager is None else None)

        def act(ctx: Context) -> None:
            self.incident.stand_down_major(ctx, reason="contained")

        if self.attempt(wait, MANAGER, act, error, MajorIncidentStoodDown):
            m.major_manager = None

    @going
    @rule(wait=elapsed)
    def review_major(self, wait: timedelta) -> None:
        m = self.model
        error = m.refuse({"resolved"}) or (NotAMajorIncident if m.major_manager is None else None)

        def act(ctx: Context) -> None:
            self.incident.review_major(
                ctx, timeline="down 09:00-11:00", went_well="the call tree", went_badly="no spare"
            )

        if self.attempt(wait, MANAGER, act, error, MajorIncidentReviewed):
            m.major_reviewed = True

    def review_missing(self) -> type[DomainError] | None:
        m = self.model
        return ReviewRequired if m.major_manager is not None and not m.major_reviewed else None

    @going
    @rule(wait=elapsed, code=st.sampled_from(list(ResolutionCode)))
    def resolve(self, wait: timedelta, code: ResolutionCode) -> None:
        m = self.model

        def act(ctx: Context) -> None:
            self.incident.resolve(ctx, code=code, notes="replaced the AP", reopen_window=WINDOW)

        error = m.refuse({"in_progress", "on_hold"})
        until = self.now + wait + WINDOW
        if self.attempt(wait, AGENT, act, error, Resolved, code=code, reopen_until=until):
            m.state, m.hold_reason, m.reopen_until = "resolved", None, until

    @going
    @rule(wait=elapsed, actor=anyone)
    def confirm(self, wait: timedelta, actor: Actor) -> None:
        m = self.model
        error = m.refuse({"resolved"}) or (None if m.speaks_for_caller(actor) else NotTheCaller)
        error = error or self.review_missing()
        if self.attempt(
            wait,
            actor,
            self.incident.confirm_resolution,
            error,
            Closed,
            basis=ClosureBasis.CONFIRMED_BY_CALLER,
        ):
            m.state = "closed"

    @going
    @rule(wait=elapsed, actor=anyone)
    def reopen(self, wait: timedelta, actor: Actor) -> None:
        m = self.model
        error = m.refuse({"resolved"})
        if error is None and not m.speaks_for_caller(actor):
            error = NotTheCaller
        if error is None and m.reopen_until is not None and self.now + wait > m.reopen_until:
            error = ReopenWindowClosed

        def act(ctx: Context) -> None:
            self.incident.reopen(ctx, reason="it dropped again")

        if self.attempt(wait, actor, act, error, Reopened):
            # back to whoever had it, or to the group's queue when nobody did
            m.state = "in_progress" if m.agent else "assigned"
            m.reopen_until, m.reopen_count = None, m.reopen_count + 1

    @going
    @rule(wait=elapsed)
    def close(self, wait: timedelta) -> None:
        m = self.model
        error = m.refuse({"resolved"})
        if error is None and m.reopen_until is not None and self.now + wait < m.reopen_until:
            error = ConfirmationWindowOpen
        error = error or self.review_missing()
        if self.attempt(
            wait, AGENT, self.incident.close, error, Closed, basis=ClosureBasis.WINDOW_ELAPSED
        ):
            m.state = "closed"

    @going
    @rule(wait=elapsed, duplicate=st.booleans())
    def cancel(self, wait: timedelta, duplicate: bool) -> None:
        m = self.model
        reason = CancelReason.DUPLICATE if duplicate else CancelReason.LOGGED_IN_ERROR
        original = uuid4() if duplicate else None

        def act(ctx: Context) -> None:
            self.incident.cancel(ctx, reason=reason, duplicate_of=original)

        if self.attempt(
            wait, AGENT, act, m.refuse(OPEN), Cancelled, reason=reason, duplicate_of=original
        ):
            m.state, m.hold_reason = "cancelled", None

    # -- time --------------------------------------------------------------------------------------

    @rule(hours=st.integers(min_value=1, max_value=72))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @precondition(lambda self: self.model.reopen_until is not None)
    @rule(
        offset=st.sampled_from([-1, 0, 1]),
        then=st.sampled_from(["nothing", "reopen", "close", "confirm"]),
        actor=anyone,
    )
    def at_the_end_of_the_reopen_window(self, offset: int, then: str, actor: Actor) -> None:
        """Go to a second before, exactly at, or a second after the end of the reopen window (if
        that is still ahead), and maybe act there and then."""
        assert self.model.reopen_until is not None
        self.now = max(self.now, self.model.reopen_until + timedelta(seconds=offset))
        if then == "reopen":
            self.reopen(timedelta(0), actor)
        elif then == "close":
            self.close(timedelta(0))
        elif then == "confirm":
            self.confirm(timedelta(0), actor)

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        m, incident = self.model, self.incident
        expected = {f.name: getattr(m, f.name) for f in fields(m)} | {"priority": m.priority}
        actual = {name: getattr(incident, name) for name in expected}
        actual["state"] = incident.state.value
        assert actual == expected

    @invariant()
    def replaying_the_history_gives_the_live_state(self) -> None:
        replayed = Incident.project(None, self.history)
        assert replayed is not None
        assert live_state(replayed) == live_state(self.incident)

    @invariant()
    def versions_are_consecutive_from_one(self) -> None:
        assert [e.originator_version for e in self.history] == list(range(1, len(self.history) + 1))
        assert self.incident.version == len(self.history)

    @precondition(lambda self: self.model.state in {"closed", "cancelled"})
    @invariant()
    def a_finished_incident_stays_finished(self) -> None:
        assert self.incident.state.value in {"closed", "cancelled"}


def live_state(incident: Incident) -> dict[str, Any]:
    return {k: v for k, v in vars(incident).items() if k != "_pending"}


IncidentLifecycle.TestCase.settings = settings(
    max_examples=300, stateful_step_count=30, deadline=None
)
TestIncidentLifecycle = IncidentLifecycle.TestCase
