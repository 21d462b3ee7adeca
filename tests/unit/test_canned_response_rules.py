"""Every rule of the CannedResponse aggregate, Given / When / Then, and its words: a placeholder
outside the list or a text that is no template is refused when written, and any words written
are rendered from any incident's values without an error (hypothesis).

Given: a history of events, replayed through `CannedResponse.project`.
When: one aggregate method, called with a Context.
Then: exactly the new events it records, or the named error it raises with nothing recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.canned_response import (
    PLACEHOLDERS,
    CannedResponse,
    CreateCannedResponse,
    Created,
    ResponseState,
    Retired,
    Revised,
    canned_response_id,
    render,
)
from domain.errors import DomainError, IllegalTransition, NothingChanged
from domain.events import DomainEvent
from tests.conftest import T0, context

AGENT = Actor(id="siti.rahma", role=Role.AGENT)
CODE = "kartu-hilang"
ID = canned_response_id(CODE)
WORDS_ID = "Halo {{ caller_name }}, kartu untuk {{ number }} dicetak di meja layanan."
WORDS_EN = "Hello {{ caller_name }}, the card for {{ number }} is printed at the desk."
CTX = context(AGENT, T0)
VALUES = {
    "caller_name": "Budi Santoso",
    "number": "INC-000123",
    "title": "Kartu hilang",
    "service": "membership-cards",
    "agent_name": "Siti Rahma",
}


def envelope(version: int) -> dict[str, Any]:
    return {"originator_id": ID, "originator_version": version, **context(AGENT).stamp()}


def given_history(*more: Callable[[int], DomainEvent], english: bool = True) -> CannedResponse:
    events: list[DomainEvent] = [
        Created(
            **envelope(1),
            code=CODE,
            title="Kartu hilang",
            text_id=WORDS_ID,
            text_en=WORDS_EN if english else None,
        )
    ]
    events += [make(version) for version, make in enumerate(more, start=2)]
    response = CannedResponse.project(None, events)
    assert response is not None
    return response


def retired(version: int) -> DomainEvent:
    return Retired(**envelope(version), reason="cards are renewed online")


def then_refused(
    response: CannedResponse, act: Callable[[CannedResponse], Any], error: type[DomainError]
) -> None:
    version = response.version
    with pytest.raises(error):
        act(response)
    assert response.collect_events() == []
    assert response.version == version


def test_a_revision_records_the_new_words_and_why() -> None:
    response = given_history()
    response.revise(
        CTX, title="Kartu hilang", text_id="Datang ke meja layanan.", text_en=None, reason="shorter"
    )
    (revised,) = response.collect_events()
    assert isinstance(revised, Revised)
    assert (revised.text_id, revised.text_en, revised.reason) == (
        "Datang ke meja layanan.",
        None,
        "shorter",
    )
    assert response.words("en") == "Datang ke meja layanan."  # no English now: Indonesian


def test_a_revision_that_changes_nothing_is_refused() -> None:
    then_refused(
        given_history(),
        lambda r: r.revise(
            CTX, title="Kartu hilang", text_id=WORDS_ID, text_en=WORDS_EN, reason=None
        ),
        NothingChanged,
    )


def test_a_retired_response_is_neither_revised_nor_used_nor_retired_again() -> None:
    response = given_history(retired)
    assert response.state is ResponseState.RETIRED
    then_refused(
        response,
        lambda r: r.revise(CTX, title="x", text_id="y", text_en=None, reason=None),
        IllegalTransition,
    )
    then_refused(response, lambda r: r.words("id"), IllegalTransition)
    then_refused(response, lambda r: r.retire(CTX, "again"), IllegalTransition)


def test_the_words_are_in_the_language_asked_for_else_in_bahasa_indonesia() -> None:
    assert given_history().words("en") == WORDS_EN
    assert given_history().words("id") == WORDS_ID
    assert given_history(english=False).words("en") == WORDS_ID


def test_the_placeholders_are_filled_from_the_incident() -> None:
    assert render(WORDS_ID, VALUES) == (
        "Halo Budi Santoso, kartu untuk INC-000123 dicetak di meja layanan."
    )


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("Halo {{ nama }}", "unknown placeholder nama"),
        ("Halo {{ caller_name }", "no template"),
        ("Halo {{ caller_name }} dari {{ service }}", None),
        ("{{ caller_name.__class__ }}", "only text and placeholders"),
        ("{{ caller_name | upper }}", "only text and placeholders"),
        ("{% for x in range(10**9) %}{% endfor %}", "only text and placeholders"),
    ],
)
def test_words_naming_what_is_not_a_placeholder_are_refused_when_written(
    words: str, says: str | None
) -> None:
    body = {"code": CODE, "title": "t", "text_id": words}
    if says is None:
        CreateCannedResponse.model_validate(body)
        return
    with pytest.raises(ValidationError, match=says):
        CreateCannedResponse.model_validate(body)


@given(
    parts=st.lists(
        st.one_of(
            st.sampled_from([f"{{{{ {name} }}}}" for name in PLACEHOLDERS]),
            st.text(
                st.characters(categories=["L", "N", "P", "Zs"], exclude_characters="{}%#"),
                min_size=1,
                max_size=20,
            ),
        ),
        min_size=1,
        max_size=8,
    ),
    values=st.fixed_dictionaries({name: st.text(max_size=30) for name in PLACEHOLDERS}),
)
def test_any_words_accepted_render_from_any_values(
    parts: list[str], values: dict[str, str]
) -> None:
    words = "".join(parts)
    if not words.strip():
        return
    CreateCannedResponse.model_validate({"code": CODE, "title": "t", "text_id": words})
    rendered = render(words, values)
    for name in PLACEHOLDERS:
        if f"{{{{ {name} }}}}" in words:
            assert values[name].strip() in rendered or not values[name].strip()
