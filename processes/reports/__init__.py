"""Service reports (ISO/IEC 20000-1 9.1, 9.4; docs/reports.md): the catalogue of reports and the
making of one.

A report is made from the record itself, not from the live views: the events stored up to a
position that happened before the period's end (history.py), judged by the rules each record
recorded (figures.py). The same period and position give the same figures, whatever was stored
since: the report names both, with a digest of its figures, so a stored report can be checked by
making it again.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from application.desk import ServiceDesk
from domain.calendar import CalendarSpec
from processes.reports import figures
from processes.reports.figures import Period
from processes.reports.history import History, read_history

CATALOGUE = Path(__file__).with_name("catalogue.toml")
Unit = Literal["count", "percent", "hours", "days", "score"]
Language = Literal["id", "en"]


class Words(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: str = ""
    purpose: str = ""


class Measure(BaseModel):
    """A figure a report shows, and what it means in each language."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    unit: Unit
    id: str
    en: str

    def said_in(self, language: Language) -> str:
        return self.en if language == "en" else self.id


class ReportDefinition(BaseModel):
    """One entry of the report catalogue."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    clauses: list[str]
    frequency: Literal["monthly"]
    audience: list[str]
    dimensions: list[str]
    trend: list[str] = Field(min_length=1)
    headline: str
    id: Words
    en: Words
    measures: dict[str, Measure]

    def words(self, language: Language) -> Words:
        return self.en if language == "en" else self.id


@cache
def catalogue() -> dict[str, ReportDefinition]:
    """The report catalogue, by report name."""
    raw = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
    return {name: ReportDefinition(name=name, **entry) for name, entry in raw.items()}


#: How each report is made from a history: the clocked ones judged by the rules of record, the
#: suppliers' waits on their contracts' calendars.
Maker = Callable[[History, Period, ServiceDesk], dict[str, Any]]
_MAKERS: Mapping[str, Maker] = {
    "incidents": lambda h, p, desk: figures.incidents(h, p, desk.rulebook.rules),
    "requests": lambda h, p, desk: figures.requests(h, p, desk.rulebook.rules),
    "problems": lambda h, p, _: figures.problems(h, p),
    "changes": lambda h, p, _: figures.changes(h, p),
    "configuration": lambda h, p, _: figures.configuration(h, p),
    "suppliers": lambda h, p, desk: figures.suppliers(h, p, _calendars(desk)),
    "agreements": lambda h, p, desk: figures.agreements(h, p, desk.rulebook.rules),
}


def _calendars(desk: ServiceDesk) -> figures.CalendarOf:
    """The business calendars by name, each read once for a report."""
    specs: dict[str, CalendarSpec] = {}

    def calendar_of(name: str) -> CalendarSpec:
        if name not in specs:
            specs[name] = desk.business_calendar(name).spec()
        return specs[name]

    return calendar_of


NAMES = tuple(_MAKERS)


@dataclass(frozen=True)
class Reading:
    """A history read for a period, from which any report of that period is made."""

    history: History
    period: Period


def read(
    desk: ServiceDesk,
    period: Period,
    *,
    position: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Reading:
    """The history a report of `period` reads: the store up to `position` (the head if left
    out), before the period's end."""
    history = read_history(
        desk.recorder, desk.mapper, period.end, position=position, progress=progress
    )
    return Reading(history, period)


def make(desk: ServiceDesk, reading: Reading, name: str) -> dict[str, Any]:
    """Report `name` (one of NAMES) of the reading's period: its figures and what they were
    made from. KeyError for a name the catalogue does not hold."""
    maker = _MAKERS[name]
    definition = catalogue()[name]
    body = maker(reading.history, reading.period, desk)
    made = {
        "report": name,
        "period": reading.period.as_dict(),
        "as_of": reading.period.end.isoformat(),
        "position": reading.history.position,
        "measures": list(definition.measures),
        **body,
    }
    return {**made, "digest": digest(made)}


def digest(made: Mapping[str, Any]) -> str:
    """SHA-256 of the report's canonical JSON (without its digest): what a stored report is
    checked against when it is made again from the same position."""
    plain = {key: value for key, value in made.items() if key != "digest"}
    return hashlib.sha256(orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)).hexdigest()
