"""Text the service accepts: tab, line feed and carriage return, but no other control character.

PostgreSQL cannot hold NUL in a text column at all: an event carrying one would be stored (the
store keeps events as bytes) and then stop every view and the audit ledger at that event. The
other C0 controls and DEL are never meant in a ticket, and hide or rearrange text before the
eyes of whoever reads it. So commands, actors and inbound streams refuse them at the door, with
a reason, and imports drop them from the foreign rows they read.
"""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, FutureDatetime, NaiveDatetime, PastDatetime

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


#: Types whose values are never text (first_control finds nothing in them).
_NEVER_TEXT = (bool, int, float, Decimal, UUID, datetime, date, time, timedelta, bytes)
#: pydantic's kinds of datetime: their values are datetimes.
_TIMES = (AwareDatetime, NaiveDatetime, PastDatetime, FutureDatetime)


@functools.cache
def text_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model, in order, whose values may hold text (worked out once a model):
    first_control finds nothing in the others, so checking only these finds what checking every
    field finds, and as first."""
    return tuple(
        name for name, field in model.model_fields.items() if may_hold_text(field.annotation)
    )


def may_hold_text(annotation: Any) -> bool:
    """Whether a value of this type can hold text first_control would look at: False only for
    types that cannot (numbers, ids, times, enums of plain text, None), True when unsure."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return may_hold_text(args[0])
    if origin is typing.Literal:
        return any(isinstance(a, str) for a in args)
    if origin is typing.Union or origin is types.UnionType:
        return any(may_hold_text(a) for a in args)
    if origin is not None and isinstance(origin, type):
        if issubclass(origin, Mapping):  # first_control reads a mapping's values, not its keys
            args = args[1:]
        if issubclass(origin, list | tuple | set | frozenset | Mapping):
            return any(may_hold_text(a) for a in args if a is not Ellipsis)
        return True
    if annotation is None or annotation is type(None):
        return False
    if annotation in _TIMES:
        return False
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):  # a member is text only if its value is
            return any(first_control(member, "") is not None for member in annotation)
        return not issubclass(annotation, _NEVER_TEXT) or issubclass(annotation, str)
    return True


def refusal(found: str) -> str:
    """The reason given for refusing text with a control character."""
    return (
        f"{found}: text may hold tab, line feed and carriage return, but no other control character"
    )


def without_controls(text: str) -> str:
    """The text with the refused control characters dropped (for foreign rows being imported)."""
    return CONTROL.sub("", text)
