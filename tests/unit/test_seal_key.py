"""The seal key file (audit/seals.py): made once, private, and says where sealing starts."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from audit.seals import DEFAULT_FILE, GENESIS, SealKey, check, key_id_of, load_key, seal_key


def test_the_key_is_made_once_private_and_sealed_from_the_store_head_then(tmp_path: Path) -> None:
    made = seal_key(None, tmp_path, lambda: 41)
    path = tmp_path / DEFAULT_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert made.sealed_from == 41
    assert made.key_id == key_id_of(made.key)
    again = seal_key(None, tmp_path, lambda: 99)  # the head moved on: the file stands
    assert again == made
    assert repr(made).count(made.key.hex()) == 0  # never the key in a log


def test_a_key_file_whose_id_does_not_match_its_key_is_refused(tmp_path: Path) -> None:
    seal_key(None, tmp_path, lambda: 0)
    path = tmp_path / DEFAULT_FILE
    data = orjson.loads(path.read_bytes())
    data["key_id"] = "0123456789abcdef"
    path.write_bytes(orjson.dumps(data))
    with pytest.raises(ValueError, match="key id does not match"):
        load_key(path)


def test_a_configured_key_file_wins(tmp_path: Path) -> None:
    mine = seal_key(None, tmp_path / "elsewhere", lambda: 7)
    assert seal_key(tmp_path / "elsewhere" / DEFAULT_FILE, tmp_path, lambda: 0) == mine
    assert not (tmp_path / DEFAULT_FILE).exists()


def test_seals_chain_and_cover_exactly_their_events() -> None:
    key = SealKey(bytes(range(32)), key_id_of(bytes(range(32))), 0)
    events = [(1, b"a" * 32), (2, b"b" * 32), (3, b"c" * 32)]
    first = key.seal(GENESIS, events[:2])
    second = key.seal(first.mac, events[2:])
    assert check(key, GENESIS, [first, second], events) is None
    assert check(key, GENESIS, [second], events) is not None  # 1 and 2 unsealed
    moved = [(1, b"a" * 32), (2, b"c" * 32), (3, b"b" * 32)]
    found = check(key, GENESIS, [first, second], moved)
    assert found is not None
    assert (found.position, found.last) == (1, 2)
    other = SealKey(bytes(32), key.key_id, 0)
    assert check(other, GENESIS, [first, second], events) is not None
