"""The checkpoint signing key: created once in the data directory, or the configured one."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.keys import DEFAULT_FILE, key_id, signing_key


def test_the_key_is_created_on_first_start_private_to_its_owner_and_kept(tmp_path: Path) -> None:
    first = signing_key(None, None, tmp_path)
    assert stat.S_IMODE((tmp_path / DEFAULT_FILE).stat().st_mode) == 0o600
    assert key_id(signing_key(None, None, tmp_path).public_key()) == key_id(first.public_key())


def test_processes_starting_at_once_end_up_with_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = set(
            pool.map(lambda _: key_id(signing_key(None, None, tmp_path).public_key()), range(16))
        )
    assert len(ids) == 1
    assert [p.name for p in tmp_path.iterdir()] == [DEFAULT_FILE]  # no temporaries left


def test_a_configured_key_wins_over_the_data_directory(tmp_path: Path) -> None:
    signing_key(None, None, tmp_path)
    configured = Ed25519PrivateKey.generate()
    pem = configured.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "secret.pem").write_bytes(pem)
    expected = key_id(configured.public_key())
    assert key_id(signing_key(pem.decode(), None, tmp_path).public_key()) == expected
    assert key_id(signing_key(None, tmp_path / "secret.pem", tmp_path).public_key()) == expected
