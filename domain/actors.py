"""Who did it: every event names its actor and the actor's role."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    REQUESTER = "requester"
    AGENT = "agent"
    RESOLVER = "resolver"
    CHANGE_MANAGER = "change_manager"
    CAB_MEMBER = "cab_member"
    SERVICE_MANAGER = "service_manager"
    AUDITOR = "auditor"
    INTEGRATION = "integration"
    ADMIN = "admin"
    SYSTEM = "system"


class Actor(BaseModel):
    """A person, integration or the service itself, as recorded in events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    role: Role


SYSTEM = Actor(id="itsm", role=Role.SYSTEM)


#: Roles that see every organisation's records by their office (ISO/IEC 20000-1 9.2: auditors
#: sample everything; service managers answer for every service; admins run the system).
SEES_ALL = frozenset({Role.AUDITOR, Role.SERVICE_MANAGER, Role.ADMIN, Role.SYSTEM})


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, as the API knows them: the actor events record, and the organisation
    whose records they may see and act on (the provincial office or one of the regency/city
    libraries). None means no organisation: such an actor sees only what every role sees."""

    actor: Actor
    organisation: str | None = None
    #: Granted more than their organisation: every organisation's records.
    all_organisations: bool = False

    def sees(self, organisation: str | None) -> bool:
        """Whether records of `organisation` are this caller's to see and act on."""
        if self.all_organisations or self.actor.role in SEES_ALL:
            return True
        return organisation is not None and organisation == self.organisation
