"""Reconciling the CMDB with the circulation stream (ISO/IEC 20000-1 8.2.6), Given / When /
Then: each kiosk and gate on record judged against when the stream last heard of it; devices no
item records answered as unregistered; a finding recorded only when it differs from the last
verification or that one is stale; a discrepancy closed only by an implemented change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.actors import Actor, Role
from domain.cmdb_reconciliation import (
    ItemOnRecord,
    RecordReconciliation,
    Sighting,
    reconcile,
)
from domain.configuration_item import (
    CiStatus,
    CiType,
    ConfigurationItem,
    DiscrepancyCorrected,
    VerificationResult,
    VerificationSource,
    Verified,
)
from domain.errors import NothingChanged
from tests.conftest import context

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SILENT = timedelta(days=3)
INTERVAL = timedelta(days=30)
ACCURATE, DISCREPANCY = VerificationResult.ACCURATE, VerificationResult.DISCREPANCY


def judged(*items: ItemOnRecord, heard: dict[str, timedelta]) -> dict[str, tuple[str, bool]]:
    sightings = [Sighting(code, NOW - ago) for code, ago in heard.items()]
    found = reconcile(items, sightings, NOW, silent_after=SILENT, interval=INTERVAL)
    return {f.code: (f.result, f.record) for f in found.findings}


def test_an_active_device_heard_lately_is_accurate_and_a_silent_one_a_discrepancy() -> None:
    found = judged(
        ItemOnRecord("kiosk-1", CiStatus.ACTIVE),
        ItemOnRecord("kiosk-2", CiStatus.ACTIVE),
        ItemOnRecord("kiosk-3", CiStatus.ACTIVE),
        heard={"kiosk-1": timedelta(hours=1), "kiosk-2": timedelta(days=4)},
    )
    assert found == {
        "kiosk-1": (ACCURATE, True),
        "kiosk-2": (DISCREPANCY, True),  # heard from, but not within three days
        "kiosk-3": (DISCREPANCY, True),  # never heard from
    }


def test_a_retired_or_planned_device_heard_lately_is_a_discrepancy_and_maintenance_skipped() -> (
    None
):
    items = [
        ItemOnRecord("gate-1", CiStatus.RETIRED),
        ItemOnRecord("gate-2", CiStatus.PLANNED),
        ItemOnRecord("gate-3", CiStatus.RETIRED),
        ItemOnRecord("gate-4", CiStatus.MAINTENANCE),
    ]
    heard = {"gate-1": timedelta(minutes=5), "gate-2": timedelta(hours=2), "gate-4": timedelta()}
    sightings = [Sighting(code, NOW - ago) for code, ago in heard.items()]
    found = reconcile(items, sightings, NOW, silent_after=SILENT, interval=INTERVAL)
    assert {f.code: f.result for f in found.findings} == {
        "gate-1": DISCREPANCY,
        "gate-2": DISCREPANCY,
        "gate-3": ACCURATE,  # retired and silent: as recorded
    }
    assert found.skipped == ("gate-4",)
    assert "heard from at" in next(f.note for f in found.findings if f.code == "gate-1")


def test_an_unchanged_finding_is_recorded_again_only_once_the_last_is_stale() -> None:
    fresh = ItemOnRecord("kiosk-1", CiStatus.ACTIVE, ACCURATE, NOW - timedelta(days=2))
    stale = ItemOnRecord("kiosk-2", CiStatus.ACTIVE, ACCURATE, NOW - INTERVAL)
    turned = ItemOnRecord("kiosk-3", CiStatus.ACTIVE, ACCURATE, NOW - timedelta(days=1))
    found = judged(
        fresh,
        stale,
        turned,
        heard={"kiosk-1": timedelta(hours=1), "kiosk-2": timedelta(hours=1)},
    )
    assert found == {
        "kiosk-1": (ACCURATE, False),
        "kiosk-2": (ACCURATE, True),
        "kiosk-3": (DISCREPANCY, True),  # it fell silent: a new finding, recorded at once
    }
    assert RecordReconciliation.of([]) is None


codes = st.text("abcdef0123456789-", min_size=1, max_size=6).map(lambda c: f"d{c}")


@given(
    st.dictionaries(codes, st.sampled_from(list(CiStatus)), max_size=12),
    st.dictionaries(codes, st.integers(0, 10 * 24 * 60), max_size=12),
)
def test_every_item_is_judged_or_skipped_once_and_every_unrecorded_device_is_named(
    statuses: dict[str, CiStatus], minutes_ago: dict[str, int]
) -> None:
    items = [ItemOnRecord(code, status) for code, status in statuses.items()]
    sightings = [Sighting(code, NOW - timedelta(minutes=m)) for code, m in minutes_ago.items()]

    found = reconcile(items, sightings, NOW, silent_after=SILENT, interval=INTERVAL)

    judged_codes = [f.code for f in found.findings]
    assert sorted(judged_codes + list(found.skipped)) == sorted(statuses)
    assert {s.device for s in found.unregistered} == set(minutes_ago) - set(statuses)
    for finding in found.findings:
        recent = minutes_ago.get(finding.code, 10**9) <= SILENT.total_seconds() / 60
        expected = recent if statuses[finding.code] is CiStatus.ACTIVE else not recent
        assert (finding.result is ACCURATE) is expected
        assert finding.record  # no earlier verification: every finding is new


# -- the item: a discrepancy stays open until a change corrects it --------------------------------

KEEPER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)


def kiosk() -> ConfigurationItem:
    item = ConfigurationItem.register(
        context(KEEPER),
        code="kiosk-1",
        name="Kiosk 1",
        ci_type=CiType.KIOSK,
        owner="tim-kios",
        status=CiStatus.ACTIVE,
        service="kiosks-gates",
        location=None,
        depends_on=[],
    )
    item.collect_events()
    return item


def test_a_discrepancy_is_corrected_once_by_naming_the_change() -> None:
    item = kiosk()
    with pytest.raises(NothingChanged):
        item.correct_discrepancy(context(KEEPER), (context(KEEPER).correlation_id, "CHG-000001"))
    item.verify(
        context(KEEPER),
        result=DISCREPANCY,
        note="never heard from",
        source=VerificationSource.CIRCULATION,
    )
    assert item.discrepancy

    item.correct_discrepancy(context(KEEPER), (context(KEEPER).correlation_id, "CHG-000001"))

    verified, corrected = item.collect_events()
    assert isinstance(verified, Verified)
    assert verified.source is VerificationSource.CIRCULATION
    assert isinstance(corrected, DiscrepancyCorrected)
    assert corrected.change_ref == "CHG-000001"
    assert not item.discrepancy
    with pytest.raises(NothingChanged):
        item.correct_discrepancy(context(KEEPER), (context(KEEPER).correlation_id, "CHG-000001"))
