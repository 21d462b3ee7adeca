"""The circulation stream's contract, and the pure rules the correlation runs by.

Circulation systems (INLISLite and SLiMS plugins, self-check kiosk and RFID gate monitors, the
e-book app) send CloudEvents 1.0 whose `type` is one of `TYPES` below and whose `data` has the
fields listed for it. One table states the contract: the fast validator on the ingest path and
the published JSON Schemas (docs/schemas/circulation/) are both generated from it, so they
cannot disagree.

Patron identifiers never get past the door: `patron` is replaced by its keyed hash
(`patron_ref`) before anything is stored (Indonesia's personal data protection law, UU PDP).
A sender never names `patron_ref` itself: only a replayed dead letter carries one, the hash
the service made when it kept the letter (see `validate`).
Nothing here reads a clock: times come in with the events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from domain.calendar import CalendarSpec
from domain.text import CONTROL, first_control, refusal

JAKARTA = ZoneInfo("Asia/Jakarta")

#: CloudEvents attributes an inbound event must carry (datacontenttype and subject may be sent).
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "data")
OPTIONAL_ATTRIBUTES = ("datacontenttype", "subject", "dataschema")
MAX_TEXT = 200


class Kind(StrEnum):
    """What an event says about its service: most are traffic, some are signals of trouble."""

    OK = "ok"  # normal traffic: counts towards volume
    FAILED = "failed"  # a failed transaction: counts towards the error rate
    SIGNAL = "signal"  # a device or system signal (heartbeat, status, alarm)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    required: bool = True
    choices: tuple[str, ...] = ()
    description: str = ""
    #: a member number: replaced by its keyed hash on arrival
    patron: bool = False


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    service: str  # the service whose health it speaks for
    kind: Kind
    summary: str
    fields: tuple[Field, ...]
    #: the data field naming the configuration item (device or system), if any
    ci_field: str | None = None


BRANCH = Field("branch", description="the library branch, e.g. serang-pusat")
PATRON = Field("patron", patron=True, description="member number; pseudonymised on arrival")
ITEM = Field("item", description="item barcode or RFID tag")
DEVICE = Field("device", description="the kiosk or gate, as its configuration item identifier")
OPT_DEVICE = Field("device", required=False, description="the kiosk it happened at, if any")
SYSTEM = Field("system", required=False, description="the library system, e.g. slims-serang")
CHANNEL = Field("channel", required=False, choices=("desk", "kiosk", "app", "opac"))
REASON = Field("reason", description="why it failed, as the system reports it")

# The services of the catalogue (domain/service_catalogue.json) the events are about, by code:
# online renewal is Batupusaka's, as is the union catalogue; kiosks and gates are one service.
CIRCULATION = "circulation"
RENEWAL = "batupusaka"
KIOSKS = "kiosks-gates"
GATES = "kiosks-gates"
CATALOGUE = "batupusaka"
MEMBERSHIP = "membership-cards"

PREFIX = "id.go.bantenprov.library."

TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType(
            PREFIX + "loan.checked_out",
            CIRCULATION,
            Kind.OK,
            "an item was lent",
            (BRANCH, PATRON, ITEM, CHANNEL, OPT_DEVICE, SYSTEM),
            "device",
        ),
        EventType(
            PREFIX + "loan.checkout_failed",
            CIRCULATION,
            Kind.FAILED,
            "a loan was refused or failed",
            (BRANCH, PATRON, ITEM, REASON, CHANNEL, OPT_DEVICE, SYSTEM),
            "device",
        ),
        EventType(
            PREFIX + "loan.returned",
            CIRCULATION,
            Kind.OK,
            "an item came back",
            (BRANCH, ITEM, CHANNEL, OPT_DEVICE, SYSTEM),
            "device",
        ),
        EventType(
            PREFIX + "loan.renewed",
            RENEWAL,
            Kind.OK,
            "a loan was renewed",
            (BRANCH, PATRON, ITEM, CHANNEL, SYSTEM),
            "system",
        ),
        EventType(
            PREFIX + "loan.renewal_failed",
            RENEWAL,
            Kind.FAILED,
            "a renewal was refused or failed",
            (BRANCH, PATRON, ITEM, REASON, CHANNEL, SYSTEM),
            "system",
        ),
        EventType(
            PREFIX + "device.heartbeat",
            KIOSKS,
            Kind.SIGNAL,
            "a kiosk or gate is alive",
            (BRANCH, DEVICE, Field("device_kind", choices=("kiosk", "gate"))),
            "device",
        ),
        EventType(
            PREFIX + "device.status_changed",
            KIOSKS,
            Kind.SIGNAL,
            "a kiosk or gate went online, offline or into an error",
            (
                BRANCH,
                DEVICE,
                Field("device_kind", choices=("kiosk", "gate")),
                Field("status", choices=("online", "offline", "error")),
                Field("code", required=False, description="the device's error code"),
            ),
            "device",
        ),
        EventType(
            PREFIX + "gate.alarm",
            GATES,
            Kind.SIGNAL,
            "an RFID gate alarmed on an item not lent",
            (BRANCH, DEVICE, Field("item", required=False)),
            "device",
        ),
        EventType(
            PREFIX + "catalogue.sync_failed",
            CATALOGUE,
            Kind.FAILED,
            "a branch's catalogue failed to synchronise with the union catalogue",
            (BRANCH, Field("system", description="the branch system"), REASON),
            "system",
        ),
        EventType(
            PREFIX + "member.card_requested",
            MEMBERSHIP,
            Kind.OK,
            "a member asked for a card (new, reprint, renewal)",
            (BRANCH, PATRON, Field("request", choices=("new", "reprint", "renewal"))),
            None,
        ),
    )
}

#: devices of this kind speak for this service (a status event names its kind)
DEVICE_SERVICES = {"kiosk": KIOSKS, "gate": GATES}


# -- validation -----------------------------------------------------------------------------------


class InvalidEvent(ValueError):
    """An inbound message that breaks the contract; `reason` says how (it goes to the DLQ)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Inbound:
    """One valid inbound event, patron already pseudonymised."""

    source: str
    id: str
    type: EventType
    time: datetime  # aware, UTC
    data: Mapping[str, str]

    @property
    def ci(self) -> str | None:
        name = self.type.ci_field
        return None if name is None else self.data.get(name)

    @property
    def service(self) -> str:
        kind = self.data.get("device_kind")
        return DEVICE_SERVICES[kind] if kind else self.type.service


