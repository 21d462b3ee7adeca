"""The webhook endpoints as admins and the notifier look them up: `webhook_endpoints`, one row per
endpoint (its URL, topics, organisation, state, why it is paused, its secret's fingerprint; never
the secret, which no event carries).

The notifier asks one question of it (`subscribed`): to which endpoints (active, or paused and
waiting) does a notification of this topic, about a record of this organisation, go?
"""

from __future__ import annotations

from collections.abc import Iterable

from domain import webhook_endpoint as w
from projections.base import Column, Projection, Row, at, by, folds_of
from projections.records import stamped
from projections.view_store import ViewStore


def _registered(_: Row | None, ev: w.Registered) -> Row:
    return {
        "id": str(ev.originator_id),
        "code": ev.code,
        "name": ev.name,
        "url": ev.url,
        "topics": list(ev.topics),
        "organisation": ev.organisation,
        "state": w.EndpointState.ACTIVE,
        "paused_reason": None,
        "secret_fingerprint": ev.secret_fingerprint,
        "registered_at": at(ev),
        "registered_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _topics_chosen(row: Row, ev: w.TopicsChosen) -> Row:
    return stamped(row, ev, topics=list(ev.topics))


def _url_changed(row: Row, ev: w.UrlChanged) -> Row:
    return stamped(row, ev, url=ev.url)


def _secret_rotated(row: Row, ev: w.SecretRotated) -> Row:
    return stamped(row, ev, secret_fingerprint=ev.secret_fingerprint)


def _paused(row: Row, ev: w.Paused) -> Row:
    return stamped(row, ev, state=w.EndpointState.PAUSED, paused_reason=ev.reason)


def _resumed(row: Row, ev: w.Resumed) -> Row:
    return stamped(row, ev, state=w.EndpointState.ACTIVE, paused_reason=None)


def _retired(row: Row, ev: w.Retired) -> Row:
    return stamped(row, ev, state=w.EndpointState.RETIRED, paused_reason=None)


webhook_endpoints = Projection(
    name="webhook_endpoints",
    version=1,
    folds=folds_of(
        _registered,
        _topics_chosen,
        _url_changed,
        _secret_rotated,
        _paused,
        _resumed,
        _retired,
    ),
    columns=(Column("code", "TEXT"), Column("state", "TEXT")),
    indexes=(("code",), ("state", "code")),
)


# -- look-ups -----------------------------------------------------------------------------------


def endpoint(views: ViewStore, code: str) -> Row | None:
    """The row of the endpoint of that code, if there is one."""
    return views.get(webhook_endpoints, str(w.endpoint_id(code)))


def subscribed(views: ViewStore, topic: str, organisation: str | None) -> list[Row]:
    """The endpoints a notification of `topic` goes to, about a record of `organisation` (None:
    of no organisation, which only endpoints of every organisation hear): those not retired whose
    topics include it (or are "*") and whose organisation is None or the record's. By code. A
    paused endpoint is among them: its webhooks are decided, and wait for it to be resumed."""
    return hearing(listening(views), topic, organisation)


def listening(views: ViewStore) -> list[Row]:
    """The endpoints not retired: active, or paused for a while."""
    return views.select(webhook_endpoints, '"state" != ?', (w.EndpointState.RETIRED.value,))


def hearing(rows: Iterable[Row], topic: str, organisation: str | None) -> list[Row]:
    """Of these endpoints, those that hear of `topic` about a record of `organisation`, by code
    (as `subscribed` says)."""
    return sorted(
        (
            row
            for row in rows
            if (topic in row["topics"] or w.ALL_TOPICS in row["topics"])
            and row["organisation"] in (None, organisation)
        ),
        key=lambda row: row["code"],
    )
