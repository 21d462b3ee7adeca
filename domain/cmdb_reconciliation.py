"""Reconciling the CMDB with what the circulation stream hears (ISO/IEC 20000-1 8.2.6: the
accuracy of configuration information verified at planned intervals, deficiencies recorded).

Self-check kiosks and RFID gates send heartbeats and status changes through the circulation
stream (docs/circulation.md), each naming its device: the configuration item's code. The
reconciliation sets the record of every kiosk and gate against the stream:

- an active item heard from within `silent_after` of the stream's time is **accurate**;
- an active item not heard from within it, or never, is a **discrepancy** (gone, renamed,
  unplugged: the record no longer says what is there);
- a retired or planned item heard from within it is a **discrepancy** (in service after all);
- an item in maintenance is left alone (silence is what maintenance sounds like);
- a device heard from that no item records is **unregistered**: answered, not recorded (there is
  no record to put it on; registering it is a person's decision).

An item's finding is recorded (`ConfigurationItem.Verified`, source `circulation`) when it
differs from the item's last verification, or that one is older than `interval`: a daily run
leaves one event per item per interval, not one a day. A discrepancy stays open until a person
names the implemented change that corrected it (`correct-discrepancy`).

Pure: the caller reads the items, the sightings and the time; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.change import Change
from domain.command_base import ActionCommand, Command
from domain.configuration_item import (
    CiStatus,
    CiType,
    Code,
    ConfigurationItem,
    VerificationResult,
    VerificationSource,
    ci_id,
)
from domain.context import Context
from domain.errors import ChangeNotImplemented, NothingChanged
from domain.examples import example
from domain.fields import Note, record_ref
from domain.record_numbers import RecordKind, number_label
from domain.session import Session

#: The types of item the circulation stream speaks for.
DEVICE_TYPES = frozenset({CiType.KIOSK, CiType.RFID_GATE})


@dataclass(frozen=True, slots=True)
class Sighting:
    """A device the stream has heard from: its code and when it was last heard."""

    device: str
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class ItemOnRecord:
    """What the reconciliation needs of an item's record."""

    code: str
    status: CiStatus
    #: its last verification's result and time, if it has one
    last_result: VerificationResult | None = None
    last_verified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    result: VerificationResult
    note: str
    #: whether it is recorded: it differs from the last verification, or that one is stale
    record: bool


@dataclass(frozen=True, slots=True)
class Reconciliation:
    findings: tuple[Finding, ...]
    unregistered: tuple[Sighting, ...]
    #: the items left alone (in maintenance)
    skipped: tuple[str, ...]


def reconcile(
    items: Iterable[ItemOnRecord],
    sightings: Iterable[Sighting],
    now: datetime,
    *,
    silent_after: timedelta,
    interval: timedelta,
) -> Reconciliation:
    """Each kiosk and gate on record against what the stream heard, as of `now` (the stream's
    time: the latest event it holds)."""
    heard = {s.device: s for s in sightings}
    findings: list[Finding] = []
    skipped: list[str] = []
    on_record: set[str] = set()
    for item in sorted(items, key=lambda i: i.code):
        on_record.add(item.code)
        if item.status is CiStatus.MAINTENANCE:
            skipped.append(item.code)
            continue
        seen = heard.get(item.code)
        recent = seen is not None and now - seen.last_seen <= silent_after
        result, note = _judged(item.status, seen, recent)
        stale = item.last_verified_at is None or now - item.last_verified_at >= interval
        findings.append(Finding(item.code, result, note, stale or result != item.last_result))
    unregistered = tuple(s for code, s in sorted(heard.items()) if code not in on_record)
    return Reconciliation(tuple(findings), unregistered, tuple(skipped))


def _judged(
    status: CiStatus, seen: Sighting | None, recent: bool
) -> tuple[VerificationResult, str]:
    last = "never" if seen is None else seen.last_seen.isoformat()
    if status is CiStatus.ACTIVE:
        if recent:
            return VerificationResult.ACCURATE, f"active, heard from at {last}"
        return VerificationResult.DISCREPANCY, f"recorded active, last heard from: {last}"
    if recent:
        return VerificationResult.DISCREPANCY, f"recorded {status}, but heard from at {last}"
    return VerificationResult.ACCURATE, f"{status}, and silent (last heard from: {last})"


class Recorded(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Code
    result: VerificationResult
    note: str = Field(min_length=1, max_length=2_000)


class RecordReconciliation(Command):
    """The findings of one reconciliation run to record, on their items in one write. Not a
    route's body: the reconciliation makes it (processes/cmdb_reconcile.py)."""

    findings: list[Recorded] = Field(min_length=1, max_length=10_000)

    def decide(self, session: Session, ctx: Context) -> UUID:
        for found in self.findings:
            item = session.get(ConfigurationItem, ci_id(found.code), found.code)
            item.verify(
                ctx, result=found.result, note=found.note, source=VerificationSource.CIRCULATION
            )
        return ci_id(self.findings[-1].code)

    @classmethod
    def of(cls, findings: Sequence[Finding]) -> RecordReconciliation | None:
        """The findings to record, or None if there are none."""
        recorded = [
            Recorded(code=f.code, result=f.result, note=f.note) for f in findings if f.record
        ]
        return cls(findings=recorded) if recorded else None


class CorrectDiscrepancy(ActionCommand):
    """Name the implemented change that put right the discrepancy an item's last verification
    found: the change succeeded and names the item (as `apply-change` requires)."""

    model_config = example({"change": "CHG-000007", "note": "Kiosk moved to Rangkasbitung"})

    action: ClassVar[str] = "correct-discrepancy"
    summary: ClassVar[str] = "Name the implemented change that corrected a discrepancy"
    change: str = record_ref("CHG-000042 or the change's id")
    note: str | None = Note

    def decide(self, session: Session, ctx: Context, item_id: UUID) -> UUID:
        item = session.get(ConfigurationItem, item_id)
        if not item.discrepancy:  # said first: no change can correct what is not wrong
            raise NothingChanged(f"{item.code} has no discrepancy open to correct")
        change = session.get(Change, session.find_numbered(RecordKind.CHANGE, self.change))
        ref = number_label(RecordKind.CHANGE, change.number)
        if not change.implemented_successfully:
            raise ChangeNotImplemented(f"{ref} is {change.state}: not implemented successfully")
        if item.code not in change.configuration_items:
            raise ChangeNotImplemented(f"{ref} does not name {item.code}")
        item.correct_discrepancy(ctx, (change.id, ref), self.note)
        return item.id
