"""Controlled documents (domain/document.py), Given / When / Then.

Given: a document's history, made by its own methods and replayed through `project` (so every
rule is decided on replayed state, as the store gives it).
When: one method.
Then: exactly the new events, or the named error with nothing recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given as given_values
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import SYSTEM, Actor, Role
from domain.document import (
    AttachmentRemoved,
    AuthorCannotApprove,
    ContentMissing,
    ContentRef,
    ControlledFile,
    Disposal,
    Document,
    DocumentEvent,
    DocumentKind,
    DocumentState,
    NotDisposable,
    Origin,
    Retention,
    RetentionNotElapsed,
    Source,
    VersionState,
    add_months,
    office_day,
    review_due,
)
from domain.document_commands import (
    DOCUMENT_COMMANDS,
    RegisterDocument,
    SetDocumentContent,
)
from domain.errors import DomainError, IllegalTransition, NothingChanged, NotPermitted
from tests.conftest import AGENT, MANAGER, T0, context

DOC_ID = UUID("5d0c0000-0000-4000-8000-000000000001")
FILE = UUID("5d0c0000-0000-4000-8000-0000000000f1")
SHA = "ab" * 32
OWNER = Actor(id="andi.wijaya", role=Role.AGENT)
OTHER_MANAGER = Actor(id="rudi.hartono", role=Role.SERVICE_MANAGER)
AUDITOR = Actor(id="nina.auditor", role=Role.AUDITOR)
ADMIN = Actor(id="admin", role=Role.ADMIN)
LINK = "https://intranet.dpk.bantenprov.go.id/kebijakan-layanan.pdf"
RETENTION = Retention(keep_months=24, then=Disposal.DESTROY)


def later(days: float) -> datetime:
    return T0 + timedelta(days=days)


def registered(
    by: Actor = AGENT, link: str | None = LINK, retention: Retention = RETENTION
) -> Document:
    return Document.register(
        context(by),
        id=DOC_ID,
        number=1,
        title="Kebijakan layanan TIK",
        kind=DocumentKind.POLICY,
        owner=OWNER.id,
        clauses=["5.2", "8.1"],
        origin=Origin.INTERNAL,
        source=None,
        medium="PDF",
        review_months=12,
        retention=retention,
        link=link,
    )


def replayed(document: Document) -> Document:
    """The document as the store gives it back: its events replayed."""
    events = document.collect_events()
    document._pending = events  # left as they were, for the next replay
    again = Document.project(None, events)
    assert again is not None
    return again


def then(document: Document, when: Callable[[Document], Any]) -> list[DocumentEvent]:
    """The events `when` records on a replayed copy of the document."""
    again = replayed(document)
    again.collect_events()
    when(again)
    return [e for e in again.collect_events() if isinstance(e, DocumentEvent)]


def refused(document: Document, when: Callable[[Document], Any], error: type[Exception]) -> None:
    again = replayed(document)
    again.collect_events()
    with pytest.raises(error):
        when(again)
    assert again.collect_events() == []


def step(document: Document, when: Callable[[Document], Any]) -> Document:
    """The document after `when`: its whole history, one step longer."""
    when(document)
    return document


def submitted(by: Actor = AGENT) -> Document:
    return step(registered(by), lambda d: d.submit_for_approval(context(by)))


def approved() -> Document:
    return step(submitted(), lambda d: d.approve(context(MANAGER)))


def published(at: datetime = T0) -> Document:
    return step(approved(), lambda d: d.publish(context(MANAGER, at)))


def second_published(at: datetime) -> Document:
    """Version 2 published at `at` (version 1 superseded then)."""
    document = published()
    document.draft_version(context(AGENT), link=LINK + "?v=2")
    document.submit_for_approval(context(AGENT))
    document.approve(context(OTHER_MANAGER))
    document.publish(context(MANAGER, at))
    return document


# -- registration ---------------------------------------------------------------------------------


def test_a_document_is_registered_with_its_first_version_a_draft() -> None:
    document = replayed(registered())
    assert document.state is DocumentState.DRAFT
    assert document.versions[1].state is VersionState.DRAFT
    assert document.versions[1].authors == {AGENT.id}
    assert document.current is None


def test_an_external_document_names_its_source_and_an_internal_one_none() -> None:
    base: dict[str, Any] = {
        "title": "Panduan INLISLite",
        "kind": "external",
        "owner": OWNER.id,
        "medium": "PDF",
        "review_months": 12,
        "retention": {"keep_months": 60, "then": "archive"},
    }
    source = {"publisher": "Perpustakaan Nasional RI", "version": "3.2"}
    RegisterDocument(**base, origin="external", source=source)
    with pytest.raises(ValidationError):
        RegisterDocument(**base, origin="external")
    with pytest.raises(ValidationError):
        RegisterDocument(**base, origin="internal", source=source)
    assert Source(**source).version == "3.2"


@pytest.mark.parametrize("clause", ["8.5.1.1", "7.5", "10.2", "4"])
def test_a_clause_is_a_clause_number(clause: str) -> None:
    assert RegisterDocument(
        title="t", kind="plan", owner="x", medium="PDF", review_months=1,
        retention={"keep_months": 0, "then": "archive"}, clauses=[clause],
    ).clauses == [clause]  # fmt: skip


@pytest.mark.parametrize("clause", ["", "x", "8.5.1.1.1", "3.1", "8 5"])
def test_anything_else_is_no_clause(clause: str) -> None:
    with pytest.raises(ValidationError):
        RegisterDocument(
            title="t", kind="plan", owner="x", medium="PDF", review_months=1,
            retention={"keep_months": 0, "then": "archive"}, clauses=[clause],
        )  # fmt: skip


def test_content_is_a_file_or_a_link_never_both_nor_neither() -> None:
    SetDocumentContent(link=LINK)
    SetDocumentContent(attachment_id=FILE)
    with pytest.raises(ValidationError):
        SetDocumentContent()
    with pytest.raises(ValidationError):
        SetDocumentContent(attachment_id=FILE, link=LINK)
    with pytest.raises(ValidationError):
        SetDocumentContent(link="javascript:alert(1)")


# -- approval: by another person than the author --------------------------------------------------


def test_a_draft_without_content_is_not_submitted() -> None:
    refused(registered(link=None), lambda d: d.submit_for_approval(context()), ContentMissing)


def test_a_service_manager_who_is_not_the_author_approves_with_who_and_when() -> None:
    (event,) = then(submitted(), lambda d: d.approve(context(MANAGER, later(1)), comment="ok"))
    assert event.type_name == "Document.Approved"
    assert (event.actor, event.timestamp, event.version) == (MANAGER, later(1), 1)  # type: ignore[attr-defined]


@pytest.mark.parametrize("approver", [MANAGER, ADMIN], ids=["service manager", "admin"])
def test_the_author_of_a_version_never_approves_it_even_as_a_service_manager(
    approver: Actor,
) -> None:
    document = submitted(by=approver)
    refused(document, lambda d: d.approve(context(approver)), AuthorCannotApprove)
    refused(document, lambda d: d.return_version(context(approver), reason="x"), NotPermitted)


def test_whoever_set_a_versions_content_is_its_author_too() -> None:
    document = registered(link=None)
    document.set_content(context(MANAGER), ContentRef(link=LINK))
    document.submit_for_approval(context(AGENT))
    refused(document, lambda d: d.approve(context(MANAGER)), AuthorCannotApprove)
    assert then(document, lambda d: d.approve(context(OTHER_MANAGER)))


@pytest.mark.parametrize("who", [AGENT, OWNER, AUDITOR], ids=["agent", "owner", "auditor"])
def test_only_a_service_manager_or_admin_approves(who: Actor) -> None:
    refused(submitted(by=MANAGER), lambda d: d.approve(context(who)), NotPermitted)


def test_a_returned_version_is_a_draft_again_with_the_reason() -> None:
    (event,) = then(submitted(), lambda d: d.return_version(context(MANAGER), reason="Langkah 3"))
    assert event.type_name == "Document.Returned"
    document = step(submitted(), lambda d: d.return_version(context(MANAGER), reason="x"))
    assert replayed(document).versions[1].state is VersionState.DRAFT


def test_a_draft_is_not_approved_before_it_is_submitted() -> None:
    refused(registered(), lambda d: d.approve(context(MANAGER)), IllegalTransition)


# -- only approved versions publish; superseding keeps the old version -----------------------------


@pytest.mark.parametrize("history", [registered, submitted], ids=["draft", "submitted"])
def test_only_an_approved_version_is_published(history: Callable[[], Document]) -> None:
    refused(history(), lambda d: d.publish(context(MANAGER)), IllegalTransition)


def test_publishing_makes_the_approved_version_current() -> None:
    (event,) = then(approved(), lambda d: d.publish(context(OWNER)))
    assert event.type_name == "Document.Published"
    document = replayed(published())
    assert document.state is DocumentState.PUBLISHED
    assert document.current == 1
    assert document.versions[1].state is VersionState.PUBLISHED


def test_neither_an_agent_nor_an_auditor_publishes_a_document_they_do_not_own() -> None:
    refused(approved(), lambda d: d.publish(context(AUDITOR)), NotPermitted)
    refused(approved(), lambda d: d.publish(context(AGENT)), NotPermitted)


def test_a_new_version_is_a_draft_of_the_next_number() -> None:
    (event,) = then(published(), lambda d: d.draft_version(context(AGENT), note="Jam layanan"))
    assert (event.type_name, event.version) == ("Document.VersionDrafted", 2)  # type: ignore[attr-defined]


def test_one_version_is_made_at_a_time() -> None:
    document = step(published(), lambda d: d.draft_version(context(AGENT)))
    refused(document, lambda d: d.draft_version(context(AGENT)), NothingChanged)


def test_publishing_the_next_version_supersedes_the_current_and_keeps_it() -> None:
    document = replayed(second_published(later(10)))
    assert document.current == 2
    assert document.versions[2].state is VersionState.PUBLISHED
    old = document.versions[1]
    assert old.state is VersionState.SUPERSEDED
    assert old.ended_on == office_day(later(10))
    assert old.content == ContentRef(link=LINK)  # never deleted: all it was is kept


def test_the_published_event_names_the_version_it_supersedes() -> None:
    document = published()
    document.draft_version(context(AGENT), link=LINK + "?v=2")
    document.submit_for_approval(context(AGENT))
    document.approve(context(MANAGER))
    (event,) = then(document, lambda d: d.publish(context(MANAGER)))
    assert (event.version, event.supersedes) == (2, 1)  # type: ignore[attr-defined]


# -- review dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 3, 2), 12, date(2027, 3, 2)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 3, 2), 0, date(2026, 3, 2)),
    ],
)
def test_months_are_added_keeping_the_day_or_the_months_last(
    day: date, months: int, expected: date
) -> None:
    assert add_months(day, months) == expected


@given_values(
    st.dates(min_value=date(1900, 1, 1), max_value=date(9000, 1, 1)), st.integers(0, 1200)
)
def test_adding_months_lands_in_the_right_month_never_past_the_day(day: date, months: int) -> None:
    after = add_months(day, months)
    assert (after.year * 12 + after.month) - (day.year * 12 + day.month) == months
    assert after.day <= day.day
    assert (
        after.day == day.day
        or after.day == (add_months(after.replace(day=1), 1) - timedelta(days=1)).day
    )


def test_the_next_review_is_the_publication_day_in_jakarta_plus_the_interval() -> None:
    # 20:00 UTC on 31 March is 03:00 on 1 April in Jakarta: the office's day counts
    at = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)
    (event,) = then(approved(), lambda d: d.publish(context(MANAGER, at)))
    assert event.next_review == date(2027, 4, 1)  # type: ignore[attr-defined]


def test_a_review_without_changes_is_recorded_and_moves_the_next_date() -> None:
    at = later(300)
    (event,) = then(published(), lambda d: d.review(context(OWNER, at), note="Masih berlaku"))
    assert event.type_name == "Document.Reviewed"
    assert event.next_review == add_months(office_day(at), 12)  # type: ignore[attr-defined]
    assert event.version == 1  # type: ignore[attr-defined]


def test_a_document_not_published_is_not_reviewed() -> None:
    refused(registered(), lambda d: d.review(context(MANAGER)), IllegalTransition)


def test_another_agent_does_not_review_a_document_they_do_not_own() -> None:
    refused(published(), lambda d: d.review(context(AGENT)), NotPermitted)


@pytest.mark.parametrize(
    ("days_ahead", "due"), [(-400, True), (-1, True), (0, True), (30, True), (31, False)]
)
def test_a_review_is_due_within_30_days_or_overdue(days_ahead: int, due: bool) -> None:
    today = date(2026, 6, 1)
    assert review_due(today + timedelta(days=days_ahead), today) is due
    assert review_due(None, today) is False


def test_a_due_review_is_noticed_once_per_date() -> None:
    service = context(SYSTEM)
    due = date(2027, 3, 2)
    (event,) = then(published(), lambda d: d.notice_review_due(service, due=due))
    assert event.type_name == "Document.ReviewDueNoticed"
    document = step(published(), lambda d: d.notice_review_due(service, due=due))
    refused(document, lambda d: d.notice_review_due(service, due=due), NothingChanged)


# -- withdrawal -----------------------------------------------------------------------------------


def test_a_withdrawn_document_ends_its_current_and_open_versions_and_keeps_them() -> None:
    document = step(published(), lambda d: d.draft_version(context(AGENT), link=LINK + "?v=2"))
    document.withdraw(context(MANAGER, later(5)), reason="Diganti kebijakan baru")
    again = replayed(document)
    assert again.state is DocumentState.WITHDRAWN
    assert again.current is None
    assert {n: v.state for n, v in again.versions.items()} == {
        1: VersionState.WITHDRAWN,
        2: VersionState.WITHDRAWN,
    }
    assert again.versions[1].ended_on == office_day(later(5))


def test_only_a_service_manager_withdraws_and_only_once() -> None:
    refused(published(), lambda d: d.withdraw(context(OWNER), reason="x"), NotPermitted)
    document = step(published(), lambda d: d.withdraw(context(MANAGER), reason="x"))
    refused(document, lambda d: d.withdraw(context(MANAGER), reason="x"), IllegalTransition)


@pytest.mark.parametrize(
    "action",
    [
        lambda d: d.draft_version(context(AGENT)),
        lambda d: d.review(context(MANAGER)),
        lambda d: d.submit_for_approval(context(AGENT)),
        lambda d: d.publish(context(MANAGER)),
    ],
    ids=["draft-version", "review", "submit", "publish"],
)
def test_a_withdrawn_document_takes_no_new_version_review_or_publication(
    action: Callable[[Document], Any],
) -> None:
    document = step(registered(), lambda d: d.withdraw(context(MANAGER), reason="x"))
    refused(document, action, IllegalTransition)


# -- disposition: only after retention, and recorded ----------------------------------------------


def test_a_superseded_version_is_not_disposed_of_before_its_retention_has_run() -> None:
    document = second_published(later(10))
    until = add_months(office_day(later(10)), 24)
    day_before = datetime.combine(until, datetime.min.time(), tzinfo=UTC) - timedelta(hours=8)
    refused(
        document, lambda d: d.dispose(context(MANAGER, day_before), version=1), RetentionNotElapsed
    )


def test_a_disposition_after_retention_is_recorded_and_destroys_the_file() -> None:
    document = registered(link=None)
    document.attach_file(
        context(AGENT), attachment_id=FILE, name="kebijakan.pdf",
        content_type="application/pdf", size=10, sha256=SHA,
    )  # fmt: skip
    document.set_content(context(AGENT), ContentRef(attachment_id=FILE))
    document.submit_for_approval(context(AGENT))
    document.approve(context(MANAGER))
    document.publish(context(MANAGER))
    document.withdraw(context(MANAGER, later(10)), reason="Tidak berlaku")
    at = later(10 + 2 * 366)
    disposed, removed = then(document, lambda d: d.dispose(context(MANAGER, at), version=1))
    assert disposed.type_name == "Document.VersionDisposed"
    assert (disposed.disposal, disposed.attachment_id, disposed.sha256) == (  # type: ignore[attr-defined]
        Disposal.DESTROY,
        FILE,
        SHA,
    )
    assert isinstance(removed, AttachmentRemoved)
    assert (removed.attachment_id, removed.sha256) == (FILE, SHA)


def test_an_archived_version_keeps_its_file() -> None:
    document = registered(retention=Retention(keep_months=0, then=Disposal.ARCHIVE))
    document.submit_for_approval(context(AGENT))
    document.approve(context(MANAGER))
    document.publish(context(MANAGER))
    document.withdraw(context(MANAGER, later(10)), reason="x")
    events = then(document, lambda d: d.dispose(context(MANAGER, later(10)), version=1))
    assert [(e.type_name, e.disposal) for e in events] == [  # type: ignore[attr-defined]
        ("Document.VersionDisposed", Disposal.ARCHIVE)
    ]


def test_a_version_in_force_or_being_made_is_not_disposed_of() -> None:
    document = step(published(), lambda d: d.draft_version(context(AGENT)))
    far = later(100 * 365)
    refused(document, lambda d: d.dispose(context(MANAGER, far), version=1), NotDisposable)
    refused(document, lambda d: d.dispose(context(MANAGER, far), version=2), NotDisposable)
    refused(document, lambda d: d.dispose(context(MANAGER, far), version=9), NotDisposable)


def test_a_version_is_disposed_of_once_and_by_a_service_manager_only() -> None:
    document = second_published(later(10))
    far = later(10 * 365)
    refused(document, lambda d: d.dispose(context(OWNER, far), version=1), NotPermitted)
    document.dispose(context(MANAGER, far), version=1)
    refused(document, lambda d: d.dispose(context(MANAGER, far), version=1), NotDisposable)


def test_a_controlled_file_goes_only_by_its_disposition_never_removed_for_privacy() -> None:
    document = registered(link=None)
    document.attach_file(
        context(AGENT), attachment_id=FILE, name="k.pdf", content_type="application/pdf",
        size=10, sha256=SHA,
    )  # fmt: skip
    document.set_content(context(AGENT), ContentRef(attachment_id=FILE))
    assert then(
        document, lambda d: d.remove_attachment(context(AGENT), attachment_id=FILE, reason="x")
    )
    document.submit_for_approval(context(AGENT))
    refused(
        document,
        lambda d: d.remove_attachment(context(MANAGER), attachment_id=FILE, reason="x"),
        ControlledFile,
    )


def test_a_versions_file_is_on_the_document_and_not_removed() -> None:
    from domain.errors import AttachmentNotFound

    refused(
        registered(link=None),
        lambda d: d.set_content(context(AGENT), ContentRef(attachment_id=uuid4())),
        AttachmentNotFound,
    )


# -- the commands ---------------------------------------------------------------------------------


def test_every_document_action_names_a_method_of_the_document() -> None:
    assert set(DOCUMENT_COMMANDS) == {
        "draft-version", "set-content", "submit-for-approval", "approve", "return", "publish",
        "review", "withdraw", "dispose",
    }  # fmt: skip
    public = {
        name
        for name in vars(Document)
        if not name.startswith("_") and callable(getattr(Document, name))
    }
    assert public >= {"draft_version", "set_content", "submit_for_approval", "approve",
                      "return_version", "publish", "review", "withdraw", "dispose"}  # fmt: skip


def test_every_refusal_is_a_named_domain_error() -> None:
    for error in (
        AuthorCannotApprove,
        ContentMissing,
        RetentionNotElapsed,
        NotDisposable,
        ControlledFile,
    ):
        assert issubclass(error, DomainError)
        assert error.code != DomainError.code


# -- the state table: every action in every state ----------------------------------------------

HISTORIES: dict[str, Callable[[], Document]] = {
    "draft": registered,
    "submitted": submitted,
    "approved": approved,
    "published": published,
    "published, next drafted": lambda: step(
        published(), lambda d: d.draft_version(context(AGENT), link=LINK + "?v=2")
    ),
    "withdrawn": lambda: step(published(), lambda d: d.withdraw(context(MANAGER), reason="x")),
}
ACTIONS: dict[str, Callable[[Document], Any]] = {
    "set_content": lambda d: d.set_content(context(AGENT), ContentRef(link=LINK + "?new")),
    "submit_for_approval": lambda d: d.submit_for_approval(context(AGENT)),
    "approve": lambda d: d.approve(context(OTHER_MANAGER)),
    "return_version": lambda d: d.return_version(context(OTHER_MANAGER), reason="x"),
    "publish": lambda d: d.publish(context(OTHER_MANAGER)),
    "draft_version": lambda d: d.draft_version(context(AGENT)),
    "review": lambda d: d.review(context(OWNER)),
    "notice_review_due": lambda d: d.notice_review_due(context(SYSTEM), due=date(2027, 3, 2)),
    "withdraw": lambda d: d.withdraw(context(OTHER_MANAGER), reason="x"),
}
ALLOWED: dict[str, set[str]] = {
    "draft": {"set_content", "submit_for_approval", "withdraw"},
    "submitted": {"approve", "return_version", "withdraw"},
    "approved": {"publish", "withdraw"},
    "published": {"draft_version", "review", "notice_review_due", "withdraw"},
    "published, next drafted": {
        "set_content",
        "submit_for_approval",
        "review",
        "notice_review_due",
        "withdraw",
    },
    "withdrawn": set(),
}
#: Public methods the table leaves to their own tests above (files, disposition, reads).
ELSEWHERE = {
    "register", "attach_file", "remove_attachment", "dispose", "disposable_on", "open_version",
    "project", "copy", "collect_events", "reachable", "owned_by",
}  # fmt: skip


@pytest.mark.parametrize("state", list(HISTORIES))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_action_in_every_state(state: str, action: str) -> None:
    document = HISTORIES[state]()
    if action in ALLOWED[state]:
        assert then(document, ACTIONS[action])
    else:
        refused(document, ACTIONS[action], DomainError)


def test_the_state_table_covers_every_public_method_of_a_document() -> None:
    public = {name for name in dir(Document) if not name.startswith("_")}
    methods = {name for name in public if callable(getattr(Document, name, None))}
    assert methods - ELSEWHERE - {"KIND"} == set(ACTIONS), "add the new action to the table"


# -- the view and the aggregate agree ----------------------------------------------------------

STEPS: dict[str, Callable[[Document, datetime], Any]] = {
    "set_content": lambda d, at: d.set_content(
        context(AGENT, at), ContentRef(link=f"{LINK}?{at:%Y%m%d}")
    ),
    "submit": lambda d, at: d.submit_for_approval(context(AGENT, at)),
    "approve": lambda d, at: d.approve(context(MANAGER, at)),
    "return": lambda d, at: d.return_version(context(MANAGER, at), reason="x"),
    "publish": lambda d, at: d.publish(context(OWNER, at)),
    "draft_version": lambda d, at: d.draft_version(context(AGENT, at), link=f"{LINK}?{at:%Y%m%d}"),
    "review": lambda d, at: d.review(context(OWNER, at)),
    "withdraw": lambda d, at: d.withdraw(context(MANAGER, at), reason="x"),
    "dispose": lambda d, at: d.dispose(context(MANAGER, at), version=1),
}


#: Withdrawal ends everything: drawn as often as one other step in 30, so histories go far.
WEIGHTED = [name for name in sorted(STEPS) if name != "withdraw"] * 30 + ["withdraw"] * 8


@given_values(st.lists(st.sampled_from(WEIGHTED), max_size=40))
def test_the_register_view_shows_every_version_as_the_aggregate_decides_on_it(
    steps: list[str],
) -> None:
    from projections.documents import document_register

    document = registered()
    at = T0
    for name in steps:
        at += timedelta(days=200)
        with contextlib.suppress(DomainError):  # refused: nothing recorded
            STEPS[name](document, at)
    events = document.collect_events()
    again = Document.project(None, events)
    assert again is not None
    row = None
    for event in events:
        row = document_register.fold(row, event)
    assert row is not None
    assert row["state"] == again.state
    assert row["current_version"] == again.current
    assert [(v["number"], v["state"]) for v in row["versions"]] == [
        (v.number, v.state) for v in again.versions.values()
    ]
    assert [v["disposition"] is not None for v in row["versions"]] == [
        v.disposed for v in again.versions.values()
    ]
    ended = [v["ended"]["on"] if v["ended"] else None for v in row["versions"]]
    assert ended == [
        None if v.ended_on is None else v.ended_on.isoformat() for v in again.versions.values()
    ]
