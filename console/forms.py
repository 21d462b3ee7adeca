"""A command's form, read off the command itself: one road for every kind's actions.

Each field of a command model (domain/commands.py and the other kinds' commands) becomes an input
by its type: a choice of an enumeration's values, a line of text (or a text area for long text),
a number, a tick box, a moment (a date and time in Asia/Jakarta), a list of short texts (one a
line), and a nested object as a group of its own inputs (named `outer.inner`). A command whose
required fields the console cannot ask for (a list of anything but text) is not offered as a
form: the API takes it. What a person types is validated by the same model the API validates, and
its errors are shown beside the fields in words (an error of the whole command under its name
"").
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, ValidationError
from pydantic.fields import FieldInfo

from console.i18n import JAKARTA

#: Longer than this, a text field is a text area.
LINE = 200
#: The most lines a list's text area takes (a list's own bound is checked by the model).
LINES = 100


@dataclass(frozen=True)
class Input:
    name: str
    kind: str  # text, textarea, select, number, checkbox, datetime, lines, group
    required: bool
    options: tuple[str, ...] = ()
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    #: A group's own inputs (a nested object's fields), named `name.field`.
    inputs: tuple[Input, ...] = ()

    @property
    def field(self) -> str:
        """The name's last part: a group's input is labelled by its own field."""
        return self.name.rpartition(".")[2]


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
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if _text(item):
            return Input(name, "lines", required, maximum=max_length)
        return None
    if annotation in (AwareDatetime, datetime):
        return Input(name, "datetime", required)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        inner = _inputs(annotation, prefix=f"{name}.")
        return Input(name, "group", required, inputs=inner) if inner is not None else None
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


def _text(annotation: Any) -> bool:
    """Whether a list's items are text (possibly with bounds of their own)."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation is str


def _inputs(model: type[BaseModel], prefix: str = "") -> tuple[Input, ...] | None:
    """A model's inputs; None if a required field is of a type a form cannot ask for."""
    inputs = []
    for name, info in model.model_fields.items():
        made = _input(prefix + name, info)
        if made is None:
            if info.is_required():
                return None
            continue
        inputs.append(made)
    return tuple(inputs)


def form_of(command_type: type[BaseModel], action: str) -> Form | None:
    """The command's form; None if a required field is of a type a form cannot ask for."""
    inputs = _inputs(command_type)
    return Form(action, inputs) if inputs is not None else None


def command_from(
    command_type: type[BaseModel], form: Form, posted: Mapping[str, Any]
) -> BaseModel | Form:
    """The command the posted fields make, or the form again with each field's error."""
    try:
        return command_type.model_validate(_values(form.inputs, posted))
    except ValidationError as error:
        names = set(_names(form.inputs))
        errors: dict[str, str] = {}
        for problem in error.errors(include_url=False, include_input=False):
            errors.setdefault(_where(problem["loc"], names), problem["type"])
        shown = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
        return Form(form.action, form.inputs, errors, shown)


def _values(inputs: tuple[Input, ...], posted: Mapping[str, Any]) -> dict[str, Any]:
    """What the inputs were given, as the model takes it: an empty input is left out."""
    values: dict[str, Any] = {}
    for spec in inputs:
        name = spec.field
        if spec.kind == "group":
            inner = _values(spec.inputs, posted)
            if inner or spec.required:
                values[name] = inner
            continue
        given = posted.get(spec.name)
        if spec.kind == "checkbox":
            values[name] = given is not None
        elif not isinstance(given, str) or not given.strip():
            continue
        elif spec.kind == "lines":
            values[name] = [line.strip() for line in given.splitlines()[:LINES] if line.strip()]
        elif spec.kind == "datetime":
            values[name] = in_jakarta(given.strip())
        else:
            values[name] = given.strip()
    return values


def in_jakarta(given: str) -> str:
    """A moment typed as a browser's date and time (no zone: Asia/Jakarta's wall clock), with
    its offset; anything else is handed on as typed, for the model to refuse in words."""
    try:
        moment = datetime.fromisoformat(given)
    except ValueError:
        return given
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JAKARTA)
    return moment.isoformat()


def _names(inputs: tuple[Input, ...]) -> list[str]:
    return [n for spec in inputs for n in (spec.name, *_names(spec.inputs))]


def _where(loc: tuple[int | str, ...], names: set[str]) -> str:
    """The input an error belongs to: its dotted path as far as an input has that name (a
    list's item is the list's), or "" for the command as a whole."""
    parts = [str(part) for part in loc if isinstance(part, str)]
    while parts and ".".join(parts) not in names:
        parts.pop()
    return ".".join(parts)
