"""Who did it: every event names its actor and the actor's role."""

from __future__ import annotations

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
