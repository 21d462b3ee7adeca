"""The service catalogue's rules, Given/When/Then: a revision says why, may rename, add and retire
but never remove (so every code a record names keeps its name in every later version), and a new
record may name only what the version in force holds and has not retired."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidRule
from domain.service_catalogue import (
    Category,
    Classification,
    Names,
    Service,
    ServiceCatalogue,
    Services,
    Subcategory,
    UnknownService,
    shipped_services,
)
from tests.conftest import MANAGER, context


def catalogue(services: Services | None = None) -> ServiceCatalogue:
    return ServiceCatalogue.define(context(MANAGER), services or shipped_services())


def names(text: str) -> Names:
    return Names(id=text, en=text)


def retire_category(services: Services, service: str, category: str) -> Services:
    return [
        s
        if s.code != service
        else s.model_copy(
            update={
                "categories": [
                    c.model_copy(update={"retired": True}) if c.code == category else c
                    for c in s.categories
                ]
            }
        )
        for s in services
    ]


def test_the_shipped_catalogue_holds_the_provinces_systems_as_the_office_names_them() -> None:
    held = {s.code: s.name for s in shipped_services()}
    assert held["batupusaka"].id == "Batupusaka"
    assert held["i-banten"].id == "i-Banten"
    assert held["kiosks-gates"].en == "Self-check kiosks and RFID gates"
    assert {
        "batupusaka",
        "i-banten",
        "membership-cards",
        "circulation",
        "catalogue-search",
        "inlislite-slims",
        "kiosks-gates",
        "public-wifi",
    } <= set(held)


def test_a_record_names_a_service_category_and_subcategory_the_catalogue_holds() -> None:
    held = catalogue()
    assert held.classified("kiosks-gates", "kiosk", "offline") == Classification(
        service="kiosks-gates", category="kiosk", subcategory="offline"
    )
    assert held.classified("public-wifi") == Classification(service="public-wifi")


@pytest.mark.parametrize(
    ("service", "category", "subcategory", "says"),
    [
        ("sefl-check-kiosk", None, None, "no service 'sefl-check-kiosk'"),
        ("kiosks-gates", "printer", None, "has no category 'printer'"),
        ("kiosks-gates", "kiosk", "jammed", "has no subcategory 'jammed'"),
        ("kiosks-gates", None, "offline", "only with its category"),
        # a subcategory of another category of the same service
        ("kiosks-gates", "gate", "offline", "has no subcategory 'offline'"),
    ],
)
def test_anything_else_is_refused_saying_what(
    service: str, category: str | None, subcategory: str | None, says: str
) -> None:
    with pytest.raises(UnknownService, match=says):
        catalogue().classified(service, category, subcategory)


def test_given_a_retired_category_when_a_record_names_it_then_it_is_refused() -> None:
    held = catalogue()
    held.revise(
        context(MANAGER),
        retire_category(held.services, "kiosks-gates", "gate"),
        "the gates are replaced by the kiosks' own readers",
    )
    assert held.version == 2
    with pytest.raises(UnknownService, match="has no category 'gate'"):
        held.classified("kiosks-gates", "gate")
    assert held.classified("kiosks-gates", "kiosk").category == "kiosk"


def test_a_revision_may_not_remove_what_records_may_name() -> None:
    held = catalogue()
    without_wifi = [s for s in held.services if s.code != "public-wifi"]
    with pytest.raises(InvalidRule, match="service 'public-wifi' cannot be removed, only retired"):
        held.revise(context(MANAGER), without_wifi, "no more Wi-Fi")
    kiosks = held.service("kiosks-gates")
    assert kiosks is not None
    fewer = kiosks.model_copy(update={"categories": kiosks.categories[:1]})
    with pytest.raises(InvalidRule, match="category kiosks-gates/gate cannot be removed"):
        held.revise(
            context(MANAGER),
            [fewer if s.code == "kiosks-gates" else s for s in held.services],
            "gates out",
        )
    assert held.version == 1  # nothing recorded


def test_a_revision_that_changes_nothing_or_repeats_a_code_is_refused() -> None:
    held = catalogue()
    with pytest.raises(InvalidRule, match="same as the current one"):
        held.revise(context(MANAGER), held.services, "again")
    twice = [*held.services, held.services[0]]
    with pytest.raises(InvalidRule, match="names 'batupusaka' twice"):
        held.revise(context(MANAGER), twice, "twice")


codes = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@st.composite
def revisions(draw: st.DrawFn, before: Services) -> Services:
    """A revision that keeps every code: renames, retirements and additions at each level."""
    after: Services = []
    for service in before:
        categories = []
        for category in service.categories:
            subs = [
                s.model_copy(update={"retired": draw(st.booleans())})
                for s in category.subcategories
            ]
            extra = draw(st.lists(codes, max_size=2, unique=True))
            subs += [
                Subcategory(code=c, name=names(c)) for c in extra if c not in {s.code for s in subs}
            ]
            categories.append(
                category.model_copy(update={"subcategories": subs, "retired": draw(st.booleans())})
            )
        name = draw(st.sampled_from([service.name, names(service.code.upper())]))
        after.append(service.model_copy(update={"categories": categories, "name": name}))
    added = draw(st.lists(codes, max_size=2, unique=True))
    after += [
        Service(code=c, name=names(c), categories=[Category(code="other", name=names("other"))])
        for c in added
        if c not in {s.code for s in after}
    ]
    return after


@given(st.data())
def test_every_code_ever_held_keeps_a_name_in_every_later_version(data: st.DataObject) -> None:
    held = catalogue()
    ever: set[tuple[str, str, str | None]] = set()
    for _ in range(3):
        for s in held.services:
            for c in s.categories:
                ever.add((s.code, c.code, None))
                ever |= {(s.code, c.code, sub.code) for sub in c.subcategories}
        revised = data.draw(revisions(held.services))
        if revised == held.services:
            continue
        held.revise(context(MANAGER), revised, "a revision that keeps every code")
    for service, category, subcategory in ever:
        found = held.service(service)
        assert found is not None
        kept = found.category(category)
        assert kept is not None
        if subcategory is not None:
            assert subcategory in {s.code for s in kept.subcategories}
