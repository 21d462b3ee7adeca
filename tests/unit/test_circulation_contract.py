"""The inbound circulation contract: the validator and the published JSON Schemas agree, patron
numbers never pass the door, and opening hours are counted as the rules need."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from consumers.circulation import Pseudonymiser, redact
from domain.calendar import LIBRARY_HOURS, CalendarSpec, shipped_holidays
from domain.circulation import (
    JAKARTA,
    PREFIX,
    TYPES,
    CalendarOpening,
    InvalidEvent,
    OpeningHours,
    validate,
)
from processes.simulator import Simulator, envelope
from service import schemas

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "schemas"
HASH = Pseudonymiser("test-key")


def published_validator() -> Draft202012Validator:
    found = {
        path: orjson.loads((PUBLISHED / path).read_bytes())
        for path in schemas.circulation_schemas()
    }
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in found.values()
    )
    root = found["circulation/cloudevent.schema.json"]
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root, registry=registry, format_checker=FormatChecker())


SCHEMA = published_validator()
SIMULATED = list(
    itertools.islice(
        Simulator(
            start=datetime(2026, 3, 2, 7, 50, tzinfo=JAKARTA), invalid_share=0.05, outage_chance=0.3
        ).events(),
        3000,
    )
)


def accepted(message: Any) -> bool:
    try:
        validate(message, HASH)
    except InvalidEvent:
        return False
    return True


def test_the_validator_and_the_published_schemas_agree_on_every_simulated_message() -> None:
    decoded = [m for m in SIMULATED if isinstance(m, dict)]
    assert sum(not accepted(m) for m in decoded) > 10, "the simulator injects invalid messages"
    for message in decoded:
        assert accepted(message) == SCHEMA.is_valid(message), message


def test_every_type_in_the_contract_is_simulated() -> None:
    kinds = {m["type"] for m in SIMULATED if isinstance(m, dict) and "type" in m}
    assert kinds >= set(TYPES) - {PREFIX + "catalogue.sync_failed"}  # rare: 1 in 500 minutes


#: Texts, control characters among them often enough to matter (some refused, some not). Only
#: text that UTF-8 can carry: a message is JSON bytes, and no lone surrogate survives decoding.
values = st.text(
    st.characters(codec="utf-8") | st.sampled_from("\x00\x1b\x7f\t\n"), min_size=1, max_size=20
)


@settings(max_examples=200, deadline=None)
@given(
    type_name=st.sampled_from(sorted(TYPES)),
    data=st.dictionaries(
        st.sampled_from(
            [
                "branch",
                "patron",
                "item",
                "device",
                "device_kind",
                "status",
                "reason",
                "system",
                "channel",
                "request",
                "code",
                "extra",
                "patron_ref",
            ]
        ),
        values
        | st.sampled_from(["kiosk", "gate", "online", "offline", "new", "app"])
        | st.integers(),
    ),
)
def test_for_any_data_the_validator_accepts_exactly_what_the_schema_accepts(
    type_name: str, data: dict[str, Any]
) -> None:
    message = envelope(
        type_name.removeprefix(PREFIX), "/slims/x", "1", datetime(2026, 3, 2, tzinfo=UTC)
    )
    message["data"] = data
    assert accepted(message) == SCHEMA.is_valid(message)


def test_patron_numbers_are_replaced_by_a_keyed_hash_on_arrival() -> None:
    message = envelope(
        "loan.checked_out",
        "/slims/x",
        "1",
        datetime(2026, 3, 2, tzinfo=UTC),
        branch="kota-serang",
        patron="KSRG000417",
        item="B1",
    )
    event = validate(message, HASH)
    assert "patron" not in event.data
    assert event.data["patron_ref"] == HASH("KSRG000417") != Pseudonymiser("other")("KSRG000417")
    assert "KSRG000417" not in repr(event)


def test_a_dead_letter_keeps_no_member_number_and_replays_with_its_hash() -> None:
    message = envelope(
        "loan.renewed",
        "/slims/x",
        "1",
        datetime(2026, 3, 2, tzinfo=UTC),
        branch="b",
        patron="KSRG000417",
        item="B1",
        channel="telepathy",
    )
    raw = orjson.dumps(message)
    with pytest.raises(InvalidEvent, match="channel"):
        validate(orjson.loads(raw), HASH)
    kept = redact(raw, HASH)
    assert b"KSRG000417" not in kept
    fixed = orjson.loads(kept)
    fixed["data"]["channel"] = "app"
    assert validate(fixed, HASH, replayed=True).data["patron_ref"] == HASH("KSRG000417")


def card_request(**data: Any) -> dict[str, Any]:
    return envelope(
        "member.card_requested",
        "/slims/x",
        "1",
        datetime(2026, 3, 2, tzinfo=UTC),
        branch="b",
        request="new",
        **data,
    )


@given(chosen=values)
def test_a_patron_ref_is_refused_on_the_live_stream_and_taken_only_from_a_replay(
    chosen: str,
) -> None:
    # a sender that names the pseudonym itself would file requests under any requester id
    with pytest.raises(InvalidEvent, match=r"patron_ref.*only in a replayed dead letter"):
        validate(card_request(patron_ref=chosen), HASH)
    assert not SCHEMA.is_valid(card_request(patron_ref=chosen))
    if accepted(card_request(patron=chosen)):  # a valid text: what was kept of a dead letter
        replayed = validate(card_request(patron_ref=chosen), HASH, replayed=True)
        assert replayed.data["patron_ref"] == chosen


@given(chosen=st.text(min_size=1, max_size=50))
def test_a_dead_letter_keeps_no_patron_ref_a_sender_chose_but_its_keyed_hash(
    chosen: str,
) -> None:
    # it may be a member number sent in the wrong field: kept only as its hash, as `patron` is
    raw = orjson.dumps(card_request(patron_ref=chosen))
    kept = orjson.loads(redact(raw, HASH))
    assert kept["data"]["patron_ref"] == HASH(chosen)
    # a dead letter failing again on replay holds a hash already: it is not hashed twice
    assert redact(redact(raw, HASH), HASH, replayed=True) == redact(raw, HASH)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: m.pop("time"), "missing CloudEvents attribute 'time'"),
        (lambda m: m.update(time="2026-03-02T09:00:00"), "no UTC offset"),
        (lambda m: m.update(type="library.loan.teleported"), "unknown event type"),
        (lambda m: m["data"].pop("branch"), "data.branch is required"),
        (lambda m: m["data"].update(patron_name="Siti"), "does not define"),
        (lambda m: m.update(specversion="0.3"), "specversion"),
        (lambda m: m.update(source="/slims/\x00"), r"source holds U\+0000"),
        (lambda m: m["data"].update(branch="b\x1b"), r"data.branch holds U\+001B"),
    ],
)
def test_invalid_messages_are_refused_with_a_reason(change: Any, reason: str) -> None:
    message = envelope(
        "loan.checked_out",
        "/slims/x",
        "1",
        datetime(2026, 3, 2, tzinfo=UTC),
        branch="b",
        patron="p",
        item="i",
    )
    change(message)
    with pytest.raises(InvalidEvent, match=reason):
        validate(message, HASH)


HOURS = OpeningHours.parse("mon-fri 08:00-16:00; sat 08:00-12:00")


def jakarta(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=JAKARTA)  # 2026-03-02 is a Monday


def test_opening_hours_know_when_branches_are_open() -> None:
    assert HOURS.open_since(jakarta(2, 9)) == jakarta(2, 8)
    assert HOURS.open_since(jakarta(2, 16)) is None
    assert HOURS.open_since(jakarta(7, 12, 30)) is None  # Saturday afternoon
    assert HOURS.open_since(jakarta(8, 10)) is None  # Sunday


def test_only_opening_time_counts_towards_an_outage() -> None:
    # offline from Friday 15:50 to Monday 08:05: ten minutes Friday, Saturday's morning, five
    # minutes Monday
    assert HOURS.open_time_between(jakarta(6, 15, 50), jakarta(9, 8, 5)) == timedelta(
        minutes=10 + 4 * 60 + 5
    )


LIBRARY = CalendarOpening(CalendarSpec.of("Asia/Jakarta", LIBRARY_HOURS, shipped_holidays()))


def test_the_library_calendar_opens_on_saturdays_but_not_on_holidays() -> None:
    assert LIBRARY.open_since(jakarta(7, 12, 30)) == jakarta(7, 8)  # Saturday
    assert LIBRARY.open_since(jakarta(8, 10)) is None  # Sunday
    # Nyepi (19 March 2026), a Thursday, and the cuti bersama around Idul Fitri after it
    assert LIBRARY.open_since(jakarta(19, 10)) is None
    assert LIBRARY.open_since(jakarta(23, 10)) is None
    # an outage from the Tuesday before Nyepi to the Wednesday after the holidays: only the
    # Tuesday afternoon (17 March) and Wednesday 25 March's first hour count
    assert LIBRARY.open_time_between(jakarta(17, 15), jakarta(25, 9)) == timedelta(hours=2)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)))
def test_calendar_opening_is_open_exactly_in_the_calendar_working_time(at: datetime) -> None:
    spec = LIBRARY.spec
    since = LIBRARY.open_since(at)
    closing = any(at == closes for _, closes in spec.windows(at.astimezone(JAKARTA).date()))
    assert (since is not None) == (spec.in_hours(at) and not closing)
    if since is not None:
        assert since <= at
        assert LIBRARY.open_time_between(since, at) == at - since


@pytest.mark.parametrize("text", ["mon 16:00-08:00", "someday 08:00-16:00", "mon-fri"])
def test_malformed_opening_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="opening hours"):
        OpeningHours.parse(text)
