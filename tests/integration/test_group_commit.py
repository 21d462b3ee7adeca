"""The group commit: many commands decided in turn and saved in one atomic write.

`ServiceDesk.execute_batch` against the real SQLite store, and the API's writer that feeds it.
Every guarantee of the single-command path must hold inside a batch: refusals write nothing and
hold up no other command, If-Match and idempotency keys are honoured, numbers stay unique, and a
batch the store refuses as a whole loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import pytest

from application.outcome import Outcome
from application.pipeline import Submission
from application.writer import CommandWriter
from domain import commands as c
from domain.errors import (
    IdempotencyKeyReused,
    IllegalTransition,
    IncidentNotFound,
    NotTheCaller,
    VersionConflict,
)
from domain.incident import Assigned, Logged, WorkNoteAdded, WorkStarted
from domain.records import INCIDENT_NUMBERS, incident_number_label
from projections import incident_details
from service.bootstrap import Services, build
from tests.conftest import AGENT, CALLER, context


def log_command(n: int = 1, **overrides: Any) -> c.LogIncident:
    fields: dict[str, Any] = {
        "title": f"RFID gate {n} at the Serang branch does not open",
        "service": "kiosks-gates",
        "caller": CALLER.id,
        "impact": "medium",
        "urgency": "medium",
        **overrides,
    }
    return c.LogIncident(**fields)


def logging(n: int = 1, key: str | None = None, **overrides: Any) -> Submission:
    return Submission(context(), log_command(n, **overrides), idempotency_key=key)


def acting(
    incident: UUID | str,
    command: c.IncidentCommand,
    *,
    version: int | None = None,
    key: str | None = None,
) -> Submission:
    return Submission(
        context(), command, ref=str(incident), expected_version=version, idempotency_key=key
    )


def outcome(result: Outcome | Exception) -> Outcome:
    assert isinstance(result, Outcome), result
    return result


def head(services: Services) -> int:
    return services.desk.recorder.max_notification_id() or 0


@pytest.fixture
def writes(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of events in each write to the event store (one entry per transaction)."""
    seen: list[int] = []
    recorder = services.desk.recorder
    insert = recorder.insert_events

    def counted(stored_events: Sequence[Any], **kwargs: Any) -> Any:
        seen.append(len(stored_events))
        return insert(stored_events, **kwargs)

    monkeypatch.setattr(recorder, "insert_events", counted)
    return seen


def new_incident(services: Services, **overrides: Any) -> UUID:
    return services.desk.log_incident(context(), log_command(**overrides)).record_id


# -- one write for the whole batch --------------------------------------------------------------


@pytest.mark.usefixtures("directory")
def test_a_batch_is_saved_in_one_write(services: Services, writes: list[int]) -> None:
    first, second = new_incident(services), new_incident(services)
    writes.clear()

    results = services.desk.execute_batch(
        [
            logging(1, assignment_group="kiosk-team"),
            logging(2),
            acting(first, c.Assign(group="network")),
            acting(second, c.AddWorkNote(text="checked the reader")),
        ]
    )

    outcomes = [outcome(r) for r in results]
    assert writes == [3 + 2 + 1 + 1]  # Logged+Assigned+number, Logged+number, Assigned, note
    assert [o.version for o in outcomes] == [2, 1, 2, 2]
    assert max(o.position or 0 for o in outcomes) == head(services)
    assert not any(o.replayed for o in outcomes)
    assert services.desk.incident(first).group == "network"


@pytest.mark.usefixtures("directory")
def test_commands_on_one_incident_see_the_earlier_ones_in_their_batch(
    services: Services,
) -> None:
    incident_id = new_incident(services)

    results = services.desk.execute_batch(
        [
            acting(incident_id, c.Assign(group="kiosk-team", agent="andi")),
            acting(incident_id, c.StartWork()),
            acting(incident_id, c.AddWorkNote(text="replaced the antenna"), version=3),
        ]
    )

    assert [outcome(r).version for r in results] == [2, 3, 4]
    history = services.desk.history(incident_id)
    assert [type(e) for e in history] == [Logged, Assigned, WorkStarted, WorkNoteAdded]
    assert [e.originator_version for e in history] == [1, 2, 3, 4]


