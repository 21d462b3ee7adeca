"""How another system's ticket log maps onto incident events: a small TOML file (docs/imports.md).

A log is read as rows; the rows of one case are one incident. Each row names a state (a snapshot
log such as ServiceNow's `incident_state`) or an activity (a process-mining log such as
"Take in charge ticket"); the `[states]` table maps each value to the lifecycle state it puts the
incident in, so both kinds of log take the same path. Columns name who did it, when, and the
case's attributes (group, agent, impact, urgency); templates build the title and service.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from domain.actors import Role
from domain.incident import Channel, HoldReason, IncidentState, ResolutionCode
from domain.organisations import PROVINCE
from domain.priority import Impact, Urgency
from domain.text import without_controls

#: Where the shipped mappings live.
SHIPPED = Path(__file__).parent / "import_mappings"

_SYSTEM = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_FIELD = re.compile(r"{([^{}]+)}")


class MappingError(ValueError):
    """A mapping file that cannot be used, and why."""


@dataclass(frozen=True, slots=True)
class Target:
    """The lifecycle state a row puts its incident in (with the hold reason for on_hold)."""

    state: IncidentState
    hold_reason: HoldReason | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        name, _, reason = text.partition(":")
        try:
            state = IncidentState(name)
            hold = HoldReason(reason) if reason else None
        except ValueError:
            raise MappingError(f"unknown target state {text!r}") from None
        if (state is IncidentState.ON_HOLD) != (hold is not None):
            raise MappingError(
                f"{text!r}: on_hold takes a reason (on_hold:awaiting_caller), and only it"
            )
        return cls(state, hold)


@dataclass(frozen=True)
class Mapping:
    system: str  # prefixes actor ids ("servicenow:Updated by 21") and keys aggregate ids
    case: str  # the column of the case id
    time: str  # the column of each row's time
    time_format: str  # strptime format
    time_zone: ZoneInfo
    state: str  # the column of the state or activity
    states: dict[str, Target]
    actor: str  # the column of who made the row
    title: str  # template over the case's first row
    service: str  # template
    role: Role = Role.AGENT
    missing: frozenset[str] = frozenset({""})
    order_by: str | None = None  # an integer column that orders rows of equal time
    opened_at: str | None = None  # default: the first row's time
    opened_by: str | None = None  # default: the first row's actor
    caller: str | None = None  # default: the opener
    description: str = ""
    configuration_item: str | None = None
    organisation: str = PROVINCE
    channel: str | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    impact: str | None = None
    impacts: dict[str, Impact] = field(default_factory=dict)
    urgency: str | None = None
    urgencies: dict[str, Urgency] = field(default_factory=dict)
    #: The source's own priority (1 = highest, as ours), where it has one: the fact, which our
    #: matrix does not recompute (docs/imports.md). Without it the matrix derives the priority.
    priority: str | None = None
    priorities: dict[str, int] = field(default_factory=dict)
    group: str | None = None
    agent: str | None = None
    resolution_code: str | None = None
    #: The source's own resolution time, where it has one: compared with the row where the state
    #: becomes resolved (which the resolution keeps), and every difference counted.
    resolved_at: str | None = None
    resolution_codes: dict[str, ResolutionCode] = field(default_factory=dict)
    resolution_notes: str = "resolved (imported)"
    default_group: str = "imported"
    default_channel: Channel = Channel.PHONE
    default_impact: Impact = Impact.MEDIUM
    default_urgency: Urgency = Urgency.MEDIUM
    default_resolution_code: ResolutionCode = ResolutionCode.FIXED
    reopen_window: timedelta = timedelta(days=5)

    def parse_time(self, text: str) -> datetime:
        return datetime.strptime(text, self.time_format).replace(tzinfo=self.time_zone)

    def value(self, row: dict[str, str], column: str | None) -> str | None:
        """A column's value, or None where it is missing (absent, or a missing marker)."""
        if column is None:
            return None
        text = row.get(column)
        if text is None:
            return None
        text = without_controls(text).strip()  # a foreign row's stray controls: dropped
        return None if text in self.missing else text

    def render(self, template: str, row: dict[str, str]) -> str:
        """A template such as "{number}: {category}"; a missing value reads "unknown"."""
        return _FIELD.sub(lambda m: self.value(row, m.group(1)) or "unknown", template)

    def columns(self) -> set[str]:
        """Every column the mapping reads (checked against the file's header)."""
        named = {
            self.case,
            self.time,
            self.state,
            self.actor,
            self.order_by,
            self.opened_at,
            self.opened_by,
            self.caller,
            self.configuration_item,
            self.channel,
            self.impact,
            self.urgency,
            self.priority,
            self.group,
            self.agent,
            self.resolution_code,
            self.resolved_at,
        }
        for template in (self.title, self.service, self.description, self.resolution_notes):
            named.update(_FIELD.findall(template))
        return {c for c in named if c is not None}


