"""Paging a view (projections/queries.py) on SQLite and PostgreSQL: walking every page returns
every row the caller reaches, and the filter keeps, exactly once and in order, for any page size;
and a list's scoping is the same rule as one row's."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.actors import Actor, Identity, Role
from domain.context import Context
from projections.base import Column, Projection, Row
from projections.queries import BY_CODE, NEWEST_FIRST, Filter, Order, Reach, View
from service.bootstrap import Services

ORGANISATIONS = ("perpus-kota-serang", "perpus-kab-lebak", "dpk-banten")
OWNERS = ("budi.santoso", "ani.wijaya")
_tables = itertools.count(1)


def _projection() -> Projection:
    """A view of its own for each example, with the columns a list pages and filters on."""
    return Projection(
        name=f"paged_{next(_tables)}",
        version=1,
        folds={},
        columns=(
            Column("number", "INTEGER"),
            Column("code", "TEXT"),
            Column("state", "TEXT"),
            Column("organisation", "TEXT"),
            Column("owner", "TEXT"),
        ),
    )


rows = st.lists(
    st.fixed_dictionaries(
        {
            "number": st.integers(1, 2**40),
            "code": st.text("abcxyz0189-", min_size=1, max_size=12),
            "state": st.sampled_from(("open", "closed")),
            "organisation": st.sampled_from(ORGANISATIONS),
            "owner": st.sampled_from((*OWNERS, None)),
        }
    ),
    max_size=40,
    unique_by=(lambda r: r["number"], lambda r: r["code"]),
)
callers = st.one_of(
    st.none(),  # the service itself
    st.builds(
        Identity,
        actor=st.builds(
            Actor,
            id=st.sampled_from(("siti.rahma", *OWNERS)),
            role=st.sampled_from((Role.AGENT, Role.REQUESTER, Role.AUDITOR)),
        ),
        organisation=st.sampled_from((None, *ORGANISATIONS)),
        all_organisations=st.booleans(),
    ),
)


def _context(scope: Identity | None) -> Context:
    actor = scope.actor if scope is not None else Actor(id="itsm", role=Role.ADMIN)
    return Context(actor=actor, at=datetime.now(UTC), correlation_id=uuid4(), scope=scope)


def _walk(view: View, services: Services, ctx: Context, kept: Filter, limit: int) -> list[Row]:
    seen: list[Row] = []
    after: Any = None
    for _ in range(100):
        page = view.page(services.views, ctx, kept, limit=limit, after=after)
        assert len(page.rows) <= limit
        seen.extend(page.rows)
        if page.after is None:
            return seen
        after = page.after
    raise AssertionError("the pages never ended")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stored=rows,
    scope=callers,
    limit=st.integers(1, 12),
    state=st.sampled_from((None, "open", "closed")),
    order=st.sampled_from((NEWEST_FIRST, BY_CODE)),
    owned=st.booleans(),
)
def test_walking_every_page_returns_every_row_the_caller_reaches_exactly_once(
    services: Services,
    stored: list[Row],
    scope: Identity | None,
    limit: int,
    state: str | None,
    order: Order,
    owned: bool,
) -> None:
    projection = _projection()
    services.views.ensure([projection])
    with services.views.transaction() as tx:
        tx.write(projection, {str(row["number"]): row for row in stored})
    reach = Reach(owner="owner") if owned else Reach()
    view = View(projection, reach, order)
    ctx = _context(scope)

    walked = _walk(view, services, ctx, Filter(equal={"state": state}), limit)

    expected = [row for row in stored if reach.admits(ctx, row) and state in (None, row["state"])]
    key = order.column
    assert sorted(r[key] for r in walked) == sorted(r[key] for r in expected)  # each once
    # in the view's order (text sorts by the database's collation): the whole list, paged
    assert walked == view.rows(services.views, ctx, Filter(equal={"state": state}))
    if key == "number":
        assert walked == sorted(expected, key=lambda r: r[key], reverse=True)
    # one row by its key or a unique column: the same reach as the list's
    for row in stored:
        admitted = reach.admits(ctx, row)
        assert (view.by_key(services.views, ctx, str(row["number"])) == row) is admitted
        assert (view.by(services.views, ctx, "code", row["code"]) == row) is admitted
