"""What a command names must exist, for the caller, before anything is recorded.

- A record's organisation must be one of the nine the service keeps: a create naming another is
  refused with 422 naming the field, for every role and every kind that takes an organisation.
- A cancel as a duplicate names an incident that exists, that the caller reaches, and that is not
  the one cancelled; one missing and one out of reach are refused in the same words.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from application.pipeline import Submission
from domain import commands as c
from domain.actors import Role
from domain.errors import DuplicateNotFound
from domain.organisations import ORGANISATION_CODES, PROVINCE
from service.bootstrap import Services
from tests.conftest import context
from tests.integration.conftest import Api
from tests.integration.test_group_commit import log_command
from tests.integration.test_organisations import INCIDENT, KINDS, LEBAK, SERANG, made, seeded

__all__ = ["seeded"]  # a fixture, used by name


def head(services: Services) -> int:
    return services.desk.recorder.max_notification_id() or 0


def test_the_service_knows_the_nine_organisations() -> None:
    assert len(ORGANISATION_CODES) == 9
    assert {PROVINCE, SERANG, LEBAK} <= ORGANISATION_CODES


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SERVICE_MANAGER])
@pytest.mark.parametrize("kind", KINDS)
def test_a_record_of_an_organisation_that_does_not_exist_is_refused_naming_the_field(
    api: Api, seeded: Services, kind: str, role: Role
) -> None:
    k = KINDS[kind]
    client = api.client("dewi.lestari", role)
    position = head(seeded)

    refused = client.post(k.path, json={**k.body, "organisation": "no-such-org"})

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "invalid-input"
    assert [e["loc"] for e in problem["errors"]] == [["body", "organisation"]]
    assert head(seeded) == position
    # every one of the nine is a record's organisation
    for organisation in sorted(ORGANISATION_CODES):
        created = made(client.post(k.path, json={**k.body, "organisation": organisation}))
        assert created["organisation"] == organisation


def test_the_openapi_document_lists_the_organisations(openapi_document: dict[str, Any]) -> None:
    schema = openapi_document
    log = schema["components"]["schemas"]["LogIncident"]["properties"]["organisation"]
    text = str(log)
    assert all(code in text for code in ORGANISATION_CODES)


# -- cancel as a duplicate ----------------------------------------------------------------------


def cancel_as_duplicate(client: httpx.Client, ref: str, original: str) -> httpx.Response:
    body: dict[str, Any] = {"reason": "duplicate", "duplicate_of": original}
    return client.post(f"{INCIDENT.path}/{ref}/cancel", json=body)


@pytest.mark.usefixtures("directory")
def test_a_duplicate_of_an_incident_that_does_not_exist_or_is_out_of_reach_is_refused(
    api: Api,
) -> None:
    serang = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    theirs = made(serang.post(INCIDENT.path, json=INCIDENT.body))
    mine = made(lebak.post(INCIDENT.path, json=INCIDENT.body))
    position = head(api.services)

    missing = cancel_as_duplicate(lebak, mine["ref"], str(uuid4()))
    hidden = cancel_as_duplicate(lebak, mine["ref"], theirs["id"])
    itself = cancel_as_duplicate(lebak, mine["ref"], mine["id"])

    assert missing.status_code == hidden.status_code == 422, (missing.text, hidden.text)
    assert missing.json()["code"] == hidden.json()["code"] == "duplicate-not-found"
    assert hidden.json()["detail"] == missing.json()["detail"].replace(
        missing.json()["detail"].rsplit(" ", 1)[-1], theirs["id"]
    )
    assert itself.status_code == 422, itself.text
    assert itself.json()["code"] == "duplicate-of-itself"
    assert head(api.services) == position  # nothing was recorded
    assert lebak.get(f"{INCIDENT.path}/{mine['ref']}").json()["state"] != "cancelled"


def test_a_duplicate_of_another_kind_of_record_is_refused(api: Api, seeded: Services) -> None:
    agent = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    problem = made(agent.post("/api/v1/problems", json={"title": "Kiosks drop RFID readers"}))
    incident = made(agent.post(INCIDENT.path, json=INCIDENT.body))

    refused = cancel_as_duplicate(agent, incident["ref"], problem["id"])

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "duplicate-not-found"


@pytest.mark.usefixtures("directory")
def test_a_duplicate_of_an_incident_in_reach_is_cancelled(api: Api) -> None:
    agent = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    original = made(agent.post(INCIDENT.path, json=INCIDENT.body))
    duplicate = made(agent.post(INCIDENT.path, json=INCIDENT.body))

    cancelled = cancel_as_duplicate(agent, duplicate["ref"], original["id"])

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"


def test_a_duplicate_named_in_a_group_committed_batch_is_checked_too(
    services: Services,
) -> None:
    incident = services.desk.log_incident(context(), log_command()).record_id
    cancel = c.CancelIncident(reason="duplicate", duplicate_of=uuid4())

    results = services.desk.execute_batch(
        [
            Submission(context(), c.AddWorkNote(text="seen"), ref=str(incident)),
            Submission(context(), cancel, ref=str(incident)),
        ]
    )

    assert isinstance(results[1], DuplicateNotFound)
    assert services.desk.incident(incident).state == "logged"
