"""Every request for change is recorded and classified, whoever sent it (ISO/IEC 20000-1
8.5.1.1): what it does to a service (none, add, remove, transfer, modify), where it came from
(a person, a problem, an incident, a release pipeline, a vendor, an upgrade notice), and the
machines' intake, which raises one change per notice however often the notice comes.

Given (records) / When (a command) / Then (the change recorded, or the refusal).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.change import (
    EXTERNAL_REFERENCE_PATTERN,
    MACHINE_SOURCES,
    PEOPLES_SOURCES,
    Change,
    ChangeSource,
    NoticeAlreadyTakenIn,
    Raised,
    ServiceAction,
    intake_id,
)
from domain.change_commands import RaiseChange, TakeInChange
from domain.service_catalogue import ServiceCatalogue, UnknownService, shipped_services
from tests.conftest import context
from tests.fake_session import FakeSession

PIPELINE = Actor(id="gitlab-release", role=Role.INTEGRATION)
AGENT = Actor(id="siti.rahma", role=Role.AGENT)


class ChangeSession(FakeSession):
    """What raising a change asks of a session: ids, the catalogue, records by id."""

    def __init__(self, *records: Any) -> None:
        super().__init__(*records)
        self.catalogue = ServiceCatalogue.define(context(AGENT), shipped_services())

    def new_id(self) -> UUID:
        return uuid4()

    def service_catalogue(self) -> ServiceCatalogue:
        return self.catalogue

    def change_policy(self) -> None:
        return None  # the policy's criteria are tests of their own (test_change_policy_rules)


def notice(**more: Any) -> TakeInChange:
    body = {
        "source": "upgrade-notice",
        "external_reference": "SLiMS-SA-2026-004",
        "kind": "normal",
        "title": "SLiMS 9.6.2 security release",
        "services": ["inlislite-slims"],
        "service_action": "modify",
        "backout_plan": "reinstall 9.6.1",
        **more,
    }
    return TakeInChange.model_validate(body)


def raised_event(session: ChangeSession, change_id: UUID) -> Raised:
    change = session.get(Change, change_id)
    [event] = [e for e in change.collect_events() if isinstance(e, Raised)]
    return event


# -- classification ------------------------------------------------------------------------------


def test_a_transfer_of_a_service_says_where_to_and_only_a_transfer_does() -> None:
    with pytest.raises(ValidationError, match="where to"):
        RaiseChange(kind="normal", title="t", services=["public-wifi"], service_action="transfer")
    with pytest.raises(ValidationError, match="where to"):
        RaiseChange(
            kind="normal",
            title="t",
            services=["public-wifi"],
            service_action="modify",
            transfer_to="Dispusip Kota Serang",
        )


@pytest.mark.parametrize("action", ["add", "remove", "transfer", "modify"])
def test_a_change_to_a_service_names_the_service(action: str) -> None:
    where = {"transfer_to": "Dispusip Lebak"} if action == "transfer" else {}
    with pytest.raises(ValidationError, match="names the service"):
        RaiseChange(kind="normal", title="t", service_action=action, **where)


def test_a_change_raised_by_a_person_records_its_classification_and_source() -> None:
    # Given the catalogue; When a person raises a transfer of the Wi-Fi found by a problem
    session = ChangeSession()
    command = RaiseChange(
        kind="normal",
        title="Hand the Wi-Fi of the regency libraries over to Diskominfo",
        services=["public-wifi"],
        service_action="transfer",
        transfer_to="Diskominfo Provinsi Banten",
        source="problem",
        external_reference="PRB-000012",
    )
    change_id = command.decide(session, context(AGENT))  # type: ignore[arg-type]

    # Then the change records what it does to the service, where it goes, and where it came from
    event = raised_event(session, change_id)
    assert (event.service_action, event.transfer_to) == (
        ServiceAction.TRANSFER,
        "Diskominfo Provinsi Banten",
    )
    assert (event.source, event.external_reference) == (ChangeSource.PROBLEM, "PRB-000012")


def test_a_change_that_adds_a_service_may_name_one_the_catalogue_does_not_hold_yet() -> None:
    session = ChangeSession()
    adds = RaiseChange(
        kind="normal",
        title="Open the e-journal service",
        services=["e-journal"],
        service_action="add",
    )
    change_id = adds.decide(session, context(AGENT))  # type: ignore[arg-type]
    assert raised_event(session, change_id).services == ["e-journal"]

    # any other change names services the catalogue holds
    modifies = adds.model_copy(update={"service_action": ServiceAction.MODIFY})
    with pytest.raises(UnknownService):
        modifies.decide(ChangeSession(), context(AGENT))  # type: ignore[arg-type]


@pytest.mark.parametrize("source", sorted(MACHINE_SOURCES))
def test_a_person_does_not_raise_a_change_as_a_machine(source: ChangeSource) -> None:
    with pytest.raises(ValidationError, match="another route"):
        RaiseChange(kind="normal", title="t", source=source, external_reference="r-1")


@pytest.mark.parametrize("source", sorted(PEOPLES_SOURCES))
def test_the_machines_intake_takes_only_machines_sources(source: ChangeSource) -> None:
    with pytest.raises(ValidationError, match="another route"):
        notice(source=source)
    with pytest.raises(ValidationError, match="external_reference"):
        TakeInChange.model_validate({"source": "vendor", "kind": "normal", "title": "no reference"})


# -- the machines' intake ------------------------------------------------------------------------


def test_an_upgrade_notice_raises_a_change_recording_its_source_and_reference() -> None:
    session = ChangeSession()

    change_id = notice().decide(session, context(PIPELINE))  # type: ignore[arg-type]

    assert change_id == intake_id(ChangeSource.UPGRADE_NOTICE, "SLiMS-SA-2026-004")
    event = raised_event(session, change_id)
    assert (event.source, event.external_reference) == ("upgrade-notice", "SLiMS-SA-2026-004")
    assert (event.requester, event.actor) == (PIPELINE.id, PIPELINE)
    assert event.service_action is ServiceAction.MODIFY


def test_the_same_notice_twice_makes_one_change_and_the_second_answers_the_first() -> None:
    # Given a change a vendor's notice raised
    session = ChangeSession()
    first = notice().decide(session, context(PIPELINE))  # type: ignore[arg-type]
    session.get(Change, first).collect_events()

    # When the same notice comes again (another title, the same source and reference)
    with pytest.raises(NoticeAlreadyTakenIn) as again:
        notice(title="SLiMS 9.6.2 (re-sent)").decide(session, context(PIPELINE))  # type: ignore[arg-type]

    # Then it names the first change (the intake answers with it), records nothing and takes
    # no number
    assert again.value.change_id == first
    assert session.get(Change, first).collect_events() == []
    assert [type(r) for r in session.added] == [Change]
    assert list(session.numbers.values()) == [1]


def test_the_same_reference_from_another_source_is_another_change() -> None:
    session = ChangeSession()
    from_vendor = notice(source="vendor").decide(session, context(PIPELINE))  # type: ignore[arg-type]
    from_pipeline = notice(source="release-pipeline").decide(session, context(PIPELINE))  # type: ignore[arg-type]
    assert from_vendor != from_pipeline


@given(
    source=st.sampled_from(sorted(MACHINE_SOURCES)),
    reference=st.from_regex(EXTERNAL_REFERENCE_PATTERN, fullmatch=True),
    other=st.sampled_from(sorted(MACHINE_SOURCES)),
)
def test_a_notice_names_its_change_by_source_and_reference_alone(
    source: ChangeSource, reference: str, other: ChangeSource
) -> None:
    assert intake_id(source, reference) == intake_id(source, reference)
    assert (intake_id(source, reference) == intake_id(other, reference)) is (source == other)
