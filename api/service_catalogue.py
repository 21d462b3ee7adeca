"""The versioned service catalogue: anyone signed in reads it (a requester needs its codes to log
an incident); service managers revise it (docs/service-catalogue.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from pydantic import BaseModel, Field

from api.deps import (
    CORRELATION_ID,
    IF_MATCH,
    ReaderDep,
    ServicesDep,
    authorised,
    documented,
    expected_version,
    services_of,
)
from api.params import Version
from api.problem_details import ApiProblem
from api.routing import ResourceRouter
from domain.actors import Role
from domain.context import Context
from domain.examples import example
from domain.fields import Reason
from domain.service_catalogue import ServiceCatalogue, Services, shipped_services

router = ResourceRouter(prefix="/service-catalogue", tags=["service catalogue"])

CATALOGUE_KEEPERS = authorised(
    frozenset({Role.SERVICE_MANAGER, Role.ADMIN}), "revise the service catalogue"
)


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


def _out(catalogue: ServiceCatalogue) -> CatalogueOut:
    return CatalogueOut(version=catalogue.version, services=catalogue.services)


@router.get(
    "", response_model=CatalogueOut, summary="The catalogue in force, or an earlier version"
)
def get_catalogue(services: ServicesDep, _: ReaderDep, version: Version = None) -> CatalogueOut:
    try:
        return _out(services.desk.service_catalogue(version))
    except LookupError:
        raise ApiProblem(404, "not-found", f"no service catalogue version {version}") from None


@router.post(
    "/revisions",
    response_model=CatalogueOut,
    status_code=201,
    summary="Revise the catalogue: rename, add or retire services, categories, subcategories",
    openapi_extra=documented(IF_MATCH, CORRELATION_ID),
)
def revise_catalogue(
    request: Request,
    revision: CatalogueRevision,
    ctx: Annotated[Context, CATALOGUE_KEEPERS],
) -> CatalogueOut:
    desk = services_of(request).desk
    desk.revise_service_catalogue(
        ctx,
        revision.services,
        revision.reason,
        expected_version=expected_version(request),
        change=revision.change,
    )
    return _out(desk.service_catalogue())
