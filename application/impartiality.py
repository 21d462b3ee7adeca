"""Who worked where, and when, read from the store: what an auditor's impartiality is judged by
(domain/internal_audit.py, `check_impartial`).

One pass over the store's events of the kinds in an audit's scope (selected by their stored type
names, as processes/whatif.py reads incidents), each decoded as plain JSON for its actor and time
only, not validated into its class: a year of incidents is hundreds of thousands of events. The
pass stops as soon as every auditor asked about has been found at work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from uuid import UUID

import orjson
from eventsourcing.persistence import ApplicationRecorder, Mapper

from application.kinds import KINDS
from domain.internal_audit import Work
from infra.serialisation import plain

BATCH = 5000


@cache
def type_names(kinds: frozenset[str]) -> dict[str, str]:
    """The stored type names of every event of these kinds' records -> the kind."""
    return {
        event.type_name: name
        for name in kinds
        for event in KINDS[name].aggregate._appliers
        if event.type_name
    }


def worked(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    kinds: frozenset[str],
    actors: frozenset[str],
    since: datetime,
    until: datetime,
) -> dict[str, tuple[str, UUID]]:
    """Of `actors`, those who are the actor of an event of a record of `kinds` whose time is in
    [since, until), each with the first such record (its kind and id) in the store's order."""
    names = type_names(kinds)
    found: dict[str, tuple[str, UUID]] = {}
    head = recorder.max_notification_id() or 0
    position = 0
    while position < head and len(found) < len(actors):
        batch = recorder.select_notifications(
            start=position,
            limit=BATCH,
            stop=head,
            topics=sorted(names),
            inclusive_of_start=False,
        )
        if not batch:
            break
        for n in batch:
            data = orjson.loads(plain(mapper, n.state))
            actor = data["actor"]["id"]
            if actor not in actors or actor in found:
                continue
            if since <= datetime.fromisoformat(data["timestamp"]) < until:
                found[actor] = (names[n.topic], UUID(str(n.originator_id)))
        position = batch[-1].id
    return found


def labelled(
    found: dict[str, tuple[str, UUID]], label: Callable[[str, UUID], str]
) -> dict[str, Work]:
    """The records found, named as people read them (`label`: INC-000123, a code, else the id)."""
    return {actor: Work(kind, label(kind, record_id)) for actor, (kind, record_id) in found.items()}


def kinds_known(kinds: Iterable[str]) -> frozenset[str]:
    """The kinds of `kinds` this service has (a clause may name one it has not yet)."""
    return frozenset(k for k in kinds if k in KINDS)
