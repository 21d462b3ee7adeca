"""The write path's own costs: what a command leaves behind for the garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from application.session import Session
from domain import commands as c
from service.bootstrap import Services
from tests.conftest import context


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


def test_a_command_leaves_no_reference_cycle_for_the_garbage_collector(
    services: Services, garbage: list[object]
) -> None:
    desk = services.desk
    for n in range(3):
        logged = desk.log_incident(
            context(),
            c.LogIncident(
                title=f"Gate {n}", service="RFID gates", caller="budi", impact="low", urgency="low"
            ),
        )
        desk.handle(context(), logged.record_id, c.Assign(group="desk"))
        desk.handle(context(), logged.record_id, c.StartWork())
        desk.handle(context(), logged.record_id, c.ResolveIncident(code="fixed", notes="reset"))

    gc.collect()

    assert [o for o in garbage if isinstance(o, Session)] == []
