"""A desk numbers a new record after the last number it committed, without reading the number log.

The number log's uniqueness of (log, version) is the guard: a number another process took since
is refused by the store, the desk forgets what it knew, and the command is decided again on the
number the store holds. So a desk logging alone reads the log once, and numbers stay unique and
1..n with no gaps however desks on one store take turns.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from application.kinds import PROBLEM
from application.pipeline import Submission
from domain.problem_commands import LogProblem
from domain.record_numbers import RecordKind, number_log
from domain.records import INCIDENT_NUMBERS
from service.bootstrap import Services
from tests.conftest import context
from tests.integration.test_group_commit import other
from tests.integration.test_numbering import assert_gap_free, log_command

__all__ = ["other"]  # a fixture, used by name: another process on the same store, in effect

PROBLEM_NUMBERS = number_log(RecordKind.PROBLEM)


def number_log_reads(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    """Every read of a number log this desk makes from now on, by the log it read."""
    reads: list[UUID] = []
    select = services.desk.recorder.select_events

    def counting(originator_id: UUID, *args: Any, **kwargs: Any) -> Any:
        if originator_id in (INCIDENT_NUMBERS, PROBLEM_NUMBERS):
            reads.append(originator_id)
        return select(originator_id, *args, **kwargs)

    monkeypatch.setattr(services.desk.recorder, "select_events", counting)
    return reads


def log_problem(services: Services, n: int) -> UUID:
    command = LogProblem(title=f"Gate {n} keeps failing", description="Seen at three branches.")
    return services.desk.execute(Submission(context(), command, PROBLEM)).record_id


def problem_numbers(services: Services) -> list[int]:
    return [a.originator_version for a in services.desk.events.get(PROBLEM_NUMBERS)]


def test_a_desk_logging_alone_reads_each_number_log_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = number_log_reads(services, monkeypatch)

    for n in range(5):
        services.desk.log_incident(context(), log_command(n))
        log_problem(services, n)

    assert sorted(reads) == sorted([INCIDENT_NUMBERS, PROBLEM_NUMBERS])
    assert problem_numbers(services) == [1, 2, 3, 4, 5]
    assert_gap_free(services)


def test_desks_taking_turns_on_one_store_take_unique_numbers_without_gaps(
    services: Services, other: Services
) -> None:
    desks = [services, other]
    logged: list[UUID] = []

    for turn in range(12):
        desk = desks[turn % 3 % 2]  # each desk sometimes twice running, sometimes once
        logged.append(desk.desk.log_incident(context(), log_command(turn)).record_id)
        log_problem(desk, turn)
        desk.desk.execute_batch(
            [Submission(context(), log_command(100 + turn)), Submission(context(), log_command())]
        )

    assert [services.desk.incident(i).number for i in logged] == sorted(
        services.desk.incident(i).number for i in logged
    )
    assert problem_numbers(services) == list(range(1, 13))
    assert_gap_free(services)
    assert len(list(services.desk.events.get(INCIDENT_NUMBERS))) == 36


def test_a_refused_write_leaves_the_desk_reading_the_number_again(
    services: Services, other: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.desk.log_incident(context(), log_command(1))
    other.desk.log_incident(context(), log_command(2))  # number 2, unseen by the first desk
    reads = number_log_reads(services, monkeypatch)

    third = services.desk.log_incident(context(), log_command(3))  # 2 is taken: refused, again
    fourth = services.desk.log_incident(context(), log_command(4))

    assert services.desk.incident(third.record_id).number == 3
    assert services.desk.incident(fourth.record_id).number == 4
    assert reads == [INCIDENT_NUMBERS]  # after the refusal only
    assert_gap_free(services)
