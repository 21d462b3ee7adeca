"""Suppliers as the staff read them: `suppliers`, one row per supplier (its code, name, kind,
state, the contract in force and its version, each earlier contract), by code
(domain/supplier.py)."""

from __future__ import annotations

from domain import supplier as s
from projections.base import Column, Projection, Row, at, by, folds_of
from projections.records import entry, stamped


def _registered(_: Row | None, ev: s.Registered) -> Row:
    return {
        "id": str(ev.originator_id),
        "code": ev.code,
        "name": ev.name,
        "kind": ev.kind,
        "state": s.SupplierState.ACTIVE,
        "contract": ev.contract.model_dump(mode="json"),
        "contract_version": ev.originator_version,
        "contracts": [],
        "retired_reason": None,
        "registered_at": at(ev),
        "registered_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _revised(row: Row, ev: s.ContractRevised) -> Row:
    earlier = {"version": row["contract_version"], "contract": row["contract"]}
    row["contracts"].append(entry(ev, **earlier, superseded_because=ev.reason))
    return stamped(
        row,
        ev,
        contract=ev.contract.model_dump(mode="json"),
        contract_version=ev.originator_version,
    )


def _retired(row: Row, ev: s.Retired) -> Row:
    return stamped(row, ev, state=s.SupplierState.RETIRED, retired_reason=ev.reason)


suppliers = Projection(
    name="suppliers",
    version=1,
    folds=folds_of(_registered, _revised, _retired),
    columns=(Column("code", "TEXT"), Column("state", "TEXT"), Column("kind", "TEXT")),
    indexes=(("code",), ("state", "code")),
)
