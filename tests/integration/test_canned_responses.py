"""Canned responses over real HTTP, on SQLite and PostgreSQL: agents keep them, staff read them,
and one action adds one to an incident as a public comment in the caller's language, its
placeholders filled; the caller reads the words, never the response itself."""

from __future__ import annotations

from typing import Any

import pytest

from api.models import CannedResponseDetails
from application.kinds import PERSON
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.directory import RegisterPerson
from projections.canned_responses import canned_responses
from service.bootstrap import Services
from tests.conftest import context
from tests.integration.conftest import Api
from tests.integration.test_api import new_incident
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live, ok, refused

pytestmark = pytest.mark.usefixtures("directory")

BASE = "/api/v1/canned-responses"
CARD = {
    "code": "kartu-hilang",
    "title": "Kartu anggota hilang",
    "text_id": "Halo {{ caller_name }}, untuk {{ number }} ({{ service }}) silakan datang ke meja"
    " layanan dengan KTP. Salam, {{ agent_name }}",
    "text_en": "Hello {{ caller_name }}, for {{ number }} please come to the desk with your ID."
    " Regards, {{ agent_name }}",
}


def callers(services: Services, **languages: str) -> None:
    """Callers with names and languages in the directory (the usual cast has neither)."""
    admin = context(Actor(id="admin.dpk", role=Role.ADMIN), services.clock())
    for actor_id, language in languages.items():
        command = RegisterPerson(
            actor_id=actor_id, name=actor_id.replace(".", " ").title(), language=language
        )
        services.desk.execute(Submission(admin, command, PERSON))


def comments(client: Any, ref: str) -> list[str]:
    history = ok(client.get(f"/api/v1/incidents/{ref}/history"))
    return [e["data"]["text"] for e in history["events"] if e["type"] == "Incident.CommentAdded"]


def test_an_agent_replies_with_a_canned_response_in_the_callers_language(
    api: Api, services: Services
) -> None:
    callers(services, **{"budi.santoso": "id", "ani.wijaya": "en"})
    agent = api.client("siti.rahma", Role.AGENT)
    created = ok(agent.post(BASE, json=CARD), 201)
    CannedResponseDetails.model_validate(created)
    assert (created["state"], created["created_by"]["id"]) == ("active", "siti.rahma")

    indonesian = new_incident(agent)
    english = new_incident(agent, caller="ani.wijaya")
    for incident in (indonesian, english):
        replied = agent.post(
            f"/api/v1/incidents/{incident['ref']}/reply", json={"response": "kartu-hilang"}
        )
        assert replied.status_code == 200, replied.text

    caller = api.client("budi.santoso", Role.REQUESTER)
    assert comments(caller, indonesian["ref"]) == [
        f"Halo Budi Santoso, untuk {indonesian['ref']} (Kios swalayan dan gerbang RFID) silakan"
        " datang ke meja layanan dengan KTP. Salam, Siti Rahma"
    ]
    (said,) = comments(agent, english["ref"])
    assert said.startswith(f"Hello Ani Wijaya, for {english['ref']} please come")
    # asked for in another language than the caller's
    again = agent.post(
        f"/api/v1/incidents/{english['ref']}/reply",
        json={"response": "kartu-hilang", "language": "id"},
    )
    assert again.status_code == 200, again.text
    assert comments(agent, english["ref"])[-1].startswith("Halo Ani Wijaya")
    # the caller reads the words, never the responses
    refused(caller.get(BASE), 403, "forbidden")
    assert_rebuild_equals_live(services, (canned_responses,))


def test_unknown_or_retired_responses_and_bad_words_are_refused_and_change_nothing(
    api: Api,
) -> None:
    agent = api.client("siti.rahma", Role.AGENT)
    incident = new_incident(agent)
    reply = f"/api/v1/incidents/{incident['ref']}/reply"
    refused(agent.post(reply, json={"response": "tidak-ada"}), 422, "canned-response-not-found")

    bad = agent.post(BASE, json={**CARD, "text_id": "Halo {{ nama_pemanggil }}"})
    assert bad.status_code == 422
    assert "unknown placeholder nama_pemanggil" in bad.text
    assert ok(agent.get(BASE))["items"] == []

    ok(agent.post(BASE, json=CARD), 201)
    revised = ok(
        agent.post(
            f"{BASE}/kartu-hilang/revise",
            json={"title": "Kartu hilang", "text_id": "Bawa KTP ke meja layanan.", "reason": "x"},
        )
    )
    assert (revised["text_id"], revised["text_en"], revised["version"]) == (
        "Bawa KTP ke meja layanan.",
        None,
        2,
    )
    ok(agent.post(f"{BASE}/kartu-hilang/retire", json={"reason": "kartu kini daring"}))
    refused(agent.post(reply, json={"response": "kartu-hilang"}), 409, "illegal-transition")
    assert comments(agent, incident["ref"]) == []
    history = ok(agent.get(f"{BASE}/kartu-hilang/history"))
    assert [e["type"] for e in history["events"]] == [
        "CannedResponse.Created",
        "CannedResponse.Revised",
        "CannedResponse.Retired",
    ]
