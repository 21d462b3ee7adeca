"""What a ticket records about the rules that judge it: the SLA policy and calendar versions.

Kept apart from domain/sla.py so that ticket aggregates can record them without depending on the
policy's terms (which themselves name the incident's on-hold reasons).
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.fields import Number


class SlaTarget(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


class RuleVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: UUID
    version: int = Number


class RuleVersions(BaseModel):
    """The SLA policy and business calendar versions a ticket is judged by, recorded when it is
    logged (the calendar is the one the policy names for the ticket's service)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    policy: RuleVersion
    calendar: RuleVersion
    calendar_name: str = Field(min_length=1, max_length=100)


class SlaWarning(BaseModel):
    """What a ticket's `SlaWarned` event records (incidents and service requests alike)."""

    target: SlaTarget
    threshold: int = Field(ge=1, le=99, description="percent of the target used")
    passed_at: AwareDatetime = Field(description="when the threshold was passed")


class SlaBreach(BaseModel):
    """What a ticket's `SlaBreached` event records (incidents and service requests alike)."""

    target: SlaTarget
    breached_at: AwareDatetime = Field(description="the moment the target was missed")
