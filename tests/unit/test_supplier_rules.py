"""Every rule of suppliers and of a hold awaiting one, Given / When / Then, and the reports'
reading of the waits a hold starts and ends.

Given: a supplier registered (and revised, or retired), or an incident in progress.
When: one method, called with a Context.
Then: exactly the events it records, or the named error it raises with nothing recorded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.errors import RecordAlreadyExists, RecordIllegalTransition, SupplierNotAwaited
from domain.incident import HoldReason, PutOnHold
from domain.supplier import (
    Contract,
    ContractRevised,
    RegisterSupplier,
    Supplier,
    SupplierKind,
    UnknownSupplier,
    awaited,
    supplier_id,
)
from infra.serialisation import encode
from processes.reports.history import History, Wait, apply
from tests.conftest import T0, context
from tests.fake_session import FakeSession
from tests.unit.test_incident_rules import IN_PROGRESS, given

MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)
CONTRACT = Contract(
    reference="SPK 031/DPK-BTN/2026",
    services=["kiosks-gates"],
    valid_from=date(2026, 1, 1),
    resolution_minutes=1440,
)


def registered() -> Supplier:
    supplier = Supplier.register(
        context(MANAGER, T0),
        code="kiosk-maintainer",
        name="Pemelihara kios",
        kind=SupplierKind.EXTERNAL,
        contract=CONTRACT,
    )
    supplier.collect_events()
    return supplier


def test_a_contract_that_ends_before_it_starts_or_names_a_service_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="ends before it starts"):
        Contract.model_validate({**CONTRACT.model_dump(), "valid_to": date(2025, 12, 31)})
    with pytest.raises(ValidationError, match="twice"):
        Contract.model_validate({**CONTRACT.model_dump(), "services": ["i-banten", "i-banten"]})


def test_a_revised_contract_is_a_new_version_the_hold_records() -> None:
    supplier = registered()
    stricter = CONTRACT.model_copy(update={"resolution_minutes": 480})
    supplier.revise_contract(context(MANAGER, T0), contract=stricter, reason="renewed")
    (event,) = supplier.collect_events()
    assert isinstance(event, ContractRevised)
    assert event.contract.resolution_minutes == 480
    assert supplier.awaited() == ("kiosk-maintainer", 2)


def test_a_retired_supplier_is_awaited_by_no_new_hold_and_keeps_its_contract() -> None:
    supplier = registered()
    supplier.retire(context(MANAGER, T0), reason="contract ended")
    supplier.collect_events()
    with pytest.raises(UnknownSupplier):
        supplier.awaited()
    with pytest.raises(RecordIllegalTransition):
        supplier.revise_contract(context(MANAGER, T0), contract=CONTRACT, reason="again")
    assert supplier.contract == CONTRACT


def test_a_supplier_is_registered_once_and_one_there_is_none_of_is_not_awaited() -> None:
    session = FakeSession(registered())
    command = RegisterSupplier(
        code="kiosk-maintainer", name="x", kind=SupplierKind.EXTERNAL, contract=CONTRACT
    )
    with pytest.raises(RecordAlreadyExists):
        command.decide(session, context(MANAGER, T0))  # type: ignore[arg-type]
    assert awaited(session, "kiosk-maintainer") == ("kiosk-maintainer", 1)  # type: ignore[arg-type]
    with pytest.raises(UnknownSupplier):
        awaited(session, "nobody")  # type: ignore[arg-type]
    assert session.added == []
    assert supplier_id("kiosk-maintainer") in session.records


def test_a_hold_awaiting_a_supplier_records_it_and_its_contract_version() -> None:
    incident = given(*IN_PROGRESS)
    incident.put_on_hold(
        context(at=T0),
        reason=HoldReason.AWAITING_SUPPLIER,
        note="called them",
        supplier=("kiosk-maintainer", 3),
    )
    (event,) = incident.collect_events()
    assert isinstance(event, PutOnHold)
    assert (event.supplier, event.contract_version) == ("kiosk-maintainer", 3)


@pytest.mark.parametrize("reason", [HoldReason.AWAITING_CALLER, HoldReason.AWAITING_CHANGE])
def test_a_hold_that_awaits_no_supplier_names_none(reason: HoldReason) -> None:
    incident = given(*IN_PROGRESS)
    with pytest.raises(SupplierNotAwaited):
        incident.put_on_hold(context(at=T0), reason=reason, supplier=("kiosk-maintainer", 1))
    assert incident.collect_events() == []


def given_events() -> list[Any]:
    return [e.model_copy(update={"originator_version": n}) for n, e in enumerate(IN_PROGRESS, 1)]


def _stored(event: Any) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads(encode(event))
    return found


def test_a_wait_runs_from_the_hold_to_whatever_ends_it() -> None:
    incident = given(*IN_PROGRESS)
    steps: list[Any] = []
    at = T0
    for action, fields in (
        ("put_on_hold", {"reason": HoldReason.AWAITING_SUPPLIER, "supplier": ("isp", 1)}),
        ("resume", {}),
        ("put_on_hold", {"reason": HoldReason.AWAITING_SUPPLIER, "supplier": ("isp", 2)}),
        ("resume", {}),
        ("put_on_hold", {"reason": HoldReason.AWAITING_CALLER}),
    ):
        at += timedelta(hours=1)
        getattr(incident, action)(context(at=at), **fields)
        steps.extend(incident.collect_events())
    history = History(datetime.max.replace(tzinfo=UTC), 0)
    for event in [*given_events(), *steps]:
        apply(history, event.type_name, incident.id, _stored(event))
    waits = history.incidents[incident.id].waits
    hour = timedelta(hours=1)
    assert waits == [
        Wait("isp", 1, T0 + hour, T0 + 2 * hour),
        Wait("isp", 2, T0 + 3 * hour, T0 + 4 * hour),
    ]
