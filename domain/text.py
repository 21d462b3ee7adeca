"""Text the service accepts: tab, line feed and carriage return, but no other control character.

PostgreSQL cannot hold NUL in a text column at all: an event carrying one would be stored (the
store keeps events as bytes) and then stop every view and the audit ledger at that event. The
other C0 controls and DEL are never meant in a ticket, and hide or rearrange text before the
eyes of whoever reads it. So commands, actors and inbound streams refuse them at the door, with
a reason, and imports drop them from the foreign rows they read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

#: The control characters refused in text: C0 except tab, line feed and carriage return; DEL.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: An actor id: no control character at all (it is a name, on one line).
ACTOR_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"


def control_character(text: str) -> str | None:
    """The first refused control character in a text, as U+XXXX; None if there is none."""
    if text.isprintable():  # the usual case (and several times quicker than the search)
        return None
    found = CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def first_control(value: Any, where: str) -> str | None:
    """Where the first refused control character is in a value (a text, or texts nested in
    lists, mappings and models), and which: "caller holds U+0000"; None if nowhere."""
    if isinstance(value, str):
        char = control_character(value)
        return None if char is None else f"{where} holds {char}"
    if isinstance(value, BaseModel):
        items: Any = ((f"{where}.{name}", item) for name, item in value)
    elif isinstance(value, Mapping):
        items = ((f"{where}.{key}", item) for key, item in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        items = ((f"{where}[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    for place, item in items:
        found = first_control(item, place)
        if found is not None:
            return found
    return None


def refusal(found: str) -> str:
    """The reason given for refusing text with a control character."""
    return (
        f"{found}: text may hold tab, line feed and carriage return, but no other control character"
    )


def without_controls(text: str) -> str:
    """The text with the refused control characters dropped (for foreign rows being imported)."""
    return CONTROL.sub("", text)
