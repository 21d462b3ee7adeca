"""What a command did: which record, at which version, and up to which global position."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Outcome:
    record_id: UUID
    version: int
    #: The global position of the record's last event written (what its views must reach to show
    #: it: in Kafka mode the record's partition carries it); None when a retry was replayed.
    position: int | None
    #: A retry of an earlier request: nothing was written, and `version` is the one the first
    #: request left the record at (its answer is the record as it then stood).
    replayed: bool = False
