"""The write path's own costs, and what its shortcuts must never cost: a command leaves nothing
for the garbage collector, and desks deciding on the records they cached (two processes on one
store) never lose an update nor commit a decision the stored state would refuse."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator

import pytest

from application.session import Session
from domain import commands as c
from domain.errors import DomainError
from domain.incident import Incident
from service.bootstrap import Services
from tests.conftest import context
from tests.integration.test_group_commit import other

__all__ = ["other"]  # a fixture, used by name: another process on the same store, in effect


@pytest.fixture
def garbage() -> Iterator[list[object]]:
    """What the garbage collector finds unreachable from now on (only it could free it)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def log(services: Services, n: int) -> Incident:
    command = c.LogIncident(
        title=f"Gate {n}", service="kiosks-gates", caller="budi", impact="low", urgency="low"
    )
    return services.desk.incident(services.desk.log_incident(context(), command).record_id)


@pytest.mark.usefixtures("directory")
def test_a_command_leaves_no_reference_cycle_for_the_garbage_collector(
    services: Services, garbage: list[object]
) -> None:
    desk = services.desk
    for n in range(3):
        incident = log(services, n)
        desk.handle(context(), incident.id, c.Assign(group="desk"))
        desk.handle(context(), incident.id, c.StartWork())
        desk.handle(context(), incident.id, c.ResolveIncident(code="fixed", notes="reset"))

    gc.collect()

    assert [o for o in garbage if isinstance(o, Session)] == []


STEPS: list[c.IncidentCommand] = [
    c.Assign(group="desk"),
    c.StartWork(),
    c.PutOnHold(reason="awaiting_caller"),
    c.Resume(),
    c.AddWorkNote(text="looked again"),
    c.ResolveIncident(code="fixed", notes="reset the reader"),
    c.Reopen(reason="offline again"),
]


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize("seed", range(4))
def test_desks_alternating_on_one_store_decide_each_command_on_the_stored_state(
    services: Services, other: Services, seed: int
) -> None:
    """Each desk decides on its cached copy while the other desk changes the record. Every
    answer must be the one the stored state gives: a success is stored as the next version (no
    update lost), and a command the stored state refuses is refused, writing nothing (however
    its desk's stale copy would have taken it)."""
    chance = random.Random(seed)
    incident_id = log(services, seed).id
    desks = [services, other]

    for _ in range(30):
        desk = chance.choice(desks).desk
        command = chance.choice(STEPS)
        # The record as stored, read past both desks' caches (which this must not refresh).
        stored = Incident.project(None, services.desk.history(incident_id))
        assert stored is not None
        rules = Session(services.desk, None).rules
        try:
            command.execute(stored, context(), rules)
            expected: int | None = stored.version
        except DomainError:
            expected = None

        try:
            answered: int | None = desk.handle(context(), incident_id, command).version
        except DomainError:
            answered = None

        assert answered == expected, command
        history = services.desk.history(incident_id)
        assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
        assert len(history) == (expected or stored.version)
