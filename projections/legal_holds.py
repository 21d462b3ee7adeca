"""Legal holds as the office's keepers and auditors read them: `legal_holds`, one row per held
record (its number, whether any hold stands, each matter it is held for and each released),
by the record's number (domain/legal_hold.py)."""

from __future__ import annotations

from domain import legal_hold as h
from projections.base import Column, Projection, Row, at, folds_of
from projections.queries import SHARED, Order, View
from projections.records import entry, stamped


def _placed(row: Row | None, ev: h.HoldPlaced) -> Row:
    if row is None:
        row = {
            "id": str(ev.originator_id),
            "record_id": str(ev.record_id),
            "record_ref": ev.record_ref,
            "held": False,
            "holding": 0,
            "matters": [],
            "released": [],
            "updated_at": at(ev),
            "version": ev.originator_version,
        }
    row["matters"].append(entry(ev, matter=ev.matter, reason=ev.reason))
    return stamped(row, ev, held=True, holding=1)


def _released(row: Row, ev: h.HoldReleased) -> Row:
    [placed] = [m for m in row["matters"] if m["matter"] == ev.matter]
    row["matters"].remove(placed)
    row["released"].append({**placed, "release": entry(ev, reason=ev.reason)})
    return stamped(row, ev, held=bool(row["matters"]), holding=int(bool(row["matters"])))


legal_holds = Projection(
    name="legal_holds",
    version=1,
    folds=folds_of(_placed, _released),
    # `holding`: `held` as the 1 or 0 an INTEGER column holds on either store
    columns=(Column("record_ref", "TEXT"), Column("holding", "INTEGER")),
    indexes=(("record_ref",), ("holding", "record_ref")),
)
#: The keepers' and auditors' (the routes say who): of no organisation, by the record's number.
holds = View(legal_holds, SHARED, Order("record_ref"))
