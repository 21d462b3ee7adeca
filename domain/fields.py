"""The bounds of the text fields that events and commands share, said once.

An event's field and the command field it is taken from mean the same thing, so they import the
same constraint from here: the API's request schema, the stored events' JSON Schemas
(docs/schemas/) and the domain then cannot drift apart. A field that only one record kind has
keeps its constraint in that kind's module.
"""

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from domain.events import MAX_INT

#: A title, or a person's, group's or service's name.
Name = Field(min_length=1, max_length=200)
#: A name that may be left out.
OptionalName = Field(default=None, min_length=1, max_length=200)
#: Free text: notes, a root cause, a workaround.
Text = Field(min_length=1, max_length=10_000)
#: Free text that may be left out.
Note = Field(default=None, min_length=1, max_length=10_000)
#: A record's description: empty unless given.
Description = Field(default="", max_length=10_000)
#: Why something was refused, cancelled or withdrawn.
Reason = Field(min_length=1, max_length=2_000)
#: A reason that may be left out.
OptionalReason = Field(default=None, min_length=1, max_length=2_000)
#: A record's number or a rule set's version: counted from 1, within a signed 64-bit integer.
Number = Field(ge=1, le=MAX_INT)
#: Another record's number as people read it (INC-…, CHG-…, PRB-…).
Ref = Field(min_length=1, max_length=40)


def record_ref(description: str) -> Any:
    """Another record as a command names it: by its number as people read it, or by its id
    (`description` says which kind, for the API's schema)."""
    return Field(min_length=1, max_length=40, description=description)


#: A list of codes (configuration items), empty unless given.
Items: Any = Field(default_factory=list, max_length=100)


# -- field groups a command and the event it becomes both carry -------------------------------
# Mixed in first, as below: with no other field of their own, the fields stay where they stood.


class Reasoned(BaseModel):
    """A decision that says why: a refusal, a cancellation, a reopening, a retirement."""

    reason: str = Reason


# -- another record, as an event names it ------------------------------------------------------
# Mixed in before the kind's event base (`class LinkedToProblem(NamesProblem, IncidentEvent)`),
# so that its fields follow the envelope's, as they always have in the stored JSON and schemas.


class NamesIncident(BaseModel):
    """An event that names an incident: its id, and its number as people read it."""

    incident_id: UUID
    incident_ref: str = Ref


class NamesProblem(BaseModel):
    """An event that names a problem: its id, and its number as people read it."""

    problem_id: UUID
    problem_ref: str = Ref


class NamesChange(BaseModel):
    """An event that names a change: its id, and its number as people read it."""

    change_id: UUID
    change_ref: str = Ref
