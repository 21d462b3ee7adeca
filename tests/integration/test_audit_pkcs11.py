"""The checkpoint key on a PKCS#11 token (SoftHSM2, tests/engines/softhsm.py), on both backends:
the service started with it signs checkpoints that `itsm audit verify --public-key` accepts, the
token refuses to let the key out, a wrong PIN stops start-up with a clear error, and a rotation
makes the next key on the token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pkcs11
import pytest
from click.testing import CliRunner, Result
from pkcs11 import Attribute, KeyType, ObjectClass
from pydantic import SecretStr

from application.audit_keys import rotate_key
from audit import keys
from audit.service import Audit
from audit.signers import SignerUnavailable, module_lock
from audit.verify import verify
from cli.main import main
from domain.actors import Actor, Role
from domain.context import Context
from infra.settings import Settings
from service.bootstrap import Services, build
from tests.conftest import Clock
from tests.directory_helpers import hold
from tests.engines.softhsm import SoftHsm, softhsm  # noqa: F401 (the fixture)
from tests.integration.conftest import serving
from tests.integration.test_api import new_incident


@pytest.fixture
def token_settings(
    make_settings: Callable[[], Settings],
    softhsm: SoftHsm,  # noqa: F811 (the fixture)
) -> Settings:
    """Settings that sign with a key of this test's own (by its label) on the session's token,
    created there as `itsm audit create-token-key` does."""
    return make_settings().model_copy(
        update={
            "audit_pkcs11_module": softhsm.module,
            "audit_pkcs11_token": softhsm.token,
            "audit_pkcs11_pin": SecretStr(softhsm.pin),
            "audit_pkcs11_key_label": f"itsm-test-{uuid4().hex[:12]}",
        }
    )


@pytest.fixture
def on_token(token_settings: Settings, clock: Clock) -> Iterator[Services]:
    token_env(token_settings)
    assert itsm("audit", "create-token-key", "--data-dir", token_settings.data_dir).exit_code == 0
    services = build(token_settings, clock=clock)
    services.start()
    hold(services)
    yield services
    services.close()


_env: dict[str, str] = {}


def token_env(settings: Settings) -> None:
    """The environment the `itsm` commands of this test read their settings from."""
    assert settings.audit_pkcs11_pin is not None
    _env.clear()
    _env.update(
        {
            "ITSM_AUDIT_PKCS11_MODULE": str(settings.audit_pkcs11_module),
            "ITSM_AUDIT_PKCS11_TOKEN": settings.audit_pkcs11_token,
            "ITSM_AUDIT_PKCS11_KEY_LABEL": settings.audit_pkcs11_key_label,
            "ITSM_AUDIT_PKCS11_PIN": settings.audit_pkcs11_pin.get_secret_value(),
        }
    )
    if settings.database_url:
        _env["ITSM_DATABASE_URL"] = settings.database_url


def itsm(*args: str | Path) -> Result:
    return CliRunner(env=_env).invoke(main, [str(a) for a in args], catch_exceptions=False)


def audit(services: Services) -> Audit:
    assert services.audit is not None
    return services.audit


def test_the_service_signs_with_the_token_and_itsm_audit_verify_accepts_its_checkpoints(
    on_token: Services, tmp_path: Path
) -> None:
    with serving(on_token) as api, api.client("siti.rahma", Role.AGENT) as agent:
        for _ in range(3):
            new_incident(agent)
    signed = audit(on_token).ledger.checkpoint_now()
    assert signed is not None
    exported = itsm("audit", "public-key", "--data-dir", on_token.settings.data_dir)
    assert exported.exit_code == 0, exported.output
    assert keys.key_id(keys.load_public(exported.stdout.encode())) == signed.key_id
    held = tmp_path / "token.pem"
    held.write_text(exported.stdout)

    verified = itsm(
        "audit", "verify", "--data-dir", on_token.settings.data_dir, "--public-key", held
    )
    assert verified.exit_code == 0, verified.output
    assert '"ok": true' in verified.stdout


def test_the_token_refuses_to_let_the_private_key_out(
    on_token: Services,
    softhsm: SoftHsm,  # noqa: F811 (the fixture)
) -> None:
    label = on_token.settings.audit_pkcs11_key_label
    # The service's ledger may be signing meanwhile: every call into the module takes its lock.
    with module_lock(softhsm.module):
        token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.token)
        with token.open() as session:  # logged in already: the service's keyring did it
            private = session.get_key(
                object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC_EDWARDS, label=label
            )
            assert private[Attribute.SENSITIVE] is True
            assert private[Attribute.EXTRACTABLE] is False
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                private[Attribute.VALUE]
    # ...and it signs: the service's checkpoints verify with the token's public key
    assert audit(on_token).ledger.checkpoint_now() is not None


def test_a_wrong_pin_stops_start_up_with_a_clear_error(
    token_settings: Settings, clock: Clock
) -> None:
    wrong = token_settings.model_copy(update={"audit_pkcs11_pin": SecretStr("0000")})
    with pytest.raises(SignerUnavailable, match=r"refused the PIN.*wrong PIN"):
        build(wrong, clock=clock)
    token_env(wrong)
    served = CliRunner(env=_env).invoke(main, ["serve", "--data-dir", str(wrong.data_dir)])
    assert served.exit_code == 1
    assert "refused the PIN" in served.output
    assert "wrong PIN" in served.output


def test_a_rotation_makes_the_next_key_on_the_token_and_the_first_key_still_verifies(
    on_token: Services,
) -> None:
    a = audit(on_token)
    first = a.key
    ctx = Context(Actor(id="ana.admin", role=Role.ADMIN), on_token.clock(), uuid4())
    new, covering = rotate_key(on_token.desk, a, ctx)
    assert covering is not None
    assert covering.key_id == first.key_id
    with serving(on_token) as api, api.client("siti.rahma", Role.AGENT) as agent:
        new_incident(agent)
    after = a.ledger.checkpoint_now()
    assert after is not None
    assert after.key_id == new.key_id
    report = verify(a.store, {first.key_id: first.public_key()})
    assert report.ok, report.as_json()
