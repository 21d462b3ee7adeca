"""Reviews falling due (`itsm documents notice-reviews`, docs/documents.md): for each published
document whose next review is within 30 days or past, record `Document.ReviewDueNoticed` once for
that date, through the one command pipeline, as the service. The notifier tells the document's
owner of it (the `document.review_due` rule, docs/notifications.md); the list
GET /api/v1/documents?review=due shows the same documents whether or not the job has run.

Run it daily (a timer, as `itsm attachments sweep` is run): a run that finds a date noticed
already writes nothing, so two runs, or one after a crash, record each date once.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from application.kinds import DOCUMENT
from application.pipeline import Submission
from domain.document import REVIEW_NOTICE_DAYS, DocumentState, office_day
from domain.document_commands import NoticeDocumentReviewDue
from domain.errors import NothingChanged
from processes.running import Running
from projections.documents import documents
from projections.queries import Filter


def notice_due_reviews(services: Running) -> list[str]:
    """Record each review newly due; the references of the documents it was recorded on."""
    ctx = services.system_context()
    due_by = (office_day(ctx.at) + timedelta(days=REVIEW_NOTICE_DAYS)).isoformat()
    due = Filter(equal={"state": DocumentState.PUBLISHED}, at_most={"next_review": due_by})
    noticed = []
    for row in documents.rows(services.views, ctx, due):
        if row["review_due_noticed"] == row["next_review"]:
            continue
        command = NoticeDocumentReviewDue.model_validate({"due": row["next_review"]})
        try:
            services.desk.execute(Submission(ctx, command, DOCUMENT, ref=UUID(row["id"])))
        except NothingChanged:
            continue  # another run noticed it first
        noticed.append(row["ref"])
    return noticed
