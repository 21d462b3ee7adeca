"""What every command is: a pydantic model, refused before any rule runs if its text holds a
control character; an action on one record names its route by `action`.

Apart from domain/commands.py (the incidents' commands, which import it as well) so that a kind's
commands may check what the directory holds (domain/directory.py) without an import cycle: the
directory's own commands are commands too.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from domain.context import Context
from domain.text import first_control, refusal, text_fields


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _no_control_characters(self) -> Command:
        """Text with a control character is refused here, before it can become an event (see
        domain/text.py for why). Only the fields that can hold text are looked at, a plain
        text that prints at once (the usual case: the check is on every command's path)."""
        values = self.__dict__
        for name in text_fields(type(self)):
            value = values[name]
            if value is None or (type(value) is str and value.isprintable()):
                continue
            found = first_control(value, name)
            if found is not None:
                raise ValueError(refusal(found))
        for name, value in (self.__pydantic_extra__ or {}).items():
            found = first_control(value, name)
            if found is not None:
                raise ValueError(refusal(found))
        return self


class ActionCommand(Command):
    """An action on one record: one route POST /api/v1/{records}/{ref}/{action}."""

    action: ClassVar[str]
    summary: ClassVar[str]

    def call_action(self, record: object, ctx: Context) -> None:
        """Call the record's method the action is named after ("start-work": start_work) with
        this command's fields by name: what an action that only passes its fields on does.
        The fields as dict(self) gives them (a model's __dict__ holds its fields, and only them;
        any extra ones are in __pydantic_extra__), without dict() asking the model for `keys`
        first, which pydantic answers with a raised AttributeError."""
        method = getattr(record, self.action.replace("-", "_"))
        method(ctx, **self.__dict__, **(self.__pydantic_extra__ or {}))


_A = TypeVar("_A", bound=ActionCommand)


def by_action(*commands: type[_A]) -> dict[str, type[_A]]:
    """A kind's commands by the action that names each one's route."""
    return {c.action: c for c in commands}
