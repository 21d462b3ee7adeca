"""What a caller reads (domain/visibility.py): every event type is classified, what is not
classified reaches no caller, and the caller's view of a record holds every text said to them and
none written for staff."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import domain
from audit import replay
from domain import incident as i
from domain import service_request as r
from domain import visibility
from domain.actors import Actor, Role
from domain.events import EVENT_TYPES, DomainEvent
from domain.visibility import STAFF, caller, for_caller, free_text, withheld
from projections import (
    catalogue_items,
    configuration_items,
    incident_details,
    service_request_details,
)
from projections.base import Projection
from tests.strategies import STRATEGIES, events

for _module in pkgutil.iter_modules(domain.__path__):  # every event type the service stores
    importlib.import_module(f"domain.{_module.name}")


def test_every_event_type_is_classified() -> None:
    missing = sorted(n for n, t in EVENT_TYPES.items() if t not in visibility.AUDIENCES)
    assert not missing, f"say in domain/visibility.py who reads {missing}"


def test_what_is_said_to_a_caller_is_free_text_of_its_event() -> None:
    for event_type, audience in visibility.AUDIENCES.items():
        assert audience.says <= free_text(event_type), event_type.type_name
        assert audience.caller or not audience.says, event_type.type_name


class NoteLike(i.IncidentEvent):
    """A note-like event nobody classified yet (no type name: it is never stored)."""

    text: str = i.Text


def test_an_event_type_nobody_classified_reaches_no_caller() -> None:
    note = NoteLike(**_envelope(2), text="the caller must not read this")
    assert visibility.audience(NoteLike) is STAFF
    assert for_caller([note]) == []


class GrewANote(i.IncidentEvent):
    """A caller's event that grew a note nobody named as said to the caller."""

    text: str = i.Text
    note: str | None = None
    group: str = i.Name


def test_a_free_text_field_nobody_named_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cast(dict[Any, Any], visibility.AUDIENCES), GrewANote, caller("text"))
    event = GrewANote(**_envelope(2), text="said", note="for staff", group="kiosk-team")
    (seen,) = for_caller([event])
    assert isinstance(seen, GrewANote)
    assert (seen.text, seen.note, seen.group) == ("said", None, "kiosk-team")


def test_the_notes_written_for_staff_are_withheld_from_a_caller() -> None:
    assert visibility.audience(i.WorkNoteAdded) is STAFF
    assert visibility.audience(i.WorkaroundShared) is STAFF
    assert withheld(i.PutOnHold) == {"note"}
    assert withheld(i.Resumed) == {"note"}
    assert withheld(i.Cancelled) == {"note"}
    assert withheld(i.Escalated) == {"reason"}
    assert withheld(r.StepCompleted) == {"note"}
    assert withheld(r.ApprovalGiven) == {"comment"}
    for said in (i.CommentAdded, i.Resolved, i.Logged, r.InformationRequested, r.Fulfilled):
        assert visibility.audience(said).caller, said.type_name
        assert not withheld(said), said.type_name


def test_only_staff_roles_read_internal_notes() -> None:
    callers = {role for role in Role if not visibility.reads_internal(role)}
    assert callers == {Role.REQUESTER, Role.INTEGRATION}


@pytest.mark.parametrize("view", [configuration_items, catalogue_items], ids=lambda p: p.name)
def test_configuration_items_and_the_catalogue_are_a_callers_as_stored(view: Projection) -> None:
    # a caller reads these rows as stored, not folded again for every read
    assert visibility.hides_nothing(view.folds)


@settings(max_examples=50)
@given(event=st.sampled_from(sorted(EVENT_TYPES.values(), key=str)).flatmap(STRATEGIES.get))
def test_a_caller_reads_an_event_whole_but_for_its_withheld_fields(event: DomainEvent) -> None:
    seen = for_caller([event])
    if not visibility.audience(type(event)).caller:
        assert seen == []
        return
    (shown,) = seen
    hidden = withheld(type(event))
    assert all(getattr(shown, name) is None for name in hidden)
    assert shown.model_dump(exclude=set(hidden)) == event.model_dump(exclude=set(hidden))


# -- the views a caller reads ----------------------------------------------------------------


def _envelope(version: int) -> dict[str, Any]:
    return {
        "originator_id": UUID(int=1),
        "originator_version": version,
        "timestamp": datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=version),
        "actor": Actor(id="siti.rahma", role=Role.AGENT),
        "correlation_id": UUID(int=version),
    }


def _history(first: DomainEvent, later: Sequence[DomainEvent]) -> list[DomainEvent]:
    """A record's history: each event renumbered in order, and each free text made a marker
    that can be found in a view («n»)."""
    history = []
    for version, event in enumerate([first, *later], start=1):
        texts = {
            name: f"«{version}.{name}»"
            for name in free_text(type(event))
            if getattr(event, name) is not None
        }
        history.append(event.model_copy(update={**_envelope(version), **texts}))
    return history


def _markers(history: Sequence[DomainEvent]) -> tuple[set[str], set[str]]:
    """The markers said to the caller, and those written for staff."""
    said, internal = set(), set()
    for event in history:
        audience = visibility.audience(type(event))
        for name in free_text(type(event)):
            text = getattr(event, name)
            if text is not None:
                (said if audience.caller and name in audience.says else internal).add(text)
    return said, internal


def _assert_caller_reads_what_is_said(view: Projection, history: list[DomainEvent]) -> None:
    staff = orjson.dumps(replay.as_of(view, history, None)).decode()
    seen_row = replay.as_of(view, history, None, internal=False)
    assert seen_row is not None
    seen = orjson.dumps(seen_row).decode()
    said, internal = _markers(history)
    assert not [text for text in internal if text in seen]
    assert {text for text in said if text in staff} <= {text for text in said if text in seen}
    assert seen_row["version"] == history[-1].originator_version  # the record's, for If-Match


#: Incident events whose folds need nothing before them (standing down and a review need a
#: declaration).
_INCIDENT_EVENTS = st.one_of(
    [
        STRATEGIES[t]
        for t in sorted(incident_details.folds, key=str)
        if t not in (i.Logged, i.MajorIncidentStoodDown, i.MajorIncidentReviewed)
    ]
)


@settings(max_examples=60, deadline=None)
@given(first=STRATEGIES[i.Logged], later=st.lists(_INCIDENT_EVENTS, max_size=12))
def test_a_callers_incident_holds_every_text_said_to_them_and_no_note(
    first: i.Logged, later: list[DomainEvent]
) -> None:
    _assert_caller_reads_what_is_said(incident_details, _history(first, later))


_REQUEST_EVENTS = st.one_of(
    [
        events(r.StepCompleted, step=st.just(1)),  # every request has a first step
        *(
            STRATEGIES[t]
            for t in sorted(service_request_details.folds, key=str)
            if t not in (r.Submitted, r.StepCompleted)
        ),
    ]
)


@settings(max_examples=60, deadline=None)
@given(first=STRATEGIES[r.Submitted], later=st.lists(_REQUEST_EVENTS, max_size=12))
def test_a_callers_service_request_holds_every_text_said_to_them_and_no_note(
    first: r.Submitted, later: list[DomainEvent]
) -> None:
    _assert_caller_reads_what_is_said(service_request_details, _history(first, later))
