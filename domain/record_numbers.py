"""Numbers of changes, service requests, problems, knowledge articles, improvements and
controlled documents (CHG-000001, KB-..., IMP-..., DOC-...).

As for incidents, number N of a kind is version N of that kind's number log, so the store's
uniqueness of (log, version) makes numbers unique and gap-free across processes. These kinds are
written far less often than incidents, so a number is proposed as the last stored one plus one,
and a collision (another process took it) simply decides the command again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID, uuid5

from domain.events import DomainEvent
from domain.fields import Ref
from domain.records import parse_record_number

_NAMESPACE = UUID("0b6f5a52-4f0e-4a43-8c1f-71e2f6d9c3a4")


class RecordKind(StrEnum):
    CHANGE = "CHG"
    SERVICE_REQUEST = "REQ"
    PROBLEM = "PRB"
    KNOWLEDGE_ARTICLE = "KB"
    IMPROVEMENT = "IMP"
    INTERNAL_AUDIT = "AUD"
    NONCONFORMITY = "NC"
    DOCUMENT = "DOC"


class RecordNumberAllocated(DomainEvent):
    type_name: ClassVar[str] = "RecordNumber.Allocated"
    kind: RecordKind
    record_id: UUID
    label: str = Ref


def number_log(kind: RecordKind) -> UUID:
    return uuid5(_NAMESPACE, f"numbers\n{kind.value}")


def number_label(kind: RecordKind, number: int) -> str:
    return f"{kind.value}-{number:06d}"


def parse_number(kind: RecordKind, text: str) -> int | None:
    return parse_record_number(kind.value, text)


def named_id(kind: str, code: str) -> UUID:
    """The id of a record known by a code (a configuration item, a template, a catalogue item),
    so that finding it by code is one read and registering a code twice collides in the store."""
    return uuid5(_NAMESPACE, f"{kind}\n{code.lower()}")
