"""The inbound mail record's rules (domain/inbound_mail.py): one outcome per message, a place in
the mailbox seen twice applies nothing, a dead letter alone is replayed (and only when its bytes
were kept whole), and any sequence of deliveries settles each message once."""

from __future__ import annotations

import contextlib
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.inbound_mail import (
    Applied,
    DeadLettered,
    Ignored,
    InboundMail,
    MailAlreadyReceived,
    MailNotReplayable,
    MailState,
    Received,
    Redelivered,
    Replayed,
    inbound_mail_id,
)
from tests.conftest import context

SHA = "a" * 64


def received(uid: int = 1, message_id: str = "<m@x.example>") -> Received:
    return Received(message_id=message_id, uidvalidity=7, uid=uid, sender="a@b.example")


def dead(partial: bool = False) -> InboundMail:
    mail = InboundMail(inbound_mail_id("<m@x.example>"))
    mail.settle(
        context(),
        DeadLettered,
        received(),
        reason="no such incident",
        sha256=SHA,
        size=10,
        partial=partial,
    )
    return mail


def test_the_id_derives_from_the_message_id() -> None:
    assert inbound_mail_id("<a@b>") == inbound_mail_id("<a@b>")
    assert inbound_mail_id("<a@b>") != inbound_mail_id("<a@c>")


def test_a_settled_message_is_not_settled_again() -> None:
    mail = InboundMail(inbound_mail_id("<m@x.example>"))
    mail.settle(context(), Ignored, received(), reason="a mail loop")
    with pytest.raises(MailAlreadyReceived):
        mail.settle(context(), Ignored, received(), reason="a mail loop")


def test_the_same_place_again_records_nothing_and_a_new_place_a_redelivery() -> None:
    mail = dead()
    mail.collect_events()
    with pytest.raises(MailAlreadyReceived):
        mail.seen_at(context(), uidvalidity=7, uid=1)
    assert mail.collect_events() == []
    mail.seen_at(context(), uidvalidity=7, uid=2)
    [again] = mail.collect_events()
    assert isinstance(again, Redelivered)
    with pytest.raises(MailAlreadyReceived):
        mail.seen_at(context(), uidvalidity=7, uid=2)


def test_a_dead_letter_is_replayed_then_settled_in_one_go() -> None:
    mail = dead()
    mail.replay(context())
    assert mail.state is MailState.REPLAYING
    mail.settle(
        context(),
        Applied,
        Received(message_id="<m@x.example>"),
        action="commented",
        record_id=UUID(int=1),
        record_ref="INC-000001",
        acted_as="budi.santoso",
    )
    assert [type(e) for e in mail.collect_events()] == [DeadLettered, Replayed, Applied]
    assert mail.state is MailState.APPLIED
    with pytest.raises(MailNotReplayable):
        mail.replay(context())


def test_a_dead_letter_kept_only_in_part_is_not_replayed() -> None:
    with pytest.raises(MailNotReplayable, match="header"):
        dead(partial=True).replay(context())


deliveries = st.lists(
    st.tuples(st.integers(0, 4), st.integers(1, 3), st.integers(1, 6)), max_size=30
)


@given(deliveries)
def test_any_sequence_of_deliveries_settles_each_message_once(
    seen: list[tuple[int, int, int]],
) -> None:
    """(message, UIDVALIDITY, UID) in any order, with repeats: one outcome per message, one
    redelivery per new place, and replaying the history gives the same record."""
    records: dict[str, InboundMail] = {}
    history: dict[str, list[object]] = {}
    for n, validity, uid in seen:
        message_id = f"<{n}@x.example>"
        mail = records.get(message_id)
        if mail is None:
            mail = records[message_id] = InboundMail(inbound_mail_id(message_id))
            place = Received(message_id=message_id, uidvalidity=validity, uid=uid)
            mail.settle(context(), Ignored, place, reason="a mail loop")
        else:
            with contextlib.suppress(MailAlreadyReceived):
                mail.seen_at(context(), uidvalidity=validity, uid=uid)
        history.setdefault(message_id, []).extend(mail.collect_events())
    for message_id, events in history.items():
        settled = [e for e in events if isinstance(e, Ignored)]
        assert len(settled) == 1
        places = {(e.uidvalidity, e.uid) for e in events if isinstance(e, Ignored | Redelivered)}
        assert len(places) == len(events)  # each event a place not seen before
        again = InboundMail.project(None, events)  # type: ignore[arg-type]
        assert again is not None
        assert again.locations == records[message_id].locations
