"""The console's single sign-on, piece by piece (console/sso.py, infra/oidc_client.py): the PKCE
challenge is RFC 7636's S256; an attempt's cookie gives back what it kept, and nothing when it is
altered, too old or not ours; the settings ask for a client id only beside an issuer, a secret
only beside a client id, and send people back to the service's own callback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.sso import FLOW_SECONDS, Flow
from infra.oidc_client import Attempt, challenge
from infra.settings import Settings

ISSUER = {"oidc_issuer": "https://sso.example/realms/itsm", "oidc_audience": "itsm-api"}


def test_the_challenge_is_rfc_7636s_s256_of_the_verifier() -> None:
    # RFC 7636, appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_each_attempt_has_its_own_secrets_and_a_verifier_of_the_allowed_length() -> None:
    first, second = Attempt.new(), Attempt.new()
    assert first != second
    assert 43 <= len(first.verifier) <= 128


@given(next_page=st.sampled_from(["/console/queue", "/console/", "https://elsewhere.example/"]))
def test_an_attempts_cookie_gives_back_what_it_kept_with_next_only_ever_a_console_page(
    next_page: str,
) -> None:
    flow = Flow(Attempt.new(), next_page, 1_000.0)
    read = Flow.of(flow.cookie(), now=1_000.0 + FLOW_SECONDS)
    assert read is not None
    assert read.attempt == flow.attempt
    assert read.next == (next_page if next_page.startswith("/console/") else "/console/")


@pytest.mark.parametrize("cookie", [None, "", "not-base64!", "e30", "x" * 3_000])
def test_a_cookie_that_is_not_an_attempts_gives_nothing(cookie: str | None) -> None:
    assert Flow.of(cookie, now=0.0) is None


def test_an_attempt_older_than_its_time_gives_nothing() -> None:
    flow = Flow(Attempt.new(), "/console/", 1_000.0)
    assert Flow.of(flow.cookie(), now=1_000.0 + FLOW_SECONDS + 1) is None


def test_the_console_offers_sso_only_with_a_client_id_beside_an_issuer() -> None:
    assert Settings(**ISSUER).sign_on() is None
    set_up = Settings(**ISSUER, oidc_client_id="itsm-console", public_url="https://itsm.example/")
    sign_on = set_up.sign_on()
    assert sign_on is not None
    assert sign_on.redirect_uri == "https://itsm.example/console/sign-in/callback"
    assert sign_on.client_secret is None
    with pytest.raises(ValueError, match="ITSM_OIDC_CLIENT_ID needs ITSM_OIDC_ISSUER"):
        Settings(oidc_client_id="itsm-console")
    with pytest.raises(ValueError, match="ITSM_OIDC_CLIENT_SECRET needs ITSM_OIDC_CLIENT_ID"):
        Settings(**ISSUER, oidc_client_secret="s3cret")
    with pytest.raises(ValueError, match="oidc_client_id"):
        Settings(**ISSUER, oidc_client_id="has space")
