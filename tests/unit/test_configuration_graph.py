"""Properties of the depends-on graph and of schedule conflicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.change_schedule import Booking, clash
from domain.configuration_item import impact, related
from projections.configuration_items import impact_of
from tests.conftest import T0


@st.composite
def dags(draw: st.DrawFn) -> dict[str, set[str]]:
    """Random DAGs: node i may depend only on nodes before it, so there is no cycle."""
    n = draw(st.integers(1, 12))
    nodes = [f"ci-{i}" for i in range(n)]
    return {
        node: set(draw(st.lists(st.sampled_from(nodes[:i]), unique=True))) if i else set()
        for i, node in enumerate(nodes)
    }


def closure(depends_on: dict[str, set[str]]) -> dict[str, set[str]]:
    """The transitive closure, the slow obvious way (Warshall): reach[a] = all a depends on."""
    reach = {a: set(b) for a, b in depends_on.items()}
    for k in depends_on:
        for i in depends_on:
            if k in reach[i]:
                reach[i] |= reach[k]
    return reach


@given(dags(), st.data())
def test_impact_is_everything_that_depends_on_the_item_transitively(
    depends_on: dict[str, set[str]], data: st.DataObject
) -> None:
    code = data.draw(st.sampled_from(sorted(depends_on)))
    expected = {a for a, deps in closure(depends_on).items() if code in deps}
    assert impact(depends_on, code) == expected


@given(dags(), st.data())
def test_the_impact_view_agrees_with_the_domain_and_orders_by_distance(
    depends_on: dict[str, set[str]], data: st.DataObject
) -> None:
    code = data.draw(st.sampled_from(sorted(depends_on)))
    rows = [
        {
            "code": c,
            "name": c,
            "ci_type": "server",
            "status": "active",
            "dependants": sorted(a for a, deps in depends_on.items() if c in deps),
        }
        for c in depends_on
    ]
    shown = impact_of(rows, code)
    assert {r["code"] for r in shown} == impact(depends_on, code)
    assert [r["distance"] for r in shown] == sorted(r["distance"] for r in shown)
    for row in shown:  # distance 1 means a direct dependant
        assert (row["distance"] == 1) == (code in depends_on[row["code"]])


def _dependants(depends_on: dict[str, set[str]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {c: set() for c in depends_on}
    for a, deps in depends_on.items():
        for b in deps:
            found[b].add(a)
    return found


@st.composite
def bookings_on(draw: st.DrawFn, depends_on: dict[str, set[str]], name: str) -> Booking:
    nodes = sorted(depends_on)
    items = frozenset(draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=3)))
    start = T0 + timedelta(hours=draw(st.integers(0, 20)))
    end = start + timedelta(hours=draw(st.integers(1, 6)))
    reach = frozenset(related(depends_on, _dependants(depends_on), items))
    return Booking(name, name, start, end, items, reach)


@given(dags(), st.data())
def test_calendar_conflicts_are_symmetric(depends_on: dict[str, set[str]], data: Any) -> None:
    a = data.draw(bookings_on(depends_on, "CHG-000001"))
    b = data.draw(bookings_on(depends_on, "CHG-000002"))
    assert clash(a, b) == clash(b, a)


@given(dags(), st.data())
def test_overlapping_changes_conflict_exactly_when_their_items_depend_on_each_other(
    depends_on: dict[str, set[str]], data: Any
) -> None:
    a = data.draw(bookings_on(depends_on, "CHG-000001"))
    b = data.draw(bookings_on(depends_on, "CHG-000002"))
    reach = closure(depends_on)
    dependent = any(x == y or y in reach[x] or x in reach[y] for x in a.items for y in b.items)
    overlapping = a.start < b.end and b.start < a.end
    assert clash(a, b) == (overlapping and dependent)
