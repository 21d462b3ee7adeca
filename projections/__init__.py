"""Read models built from the event store. Each is a pure fold; see projections.base."""

from projections.base import Projection
from projections.incident_details import incident_details
from projections.open_work import open_work_by_group
from projections.sla_clocks import sla_clocks

PROJECTIONS: tuple[Projection, ...] = (incident_details, open_work_by_group, sla_clocks)
BY_NAME: dict[str, Projection] = {p.name: p for p in PROJECTIONS}

__all__ = [
    "BY_NAME",
    "PROJECTIONS",
    "Projection",
    "incident_details",
    "open_work_by_group",
    "sla_clocks",
]
