"""A command checks for control characters only the fields that can hold text (worked out once a
command class), and refuses exactly what checking every field refused, in the same words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Literal
from uuid import UUID

import pytest
from pydantic import AwareDatetime, BaseModel, ValidationError

# The modules whose commands are checked (imported so that Command knows its subclasses).
import domain.change_commands
import domain.knowledge
import domain.problem_commands
import domain.request_commands
import domain.rule_commands  # noqa: F401
from domain.commands import Command, LogIncident
from domain.text import may_hold_text


def commands(base: type[Command] = Command) -> Iterator[type[Command]]:
    for cls in base.__subclasses__():
        yield cls
        yield from commands(cls)


def example_of(cls: type[Command]) -> dict[str, Any] | None:
    extra = cls.model_config.get("json_schema_extra")
    if not isinstance(extra, dict) or "examples" not in cls.__dict__.get("model_config", {}).get(
        "json_schema_extra", {}
    ):
        return None
    examples = extra["examples"]
    assert isinstance(examples, list)
    body: dict[str, Any] = examples[0]
    return body


def texts(value: Any, where: str) -> Iterator[tuple[str, list[str | int]]]:
    """Each text in an example body: where a refusal names it, and the path to it."""
    if isinstance(value, str):
        yield where, []
    elif isinstance(value, dict):
        for key, item in value.items():
            for place, path in texts(item, f"{where}.{key}" if where else key):
                yield place, [key, *path]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for place, path in texts(item, f"{where}[{i}]"):
                yield place, [i, *path]


def with_bell(body: Any, path: list[str | int]) -> Any:
    if not path:
        return f"{body[:1]}\x07{body[1:]}" if body else "x\x07x"
    copy: Any = dict(body) if isinstance(body, dict) else list(body)
    copy[path[0]] = with_bell(copy[path[0]], path[1:])
    return copy


def valid_example(cls: type[Command]) -> bool:
    """Whether the class has an example body it accepts as it is (some are bodies the API reads
    first, naming a record by its number where the command takes its id)."""
    body = example_of(cls)
    try:
        return body is not None and cls.model_validate(body) is not None
    except ValidationError:
        return False


EXAMPLES = sorted(
    {(cls.__qualname__, cls.__module__): cls for cls in commands() if valid_example(cls)}.items()
)
#: Commands whose example holds no text but codes, times and choices, each of a shape that is
#: refused (as a field's own error) before any check of its characters.
WITHOUT_FREE_TEXT = {
    "LinkConfigurationItem",
    # a document version's content: an attachment id or a link (a URL of its own shape)
    "SetDocumentContent",
    "Schedule",
    "IssueReport",  # a report's name and a month
    # the directory: actor ids, codes, topics and times, each of its own shape
    "AddGroupMember",
    "RemoveGroupMember",
    "AppointGroupManager",
    "AddListMember",
    "RemoveListMember",
    "SetOnCallRota",
    "SetGroupHours",
    "ChooseMutes",
    "ChooseLanguage",
    # a canned response by its code, and a language
    "ReplyWithCannedResponse",
    # where webhooks go: a URL and topics, each refused by its own rule
    "ChangeWebhookUrl",
    "ChooseWebhookTopics",
}


@pytest.mark.parametrize("cls", [cls for _, cls in EXAMPLES], ids=[n for (n, _), _ in EXAMPLES])
def test_a_control_character_in_any_text_of_any_command_is_refused_naming_where(
    cls: type[Command],
) -> None:
    body = example_of(cls)
    assert body is not None
    checked = 0
    names = {field.alias: name for name, field in cls.model_fields.items() if field.alias}
    for place, path in texts(body, ""):
        top, _, rest = place.partition(".")
        where = f"{names.get(top, top)}.{rest}" if rest else names.get(top, top)
        with pytest.raises(ValidationError) as refused:
            cls.model_validate(with_bell(body, path))
        if all(not error["loc"] for error in refused.value.errors()):  # not a field's own refusal
            assert f"{where} holds U+0007" in str(refused.value), where
            checked += 1
    assert checked or not list(texts(body, "")) or cls.__name__ in WITHOUT_FREE_TEXT


def test_nearly_every_command_has_an_example_to_try() -> None:
    assert len(EXAMPLES) >= 50


def test_the_first_field_in_order_holding_one_is_named() -> None:
    body = {
        "title": "a\x01b",
        "service": "helpdesk",
        "caller": "c\x02",
        "impact": "low",
        "urgency": "low",
    }
    with pytest.raises(ValidationError, match="title holds U\\+0001: text may hold tab"):
        LogIncident.model_validate(body)


class Colour(StrEnum):
    RED = "red"


class Odd(StrEnum):
    BELL = "ring\x07"


class Number(Enum):
    ONE = 1


class Nested(BaseModel):
    n: int


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (str, True),
        (str | None, True),
        (list[str], True),
        (tuple[int, ...], False),
        (dict[str, int], False),  # a mapping's keys are not looked at
        (dict[int, list[str]], True),
        (int | None, False),
        (UUID, False),
        (datetime, False),
        (AwareDatetime, False),
        (bool, False),
        (Colour, False),
        (Odd, True),  # a member whose value holds one is looked at, as before
        (Number, False),
        (Literal["a", "b"], True),
        (Literal[1, 2], False),
        (Nested, True),  # models and whatever else is not known are looked at
        (Any, True),
        (object, True),
    ],
)
def test_which_types_may_hold_text(annotation: Any, text: bool) -> None:
    assert may_hold_text(annotation) is text
