"""API bearer tokens kept in the event store (domain/api_token.py), behind infra's TokenStore.

Issuing a token records `ApiToken.Issued`, revoking it `ApiToken.Revoked`; authenticating a
token reads that one token's events (one short read, then TokenStore's in-process cache), never
a table a DBA could edit unseen. The events are chained and signed by the audit ledger like any
other, so `itsm audit verify` detects an edit of them.

The tables tokens lived in before (infra/tokens.py) are read once, at the first start of a
service with this code: their tokens become `ApiToken.Imported` events by the service, with
their revocations, in one write together with `ApiToken.TablesImported`, the record that the
import is done. Every later start finds that record and reads no table. Two processes starting
at once both try the write; the store takes the first and refuses the other's (the records'
first versions collide), which then finds the import done.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from application.desk import ServiceDesk
from domain.actors import SYSTEM, Actor, Role
from domain.api_token import (
    TABLES_IMPORT_ID,
    ApiToken,
    Imported,
    Issued,
    Revoked,
    TokenTablesImport,
    token_record_id,
)
from domain.context import Context
from domain.events import DomainEvent
from infra.tokens import TokenRecord, TokenStore

#: The stored types of a token's events, as the store's topics name them.
TOKEN_TOPICS = (Issued.type_name, Imported.type_name, Revoked.type_name)
#: Events read at a time when listing every token.
PAGE = 1_000


class RecordedTokenStore(TokenStore):
    """Tokens as records in the event store: the store every process of the service shares."""

    def __init__(self, desk: ServiceDesk, *, cache_seconds: float = 10.0) -> None:
        super().__init__(cache_seconds=cache_seconds)
        self.desk = desk

    def _insert(self, record: TokenRecord) -> None:
        ctx = _context(record.issued_by, record.issued_at)
        token = ApiToken.issue(
            ctx,
            record.token_id,
            record.secret_sha256.hex(),
            record.identity,
            record.expires_at,
        )
        self.desk.save(token)

    def _revoke(self, token_id: str, *, at: datetime, revoked_by: str, reason: str) -> bool:
        token = self.token(token_id)
        if token is None:
            raise KeyError(f"no token {token_id}")
        if not token.revoke(_context(revoked_by, at), reason):
            return False
        try:
            self.desk.save(token)
        except IntegrityError:  # another process wrote first: revoked it, as it only can
            return False
        return True

    def _records(self, token_id: str | None) -> list[TokenRecord]:
        if token_id is None:
            return [record_of(token) for token in tokens(self.desk)]
        token = self.token(token_id)
        return [] if token is None else [record_of(token)]

    def token(self, token_id: str) -> ApiToken | None:
        """A token's record as its events say now, or None if no token has this id."""
        try:
            token = self.desk.repository.get(
                token_record_id(token_id), projector_func=ApiToken.project
            )
        except AggregateNotFoundError:
            return None
        assert isinstance(token, ApiToken)
        return token

    def close(self) -> None:
        """Nothing of its own to close: the desk is closed by whoever opened it."""


def record_of(token: ApiToken) -> TokenRecord:
    """What a caller of TokenStore reads of a token's record."""
    return TokenRecord(
        token_id=token.token_id,
        secret_sha256=bytes.fromhex(token.secret_sha256),
        identity=token.identity,
        issued_at=token.issued_at,
        issued_by=token.issued_by,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        revoked_by=token.revoked_by,
    )


def token_events(desk: ServiceDesk, token_id: str | None = None) -> Iterator[DomainEvent]:
    """The events of one token, or of every token in the order they were recorded."""
    if token_id is not None:
        for event in desk.events.get(token_record_id(token_id)):
            assert isinstance(event, DomainEvent)
            yield event
        return
    start = 1
    while page := desk.recorder.select_notifications(start, PAGE, topics=TOKEN_TOPICS):
        for notification in page:
            event = desk.mapper.to_domain_event(notification)
            assert isinstance(event, DomainEvent)
            yield event
        start = page[-1].id + 1


def tokens(desk: ServiceDesk) -> list[ApiToken]:
    """Every token's record, folded from the token events in the order they were recorded."""
    found: dict[UUID, ApiToken] = {}
    for event in token_events(desk):
        token = ApiToken.project(found.get(event.originator_id), [event])
        assert token is not None
        found[event.originator_id] = token
    return list(found.values())


# -- the one import of the old tables -----------------------------------------------------------


def tables_imported(desk: ServiceDesk) -> bool:
    """Whether the old token tables have been read into the record (and are never read again)."""
    try:
        desk.repository.get(TABLES_IMPORT_ID, projector_func=TokenTablesImport.project)
    except AggregateNotFoundError:
        return False
    return True


def import_token_tables(desk: ServiceDesk, rows: Iterable[TokenRecord], at: datetime) -> int:
    """The tokens of the old tables (`rows`, with their revocations) recorded as events by the
    service, once: in one write with the record that the import is done. The number imported;
    0 if it was done before (by this process or another)."""
    ctx = Context(actor=SYSTEM, at=at, correlation_id=uuid4())
    imported = [
        ApiToken.import_row(
            ctx,
            row.token_id,
            row.secret_sha256.hex(),
            row.identity,
            issued_at=_aware(row.issued_at),
            issued_by=row.issued_by or "unknown",
            expires_at=None if row.expires_at is None else _aware(row.expires_at),
            revoked=(
                None
                if row.revoked_at is None
                else (
                    _aware(row.revoked_at),
                    row.revoked_by or "unknown",
                    row.revocation_reason or "",
                )
            ),
        )
        for row in sorted(rows, key=lambda r: (r.issued_at, r.token_id))
    ]
    done = TokenTablesImport.record(ctx, [token.token_id for token in imported])
    try:
        desk.save(*imported, done)
    except IntegrityError:
        if tables_imported(desk):
            return 0  # another process imported them first
        raise
    return len(imported)


def _aware(moment: datetime) -> datetime:
    """A time from the old tables, which held UTC times as ISO text (a naive one is UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _context(who: str, at: datetime) -> Context:
    """Who issues and revokes tokens: an admin (at the command line, the operator as
    `cli:<user>`), named as TokenStore's callers name them."""
    return Context(actor=Actor(id=who, role=Role.ADMIN), at=at, correlation_id=uuid4())
