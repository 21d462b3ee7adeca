"""Problem candidates, Given (the incidents of a window) / When (clustered at a threshold) / Then
(the candidates): by configuration item, by service and category, by a title word (folded and
stemmed as search does); a cluster under the threshold is none (domain/problem_candidates.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.problem_candidates import Basis, Occurrence, candidates, title_terms


def incident(
    n: int,
    title: str = "Printer kartu macet",
    *,
    service: str = "card-printing",
    category: str | None = None,
    item: str | None = None,
) -> Occurrence:
    return Occurrence(
        id=f"id-{n}",
        ref=f"INC-{n:06d}",
        title=title,
        service=service,
        category=category,
        configuration_item=item,
        logged_at=f"2026-03-{n:02d}T08:00:00+00:00",
    )


def test_incidents_on_one_item_at_the_threshold_are_a_candidate_with_its_span() -> None:
    given_ = [
        incident(n, title, item="kiosk-dpk-01")
        for n, title in ((3, "Kiosk mati"), (1, "Layar hitam"), (2, "Tidak merespons"))
    ]

    [found] = [c for c in candidates(given_, 3) if c.basis is Basis.CONFIGURATION_ITEM]

    assert found.key == "kiosk-dpk-01"
    assert [o.ref for o in found.incidents] == ["INC-000001", "INC-000002", "INC-000003"]
    assert (found.first_seen, found.last_seen) == (
        "2026-03-01T08:00:00+00:00",
        "2026-03-03T08:00:00+00:00",
    )
    assert found.proposal() == {
        "title": "kiosk-dpk-01: Kiosk mati",
        "service": "card-printing",
        "configuration_items": ["kiosk-dpk-01"],
        "incidents": ["INC-000001", "INC-000002", "INC-000003"],
    }


def test_a_cluster_under_the_threshold_is_no_candidate() -> None:
    given_ = [incident(1, "Wi-Fi lambat", item="ap-01"), incident(2, "Gerbang RFID", item="ap-01")]

    assert [c for c in candidates(given_, 3) if c.basis is Basis.CONFIGURATION_ITEM] == []


def test_incidents_of_a_service_and_category_gather_apart_from_other_categories() -> None:
    given_ = [
        *(incident(n, f"Judul {n}", service="batupusaka", category="renewal") for n in (1, 2, 3)),
        *(incident(n, f"Judul {n}", service="batupusaka", category="login") for n in (4, 5)),
    ]

    found = [c for c in candidates(given_, 3) if c.basis is Basis.SERVICE_CATEGORY]

    assert [(c.key, len(c.incidents)) for c in found] == [("batupusaka/renewal", 3)]


def test_titles_that_share_a_stemmed_word_gather_whatever_their_affixes() -> None:
    given_ = [
        incident(1, "Peminjaman gagal di Serang", service="a"),
        incident(2, "Tidak bisa meminjam buku", service="b"),
        incident(3, "Buku dipinjamkan tapi error", service="c"),
        incident(4, "Wi-Fi lambat", service="d"),
    ]

    found = [c for c in candidates(given_, 3) if c.basis is Basis.SIMILAR_TITLE]

    assert [(c.key, [o.ref for o in c.incidents]) for c in found] == [
        ("pinjam", ["INC-000001", "INC-000002", "INC-000003"])
    ]
    assert found[0].proposal()["service"] is None  # three services: the problem names none


def test_words_that_say_nothing_of_a_fault_do_not_gather_titles() -> None:
    assert title_terms("Tidak bisa di the and untuk") == frozenset()


def test_words_with_the_same_incidents_are_one_candidate_and_a_smaller_inside_is_left_out() -> None:
    given_ = [
        incident(1, "Printer kartu macet", service="a"),
        incident(2, "Printer kartu macet lagi", service="b"),
        incident(3, "Printer kartu rusak", service="c"),
    ]

    found = [c for c in candidates(given_, 3) if c.basis is Basis.SIMILAR_TITLE]

    assert [c.key for c in found] == ["kartu printer"]  # "macet" (2) is under the threshold


@settings(max_examples=60, deadline=None)
@given(
    occurrences=st.lists(
        st.builds(
            lambda n, item, svc, cat, words: incident(
                n, " ".join(words), service=svc, category=cat, item=item
            ),
            st.integers(1, 28),
            st.none() | st.sampled_from(["kiosk-01", "kiosk-02", "gate-01"]),
            st.sampled_from(["batupusaka", "kiosks-gates"]),
            st.none() | st.sampled_from(["renewal", "login"]),
            st.lists(st.sampled_from(["printer", "macet", "gerbang", "layar", "mati"]), max_size=3),
        ),
        max_size=30,
        unique_by=lambda o: o.id,
    ),
    threshold=st.integers(2, 6),
)
def test_every_candidate_is_at_least_the_threshold_and_its_incidents_share_its_key(
    occurrences: list[Occurrence], threshold: int
) -> None:
    for found in candidates(occurrences, threshold):
        assert len(found.incidents) >= threshold
        assert [o.logged_at for o in found.incidents] == sorted(
            o.logged_at for o in found.incidents
        )
        for o in found.incidents:
            match found.basis:
                case Basis.CONFIGURATION_ITEM:
                    assert o.configuration_item == found.key
                case Basis.SERVICE_CATEGORY:
                    assert found.key in (o.service, f"{o.service}/{o.category}")
                case Basis.SIMILAR_TITLE:
                    assert set(found.key.split()) <= title_terms(o.title)
    items: dict[str, int] = {}
    for o in occurrences:
        if o.configuration_item:
            items[o.configuration_item] = items.get(o.configuration_item, 0) + 1
    proposed = {
        c.key for c in candidates(occurrences, threshold) if c.basis is Basis.CONFIGURATION_ITEM
    }
    assert proposed == {code for code, count in items.items() if count >= threshold}
