"""What every command carries besides its own arguments: who, when, and why (correlation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from domain.actors import Actor


@dataclass(frozen=True, slots=True)
class Context:
    actor: Actor
    at: datetime  # aware; kept in UTC
    correlation_id: UUID

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("a command's time must be timezone-aware")
        object.__setattr__(self, "at", self.at.astimezone(UTC))

    def stamp(self) -> dict[str, object]:
        """The envelope fields every event takes from its command."""
        return {"actor": self.actor, "timestamp": self.at, "correlation_id": self.correlation_id}
