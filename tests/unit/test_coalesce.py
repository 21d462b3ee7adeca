"""Coalesced work: one run at a time, and every answer from a run that began after its question."""

from __future__ import annotations

import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.coalesce import Coalesced


class Gated:
    """Work that holds each run until the test lets it end, and numbers its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.began = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> int:
        self.runs += 1
        run = self.runs
        self.began.set()
        assert self.release.wait(10)
        return run


def test_callers_who_ask_during_a_run_are_answered_together_by_the_next() -> None:
    work = Gated()
    coalesced = Coalesced(work)
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(coalesced)
        assert work.began.wait(10)
        work.began.clear()
        later = [pool.submit(coalesced) for _ in range(3)]
        time.sleep(0.2)  # they wait: no second run while the first is under way
        assert work.runs == 1
        work.release.set()
        assert first.result(10) == 1
        assert [f.result(10) for f in later] == [2, 2, 2]
    assert work.runs == 2


def test_a_caller_after_a_run_ended_gets_a_run_of_its_own() -> None:
    counter = itertools.count(1)
    coalesced = Coalesced(lambda: next(counter))
    assert [coalesced(), coalesced(), coalesced()] == [1, 2, 3]


def test_a_run_that_fails_fails_every_caller_it_answers_and_the_next_run_goes_on() -> None:
    calls = itertools.count(1)

    def work() -> int:
        if next(calls) == 1:
            raise OSError("the ledger could not be read")
        return 7

    coalesced = Coalesced(work)
    with pytest.raises(OSError, match="could not be read"):
        coalesced()
    assert coalesced() == 7


def test_under_any_arrival_of_callers_one_run_at_a_time_and_no_answer_older_than_its_question() -> (
    None
):
    rng = random.Random(20261205)
    lock = threading.Lock()
    running = 0
    most = 0
    began: list[float] = []

    def work() -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            began.append(time.monotonic())
            run = len(began)
        time.sleep(rng.uniform(0.001, 0.01))
        with lock:
            running -= 1
        return run

    coalesced = Coalesced(work)

    def caller(pause: float) -> tuple[float, int]:
        time.sleep(pause)
        asked = time.monotonic()
        return asked, coalesced()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(caller, [rng.uniform(0, 0.2) for _ in range(200)]))

    assert most == 1
    for asked, run in answers:
        assert began[run - 1] >= asked  # the run that answered began after the question
    assert len(began) < len(answers)  # and callers shared runs
