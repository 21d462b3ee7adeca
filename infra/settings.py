"""All configuration, validated once at start-up (environment variables prefixed ITSM_)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.data_files import DataFile
from infra.mail_in import ImapSettings, is_loopback
from infra.mail_out import SmtpSettings
from infra.oidc import OidcSettings
from infra.oidc_client import CALLBACK_PATH, ClientSettings
from infra.pg import PostgresAddress


class InsecureConfiguration(Exception):
    """A production configuration with a missing or publicly known secret."""


#: The patron pseudonym key that ships with the code, for development only.
DEVELOPMENT_PSEUDONYM_KEY = "development-only-circulation-key"
#: Passwords that appear in this repository's examples (docker-compose.yml, docs): known to all.
DEVELOPMENT_PASSWORDS = frozenset({"itsm", "postgres", "password", "secret"})


#: The longest file path a setting takes (Linux's PATH_MAX).
MAX_PATH = 4096

_SECONDS = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")
_ISO_8601_DURATION = re.compile(
    r"P(?=[0-9T])([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?"
    r"(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+([.,][0-9]+)?S)?)?"
)


def _duration(value: Any) -> Any:
    """Seconds (`20`, `0.5`) or an ISO 8601 duration (`PT20S`, `P5D`, `P1DT12H`); pydantic
    alone reads neither `20` from the environment nor says what it wants instead."""
    if isinstance(value, timedelta | int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _SECONDS.fullmatch(text):
            return timedelta(seconds=float(text))
        if _ISO_8601_DURATION.fullmatch(text.upper()):
            return text.upper()
    raise ValueError(
        f"{value!r} is no duration: give seconds (e.g. 20) or ISO 8601 (e.g. PT20S, P5D)"
    )


#: A length of time in the environment: seconds or ISO 8601, never negative.
Duration = Annotated[timedelta, BeforeValidator(_duration), Field(ge=timedelta(0))]


class Settings(BaseSettings):
    # Errors name the problem, never the input: a check across settings (SMTP authentication)
    # would otherwise print every setting given, passwords included, to the start-up log.
    model_config = SettingsConfigDict(
        env_prefix="ITSM_",
        extra="ignore",
        ignored_types=(DataFile,),
        hide_input_in_errors=True,
    )

    data_dir: Path = Field(default=Path("var"), description="where the SQLite files live")
    #: PostgreSQL for the event store, views, incident numbers and API tokens, e.g.
    #: postgresql://itsm@127.0.0.1:5432/itsm (see docs/postgres.md). Unset: SQLite in data_dir.
    database_url: str | None = None
    #: Where the keys that seal people's own data are (docs/privacy.md): a PostgreSQL URL, or a
    #: SQLite file. Unset: beside the event store (its database, or data_dir/subject-keys.db). A
    #: Kafka-fed projection consumer with views of its own names the service's here.
    subject_keys: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: API worker processes. Each follows the store with its own projection runner; the store
    #: and the view store arbitrate between them, so any number is safe.
    workers: int = Field(default=1, ge=1, le=64)
    #: With several workers, how long each may take to answer its supervisor's health check
    #: (seconds) before it is killed and started again. A worker still importing the service on a
    #: loaded host cannot answer; uvicorn's own 5 s killed such workers over and over.
    worker_healthcheck_timeout: int = Field(default=60, ge=5, le=600)
    #: How long a caller may confirm or reopen a resolved incident (ISO 8601 duration or seconds).
    reopen_window: Duration = timedelta(days=5)
    #: How long a write waits for its projections before answering (read-your-writes).
    read_your_writes_timeout: float = 5.0
    #: The most incidents one bulk action acts on (application/bulk.py; at most BULK_CEILING).
    bulk_max_records: int = Field(default=100, ge=1, le=200)
    #: Aggregates kept in memory per process; each use still reads newer events from the store.
    aggregate_cache_size: int = 10_000
    log_level: str = "info"
    #: `json` (the default: one JSON object a line, for a log collector) or `text` (for a
    #: developer's terminal); see infra/logs.py.
    log_format: Literal["json", "text"] = "json"
    #: Seconds between the SLA watcher's ticks in `serve` (0: `serve` runs no watcher; run
    #: `itsm sla watch` instead).
    sla_watch_interval: float = Field(default=30.0, ge=0)
    #: Seconds between the report schedule's looks at the calendar in `serve`: on the first
    #: working day of a month it issues the last month's service reports (docs/reports.md). 0:
    #: `serve` issues none; run `itsm reports schedule --once` from cron instead.
    report_schedule_interval: float = Field(default=3600.0, ge=0)
    #: How often the kiosks' and gates' records are reconciled with the circulation stream
    #: (seconds; 0: never by itself). Daily: the planned interval of ISO/IEC 20000-1 8.2.6.
    cmdb_reconcile_interval: float = Field(default=86_400.0, ge=0)
    #: How long a follower's step (projections, audit ledger, SLA watch) may keep failing, retried
    #: with backoff, before /readyz says the service is not ready: a lock or a reconnect passes
    #: well within it; a full disk or a broken store does not.
    ready_failing_after: Duration = timedelta(seconds=30)

    #: The audit ledger (docs/audit.md): whether this process follows the store into the ledger
    #: (off where `itsm audit follow` runs it instead), and how often it signs a checkpoint:
    #: every so many positions, and at least this often while events arrive (short: the tail
    #: after the last witnessed checkpoint is what root on the host could still rewrite).
    audit_follow: bool = True
    audit_checkpoint_every: int = Field(default=1_000, ge=1)
    audit_checkpoint_interval: Duration = timedelta(seconds=60)
    #: The auditors' witnesses (`itsm audit witness`) each checkpoint is pushed to, with the
    #: entries since the last one they hold: comma-separated http(s) URLs. Unset: none.
    audit_witness_urls: str = Field(
        default="",
        max_length=4000,
        pattern=r"^(\s*https?://[^\s,]+\s*(,\s*https?://[^\s,]+\s*)*)?$",
    )
    #: The CA certificate(s), PEM, that an https:// witness's certificate must chain to (the
    #: auditor's own CA). Unset: the system's CAs. The certificate is always verified.
    audit_witness_ca_file: Path | None = Field(
        default=None,
        description="the CA file (PEM) that https:// witnesses' certificates are checked with",
    )
    #: The Ed25519 key that signs checkpoints: PEM text (e.g. from a secret store) or a file.
    #: Unset: `audit-signing-key.pem` in the data directory, created on first start.
    audit_signing_key: SecretStr | None = None
    audit_signing_key_file: Path | None = None
    #: Or a key on a PKCS#11 token (an HSM; SoftHSM2 to try it), which signs and never lets the
    #: key out: set the module (the vendor's .so) to use it. The token is found by its label,
    #: the key by its label (`itsm audit create-token-key` makes it there), logged in with the
    #: user PIN (text, or a file holding it).
    audit_pkcs11_module: Path | None = None
    audit_pkcs11_token: str = Field(default="itsm-audit", min_length=1, max_length=32)
    audit_pkcs11_key_label: str = Field(default="itsm-checkpoints", min_length=1, max_length=64)
    audit_pkcs11_pin: SecretStr | None = None
    audit_pkcs11_pin_file: Path | None = None
    #: The HMAC key that seals each committed batch of events (audit/seals.py), kept off the
    #: database: a JSON key file. Unset: `audit-seal.key` in the data directory, created on first
    #: start. `audit_seal` off writes unsealed and the ledger asks for no seals (as before
    #: sealing; only to measure what sealing costs).
    audit_seal_key_file: Path | None = None
    audit_seal: bool = True

    #: Kafka mode: the broker(s) to publish the event store to and feed projections from.
    kafka_bootstrap: str | None = None
    #: The topic every domain event is published to, and how it is created.
    kafka_topic: str = "itsm.events"
    kafka_partitions: int = Field(default=6, ge=1)
    kafka_replication: int = Field(default=1, ge=1)
    #: In Kafka mode, whether `serve` also runs the relay and the projection consumer in-process
    #: (off when they run as processes of their own: `itsm relay`, `itsm consume projections`).
    kafka_relay: bool = True
    kafka_consume: bool = True
    #: The consumer group of the Kafka-fed projections.
    kafka_projections_group: str = "itsm.projections"
    #: Where signed audit checkpoints are published in Kafka mode.
    kafka_audit_topic: str = "itsm.audit.checkpoints"
    #: The CloudEvents `source` of every published event: an absolute URI (RFC 3986: a scheme,
    #: then the rest) naming this deployment, e.g. `https://itsm.dpk.bantenprov.go.id`. The
    #: default says that no deployment named itself (infra.cloudevents.DEFAULT_SOURCE).
    event_source: str = Field(
        default="urn:itsm:deployment:local",
        pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$",
        max_length=500,
    )

    #: `development` (the default) or `production`: in production the service refuses to start
    #: with a missing or development secret (see `problems_for_production`).
    environment: Literal["development", "production"] = "development"
    #: How long an API token's verification is cached in a process: a token revoked through
    #: another process is refused within this many seconds.
    token_cache_seconds: float = Field(default=10.0, ge=0)
    #: OAuth2/OIDC single sign-on: access tokens (JWT) from this issuer for this audience are
    #: accepted beside the service's own tokens (see docs/security.md). Unset: off.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    #: The issuer's key set (JWKS); default: <issuer>/.well-known/jwks.json.
    oidc_jwks_url: str | None = None
    oidc_actor_claim: str = "preferred_username"
    oidc_role_claim: str = "itsm_role"
    oidc_organisation_claim: str = "itsm_organisation"
    #: The console signs people in at the same issuer (authorization code with PKCE) when this
    #: client id is set; its redirect URI is ITSM_PUBLIC_URL + /console/sign-in/callback. The
    #: secret only for a confidential client (a public client with PKCE needs none).
    oidc_client_id: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"
    )
    oidc_client_secret: SecretStr | None = None
    #: E-mail out (docs/notifications.md): the office's SMTP relay. Unset host: no e-mail is
    #: sent. `security` is "starttls" (port 587), "tls" (implicit TLS, port 465) or "none"
    #: (a relay on this host); the server's certificate is always verified, against the CA
    #: file when given, else the system's CAs. AUTH only with both a username and a password,
    #: and never in the clear unless `smtp_allow_plaintext_auth` says so.
    smtp_host: str | None = Field(default=None, max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = Field(default=None, max_length=256)
    smtp_password: SecretStr | None = None
    smtp_allow_plaintext_auth: bool = False
    smtp_ca_file: Path | None = None
    #: The sender, e.g. "Layanan TIK DPK Banten <layanan@dpk-banten.example>"; needed with a host.
    smtp_from: str | None = Field(default=None, max_length=500)
    #: Seconds to wait for the relay at each step.
    smtp_timeout: float = Field(default=30.0, gt=0, le=600)
    #: The name given in EHLO; unset: this host's fully qualified name.
    smtp_helo: str | None = Field(default=None, max_length=253)
    #: Webhooks out: seconds to wait for a receiver, and the CA file (PEM) that https://
    #: receivers' certificates are checked with (unset: the system's CAs; always checked).
    webhook_timeout: float = Field(default=10.0, gt=0, le=120)
    webhook_ca_file: Path | None = None
    #: Notifications (docs/notifications.md). The notifier runs with `serve` when e-mail is set
    #: up (ITSM_SMTP_HOST) or when this says so; off, nothing is decided or sent.
    notify: bool | None = None
    #: Where people open a record from a message: the service's public address.
    public_url: str = Field(default="http://127.0.0.1:8000", min_length=1, max_length=500)
    #: The domain of the Message-IDs the service makes (default: its sender's domain).
    mail_domain: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$"
    )
    #: The delays between a notification's attempts; after the last, it is dead-lettered.
    notify_retry_delays: list[Duration] = Field(
        default_factory=lambda: [
            timedelta(seconds=s) for s in (30, 120, 600, 1_800, 3_600, 3 * 3_600, 6 * 3_600)
        ],
        min_length=1,
        max_length=20,
    )
    #: A destination (the relay, a webhook endpoint) that failed this many times running is
    #: paused for `notify_pause`, then tried again; a webhook endpoint is paused in the record.
    notify_pause_after: int = Field(default=5, ge=1, le=100)
    notify_pause: Duration = timedelta(minutes=5)
    #: Where the webhook endpoints' secrets are kept (infra/webhook_secrets.py), one file each,
    #: outside the store. Unset: `webhooks/` in the data directory. Several hosts on one
    #: PostgreSQL database share it (docs/notifications.md, "Webhook endpoints").
    webhook_secrets_dir: Path | None = None
    #: An attempt that recorded no outcome this long after it started is taken again, as a
    #: re-send (its sender died between): longer than any one send takes, so that a live
    #: sender's attempt is never taken from it.
    notify_lease: Duration = Field(default=timedelta(minutes=2), gt=timedelta(0))
    #: Requests per caller (per token) in a moving window, e.g. "1200/minute"; empty: no limit.
    rate_limit: str = "1200/minute"
    #: Requests to /api/ per client address, counted before the token is looked at (an office
    #: behind one NAT address shares it); empty: no limit.
    address_rate_limit: str = "6000/minute"
    #: Failed authentications per client address: past it the address gets 429 for every /api/
    #: request, without its token being looked at, until the window moves on; empty: no limit.
    address_failure_limit: str = "30/minute"
    #: Reverse proxies (addresses or networks, comma-separated, or "*") whose X-Forwarded-For
    #: names the client's address. Empty (the default): the client is the socket peer.
    trusted_proxies: str = ""
    #: The largest request body accepted, in bytes (larger ones get 413 before they are read).
    max_request_bytes: int = Field(default=1 << 20, ge=1024)
    #: The largest attachment accepted, in bytes (docs/attachments.md): an upload's body may be
    #: this much and its form's framing; a larger file gets 413.
    max_attachment_bytes: int = Field(default=10 << 20, ge=1024, le=1 << 30)
    #: Where the attachments' bytes live in embedded mode. Unset: `attachments/` in the data
    #: directory. On PostgreSQL they live in the database (infra/blobs.py).
    attachments_dir: Path | None = None
    #: Circulation streams (docs/circulation.md). The key of the patron pseudonyms (HMAC): set
    #: a secret of your own outside development; changing it changes every pseudonym.
    circulation_pseudonym_key: str = DEVELOPMENT_PSEUDONYM_KEY
    circulation_topic: str = "circulation.events"
    circulation_group: str = "itsm.circulation"
    #: The business calendar whose hours and holidays are the branches' opening hours (the
    #: shipped `library`: Monday to Saturday 08:00-16:00, closed on holidays; a service manager
    #: amends it like any calendar). Empty: `circulation_opening_hours`, without holidays.
    circulation_opening_calendar: str = "library"
    #: When branches are open (Asia/Jakarta) if no calendar is named (or it does not exist),
    #: e.g. "mon-thu 08:00-16:00; sat 08:00-13:00".
    circulation_opening_hours: str = "mon-sat 08:00-16:00"
    circulation_device_offline: bool = True
    circulation_offline_threshold: Duration = timedelta(minutes=10)
    circulation_failure_rate: bool = True
    circulation_failure_window: Duration = timedelta(minutes=15)
    circulation_failure_threshold: float = Field(default=0.2, gt=0, le=1)
    circulation_failure_min_volume: int = Field(default=50, ge=1)
    #: How long a device or a failure rate must be back to normal before the incident is closed.
    circulation_stable_for: Duration = timedelta(minutes=15)
    #: "resolve" the incident on recovery, or "propose" resolution in a note.
    circulation_on_recovery: Literal["resolve", "propose"] = "resolve"
    #: Member card requests -> service requests from the catalogue item `member-card`.
    circulation_member_card: bool = True

    #: E-mail in (docs/mail-in.md): the office's mailbox, read over IMAP. Unset host: off.
    imap_host: str | None = Field(default=None, max_length=253)
    imap_port: int = Field(default=993, ge=1, le=65535)
    #: `tls` (IMAPS, the default), `starttls`, or `none` (a loopback address only).
    imap_security: Literal["tls", "starttls", "none"] = "tls"
    imap_username: str | None = Field(default=None, min_length=1, max_length=320)
    imap_password: SecretStr | None = None
    imap_folder: str = Field(default="INBOX", min_length=1, max_length=200)
    #: The CA certificate(s), PEM, the server's certificate must chain to. Unset: the system's
    #: CAs. The certificate is always verified.
    imap_ca_file: Path | None = None
    #: Seconds a connection, login or command to the mailbox may take.
    imap_timeout: float = Field(default=30.0, gt=0, le=600)
    #: The longest single IDLE, in seconds (RFC 2177: at most 29 minutes).
    imap_idle_seconds: float = Field(default=300.0, gt=0, le=29 * 60)

    @property
    def subject_keys_at(self) -> str:
        """The key store's place: `subject_keys`, or beside the event store."""
        return self.subject_keys or self.database_url or str(self.data_dir / "subject-keys.db")

    @field_validator("database_url")
    @classmethod
    def _a_postgres_url(cls, url: str | None) -> str | None:
        if not url:  # ITSM_DATABASE_URL= (empty) means unset
            return None
        PostgresAddress.parse(url)  # raises ValueError, which names what is wrong
        return url

    @field_validator(
        "audit_witness_ca_file", "smtp_ca_file", "webhook_ca_file", "imap_ca_file", mode="before"
    )
    @classmethod
    def _a_short_path(cls, path: Any) -> Any:
        if path is None or str(path) == "":  # ITSM_AUDIT_WITNESS_CA_FILE= (empty) means unset
            return None
        if len(str(path)) > MAX_PATH:
            raise ValueError(f"a path of at most {MAX_PATH} characters")
        return path

    @field_validator("smtp_host", "smtp_username", "smtp_from", "smtp_helo", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value  # ITSM_SMTP_HOST= (empty) means unset

    @field_validator("rate_limit", "address_rate_limit", "address_failure_limit")
    @classmethod
    def _a_rate(cls, rate: str) -> str:
        if rate:
            from limits import parse_many

            parse_many(rate)  # raises ValueError, which names what is wrong
        return rate

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, proxies: str) -> str:
        for proxy in filter(None, (p.strip() for p in proxies.split(","))):
            if proxy != "*":
                ipaddress.ip_network(proxy, strict=False)  # ValueError names what is wrong
        return proxies

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if (self.oidc_issuer is None) != (self.oidc_audience is None):
            raise ValueError("single sign-on needs both ITSM_OIDC_ISSUER and ITSM_OIDC_AUDIENCE")
        if self.oidc_client_id is not None and self.oidc_issuer is None:
            raise ValueError("ITSM_OIDC_CLIENT_ID needs ITSM_OIDC_ISSUER and ITSM_OIDC_AUDIENCE")
        if self.oidc_client_secret is not None and self.oidc_client_id is None:
            raise ValueError("ITSM_OIDC_CLIENT_SECRET needs ITSM_OIDC_CLIENT_ID")
        return self

    @model_validator(mode="after")
    def _smtp_complete(self) -> Settings:
        if self.smtp_host is not None:
            self.smtp()  # raises ValueError, which names what is missing or unsafe
        return self

    @model_validator(mode="after")
    def _imap_complete(self) -> Settings:
        if self.imap_host:
            if not self.imap_username or self.imap_password is None:
                raise ValueError("e-mail in needs ITSM_IMAP_USERNAME and ITSM_IMAP_PASSWORD")
            if self.imap_security == "none" and not is_loopback(self.imap_host):
                raise ValueError("ITSM_IMAP_SECURITY=none only for a loopback ITSM_IMAP_HOST")
        return self

    def imap(self) -> ImapSettings | None:
        """The mailbox that e-mail in reads, or None when it is off (no ITSM_IMAP_HOST)."""
        if not self.imap_host or not self.imap_username or self.imap_password is None:
            return None
        return ImapSettings(
            host=self.imap_host,
            port=self.imap_port,
            security=self.imap_security,
            username=self.imap_username,
            password=self.imap_password.get_secret_value(),
            folder=self.imap_folder,
            ca_file=self.imap_ca_file,
            timeout=self.imap_timeout,
            idle_seconds=self.imap_idle_seconds,
        )

    @property
    def notifies(self) -> bool:
        """Whether the notifier runs: as ITSM_NOTIFY says, else whenever e-mail is set up."""
        return self.notify if self.notify is not None else self.smtp_host is not None

    def message_domain(self) -> str:
        """The domain of the service's Message-IDs: as set, else its sender's, else a name that
        is nobody's (`.invalid`, RFC 2606)."""
        if self.mail_domain:
            return self.mail_domain
        smtp = self.smtp()
        if smtp is not None and "@" in smtp.sender_address:
            return smtp.sender_address.rpartition("@")[2]
        return "itsm.invalid"

    def oidc(self) -> OidcSettings | None:
        """Single sign-on as set, or None when it is off: each field of OidcSettings from the
        setting of its name (ITSM_OIDC_ROLE_CLAIM is `role_claim`), where there is one."""
        if self.oidc_issuer is None or self.oidc_audience is None:
            return None
        named = {field.name: f"oidc_{field.name}" for field in fields(OidcSettings)}
        given = {field: getattr(self, name) for field, name in named.items() if hasattr(self, name)}
        return OidcSettings(**given)

    def sign_on(self) -> ClientSettings | None:
        """The console's single sign-on as set, or None when it is off (no ITSM_OIDC_CLIENT_ID,
        or no issuer): the client, its secret if any, and where the issuer sends people back."""
        if self.oidc_client_id is None or self.oidc_issuer is None:
            return None
        secret = self.oidc_client_secret
        return ClientSettings(
            issuer=self.oidc_issuer,
            client_id=self.oidc_client_id,
            client_secret=secret.get_secret_value() if secret is not None else None,
            redirect_uri=self.public_url.rstrip("/") + CALLBACK_PATH,
        )

    def smtp(self) -> SmtpSettings | None:
        """E-mail out as set, or None when it is off (no ITSM_SMTP_HOST)."""
        if self.smtp_host is None:
            return None
        if self.smtp_from is None:
            raise ValueError("e-mail out needs a sender: set ITSM_SMTP_FROM with ITSM_SMTP_HOST")
        return SmtpSettings(
            host=self.smtp_host,
            from_address=self.smtp_from,
            port=self.smtp_port,
            security=self.smtp_security,
            username=self.smtp_username,
            password=self.smtp_password,
            timeout=self.smtp_timeout,
            ca_file=self.smtp_ca_file,
            helo=self.smtp_helo,
            allow_plaintext_auth=self.smtp_allow_plaintext_auth,
        )

    def attachments_directory(self) -> Path:
        """Where the attachments' bytes are kept in embedded mode: the setting, else the data
        directory's `attachments/`."""
        return self.attachments_dir or self.data_dir / "attachments"

    def webhook_secrets_directory(self) -> Path:
        """Where the webhook endpoints' secrets are kept: the setting, else the data
        directory's `webhooks/`."""
        return self.webhook_secrets_dir or self.data_dir / "webhooks"

    def witness_urls(self) -> list[str]:
        """The witnesses' URLs, from ITSM_AUDIT_WITNESS_URLS."""
        return [url.strip() for url in self.audit_witness_urls.split(",") if url.strip()]

    def problems_for_production(self) -> list[str]:
        """What keeps this configuration from running in production (empty: nothing): a secret
        that is missing, or one that ships with the code and so is no secret."""
        problems = []
        if self.database_url is not None:
            password = PostgresAddress.parse(self.database_url).password
            if not password or password in DEVELOPMENT_PASSWORDS:
                problems.append(
                    "ITSM_DATABASE_URL has no password, or one from the examples: set a real one"
                )
        if self.circulation_pseudonym_key == DEVELOPMENT_PSEUDONYM_KEY:
            problems.append(
                "ITSM_CIRCULATION_PSEUDONYM_KEY is the development key: set a secret of your own"
            )
        return problems

    def refuse_if_insecure(self) -> None:
        """Raise InsecureConfiguration in production when `problems_for_production` names any."""
        if self.environment == "production" and (problems := self.problems_for_production()):
            raise InsecureConfiguration("refusing to start in production: " + "; ".join(problems))

    #: The SQLite databases in the data directory (those PostgreSQL does not replace too).
    events_db: ClassVar[DataFile] = DataFile("events.db")
    views_db: ClassVar[DataFile] = DataFile("views.db")
    audit_db: ClassVar[DataFile] = DataFile("audit.db")
    circulation_db: ClassVar[DataFile] = DataFile("circulation.db")
    auth_db: ClassVar[DataFile] = DataFile("auth.db")
