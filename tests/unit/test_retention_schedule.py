"""The records' retention schedule (domain/retention.py): stated as data, it names every kind of
record the service keeps, each entry in a defined class, and says that records are never deleted."""

from __future__ import annotations

from application.kinds import KINDS
from domain.retention import schedule


def test_every_kind_of_record_has_an_entry_in_the_retention_schedule() -> None:
    missing = set(KINDS) - schedule().covered_kinds()
    assert not missing, f"add these kinds to domain/retention_schedule.json: {sorted(missing)}"


def test_every_kind_the_schedule_names_is_a_kind_of_record() -> None:
    assert schedule().covered_kinds() <= set(KINDS)


def test_each_kind_is_in_one_entry_only() -> None:
    named = [kind for entry in schedule().records for kind in entry.kinds]
    assert len(named) == len(set(named))


def test_records_kept_outside_the_kinds_are_named_too() -> None:
    records = {entry.record for entry in schedule().records}
    for kept in ("report", "attachments", "audit ledger and signed checkpoints", "notifications"):
        assert kept in records


def test_the_rule_is_that_records_are_never_deleted_and_access_expires() -> None:
    found = schedule()
    assert found.rule.startswith("Records are never deleted; what expires is access.")
    assert {entry.class_ for entry in found.records} <= {c.code for c in found.classes}


def test_a_requesters_access_to_their_closed_tickets_expires_and_the_auditors_never_does() -> None:
    by_record = {entry.record: entry for entry in schedule().records}
    for record in ("incident", "service request"):
        access = {a.who: a.years_after_end for a in by_record[record].access}
        assert access["requester"] == 2
        assert access["auditor"] is None
