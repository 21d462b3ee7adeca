"""The directory on the one pipeline, on SQLite and PostgreSQL: people by actor id, groups and
broadcast lists by code; members, managers and the on-call must be registered and active; the
views answer the notifier's and the mail reader's questions and rebuild equal to the live ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from application.kinds import BROADCAST_LIST, GROUP, PERSON, Kind
from application.pipeline import Submission
from application.seed import seed
from domain.actors import Actor, Role
from domain.directory import (
    CAB_GROUP,
    MAJOR_INCIDENT_LIST,
    AddGroupMember,
    AddListMember,
    AppointGroupManager,
    ChooseMutes,
    CreateBroadcastList,
    DeactivatePerson,
    FormGroup,
    GroupNotFound,
    PersonInactive,
    PersonNotFound,
    RegisterPerson,
    SetOnCallRota,
    UpdatePerson,
    on_call,
)
from domain.errors import NothingChanged
from projections import directory as views
from service.bootstrap import Services
from tests.conftest import context
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live

ADMIN = Actor(id="admin.dpk", role=Role.ADMIN)


def run(services: Services, command: Any, kind: Kind, ref: str | None = None) -> None:
    outcome = services.desk.execute(Submission(context(ADMIN), command, kind, ref=ref))
    assert outcome.position is not None
    assert services.runner.wait_for(outcome.position, 10)


def register(services: Services, actor_id: str, **fields: Any) -> None:
    name = actor_id.replace(".", " ").title()
    run(services, RegisterPerson(actor_id=actor_id, name=name, **fields), PERSON)


def test_a_group_is_formed_of_registered_people_and_found_by_code(services: Services) -> None:
    register(services, "siti.rahma", email="Siti.Rahma@DPK.example", roles=["agent"])
    register(services, "andi.wijaya", email="andi@dpk.example", language="en")
    run(
        services,
        FormGroup(
            code="tim-kiosk",
            name="Tim Kiosk",
            manager="andi.wijaya",
            members=["siti.rahma"],
            hours="office",
        ),
        GROUP,
    )
    group = views.group(services.views, "tim-kiosk")
    assert group is not None
    assert (group["members"], group["manager"], group["hours"]) == (
        ["siti.rahma"],
        "andi.wijaya",
        "office",
    )
    # an address is one person whatever its case
    found = views.person_by_email(services.views, "SITI.rahma@dpk.example")
    assert found is not None
    assert (found["actor_id"], found["email"], found["roles"]) == (
        "siti.rahma",
        "siti.rahma@dpk.example",
        ["agent"],
    )
    andi = views.person(services.views, "andi.wijaya")
    assert andi is not None
    assert andi["language"] == "en"
    assert views.groups_of(services.views, "siti.rahma") == ["tim-kiosk"]
    assert_rebuild_equals_live(services, (views.directory_people, views.directory_groups))


def test_only_registered_active_people_join_manage_or_go_on_call(services: Services) -> None:
    register(services, "siti.rahma")
    with pytest.raises(PersonNotFound, match="no person rudi in the directory"):
        run(services, FormGroup(code="tim-wifi", name="Wi-Fi", members=["rudi"]), GROUP)
    run(services, FormGroup(code="tim-wifi", name="Wi-Fi"), GROUP)
    with pytest.raises(PersonNotFound):
        run(services, AppointGroupManager(manager="rudi"), GROUP, "tim-wifi")
    run(services, DeactivatePerson(reason="moved"), PERSON, "siti.rahma")
    with pytest.raises(PersonInactive, match=r"siti\.rahma is deactivated"):
        run(services, AddGroupMember(member="siti.rahma"), GROUP, "tim-wifi")
    shift = {
        "person": "siti.rahma",
        "starts": datetime(2026, 12, 5, 9, tzinfo=UTC),
        "ends": datetime(2026, 12, 5, 17, tzinfo=UTC),
    }
    with pytest.raises(PersonInactive):
        run(services, SetOnCallRota(shifts=[shift]), GROUP, "tim-wifi")
    with pytest.raises(GroupNotFound):
        run(services, AddGroupMember(member="siti.rahma"), GROUP, "tim-ghost")
    group = views.group(services.views, "tim-wifi")
    assert group is not None
    assert group["members"] == []  # nothing refused was written


def test_an_update_records_only_what_changed(services: Services) -> None:
    register(services, "budi.santoso", email="budi@perpus.example", phone="+62 811 111 111")
    with pytest.raises(NothingChanged):
        run(services, UpdatePerson(email="budi@perpus.example"), PERSON, "budi.santoso")
    run(services, UpdatePerson(phone="", language="en"), PERSON, "budi.santoso")
    events = list(services.desk.events.get(views.d.person_id("budi.santoso")))
    assert [e.type_name for e in events] == [
        "Person.Registered",
        "Person.ContactChanged",
        "Person.LanguageChosen",
    ]
    row = views.person(services.views, "budi.santoso")
    assert row is not None
    assert (row["email"], row["phone"], row["language"]) == ("budi@perpus.example", None, "en")
    run(services, ChooseMutes(topics=["incident.commented"]), PERSON, "budi.santoso")
    row = views.person(services.views, "budi.santoso")
    assert row is not None
    assert row["muted"] == ["incident.commented"]


def test_an_on_call_rota_names_one_person_at_a_time(services: Services) -> None:
    register(services, "siti.rahma")
    register(services, "andi.wijaya")
    run(services, FormGroup(code="tim-jaringan", name="Jaringan"), GROUP)
    day = datetime(2026, 12, 5, tzinfo=UTC)
    shifts = [
        {"person": "siti.rahma", "starts": day.replace(hour=9), "ends": day.replace(hour=17)},
        {"person": "andi.wijaya", "starts": day.replace(hour=17), "ends": day.replace(hour=23)},
    ]
    run(services, SetOnCallRota(shifts=shifts), GROUP, "tim-jaringan")
    group = views.group(services.views, "tim-jaringan")
    assert group is not None
    assert on_call(group["on_call"], day.replace(hour=16, minute=59)) == "siti.rahma"
    assert on_call(group["on_call"], day.replace(hour=17)) == "andi.wijaya"
    assert on_call(group["on_call"], day.replace(hour=23)) is None
    with pytest.raises(ValueError, match="overlap"):
        SetOnCallRota(shifts=[shifts[0], {**shifts[1], "starts": day.replace(hour=16)}])


def test_a_broadcast_list_holds_registered_people(services: Services) -> None:
    register(services, "andi.wijaya")
    run(services, CreateBroadcastList(code="major-incident", name="Insiden mayor"), BROADCAST_LIST)
    run(services, AddListMember(member="andi.wijaya"), BROADCAST_LIST, "major-incident")
    listed = views.broadcast_list(services.views, "major-incident")
    assert listed is not None
    assert listed["members"] == ["andi.wijaya"]
    with pytest.raises(NothingChanged):
        run(services, AddListMember(member="andi.wijaya"), BROADCAST_LIST, "major-incident")


def test_the_seed_registers_its_directory_once(services: Services) -> None:
    created, skipped = seed(services.desk)
    assert created > 0
    assert skipped == 0
    assert seed(services.desk) == (0, created)  # again: everything is already there
    services.runner.catch_up()
    kiosk = views.group(services.views, "kiosk-team")
    cab = views.group(services.views, CAB_GROUP)
    listed = views.broadcast_list(services.views, MAJOR_INCIDENT_LIST)
    siti = views.person(services.views, "siti.rahma")
    assert kiosk is not None
    assert cab is not None
    assert listed is not None
    assert siti is not None
    assert "siti.rahma" in kiosk["members"]
    assert cab["manager"] in cab["members"]
    assert listed["members"]
    assert (siti["source"], siti["email"]) == ("seed", "siti.rahma@dpk-banten.example")
