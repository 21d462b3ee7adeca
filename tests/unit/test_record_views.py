"""The views of numbered records build their lists' columns and indexes, and their rows' common
parts, from projections/records.py: a view's stored table and rows must stay exactly as they were
declared by hand (a change would need a new view version and a rebuild)."""

from __future__ import annotations

from projections.base import Column
from projections.change_details import change_details
from projections.knowledge import knowledge_articles
from projections.problems import problem_details
from projections.service_requests import service_request_details


def test_the_record_lists_keep_the_columns_and_indexes_they_were_declared_with() -> None:
    number, state, organisation = (
        Column("number", "INTEGER"),
        Column("state", "TEXT"),
        Column("organisation", "TEXT"),
    )
    assert change_details.columns == (number, state, Column("kind", "TEXT"), organisation)
    assert change_details.indexes == (("number",), ("state", "number"), ("organisation", "number"))
    service = Column("service", "TEXT")
    assert knowledge_articles.columns == (number, state, service, organisation)
    assert knowledge_articles.indexes == (
        ("number",),
        ("state", "number"),
        ("service", "number"),
        ("organisation", "number"),
    )
    # problem_details version 3: the priority and the queue's order (priority, then the oldest)
    assert problem_details.columns == (
        number,
        state,
        service,
        organisation,
        Column("priority", "INTEGER"),
        Column("priority_rank", "TEXT"),
    )
    assert problem_details.indexes == (
        ("number",),
        ("state", "number"),
        ("service", "number"),
        ("priority", "number"),
        ("organisation", "number"),
        ("priority_rank",),
    )
    assert service_request_details.columns == (
        number,
        state,
        Column("fulfilment_group", "TEXT"),
        Column("requester", "TEXT"),
        organisation,
        Column("ended_at", "TEXT"),  # the requester's reach ends two years after
    )
    assert service_request_details.indexes == (
        ("number",),
        ("state", "number"),
        ("fulfilment_group", "number"),
        ("requester", "number"),
        ("organisation", "number"),
    )


def test_the_record_views_keep_their_versions() -> None:
    versions = [
        (v.name, v.version)
        for v in (change_details, knowledge_articles, problem_details, service_request_details)
    ]
    assert versions == [
        # 4: whether the backout plan was tested; 5: the classification and source, the
        # structured assessment, the test checklist, design and transition
        ("change_details", 5),
        ("knowledge_articles", 1),
        ("problem_details", 3),
        # 5: when it ended, for the requester's reach (the retention schedule)
        ("service_request_details", 5),
    ]
