"""The service catalogue (ISO/IEC 20000-1 8.2.4): the services the office runs, each with its
categories and their subcategories, versioned like the priority matrix.

A record names its service by code (`batupusaka`, `kiosks-gates`), never by free text, and an
incident its category and subcategory within that service: what queues, reports and search group
by. A name is said in Bahasa Indonesia and English; the code never changes. A revision is a new
version and says why; it may rename, add, or retire a service, category or subcategory, but not
remove one, so every record's code keeps its name in every later version. A retired entry takes
no new records; the records that name it keep it.

Distinct from the catalogue items of docs/service-requests.md: those are what people may request
(each of one service); this is the list of services themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from typing import ClassVar
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field

from domain.aggregate import Aggregate, applies
from domain.context import Context
from domain.errors import DomainError, InvalidRule
from domain.events import DomainEvent
from domain.fields import Reasoned

#: A service's, category's or subcategory's code: lower case, digits and '-'.
CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
Code = Field(pattern=CODE_PATTERN, min_length=1, max_length=40)
#: A code a command may leave out.
OptionalCode = Field(default=None, pattern=CODE_PATTERN, min_length=1, max_length=40)


class Names(BaseModel):
    """What people call an entry, in Bahasa Indonesia (`id`) and in English (`en`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    id: str = Field(min_length=1, max_length=300)
    en: str = Field(min_length=1, max_length=300)

    def said_in(self, language: str) -> str:
        return self.en if language == "en" else self.id


class Subcategory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Code
    name: Names
    retired: bool = False


class Category(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Code
    name: Names
    subcategories: list[Subcategory] = Field(default_factory=list, max_length=50)
    retired: bool = False


class Service(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Code
    name: Names
    description: Names | None = None
    categories: list[Category] = Field(default_factory=list, max_length=50)
    retired: bool = False

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)


#: The services a catalogue holds, in the order people read them.
Services = list[Service]


#: Where a refusal says the codes are.
_LISTED = " in use (GET /api/v1/service-catalogue lists them)"


class UnknownService(DomainError):
    """A record names a service, category or subcategory the catalogue does not hold, or holds
    as retired."""

    code = "unknown-service"


class Classification(BaseModel):
    """Where a record sits in the catalogue: its service and, for incidents, the category and
    subcategory within it (either may be left for triage)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    service: str = Code
    category: str | None = OptionalCode
    subcategory: str | None = OptionalCode


# -- events ------------------------------------------------------------------------------------


class CatalogueEvent(DomainEvent):
    """The catalogue's services, as defined or as a revision leaves them."""

    services: Services = Field(max_length=100)


class CatalogueDefined(CatalogueEvent):
    type_name: ClassVar[str] = "ServiceCatalogue.Defined"


class CatalogueRevised(Reasoned, CatalogueEvent):
    type_name: ClassVar[str] = "ServiceCatalogue.Revised"


def _unique(codes: Iterable[str], where: str) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise InvalidRule(f"{where} names {code!r} twice")
        seen.add(code)


def _validated(services: Services) -> Services:
    if not services:
        raise InvalidRule("the catalogue needs at least one service")
    _unique((s.code for s in services), "the catalogue")
    for service in services:
        _unique((c.code for c in service.categories), f"service {service.code!r}")
        for category in service.categories:
            where = f"category {service.code}/{category.code}"
            _unique((s.code for s in category.subcategories), where)
    return list(services)


def _kept(old: Services, new: Services) -> None:
    """A revision may retire an entry but not remove it: every record's code keeps its name."""
    after = {s.code: s for s in new}
    for service in old:
        now = after.get(service.code)
        if now is None:
            raise InvalidRule(f"service {service.code!r} cannot be removed, only retired")
        for category in service.categories:
            kept = now.category(category.code)
            if kept is None:
                raise InvalidRule(
                    f"category {service.code}/{category.code} cannot be removed, only retired"
                )
            codes = {s.code for s in kept.subcategories}
            for sub in category.subcategories:
                if sub.code not in codes:
                    raise InvalidRule(
                        f"subcategory {service.code}/{category.code}/{sub.code} cannot be"
                        " removed, only retired"
                    )


class ServiceCatalogue(Aggregate):
    """There is one catalogue; its versions are its history."""

    KIND = "service catalogue"
    ID: ClassVar[UUID] = uuid5(UUID("1d3b5a8e-2c4f-4e6a-9b0d-7f1e3c5a9b2d"), "service-catalogue")

    services: Services

    @classmethod
    def define(cls, ctx: Context, services: Services) -> ServiceCatalogue:
        return cls._begin(ctx, cls.ID, CatalogueDefined, services=_validated(services))

    def revise(self, ctx: Context, services: Services, reason: str) -> None:
        new = _validated(services)
        if new == self.services:
            raise InvalidRule("the revised catalogue is the same as the current one")
        _kept(self.services, new)
        self._record(CatalogueRevised(**self._envelope(ctx), services=new, reason=reason))

    @applies(CatalogueDefined, CatalogueRevised)
    def _defined(self, event: CatalogueEvent) -> None:
        self.services = event.services

    # -- reading ----------------------------------------------------------------------------------

    def service(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def name_of(self, code: str, language: str) -> str:
        """What people of `language` call the service (the code itself, where the catalogue
        holds none: a record imported or stored before the catalogue)."""
        found = self.service(code)
        return code if found is None else found.name.said_in(language)

    def classified(
        self, service: str, category: str | None = None, subcategory: str | None = None
    ) -> Classification:
        """The classification a new record (or a recategorisation) takes: each code held by the
        catalogue and not retired; a subcategory only with its category. UnknownService if not."""
        found = self.service(service)
        if found is None or found.retired:
            raise UnknownService(f"the service catalogue holds no service {service!r}{_LISTED}")
        if subcategory is not None and category is None:
            raise UnknownService("a subcategory is given only with its category")
        if category is not None:
            held = found.category(category)
            if held is None or held.retired:
                raise UnknownService(f"service {service!r} has no category {category!r}")
            if subcategory is not None and not any(
                s.code == subcategory and not s.retired for s in held.subcategories
            ):
                raise UnknownService(
                    f"category {service}/{category} has no subcategory {subcategory!r}"
                )
        return Classification(service=service, category=category, subcategory=subcategory)

    def known(self, services: Sequence[str]) -> None:
        """Check the services a record names (a change's, a configuration item's): each held and
        not retired; UnknownService naming the first that is not."""
        for code in services:
            self.classified(code)


def shipped_services() -> Services:
    """The catalogue a new service starts with: the province's systems as the office names them
    (domain/service_catalogue.json; revise it with POST /api/v1/service-catalogue/revisions)."""
    text = resources.files("domain").joinpath("service_catalogue.json").read_bytes()
    return CatalogueTerms.model_validate_json(text).services


class CatalogueTerms(BaseModel):
    """A catalogue as a revision states it."""

    model_config = ConfigDict(extra="forbid")
    services: Services = Field(min_length=1, max_length=100)
