"""Auditing the views: rebuild each one from the events in a scratch store and compare it, row
by row, with the one the service serves.

The API serves the view tables (incident details, queues, SLA clocks, every kind's views) as the
record, and the ledger does not cover them: someone with database access can edit a row and the
API serves the edit. Every view is a pure fold of the events, so folding the events again, in a
temporary SQLite file whatever the service's backend, up to the position the served view records
(a view that lags the store is compared where it stands), must give the same rows. What does not
is named: per view, the first differing row (its key, the field or indexed column, the served
value and the rebuilt one) and the rows only on one side.

Compare against a verified ledger (`itsm audit verify --views` runs both): the rebuild trusts
the event store, which the ledger vouches for.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any, cast

import orjson
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from audit.view_tables import SQLiteViewTables, StoredViewRow, ViewSnapshot, ViewTables
from infra.serialisation import UndecodableEvent
from projections.base import Projection
from projections.runner import ProjectionRunner
from projections.store import SQLiteViewStore

#: Keys listed of the rows only on one side (all are counted).
SHOWN = 10


@dataclass(frozen=True)
class Difference:
    """The first place a served row differs from the rebuilt one: a field of its JSON (a path
    such as `notes[2].text`) or an indexed column (`column state`)."""

    key: str
    column: str
    served: Any
    rebuilt: Any


@dataclass
class ViewCheck:
    view: str
    #: The position the served view records, which it was rebuilt to.
    position: int
    rows: int = 0
    rebuilt_rows: int = 0
    #: SHA-256 over the served rows in key order (`row_line`).
    digest: str = ""
    differing_rows: int = 0
    first_difference: Difference | None = None
    only_served: list[str] = field(default_factory=list)
    only_served_count: int = 0
    only_rebuilt: list[str] = field(default_factory=list)
    only_rebuilt_count: int = 0
    #: What kept the view from being compared at all (its table gone, its position past the
    #: store's head, an event the rebuild cannot decode).
    problem: str | None = None

    @property
    def matched(self) -> bool:
        return not (
            self.problem or self.differing_rows or self.only_served_count or self.only_rebuilt_count
        )

    def as_json(self) -> dict[str, object]:
        first = self.first_difference
        return {
            "view": self.view,
            "matched": self.matched,
            "position": self.position,
            "rows": self.rows,
            "rebuilt_rows": self.rebuilt_rows,
            "digest": self.digest,
            "differing_rows": self.differing_rows,
            "first_difference": None if first is None else vars(first),
            "only_served": {"count": self.only_served_count, "keys": self.only_served},
            "only_rebuilt": {"count": self.only_rebuilt_count, "keys": self.only_rebuilt},
            "problem": self.problem,
        }


@dataclass
class ViewsReport:
    views: list[ViewCheck]

    @property
    def ok(self) -> bool:
        return all(v.matched for v in self.views)

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "not_matched": [v.view for v in self.views if not v.matched],
            "views": [v.as_json() for v in self.views],
        }


def audit_views(
    recorder: ApplicationRecorder,
    mapper: Mapper,  # type: ignore[type-arg]
    served: ViewTables,
    projections: Sequence[Projection],
) -> ViewsReport:
    """Rebuild every view up to its served position in a scratch store (a temporary directory)
    and compare it with the served one."""
    with tempfile.TemporaryDirectory(prefix="itsm-view-audit-") as directory:
        rebuilt_tables = SQLiteViewTables(Path(directory) / "views.db")
        with served.snapshot() as snapshot:
            positions = snapshot.positions()
            checks = {p.name: ViewCheck(p.name, positions.get(p.name, 0)) for p in projections}
            head = recorder.max_notification_id() or 0
            _rebuild(recorder, mapper, rebuilt_tables.path, projections, checks, head)
            with rebuilt_tables.snapshot() as rebuilt:
                for projection in projections:
                    _compare(projection, snapshot, rebuilt, checks[projection.name])
    return ViewsReport([checks[p.name] for p in projections])


def _rebuild(
    recorder: ApplicationRecorder,
    mapper: Mapper,  # type: ignore[type-arg]
    path: Path,
    projections: Sequence[Projection],
    checks: Mapping[str, ViewCheck],
    head: int,
) -> None:
    """Fold the events into a new view store at `path`, each view up to its served position
    (views at one position share one pass)."""
    by_position: dict[int, list[Projection]] = {}
    for projection in projections:
        check = checks[projection.name]
        if check.position > head:
            check.problem = (
                f"the view records position {check.position}, past the event store's head"
                f" {head}: its position was changed"
            )
        by_position.setdefault(min(check.position, head), []).append(projection)
    store = SQLiteViewStore(path)
    try:
        for position, group in sorted(by_position.items()):
            runner = ProjectionRunner(
                cast(ApplicationRecorder, _UpTo(recorder, position)), mapper, store, group
            )
            try:
                runner.catch_up()
            except UndecodableEvent as error:
                for projection in group:
                    checks[
                        projection.name
                    ].problem = f"the rebuild stopped at position {error.position}: {error}"
    finally:
        store.close()


class _UpTo:
    """The event store as it stood at `position`: what the projection runner reads of it."""

    def __init__(self, recorder: ApplicationRecorder, position: int) -> None:
        self._recorder = recorder
        self._position = position

    def max_notification_id(self) -> int:
        return min(self._recorder.max_notification_id() or 0, self._position)

    def select_notifications(
        self, start: int, limit: int, stop: int | None = None, **more: Any
    ) -> Sequence[Notification]:
        stop = self._position if stop is None else min(stop, self._position)
        return self._recorder.select_notifications(start, limit, stop, **more)


def _compare(
    projection: Projection, served: ViewSnapshot, rebuilt: ViewSnapshot, check: ViewCheck
) -> None:
    """Merge the served rows and the rebuilt ones by key, noting every difference."""
    if not served.has(projection):
        check.problem = check.problem or "the view's table is missing"
        return
    digest = sha256()
    columns = [c.name for c in projection.columns]
    theirs, ours = served.rows(projection), rebuilt.rows(projection)
    s, r = next(theirs, None), next(ours, None)
    while s is not None or r is not None:
        if r is None or (s is not None and s[0] < r[0]):
            assert s is not None
            digest.update(row_line(s))
            check.rows += 1
            check.only_served_count += 1
            _listed(check.only_served, s[0])
            s = next(theirs, None)
        elif s is None or r[0] < s[0]:
            check.rebuilt_rows += 1
            check.only_rebuilt_count += 1
            _listed(check.only_rebuilt, r[0])
            r = next(ours, None)
        else:
            digest.update(row_line(s))
            check.rows += 1
            check.rebuilt_rows += 1
            difference = _row_difference(columns, s, r)
            if difference is not None:
                check.differing_rows += 1
                check.first_difference = check.first_difference or difference
            s, r = next(theirs, None), next(ours, None)
    check.digest = digest.hexdigest()


def _listed(keys: list[str], key: str) -> None:
    if len(keys) < SHOWN:
        keys.append(key)


def row_line(row: StoredViewRow) -> bytes:
    """A row as the digest reads it: the JSON line [key, row, each indexed column] with sorted
    keys (so the same rows give the same digest on either engine), and a newline."""
    return orjson.dumps([row[0], _parsed(row[1]), *row[2:]], option=orjson.OPT_SORT_KEYS) + b"\n"


def _parsed(doc: bytes) -> Any:
    """A stored row's JSON; text that is not JSON (an edit could leave that) as it is."""
    try:
        return orjson.loads(doc)
    except orjson.JSONDecodeError:
        return bytes(doc).decode("utf-8", "replace")


