"""configuration_items: one row per configuration item, with both sides of its dependencies,
the changes it went through, and the problems and changes linked to it. It also answers the
impact question (see `impact_of`)."""

from __future__ import annotations

from typing import Any

from domain import configuration_item as ci
from projections.base import Column, Projection, Row, at, by, copied, folds_of
from projections.queries import BY_CODE, SHARED, View
from projections.records import entry, stamped


def _through(row: Row, ev: ci.ThroughChange, what: str) -> None:
    """What an event after registration did, and through which change (None: edited directly,
    its type not under change control)."""
    change_id = None if ev.change_id is None else str(ev.change_id)
    row["changes"].append(entry(ev, change_id=change_id, change=ev.change_ref, what=what))


def _registered(_: Row | None, ev: ci.Registered) -> Row:
    return {
        "id": str(ev.originator_id),
        **copied(ev, "code name ci_type owner status service location depends_on description"),
        "criticality": ev.criticality,
        "dependants": [],
        "changes": [],
        "linked_problems": [],
        "linked_changes": [],
        "verifications": [],
        "discrepancy_open": False,
        "registered_at": at(ev),
        "registered_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _status_changed(row: Row, ev: ci.StatusChanged) -> Row:
    stamped(row, ev, status=ev.status)
    _through(row, ev, f"status {ev.status}")
    return row


def _owner_changed(row: Row, ev: ci.OwnerChanged) -> Row:
    stamped(row, ev, owner=ev.owner)
    _through(row, ev, f"owner {ev.owner}")
    return row


def _dependency_added(row: Row, ev: ci.DependencyAdded) -> Row:
    stamped(row, ev, depends_on=sorted({*row["depends_on"], ev.on}))
    _through(row, ev, f"depends on {ev.on}")
    return row


def _dependency_removed(row: Row, ev: ci.DependencyRemoved) -> Row:
    stamped(row, ev, depends_on=[c for c in row["depends_on"] if c != ev.on])
    _through(row, ev, f"no longer depends on {ev.on}")
    return row


def _dependant_added(row: Row, ev: ci.DependantAdded) -> Row:
    return stamped(row, ev, dependants=sorted({*row["dependants"], ev.dependant}))


def _dependant_removed(row: Row, ev: ci.DependantRemoved) -> Row:
    return stamped(row, ev, dependants=[c for c in row["dependants"] if c != ev.dependant])


def _problem_linked(row: Row, ev: ci.ProblemLinked) -> Row:
    stamped(row, ev)
    row["linked_problems"].append(_link(ev, ev.problem_id, ev.problem_ref))
    return row


def _change_linked(row: Row, ev: ci.ChangeLinked) -> Row:
    stamped(row, ev)
    row["linked_changes"].append(_link(ev, ev.change_id, ev.change_ref))
    return row


def _verified(row: Row, ev: ci.Verified) -> Row:
    stamped(row, ev)
    found = entry(ev, result=ev.result, note=ev.note, source=ev.source)
    row.setdefault("verifications", []).append(found)
    row["discrepancy_open"] = ev.result is ci.VerificationResult.DISCREPANCY
    return row


def _discrepancy_corrected(row: Row, ev: ci.DiscrepancyCorrected) -> Row:
    stamped(row, ev)
    _through(row, ev, "corrected the discrepancy found")
    row["verifications"][-1]["corrected"] = entry(ev, change=ev.change_ref, note=ev.note)
    row["discrepancy_open"] = False
    return row


def _link(ev: ci.ConfigurationItemEvent, record_id: object, ref: str) -> dict[str, Any]:
    return entry(ev, id=str(record_id), ref=ref)


configuration_items = Projection(
    name="configuration_items",
    version=5,  # 3: verifications; 4: description and criticality; 5: their source, corrections
    folds=folds_of(
        _registered,
        _status_changed,
        _owner_changed,
        _dependency_added,
        _dependency_removed,
        _dependant_added,
        _dependant_removed,
        _problem_linked,
        _change_linked,
        _verified,
        _discrepancy_corrected,
    ),
    columns=(Column("code", "TEXT"), Column("ci_type", "TEXT"), Column("service", "TEXT")),
    indexes=(("code",), ("ci_type",), ("service",)),
)


def impact_of(rows: list[Row], code: str) -> list[Row]:
    """Every item that depends on `code`, directly or transitively, with its distance."""
    by_code = {row["code"]: row for row in rows}
    found: dict[str, int] = {}
    frontier, distance = [code], 0
    while frontier:
        distance += 1
        following = []
        for current in frontier:
            for dependant in by_code.get(current, {}).get("dependants", ()):
                if dependant not in found and dependant != code:
                    found[dependant] = distance
                    following.append(dependant)
        frontier = following
    return [
        {
            "code": c,
            "name": by_code[c]["name"],
            "ci_type": by_code[c]["ci_type"],
            "status": by_code[c]["status"],
            "distance": d,
        }
        for c, d in sorted(found.items(), key=lambda kv: (kv[1], kv[0]))
        if c in by_code
    ]


#: Configuration items are everyone's to read.
items = View(configuration_items, SHARED, BY_CODE)
