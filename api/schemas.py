"""Response shapes, for the OpenAPI document. Rows are served as stored, without re-validation."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class ActorOut(BaseModel):
    id: str
    role: str


class Entry(BaseModel):
    at: str
    by: ActorOut


class TextEntry(Entry):
    text: str


class IncidentSummary(BaseModel):
    id: UUID
    ref: str = Field(examples=["INC-000042"])
    number: int
    title: str
    state: str
    priority: int = Field(description="1 (P1) .. 5 (P5)")
    service: str = Field(description="the service's code in the service catalogue")
    category: str | None = Field(description="the category's code within the service")
    subcategory: str | None
    organisation: str = Field(
        examples=["dpk-banten"], description="the organisation whose record it is"
    )
    group: str | None
    agent: str | None
    logged_at: str
    updated_at: str
    version: int


class IncidentDetails(IncidentSummary):
    description: str
    configuration_item: str | None
    caller: str
    channel: str
    impact: str
    urgency: str
    matrix_version: int = Field(description="the priority matrix version it was judged by")
    sla: dict[str, Any] | None = Field(
        description="the SLA policy and calendar versions it is judged by (ids and versions)"
    )
    hold_reason: str | None
    major_incident: dict[str, Any] | None = Field(
        description="declared: its manager, why, when, by whom; stood down; its review (null:"
        " not yet reviewed)"
    )
    major_proposal: dict[str, Any] | None = Field(
        default=None,
        description="the major-incident criteria it met (staff): which, the rule's version, when",
    )
    escalation_level: int
    escalations: list[dict[str, Any]]
    work_notes: list[TextEntry]
    comments: list[TextEntry]
    resolution: dict[str, Any] | None
    reopen_count: int
    closure: dict[str, Any] | None
    cancellation: dict[str, Any] | None
    ended_at: str | None = Field(
        default=None,
        description="when it ended (closed or cancelled): its requester reads it for the years"
        " the retention schedule gives after (GET /api/v1/retention)",
    )
    parent: dict[str, Any] | None = Field(
        default=None, description="the incident this one is a child of (id, ref, when, by whom)"
    )
    children: list[dict[str, Any]] = Field(
        default_factory=list, description="its children, resolved with it while still open"
    )
    resolved_with_parent: dict[str, Any] | None = Field(
        default=None,
        description="why it was resolved: its parent's resolution (parent id, ref, code, and"
        " on whose behalf the service resolved it)",
    )
    duplicates: list[dict[str, Any]] = Field(
        default_factory=list,
        description="incidents cancelled as duplicates of this one, with their callers (staff)",
    )
    rating: dict[str, Any] | None = Field(
        default=None,
        description="the caller's rating once it is closed: score (1 to 5), comment, when, by whom",
    )
    logged_by: ActorOut


class IncidentPage(BaseModel):
    """A page of incidents (api/pages.py says how every list pages)."""

    items: list[IncidentSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class QueueItem(BaseModel):
    id: UUID
    ref: str
    title: str
    service: str
    category: str | None
    priority: int
    state: str
    agent: str | None
    major: bool
    logged_at: str


class Queue(BaseModel):
    group: str | None = Field(description="null is the triage queue: not yet assigned")
    open: int
    items: list[QueueItem]


class Queues(BaseModel):
    queues: list[Queue]
