"""What every command carries besides its own arguments: who, when, and why (correlation), and
for a command from a caller (the API), whose records the caller may see and act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from domain.actors import Actor, Identity, Role
from domain.errors import OutsideOrganisation
from domain.organisations import PROVINCE


@dataclass(frozen=True, slots=True)
class Context:
    actor: Actor
    at: datetime  # aware; kept in UTC
    correlation_id: UUID
    #: The caller's reach, when the command comes from a caller (every API request has one):
    #: their organisation's records, or all; a requester, only their own. None: the service's
    #: own processes and tools (SLA watcher, seed, imports), which act on every record.
    scope: Identity | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("a command's time must be timezone-aware")
        object.__setattr__(self, "at", self.at.astimezone(UTC))

    def stamp(self) -> dict[str, object]:
        """The envelope fields every event takes from its command."""
        return {"actor": self.actor, "timestamp": self.at, "correlation_id": self.correlation_id}

    def reaches(self, organisation: str, owner: str | None = None) -> bool:
        """Whether a record of `organisation` (reported or requested by `owner`, if it has one)
        is the caller's to see and act on. A requester reaches only records they own; anyone
        else, the records of organisations they see (Identity.sees). A record out of reach is
        answered as one that does not exist."""
        scope = self.scope
        if scope is None:
            return True
        if scope.actor.role is Role.REQUESTER:
            return owner is not None and owner == scope.actor.id
        return scope.sees(organisation)

    def organisation_for(self, requested: str | None) -> str:
        """The organisation of a record this caller makes: the one asked for, which must be one
        they see, or else their own (the provincial office for callers of none)."""
        if self.scope is None:
            return requested or PROVINCE
        if requested is None:
            return self.scope.home
        if self.scope.actor.role is Role.REQUESTER:
            if requested != self.scope.home:
                raise OutsideOrganisation(f"a requester makes records for {self.scope.home} only")
            return requested
        if not self.scope.sees(requested):
            raise OutsideOrganisation(
                f"{self.scope.actor.id} may not make records for {requested}, only for"
                f" {self.scope.home}"
            )
        return requested