def load(path: Path | str) -> Mapping:
    """A mapping from its TOML file; MappingError says what is wrong with it."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise MappingError(f"{path}: {error}") from None
    try:
        return from_document(doc)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, MappingError):
            raise MappingError(f"{path}: {error}") from None
        raise MappingError(f"{path}: {error!r}") from None


def from_document(doc: dict[str, Any]) -> Mapping:
    system = doc["system"]
    if not _SYSTEM.match(system):
        raise MappingError(f"system {system!r}: lower-case letters, digits and hyphens")
    case, event = doc["case"], doc["event"]
    defaults = doc.get("defaults", {})
    window = defaults.get("reopen_window_hours", 120)
    return Mapping(
        system=system,
        missing=frozenset(doc.get("csv", {}).get("missing", [""])),
        case=case["id"],
        opened_at=case.get("opened_at"),
        opened_by=case.get("opened_by"),
        caller=case.get("caller"),
        title=case["title"],
        description=case.get("description", ""),
        service=case["service"],
        configuration_item=case.get("configuration_item"),
        organisation=case.get("organisation", PROVINCE),
        channel=case.get("channel"),
        time=event["time"],
        time_format=event["time_format"],
        time_zone=ZoneInfo(event.get("time_zone", "UTC")),
        order_by=event.get("order_by"),
        actor=event["actor"],
        role=Role(event.get("role", "agent")),
        state=event["state"],
        group=event.get("group"),
        agent=event.get("agent"),
        impact=event.get("impact"),
        urgency=event.get("urgency"),
        priority=event.get("priority"),
        resolution_code=event.get("resolution_code"),
        resolved_at=event.get("resolved_at"),
        resolution_notes=event.get("resolution_notes", "resolved (imported)"),
        states={value: Target.parse(target) for value, target in doc["states"].items()},
        channels={k: Channel(v) for k, v in doc.get("channels", {}).items()},
        impacts={k: Impact(v) for k, v in doc.get("impacts", {}).items()},
        urgencies={k: Urgency(v) for k, v in doc.get("urgencies", {}).items()},
        priorities={k: _priority(v) for k, v in doc.get("priorities", {}).items()},
        resolution_codes={k: ResolutionCode(v) for k, v in doc.get("resolution_codes", {}).items()},
        default_group=defaults.get("group", "imported"),
        default_channel=Channel(defaults.get("channel", "phone")),
        default_impact=Impact(defaults.get("impact", "medium")),
        default_urgency=Urgency(defaults.get("urgency", "medium")),
        default_resolution_code=ResolutionCode(defaults.get("resolution_code", "fixed")),
        reopen_window=timedelta(hours=window),
    )


def _priority(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
        raise MappingError(f"priority {value!r}: an integer from 1 (highest) to 5")
    return value


def shipped(name: str) -> Mapping:
    """A mapping shipped with the service (processes/import_mappings/NAME.toml)."""
    return load(SHIPPED / f"{name}.toml")
