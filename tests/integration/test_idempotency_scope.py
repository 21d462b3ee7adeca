"""Idempotency keys belong to the authenticated principal, and a retry answers the first answer.

A key is the principal's (actor, role, organisation and reach, as the token or single sign-on
says): the same actor id in another organisation has keys of its own, a replay is checked against
the caller's reach like any read, a key reused with another request is refused (422), and a retry
answers the record as the first request left it, not as it is now. Every kind of record, through
the API, on both backends.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel

from application.kinds import aggregates
from domain import commands as c
from domain.actors import Actor, Identity, Role
from domain.aggregate import Aggregate
from domain.api_token import ApiToken, TokenTablesImport
from domain.audit_key import AuditKey
from domain.context import Context
from domain.errors import IncidentNotFound, RecordNotFound
from domain.problem_commands import LogProblem
from domain.records import IdempotencyKeyRecorded, fingerprint, idempotency_id, key_recorded
from service.bootstrap import Services
from tests.conftest import T0
from tests.integration.conftest import Api
from tests.integration.test_organisations import INCIDENT, KINDS, LEBAK, SERANG, made, seeded

__all__ = ["seeded"]  # a fixture, used by name

HELPDESK = "helpdesk"  # one shared account name, as both libraries' front desks use it


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def head(services: Services) -> int:
    return services.desk.recorder.max_notification_id() or 0


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_key_from_another_organisation_makes_that_organisations_own_record(
    api: Api, seeded: Services, kind: str
) -> None:
    k = KINDS[kind]
    serang = api.client(HELPDESK, Role.AGENT, organisation=SERANG)
    lebak = api.client(HELPDESK, Role.AGENT, organisation=LEBAK)
    theirs = made(serang.post(k.path, json=k.body, headers=keyed("front-desk-1")))

    mine = lebak.post(k.path, json=k.body, headers=keyed("front-desk-1"))

    assert mine.status_code == 201, mine.text
    assert "Idempotent-Replayed" not in mine.headers
    record = mine.json()
    assert record["id"] != theirs["id"]
    assert record["organisation"] == LEBAK  # Lebak's own record was made
    assert lebak.get(f"{k.path}/{record['ref']}").status_code == 200
    # and each retry finds its own principal's record
    for client, first in ((serang, theirs), (lebak, record)):
        again = client.post(k.path, json=k.body, headers=keyed("front-desk-1"))
        assert again.status_code == 201, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first["id"]


@pytest.mark.usefixtures("directory")
def test_a_key_belongs_to_the_role_too(api: Api) -> None:
    as_agent = api.client(HELPDESK, Role.AGENT, organisation=SERANG)
    as_resolver = api.client(HELPDESK, Role.RESOLVER, organisation=SERANG)
    first = made(as_agent.post(INCIDENT.path, json=INCIDENT.body, headers=keyed("k")))

    second = made(as_resolver.post(INCIDENT.path, json=INCIDENT.body, headers=keyed("k")))

    assert second["id"] != first["id"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_key_reused_with_another_body_is_refused_with_422(
    api: Api, seeded: Services, kind: str
) -> None:
    k = KINDS[kind]
    client = api.client(HELPDESK, Role.AGENT, organisation=SERANG)
    made(client.post(k.path, json=k.body, headers=keyed("k")))
    position = head(seeded)

    reused = client.post(k.path, json={**k.body, "title": "Another one"}, headers=keyed("k"))

    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["code"] == "idempotency-key-reused"
    assert head(seeded) == position


@pytest.mark.parametrize("kind", KINDS)
def test_a_retried_create_answers_the_first_answer_not_the_record_as_it_is_now(
    api: Api, seeded: Services, kind: str
) -> None:
    k = KINDS[kind]
    client = api.client(HELPDESK, Role.AGENT, organisation=SERANG)
    first = made(client.post(k.path, json=k.body, headers=keyed("create-1")))
    acted = client.post(f"{k.path}/{first['ref']}/{k.action}", json=k.action_body)
    assert acted.status_code == 200, acted.text
    assert acted.json()["version"] > first["version"]

    again = client.post(k.path, json=k.body, headers=keyed("create-1"))

    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["ETag"] == f'"{first["version"]}"'
    assert again.json() == first


@pytest.mark.usefixtures("directory")
def test_a_retried_action_answers_the_record_as_that_action_left_it(api: Api) -> None:
    client = api.client(HELPDESK, Role.AGENT, organisation=SERANG)
    incident = made(client.post(INCIDENT.path, json=INCIDENT.body))
    path = f"{INCIDENT.path}/{incident['ref']}"
    note = {"text": "rebooted the kiosk"}
    first = client.post(f"{path}/add-work-note", json=note, headers=keyed("note-1"))
    assert first.status_code == 200, first.text
    client.post(f"{path}/start-work", json={}).raise_for_status()

    again = client.post(f"{path}/add-work-note", json=note, headers=keyed("note-1"))

    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["state"] == "assigned"  # as the note left it, before work started


def test_a_retried_blackout_answers_the_first_answer_after_its_withdrawal(api: Api) -> None:
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    body = {
        "code": "stocktake-2026",
        "title": "Annual stocktake",
        "start": "2026-12-28T00:00:00+07:00",
        "end": "2026-12-31T00:00:00+07:00",
        "reason": "the collection is counted",
    }
    first = manager.post("/api/v1/changes/blackouts", json=body, headers=keyed("b-1"))
    assert first.status_code == 201, first.text
    withdrawn = manager.post(
        "/api/v1/changes/blackouts/stocktake-2026/withdraw", json={"reason": "postponed"}
    )
    assert withdrawn.status_code == 200, withdrawn.text

    again = manager.post("/api/v1/changes/blackouts", json=body, headers=keyed("b-1"))

    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


# -- keys stored before they were scoped to the principal, and replays out of reach ---------------


def scoped(actor: Actor, organisation: str) -> Context:
    return Context(actor, T0, uuid4(), scope=Identity(actor, organisation=organisation))


def log_command() -> c.LogIncident:
    return c.LogIncident.model_validate(INCIDENT.body)


def as_body(command: BaseModel) -> dict[str, Any]:
    return command.model_dump(mode="json")


def record_legacy_key(services: Services, ctx: Context, key: str, record_id: UUID) -> None:
    """A key as the service recorded it before keys were scoped: under the actor's id alone."""
    services.desk.save(
        IdempotencyKeyRecorded(
            originator_id=idempotency_id(ctx.actor.id, key),
            originator_version=1,
            key=key,
            operation="log_incident",
            fingerprint=fingerprint("log_incident", None, as_body(log_command())),
            record_id=record_id,
            **ctx.stamp(),
        )
    )


