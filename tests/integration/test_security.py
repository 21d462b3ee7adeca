"""Who gets in, and what hostile input meets: single sign-on access tokens (JWT) verified against
a key set served over real HTTP, the service's own tokens expiring and revoked, per-token rate
limits, request size limits, and a production start refused with publicly known secrets."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from cli.main import main
from domain.actors import Actor, Role
from infra.settings import InsecureConfiguration, Settings
from infra.tokens import SQLiteTokenStore
from service.bootstrap import Services, build
from tests.conftest import T0, Clock
from tests.integration.conftest import Api, serving

ISSUER = "https://sso.dpk.bantenprov.go.id/realms/perpustakaan"
AUDIENCE = "itsm-api"
INCIDENTS = "/api/v1/incidents"
NEW_INCIDENT = {
    "title": "Kiosk 2 frozen",
    "service": "kiosks-gates",
    "caller": "budi.santoso",
    "impact": "low",
    "urgency": "medium",
}


@pytest.fixture
def backend() -> str:
    return "sqlite"  # what is checked here does not depend on the backend


class KeySet:
    """An issuer's signing key and its JWKS, served on loopback as an identity provider would."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = orjson.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = orjson.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        self.fetches = 0
        keyset = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                keyset.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(keyset.jwks)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "0b8e6c52",
            "preferred_username": "rina.kartika",
            "itsm_role": ["offline_access", "agent"],
            "itsm_organisation": "perpus-kab-lebak",
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def keyset() -> Iterator[KeySet]:
    served = KeySet()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def serve_with(make_settings: Callable[[], Settings], clock: Clock) -> Iterator[Callable[..., Api]]:
    """Serve the API on fresh settings changed by the given values."""
    opened: list[Any] = []

    def serve(**changes: Any) -> Api:
        services = build(make_settings().model_copy(update=changes), clock=clock)
        services.start()
        context = serving(services)
        opened.append((services, context))
        return context.__enter__()

    yield serve
    for services, context in reversed(opened):
        context.__exit__(None, None, None)
        services.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_access_token_from_the_office_sso_is_an_actor_like_any_other(
    serve_with: Callable[..., Api], keyset: KeySet
) -> None:
    api = serve_with(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=keyset.url)
    with httpx.Client(base_url=api.base_url, headers=bearer(keyset.token())) as client:
        logged = client.post(INCIDENTS, json=NEW_INCIDENT)
        assert logged.status_code == 201, logged.text
        history = client.get(f"{INCIDENTS}/{logged.json()['id']}/history").json()
    assert history["events"][0]["actor"] == {"id": "rina.kartika", "role": "agent"}
    assert keyset.fetches == 1  # the key set is cached, not fetched per request


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iss": "https://evil.example/realms/x"}, "another issuer"),
        ({"aud": "some-other-app"}, "another audience"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"itsm_role": ["offline_access"]}, "names no role"),
        ({"itsm_role": "system"}, "names no role"),  # the service's own role is never granted
        ({"preferred_username": "rina\u0000kartika"}, "not a usable name"),
        ({"preferred_username": "rina\nkartika"}, "not a usable name"),
        ({"preferred_username": "r" * 201}, "not a usable name"),
        ({"itsm_organisation": "no-such-org"}, "names no organisation"),
        ({"itsm_organisation": ["perpus-kab-lebak"]}, "names no organisation"),
    ],
)
def test_an_access_token_with_wrong_claims_is_refused(
    serve_with: Callable[..., Api], keyset: KeySet, claims: dict[str, Any], why: str
) -> None:
    api = serve_with(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=keyset.url)
    answer = httpx.get(api.base_url + INCIDENTS, headers=bearer(keyset.token(**claims)))
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthenticated"
    assert why in answer.json()["detail"]
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_an_access_token_signed_by_another_key_is_refused(
    serve_with: Callable[..., Api], keyset: KeySet
) -> None:
    api = serve_with(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=keyset.url)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    answer = httpx.get(api.base_url + INCIDENTS, headers=bearer(keyset.token(key=forger)))
    assert answer.status_code == 401
    assert "signature" in answer.json()["detail"]


