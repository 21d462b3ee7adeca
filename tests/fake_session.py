"""A session for unit tests of commands that read and make records (domain/session.py's surface
that commands use): records by id, numbers, records made."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from domain.aggregate import Aggregate
from domain.errors import RecordNotFound

A = TypeVar("A", bound=Aggregate)


class FakeSession:
    """What a rating asks of a session: records by id, numbers, records made."""

    def __init__(self, *records: Aggregate) -> None:
        self.records: dict[UUID, Aggregate] = {r.id: r for r in records}
        self.added: list[Aggregate] = []
        self.numbers: dict[str, int] = {}

    def find(self, cls: type[A], record_id: UUID) -> A | None:
        found = self.records.get(record_id)
        return found if isinstance(found, cls) else None

    def get(self, cls: type[A], record_id: UUID, ref: object = None) -> A:
        found = self.find(cls, record_id)
        if found is None:
            raise RecordNotFound(f"no record {record_id}", record_id)
        return found

    def allocate(self, kind: str, record_id: UUID) -> int:
        self.numbers[kind] = self.numbers.get(kind, 0) + 1
        return self.numbers[kind]

    def add(self, record: Aggregate) -> None:
        self.added.append(record)
        self.records[record.id] = record
