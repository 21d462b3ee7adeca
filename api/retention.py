"""The records' retention schedule (domain/retention.py, docs/retention.md): what the service
keeps, its retention class, and who reads it for how long. Records are never deleted; what
expires is access. Everyone who reads the service reads it: it is the office's stated rule."""

from __future__ import annotations

from typing import Any

from api.deps import ReaderDep
from api.models import RetentionSchedule
from api.routing import ResourceRouter
from domain.retention import schedule

router = ResourceRouter(prefix="/retention", tags=["documents"])


@router.get(
    "",
    response_model=RetentionSchedule,
    summary="The records' retention schedule: each kind of record, its class, who reads it for how"
    " long (records are never deleted; what expires is access)",
)
def get_retention(ctx: ReaderDep) -> dict[str, Any]:
    return schedule().model_dump(mode="json", by_alias=True)
