"""The seed's templates and catalogue items are data (application/seed_catalogue.json), read
through the commands that define them: each a valid command, each code once, and the item the
circulation integration raises is among them."""

from __future__ import annotations

from application.seed import CATALOGUE_ITEMS, TEMPLATES
from domain.actors import Role
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
