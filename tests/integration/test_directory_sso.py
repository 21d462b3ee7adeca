"""On login with a single sign-on access token, the directory takes what the token says of the
person (name, e-mail, locale as language, organisation, roles): registered once (source "sso"),
then only what differs; the same token again writes nothing; a token whose claims the directory
cannot take still lets its holder in. Against a real key set served on loopback, with tokens
minted as tests/integration/test_security.py mints them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from application.directory_sync import DirectorySync
from domain import directory as d
from infra.settings import Settings
from projections import directory as views
from service.bootstrap import Services, build
from tests.conftest import Clock
from tests.integration.conftest import Api, serving
from tests.integration.test_security import AUDIENCE, INCIDENTS, ISSUER, KeySet, bearer


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the sync takes the pipeline, the same on either store


@pytest.fixture
def keyset() -> Iterator[KeySet]:
    served = KeySet()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def sso_api(make_settings: Callable[[], Settings], clock: Clock, keyset: KeySet) -> Iterator[Api]:
    """The API with single sign-on from the issuer whose key set `keyset` serves."""
    sso = {"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE, "oidc_jwks_url": keyset.url}
    services = build(make_settings().model_copy(update=sso), clock=clock)
    services.start()
    try:
        with serving(services) as api:
            yield api
    finally:
        services.close()


SAYS = {
    "name": "Rina Kartika",
    "email": "Rina.Kartika@Perpus-Lebak.example",
    "locale": "en-US",
    "itsm_role": ["offline_access", "agent"],
}


def logged_in(api: Api, keyset: KeySet, **claims: Any) -> None:
    """One request with a token saying `claims`, then the directory's sync settled."""
    with httpx.Client(base_url=api.base_url, headers=bearer(keyset.token(**claims))) as client:
        assert client.get(INCIDENTS).status_code == 200
    sync = api.services.oidc.on_login if api.services.oidc else None
    assert isinstance(sync, DirectorySync)
    sync.settled()


def events_of(services: Services, actor_id: str) -> list[str]:
    return [e.type_name for e in services.desk.events.get(d.person_id(actor_id))]


def test_a_login_registers_the_person_and_later_ones_write_only_what_changed(
    sso_api: Api, keyset: KeySet
) -> None:
    api = sso_api
    logged_in(api, keyset, **SAYS)
    api.services.runner.catch_up()
    rina = views.person(api.services.views, "rina.kartika")
    assert rina is not None
    assert (rina["name"], rina["email"], rina["language"]) == (
        "Rina Kartika",
        "rina.kartika@perpus-lebak.example",
        "en",
    )
    assert (rina["organisation"], rina["roles"], rina["source"]) == (
        "perpus-kab-lebak",
        ["agent"],
        "sso",
    )

    logged_in(api, keyset, **SAYS)  # the same claims: nothing is written
    logged_in(api, keyset, **{**SAYS, "name": "Rina Kartika Sari", "locale": "id-ID"})
    assert events_of(api.services, "rina.kartika") == [
        "Person.Registered",
        "Person.Renamed",
        "Person.LanguageChosen",
    ]


def test_claims_the_directory_cannot_take_never_keep_anyone_out(
    sso_api: Api, keyset: KeySet
) -> None:
    api = sso_api
    logged_in(api, keyset, **{**SAYS, "email": "not an address"})
    assert events_of(api.services, "rina.kartika") == []
    # a token that says nothing more than who they are registers them under their actor id
    logged_in(api, keyset, preferred_username="agus.salim", itsm_role="resolver")
    api.services.runner.catch_up()
    agus = views.person(api.services.views, "agus.salim")
    assert agus is not None
    assert (agus["name"], agus["email"], agus["language"], agus["roles"]) == (
        "agus.salim",
        None,
        "id",
        ["resolver"],
    )