def _text(where: str, value: Any) -> str:
    """A text of the contract, or InvalidEvent saying why not. (The hot path calls it only for a
    value that is not a printable string of the right length: a quick check there, this one's
    reason when it fails.)"""
    if not isinstance(value, str):
        raise InvalidEvent(f"{where} must be a string, not {type(value).__name__}")
    if not 0 < len(value) <= MAX_TEXT:
        raise InvalidEvent(f"{where} must be 1 to {MAX_TEXT} characters")
    found = first_control(value, where)
    if found is not None:
        raise InvalidEvent(refusal(found))
    return value


def parse_time(value: Any) -> datetime:
    text = _text("time", value)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEvent(f"time {text!r} is not an RFC 3339 date-time") from None
    if at.tzinfo is None:
        raise InvalidEvent(f"time {text!r} has no UTC offset")
    return at


_REQUIRED = frozenset(REQUIRED_ATTRIBUTES)
_ALLOWED = _REQUIRED | frozenset(OPTIONAL_ATTRIBUTES)


def validate(message: Any, pseudonymise: Any, *, replayed: bool = False) -> Inbound:
    """The event a decoded message carries, or InvalidEvent naming the first thing wrong.

    `pseudonymise(member_number) -> str` hashes patron identifiers. `patron_ref` in place of
    `patron` is taken as it is only from a `replayed` dead letter (its member number was hashed
    when it was kept): on the live stream a sender choosing it could file requests under any
    requester id, and a member number sent there would be stored unhashed. (On the hot path:
    set checks first, the reason is worked out only for a message that fails them.)
    """
    if type(message) is not dict:
        raise InvalidEvent("not a JSON object")
    keys = message.keys()
    if not keys >= _REQUIRED:
        missing = [name for name in REQUIRED_ATTRIBUTES if name not in keys]
        raise InvalidEvent(f"missing CloudEvents attribute {missing[0]!r}")
    if not keys <= _ALLOWED:
        raise InvalidEvent(f"unknown attribute {sorted(keys - _ALLOWED)[0]!r}")
    if message["specversion"] != "1.0":
        raise InvalidEvent(f"unsupported specversion {message['specversion']!r}")
    content_type = message.get("datacontenttype")
    if content_type is not None and content_type != "application/json":
        raise InvalidEvent(f"datacontenttype must be application/json, not {content_type!r}")
    type_name = message["type"]
    event_type = TYPES.get(type_name) if type(type_name) is str else None
    if event_type is None:
        raise InvalidEvent(f"unknown event type {type_name!r}")
    source = message["source"]
    if type(source) is not str or not 0 < len(source) <= MAX_TEXT or not source.isprintable():
        _text("source", source)
    event_id = message["id"]
    if type(event_id) is not str or not 0 < len(event_id) <= MAX_TEXT or not event_id.isprintable():
        _text("id", event_id)
    at = parse_time(message["time"])
    data = message["data"]
    if type(data) is not dict:
        raise InvalidEvent("data must be a JSON object")
    clean = _data(event_type, data, pseudonymise, replayed)
    return Inbound(source, event_id, event_type, at, clean)


