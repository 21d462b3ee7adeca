"""Text with control characters is refused at the door (commands, actors, inbound circulation
events) and dropped from imported rows; tab, line feed and carriage return are text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.commands import LogIncident
from domain.request_commands import DefineCatalogueItem
from domain.text import CONTROL, first_control, without_controls

REFUSED = [chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]]
#: Text around the control character: printable, and kept whole by strip().
#: (At most 90 characters each side, so that the text stays within 200 whole, control included.)
PLAIN = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]), max_size=90
)


def incident(**fields: str) -> LogIncident:
    return LogIncident.model_validate(
        {
            "title": "t",
            "service": "helpdesk",
            "caller": "c",
            "impact": "low",
            "urgency": "low",
            **fields,
        }
    )


@given(
    field=st.sampled_from(["title", "caller", "description"]),
    before=PLAIN,
    control=st.sampled_from(REFUSED),
    after=PLAIN,
)
def test_a_command_refuses_any_control_character_naming_the_field(
    field: str, before: str, control: str, after: str
) -> None:
    text = f"x{before}{control}{after}x"
    with pytest.raises(ValidationError) as refused:
        incident(**{field: text})
    assert f"{field} holds U+{ord(control):04X}" in str(refused.value)


@given(text=st.text(st.sampled_from("ab \t\n\r"), min_size=1, max_size=50).map(lambda t: f"x{t}x"))
def test_tab_line_feed_and_carriage_return_are_text(text: str) -> None:
    assert incident(description=text).description == text


def test_texts_nested_in_lists_are_checked_too() -> None:
    with pytest.raises(ValidationError) as refused:
        DefineCatalogueItem.model_validate(
            {
                "code": "member-card",
                "title": "Member card",
                "service": "membership-cards",
                "fulfilment_group": "front-desk",
                "steps": ["print the card", "hand it over\x07"],
            }
        )
    assert "steps[1] holds U+0007" in str(refused.value)


@given(before=PLAIN, control=st.sampled_from([*REFUSED, "\t", "\n", "\r"]), after=PLAIN)
def test_an_actor_id_holds_no_control_character_at_all(
    before: str, control: str, after: str
) -> None:
    with pytest.raises(ValidationError):
        Actor(id=f"x{before}{control}{after}", role=Role.AGENT)


@given(st.text())
def test_dropping_controls_drops_exactly_the_refused_characters(text: str) -> None:
    kept = without_controls(text)
    assert CONTROL.search(kept) is None
    assert kept == "".join(c for c in text if c not in REFUSED)
    assert first_control(kept, "x") is None
