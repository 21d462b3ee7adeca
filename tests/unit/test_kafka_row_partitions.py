"""The Kafka projection consumer keeps each projection's rows from its last poll in memory and
reads the others outside its write (consumers/projections.py): that holds only while no other
consumer writes those rows, that is while every row of a Kafka-fed view is folded from one
aggregate's events (which all travel on one partition, keyed by the aggregate's id)."""

from __future__ import annotations

from domain import change_schedule
from projections.base import record_key
from service.stores import FROM_TOPIC

#: The Kafka-fed views keyed otherwise than by their record, and why each row is still one
#: aggregate's: an attachment is on one record; the change calendar is the one change schedule.
KEYED_WITHIN_ONE_RECORD = {"attachments", "change_calendar"}


def test_every_kafka_fed_row_is_folded_from_one_aggregates_events() -> None:
    otherwise = {p.name for p in FROM_TOPIC if p.key_of is not record_key}
    assert otherwise == KEYED_WITHIN_ONE_RECORD
    calendar = next(p for p in FROM_TOPIC if p.name == "change_calendar")
    assert all(issubclass(t, change_schedule.ScheduleEvent) for t in calendar.folds)
    attachments = next(p for p in FROM_TOPIC if p.name == "attachments")
    assert all("attachment_id" in t.model_fields for t in attachments.folds)
