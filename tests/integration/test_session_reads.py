"""What a command reads besides the record it names (a catalogue item, a change template, the
change schedule) comes from the desk's records as last saved or read while the store holds no
later version of it, and from the store once it does: a read costs one look at the record's
last version instead of all its events, and sees exactly what reading them would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from application.kinds import CATALOGUE_ITEM, SERVICE_REQUEST
from application.pipeline import Submission
from domain import commands as c
from domain.incident import Incident, IncidentState
from domain.request_commands import DefineCatalogueItem, SubmitServiceRequest
from domain.service_request import catalogue_item_id
from domain.session import Session
from service.bootstrap import Services, build
from tests.conftest import AGENT, CALLER, MANAGER, context


@pytest.fixture
def reads(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    """The record each read of all a record's events from the store was for."""
    seen: list[UUID] = []
    events = services.desk.events
    get = events.get

    def counted(originator_id: UUID, *args: Any, **kwargs: Any) -> Iterator[Any]:
        seen.append(originator_id)
        return get(originator_id, *args, **kwargs)

    monkeypatch.setattr(events, "get", counted)
    return seen


def define_item(services: Services) -> UUID:
    command = DefineCatalogueItem(
        code="card-reprint",
        title="Reprint a card",
        service="membership-cards",
        fulfilment_group="desk",
        steps=["Print the card"],
    )
    return services.desk.execute(Submission(context(MANAGER), command, CATALOGUE_ITEM)).record_id


def submit(n: int) -> Submission:
    command = SubmitServiceRequest(catalogue_item="card-reprint", title=f"Lost card {n}")
    return Submission(context(AGENT), command, SERVICE_REQUEST)


@pytest.mark.usefixtures("directory")
def test_a_record_commands_only_read_is_not_read_again_while_it_is_unchanged(
    services: Services, reads: list[UUID]
) -> None:
    item = define_item(services)
    reads.clear()  # defining it looked for it first

    services.desk.execute(submit(1))
    services.desk.execute_batch([submit(2), submit(3)])
    services.desk.execute(submit(4))

    assert catalogue_item_id("card-reprint") == item
    assert item not in reads


@pytest.mark.usefixtures("directory")
def test_a_record_another_process_changed_is_read_as_the_store_holds_it(
    services: Services,
) -> None:
    logged = services.desk.log_incident(
        context(),
        c.LogIncident(
            title="Gate",
            service="kiosks-gates",
            caller=CALLER.id,
            impact="low",
            urgency="low",
            assignment_group="desk",
        ),
    )
    other = build(services.settings, clock=services.clock)  # another process, in effect
    try:
        other.desk.handle(context(), logged.record_id, c.StartWork())  # unseen by the cache
    finally:
        other.close()
    seen: list[Incident] = []

    def look(session: Session) -> UUID:
        incident = session.find(Incident, logged.record_id)
        assert incident is not None
        seen.append(incident)
        return incident.id

    services.desk.run(context(), "look", None, look)

    stored = len(list(services.desk.events.get(logged.record_id)))
    assert [(i.version, i.state) for i in seen] == [(stored, IncidentState.IN_PROGRESS)]
