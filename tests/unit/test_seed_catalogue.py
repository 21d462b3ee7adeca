"""The seed's templates and catalogue items are data (application/seed_catalogue.json), read
through the commands that define them: each a valid command, each code once, and the item the
circulation integration raises is among them."""

from __future__ import annotations

from application.seed import BROADCAST_LISTS, CATALOGUE_ITEMS, GROUPS, PEOPLE, TEMPLATES
from domain.actors import Role
from domain.circulation import CorrelationRules
from domain.directory import CAB_GROUP, MAJOR_INCIDENT_LIST
from domain.request_commands import DefineCatalogueItem


def test_the_seed_data_reads_as_valid_commands_each_code_once() -> None:
    codes = [item.code for item in CATALOGUE_ITEMS]
    templates = [template.code for template in TEMPLATES]

    assert len(codes) == len(set(codes)) == 7
    assert templates == ["kiosk-receipt-printer-swap", "inlislite-holiday-calendar"]
    assert "member-card" in codes  # docs/circulation.md: the rule member-card raises it


def test_only_what_an_item_says_is_set_so_the_rest_keeps_the_commands_defaults() -> None:
    staff = next(item for item in CATALOGUE_ITEMS if item.code == "staff-account")

    assert staff.approver_role is Role.SERVICE_MANAGER
    assert staff.model_fields_set == {
        "code",
        "title",
        "description",
        "service",
        "priority",
        "approval_required",
        "approver_role",
        "fulfilment_group",
        "steps",
    }
    assert isinstance(staff, DefineCatalogueItem)


def test_the_seed_directory_holds_every_group_the_seed_and_the_circulation_rules_assign_to() -> (
    None
):
    people = {person.actor_id for person in PEOPLE}
    groups = {group.code: group for group in GROUPS}

    named = {item.fulfilment_group for item in CATALOGUE_ITEMS}
    rules = CorrelationRules()
    named |= {rules.device_offline.assignment_group, rules.failure_rate.assignment_group}
    named |= {"kiosk-team", CAB_GROUP}  # the README's first incident; the CAB the notifier tells
    assert named <= set(groups)
    assert MAJOR_INCIDENT_LIST in {listed.code for listed in BROADCAST_LISTS}
    for group in GROUPS:
        assert group.manager in people
        assert set(group.members) <= people
        assert group.members
    approvers = {a for item in CATALOGUE_ITEMS for a in item.approvers}
    assert approvers <= people
    assert {"siti.rahma", "budi.santoso", "dewi.lestari"} <= people  # the README's and tests'
    addresses = [p.email for p in PEOPLE]
    assert all(a and a.endswith(".example") for a in addresses)
    assert len(set(addresses)) == len(addresses)
