"""A search ranks at most the RANKED most recently written matches, on both backends (issue 23;
docs/search.md, "How many are ranked"): a word in a fifth of ten years' titles must not be
ranked over every one of them. SQLite finds the window in FTS5's rowid order; PostgreSQL walks
the view's `written` index backwards (a frequent word) or takes the GIN index's few matches (a
rare one), and the plan is asked of the engine itself.

Before, PostgreSQL ranked every match with ts_rank: GET /search?q=printer took p50 6 ms at 10k
incidents and 190 ms at 500k."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from infra.pg import open_pool
from projections.base import Row
from projections.pg_store import PostgresViewStore, search_sql
from projections.search_index import MAX_HITS, search_index
from projections.store import RANKED
from projections.view_store import Match
from service.bootstrap import Services


def row(number: int, title: str) -> Row:
    return {
        "kind": "incident",
        "id": f"id-{number}",
        "number": number,
        "ref": f"INC-{number:06d}",
        "organisation": "perpus-kota-serang",
        "owner": None,
        "title": title,
        "service": None,
        "category": None,
        "everyone": 1,
        "state": None,
        "ended_at": None,
        "public": {"title": title},
        "internal": {},
        "truncated": False,
        "version": 1,
        "updated_at": "2026-12-05T03:00:00+00:00",
    }


def found(services: Services, word: str, limit: int = 50) -> list[int]:
    hits = services.views.search(search_index, Match((word,)), limit=limit)
    return [hit["number"] for hit, _ in hits]


def test_only_the_most_recently_written_matches_are_ranked(services: Services) -> None:
    # Given ten records that say "printer" three times (the best matches), written first, and
    # RANKED records written after them that say it once
    best = {n: row(n, "printer printer printer macet") for n in range(1, 11)}
    later = {n: row(n, "printer macet") for n in range(11, 11 + RANKED)}
    with services.views.transaction() as tx:
        tx.write(search_index, {f"id-{n}": r for n, r in best.items()})
    with services.views.transaction() as tx:
        tx.write(search_index, {f"id-{n}": r for n, r in later.items()})

    # When "printer" is searched for
    # Then none of the ten is ranked: they are older than the RANKED most recent matches
    assert not set(found(services, "printer")) & set(best)

    # When one of them is written again (an event of its record), and searched for again
    with services.views.transaction() as tx:
        tx.write(search_index, {"id-3": row(3, "printer printer printer macet lagi")})

    # Then it is among the most recently written, and ranked first
    assert found(services, "printer")[0] == 3
    # and a word only it holds finds it
    assert found(services, "lagi") == [3]


def test_the_window_is_as_many_hits_as_a_reader_can_page_through() -> None:
    # every match ranked can be reached, and no more are ranked than can be
    assert RANKED == MAX_HITS


def explain(store: PostgresViewStore, word: str) -> str:
    sql = search_sql(search_index, Match((word,), within=2), '"everyone" = ?', 21, 0)
    rows: list[Any] = []
    with store._pool.connection() as conn, conn.transaction():  # rolled back: none stays
        # sixty thousand records, "printer" in a fifth of them (more than RANKED), "zebra" in
        # eighteen; analysed, as autovacuum would
        conn.execute(
            "INSERT INTO view_search_index (key, doc, kind, number, organisation, everyone,"
            " public_terms, internal_terms)"
            " SELECT n::text, '{}', 'incident', n, 'org-' || (n % 9), 1,"
            " CASE WHEN n % 5 = 0 THEN 'printer macet' WHEN n % 3333 = 0 THEN 'zebra'"
            " ELSE 'kios lantai ' || n END, 'catatan ' || (n % 100)"
            " FROM generate_series(1, 60000) AS n"
        )
        conn.execute("ANALYZE view_search_index")
        params: list[Any] = [word, word, 1]
        rows = conn.execute(f"EXPLAIN {sql}", params).fetchall()  # psycopg's already
        raise psycopg.Rollback
    return "\n".join(str(r[0]) for r in rows)


def test_a_frequent_word_is_ranked_from_the_written_index_and_a_rare_one_from_gin(
    services: Services,
) -> None:
    store = services.views
    if not isinstance(store, PostgresViewStore):
        pytest.skip("PostgreSQL's plan; SQLite's window is FTS5's rowid order")

    # When a word in a fifth of the records is searched for
    frequent = explain(store, "printer")
    # Then the window is the written index walked backwards, stopped after RANKED matches
    assert "Index Scan Backward using ix_search_index_written" in frequent, frequent
    assert "Sort Key: view_search_index.written" not in frequent, frequent

    # When a word in three of them is
    rare = explain(store, "zebra")
    # Then its few matches come from the GIN index
    assert "Bitmap Index Scan on ix_search_index_tsv_2" in rare, rare


def test_a_view_made_before_the_written_column_gets_it_in_write_order(
    services: Services,
) -> None:
    store = services.views
    if not isinstance(store, PostgresViewStore):
        pytest.skip("PostgreSQL's column; SQLite orders by rowid")
    # Given a search index as an older version made it: rows, no `written` column
    with store.transaction() as tx:
        tx.write(search_index, {f"id-{n}": row(n, f"printer {n}") for n in range(1, 4)})
    with store._pool.connection() as conn:
        conn.execute('ALTER TABLE view_search_index DROP COLUMN "written"')

    # When the service starts on it
    store.ensure([search_index])

    # Then the rows are numbered in the order they lie, and searches rank the most recent
    with store._pool.connection() as conn:
        numbered = conn.execute("SELECT number FROM view_search_index ORDER BY written").fetchall()
    assert [n for (n,) in numbered] == [1, 2, 3]
    assert sorted(found(services, "printer")) == [1, 2, 3]


def test_a_search_is_planned_for_its_words_every_time(services: Services) -> None:
    if not isinstance(services.views, PostgresViewStore):
        pytest.skip("PostgreSQL's prepared statements")
    assert services.settings.database_url is not None
    # Given a view store on one connection, as a busy process's pool hands out one of its own
    store = PostgresViewStore(open_pool(services.settings.database_url, max_size=1, name="one"))
    try:
        store.ensure([search_index])
        # When it searches more often than psycopg's threshold for preparing a statement (5)
        for _ in range(8):
            store.search(search_index, Match(("printer",)), limit=20)

        # Then the search was never prepared: a prepared statement is planned once for any words
        # (a generic plan), which cannot choose between the written index and GIN by the word
        with store._pool.connection() as conn:
            prepared = conn.execute(
                "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
                ("%ts_rank%",),
            ).fetchall()
        assert prepared == []
    finally:
        store.close()
