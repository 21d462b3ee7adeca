"""The ledger's arithmetic as properties: any change to a stored event changes its digest, any
change to an entry or its order breaks the chain, and a signature covers every checkpoint field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from audit import chain, publish
from audit.chain import GENESIS, Checkpoint, Entry
from audit.keys import key_id, public_pem, verifies
from service import schemas

KEY = Ed25519PrivateKey.generate()

stored_rows = st.tuples(
    st.sampled_from(["Incident.Logged", "Incident.Assigned", "IncidentNumber.Allocated"]),
    st.uuids().map(lambda u: u.hex),
    st.integers(min_value=1, max_value=10**6),
    st.binary(min_size=2, max_size=200),
)


@given(stored_rows, st.integers(min_value=0, max_value=3), st.data())
def test_any_change_to_a_stored_event_changes_its_digest(
    row: tuple[str, str, int, bytes], field: int, data: st.DataObject
) -> None:
    changed = list(row)
    if field == 0:
        changed[0] = row[0] + data.draw(st.sampled_from(["x", ".Forged", " "]))
    elif field == 1:
        changed[1] = uuid4().hex
    elif field == 2:
        changed[2] = row[2] + data.draw(st.integers(min_value=1, max_value=5))
    else:
        index = data.draw(st.integers(min_value=0, max_value=len(row[3]) - 1))
        flipped = bytearray(row[3])
        flipped[index] ^= data.draw(st.integers(min_value=1, max_value=255))
        changed[3] = bytes(flipped)
    assert chain.digest(*row) != chain.digest(*changed)  # type: ignore[arg-type]


def build_chain(rows: list[tuple[str, str, int, bytes]]) -> list[Entry]:
    prev, entries = GENESIS, []
    for position, (topic, originator, version, state) in enumerate(rows, start=1):
        digest = chain.digest(topic, originator, version, state)
        event_id = f"{originator}/{version}"
        own = chain.entry_hash(prev, position, event_id, topic, "siti", "agent", "t", digest)
        entries.append(Entry(position, event_id, topic, "siti", "agent", "t", digest, prev, own))
        prev = own
    return entries


def chain_holds(entries: list[Entry]) -> bool:
    prev = GENESIS
    for entry in entries:
        if entry.prev_hash != prev or chain.recomputed(entry) != entry.hash:
            return False
        prev = entry.hash
    return True


FIELDS = ["position", "event_id", "type", "actor_id", "actor_role", "at", "digest"]


@given(st.lists(stored_rows, min_size=2, max_size=12), st.data())
def test_changing_any_field_of_any_entry_breaks_the_chain(
    rows: list[tuple[str, str, int, bytes]], data: st.DataObject
) -> None:
    entries = build_chain(rows)
    assert chain_holds(entries)
    index = data.draw(st.integers(min_value=0, max_value=len(entries) - 1))
    name = data.draw(st.sampled_from(FIELDS))
    value = getattr(entries[index], name)
    forged = (
        value + 1 if isinstance(value, int) else value + (b"!" if isinstance(value, bytes) else "!")
    )
    entries[index] = replace(entries[index], **{name: forged})
    assert not chain_holds(entries)


@given(st.lists(stored_rows, min_size=2, max_size=12, unique_by=lambda r: r[1]), st.data())
def test_reordering_entries_breaks_the_chain(
    rows: list[tuple[str, str, int, bytes]], data: st.DataObject
) -> None:
    entries = build_chain(rows)
    i = data.draw(st.integers(min_value=0, max_value=len(entries) - 2))
    entries[i], entries[i + 1] = entries[i + 1], entries[i]
    assert not chain_holds(entries)


@given(
    st.integers(min_value=1, max_value=10**9),
    st.binary(min_size=32, max_size=32),
    st.sampled_from(["position", "hash", "at", "key_id"]),
)
def test_a_signature_covers_every_field_of_a_checkpoint(
    position: int, head: bytes, field: str
) -> None:
    at, kid = "2026-03-02T08:30:00+00:00", key_id(KEY.public_key())
    signed = Checkpoint(
        position, head, at, kid, KEY.sign(chain.signed_message(position, head, at, kid))
    )
    assert verifies(KEY.public_key(), signed.signature, signed.message())
    value = getattr(signed, field)
    forged = replace(
        signed,
        **{field: value + 1 if isinstance(value, int) else value[::-1] + value[:1]},
    )
    assert not verifies(KEY.public_key(), forged.signature, forged.message())
    assert Checkpoint.from_json(signed.as_json()) == signed


@given(
    st.integers(min_value=1, max_value=10**9),
    st.binary(min_size=32, max_size=32),
    st.datetimes(timezones=st.just(UTC)),
)
def test_published_checkpoints_validate_against_their_schema_and_parse_back(
    position: int, head: bytes, moment: datetime
) -> None:
    at, kid = moment.isoformat(), key_id(KEY.public_key())
    signed = Checkpoint(
        position, head, at, kid, KEY.sign(chain.signed_message(position, head, at, kid))
    )
    message = publish.envelope(signed, public_pem(KEY.public_key()), "/itsm")
    schema = publish.schema(schemas.DRAFT, schemas.ID_BASE)
    Draft202012Validator.check_schema(schema)
    errors = list(
        Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(
            orjson.loads(message)
        )
    )
    assert errors == []
    assert publish.parse(message) == signed