#: Why a live message naming `patron_ref` is refused (its dead letter's reason).
PATRON_REF_REFUSED = (
    "data.patron_ref is accepted only in a replayed dead letter: send the member number as "
    "data.patron (it is replaced by its keyed hash on arrival)"
)


def _data(
    event_type: EventType, data: dict[str, Any], pseudonymise: Any, replayed: bool
) -> dict[str, str]:
    """A valid `data` of its type, with the member number replaced by its keyed hash."""
    if not replayed and "patron_ref" in data:
        raise InvalidEvent(PATRON_REF_REFUSED)
    type_name = event_type.name
    clean: dict[str, str] = {}
    for spec in event_type.fields:
        name = spec.name
        value = data.get(name)
        if value is None:
            if spec.patron and "patron_ref" in data:  # (a replay: checked above)
                clean["patron_ref"] = _text("data.patron_ref", data["patron_ref"])
            elif spec.required:
                raise InvalidEvent(f"data.{name} is required for {type_name}")
            continue
        if type(value) is not str or not 0 < len(value) <= MAX_TEXT or not value.isprintable():
            _text(f"data.{name}", value)
        if spec.choices and value not in spec.choices:
            raise InvalidEvent(f"data.{name} must be one of {', '.join(spec.choices)}")
        if spec.patron:
            if "patron_ref" in data:
                raise InvalidEvent("data has both patron and patron_ref")
            clean["patron_ref"] = pseudonymise(value)
        else:
            clean[name] = value
    if len(data) > len(clean):
        known = {f.name for f in event_type.fields}
        if "patron" in known:
            known.add("patron_ref")  # (only a replay gets here with one)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidEvent(f"data has fields {type_name} does not define: {unknown}")
    return clean


# -- the published JSON Schemas -------------------------------------------------------------------


#: A text of the contract: 1 to MAX_TEXT characters, no control character but tab, line feed and
#: carriage return (domain/text.py).
TEXT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TEXT,
    "pattern": f"^[^{CONTROL.pattern[1:-1]}]*$",
}


def data_schema(event_type: EventType) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for spec in event_type.fields:
        prop: dict[str, Any] = {**TEXT_SCHEMA}
        if spec.choices:
            prop = {"enum": list(spec.choices)}
        if spec.description:
            prop["description"] = spec.description
        properties[spec.name] = prop
    required = [f.name for f in event_type.fields if f.required]
    description = event_type.summary
    if any(f.patron for f in event_type.fields):
        description += (
            ". `patron_ref` (the member number's keyed hash) is refused here: only a dead letter "
            "replayed by `itsm dlq replay` carries it, in place of `patron`, as the service kept it"
        )
    return {
        "title": event_type.name,
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def envelope_schema(data_ref: str = "urn:itsm:schema:circulation:event:") -> dict[str, Any]:
    """The inbound CloudEvent: its `data` must match the schema of its `type`."""
    text = TEXT_SCHEMA
    return {
        "title": "Inbound circulation CloudEvent",
        "description": "CloudEvents 1.0 JSON sent to circulation.events or POSTed as NDJSON to "
        "/api/v1/ingest/circulation. (source, id) identifies an event: a repeat is ignored.",
        "type": "object",
        "required": list(REQUIRED_ATTRIBUTES),
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {**text, "description": "unique within its source"},
            "source": {**text, "description": "the sending system, e.g. /slims/serang"},
            "type": {"enum": sorted(TYPES)},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "subject": text,
            "dataschema": {"type": "string"},
            "data": {"type": "object"},
        },
        "additionalProperties": False,
        "allOf": [
            {
                "if": {"properties": {"type": {"const": name}}},
                "then": {"properties": {"data": {"$ref": data_ref + name}}},
            }
            for name in sorted(TYPES)
        ],
    }


# -- opening hours --------------------------------------------------------------------------------


