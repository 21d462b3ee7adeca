"""What a delivery channel (e-mail, webhooks) says when it could not deliver, in one shape for both.

The notifier core decides from `permanent` alone what comes next: a permanent failure cannot
succeed by being tried again (a mailbox that does not exist, a receiver that answers 410 Gone),
so the notification is failed and dead-lettered at once; a transient one (a server down, busy or
slow) is retried with backoff, and a destination that keeps failing is paused. `reason` is what
the record keeps and people read: short, with the server's own code and words, never unbounded.
"""

from __future__ import annotations

#: The longest reason kept: the server's words can be anything, of any length.
MAX_REASON = 500


def bounded(text: str, limit: int = MAX_REASON) -> str:
    """Text on one line (runs of white space, line breaks included, made one space) and at most
    `limit` characters, cut with an ellipsis: a reason fit for a record and a log line."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class DeliveryFailed(Exception):
    """A channel could not deliver a notification.

    `permanent`: trying the same notification again cannot succeed. `retry_after`: seconds the
    destination asked us to wait before trying again (a webhook's Retry-After), if it said so.
    """

    def __init__(self, reason: str, permanent: bool, *, retry_after: float | None = None) -> None:
        self.reason = bounded(reason)
        self.permanent = permanent
        self.retry_after = retry_after
        super().__init__(self.reason)

    def __repr__(self) -> str:
        return (
            f"DeliveryFailed({self.reason!r}, permanent={self.permanent},"
            f" retry_after={self.retry_after})"
        )
