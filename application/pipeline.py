"""The one command pipeline: every record kind, from every entry point, takes this road.

    authorise (the entry point) -> resolve the reference (number, code or id) -> load (a session)
    -> decide (the command, on the aggregates) -> append atomically (every record the decision
    changed, the numbers it took, the idempotency key) -> the outcome, which the entry point
    answers once the views include it.

`execute_batch` is the group commit: it decides many commands in turn, each on the state the
earlier ones left, and saves all their events in one atomic write (one fsync). A refused command
writes nothing and holds up no other; a command that cannot share the batch, and every command of
a batch the store refuses as a whole, is run again on its own (`execute`), so every guarantee of
the single-command path holds for a batch too.

The store's uniqueness of (record, version) is the concurrency control: a decision on a stale
state cannot be saved and is decided again on the fresh state, unless the client named the version
it expects (If-Match), which then gets a version conflict. A refusal on a cached state is checked
again on a fresh one before it is reported.

Numbers: a command that creates a record holds the numbers (the number lock, then the write lock)
while it decides and writes, so a new record takes the last number plus one, and only a record
written in that hold keeps it: a refused command takes no number and the numbers have no gaps
(infra/numbers.py). The last number is the one this process last stored, not read again: one
another process took since is refused by the store like any stale state, and the command is
decided again on the stored one (`ServiceDesk.last_number`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.idempotency import IdempotencyKeys, keyed
from application.kinds import INCIDENT, Kind
from application.outcome import Outcome
from application.session import Batch, Session
from domain.context import Context
from domain.errors import Contention, DomainError, NotFound, VersionConflict
from domain.events import DomainEvent
from domain.records import IdempotencyKeyRecorded

if TYPE_CHECKING:
    from application.desk import ServiceDesk

#: How often a command is retried after losing a race with a concurrent writer.
MAX_ATTEMPTS = 20

#: A decision other than the command's own `decide`: reads and changes records through the
#: session; returns the id of the record the command is about (its answer).
Decision = Callable[[Session], UUID]


@dataclass(frozen=True, slots=True)
class Submission:
    """One command: who asks what, of which record."""

    ctx: Context
    #: The command (a pydantic model: its body is what an Idempotency-Key's fingerprint covers).
    #: It decides with `decide(session, ctx)` to create a record, `decide(session, ctx, id)` to
    #: act on the record `ref` names, unless `decision` is given.
    command: Any
    kind: Kind = INCIDENT
    #: The record the command is for, by number, code or id; None to create one.
    ref: str | UUID | None = None
    #: What an Idempotency-Key records the command as; by default the kind's name for it.
    operation: str | None = None
    decision: Decision | None = None
    expected_version: int | None = None  # If-Match
    idempotency_key: str | None = None

    @property
    def creates(self) -> bool:
        return self.ref is None

    def operation_name(self) -> str:
        """What an Idempotency-Key records the command as: `operation` if the entry point names
        it (the record routes name theirs `kind:action`), else `log_<kind>` or the action."""
        if self.operation is not None:
            return self.operation
        if self.creates:
            return f"log_{self.kind.name}"
        action: str = self.command.action
        return action


#: What `_holding` holds for a command that creates nothing: nothing (the write takes the lock).
_NOT_HELD = contextlib.nullcontext(False)


class _RunAlone(Exception):
    """A command that cannot share this batch; it runs on its own after the batch's write."""


