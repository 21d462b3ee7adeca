"""What every command carries besides its own arguments: who, when, and why (correlation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.actors import Actor


@dataclass(frozen=True, slots=True)
class Context:
    actor: Actor
    at: datetime
    correlation_id: UUID

    def stamp(self) -> dict[str, object]:
        """The envelope fields every event takes from its command."""
        return {"actor": self.actor, "timestamp": self.at, "correlation_id": self.correlation_id}
