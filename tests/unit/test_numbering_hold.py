"""Holding the numbers takes the number lock, then the write lock, and lets both go however the
block ends: a refused create, or a write lock that cannot be had, leaves no lock held."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from application.desk import ServiceDesk


class Recorded:
    """A lock that says when it is taken and let go; it refuses to be taken if told to."""

    def __init__(self, name: str, log: list[str], *, refuse: bool = False) -> None:
        self.name, self.log, self.refuse = name, log, refuse
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        if self.refuse:
            raise TimeoutError(f"{self.name} cannot be had")
        self.lock.acquire()
        self.log.append(f"take {self.name}")

    def __exit__(self, *_: Any) -> None:
        self.log.append(f"free {self.name}")
        self.lock.release()


def desk_with(numbers: Recorded, writes: Recorded) -> ServiceDesk:
    return ServiceDesk(reopen_window=timedelta(days=7), number_lock=numbers, write_lock=writes)


def test_the_numbers_are_held_number_lock_first_and_freed_in_reverse() -> None:
    log: list[str] = []
    desk = desk_with(Recorded("numbers", log), Recorded("writes", log))

    with desk.numbering() as held:
        assert held is True
        assert log == ["take numbers", "take writes"]

    assert log == ["take numbers", "take writes", "free writes", "free numbers"]


def test_a_refused_create_leaves_neither_lock_held() -> None:
    log: list[str] = []
    numbers, writes = Recorded("numbers", log), Recorded("writes", log)
    desk = desk_with(numbers, writes)

    with pytest.raises(ValueError, match="refused"), desk.numbering():
        raise ValueError("refused")

    assert not numbers.lock.locked()
    assert not writes.lock.locked()
    assert log[-2:] == ["free writes", "free numbers"]


def test_a_write_lock_that_cannot_be_had_frees_the_number_lock() -> None:
    log: list[str] = []
    numbers = Recorded("numbers", log)
    desk = desk_with(numbers, Recorded("writes", log, refuse=True))

    with pytest.raises(TimeoutError), desk.numbering():
        pass

    assert not numbers.lock.locked()
    assert log == ["take numbers", "free numbers"]
