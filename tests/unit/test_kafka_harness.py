"""The checks the crash tests and the soak rely on find what they are there to find: a lost
event, an aggregate's events out of order, a view row lost, extra or applied twice."""

from __future__ import annotations

import orjson

from tests.kafka_harness import TopicLedger, view_differences


def message(position: int, subject: str, version: int) -> bytes:
    return orjson.dumps(
        {
            "position": position,
            "subject": subject,
            "aggregateversion": version,
            "id": f"{subject}/{version}",
        }
    )


def test_a_relay_resend_is_a_repeat_not_a_disorder() -> None:
    ledger = TopicLedger()
    for position, subject, version in [
        (1, "a", 1),
        (2, "a", 2),
        (1, "a", 1),
        (2, "a", 2),
        (3, "a", 3),
    ]:
        ledger.add(0, message(position, subject, version))

    assert ledger.repeats == 2
    assert ledger.disorder == []
    assert ledger.missing(range(1, 4)) == []


def test_an_aggregate_version_skipped_or_swapped_is_a_disorder() -> None:
    ledger = TopicLedger()
    for position, subject, version in [(1, "a", 1), (2, "b", 1), (4, "a", 3), (5, "b", 1)]:
        ledger.add(0, message(position, subject, version))

    assert ledger.disorder == ["a/3 after version 1", "b/1 after version 1"]


def test_a_position_never_carried_is_missing() -> None:
    ledger = TopicLedger()
    for position in (1, 2, 4):
        ledger.add(position % 2, message(position, f"r{position}", 1))

    assert ledger.missing(range(1, 6)) == [3, 5]


def test_view_differences_name_rows_missing_extra_and_unequal() -> None:
    expected = {"v": {"k1": {"notes": ["x"]}, "k2": {"n": 1}}}
    twice = {"v": {"k1": {"notes": ["x", "x"]}, "k3": {"n": 1}}}

    assert view_differences(expected, expected) == []
    assert view_differences(twice, expected) == [
        "v: 1 rows missing, e.g. k2",
        "v: 1 rows extra, e.g. k3",
        "v: 1 rows differ, e.g. k1",
    ]
