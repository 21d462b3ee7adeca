"""Customer satisfaction (ISO/IEC 20000-1 9.1): once their incident or service request is
closed, its caller (the one who reported it or asked for it, and only them) may rate it once, a
score of 1 to 5 and a comment if they have one. The rating is recorded on the record itself
(Incident.Rated, ServiceRequest.Rated: who and when in the envelope); staff cannot rate on the
caller's behalf, and a second rating is refused. A low rating (LOW or less) opens one follow-up
in the improvement register (domain/improvement.py, `open_follow_up`), in the same write.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from domain.context import Context
from domain.errors import AlreadyRated, NotTheCaller

#: The score of a very dissatisfied caller (1) to a very satisfied one (5).
Score = Field(ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied)")
#: What the caller says of the service, in their own words (they and the staff read it).
Comment = Field(default=None, min_length=1, max_length=2_000)
#: A score at or below this one opens a follow-up in the improvement register.
LOW = 2


class Rating(BaseModel):
    """A caller's rating of their closed record, as asked for (the command) and as recorded (the
    event). Mixed in first, so the fields follow the event's envelope."""

    score: int = Score
    comment: str | None = Comment


def is_low(score: int) -> bool:
    return score <= LOW


def check_rater(ctx: Context, caller: str, already_rated: bool) -> None:
    """Refuse a rating by anyone but the record's caller (no one rates for them), or a second
    one."""
    if ctx.actor.id != caller:
        raise NotTheCaller("only the caller rates their record, and no one on their behalf")
    if already_rated:
        raise AlreadyRated("the caller has already rated this record: a rating is given once")
