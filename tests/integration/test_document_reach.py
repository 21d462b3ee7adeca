"""Who reads which rows of the document register (projections/documents.py `DocumentReach`), on
SQLite and PostgreSQL: a list keeps exactly the rows one row's rule admits, for every role, and
its filters (a clause, a review date at most a day) keep what they say."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.actors import Actor, Identity, Role
from domain.context import Context
from domain.document import DocumentKind, DocumentState
from projections.base import Projection, Row
from projections.documents import DocumentReach, clause_index, document_register
from projections.queries import Filter, View
from service.bootstrap import Services

PEOPLE = ("siti.rahma", "andi.wijaya", "budi.santoso")
CLAUSES = ("7.5", "8.5", "8.5.1", "8.5.1.1")
_tables = itertools.count(1)


def _projection() -> Projection:
    """The register's columns, in a table of its own for each example."""
    return Projection(
        name=f"documents_{next(_tables)}",
        version=1,
        folds={},
        columns=document_register.columns,
        indexes=document_register.indexes,
    )


rows = st.lists(
    st.fixed_dictionaries(
        {
            "number": st.integers(1, 2**40),
            "state": st.sampled_from([s.value for s in DocumentState]),
            "kind": st.sampled_from([k.value for k in DocumentKind]),
            "owner": st.sampled_from(PEOPLE),
            "registrant": st.sampled_from(PEOPLE),
            "clause_index": st.lists(st.sampled_from(CLAUSES), unique=True).map(clause_index),
            "next_review": st.none()
            | st.dates(date(2026, 1, 1), date(2028, 1, 1)).map(date.isoformat),
        }
    ),
    max_size=30,
    unique_by=lambda r: r["number"],
)
callers = st.one_of(
    st.none(),
    st.builds(
        Identity,
        actor=st.builds(Actor, id=st.sampled_from(PEOPLE), role=st.sampled_from(Role)),
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stored=rows,
    scope=callers,
    clause=st.none() | st.sampled_from(CLAUSES),
    due_by=st.none() | st.dates(date(2026, 1, 1), date(2028, 1, 1)),
)
def test_a_list_keeps_exactly_the_documents_one_rows_rule_admits(
    services: Services,
    stored: list[Row],
    scope: Identity | None,
    clause: str | None,
    due_by: date | None,
) -> None:
    projection = _projection()
    services.views.ensure([projection])
    with services.views.transaction() as tx:
        tx.write(projection, {str(row["number"]): row for row in stored})
    reach = DocumentReach()
    view = View(projection, reach)
    actor = scope.actor if scope is not None else Actor(id="itsm", role=Role.SYSTEM)
    ctx = Context(actor=actor, at=datetime.now(UTC), correlation_id=uuid4(), scope=scope)
    bound = None if due_by is None else due_by.isoformat()
    kept = Filter(
        contains={"clause_index": None if clause is None else clause_index([clause])},
        at_most={"next_review": bound},
    )

    listed = view.rows(services.views, ctx, kept)

    def keeps(row: dict[str, Any]) -> bool:
        in_clause = clause is None or clause in row["clause_index"].strip("|").split("|")
        due = bound is None or (row["next_review"] is not None and row["next_review"] <= bound)
        return reach.admits(ctx, row) and in_clause and due

    expected = sorted((r for r in stored if keeps(r)), key=lambda r: r["number"], reverse=True)
    assert listed == expected
    for row in stored:
        assert (view.by_key(services.views, ctx, str(row["number"])) == row) is reach.admits(
            ctx, row
        )


def test_a_requester_reads_only_published_customer_documents() -> None:
    requester = Identity(Actor(id="budi.santoso", role=Role.REQUESTER))
    ctx = Context(requester.actor, datetime.now(UTC), uuid4(), requester)
    reach = DocumentReach()
    base = {"owner": "x", "registrant": "budi.santoso"}
    assert reach.admits(ctx, {**base, "state": "published", "kind": "sla"})
    assert reach.admits(ctx, {**base, "state": "published", "kind": "service_catalogue"})
    assert reach.admits(ctx, {**base, "state": "published", "kind": "policy"})
    assert not reach.admits(ctx, {**base, "state": "published", "kind": "procedure"})
    assert not reach.admits(ctx, {**base, "state": "draft", "kind": "sla"})
    assert not reach.admits(ctx, {**base, "state": "withdrawn", "kind": "sla"})
