"""Full-text search over real HTTP, one contract on SQLite (FTS5) and PostgreSQL (tsvector): the
same hits, ranked, with snippets; Indonesian affixes, case and diacritics folded; numbers found
whole; every answer within the caller's reach, and work notes found by staff only. The index is a
view: rebuilt from history, it answers as the live one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.actors import Role
from domain.search_terms import MARK_CLOSE, MARK_OPEN, terms
from projections.runner import ProjectionRunner
from projections.search_index import search, search_index
from service.bootstrap import Services
from tests.conftest import context
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import ok

pytestmark = pytest.mark.usefixtures("directory")

SERANG = "perpus-kota-serang"
LEBAK = "perpus-kab-lebak"
KIOSK = {
    "title": "Kiosk Serang menolak peminjaman",
    "description": "Kartu anggota 3604.2023.00017 ditolak saat meminjam buku di kios lantai 2.",
    "service": "kiosks-gates",
    "caller": "budi.santoso",
    "impact": "medium",
    "urgency": "high",
}


def hits(client: httpx.Client, q: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get("/api/v1/search", params={"q": q, **params}))[
        "items"
    ]
    return found


def refs(client: httpx.Client, q: str, **params: Any) -> list[str]:
    return [hit["ref"] for hit in hits(client, q, **params)]


def log(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    made: dict[str, Any] = ok(client.post("/api/v1/incidents", json={**KIOSK, **fields}), 201)
    return made


def publish_article(api: Api, title: str, body: str) -> str:
    author = api.client("siti.rahma", Role.AGENT)
    reviewer = api.client("andi.wijaya", Role.AGENT)
    article = ok(
        author.post(
            "/api/v1/knowledge-articles",
            json={"title": title, "body": body, "keywords": ["kiosk"]},
        ),
        201,
    )
    ref: str = article["ref"]
    ok(author.post(f"/api/v1/knowledge-articles/{ref}/submit-for-review"))
    ok(reviewer.post(f"/api/v1/knowledge-articles/{ref}/publish"))
    return ref


def test_one_search_contract_on_both_backends(api: Api) -> None:
    """The same questions answer the same records, best first, on SQLite and on PostgreSQL."""
    desk = api.client("siti.rahma", Role.AGENT, organisation=SERANG)
    first = log(desk)
    second = log(desk, title="Printer kartu macet", description="Kartu anggota tidak tercetak.")
    third = log(
        desk,
        title="Kiosk kiosk kiosk",
        description="KIOSK lagi: kiosk di Serang mati, kiosk di Lebak juga.",
    )

    # Given three incidents; when an agent searches, then:
    # affixes: "pinjam" finds "peminjaman" and "meminjam"; the query's own affixes too
    assert refs(desk, "pinjam") == [first["ref"]]
    assert refs(desk, "dipinjamkan") == [first["ref"]]
    # case and diacritics fold
    assert refs(desk, "KÍÕSK sérang") == refs(desk, "kiosk serang")
    # numbers and ids whole: the record's number, a member card
    assert refs(desk, first["ref"]) == [first["ref"]]
    assert refs(desk, first["ref"].lower()) == [first["ref"]]
    assert refs(desk, "3604.2023.00017") == [first["ref"]]
    assert refs(desk, "3604") == []
    # every word must be there
    assert set(refs(desk, "kartu anggota")) == {first["ref"], second["ref"]}
    assert refs(desk, "kartu printer") == [second["ref"]]
    assert refs(desk, "kartu gajah") == []
    # ranked: the incident that says "kiosk" most comes first, and ranks fall
    ranked = hits(desk, "kiosk")
    assert [h["ref"] for h in ranked] == [third["ref"], first["ref"]]
    assert ranked[0]["rank"] > ranked[1]["rank"]
    # a hit: kind, ref, id, title, snippet with the match marked, a URL that reads it
    hit = hits(desk, "tercetak")[0]
    assert hit["kind"] == "incident"
    assert hit["title"] == "Printer kartu macet"
    assert hit["snippet"] == f"Kartu anggota tidak {MARK_OPEN}tercetak{MARK_CLOSE}."
    assert ok(desk.get(hit["url"]))["ref"] == second["ref"]
    # pages follow a cursor, each hit once
    seen, cursor = [], None
    while True:
        params = {"q": "kartu", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = ok(desk.get("/api/v1/search", params=params))
        seen += [h["ref"] for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted({first["ref"], second["ref"]})


def test_work_notes_are_found_by_staff_and_never_by_the_caller(api: Api) -> None:
    desk = api.client("siti.rahma", Role.AGENT)
    budi = api.client("budi.santoso", Role.REQUESTER)
    incident = log(desk)
    ref = incident["ref"]
    note = "Kabel daya kiosk digigit tikus, vendor dipanggil"
    ok(desk.post(f"/api/v1/incidents/{ref}/add-work-note", json={"text": note}))
    ok(desk.post(f"/api/v1/incidents/{ref}/add-comment", json={"text": "Teknisi sedang menuju"}))

    assert refs(desk, "tikus") == [ref]
    assert "tikus" in hits(desk, "tikus")[0]["snippet"]
    assert refs(budi, "tikus") == []  # the caller's own incident, but a staff note
    assert refs(budi, "teknisi") == [ref]  # a public comment is theirs to find
    assert ok(budi.get("/api/v1/incidents", params={"q": "tikus"}))["items"] == []
    listed = ok(desk.get("/api/v1/incidents", params={"q": "tikus"}))["items"]
    assert [row["ref"] for row in listed] == [ref]
    # a snippet never shows a caller a note, even when a public word matched
    assert all("tikus" not in (h["snippet"] or "") for h in hits(budi, "kiosk"))


def test_a_search_keeps_to_the_callers_reach(api: Api) -> None:
    serang = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    ours = log(serang)["ref"]
    theirs = log(lebak)["ref"]
    someone_elses = log(lebak, caller="ani.wijaya")["ref"]
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    budi = api.client("budi.santoso", Role.REQUESTER)

    assert refs(serang, "kiosk") == [ours]
    assert set(refs(lebak, "kiosk")) == {theirs, someone_elses}
    assert set(refs(manager, "kiosk")) == {ours, theirs, someone_elses}
    assert set(refs(budi, "kiosk")) == {ours, theirs}  # his own, in either library
    # a record out of reach is not found by its number either
    assert refs(serang, theirs) == []
    assert ok(serang.get("/api/v1/incidents", params={"q": theirs}))["items"] == []


def test_requesters_find_published_articles_and_known_errors_before_logging(api: Api) -> None:
    """Self-help: a member searches the published knowledge before logging a ticket."""
    budi = api.client("budi.santoso", Role.REQUESTER)
    desk = api.client("siti.rahma", Role.AGENT)
    article = publish_article(
        api, "Kartu tertelan di kiosk", "Tekan tombol merah di panel belakang kiosk."
    )
    draft = ok(
        desk.post(
            "/api/v1/knowledge-articles",
            json={"title": "Draf: kiosk panel", "body": "Belum selesai ditulis, tombol merah."},
        ),
        201,
    )["ref"]
    problem = ok(
        desk.post(
            "/api/v1/problems",
            json={"title": "Perpanjangan daring gagal", "description": "Tombol RENEW diam."},
        ),
        201,
    )["ref"]
    hidden = ok(desk.post("/api/v1/problems", json={"title": "Perpanjangan server lambat"}), 201)[
        "ref"
    ]
    ok(desk.post(f"/api/v1/problems/{problem}/start-investigation"))
    ok(desk.post(f"/api/v1/problems/{problem}/record-root-cause", json={"root_cause": "API"}))
    ok(
        desk.post(
            f"/api/v1/problems/{problem}/publish-known-error",
            json={"symptoms": "Tombol perpanjang tidak bereaksi"},
        )
    )

    assert refs(budi, "tombol merah") == [article]  # not the draft
    assert set(refs(desk, "tombol merah")) == {article, draft}
    found = hits(budi, "perpanjangan")
    assert [(h["kind"], h["ref"]) for h in found] == [("known_error", problem)]
    assert set(refs(desk, "perpanjangan")) == {problem, hidden}
    assert refs(budi, "perpanjangan", kinds="knowledge_article") == []
    assert refs(desk, "perpanjangan", kinds="problem") != []
    listed = ok(desk.get("/api/v1/known-errors", params={"q": "perpanjang"}))["items"]
    assert [row["problem"] for row in listed] == [problem]
    articles = ok(budi.get("/api/v1/knowledge-articles", params={"q": "tertelan"}))["items"]
    assert [row["ref"] for row in articles] == [article]


def test_a_requester_reads_the_known_error_a_search_links_to_without_its_internals(
    api: Api,
) -> None:
    budi = api.client("budi.santoso", Role.REQUESTER)
    desk = api.client("siti.rahma", Role.AGENT)
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    made = ok(
        desk.post(
            "/api/v1/problems",
            json={
                "title": "Perpanjangan daring gagal",
                "description": "Investigasi: log server Batupusaka menunjukkan timeout.",
                "service": "batupusaka",
            },
        ),
        201,
    )
    problem, problem_id = made["ref"], made["id"]
    unpublished = ok(desk.post("/api/v1/problems", json={"title": "Perpanjangan lambat"}), 201)
    ok(desk.post(f"/api/v1/problems/{problem}/start-investigation"))
    ok(
        desk.post(
            f"/api/v1/problems/{problem}/record-root-cause",
            json={"root_cause": "Pembulatan denda kecil di API sirkulasi"},
        )
    )
    ok(
        desk.post(
            f"/api/v1/problems/{problem}/publish-workaround",
            json={"workaround": "Perpanjang di meja sirkulasi"},
        )
    )

    # Given a problem not yet a known error: no one reads it as one
    for client in (budi, desk):
        assert client.get(f"/api/v1/known-errors/{problem}").status_code == 404

    ok(
        desk.post(
            f"/api/v1/problems/{problem}/publish-known-error",
            json={"symptoms": "Tombol perpanjang tidak bereaksi"},
        )
    )

    # When a member finds it by searching, and follows the hit's link
    [hit] = hits(budi, "perpanjangan")
    assert (hit["kind"], hit["url"]) == ("known_error", f"/api/v1/known-errors/{problem_id}")
    read = budi.get(hit["url"])

    # Then they read its title, service, symptoms and workaround, and nothing staff-only
    assert read.status_code == 200, read.text
    assert {k: read.json()[k] for k in ("problem", "title", "service", "state")} == {
        "problem": problem,
        "title": "Perpanjangan daring gagal",
        "service": "batupusaka",
        "state": "known_error",
    }
    assert read.json()["symptoms"] == "Tombol perpanjang tidak bereaksi"
    assert read.json()["workaround"] == "Perpanjang di meja sirkulasi"
    for internal in ("denda", "timeout", "investigator", "root_cause", "siti.rahma"):
        assert internal not in read.text, internal
    assert ok(budi.get(f"/api/v1/known-errors/{problem.lower()}")) == read.json()  # by number
    # staff of every library read it alike (published: the province's)
    assert ok(lebak.get(f"/api/v1/known-errors/{problem}")) == read.json()
    # the problem itself stays the staff's; its root cause and description are not searched
    assert budi.get(f"/api/v1/problems/{problem}").status_code == 403  # staff records
    assert hits(budi, "denda") == []
    assert hits(budi, "timeout") == []
    assert refs(desk, "denda") == [problem]
    # a problem that is no known error, or none at all, answers as missing
    for missing in (unpublished["ref"], "PRB-999999", "00000000-0000-4000-8000-000000000000"):
        gone = budi.get(f"/api/v1/known-errors/{missing}")
        assert gone.status_code == 404, (missing, gone.text)
        assert gone.headers["content-type"] == "application/problem+json"


def test_searches_that_found_nothing_are_counted_for_the_knowledge_owner(api: Api) -> None:
    budi = api.client("budi.santoso", Role.REQUESTER)
    ani = api.client("ani.wijaya", Role.REQUESTER)
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    publish_article(api, "Kartu tertelan di kiosk", "Tekan tombol merah.")

    # Given members searching before they log a ticket
    assert hits(budi, "Mengganti kartu hilang") == []
    assert hits(ani, "kartu HILANG ganti") == []  # the same words, in any order, any affixes
    assert hits(ani, "kartu tertelan") != []  # found: not counted
    assert hits(budi, "kartu 3604.2023.00017") == []  # a member's id is not kept
    assert hits(budi, "INC-000999") == []  # nothing left once the number is out

    # Then the knowledge owner reads what was looked for in vain, the most often first
    missed = ok(manager.get("/api/v1/search/misses"))["items"]
    assert [(m["terms"], m["count"]) for m in missed] == [("ganti hilang kartu", 2), ("kartu", 1)]
    assert missed[0]["last_seen"] >= missed[0]["first_seen"]
    assert ok(manager.get("/api/v1/search/misses", params={"limit": 1}))["items"] == missed[:1]
    # agents and requesters do not read it
    refused = api.client("siti.rahma", Role.AGENT).get("/api/v1/search/misses")
    assert refused.status_code == 403
    assert budi.get("/api/v1/search/misses").status_code == 403


def test_every_input_is_bounded(api: Api) -> None:
    desk = api.client("siti.rahma", Role.AGENT)
    for params in (
        {},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "kiosk", "limit": 0},
        {"q": "kiosk", "limit": 201},
        {"q": "kiosk", "kinds": "spaceship"},
        {"q": "kiosk", "cursor": "not-ours"},
        {"q": "kiosk", "cursor": "bjo0Mg"},  # a list's cursor (n:42), not a search's
    ):
        answer = desk.get("/api/v1/search", params=params)
        assert answer.status_code == 422, (params, answer.text)
    assert desk.get("/api/v1/incidents", params={"q": "x" * 201}).status_code == 422
    # words with no terms at all (punctuation) find nothing, and answer 200
    assert hits(desk, "!!! ??? ---") == []


# -- the index is a projection -------------------------------------------------------------------

#: Any text a command takes (no control characters: domain/text.py refuses them).
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=80)


def test_any_text_stored_is_found_by_a_word_it_contains(api: Api) -> None:
    desk = api.client("siti.rahma", Role.AGENT)

    @settings(max_examples=15, suppress_health_check=list(HealthCheck), deadline=None)
    @given(title=words.filter(lambda t: t.strip() != ""), description=words, pick=st.integers())
    def found(title: str, description: str, pick: int) -> None:
        made = log(desk, title=title[:200], description=description)
        said = terms(f"{title[:200]} {description}")
        if not said:
            return
        word = said[pick % len(said)]
        assert made["ref"] in refs(desk, word, limit=200), (word, title, description)

    found()


def test_the_rebuilt_index_answers_as_the_live_one(api: Api, services: Services) -> None:
    desk = api.client("siti.rahma", Role.AGENT, organisation=SERANG)
    budi = api.client("budi.santoso", Role.REQUESTER)

    @settings(max_examples=6, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.lists(st.sampled_from(SAYINGS), min_size=1, max_size=6))
    def rebuilt(sayings: list[tuple[str, str]]) -> None:
        ref = log(desk)["ref"]
        for action, text in sayings:
            body = {"text": text} if action != "resolve" else {"code": "fixed", "notes": text}
            desk.post(f"/api/v1/incidents/{ref}/{action}", json=body)
        asked = ("kiosk", "tikus", "kabel", "pinjam", ref, "vendor ganti")
        before = _answers(services, asked)
        live = services.views.rows(search_index)
        services.views.reset(search_index)
        ProjectionRunner(
            services.desk.recorder, services.desk.mapper, services.views, [search_index]
        ).catch_up()
        assert services.views.rows(search_index) == live
        assert _answers(services, asked) == before
        assert refs(budi, ref) == [ref]

    rebuilt()


SAYINGS = [
    ("add-work-note", "Kabel dicabut tikus"),
    ("add-comment", "Vendor akan mengganti kabel"),
    ("add-comment", "Silakan pinjam di meja sirkulasi"),
    ("resolve", "Kiosk diganti vendor"),
]


def _answers(services: Services, asked: tuple[str, ...]) -> dict[tuple[str, str], list[str]]:
    from tests.conftest import AGENT, CALLER

    return {
        (who.id, q): [h.ref for h in search(services.views, context(who), q, limit=200).hits]
        for who in (AGENT, CALLER)
        for q in asked
    }
