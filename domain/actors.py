"""Who did it: every event names its actor and the actor's role."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.organisations import PROVINCE
from domain.text import ACTOR_ID_PATTERN


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

    id: str = Field(min_length=1, max_length=200, pattern=ACTOR_ID_PATTERN)
    role: Role


SYSTEM = Actor(id="itsm", role=Role.SYSTEM)


#: Roles that see every organisation's records by their office (ISO/IEC 20000-1 9.2: auditors
#: sample everything; service managers answer for every service; admins run the system).
SEES_ALL = frozenset({Role.AUDITOR, Role.SERVICE_MANAGER, Role.ADMIN, Role.SYSTEM})


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, as the API knows them: the actor events record, and the organisation
    whose records they may see and act on (the provincial office or one of the regency/city
    libraries). None means no organisation named: such a caller is of the provincial office,
    the organisation of records that name no other (docs/security.md, "Organisations")."""

    actor: Actor
    organisation: str | None = None
    #: Granted more than their organisation: every organisation's records.
    all_organisations: bool = False

    @property
    def home(self) -> str:
        """The organisation this caller belongs to: the one their records are made for."""
        return self.organisation or PROVINCE

    @property
    def sees_all(self) -> bool:
        return self.all_organisations or self.actor.role in SEES_ALL

    def sees(self, organisation: str) -> bool:
        """Whether records of `organisation` are this caller's to see and act on."""
        return self.sees_all or organisation == self.home