def test_a_role_from_the_sso_still_meets_the_route_s_roles(
    serve_with: Callable[..., Api], keyset: KeySet
) -> None:
    api = serve_with(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=keyset.url)
    auditor = keyset.token(itsm_role="auditor")
    answer = httpx.post(api.base_url + INCIDENTS, json=NEW_INCIDENT, headers=bearer(auditor))
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"


def test_a_service_token_expires_and_can_be_revoked(
    serve_with: Callable[..., Api], clock: Clock
) -> None:
    api = serve_with()
    tokens = api.services.tokens
    agent = Actor(id="siti.rahma", role=Role.AGENT)
    short = tokens.issue(agent, at=clock(), issued_by="tests", lifetime=timedelta(hours=8))
    other = tokens.issue(agent, at=clock(), issued_by="tests")
    url = api.base_url + INCIDENTS
    assert httpx.get(url, headers=bearer(short.token)).status_code == 200
    clock.advance(hours=8)
    expired = httpx.get(url, headers=bearer(short.token))
    assert (expired.status_code, expired.json()["detail"]) == (401, "the token has expired")
    assert httpx.get(url, headers=bearer(other.token)).status_code == 200
    tokens.revoke(other.token_id, at=clock(), revoked_by="dewi.lestari", reason="left the office")
    revoked = httpx.get(url, headers=bearer(other.token))
    assert (revoked.status_code, revoked.json()["detail"]) == (401, "the token was revoked")