def test_logs_in_one_batch_get_distinct_consecutive_numbers(services: Services) -> None:
    new_incident(services)

    results = services.desk.execute_batch([logging(n) for n in range(5)])

    ids = [outcome(r).record_id for r in results]
    assert [services.desk.incident(i).number for i in ids] == [2, 3, 4, 5, 6]
    allocations = list(services.desk.events.get(INCIDENT_NUMBERS))
    assert [a.originator_version for a in allocations] == [1, 2, 3, 4, 5, 6]
    assert services.desk.find_incident(incident_number_label(6)) == ids[-1]
    # a single command after the batch carries on from the store's numbers
    assert services.desk.incident(new_incident(services)).number == 7


# -- a refusal holds up nothing else ------------------------------------------------------------


@pytest.mark.usefixtures("directory")
def test_a_refused_command_writes_nothing_and_fails_no_other(
    services: Services, writes: list[int]
) -> None:
    logged = new_incident(services)  # not assigned: work cannot start
    other = new_incident(services, assignment_group="kiosk-team")
    writes.clear()

    results = services.desk.execute_batch(
        [
            acting(other, c.StartWork()),
            acting(logged, c.StartWork()),
            logging(3),
            acting(other, c.AddWorkNote(text="on site")),
        ]
    )

    assert isinstance(results[1], IllegalTransition)
    assert [outcome(results[i]).version for i in (0, 2, 3)] == [3, 1, 4]
    assert writes == [1 + 2 + 1]  # the accepted three, together; nothing for the refused one
    assert [type(e) for e in services.desk.history(logged)] == [Logged]


@pytest.mark.usefixtures("directory")
def test_a_refusal_in_the_middle_leaves_the_incident_as_the_earlier_commands_left_it(
    services: Services,
) -> None:
    incident_id = new_incident(services, assignment_group="kiosk-team")

    results = services.desk.execute_batch(
        [
            acting(incident_id, c.StartWork()),
            acting(incident_id, c.StartWork()),  # already in progress
            acting(incident_id, c.ResolveIncident(code="fixed", notes="new antenna")),
        ]
    )

    assert outcome(results[0]).version == 3
    assert isinstance(results[1], IllegalTransition)
    assert outcome(results[2]).version == 4
    assert services.desk.incident(incident_id).state == "resolved"


def test_a_stale_if_match_in_a_batch_is_a_version_conflict(services: Services) -> None:
    incident_id = new_incident(services)

    results = services.desk.execute_batch(
        [
            acting(incident_id, c.AddWorkNote(text="first"), version=1),
            acting(incident_id, c.AddWorkNote(text="second, from the same read"), version=1),
        ]
    )

    assert outcome(results[0]).version == 2
    conflict = results[1]
    assert isinstance(conflict, VersionConflict)
    assert (conflict.expected, conflict.actual) == (1, 2)
    assert services.desk.incident(incident_id).version == 2


def test_unknown_incidents_and_rule_breaking_logs_are_refused_alone(services: Services) -> None:
    results = services.desk.execute_batch(
        [
            acting("INC-000042", c.AddWorkNote(text="hello?")),
            Submission(context(AGENT), log_command()),
            Submission(context(CALLER), log_command(caller="someone.else")),
        ]
    )

    assert isinstance(results[0], IncidentNotFound)
    assert outcome(results[1]).version == 1
    assert isinstance(results[2], NotTheCaller)


# -- idempotency keys ---------------------------------------------------------------------------


def test_a_retry_in_the_same_batch_gets_the_first_outcome(services: Services) -> None:
    results = services.desk.execute_batch([logging(1, key="burst"), logging(1, key="burst")])

    first, again = outcome(results[0]), outcome(results[1])
    assert again.record_id == first.record_id
    assert (first.replayed, again.replayed) == (False, True)
    assert len(list(services.desk.events.get(INCIDENT_NUMBERS))) == 1


