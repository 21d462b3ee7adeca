"""Reviews of controlled documents falling due (processes/document_reviews.py), on SQLite and
PostgreSQL: the job records Document.ReviewDueNoticed once per date, as the service, and the
notifier tells the document's owner by e-mail in their language."""

from __future__ import annotations

from application.kinds import DOCUMENT
from domain.actors import Actor, Role
from domain.document_commands import (
    ApproveDocumentVersion,
    PublishDocumentVersion,
    RegisterDocument,
    SubmitDocumentVersion,
)
from processes.document_reviews import notice_due_reviews
from processes.notify import Notify
from service.bootstrap import Services
from tests.conftest import Clock
from tests.engines.smtp import SmtpServer
from tests.integration.test_documents_api import AUTHOR, LINK, MANAGER, POLICY
from tests.integration.test_notifications import mail, messages, run, smtp_servers, told

__all__ = ["mail", "smtp_servers", "told"]  # the notifier's fixtures, used by name


def test_a_review_falling_due_is_noticed_once_and_its_owner_told(
    told: tuple[Services, Notify], mail: SmtpServer, clock: Clock
) -> None:
    services, notify = told
    agent = Actor(id=AUTHOR, role=Role.AGENT)
    manager = Actor(id=MANAGER, role=Role.SERVICE_MANAGER)
    document = run(services, RegisterDocument(**POLICY, link=LINK), DOCUMENT, actor=agent)
    run(services, SubmitDocumentVersion(), DOCUMENT, document, actor=agent)
    run(services, ApproveDocumentVersion(), DOCUMENT, document, actor=manager)
    run(services, PublishDocumentVersion(), DOCUMENT, document, actor=manager)
    assert notice_due_reviews(services) == []

    clock.advance(days=340)
    assert notice_due_reviews(services) == ["DOC-000001"]
    services.runner.catch_up()
    assert notice_due_reviews(services) == []  # once per date
    history = [e for e in services.desk.events_until(document, 99) if e.type_name.endswith("ed")]
    assert history[-1].type_name == "Document.ReviewDueNoticed"
    assert history[-1].actor.role is Role.SYSTEM

    notify.run_until_idle()
    (told_owner,) = [m for m in messages(mail) if m["To"] == "andi@dpk-banten.example"]
    assert told_owner["Subject"].startswith("[DOC-000001] Tinjauan jatuh tempo")
