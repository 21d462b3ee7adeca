"""The versioned service catalogue: anyone signed in reads it (a requester needs its codes to log
an incident); service managers revise it (docs/service-catalogue.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.routing import ResourceRouter
from api.rule_routes import add_rule_routes
from domain.examples import example
from domain.fields import Reason
from domain.service_catalogue import Services, shipped_services

router = ResourceRouter(prefix="/service-catalogue", tags=["service catalogue"])


class CatalogueOut(BaseModel):
    version: int
    services: Services = Field(
        description="each service with its categories and their subcategories, by code; a"
        " retired entry takes no new records"
    )


class CatalogueRevision(BaseModel):
    model_config = example(
        {
            "services": [s.model_dump(exclude_defaults=True) for s in shipped_services()[:1]],
            "reason": "Batupusaka's harvest of the partners' catalogues is its own category",
        },
        extra="forbid",
    )
    services: Services = Field(min_length=1, max_length=100)
    reason: str = Reason
    change: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="CHG-000042 or its id: the successfully implemented change that adds,"
        " retires or changes a service under change control (GET /api/v1/change-policy); 409"
        " change-not-implemented without one",
    )


add_rule_routes(
    router,
    noun="service catalogue",
    answer=CatalogueOut,
    revision=CatalogueRevision,
    read=lambda desk, version: desk.service_catalogue(version),
    shown=lambda catalogue: CatalogueOut(version=catalogue.version, services=catalogue.services),
    revise=lambda desk, ctx, body, expected: desk.revise_service_catalogue(
        ctx, body.services, body.reason, expected_version=expected, change=body.change
    ),
    names=("get_catalogue", "revise_catalogue"),
    summaries=(
        "The catalogue in force, or an earlier version",
        "Revise the catalogue: rename, add or retire services, categories, subcategories",
    ),
)