def test_a_reused_key_in_the_same_batch_is_refused(services: Services) -> None:
    results = services.desk.execute_batch([logging(1, key="k"), logging(2, key="k")])

    outcome(results[0])
    assert isinstance(results[1], IdempotencyKeyReused)
    assert len(list(services.desk.events.get(INCIDENT_NUMBERS))) == 1


def test_a_retry_of_an_earlier_batch_is_replayed_and_writes_nothing(
    services: Services, writes: list[int]
) -> None:
    incident_id = new_incident(services)
    note = c.AddWorkNote(text="rebooted the gate")
    first = outcome(services.desk.execute_batch([acting(incident_id, note, key="n1")])[0])
    writes.clear()

    again = outcome(services.desk.execute_batch([acting(incident_id, note, key="n1")])[0])

    assert (again.record_id, again.version, again.replayed) == (incident_id, first.version, True)
    assert writes == []


# -- a batch the store refuses ------------------------------------------------------------------


@pytest.fixture
def other(services: Services) -> Iterator[Services]:
    """Another process's services on the same store, in effect."""
    second = build(services.settings, clock=services.clock)
    yield second
    second.close()


@pytest.mark.usefixtures("directory")
def test_a_batch_decided_on_a_stale_state_is_run_again_command_by_command(
    services: Services, other: Services, writes: list[int]
) -> None:
    incident_id = new_incident(services, assignment_group="kiosk-team")  # cached at version 2
    other.desk.handle(context(), incident_id, c.StartWork())  # version 3, unseen by the cache
    writes.clear()

    results = services.desk.execute_batch(
        [
            logging(7),
            acting(incident_id, c.AddWorkNote(text="from the stale cache")),
            acting(incident_id, c.StartWork()),  # decided on the stale state: allowed there
        ]
    )

    # The batch is refused by the store, so nothing of it is stored; then each command runs on
    # its own, on the incident read again from the store (start-work is refused: no write).
    assert writes == [2 + 1 + 1, 2, 1]
    assert outcome(results[0]).version == 1
    assert outcome(results[1]).version == 4
    assert isinstance(results[2], IllegalTransition)
    history = services.desk.history(incident_id)
    assert [e.originator_version for e in history] == [1, 2, 3, 4]


# -- the API's writer ---------------------------------------------------------------------------


def test_the_writer_batches_what_the_loop_queues_and_answers_after_the_fold(
    services: Services, writes: list[int]
) -> None:
    writer = CommandWriter(services.desk, services.runner)
    logged = new_incident(services)
    writes.clear()

    async def together() -> list[Outcome | BaseException]:
        return await asyncio.gather(
            *(writer.submit(logging(n)) for n in range(10)),
            writer.submit(acting(logged, c.StartWork())),
            return_exceptions=True,
        )

    results = asyncio.run(together())

    assert writes == [10 * 2]
    assert isinstance(results[-1], IllegalTransition)
    for result in results[:-1]:
        assert isinstance(result, Outcome)
        assert services.runner.position >= (result.position or 0)  # folded before answering
        row = services.views.get(incident_details, str(result.record_id))
        assert row is not None
        assert row["version"] == result.version


def test_a_request_that_goes_away_neither_stops_its_command_nor_the_others(
    services: Services,
) -> None:
    writer = CommandWriter(services.desk, services.runner)

    async def one_gives_up() -> Outcome:
        impatient = asyncio.ensure_future(writer.submit(logging(1)))
        patient = asyncio.ensure_future(writer.submit(logging(2)))
        await asyncio.sleep(0)  # both are queued; the flush has not run yet
        impatient.cancel()
        return await patient

    kept = asyncio.run(one_gives_up())

    assert services.desk.incident(kept.record_id).number == 2
    # The command was written all the same, as it would have been by a worker thread.
    assert [e.originator_version for e in services.desk.events.get(INCIDENT_NUMBERS)] == [1, 2]
