"""A page of the incident list costs the same however long the history (issue 23): each filter
an agent walks is served by an index that leads with the caller's organisation and the filter's
columns and ends with the list's order, so the database reads only the page's rows. Asked of
the engine itself (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL), on both backends.

Before, a group's page of an agent of one organisation was read through ("organisation",
"number") alone: every newer incident of the organisation was read to find the group's (p99 of
walking 500 open incidents in 5 pages: 44 ms at 10k incidents, 285 ms at 100k)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from domain.actors import Actor, Identity, Role
from domain.context import Context
from domain.incident import IncidentState
from projections.incident_details import incidents
from projections.pg_store import PostgresViewStore, _placeholders
from projections.queries import Filter
from projections.store import SQLiteViewStore
from projections.view_store import select_sql
from service.bootstrap import Services
from tests.conftest import Clock

AGENT = Actor(id="siti.rahma", role=Role.AGENT)


def agent_of(organisation: str, clock: Clock) -> Context:
    return Context(AGENT, clock(), uuid4(), Identity(AGENT, organisation=organisation))


def plan(services: Services, kept: Filter, ctx: Context) -> str:
    """The engine's plan for the first page of the list the caller asks for."""
    asked: list[tuple[str, list[Any], str]] = []
    store = services.views

    def recorded(projection: Any, where: str = "", params: Any = (), tail: str = "") -> list[Any]:
        asked.append((where, list(params), tail))
        return []

    select = store.select
    store.select = recorded  # type: ignore[method-assign]
    try:
        incidents.page(store, ctx, kept, limit=100)
    finally:
        store.select = select  # type: ignore[method-assign]
    ((where, params, tail),) = asked
    sql = select_sql(incidents.projection, where, tail)
    if isinstance(store, SQLiteViewStore):
        rows = store._reader().execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        return "\n".join(str(row[-1]) for row in rows)
    assert isinstance(store, PostgresViewStore)
    with store._pool.connection() as conn:
        # PostgreSQL plans by its statistics (autovacuum gathers them): a history of ten
        # thousand incidents over nine organisations and six groups, analysed
        conn.execute(
            'INSERT INTO view_incident_details (key, doc, "number", "state", "group",'
            " organisation) SELECT n::text, '{}', n,"
            " CASE WHEN n % 50 = 0 THEN 'in_progress' ELSE 'closed' END,"
            " 'group-' || (n % 6), 'org-' || (n % 9) FROM generate_series(1, 10000) AS n"
        )
        conn.execute("ANALYZE view_incident_details")
        rows = conn.execute(f"EXPLAIN {_placeholders(sql)}", params).fetchall()
        conn.rollback()
    return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize(
    ("equal", "index"),
    [
        ({"group": "group-1"}, "ix_incident_details_organisation_group_number"),
        ({"state": IncidentState.IN_PROGRESS}, "ix_incident_details_organisation_state_number"),
        (
            {"group": "group-1", "state": IncidentState.IN_PROGRESS},
            "ix_incident_details_organisation_group_state_number",
        ),
    ],
)
def test_an_agents_filtered_page_is_read_through_the_index_of_its_filter(
    services: Services, clock: Clock, equal: dict[str, Any], index: str
) -> None:
    # Given an agent of one regency library
    ctx = agent_of("org-1", clock)

    # When their list is filtered
    found = plan(services, Filter(equal=equal), ctx)

    # Then the engine reads it through an index that leads with the organisation and the
    # filter's columns: SQLite (which plans without statistics) through the one that ends with
    # the list's order, so it sorts nothing; PostgreSQL by its statistics, which may sort the
    # few rows the index finds rather than walk them in order
    if services.settings.database_url is None:
        assert index in found, found
        assert "TEMP B-TREE" not in found, found
    else:
        assert index.removesuffix("number") in found, found
        assert "Filter" not in found, found  # the filter's columns are the index's