@pytest.mark.usefixtures("directory")
def test_a_key_stored_before_keys_were_scoped_still_replays_for_its_maker_only(
    services: Services,
) -> None:
    desk = services.desk
    helpdesk = Actor(id=HELPDESK, role=Role.AGENT)
    serang, lebak = scoped(helpdesk, SERANG), scoped(helpdesk, LEBAK)
    first = desk.log_incident(serang, log_command())  # as if logged with the key "old"
    record_legacy_key(services, serang, "old", first.record_id)

    again = desk.log_incident(scoped(helpdesk, SERANG), log_command(), idempotency_key="old")
    other = desk.log_incident(lebak, log_command(), idempotency_key="old")

    assert (again.record_id, again.version, again.replayed) == (
        first.record_id,
        first.version,
        True,
    )
    assert not other.replayed
    assert other.record_id != first.record_id
    assert desk.incident(other.record_id).organisation == LEBAK


@pytest.mark.usefixtures("directory")
def test_a_replay_of_a_record_out_of_the_callers_reach_answers_as_missing(
    services: Services,
) -> None:
    desk = services.desk
    agent = Actor(id=HELPDESK, role=Role.AGENT)
    serang = scoped(agent, SERANG)
    incident = desk.log_incident(serang, log_command()).record_id
    lebak = scoped(agent, LEBAK)
    # A key of Lebak's principal that names Serang's record (as a forged or mistaken entry
    # would): the replay is checked against the caller's reach like any read.
    key_event = key_recorded(lebak, "forged", "log_incident", None, as_body(log_command()))
    desk.save(key_event.model_copy(update={"record_id": incident}))
    note = c.AddWorkNote(text="looked")
    desk.save(key_recorded(lebak, "forged-note", "add-work-note", incident, as_body(note)))

    with pytest.raises(IncidentNotFound):
        desk.log_incident(lebak, log_command(), idempotency_key="forged")
    with pytest.raises(IncidentNotFound):
        desk.handle(lebak, incident, note, idempotency_key="forged-note")


def test_a_records_replay_out_of_the_callers_reach_answers_as_missing(api: Api) -> None:
    services = api.services
    serang = api.client(HELPDESK, Role.AGENT, organisation=SERANG)
    problem = made(serang.post("/api/v1/problems", json={"title": "Kiosks drop readers"}))
    lebak = scoped(Actor(id=HELPDESK, role=Role.AGENT), LEBAK)
    command: dict[str, Any] = {"title": "Kiosks drop readers"}
    body = as_body(LogProblem.model_validate(command))
    key_event = key_recorded(lebak, "forged", "log_problem", None, body)
    services.desk.save(key_event.model_copy(update={"record_id": UUID(problem["id"])}))
    lebak_client = api.client(HELPDESK, Role.AGENT, organisation=LEBAK)

    replay = lebak_client.post("/api/v1/problems", json=command, headers=keyed("forged"))

    assert replay.status_code == 404, replay.text
    assert replay.json()["code"] == RecordNotFound.code


def test_a_replay_finds_a_record_of_every_kind_a_command_answers_with() -> None:
    """The reach check of a replay finds the record by id alone (the registry of kinds): a kind
    missing from application/kinds.py would answer every retry of its commands as missing."""
    assert set(_records(Aggregate)) - NOT_ANSWERED == set(aggregates())


#: Records no API command answers with, so no replay looks for them: the record of audit
#: signing keys is written only by `itsm audit rotate-key`, the records of API tokens only by
#: `itsm tokens` and the service's one import of the old token tables, without idempotency keys.
NOT_ANSWERED = {AuditKey, ApiToken, TokenTablesImport}


def _records(base: type[Aggregate]) -> list[type[Aggregate]]:
    """Every kind of record below a base: the classes that apply events of their own (the bases
    in between, such as LifecycleAggregate, apply none)."""
    found: list[type[Aggregate]] = []
    for cls in base.__subclasses__():
        if cls._appliers:
            found.append(cls)
        found.extend(_records(cls))
    return found