def _row_difference(
    columns: Sequence[str], served: StoredViewRow, rebuilt: StoredViewRow
) -> Difference | None:
    key = served[0]
    # The same bytes, most often (the rebuild folds the same events in the same order): only
    # rows that differ there are walked field by field (a change of key order alone is none).
    same = served[1] == rebuilt[1]
    found = None if same else _first_difference(_parsed(served[1]), _parsed(rebuilt[1]), "")
    if found is not None:
        path, theirs, ours = found
        return Difference(key, path or "doc", theirs, ours)
    for name, theirs, ours in zip(columns, served[2:], rebuilt[2:], strict=True):
        if _differ(theirs, ours):
            return Difference(key, f"column {name}", theirs, ours)
    return None


def _first_difference(served: Any, rebuilt: Any, path: str) -> tuple[str, Any, Any] | None:
    """The path of the first differing value (fields in name order, list items in order), and
    the two values there (null where one side lacks it)."""
    if isinstance(served, dict) and isinstance(rebuilt, dict):
        for name in sorted(served.keys() | rebuilt.keys()):
            inner = f"{path}.{name}" if path else name
            if name not in served or name not in rebuilt:
                return inner, served.get(name), rebuilt.get(name)
            found = _first_difference(served[name], rebuilt[name], inner)
            if found is not None:
                return found
        return None
    if isinstance(served, list) and isinstance(rebuilt, list):
        for i, (theirs, ours) in enumerate(zip(served, rebuilt, strict=False)):
            found = _first_difference(theirs, ours, f"{path}[{i}]")
            if found is not None:
                return found
        if len(served) != len(rebuilt):
            i = min(len(served), len(rebuilt))
            return f"{path}[{i}]", _item(served, i), _item(rebuilt, i)
        return None
    return (path, served, rebuilt) if _differ(served, rebuilt) else None


def _item(items: list[Any], i: int) -> Any:
    return items[i] if i < len(items) else None


def _differ(served: Any, rebuilt: Any) -> bool:
    # True == 1 in Python; in a view they are different values
    return bool(served != rebuilt or type(served) is not type(rebuilt))
