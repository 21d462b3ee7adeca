"""Suppliers and their contracts (docs/suppliers.md): registered and revised by service managers
and admins, read by the staff. An incident on hold awaiting a supplier names it
(`put-on-hold` with `supplier`), and runs the supplier's clock under the contract in force."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.deps import STAFF_READ_ROLES, authorised
from api.directory import add_coded_actions, by_code
from api.models import SupplierDetails, SupplierList
from api.reads import Readable, coded
from api.record_routes import RecordRoutes
from api.routing import ResourceRouter
from application.kinds import SUPPLIER
from domain.actors import Role
from domain.context import Context
from domain.supplier import (
    CODE_PATTERN,
    SUPPLIER_COMMANDS,
    RegisterSupplier,
    SupplierKind,
    SupplierState,
    supplier_id,
)
from projections.queries import BY_CODE, SHARED, View
from projections.suppliers import suppliers

router = ResourceRouter(prefix="/suppliers", tags=["suppliers"])

CodePath = Annotated[
    str, Path(min_length=1, max_length=40, pattern=CODE_PATTERN, examples=["vendor-ebook"])
]
KEEPERS = frozenset({Role.SERVICE_MANAGER, Role.ADMIN})
SUPPLIERS = Readable(View(suppliers, SHARED, BY_CODE), "supplier", coded(supplier_id))
StaffReaderDep = Annotated[Context, authorised(STAFF_READ_ROLES, "read suppliers")]
ROUTES = RecordRoutes(
    router, SUPPLIERS, SUPPLIER, SupplierDetails, ref=CodePath, reader=StaffReaderDep, param="code"
)
ROUTES.add_create(
    RegisterSupplier,
    name="register_supplier",
    caller=authorised(KEEPERS, "register suppliers"),
    summary="Register a supplier with its contract: the services it supports and its targets",
    located=by_code,
)
ROUTES.add_list(
    name="list_suppliers",
    model=SupplierList,
    summary="List suppliers by code",
    filters={"state": SupplierState | None, "kind": SupplierKind | None},
)
ROUTES.add_read(
    name="get_supplier",
    summary="Read a supplier and its contracts (as it is now, or as of a moment)",
    history_name="get_supplier_history",
)
add_coded_actions(ROUTES, SUPPLIER_COMMANDS.values(), KEEPERS)
