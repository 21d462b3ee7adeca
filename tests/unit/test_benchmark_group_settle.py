"""The group benchmarks give the go only to a settled group: a rebalance under way when the clock
starts is timed as folding (a projection group once measured at a quarter of its rate, in 5 of 12
runs, because one member was still waiting to hear of the group's second rebalance)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.circulation_group import Gate, settle


class Running:
    """A member process that has not stopped."""

    def poll(self) -> None:
        return None


class Consumer:
    def __init__(self) -> None:
        self.paused: list[Any] = []

    def pause(self, *partitions: Any) -> None:
        self.paused.extend(partitions)


def gate(run: Path, name: str) -> Gate:
    member = Gate(run / f"{name}.status", run / "go")
    member.consumer = Consumer()
    return member


def test_a_revocation_says_the_member_holds_nothing_until_it_is_assigned_again(
    tmp_path: Path,
) -> None:
    member = gate(tmp_path, "a")
    member.on_partitions_assigned([0, 1, 2])
    member.on_partitions_revoked([0, 1, 2])

    assert settle_result(tmp_path, partitions=3, steady_s=0.3, within=1.6) == "not settled"
    member.on_partitions_assigned([0, 1, 2])
    assert member.consumer.paused == [0, 1, 2, 0, 1, 2]  # paused before the go, both times
    assert settle_result(tmp_path, partitions=3, steady_s=0.3, within=2.0) == "settled"


def test_a_rebalance_that_gives_each_member_as_many_partitions_as_before_restarts_the_wait(
    tmp_path: Path,
) -> None:
    first, second = gate(tmp_path, "a"), gate(tmp_path, "b")
    first.on_partitions_assigned([0, 1, 2])
    second.on_partitions_assigned([3, 4, 5])
    started = time.monotonic()

    def rebalance() -> None:  # as many partitions each as before, but other ones
        first.on_partitions_assigned([3, 4, 5])
        second.on_partitions_assigned([0, 1, 2])

    rebalanced = threading.Timer(0.5, rebalance)
    rebalanced.start()
    try:
        settle(tmp_path, [Running(), Running()], 6, steady_s=1.0)  # type: ignore[list-item]
    finally:
        rebalanced.join()

    # the held counts never changed, but the assignments did: a second of quiet after them
    assert time.monotonic() - started >= 1.5


def settle_result(run: Path, partitions: int, steady_s: float, within: float) -> str:
    """Whether `settle` returns within `within` seconds (it is left waiting otherwise)."""
    done = threading.Event()

    def wait() -> None:
        try:
            settle(run, [Running()], partitions, steady_s=steady_s)  # type: ignore[list-item]
            done.set()
        except RuntimeError:
            pass

    threading.Thread(target=wait, daemon=True).start()
    return "settled" if done.wait(within) else "not settled"
