"""The seed catalogue (`itsm seed`): the organisations, services and configuration items of the
Banten provincial library office, its standard change templates (docs/configuration-items.md)
and its service catalogue (docs/service-requests.md). Loading it twice changes nothing: what
is already there is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

from application.desk import ServiceDesk
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.change_commands import DefineChangeTemplate, RegisterConfigurationItem
from domain.configuration_item import CiType
from domain.context import Context
from domain.errors import RecordAlreadyExists
from domain.organisations import ORGANISATIONS, PROVINCE
from domain.request_commands import DefineCatalogueItem
from infra.clock import utcnow

Seeded = RegisterConfigurationItem | DefineChangeTemplate | DefineCatalogueItem

SEEDER = Actor(id="itsm-seed", role=Role.ADMIN)

#: SLiMS runs at these partner libraries (the others use INLISLite through the province).
SLIMS_PARTNERS = ("perpus-kab-lebak", "perpus-kota-cilegon", "perpus-kota-tangsel")


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    ci_type: CiType
    service: str | None
    depends_on: tuple[str, ...] = ()
    owner: str = PROVINCE
    location: str | None = "KP3B, Kota Serang"


def catalogue() -> list[Item]:
    """Every configuration item of the seed, each after the items it depends on."""
    items = [
        Item(code, name, CiType.SITE, None, (), code, place) for code, name, place in ORGANISATIONS
    ]
    items += [
        Item("dc-serang-network", "Data centre network, KP3B", CiType.NETWORK, None, (PROVINCE,)),
        # INLISLite: the province's library system (circulation, membership, cataloguing)
        Item("srv-inlislite-01", "INLISLite server", CiType.SERVER, None, ("dc-serang-network",)),
        Item(
            "db-inlislite",
            "INLISLite database (MySQL)",
            CiType.DATABASE,
            None,
            ("srv-inlislite-01",),
        ),
        Item("app-inlislite", "INLISLite v3", CiType.APPLICATION, "INLISLite", ("db-inlislite",)),
        Item("svc-inlislite", "INLISLite", CiType.SERVICE, "INLISLite", ("app-inlislite",)),
        # OPAC and the provincial union catalogue, with online renewal
        Item("srv-opac-01", "OPAC server", CiType.SERVER, None, ("dc-serang-network",)),
        Item(
            "app-union-catalogue",
            "Union catalogue and OPAC (online renewal)",
            CiType.APPLICATION,
            "OPAC and union catalogue",
            ("srv-opac-01", "app-inlislite"),
        ),
        Item(
            "svc-opac",
            "OPAC and union catalogue with online renewal",
            CiType.SERVICE,
            "OPAC and union catalogue",
            ("app-union-catalogue",),
        ),
        # the i-Banten e-book app
        Item("srv-ebook-01", "e-book content server", CiType.SERVER, None, ("dc-serang-network",)),
        Item(
            "app-ibanten",
            "i-Banten e-book app",
            CiType.MOBILE_APP,
            "i-Banten e-book app",
            ("srv-ebook-01",),
        ),
        Item(
            "svc-ibanten",
            "i-Banten e-book app",
            CiType.SERVICE,
            "i-Banten e-book app",
            ("app-ibanten",),
        ),
        # self-check kiosks and RFID gates at the provincial library (they speak SIP2 to INLISLite)
        Item(
            "kiosk-dpk-01",
            "Self-check kiosk 1, ground floor",
            CiType.KIOSK,
            "Self-check kiosks",
            ("app-inlislite", "dc-serang-network"),
        ),
        Item(
            "kiosk-dpk-02",
            "Self-check kiosk 2, children's room",
            CiType.KIOSK,
            "Self-check kiosks",
            ("app-inlislite", "dc-serang-network"),
        ),
        Item(
            "svc-self-check",
            "Self-check kiosks",
            CiType.SERVICE,
            "Self-check kiosks",
            ("kiosk-dpk-01", "kiosk-dpk-02"),
        ),
        Item(
            "gate-dpk-main",
            "RFID gate, main entrance",
            CiType.RFID_GATE,
            "RFID gates",
            ("app-inlislite", "dc-serang-network"),
        ),
        Item(
            "svc-rfid-gates",
            "RFID security gates",
            CiType.SERVICE,
            "RFID gates",
            ("gate-dpk-main",),
        ),
        # membership card printing
        Item(
            "ws-membership-dpk",
            "Membership desk workstation",
            CiType.WORKSTATION,
            "Membership card printing",
            ("app-inlislite",),
        ),
        Item(
            "printer-card-dpk",
            "Membership card printer",
            CiType.PRINTER,
            "Membership card printing",
            ("ws-membership-dpk",),
        ),
        Item(
            "svc-card-printing",
            "Membership card printing",
            CiType.SERVICE,
            "Membership card printing",
            ("printer-card-dpk",),
        ),
        # public Wi-Fi
        Item("wifi-dpk", "Public Wi-Fi access points", CiType.NETWORK, "Public Wi-Fi", (PROVINCE,)),
        Item("svc-public-wifi", "Public Wi-Fi", CiType.SERVICE, "Public Wi-Fi", ("wifi-dpk",)),
    ]
    slims = []
    for partner in SLIMS_PARTNERS:
        place = next(p for c, _, p in ORGANISATIONS if c == partner)
        code = "app-slims-" + partner.removeprefix("perpus-")
        slims.append(code)
        items.append(
            Item(
                code,
                f"SLiMS at {partner}",
                CiType.APPLICATION,
                "SLiMS at partner libraries",
                (partner,),
                partner,
                place,
            )
        )
    items.append(
        Item(
            "svc-slims",
            "SLiMS at partner libraries",
            CiType.SERVICE,
            "SLiMS at partner libraries",
            tuple(slims),
        )
    )
    # the union catalogue harvests the partners' SLiMS catalogues too
    return items


TEMPLATES = (
    DefineChangeTemplate(
        code="kiosk-receipt-printer-swap",
        title="Swap a self-check kiosk's receipt printer",
        description="Replace a faulty thermal receipt printer with a tested spare.",
        services=["Self-check kiosks"],
        configuration_items=["kiosk-dpk-01", "kiosk-dpk-02"],
        backout_plan="Refit the old printer and print a test receipt.",
    ),
    DefineChangeTemplate(
        code="inlislite-holiday-calendar",
        title="Update the INLISLite holiday calendar",
        description="Enter the year's national holidays and cuti bersama, so due dates skip them.",
        services=["INLISLite"],
        configuration_items=["app-inlislite"],
        backout_plan="Restore the previous calendar table from the export taken before.",
    ),
)


#: The service catalogue: what library staff and members may request (docs/service-requests.md).
CATALOGUE_ITEMS = (
    DefineCatalogueItem(
        code="member-data-correction",
        title="Correct a member's data",
        description="Fix a member's name, address, NIK or category in INLISLite.",
        service="INLISLite",
        priority=4,
        fulfilment_group="layanan-keanggotaan",
        steps=["Check the member's KTP or student card", "Correct the record in INLISLite"],
    ),
    DefineCatalogueItem(
        code="card-reprint",
        title="Reprint a membership card",
        description="A lost or damaged membership card, reprinted with the same member number.",
        service="Membership card printing",
        priority=4,
        fulfilment_group="layanan-keanggotaan",
        steps=["Mark the old card as lost in INLISLite", "Print and hand over the new card"],
    ),
    DefineCatalogueItem(
        code="member-card",
        title="Print a membership card",
        description="A new, reprinted or renewed card a member asked for at a branch or in the"
        " app; raised by the circulation integration (rule member-card, docs/circulation.md).",
        service="Membership card printing",
        priority=4,
        fulfilment_group="layanan-keanggotaan",
        steps=["Check the member's record in INLISLite", "Print the card and hand it over"],
    ),
    DefineCatalogueItem(
        code="staff-account",
        title="Create a staff account",
        description="An INLISLite account for new library staff, with the roles of their post.",
        service="INLISLite",
        priority=3,
        approval_required=True,
        approver_role=Role.SERVICE_MANAGER,
        fulfilment_group="tim-inlislite",
        steps=[
            "Create the account with the roles of the post",
            "Send the first password through the staff member's head of section",
        ],
    ),
    DefineCatalogueItem(
        code="fine-waiver",
        title="Waive a member's overdue fine",
        description="Waive a fine, e.g. for a member hit by flooding or illness.",
        service="INLISLite",
        priority=4,
        approval_required=True,
        approvers=["kepala.layanan", "kepala.bidang"],
        approvals_needed=1,
        fulfilment_group="layanan-sirkulasi",
        steps=["Record the waiver and its reason in INLISLite"],
    ),
    DefineCatalogueItem(
        code="inlislite-school-install",
        title="Install INLISLite for a school library",
        description="INLISLite installed and configured for a school library in Banten, with a"
        " day of training for its librarian.",
        service="INLISLite",
        priority=4,
        approval_required=True,
        approvers=["kepala.bidang", "kepala.dinas"],
        approvals_needed=2,
        fulfilment_group="tim-inlislite",
        steps=[
            "Agree a date with the school",
            "Install INLISLite on the school's computer",
            "Import the school's collection list",
            "Train the school librarian",
        ],
    ),
    DefineCatalogueItem(
        code="holiday-calendar-update",
        title="Update the holiday calendar",
        description="Add national holidays and cuti bersama so that due dates skip them.",
        service="INLISLite",
        priority=3,
        approval_required=True,
        approver_role=Role.SERVICE_MANAGER,
        fulfilment_group="tim-inlislite",
        steps=[
            "Raise the standard change inlislite-holiday-calendar",
            "Check due dates over the holidays",
        ],
    ),
)


def seed(desk: ServiceDesk) -> tuple[int, int]:
    """Load the catalogue; (records created, records already there)."""
    created = skipped = 0
    for item in catalogue():
        # an Item has the command's fields by the same names (its status is left to the default)
        command = RegisterConfigurationItem.model_validate(item, from_attributes=True)
        created, skipped = _tally(desk, command, (created, skipped))
    for template in TEMPLATES:
        created, skipped = _tally(desk, template, (created, skipped))
    for catalogue_item in CATALOGUE_ITEMS:
        created, skipped = _tally(desk, catalogue_item, (created, skipped))
    return created, skipped


def _tally(
    desk: ServiceDesk,
    command: Seeded,
    counts: tuple[int, int],
) -> tuple[int, int]:
    here = Context(actor=SEEDER, at=utcnow(), correlation_id=uuid4())
    try:
        desk.execute(Submission(here, command, operation="seed"))
    except RecordAlreadyExists:
        return counts[0], counts[1] + 1
    return counts[0] + 1, counts[1]