class Pipeline:
    def __init__(self, desk: ServiceDesk) -> None:
        self.desk = desk
        self.keys = IdempotencyKeys(desk, self._reaches)

    # -- one command ------------------------------------------------------------------------------

    def execute(self, submission: Submission) -> Outcome:
        """Run one command on its own; its outcome, or the error that refused it."""
        ctx = submission.ctx
        target = self.resolve(submission)
        key_event = self._key_event(submission, target)
        if isinstance(key_event, Outcome):
            return key_event
        fresh = False
        for _ in range(MAX_ATTEMPTS):
            with self._holding(submission.creates) as held:
                session = Session(self.desk, ctx, cached=None if fresh else target)
                try:
                    record_id = self._decide(session, submission, target)
                except DomainError:
                    if fresh or target is None:
                        raise
                    fresh = True  # refused on a cached state: check again on the stored one
                    continue
                events = [*session.events(), *keyed(key_event, record_id)]
                try:
                    positions = self.desk.write(events, locked=held)
                except IntegrityError:  # a concurrent write won, or a retry won the key
                    positions = None
            if positions is None:
                self.desk.forget(session.records)
                replay = self.keys.replayed(
                    ctx, submission.idempotency_key, key_event, submission.kind
                )
                if replay is not None:
                    return replay
                fresh = True  # decide again on the stored state
                continue
            self.desk.wake_followers()
            self.desk.remember(*session.records.values())
            return outcome(record_id, session.version_of(record_id), events, positions)
        raise Contention(
            f"{submission.operation_name()}: the records changed under it {MAX_ATTEMPTS} times"
            " running; nothing was written, try again"
        )

    # -- the group commit -------------------------------------------------------------------------

    def execute_batch(self, submissions: Sequence[Submission]) -> list[Outcome | Exception]:
        """Run commands as one group commit; for each, its outcome or the error that refused it.

        Unlike a single command's write, the batch's write does not wake the followers: whoever
        batches folds the batch into the projections itself (application/writer.py), so waking
        the projection thread as well would only have it contend for the views.
        """
        results: dict[int, Outcome | Exception] = {}
        alone: list[int] = []
        # A batch that creates records holds the numbers while it decides and writes, so that
        # its records take the numbers after the last stored, and only those it writes.
        creating = any(s.creates for s in submissions)
        with self._holding(creating) as held:
            batch = Batch()
            for i, submission in enumerate(submissions):
                try:
                    replay = self._decide_in_batch(batch, i, submission)
                except (DomainError, _RunAlone):
                    alone.append(i)  # confirmed (or run) on its own, on the stored state
                except Exception as error:  # e.g. the store does not answer: this one fails
                    results[i] = error
                else:
                    if replay is not None:
                        results[i] = replay
            if batch.events:
                try:
                    positions = self.desk.write(batch.events, locked=held)
                except IntegrityError:  # a state the batch decided on was stale: read again
                    self.desk.forget(batch.records)
                    alone = sorted({*alone, *batch.owners})
                except Exception as error:
                    results.update(dict.fromkeys(batch.owners, error))
                else:
                    self.desk.remember(*batch.records.values())
                    for i, (record_id, version, events) in batch.owners.items():
                        results[i] = outcome(
                            record_id, version, batch.events[events], positions[events]
                        )
        for i in alone:
            try:
                results[i] = self.execute(submissions[i])
            except Exception as error:
                results[i] = error
        return [results[i] for i in range(len(submissions))]

    def _decide_in_batch(self, batch: Batch, i: int, submission: Submission) -> Outcome | None:
        """Decide one command into the batch (None), or find the outcome of the request it
        retries. Raises the refusal, or _RunAlone."""
        target = self.resolve(submission)
        key_event = self._key_event(submission, target)
        if isinstance(key_event, Outcome):
            return key_event
        if key_event is not None and key_event.originator_id in batch.keys:
            raise _RunAlone  # a retry of a command in this batch: it finds that one's outcome
        session = Session(self.desk, submission.ctx, batch=batch, cached=target)
        record_id = self._decide(session, submission, target)
        batch.add(i, session, record_id, [*session.events(), *keyed(key_event, record_id)])
        if key_event is not None:
            batch.keys.add(key_event.originator_id)
        return None

    # -- the steps --------------------------------------------------------------------------------

    def resolve(self, submission: Submission) -> UUID | None:
        """The id of the record the command names (by number, code or id); existence and reach
        are the session's to check. None for a command that creates one."""
        ref, kind = submission.ref, submission.kind
        if ref is None or isinstance(ref, UUID):
            return ref
        try:
            if kind.prefix is not None:
                return self.desk.find_by_number(kind.prefix, ref)
            if kind.coded is not None:
                return kind.coded(ref)
            return UUID(ref)
        except (NotFound, ValueError):
            raise kind.missing(ref) from None

    def _key_event(
        self, submission: Submission, target: UUID | None
    ) -> IdempotencyKeyRecorded | Outcome | None:
        if submission.idempotency_key is None:  # the usual case: nothing to name or look up
            return None
        return self.keys.check(
            submission.ctx,
            submission.idempotency_key,
            submission.operation_name(),
            target,
            submission.command,
            submission.kind,
        )

    @staticmethod
    def _decide(session: Session, submission: Submission, target: UUID | None) -> UUID:
        """Check the expected version, then let the command decide. A not-found for the record
        the command names answers in the words of its reference."""
        ctx, kind = submission.ctx, submission.kind
        try:
            if target is not None and submission.expected_version is not None:
                record = session.get(kind.aggregate, target, submission.ref)
                if record.version != submission.expected_version:
                    raise VersionConflict(submission.expected_version, record.version)
            if submission.decision is not None:
                return submission.decision(session)
            if target is None:
                created: UUID = submission.command.decide(session, ctx)
                return created
            decided: UUID = submission.command.decide(session, ctx, target)
            return decided
        except NotFound as error:
            if target is not None and error.record_id == target:
                raise kind.missing(submission.ref, target) from None
            raise

    def _reaches(self, ctx: Context, record_id: UUID) -> bool:
        record = Session(self.desk, None).find_any(record_id)
        return record is not None and record.reachable(ctx)

    def _holding(self, numbers: bool) -> AbstractContextManager[bool]:
        """Hold the numbers (and the write lock) while a creating command decides and writes;
        says whether the write lock is held."""
        return self.desk.numbering() if numbers else _NOT_HELD


def outcome(
    record_id: UUID, version: int, events: Sequence[DomainEvent], positions: Sequence[int]
) -> Outcome:
    """The outcome of a command that wrote `events` at `positions` (in order): the record's
    last position. A plain loop: a generator and max() cost more than the few events."""
    position: int | None = None
    for event, p in zip(events, positions, strict=True):
        if event.originator_id == record_id and (position is None or p > position):
            position = p
    return Outcome(record_id, version, position)
