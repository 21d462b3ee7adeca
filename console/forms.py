"""A command's form, read off the command itself: one road for every kind's actions.

Each field of a command model (domain/commands.py and the other kinds' commands) becomes an input
by its type: a choice of an enumeration's values, a line of text (or a text area for long text),
a number, a tick box. A command whose required fields the console cannot ask for (a list, a
nested object) is not offered as a form: the API takes it. What a person types is validated by
the same model the API validates, and its errors are shown beside the fields in words.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

#: Longer than this, a text field is a text area.
LINE = 200


@dataclass(frozen=True)
class Input:
    name: str
    kind: str  # text, textarea, select, number, checkbox
    required: bool
    options: tuple[str, ...] = ()
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Form:
    """A command's inputs, or None for a command the console does not ask for."""

    action: str
    inputs: tuple[Input, ...]
    errors: dict[str, str] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)


def _input(name: str, info: FieldInfo) -> Input | None:
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) != 1:
            return None
        annotation = options[0]
    required = info.is_required()
    metadata = {type(m).__name__: m for m in info.metadata}
    max_length = getattr(metadata.get("MaxLen"), "max_length", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = tuple(str(member.value) for member in annotation)
        return Input(name, "select", required, options=values)
    if annotation is bool:
        return Input(name, "checkbox", False)
    if annotation is int:
        low = getattr(metadata.get("Ge"), "ge", None)
        high = getattr(metadata.get("Le"), "le", None)
        return Input(name, "number", required, minimum=low, maximum=high)
    if annotation is str:
        kind = "textarea" if max_length is None or max_length > LINE else "text"
        return Input(name, kind, required, max_length=max_length)
    return None


def form_of(command_type: type[BaseModel], action: str) -> Form | None:
    """The command's form; None if a required field is of a type a form cannot ask for."""
    inputs = []
    for name, info in command_type.model_fields.items():
        made = _input(name, info)
        if made is None:
            if info.is_required():
                return None
            continue
        inputs.append(made)
    return Form(action, tuple(inputs))


def command_from(
    command_type: type[BaseModel], form: Form, posted: Mapping[str, Any]
) -> BaseModel | Form:
    """The command the posted fields make, or the form again with each field's error."""
    values: dict[str, Any] = {}
    for spec in form.inputs:
        given = posted.get(spec.name)
        if spec.kind == "checkbox":
            values[spec.name] = given is not None
        elif isinstance(given, str) and given.strip():
            values[spec.name] = given.strip()
    try:
        return command_type.model_validate(values)
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors(include_url=False, include_input=False):
            where = str(problem["loc"][0]) if problem["loc"] else ""
            errors.setdefault(where, problem["type"])
        shown = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
        return Form(form.action, form.inputs, errors, shown)