class Opening(Protocol):
    """When the branches are open, as the device-offline rule asks it."""

    def open_since(self, at: datetime) -> datetime | None:
        """When the opening `at` falls in began (aware), or None when closed at `at`."""

    def open_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) the branches were open."""


@dataclass(frozen=True)
class CalendarOpening:
    """Opening hours as a business calendar version keeps them: the hours of each weekday, and
    no opening on the calendar's holidays (the shipped `library` calendar: Monday to Saturday
    08:00-16:00 WIB, closed on national holidays and cuti bersama)."""

    spec: CalendarSpec

    def open_since(self, at: datetime) -> datetime | None:
        day = at.astimezone(ZoneInfo(self.spec.time_zone)).date()
        for opens, closes in self.spec.windows(day):
            if opens <= at < closes:
                return opens
        return None

    def open_time_between(self, start: datetime, end: datetime) -> timedelta:
        return self.spec.business_time(start, end)


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*([a-z]{3})(?:-([a-z]{3}))?\s+(\d{1,2}:\d{2})-(\d{1,2}:\d{2})\s*$")


@dataclass(frozen=True)
class OpeningHours:
    """When branches are open, per weekday, in Asia/Jakarta time, with no holidays: the
    fallback when no business calendar is named for opening hours (CalendarOpening).

    Written as e.g. ``mon-thu 08:00-16:00; fri 08:00-11:30; fri 13:00-16:30; sat 08:00-13:00``.
    """

    spans: Mapping[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> OpeningHours:
        spans: dict[int, list[tuple[time, time]]] = {}
        for part in filter(str.strip, text.lower().split(";")):
            match = _SPAN.match(part)
            if match is None or match[1] not in DAYS or (match[2] and match[2] not in DAYS):
                raise ValueError(f"opening hours: {part.strip()!r} is not like 'mon 08:00-16:00'")
            first = DAYS.index(match[1])
            last = DAYS.index(match[2]) if match[2] else first
            opens, closes = (
                time.fromisoformat(match[3].zfill(5)),
                time.fromisoformat(match[4].zfill(5)),
            )
            if closes <= opens or last < first:
                raise ValueError(f"opening hours: {part.strip()!r} ends before it starts")
            for day in range(first, last + 1):
                spans.setdefault(day, []).append((opens, closes))
        return cls({day: tuple(sorted(s)) for day, s in spans.items()})

    def open_since(self, at: datetime) -> datetime | None:
        """When the span `at` falls in opened (aware), or None when closed at `at`."""
        local = at.astimezone(JAKARTA)
        for opens, closes in self.spans.get(local.weekday(), ()):
            if opens <= local.time() < closes:
                return datetime.combine(local.date(), opens, JAKARTA)
        return None

    def open_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) the branches were open."""
        total = timedelta()
        day = start.astimezone(JAKARTA).date()
        last = end.astimezone(JAKARTA).date()
        while day <= last:
            for opens, closes in self.spans.get(day.weekday(), ()):
                lo = max(start, datetime.combine(day, opens, JAKARTA))
                hi = min(end, datetime.combine(day, closes, JAKARTA))
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total


# -- the correlation rules' configuration ---------------------------------------------------------


class OnRecovery(StrEnum):
    RESOLVE = "resolve"  # note the recovery and resolve the incident
    PROPOSE = "propose"  # note the recovery, proposing resolution to the assigned group


@dataclass(frozen=True)
class DeviceOfflineRule:
    """A kiosk or gate offline (or in error) longer than `threshold` of opening time opens an
    incident on its CI; repeated signals are counted on it; once the device has been back for
    `stable_for` a note is added and the incident resolved (or proposed for resolution)."""

    id: str = "device-offline"
    enabled: bool = True
    threshold: timedelta = timedelta(minutes=10)
    stable_for: timedelta = timedelta(minutes=15)
    on_recovery: OnRecovery = OnRecovery.RESOLVE
    #: at most one note about repeated signals per this much stream time
    note_every: timedelta = timedelta(minutes=30)
    assignment_group: str = "kiosk-team"


@dataclass(frozen=True)
class FailureRateRule:
    """Renewal or checkout failures over `threshold` of the transactions in a sliding `window`
    (with at least `min_volume` of them) open an incident on the service, with the number of
    patrons affected; once the rate has stayed below for `stable_for`, it is resolved."""

    id: str = "failure-rate"
    enabled: bool = True
    window: timedelta = timedelta(minutes=15)
    threshold: float = 0.2
    min_volume: int = 50
    stable_for: timedelta = timedelta(minutes=15)
    on_recovery: OnRecovery = OnRecovery.RESOLVE
    note_every: timedelta = timedelta(minutes=30)
    assignment_group: str = "circulation-team"
    services: tuple[str, ...] = (CIRCULATION, RENEWAL)


@dataclass(frozen=True)
class MemberCardRule:
    """Member card requests become service requests from the catalogue item, one per request
    event (a redelivery raises none), submitted by the integration for the pseudonymised
    member."""

    id: str = "member-card"
    enabled: bool = True
    catalogue_item: str = "member-card"


@dataclass(frozen=True)
class CorrelationRules:
    opening_hours: Opening = field(
        default_factory=lambda: OpeningHours.parse("mon-sat 08:00-16:00")
    )
    device_offline: DeviceOfflineRule = DeviceOfflineRule()
    failure_rate: FailureRateRule = FailureRateRule()
    member_card: MemberCardRule = MemberCardRule()
