"""Knowledge articles over real HTTP, on SQLite and PostgreSQL: drafted, reviewed by someone
other than the author, published for requesters, linked to known errors, retired; the view
rebuilds from zero equal to the live one. The kind is one registry entry on the one pipeline."""

from __future__ import annotations

from typing import Any

import httpx

from application.kinds import KINDS, KNOWLEDGE_ARTICLE
from application.seed import seed
from domain.actors import Role
from domain.knowledge import ARTICLE_COMMANDS, KnowledgeArticle
from projections.knowledge import knowledge_articles
from service.bootstrap import Services
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import (
    assert_rebuild_equals_live,
    ok,
    refused,
)

ARTICLE = {
    "title": "Kiosk swallows the member card",
    "body": "Restart the kiosk from the back panel; the card drops into the tray.",
    "service": "kiosks-gates",
    "keywords": ["kiosk", "kartu anggota"],
}
LEBAK = "perpus-kab-lebak"
SERANG = "perpus-kota-serang"


def draft(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    return ok(client.post("/api/v1/knowledge-articles", json={**ARTICLE, **fields}), 201)


def test_an_article_is_reviewed_by_another_and_read_by_requesters_once_published(
    api: Api, services: Services
) -> None:
    author = api.client("siti.rahma", Role.AGENT)
    reviewer = api.client("andi.wijaya", Role.AGENT)
    member = api.client("budi.santoso", Role.REQUESTER)

    article = draft(author)
    ref = article["ref"]
    assert ref == "KB-000001"
    assert (article["state"], article["author"]) == ("draft", "siti.rahma")
    # a draft is the staff's: a requester is answered as if it did not exist
    refused(member.get(f"/api/v1/knowledge-articles/{ref}"), 404, "record-not-found")
    assert ok(member.get("/api/v1/knowledge-articles"))["items"] == []

    ok(author.post(f"/api/v1/knowledge-articles/{ref}/submit-for-review"))
    refused(author.post(f"/api/v1/knowledge-articles/{ref}/publish"), 403, "not-permitted")
    sent_back = reviewer.post(
        f"/api/v1/knowledge-articles/{ref}/request-changes",
        json={"reason": "Say which panel: the kiosks at Serang have two"},
    )
    assert ok(sent_back)["state"] == "draft"
    revised = {**ARTICLE, "body": "Restart the kiosk from the left back panel."}
    revised.pop("service")
    ok(author.post(f"/api/v1/knowledge-articles/{ref}/revise", json=revised))
    ok(author.post(f"/api/v1/knowledge-articles/{ref}/submit-for-review"))
    published = ok(reviewer.post(f"/api/v1/knowledge-articles/{ref}/publish"))
    assert published["state"] == "published"
    assert published["review"]["by"]["id"] == "andi.wijaya"

    read = ok(member.get(f"/api/v1/knowledge-articles/{ref}"))
    assert read["body"] == "Restart the kiosk from the left back panel."
    assert read["review"]["outcome"] == "published"
    assert "kiosks at Serang" not in str(read)  # the review's words are the staff's
    assert [a["ref"] for a in ok(member.get("/api/v1/knowledge-articles"))["items"]] == [ref]
    refused(member.get(f"/api/v1/knowledge-articles/{ref}/history"), 403, "forbidden")
    refused(
        member.post(f"/api/v1/knowledge-articles/{ref}/retire", json={"reason": "x"}),
        403,
        "forbidden",
    )

    history = ok(author.get(f"/api/v1/knowledge-articles/{ref}/history"))
    assert [e["type"] for e in history["events"]] == [
        "KnowledgeArticle.Drafted",
        "KnowledgeArticle.SubmittedForReview",
        "KnowledgeArticle.ChangesRequested",
        "KnowledgeArticle.Revised",
        "KnowledgeArticle.SubmittedForReview",
        "KnowledgeArticle.Published",
    ]
    retired = ok(
        author.post(
            f"/api/v1/knowledge-articles/{ref}/retire",
            json={"reason": "New kiosks from 2027 eject the card themselves"},
        )
    )
    assert retired["state"] == "retired"
    refused(member.get(f"/api/v1/knowledge-articles/{ref}"), 404, "record-not-found")
    assert_rebuild_equals_live(services, (knowledge_articles,))


def test_an_article_names_the_known_errors_it_explains(api: Api, services: Services) -> None:
    desk = api.client("siti.rahma", Role.AGENT)
    problem = ok(
        desk.post("/api/v1/problems", json={"title": "Renewal fails for members with fines"}), 201
    )
    ref = problem["ref"]
    ok(desk.post(f"/api/v1/problems/{ref}/start-investigation"))
    ok(desk.post(f"/api/v1/problems/{ref}/record-root-cause", json={"root_cause": "The API"}))
    ok(desk.post(f"/api/v1/problems/{ref}/publish-known-error", json={"symptoms": "No renew"}))
    article = draft(desk)

    linked = ok(
        desk.post(
            f"/api/v1/knowledge-articles/{article['ref']}/link-problem", json={"problem": ref}
        )
    )
    assert [(p["ref"], p["known_error"]) for p in linked["problems"]] == [(ref, True)]
    again = desk.post(
        f"/api/v1/knowledge-articles/{article['ref']}/link-problem", json={"problem": ref}
    )
    refused(again, 409, "already-linked")
    missing = desk.post(
        f"/api/v1/knowledge-articles/{article['ref']}/link-problem", json={"problem": "PRB-000099"}
    )
    refused(missing, 404, "record-not-found")


def test_drafts_stay_in_their_library_and_published_articles_reach_every_library(
    api: Api,
) -> None:
    lebak = api.client("rina", Role.AGENT, organisation=LEBAK)
    serang = api.client("agus", Role.AGENT, organisation=SERANG)
    article = draft(lebak)
    ref = article["ref"]
    refused(serang.get(f"/api/v1/knowledge-articles/{ref}"), 404, "record-not-found")
    refused(serang.post(f"/api/v1/knowledge-articles/{ref}/publish"), 404, "record-not-found")
    assert ok(serang.get("/api/v1/knowledge-articles"))["items"] == []

    ok(lebak.post(f"/api/v1/knowledge-articles/{ref}/submit-for-review"))
    ok(
        api.client("dewi", Role.AGENT, organisation=LEBAK).post(
            f"/api/v1/knowledge-articles/{ref}/publish"
        )
    )
    assert ok(serang.get(f"/api/v1/knowledge-articles/{ref}"))["state"] == "published"
    assert [a["ref"] for a in ok(serang.get("/api/v1/knowledge-articles"))["items"]] == [ref]


def test_the_knowledge_article_is_one_entry_in_the_registry_of_kinds() -> None:
    assert KINDS["knowledge_article"] is KNOWLEDGE_ARTICLE
    assert KNOWLEDGE_ARTICLE.aggregate is KnowledgeArticle
    assert KNOWLEDGE_ARTICLE.prefix == "KB"
    assert KNOWLEDGE_ARTICLE.commands == ARTICLE_COMMANDS
    assert KNOWLEDGE_ARTICLE.detail is knowledge_articles


def test_a_catalogue_item_names_the_published_articles_its_fulfilment_follows(
    api: Api, services: Services
) -> None:
    seed(services.desk)
    author = api.client("siti.rahma", Role.AGENT)
    reviewer = api.client("andi.wijaya", Role.AGENT)
    manager = api.client("dewi.lestari", Role.SERVICE_MANAGER)
    member = api.client("budi.santoso", Role.REQUESTER)
    ref = draft(author, title="Reprinting a member card")["ref"]
    item = "/api/v1/catalogue-items/card-reprint"

    # a draft may still change: it is not yet instructions
    draft_linked = manager.post(f"{item}/link-article", json={"article": ref})
    refused(draft_linked, 409, "article-not-published")
    ok(author.post(f"/api/v1/knowledge-articles/{ref}/submit-for-review"))
    ok(reviewer.post(f"/api/v1/knowledge-articles/{ref}/publish"))
    # the catalogue is kept by its managers, not by whoever works the requests
    refused(author.post(f"{item}/link-article", json={"article": ref}), 403, "forbidden")
    linked = ok(manager.post(f"{item}/link-article", json={"article": ref}))
    assert [(a["ref"], a["title"]) for a in linked["knowledge"]] == [
        (ref, "Reprinting a member card")
    ]
    assert linked["knowledge"][0]["linked_by"]["id"] == "dewi.lestari"
    refused(manager.post(f"{item}/link-article", json={"article": ref}), 409, "already-linked")
    missing = manager.post(f"{item}/link-article", json={"article": "KB-000099"})
    refused(missing, 404, "record-not-found")

    # whoever may request it reads the instructions it follows
    read = ok(member.get(item))
    assert [a["ref"] for a in read["knowledge"]] == [ref]

    unlinked = manager.post(
        f"{item}/unlink-article", json={"article": ref, "reason": "Replaced by the new kiosks"}
    )
    assert ok(unlinked)["knowledge"] == []
    again = manager.post(f"{item}/unlink-article", json={"article": ref, "reason": "Again"})
    refused(again, 409, "not-linked")
    history = ok(member.get(f"{item}/history"))
    assert [e["type"] for e in history["events"]][-2:] == [
        "CatalogueItem.ArticleLinked",
        "CatalogueItem.ArticleUnlinked",
    ]
