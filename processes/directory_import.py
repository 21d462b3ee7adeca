"""The directory from CSV files (`itsm directory import`, docs/directory.md): people, then
groups, each row through the one command pipeline as an admin's command would go.

A file says how the directory should be: a person not held is registered (source "import"), one
held gets what differs (UpdatePerson; nothing differing is "unchanged"), `active=false`
deactivates and `active=true` reactivates; a group not held is formed, one held is renamed, gets
its manager, hours and members as the file says (members not listed leave it). A bad row is
refused with its row number and reason and the others go on; importing the same file again
changes nothing.

    people: actor_id,name,email,phone,language,organisation,roles,active
    groups: code,name,organisation,manager,members,hours        (roles, members: ;-separated)
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import uuid4

from pydantic import ValidationError

from application.desk import ServiceDesk
from application.kinds import GROUP, PERSON, Kind
from application.pipeline import Submission
from audit import replay
from domain import directory as d
from domain.actors import Actor, Role
from domain.context import Context
from domain.errors import DomainError, NothingChanged, RecordAlreadyExists
from projections.directory import directory_groups

IMPORTER = Actor(id="itsm-import", role=Role.ADMIN)

PEOPLE_COLUMNS = (
    "actor_id",
    "name",
    "email",
    "phone",
    "language",
    "organisation",
    "roles",
    "active",
)
GROUP_COLUMNS = ("code", "name", "organisation", "manager", "members", "hours")
#: The longest line a row may have (every field is bounded far below it).
MAX_FIELD = 64 * 1024
_YES, _NO = {"", "true", "yes", "1", "y"}, {"false", "no", "0", "n"}
DEACTIVATED = "inactive in the imported directory"


class Outcome(StrEnum):
    REGISTERED = "registered"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass
class Report:
    """What an import did with each row: counts, and each refused row with its reason."""

    what: str
    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    refusals: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in self.counts.items())
        return [
            f"{self.what}: {counts}",
            *(f"  row {row} refused: {reason}" for row, reason in self.refusals),
        ]


class BadFile(ValueError):
    """A file the import cannot read as its kind (no header, missing columns)."""


Clock = Callable[[], datetime]
#: Progress: (rows done so far, the file's kind).
Progress = Callable[[int, str], None]


def import_people(
    desk: ServiceDesk, path: Path, clock: Clock, progress: Progress | None = None
) -> Report:
    return _import(_Writer(desk, clock), path, "people", PEOPLE_COLUMNS, _person, progress)


def import_groups(
    desk: ServiceDesk, path: Path, clock: Clock, progress: Progress | None = None
) -> Report:
    return _import(_Writer(desk, clock), path, "groups", GROUP_COLUMNS, _group, progress)


Row = dict[str, str]
Apply = Callable[["_Writer", Row], Outcome]


def _import(
    writer: _Writer,
    path: Path,
    what: str,
    columns: tuple[str, ...],
    apply: Apply,
    progress: Progress | None,
) -> Report:
    report = Report(what)
    for number, row in _rows(path, columns):
        try:
            outcome = apply(writer, row)
        except ValidationError as error:
            outcome = _refused(report, number, _first_error(error))
        except (DomainError, ValueError) as error:
            outcome = _refused(report, number, getattr(error, "detail", None) or str(error))
        report.counts[outcome] += 1
        if progress is not None:
            progress(report.rows, what)
    return report


def _refused(report: Report, number: int, reason: str) -> Outcome:
    report.refusals.append((number, reason))
    return Outcome.REFUSED


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, Row]]:
    """Each row with its number as a spreadsheet shows it (the header is row 1), its fields
    stripped; a blank line is no row."""
    csv.field_size_limit(MAX_FIELD)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise BadFile(f"{path.name}: no column {', '.join(missing)} (expected {columns})")
        for row in reader:
            values = {k: (v or "").strip() for k, v in row.items() if k in columns}
            if any(values.values()):
                yield reader.line_num, values


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _active(text: str) -> bool:
    lowered = text.lower()
    if lowered in _YES:
        return True
    if lowered in _NO:
        return False
    raise ValueError(f"active is true or false, not {text!r}")


class _Writer:
    """Runs one command at a time through the pipeline, as the importer."""

    def __init__(self, desk: ServiceDesk, clock: Clock) -> None:
        self.desk = desk
        self.clock = clock

    def run(self, command: Any, kind: Kind, ref: str | None = None) -> bool:
        """Whether the command changed anything (False: NothingChanged)."""
        ctx = Context(actor=IMPORTER, at=self.clock(), correlation_id=uuid4())
        try:
            self.desk.execute(Submission(ctx, command, kind, ref=ref, operation="directory-import"))
        except NothingChanged:
            return False
        return True


def _person(writer: _Writer, row: Row) -> Outcome:
    active = _active(row["active"])
    # an empty cell leaves the field as it is (a person's own choice of language stays theirs)
    given = {
        "name": row["name"],
        "email": row["email"],
        "phone": row["phone"],
        "language": row["language"],
        "organisation": row["organisation"],
        "roles": _listed(row["roles"]) or None,
    }
    fields = {k: v for k, v in given.items() if v}
    actor_id = row["actor_id"]
    registration = d.RecordPerson.model_validate(
        {"actor_id": actor_id, "source": "import", **fields}
    )
    update = d.UpdatePerson.model_validate(fields)  # checked before anything is written
    deactivation = d.DeactivatePerson(reason=DEACTIVATED)
    try:
        writer.run(registration, PERSON)
    except RecordAlreadyExists:
        changed = writer.run(update, PERSON, actor_id)
        toggle = d.ReactivatePerson() if active else deactivation
        changed = writer.run(toggle, PERSON, actor_id) or changed
        return Outcome.UPDATED if changed else Outcome.UNCHANGED
    if not active:
        writer.run(deactivation, PERSON, actor_id)
    return Outcome.REGISTERED


def _group(writer: _Writer, row: Row) -> Outcome:
    code = row["code"]
    members = _listed(row["members"])
    formed = d.FormGroup.model_validate(
        {
            "code": code,
            "name": row["name"],
            "manager": row["manager"] or None,
            "members": members,
            "hours": row["hours"] or None,
            **({"organisation": row["organisation"]} if row["organisation"] else {}),
        }
    )
    try:
        writer.run(formed, GROUP)
    except RecordAlreadyExists:
        pass
    else:
        return Outcome.REGISTERED
    now = _group_row(writer.desk, code)
    if now["disbanded"]:
        raise ValueError(f"group {code} is disbanded")
    if row["organisation"] and row["organisation"] != now["organisation"]:
        raise ValueError(f"group {code} is of {now['organisation']}: its organisation stays")
    commands: list[Any] = []
    if formed.name != now["name"]:
        commands.append(d.RenameGroup(name=formed.name))
    if formed.manager is not None and formed.manager != now["manager"]:
        commands.append(d.AppointGroupManager(manager=formed.manager))
    if formed.hours != now["hours"]:
        commands.append(d.SetGroupHours(hours=formed.hours))
    held = set(now["members"])
    commands += [d.AddGroupMember(member=m) for m in formed.members if m not in held]
    commands += [d.RemoveGroupMember(member=m) for m in sorted(held - set(formed.members))]
    changed = [writer.run(command, GROUP, code) for command in commands]
    return Outcome.UPDATED if any(changed) else Outcome.UNCHANGED


def _group_row(desk: ServiceDesk, code: str) -> dict[str, Any]:
    """The group as its view shows it, folded from its events here (the views of a running
    service may be behind, or in another process)."""
    events: Iterable[Any] = desk.events.get(d.group_id(code))
    row = replay.as_of(directory_groups, list(events), None)
    if row is None:
        raise ValueError(f"group {code} is not in the directory")
    return row