def test_a_token_past_its_rate_gets_429_with_retry_after_and_others_are_unaffected(
    serve_with: Callable[..., Api],
) -> None:
    api = serve_with(rate_limit="5/minute")
    busy, calm = api.client("siti.rahma"), api.client("agus.pratama")
    with busy, calm:
        answers = [busy.get(INCIDENTS).status_code for _ in range(6)]
        assert answers == [200] * 5 + [429]
        refused = busy.get(INCIDENTS)
        assert refused.json()["code"] == "rate-limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert calm.get(INCIDENTS).status_code == 200


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    serve_with: Callable[..., Api],
) -> None:
    api = serve_with(max_request_bytes=4096)
    with api.client() as client:
        huge = {**NEW_INCIDENT, "description": "x" * 5000}
        declared = client.post(INCIDENTS, json=huge)
        assert declared.status_code == 413
        assert declared.json()["code"] == "request-too-large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            body = orjson.dumps(huge)
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        streamed = client.post(
            INCIDENTS, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert client.post(INCIDENTS, json=NEW_INCIDENT).status_code == 201
        assert client.get(INCIDENTS).json()["items"][0]["title"] == "Kiosk 2 frozen"


def test_production_refuses_a_database_password_from_the_examples(tmp_path: Path) -> None:
    known = Settings(
        data_dir=tmp_path,
        environment="production",
        database_url="postgresql://itsm:itsm@db.internal:5432/itsm",
    )
    with pytest.raises(InsecureConfiguration, match="ITSM_DATABASE_URL"):
        build(known)
    assert known.model_copy(update={"environment": "development"}).problems_for_production()
    assert any("PSEUDONYM_KEY" in p for p in known.problems_for_production())
    real = known.model_copy(
        update={
            "database_url": "postgresql://itsm:Jq8v-W2mz-9Lxt@db.internal:5432/itsm",
            "circulation_pseudonym_key": "a0f3e9c2d6b1-our-own",
        }
    )
    assert real.problems_for_production() == []

    run = CliRunner().invoke(
        main,
        ["relay", "--kafka", "127.0.0.1:1", "--data-dir", str(tmp_path)],
        env={"ITSM_ENVIRONMENT": "production", "ITSM_DATABASE_URL": known.database_url},
    )
    assert run.exit_code != 0
    assert "refusing to start in production" in run.output


def test_tokens_are_created_listed_and_revoked_from_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    made = runner.invoke(
        main,
        ["tokens", "create", *data, "--actor", "rina", "--role", "agent", "--expires-in", "12h"],
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    token_id = token.split("_")[1]
    bad = runner.invoke(
        main, ["tokens", "create", *data, "--actor", "x", "--role", "agent", "--expires-in", "9y"]
    )
    assert bad.exit_code != 0
    assert "90d, 12h, 30m or never" in bad.output
    unknown = runner.invoke(
        main,
        ["tokens", "create", *data, "--actor", "x", "--role", "agent", "--organisation", "serang"],
    )
    assert unknown.exit_code != 0
    assert "not one of the organisations" in unknown.output
    lebak = ["--organisation", "perpus-kab-lebak"]
    known = runner.invoke(
        main, ["tokens", "create", *data, "--actor", "asep", "--role", "agent", *lebak]
    )
    assert known.exit_code == 0, known.output

    listed = runner.invoke(main, ["tokens", "list", *data])
    assert token_id in listed.output
    assert "perpus-kab-lebak" in listed.output
    assert "valid" in listed.output
    # never the secret: all after the id (token_urlsafe's alphabet has "_" in it too, so a
    # secret may start with one: split at the first two only)
    secret = token.split("_", 2)[2]
    assert secret
    assert secret not in listed.output

    revoked = runner.invoke(main, ["tokens", "revoke", *data, token_id, "--reason", "test"])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(main, ["tokens", "list", *data]).output
    services: Services = build(Settings(data_dir=tmp_path))
    try:
        assert sorted(r.revoked_at is not None for r in services.tokens.records()) == [False, True]
    finally:
        services.close()


def test_tokens_issued_before_expiry_existed_still_work_and_never_expire(tmp_path: Path) -> None:
    """A store from the first release: api_tokens without the later columns."""
    path = tmp_path / "auth.db"
    secret = "s3cr3t"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TABLE api_tokens (token_id TEXT PRIMARY KEY, secret_sha256 BLOB NOT NULL,"
            " actor_id TEXT NOT NULL, role TEXT NOT NULL, issued_at TEXT NOT NULL,"
            " issued_by TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, ?)",
            (
                "ab12",
                hashlib.sha256(secret.encode()).digest(),
                "siti",
                "agent",
                T0.isoformat(),
                "cli",
            ),
        )
    store = SQLiteTokenStore(path)
    try:
        identity = store.verify(f"itsm_ab12_{secret}", at=T0 + timedelta(days=3650))
        assert identity.actor == Actor(id="siti", role=Role.AGENT)
        assert identity.organisation is None
        assert store.records()[0].expires_at is None
    finally:
        store.close()


def test_every_request_body_refuses_unknown_fields_and_bounds_its_strings(
    openapi_document: dict[str, Any],
) -> None:
    """Checked on the OpenAPI document, so a route added later is held to it too."""
    spec = openapi_document
    schemas = spec["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        return resolve(schemas[ref.rsplit("/", 1)[1]]) if ref else schema

    def strings_unbounded(schema: dict[str, Any], where: str) -> list[str]:
        schema = resolve(schema)
        found = []
        for option in schema.get("anyOf", []) + schema.get("oneOf", []):
            found += strings_unbounded(option, where)
        free_text = "enum" not in schema and "format" not in schema
        if schema.get("type") == "string" and free_text and "maxLength" not in schema:
            found.append(where)
        if schema.get("type") == "array":
            if "maxItems" not in schema:
                found.append(f"{where}[]")
            found += strings_unbounded(schema.get("items", {}), f"{where}[]")
        for name, field in schema.get("properties", {}).items():
            found += strings_unbounded(field, f"{where}.{name}")
        return found

    bodies = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                body = resolve(media["schema"])
                for option in [body, *[resolve(o) for o in body.get("anyOf", [])]]:
                    if option.get("type") == "object":
                        where = f"{method.upper()} {path}"
                        assert option.get("additionalProperties") is False, where
                        assert strings_unbounded(option, where) == []
                        bodies += 1
    assert bodies >= 20
