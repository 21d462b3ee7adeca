"""The register of controlled documents over real HTTP, on SQLite and PostgreSQL: a document is
registered, its file uploaded and named as a version's content, approved by a service manager who
is not its author, published, superseded by its next version (kept), reviewed, listed as due for
review, its superseded version disposed of once its retention has run (the file's bytes gone, the
events kept), and withdrawn; who reads what; the view rebuilt from zero equals the live one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from api.models import DocumentDetails, RetentionSchedule
from application.attachments import received
from application.kinds import DOCUMENT
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.context import Context
from domain.document import add_months, office_day
from domain.document_commands import (
    ApproveDocumentVersion,
    DisposeDocumentVersion,
    PublishDocumentVersion,
    RegisterDocument,
    SetDocumentContent,
    SubmitDocumentVersion,
    WithdrawDocument,
)
from processes.attachment_sweep import Why, files_on_record, survey
from projections.documents import document_register
from service.bootstrap import Services
from tests.conftest import Clock, context
from tests.integration.conftest import Api
from tests.integration.test_requests_problems_api import assert_rebuild_equals_live, ok, refused

pytestmark = pytest.mark.usefixtures("directory")

AUTHOR = "siti.rahma"
OWNER = "andi.wijaya"
MANAGER = "dewi.lestari"
OTHER_MANAGER = "kepala"
CALLER = "budi.santoso"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LINK = "https://dpk.bantenprov.go.id/dokumen/kebijakan-layanan-v2.pdf"
POLICY = {
    "title": "Kebijakan layanan TIK",
    "kind": "policy",
    "owner": OWNER,
    "clauses": ["5.2", "8.1"],
    "medium": "PDF",
    "review_months": 12,
    "retention": {"keep_months": 1, "then": "destroy"},
}


def documents(client: httpx.Client, **params: Any) -> list[str]:
    items = ok(client.get("/api/v1/documents", params=params))["items"]
    return [item["ref"] for item in items]


def versions(row: dict[str, Any]) -> list[tuple[int, str]]:
    return [(v["number"], v["state"]) for v in row["versions"]]


def published_policy(api: Api, clock: Clock) -> tuple[str, dict[str, Any]]:
    """DOC-000001, a policy whose version 1 (a file) is approved and published; and its file."""
    author = api.client(AUTHOR)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    ref: str = ok(author.post("/api/v1/documents", json=POLICY), 201)["ref"]
    uploaded = author.post(
        f"/api/v1/documents/{ref}/attachments",
        files={"file": ("kebijakan.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    file: dict[str, Any] = uploaded.json()
    ok(author.post(f"/api/v1/documents/{ref}/set-content", json={"attachment_id": file["id"]}))
    ok(author.post(f"/api/v1/documents/{ref}/submit-for-approval"))
    ok(manager.post(f"/api/v1/documents/{ref}/approve"))
    ok(api.client(OWNER).post(f"/api/v1/documents/{ref}/publish"))
    return ref, file


def test_a_version_is_approved_by_a_service_manager_not_its_author_then_published(
    api: Api, services: Services, clock: Clock
) -> None:
    author = api.client(AUTHOR)
    owner = api.client(OWNER)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    caller = api.client(CALLER, Role.REQUESTER)

    created = ok(author.post("/api/v1/documents", json=POLICY), 201)
    DocumentDetails.model_validate(created)
    ref = created["ref"]
    assert ref == "DOC-000001"
    assert (created["state"], versions(created)) == ("draft", [(1, "draft")])
    # a draft is not a requester's to read, nor another agent's
    refused(caller.get(f"/api/v1/documents/{ref}"), 404, "record-not-found")
    refused(api.client("agus").get(f"/api/v1/documents/{ref}"), 404, "record-not-found")
    assert documents(caller) == []

    refused(author.post(f"/api/v1/documents/{ref}/submit-for-approval"), 409, "content-missing")
    ok(author.post(f"/api/v1/documents/{ref}/set-content", json={"link": LINK}))
    ok(author.post(f"/api/v1/documents/{ref}/submit-for-approval"))
    # approval: only a service manager; only an approved version is published
    refused(author.post(f"/api/v1/documents/{ref}/approve"), 403, "forbidden")
    refused(owner.post(f"/api/v1/documents/{ref}/publish"), 409, "illegal-transition")
    clock.advance(hours=2)
    approved = ok(manager.post(f"/api/v1/documents/{ref}/approve", json={"comment": "Sesuai"}))
    approval = approved["versions"][0]["approval"]
    assert approval["by"]["id"] == MANAGER
    assert approval["at"] > created["registered_at"]
    published = ok(owner.post(f"/api/v1/documents/{ref}/publish"))
    assert (published["state"], published["current_version"]) == ("published", 1)
    assert published["next_review"] == add_months(office_day(clock()), 12).isoformat()
    DocumentDetails.model_validate(published)

    # a published policy is the requesters' to read (not the staff's notes), not its history
    seen = ok(caller.get(f"/api/v1/documents/{ref}"))
    assert seen["versions"][0]["approval"]["comment"] is None
    assert documents(caller) == [ref]
    refused(caller.get(f"/api/v1/documents/{ref}/history"), 403, "forbidden")
    refused(caller.get(f"/api/v1/documents/{ref}/attachments"), 403, "forbidden")
    linked = caller.get(f"/api/v1/documents/{ref}/content")
    assert (linked.status_code, linked.headers["Location"]) == (303, LINK)

    # the next version: a manager who is its author neither approves nor returns it
    ok(manager.post(f"/api/v1/documents/{ref}/draft-version", json={"link": LINK + "?v=2"}))
    ok(manager.post(f"/api/v1/documents/{ref}/submit-for-approval"))
    refused(manager.post(f"/api/v1/documents/{ref}/approve"), 403, "author-cannot-approve")
    other = api.client(OTHER_MANAGER, Role.SERVICE_MANAGER)
    returned = ok(other.post(f"/api/v1/documents/{ref}/return", json={"reason": "Tanggal?"}))
    assert versions(returned) == [(1, "published"), (2, "draft")]
    assert returned["versions"][1]["returns"][0]["reason"] == "Tanggal?"
    assert_rebuild_equals_live(services, (document_register,))


def test_a_superseded_version_is_kept_and_disposed_of_by_record_after_its_retention(
    api: Api, services: Services, clock: Clock
) -> None:
    ref, file = published_policy(api, clock)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    other = api.client(OTHER_MANAGER, Role.SERVICE_MANAGER)
    ok(manager.post(f"/api/v1/documents/{ref}/draft-version", json={"link": LINK}))
    ok(manager.post(f"/api/v1/documents/{ref}/submit-for-approval"))
    ok(other.post(f"/api/v1/documents/{ref}/approve"))
    clock.advance(days=3)
    second = ok(api.client(OWNER).post(f"/api/v1/documents/{ref}/publish"))
    assert versions(second) == [(1, "superseded"), (2, "published")]
    assert second["versions"][0]["content"]["attachment_id"] == file["id"]  # kept, not deleted
    assert second["versions"][0]["ended"]["why"] == "superseded"

    # the superseded version's file stays until its retention has run, then goes by record
    remove = f"/api/v1/documents/{ref}/attachments/{file['id']}/remove"
    refused(manager.post(remove, json={"reason": "x"}), 403, "controlled-file")
    dispose = f"/api/v1/documents/{ref}/dispose"
    refused(manager.post(dispose, json={"version": 1}), 409, "retention-not-elapsed")
    refused(manager.post(dispose, json={"version": 2}), 409, "not-disposable")
    refused(api.client(OWNER).post(dispose, json={"version": 1}), 403, "forbidden")
    clock.advance(days=32)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    disposed = ok(manager.post(dispose, json={"version": 1}))
    disposition = disposed["versions"][0]["disposition"]
    assert (disposition["disposal"], disposition["sha256"]) == ("destroy", file["sha256"])
    assert services.blobs.get(file["sha256"]) is None
    download = manager.get(f"/api/v1/documents/{ref}/attachments/{file['id']}")
    assert download.status_code == 410, download.text
    history = ok(manager.get(f"/api/v1/documents/{ref}/history"))["events"]
    assert [e["type"] for e in history][-2:] == [
        "Document.VersionDisposed",
        "Document.AttachmentRemoved",
    ]
    refused(manager.post(dispose, json={"version": 1}), 409, "not-disposable")
    assert_rebuild_equals_live(services, (document_register,))


def test_a_review_falls_due_30_days_ahead_and_a_review_without_changes_moves_it(
    api: Api, clock: Clock
) -> None:
    ref, _ = published_policy(api, clock)
    assert documents(api.client(MANAGER, Role.SERVICE_MANAGER), review="due") == []
    clock.advance(days=340)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    assert documents(manager, review="due") == [ref]
    refused(api.client("agus").post(f"/api/v1/documents/{ref}/review"), 403, "not-permitted")
    owner = api.client(OWNER)
    reviewed = ok(owner.post(f"/api/v1/documents/{ref}/review", json={"note": "Masih berlaku"}))
    assert reviewed["next_review"] == add_months(office_day(clock()), 12).isoformat()
    assert reviewed["reviews"][0]["by"]["id"] == OWNER
    assert reviewed["current_version"] == 1  # no new version
    assert documents(manager, review="due") == []


def test_a_withdrawn_document_is_kept_and_no_longer_read_by_requesters(
    api: Api, clock: Clock
) -> None:
    ref, _ = published_policy(api, clock)
    caller = api.client(CALLER, Role.REQUESTER)
    assert ok(caller.get(f"/api/v1/documents/{ref}"))["ref"] == ref
    content = caller.get(f"/api/v1/documents/{ref}/content")
    assert (content.status_code, content.content) == (200, PDF)
    assert content.headers["Content-Type"] == "application/pdf"
    withdraw = f"/api/v1/documents/{ref}/withdraw"
    refused(api.client(OWNER).post(withdraw, json={"reason": "x"}), 403, "forbidden")
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    withdrawn = ok(manager.post(withdraw, json={"reason": "Diganti"}))
    assert (withdrawn["state"], versions(withdrawn)) == ("withdrawn", [(1, "withdrawn")])
    assert withdrawn["withdrawal"]["reason"] == "Diganti"
    refused(manager.post(withdraw, json={"reason": "x"}), 409, "illegal-transition")
    refused(caller.get(f"/api/v1/documents/{ref}"), 404, "record-not-found")
    refused(caller.get(f"/api/v1/documents/{ref}/content"), 404, "record-not-found")
    auditor = api.client("auditor", Role.AUDITOR)
    assert ok(auditor.get(f"/api/v1/documents/{ref}"))["ref"] == ref
    refused(auditor.get(f"/api/v1/documents/{ref}/content"), 404, "attachment-not-found")


def test_the_register_lists_by_kind_clause_owner_and_state_and_holds_external_documents(
    api: Api, clock: Clock
) -> None:
    author = api.client(AUTHOR)
    manager = api.client(MANAGER, Role.SERVICE_MANAGER)
    guide = {
        **POLICY,
        "title": "Panduan INLISLite",
        "kind": "external",
        "origin": "external",
        "source": {"publisher": "Perpustakaan Nasional RI", "version": "3.2"},
        "clauses": ["8.5.1.1"],
        "link": "https://inlislite.perpusnas.go.id/panduan-3.2.pdf",
        "owner": MANAGER,
    }
    external = ok(author.post("/api/v1/documents", json=guide), 201)
    assert external["source"] == {"publisher": "Perpustakaan Nasional RI", "version": "3.2"}
    policy = ok(author.post("/api/v1/documents", json=POLICY), 201)
    # an external document names its source; a bound on every input
    no_source = {**guide, "source": None}
    refused(author.post("/api/v1/documents", json=no_source), 422, "invalid-input")
    refused(
        author.post("/api/v1/documents", json={**POLICY, "review_months": 0}), 422, "invalid-input"
    )
    refused(
        author.post("/api/v1/documents", json={**POLICY, "clauses": ["x"]}), 422, "invalid-input"
    )

    assert documents(manager) == [policy["ref"], external["ref"]]
    assert documents(manager, kind="external") == [external["ref"]]
    assert documents(manager, clause="8.5.1.1") == [external["ref"]]
    assert documents(manager, clause="8.5") == []  # a clause, never a prefix of one
    assert documents(manager, clause="8.1") == [policy["ref"]]
    assert documents(manager, owner=OWNER) == [policy["ref"]]
    assert documents(manager, state="published") == []
    # the one who registered a draft, and its owner, read it; other agents do not
    assert documents(author) == [policy["ref"], external["ref"]]
    assert documents(api.client(OWNER)) == [policy["ref"]]
    assert documents(api.client("agus")) == []
    # an external guide published is the staff's, never a requester's
    ok(author.post(f"/api/v1/documents/{external['ref']}/submit-for-approval"))
    ok(manager.post(f"/api/v1/documents/{external['ref']}/approve"))
    ok(manager.post(f"/api/v1/documents/{external['ref']}/publish"))
    assert documents(api.client("agus")) == [external["ref"]]
    assert documents(api.client(CALLER, Role.REQUESTER)) == []


def test_the_retention_schedule_is_served_to_every_reader(api: Api) -> None:
    for client in (api.client(), api.client(CALLER, Role.REQUESTER)):
        body = ok(client.get("/api/v1/retention"))
        RetentionSchedule.model_validate(body)
        assert body["rule"].startswith("Records are never deleted; what expires is access.")
        (incident,) = [entry for entry in body["records"] if entry["record"] == "incident"]
        assert (incident["kinds"], incident["class"]) == (["incident"], "operational")


def test_a_destroyed_versions_bytes_left_by_a_crash_are_the_sweeps_to_delete(
    services: Services, clock: Clock
) -> None:
    """The disposition is written, then the bytes deleted: a crash between leaves them, and the
    sweep (docs/attachments.md) lists them as `removed`, as it does a file removed for privacy."""
    agent = context(Actor(id=AUTHOR, role=Role.AGENT), clock())
    manager = Actor(id=MANAGER, role=Role.SERVICE_MANAGER)

    def run(command: Any, ref: Any = None, ctx: Context = agent) -> UUID:
        return services.desk.execute(Submission(ctx, command, DOCUMENT, ref=ref)).record_id

    document = run(RegisterDocument.model_validate(POLICY))
    attach = received(services.blobs, "kebijakan.pdf", PDF, limit=1 << 20)
    run(attach, document)
    run(SetDocumentContent(attachment_id=attach.attachment_id), document)
    run(SubmitDocumentVersion(), document)
    run(ApproveDocumentVersion(), document, context(manager, clock()))
    run(PublishDocumentVersion(), document, context(manager, clock()))
    run(WithdrawDocument(reason="Diganti"), document, context(manager, clock()))
    clock.advance(days=40)
    run(
        DisposeDocumentVersion(version=1), document, context(manager, clock())
    )  # no route: no delete

    assert services.blobs.get(attach.sha256) == PDF  # as a crash would leave it
    files = files_on_record(services.desk)
    assert files[attach.sha256] is False
    found = survey(services.blobs.held(), files, datetime.now(UTC) + timedelta(days=1))
    assert [(s.blob.name, s.why) for s in found.strays] == [(attach.sha256, Why.REMOVED)]
