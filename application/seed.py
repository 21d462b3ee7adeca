"""The seed catalogue (`itsm seed`): the organisations, services and configuration items of the
Banten provincial library office, its standard change templates (docs/configuration-items.md),
its service catalogue (docs/service-requests.md) and its directory (docs/directory.md: example
people, the groups the catalogue and the circulation rules assign work to, the change advisory
board and the major-incident broadcast list), the last three as data in seed_catalogue.json.
Loading it twice changes nothing: what is already there is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from uuid import uuid4

import orjson

from application.desk import ServiceDesk
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.change_commands import DefineChangeTemplate, RegisterConfigurationItem
from domain.configuration_item import CiType
from domain.context import Context
from domain.directory import CreateBroadcastList, FormGroup, RecordPerson
from domain.errors import RecordAlreadyExists
from domain.organisations import ORGANISATIONS, PROVINCE
from domain.request_commands import DefineCatalogueItem
from domain.supplier import RegisterSupplier
from infra.clock import utcnow

Seeded = (
    RegisterConfigurationItem
    | DefineChangeTemplate
    | DefineCatalogueItem
    | RecordPerson
    | FormGroup
    | CreateBroadcastList
    | RegisterSupplier
)

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
        Item(
            "app-inlislite",
            "INLISLite v3",
            CiType.APPLICATION,
            "inlislite-slims",
            ("db-inlislite",),
        ),
        Item("svc-inlislite", "INLISLite", CiType.SERVICE, "inlislite-slims", ("app-inlislite",)),
        # Batupusaka, the provincial union catalogue with online renewal, and the OPAC
        Item("srv-opac-01", "OPAC server", CiType.SERVER, None, ("dc-serang-network",)),
        Item(
            "app-union-catalogue",
            "Batupusaka: union catalogue and online renewal",
            CiType.APPLICATION,
            "batupusaka",
            ("srv-opac-01", "app-inlislite"),
        ),
        Item(
            "svc-batupusaka",
            "Batupusaka",
            CiType.SERVICE,
            "batupusaka",
            ("app-union-catalogue",),
        ),
        Item(
            "svc-opac",
            "Catalogue search (OPAC)",
            CiType.SERVICE,
            "catalogue-search",
            ("srv-opac-01", "app-inlislite"),
        ),
        # the i-Banten e-book app
        Item("srv-ebook-01", "e-book content server", CiType.SERVER, None, ("dc-serang-network",)),
        Item(
            "app-ibanten",
            "i-Banten e-book app",
            CiType.MOBILE_APP,
            "i-banten",
            ("srv-ebook-01",),
        ),
        Item(
            "svc-ibanten",
            "i-Banten e-book app",
            CiType.SERVICE,
            "i-banten",
            ("app-ibanten",),
        ),
        # self-check kiosks and RFID gates at the provincial library (they speak SIP2 to INLISLite)
        Item(
            "kiosk-dpk-01",
            "Self-check kiosk 1, ground floor",
            CiType.KIOSK,
            "kiosks-gates",
            ("app-inlislite", "dc-serang-network"),
        ),
        Item(
            "kiosk-dpk-02",
            "Self-check kiosk 2, children's room",
            CiType.KIOSK,
            "kiosks-gates",
            ("app-inlislite", "dc-serang-network"),
        ),
        Item(
            "svc-self-check",
            "Self-check kiosks",
            CiType.SERVICE,
            "kiosks-gates",
            ("kiosk-dpk-01", "kiosk-dpk-02"),
        ),
        Item(
            "gate-dpk-main",
            "RFID gate, main entrance",
            CiType.RFID_GATE,
            "kiosks-gates",
            ("app-inlislite", "dc-serang-network"),
        ),
        Item(
            "svc-rfid-gates",
            "RFID security gates",
            CiType.SERVICE,
            "kiosks-gates",
            ("gate-dpk-main",),
        ),
        # membership card printing
        Item(
            "ws-membership-dpk",
            "Membership desk workstation",
            CiType.WORKSTATION,
            "membership-cards",
            ("app-inlislite",),
        ),
        Item(
            "printer-card-dpk",
            "Membership card printer",
            CiType.PRINTER,
            "membership-cards",
            ("ws-membership-dpk",),
        ),
        Item(
            "svc-card-printing",
            "Membership card printing",
            CiType.SERVICE,
            "membership-cards",
            ("printer-card-dpk",),
        ),
        # public Wi-Fi
        Item("wifi-dpk", "Public Wi-Fi access points", CiType.NETWORK, "public-wifi", (PROVINCE,)),
        Item("svc-public-wifi", "Public Wi-Fi", CiType.SERVICE, "public-wifi", ("wifi-dpk",)),
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
                "inlislite-slims",
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
            "inlislite-slims",
            tuple(slims),
        )
    )
    # the union catalogue harvests the partners' SLiMS catalogues too
    return items


#: The standard change templates and the service catalogue (what library staff and members may
#: request, docs/service-requests.md): data, kept in seed_catalogue.json beside this module.
_DATA = orjson.loads(resources.files("application").joinpath("seed_catalogue.json").read_bytes())
TEMPLATES = tuple(DefineChangeTemplate.model_validate(t) for t in _DATA["change_templates"])
CATALOGUE_ITEMS = tuple(DefineCatalogueItem.model_validate(c) for c in _DATA["catalogue_items"])
#: The suppliers the office contracts: the e-book vendor, the network provider, the kiosk
#: maintainer, and the province's data centre under an OLA (docs/suppliers.md).
SUPPLIERS = tuple(RegisterSupplier.model_validate(s) for s in _DATA["suppliers"])
#: The directory: people first, then the groups and the list made of them.
_DIRECTORY = _DATA["directory"]
PEOPLE = tuple(RecordPerson.model_validate({**p, "source": "seed"}) for p in _DIRECTORY["people"])
GROUPS = tuple(FormGroup.model_validate(g) for g in _DIRECTORY["groups"])
BROADCAST_LISTS = tuple(
    CreateBroadcastList.model_validate(b) for b in _DIRECTORY["broadcast_lists"]
)
DIRECTORY: tuple[RecordPerson | FormGroup | CreateBroadcastList, ...] = (
    *PEOPLE,
    *GROUPS,
    *BROADCAST_LISTS,
)


def seed(desk: ServiceDesk) -> tuple[int, int]:
    """Load the catalogue; (records created, records already there). The directory comes first:
    a catalogue item's fulfilment group must be one it holds."""
    created = skipped = 0
    for entry in DIRECTORY:
        created, skipped = _tally(desk, entry, (created, skipped))
    for item in catalogue():
        # an Item has the command's fields by the same names (its status is left to the default)
        command = RegisterConfigurationItem.model_validate(item, from_attributes=True)
        created, skipped = _tally(desk, command, (created, skipped))
    for template in TEMPLATES:
        created, skipped = _tally(desk, template, (created, skipped))
    for catalogue_item in CATALOGUE_ITEMS:
        created, skipped = _tally(desk, catalogue_item, (created, skipped))
    for supplier in SUPPLIERS:
        created, skipped = _tally(desk, supplier, (created, skipped))
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
