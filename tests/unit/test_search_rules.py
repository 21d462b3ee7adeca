"""The rules of full-text search, without a database: which terms a text is made of (folded,
stemmed, numbers whole), how a snippet marks them, and what part of a record (public or staff's)
each event's words go to (projections/search_index.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import incident as i
from domain import problem as p
from domain.actors import Actor, Role
from domain.events import DomainEvent
from domain.search_terms import (
    MARK_CLOSE,
    MARK_OPEN,
    MAX_QUERY_TERMS,
    MAX_TERM,
    indexed,
    query_terms,
    snippet,
    terms,
)
from projections.base import Row
from projections.search_index import search_index
from projections.view_store import Match

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


# -- terms -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "searched"),
    [
        ("peminjaman", "pinjam"),  # pe-an
        ("meminjam", "pinjam"),  # me-
        ("dipinjamkan", "pinjam"),  # di-kan
        ("perpanjangan", "panjang"),
        ("PERPUSTAKAAN", "pustaka"),  # case, and per-an
        ("Pérpustakaan", "perpustakaan"),  # diacritics
    ],
)
def test_a_word_is_found_by_its_root_whatever_its_affixes_case_or_diacritics(
    written: str, searched: str
) -> None:
    assert query_terms(searched) == terms(written)


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("INC-000123", "inc000123"),
        ("req-000042", "req000042"),
        ("kartu 3604.2023.00017", "3604202300017"),
        ("NIK 3604/2023/17", "3604202317"),
    ],
)
def test_a_number_is_one_term_whole(text: str, term: str) -> None:
    assert term in terms(text)
    assert query_terms(text.rsplit(maxsplit=1)[-1]) == [term]


def test_a_part_of_a_number_does_not_find_it() -> None:
    assert "000123" not in terms("INC-000123")


def test_joined_words_without_a_digit_are_separate_words() -> None:
    assert terms("kiosk-serang") == ["kiosk", "serang"]


def test_english_words_and_names_are_kept_as_written() -> None:
    assert terms("printer scanner Batupusaka") == ["printer", "scanner", "batupusaka"]


def test_words_of_other_scripts_are_kept_and_found() -> None:
    assert query_terms("ελλαδα") == terms("Ελλάδα") != []
    assert query_terms("図書館") == terms("図書館") != []
    assert all(t.isascii() for t in terms("図書館 Ελλάδα"))


@given(st.text(max_size=300))
def test_every_term_is_one_the_engines_cannot_split(text: str) -> None:
    for term in terms(text):
        assert term.isascii()
        assert term.isalnum()
        assert term == term.lower()
        assert 1 <= len(term) <= MAX_TERM
    Match(tuple(query_terms(text)) or ("x",))  # the store takes them


@given(st.lists(st.text(min_size=1, max_size=30), max_size=10), st.data())
def test_any_word_of_a_text_finds_the_text(words: list[str], data: st.DataObject) -> None:
    text = " ".join(words)
    said = terms(text)
    if said:
        word = data.draw(st.sampled_from(said))
        assert set(query_terms(word)) <= set(said)


def test_a_query_looks_for_each_term_once_and_for_a_bounded_number() -> None:
    assert query_terms("kiosk KIOSK kiosk serang") == ["kiosk", "serang"]
    assert len(query_terms(" ".join(f"w{n}" for n in range(100)))) == MAX_QUERY_TERMS


def test_the_store_refuses_what_is_not_a_term() -> None:
    for bad in ((), ("a b",), ('"',), ("A",), ("x" * 65,)):
        with pytest.raises(ValueError, match="terms"):
            Match(bad)


# -- snippets --------------------------------------------------------------------------------------


def test_a_snippet_marks_each_matching_word_and_escapes_the_rest() -> None:
    shown = snippet(["<b>Peminjaman</b> gagal & kiosk mati"], query_terms("pinjam kiosk"))
    assert shown == (
        f"&lt;b&gt;{MARK_OPEN}Peminjaman{MARK_CLOSE}&lt;/b&gt; gagal &amp;"
        f" {MARK_OPEN}kiosk{MARK_CLOSE} mati"
    )


def test_a_snippet_is_a_window_around_the_first_match_in_the_first_text_that_has_one() -> None:
    long = "awal " * 100 + "kartu hilang " + "akhir " * 100
    shown = snippet(["judul", long], query_terms("kartu"))
    assert shown is not None
    assert shown.startswith("… ")
    assert shown.endswith(" …")
    assert f"{MARK_OPEN}kartu{MARK_CLOSE} hilang" in shown
    assert len(shown) < 200
    assert snippet(["judul"], query_terms("kartu")) is None


# -- what each event says, and to whom -------------------------------------------------------------


def _event(
    event_type: type[DomainEvent], version: int, record: object, **fields: object
) -> DomainEvent:
    return event_type(
        originator_id=record,
        originator_version=version,
        timestamp=AT,
        actor=AGENT,
        correlation_id=uuid4(),
        **fields,
    )


def _folded(*events: DomainEvent) -> Row:
    row = None
    for event in events:
        row = search_index.fold(row, event)
    row = search_index.derived(row)  # the terms, as a store writes the row
    assert row is not None
    return row


def _logged(record: object) -> DomainEvent:
    return _event(
        i.Logged,
        1,
        record,
        number=123,
        title="Kiosk mati",
        description="Layar hitam",
        service="kiosks-gates",
        caller="budi.santoso",
        channel="phone",
        impact="medium",
        urgency="high",
        priority=3,
        matrix_version=1,
    )


def test_given_an_incident_then_its_title_description_and_comments_are_public_and_notes_not() -> (
    None
):
    record = uuid4()
    row = _folded(
        _logged(record),
        _event(i.CommentAdded, 2, record, text="Teknisi menuju lokasi"),
        _event(i.WorkNoteAdded, 3, record, text="Vendor lambat"),
    )
    assert (row["kind"], row["ref"], row["owner"], row["everyone"]) == (
        "incident",
        "INC-000123",
        "budi.santoso",
        0,
    )
    assert set(row["public_terms"].split()) >= {"inc000123", "kiosk", "layar", "teknisi"}
    assert "vendor" not in row["public_terms"].split()
    assert row["internal_terms"].split() == terms("Vendor lambat")


def test_given_a_problem_when_its_known_error_is_published_then_everyone_finds_it() -> None:
    record = uuid4()
    logged = _event(
        p.Logged,
        1,
        record,
        number=7,
        title="Perpanjangan gagal",
        description="RENEW",
        **p.UNJUDGED,
    )
    row = _folded(logged)
    assert (row["kind"], row["everyone"]) == ("problem", 0)
    row = _folded(
        logged,
        _event(p.InvestigationStarted, 2, record, investigator="agus"),
        _event(p.RootCauseRecorded, 3, record, root_cause="API menolak denda kecil"),
        _event(p.KnownErrorPublished, 4, record, symptoms="Tombol diam"),
    )
    assert (row["kind"], row["ref"], row["everyone"]) == ("known_error", "PRB-000007", 1)
    assert {"tombol", "diam", "panjang"} <= set(row["public_terms"].split())
    # the description and the root cause stay the staff's, as GET /known-errors/{ref} shows
    assert not {"denda", "renew"} & set(row["public_terms"].split())
    assert {"denda", "renew"} <= set(row["internal_terms"].split())


@given(
    st.lists(
        st.tuples(st.sampled_from(["comment", "note", "silent"]), st.text(max_size=30)),
        max_size=12,
    )
)
def test_a_rows_terms_are_always_those_of_its_texts_whatever_events_said_nothing(
    said: list[tuple[str, str]],
) -> None:
    # Given an incident, then comments, work notes and events that say nothing, in any order
    # (its terms are worked out as the row is written, each text's once: issue 23, catch-up)
    record = uuid4()
    row = search_index.derived(search_index.fold(None, _logged(record)))
    for version, (what, text) in enumerate(said, start=2):
        if what == "comment":
            event = _event(i.CommentAdded, version, record, text=text or "x")
        elif what == "note":
            event = _event(i.WorkNoteAdded, version, record, text=text or "x")
        else:
            event = _event(i.WorkStarted, version, record, agent="siti.rahma")
        row = search_index.derived(search_index.fold(row, event))
        # Then after each, the row's terms are those its texts make
        assert row is not None
        assert row["public_terms"] == indexed([row["ref"], *row["public"].values()])
        assert row["internal_terms"] == indexed(row["internal"].values())


def test_an_event_before_its_records_first_is_ignored() -> None:
    assert search_index.fold(None, _event(i.CommentAdded, 2, uuid4(), text="x")) is None


def test_a_sign_that_folds_into_punctuation_is_one_term_of_its_own() -> None:
    # NFKC folds the parenthesised one into "(1)": a term the engines would split on its brackets
    [term] = terms("⑴")
    assert term.isalnum()
    assert term != terms("1")[0]
    assert query_terms("⑴") == [term]
