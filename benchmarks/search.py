"""Search benchmark: how long a full-text search takes over 100,000 incidents on SQLite, beside a
bare FTS5 query of the same terms on the same table in the same run.

    .venv/bin/python -m benchmarks.search [--incidents 100000] [--searches 2000]

The incidents are folded into the search_index view directly (projections/search_index.py, the
fold every event takes), not logged through the desk: what is measured is the read, and a
100,000-incident store through the API would take the run's time in writing. Each incident has a
title, a description, a public comment and a work note drawn from a library helpdesk's words,
its number and, for one in ten, a member card id; five organisations, a thousand callers.

One JSON object per line on stdout (docs/benchmarks.md, "Search"):

    search_<who>   projections/search_index.py `search`, first page of 20: the reach, the rank, the
                   rows read and their snippets made (`who`: an agent of one organisation, a
                   requester, a service manager who sees every organisation)
    bare_fts5_window  SELECT rowid ... MATCH ... ORDER BY bm25 LIMIT 21 on the same FTS5 table,
                   over the same window of matches the store ranks (the 5,000 most recently
                   written): the floor under a search (no reach, no rows, no snippets)
    bare_fts5_all  the same over every match (a tenth as many searches: it is slow), to show
                   what the window saves when a word is in most records

each with p50, p99 and the mean in milliseconds. The run stops on any answer it did not expect:
a number not found exactly once, a search whose best rank is not the bare query's best.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from benchmarks._report import Report, fresh_dir, rounded, say
from domain import incident as i
from domain.actors import Actor, Identity, Role
from domain.context import Context
from domain.priority import Impact, Urgency
from domain.records import incident_number_label
from domain.search_terms import query_terms
from projections.search_index import search, search_index
from projections.store import RANKED, SQLiteViewStore, fts_query, window_sql
from projections.view_store import Match, text_table

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ORGANISATIONS = [f"perpus-{n}" for n in ("serang", "lebak", "pandeglang", "tangerang", "cilegon")]


def _listed(words: str) -> list[str]:
    return words.split()


WORDS = _listed(
    "kiosk kios layar mati hitam kartu anggota hilang rusak tertelan cetak printer macet pinjam"
    " peminjaman pengembalian kembali buku denda perpanjang perpanjangan daring katalog opac"
    " inlislite slims server jaringan wifi lambat putus gerbang rfid alarm bunyi sensor petugas"
    " sirkulasi koleksi rak label barcode pemindai scanner login sandi akun lupa ganti ebook"
    " ibanten aplikasi unduh baca error gagal tombol diam lantai ruang baca anak cabang"
    " batupusaka sinkron data ganda nama alamat email telepon tikus kabel listrik padam ups"
)
NOTES = _listed("vendor teknisi jadwal ganti suku cadang garansi kontrak eskalasi log restart")


def _text(rng: random.Random, words: int) -> str:
    # a few words are common, most are rare (Zipf-like), as in people's reports
    return " ".join(
        WORDS[min(int(rng.paretovariate(1.2)) - 1, len(WORDS) - 1)] for _ in range(words)
    )


def _events(n: int, rng: random.Random) -> list[i.IncidentEvent]:
    record = UUID(int=n + 1)
    agent = Actor(id="bench.agent", role=Role.AGENT)
    at = T0 + timedelta(minutes=n)

    def env(version: int) -> dict[str, object]:
        return {
            "originator_id": record,
            "originator_version": version,
            "timestamp": at,
            "actor": agent,
            "correlation_id": record,
        }

    card = f" kartu {3604_0000_0000 + n}" if n % 10 == 0 else ""
    return [
        i.Logged(
            **env(1),
            number=n + 1,
            title=_text(rng, 6),
            description=_text(rng, 30) + card,
            service="kiosks-gates",
            caller=f"member.{n % 1000}",
            channel=i.Channel.PORTAL,
            impact=Impact.MEDIUM,
            urgency=Urgency.MEDIUM,
            priority=3,
            matrix_version=1,
            organisation=ORGANISATIONS[n % len(ORGANISATIONS)],
        ),
        i.CommentAdded(**env(2), text=_text(rng, 15)),
        i.WorkNoteAdded(**env(3), text=" ".join(rng.choices(NOTES, k=8))),
    ]


def fill(store: SQLiteViewStore, incidents: int, seed: int) -> None:
    rng = random.Random(seed)
    store.ensure([search_index])
    chunk = 5_000
    for start in range(0, incidents, chunk):
        rows = {}
        for n in range(start, min(start + chunk, incidents)):
            row = None
            for event in _events(n, rng):
                row = search_index.fold(row, event)
            assert row is not None
            rows[str(UUID(int=n + 1))] = row
        with store.transaction() as tx:
            tx.write(search_index, rows)
            tx.set_position(search_index, start + len(rows))
        say(f"indexed {start + len(rows):,} incidents")


class Unexpected(RuntimeError):
    """An answer the benchmark did not expect: the run is void."""


def searching(store: SQLiteViewStore, ctx: Context, picks: Iterator[str]) -> Callable[[], object]:
    """One search as `ctx`, for the next query picked."""
    return lambda: search(store, ctx, next(picks), limit=20)


def timed(run: Callable[[], object], times: int) -> dict[str, float]:
    took = []
    for _ in range(times):
        began = time.perf_counter()
        run()
        took.append((time.perf_counter() - began) * 1000)
    took.sort()
    return {
        "p50_ms": rounded(took[len(took) // 2], 2),
        "p99_ms": rounded(took[min(len(took) - 1, int(len(took) * 0.99))], 2),
        "mean_ms": rounded(statistics.fmean(took), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = Report(args.out)
    with fresh_dir("search", None) as where:
        store = SQLiteViewStore(where / "views.db")
        began = time.perf_counter()
        fill(store, args.incidents, args.seed)
        report.emit(
            "index_fill",
            incidents=args.incidents,
            seconds=rounded(time.perf_counter() - began),
        )
        rng = random.Random(args.seed + 1)
        queries = [
            *WORDS[:10],  # the most common words
            "kartu hilang",
            "kartu anggota rusak",
            "pinjam buku",
            "tikus",  # a rare word
            *(incident_number_label(rng.randrange(1, args.incidents + 1)) for _ in range(10)),
        ]
        _check(store, queries, args.incidents)
        callers = {
            "agent": Identity(Actor(id="bench.agent", role=Role.AGENT), ORGANISATIONS[0]),
            "requester": Identity(Actor(id="member.7", role=Role.REQUESTER)),
            "manager": Identity(Actor(id="bench.manager", role=Role.SERVICE_MANAGER)),
        }
        for who, identity in callers.items():
            ctx = Context(actor=identity.actor, at=T0, correlation_id=UUID(int=0), scope=identity)
            picks = iter(rng.choices(queries, k=args.searches))
            figures = timed(searching(store, ctx, picks), args.searches)
            report.emit(f"search_{who}", searches=args.searches, **figures)
        conn = sqlite3.connect(where / "views.db")
        within = 2  # staff: public and internal terms, as the searches above
        asked = [
            fts_query(search_index, Match(tuple(query_terms(q)), within))
            for q in rng.choices(queries, k=args.searches)
        ]
        picked = iter(asked)
        figures = timed(lambda: _bare(conn, next(picked), windowed=True), args.searches)
        report.emit("bare_fts5_window", searches=args.searches, ranked=RANKED, **figures)
        fewer = max(1, args.searches // 10)  # every match ranked: slow, so a tenth as many
        picked = iter(asked)
        figures = timed(lambda: _bare(conn, next(picked), windowed=False), fewer)
        report.emit("bare_fts5_all", searches=fewer, **figures)
        conn.close()
        store.close()
    report.close()


def _bare(conn: sqlite3.Connection, query: str, *, windowed: bool) -> list[tuple[int, float]]:
    """The bare FTS5 query: the first 21 rowids by bm25, over the window the store ranks (the
    RANKED most recent matches) or over every match."""
    fts = text_table(search_index)
    floor = conn.execute(window_sql(search_index), (query,)).fetchone() if windowed else None
    within = f" AND rowid >= {int(floor[0])}" if floor else ""
    sql = (
        f"SELECT rowid, bm25({fts}) FROM {fts} WHERE {fts} MATCH ?{within}"
        f" ORDER BY bm25({fts}) LIMIT 21"
    )
    return conn.execute(sql, (query,)).fetchall()


def _check(store: SQLiteViewStore, queries: list[str], incidents: int) -> None:
    """Every number is found exactly once, and a search's best rank is the bare query's best."""
    everyone = Context(
        actor=Actor(id="bench", role=Role.SERVICE_MANAGER), at=T0, correlation_id=UUID(int=0)
    )
    conn = sqlite3.connect(store.path)
    for q in queries:
        found = search(store, everyone, q, limit=20).hits
        if q.startswith("INC-"):
            if [h.ref for h in found] != [q]:
                raise Unexpected(f"{q}: found {[h.ref for h in found]}, expected exactly {q}")
            continue
        if not found:
            raise Unexpected(f"{q!r} found nothing among {incidents:,} incidents")
        match = fts_query(search_index, Match(tuple(query_terms(q)), 2))
        best = _bare(conn, match, windowed=True)[0][1]
        if abs(found[0].rank + best) > 1e-9:
            raise Unexpected(f"{q!r}: best rank {found[0].rank}, the bare query's {-best}")
    conn.close()


if __name__ == "__main__":
    main()
