"""A configuration item verified against itself (ISO/IEC 20000-1 8.2.6), Given / When / Then:
accurate, or a discrepancy that says what differs; either is recorded with who and when, and
changes nothing of the record (a discrepancy is put right by a change)."""

from __future__ import annotations

import pytest

from domain.actors import Actor, Role
from domain.configuration_item import (
    CiStatus,
    CiType,
    ConfigurationItem,
    DiscrepancyUnexplained,
    VerificationResult,
    Verified,
)
from tests.conftest import T0, context

TECHNICIAN = Actor(id="andi.wijaya", role=Role.AGENT)


def registered() -> ConfigurationItem:
    item = ConfigurationItem.register(
        context(TECHNICIAN, T0),
        code="kiosk-dpk-04",
        name="Kios swalayan 4",
        ci_type=CiType.KIOSK,
        owner="kiosk-team",
        status=CiStatus.ACTIVE,
        service="kiosks-gates",
        location="Lantai 1",
        depends_on=[],
    )
    item.collect_events()
    return item


@pytest.mark.parametrize(
    ("result", "note"),
    [(VerificationResult.ACCURATE, None), (VerificationResult.DISCREPANCY, "serial differs")],
)
def test_a_verification_is_recorded_with_its_result_and_note(
    result: VerificationResult, note: str | None
) -> None:
    item = registered()
    item.verify(context(TECHNICIAN, T0), result=result, note=note)
    (event,) = item.collect_events()
    assert isinstance(event, Verified)
    assert (event.result, event.note, event.actor) == (result, note, TECHNICIAN)
    assert (item.status, item.owner) == (CiStatus.ACTIVE, "kiosk-team")


def test_a_discrepancy_says_what_differs() -> None:
    item = registered()
    with pytest.raises(DiscrepancyUnexplained):
        item.verify(context(TECHNICIAN, T0), result=VerificationResult.DISCREPANCY, note=None)
    assert item.collect_events() == []
