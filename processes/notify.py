"""The notifier: follows the record, decides who is told what, and delivers it.

Two followers (infra/follower.py), one for each half:

- **deciding** reads the store's events in order after its position. It folds each into what it
  knows of the event's record (projections/notification_subjects.py), asks the rules for the
  notifications of the event as of then (application/notifier.py), and writes them as records.
  Its rows and position are in the view store, committed after the notifications are written; a
  crash between only means the same events are decided again, and a notification decided again
  has the same id, so the store refuses it and nothing is written twice. The first start decides
  nothing about what the store already held: the history before it told no one, and telling it
  now would be years late.
- **sending** reads what is due from the `notifications` view, records each attempt as started
  (claiming it: a claim on a stale version is refused, so two senders never take the same one),
  delivers it, and records the outcome: sent with the server's answer, or failed, with the next
  attempt's time from `notify_retry_delays` or, after the last or a permanent refusal,
  dead-lettered. An attempt that started and recorded nothing (the sender died) is taken again
  after `notify_lease`, as a re-send: the same Message-ID or webhook-id, counted in the record.

A destination that keeps failing (the SMTP relay, a webhook endpoint) is paused for a while
(`notify_pause_after`, `notify_pause`) rather than burning its notifications' attempts, and said
so in the log and /metrics.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.kinds import NOTIFICATION
from application.messages import Messages, email_of
from application.notifier import Decision, Notifier
from application.pipeline import Submission
from application.webhook_endpoints import pause_failing
from domain.actors import SYSTEM
from domain.calendar import CalendarSpec
from domain.context import Context
from domain.errors import NotFound
from domain.events import DomainEvent
from domain.notification import (
    Channel,
    Decided,
    DeliveryState,
    RecordFailure,
    RecordSent,
    StartAttempt,
    WithdrawNotification,
)
from domain.notification_rules import BY_TOPIC, RULES
from domain.webhook_endpoint import EndpointState
from infra.clock import utcnow
from infra.delivery import DeliveryFailed
from infra.follower import Failing, Follower, StuckAt
from infra.mail_out import SmtpSender
from infra.serialisation import UndecodableEvent
from infra.webhook_secrets import WebhookSecrets
from infra.webhooks_out import WebhookSender
from processes.running import Running
from projections.base import Projection, Row, iso
from projections.notification_subjects import notification_subjects
from projections.notifications import notifications, utc
from projections.runner import decode
from projections.webhook_endpoints import hearing, listening, webhook_endpoints

log = logging.getLogger(__name__)

#: How far the deciding half has decided (its own position; the subjects have theirs).
DECISIONS = Projection("notifier_decisions", 1, folds={})
#: Events read at a time, and notifications sent at a time.
BATCH = 500
SEND_BATCH = 100
#: The most decisions kept to send without reading them back (about 10 kB each).
FRESH = 10_000
#: The longest the deciding half waits for the view to show what it decided (seconds).
FOLD_WAIT = 2.0


@dataclass
class Destination:
    """How a destination (the relay, one webhook endpoint) has been doing lately."""

    failures: int = 0
    paused_until: datetime | None = None


@dataclass
class Figures:
    decided: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    resent: int = 0
    withdrawn: int = 0
    paused: dict[str, datetime] = field(default_factory=dict)


class NotifyHost(Running, Protocol):
    """The services a notifier runs in: it says so once started, for their readiness."""

    notify: Notify | None


class Notify:
    def __init__(
        self,
        services: NotifyHost,
        *,
        idle: float = 0.5,
        smtp: Callable[[], SmtpSender] | None = None,
        webhooks: Callable[[], WebhookSender] = WebhookSender,
    ) -> None:
        self.services = services
        settings = services.settings
        self.messages = Messages(settings.public_url, settings.message_domain(), self._service_name)
        self.notifier = Notifier(
            services.views,
            self.messages,
            subjects=self._subject,
            in_hours=self._in_hours,
            endpoints=self._hearing,
        )
        self._webhooks = webhooks
        self._secrets = WebhookSecrets(settings.webhook_secrets_directory())
        #: The webhook endpoints not retired, read once per page of events decided.
        self._listening: list[Row] = []
        #: Every webhook endpoint by code, read once per batch sent.
        self._endpoints: dict[str, Row] = {}
        smtp_settings = settings.smtp()
        self._smtp = smtp or (
            (lambda: SmtpSender(smtp_settings)) if smtp_settings is not None else None
        )
        self._sender_address = smtp_settings.from_address if smtp_settings else ""
        self.delays: Sequence[timedelta] = settings.notify_retry_delays
        self.lease: timedelta = settings.notify_lease
        self.figures = Figures()
        self._destinations: dict[str, Destination] = {}
        #: notification id -> the version this sender last wrote: a row of the view older than
        #: that is not yet folded, and is left alone until it is.
        self._written: dict[str, int] = {}
        self._batch: dict[str, Row | None] = {}
        self._calendars: dict[str, tuple[int, CalendarSpec]] = {}
        #: The decisions this process wrote and has not sent yet, by notification id: what it
        #: sends, without reading each back from the store (a notification decided by another
        #: process, or before a restart, is read).
        self._fresh: dict[str, Decided] = {}
        self._stuck = StuckAt("notifier", log)
        self._topics = sorted(
            {t.type_name for t in notification_subjects.folds}
            | {rule.event.type_name for rule in RULES}
        )
        self._deciding = Follower("notify-decide", self.decide_step, idle=idle, log=log)
        self._sending = Follower(
            "notify-send", self.send_step, idle=idle, log=log, backoff=(0.5, 10.0)
        )
        self._lock = threading.Lock()
        self._ensure()

    # -- deciding ---------------------------------------------------------------------------------

    def _service_name(self, code: str, language: str) -> str:
        """A service's name in the catalogue in force, in the recipient's language."""
        try:
            return self.services.desk.service_catalogue().name_of(code, language)
        except LookupError:  # no catalogue defined yet
            return code

    def _ensure(self) -> None:
        views, desk = self.services.views, self.services.desk
        first_start = DECISIONS.name not in views.positions()
        views.ensure([notification_subjects, DECISIONS])
        if first_start:  # decide nothing about what the store held before
            with views.transaction() as tx:
                tx.set_position(DECISIONS, desk.recorder.max_notification_id() or 0)

    @property
    def stuck(self) -> UndecodableEvent | None:
        return self._stuck.event

    def decide_step(self) -> bool:
        """Decide the next page of events; whether more may be waiting."""
        desk, views = self.services.desk, self.services.views
        with views.transaction() as tx:
            positions = tx.positions()
            start = positions.get(notification_subjects.name, 0)
            decided_through = positions.get(DECISIONS.name, 0)
            head = desk.recorder.max_notification_id() or 0
            if head <= start:
                return False
            page = desk.recorder.select_notifications(
                start=start,
                limit=BATCH,
                stop=head,
                topics=self._topics,
                inclusive_of_start=False,
            )
            events, undecodable = decode(desk.mapper, page)
            self._listening = listening(views)
            keys = {str(event.originator_id) for _, event in events}
            self._batch = dict(tx.load(notification_subjects, keys))
            decided = []
            for position, event in events:
                row = self._fold(event)
                if position > decided_through and row is not None:
                    decided.extend(self.notifier.decide(self._context(event), Decision(event, row)))
            last = self._save(decided)
            if undecodable is not None:
                reached = page[len(events)].id - 1
            else:
                reached = head if len(page) < BATCH else page[-1].id
            tx.write(notification_subjects, self._batch)
            tx.set_position(notification_subjects, max(start, reached))
            tx.set_position(DECISIONS, max(decided_through, reached))
            self._batch = {}
        self._stuck.report(undecodable)
        if decided:
            self.figures.decided += len(decided)
            self._wake_sender(last)
        return undecodable is None and len(page) == BATCH

    def _fold(self, event: DomainEvent) -> Row | None:
        key = str(event.originator_id)
        fold = notification_subjects.folds.get(type(event))
        row = self._batch.get(key)
        if fold is not None:
            row = fold(dict(row) if row is not None else None, event)
            self._batch[key] = row
        return row

    def _hearing(self, topic: str, organisation: str | None) -> list[Row]:
        return hearing(self._listening, topic, organisation)

    def _subject(self, record_id: str) -> Row | None:
        """Another record as the notifier knows it (in this page, or as stored)."""
        if record_id in self._batch:
            return self._batch[record_id]
        return self.services.views.get(notification_subjects, record_id)

    def _in_hours(self, calendar: str, moment: datetime) -> bool:
        """Whether a moment is within a business calendar's hours (its latest version); a
        calendar the service does not hold counts as always open (everyone is told)."""
        try:
            found = self.services.desk.business_calendar(calendar)
        except NotFound:
            return True
        known = self._calendars.get(calendar)
        if known is None or known[0] != found.version:  # a spec works out its tables once
            known = self._calendars[calendar] = (found.version, found.spec())
        return known[1].in_hours(moment)

    def _context(self, event: DomainEvent) -> Context:
        """A decision is the service's own act, now, on behalf of the event's request."""
        return Context(actor=SYSTEM, at=self.services.clock(), correlation_id=event.correlation_id)

    def _save(self, decided: list[Any]) -> int:
        """Write the decisions; any decided before (a page decided again) are left as they are.
        The last position written (0: none)."""
        if not decided:
            return 0
        desk = self.services.desk
        events = [event for note in decided for event in note.collect_events()]
        written = events
        try:
            positions = list(desk.write(events))
        except IntegrityError:
            written, positions = [], []
            for event in events:  # one at a time: the ones already written are refused alone
                try:
                    positions += desk.write([event])
                except IntegrityError:
                    continue
                written.append(event)
        self._keep(written)
        desk.wake_followers()
        return max(positions, default=0)

    def _wake_sender(self, position: int) -> None:
        """Wake the sending half once the notifications view shows the decisions up to
        `position` (it reads what is due from there): at once, rather than at its next look."""
        runner = self.services.runner
        folds_here = any(p is notifications for p in runner.projections)
        if position and folds_here and runner.is_following:
            runner.wait_for(position, FOLD_WAIT)
        self._sending.wake()

    def _keep(self, written: list[Any]) -> None:
        """Keep the decisions written, to send them as written (never one the store refused: the
        one it holds is what is sent)."""
        if len(self._fresh) > FRESH:  # sent by another process, or not due yet: read them back
            self._fresh.clear()
        self._fresh.update((str(e.originator_id), e) for e in written if isinstance(e, Decided))

    # -- sending ---------------------------------------------------------------------------------

    def send_step(self) -> bool:
        """Deliver what is due now; whether more may be waiting."""
        now = self.services.clock()
        due = self._due(now)
        if not due:
            return False
        claimed = self._claim(self._standing(due))
        if not claimed:
            return False
        outcomes = self._deliver(claimed, now)
        self._record(outcomes)
        return len(due) >= SEND_BATCH

    def _due(self, now: datetime) -> list[Row]:
        """What is due to be sent now, but what goes to a paused destination (it stays due)."""
        views = self.services.views
        self._endpoints = {row["code"]: row for row in views.select(webhook_endpoints)}
        clauses = ['"state" IN (?, ?)', '"due_at" <= ?']
        params: list[Any] = [DeliveryState.PENDING.value, DeliveryState.RETRYING.value, utc(now)]
        if self._paused("smtp", now):
            clauses.append('"channel" != ?')
            params.append(Channel.EMAIL.value)
        held = [
            code
            for code, row in self._endpoints.items()
            if row["state"] == EndpointState.PAUSED or self._paused(f"webhook:{code}", now)
        ]
        if held:  # in SQL, so that they do not fill the batch and keep the rest waiting
            clauses.append(f'NOT ("channel" = ? AND "recipient" IN ({", ".join("?" * len(held))}))')
            params += [Channel.WEBHOOK.value, *held]
        rows = views.select(
            notifications,
            " AND ".join(clauses),
            params,
            tail=f'ORDER BY "due_at" LIMIT {SEND_BATCH}',
        )
        lease = iso(now - self.lease)
        rows += [
            row
            for row in views.select(notifications, '"state" = ?', (DeliveryState.SENDING.value,))
            if (row["attempt_started_at"] or "") <= lease
        ]
        return [
            row
            for row in rows
            if row["version"] >= self._written.get(row["id"], 0) and not self._held(row, now)
        ]

    def _held(self, row: Row, now: datetime) -> bool:
        """Whether a notification waits for its destination: paused here, or (a webhook
        endpoint) paused in its record."""
        if row["channel"] == Channel.WEBHOOK:
            endpoint = self._endpoints.get(row["recipient"])
            if endpoint is not None and endpoint["state"] == EndpointState.PAUSED:
                return True
        return self._paused(self._destination(row), now)

    def _standing(self, rows: list[Row]) -> list[Row]:
        """The rows to send; a notification that was due later and whose rule says it no longer
        stands by its record's history now (a change's window moved) is withdrawn instead."""
        standing, withdrawals = [], []
        for row in rows:
            rule = BY_TOPIC.get(row["topic"])
            why = None
            if rule is not None and rule.stands is not None and row["attempts"] == 0:
                history = self.services.desk.events.get(UUID(row["record_id"]))
                why = rule.stands(cast(list[DomainEvent], list(history)), row["record_version"])
            if why is None:
                standing.append(row)
                continue
            command = WithdrawNotification(reason=why)
            withdrawals.append(
                Submission(
                    self.services.system_context(),
                    command,
                    NOTIFICATION,
                    ref=UUID(row["id"]),
                    expected_version=row["version"],
                )
            )
        if withdrawals:
            for outcome in self.services.desk.execute_batch(withdrawals):
                if isinstance(outcome, Exception):
                    log.debug("a notification was not withdrawn: %s", outcome)
                else:
                    self.figures.withdrawn += 1
            self.services.desk.wake_followers()
        return standing

    def _claim(self, rows: list[Row]) -> list[tuple[Row, int]]:
        """Record each attempt as started; the rows whose claim was written, with the attempt."""
        ctx = self.services.system_context()
        submissions = [
            Submission(
                ctx,
                StartAttempt(),
                NOTIFICATION,
                ref=UUID(row["id"]),
                expected_version=row["version"],
            )
            for row in rows
        ]
        claimed = []
        for row, outcome in zip(rows, self.services.desk.execute_batch(submissions), strict=True):
            if isinstance(outcome, Exception):
                log.debug("notification %s not claimed: %s", row["id"], outcome)
                continue
            self._written[row["id"]] = outcome.version
            if row["state"] == DeliveryState.SENDING:
                self.figures.resent += 1
            claimed.append((row, row["attempts"] + 1))
        self.services.desk.wake_followers()
        return claimed

    def _deliver(
        self, claimed: list[tuple[Row, int]], now: datetime
    ) -> list[tuple[Row, int, str | DeliveryFailed]]:
        outcomes: list[tuple[Row, int, str | DeliveryFailed]] = []
        with ExitStack() as stack:
            smtp: SmtpSender | None = None
            webhooks: WebhookSender | None = None
            for row, attempt in claimed:
                destination = self._destination(row)
                if self._held(row, now):
                    outcomes.append(
                        (row, attempt, DeliveryFailed(f"{destination} is paused", permanent=False))
                    )
                    continue
                try:
                    if row["channel"] == Channel.EMAIL:
                        if self._smtp is None:
                            raise DeliveryFailed("e-mail is not set up", permanent=False)
                        if smtp is None:
                            smtp = stack.enter_context(self._smtp())
                        receipt = smtp.send(email_of(self._decided(row), self._sender_address))
                        answer = receipt.reply
                    else:
                        url, keys = self._endpoint(row["recipient"])
                        if webhooks is None:
                            webhooks = stack.enter_context(self._webhooks())
                        decided = self._decided(row)
                        answered = webhooks.send(
                            url, keys, decided.message_id, utcnow(), decided.text.encode()
                        )
                        answer = f"{answered.status} {answered.body}".strip()
                except DeliveryFailed as failure:
                    self._failed(destination, failure, now)
                    outcomes.append((row, attempt, failure))
                else:
                    self._destinations.pop(destination, None)
                    outcomes.append((row, attempt, answer))
        return outcomes

    def _record(self, outcomes: list[tuple[Row, int, str | DeliveryFailed]]) -> None:
        ctx = self.services.system_context()
        submissions = []
        for row, attempt, result in outcomes:
            if isinstance(result, DeliveryFailed):
                retry_at = self._retry_at(attempt, ctx.at, result)
                command: Any = RecordFailure(
                    attempt=attempt,
                    reason=result.reason[:1_000] or "failed",
                    permanent=result.permanent,
                    retry_at=retry_at,
                )
                if result.permanent or retry_at is None:
                    self.figures.dead += 1
                else:
                    self.figures.failed += 1
            else:
                command = RecordSent(attempt=attempt, answer=(result or "accepted")[:1_000])
                self.figures.sent += 1
            submissions.append(Submission(ctx, command, NOTIFICATION, ref=UUID(row["id"])))
        for (row, _, _), outcome in zip(
            outcomes, self.services.desk.execute_batch(submissions), strict=True
        ):
            if isinstance(outcome, Exception):
                log.error("the outcome of notification %s was not recorded: %s", row["id"], outcome)
                continue
            self._written[row["id"]] = outcome.version
        self.services.desk.wake_followers()

    def _retry_at(self, attempt: int, now: datetime, failure: DeliveryFailed) -> datetime | None:
        if failure.permanent or attempt > len(self.delays):
            return None
        delay = self.delays[attempt - 1]
        if failure.retry_after is not None:
            delay = max(delay, timedelta(seconds=failure.retry_after))
        return now + delay

    def _decided(self, row: Row) -> Decided:
        fresh = self._fresh.pop(row["id"], None)
        if fresh is not None:
            return fresh
        first = next(iter(self.services.desk.events.get(UUID(row["id"]), limit=1)))
        assert isinstance(first, Decided), first
        return first

    # -- destinations -----------------------------------------------------------------------------

    def _endpoint(self, code: str) -> tuple[str, list[str]]:
        """Where a webhook endpoint is now (its URL as last corrected, not as when decided) and
        the secrets that sign for it, newest first; DeliveryFailed when it is retired (for good)
        or its secret is not on this host (for now: another host may have it)."""
        endpoint = self._endpoints.get(code)
        if endpoint is None or endpoint["state"] == EndpointState.RETIRED:
            raise DeliveryFailed(f"the webhook endpoint {code} is retired", permanent=True)
        keys = self._secrets.signing(code)
        if not keys:
            raise DeliveryFailed(f"no secret for the webhook endpoint {code} on this host", False)
        return endpoint["url"], keys

    @staticmethod
    def _destination(row: Row) -> str:
        return "smtp" if row["channel"] == Channel.EMAIL else f"webhook:{row['recipient']}"

    def _paused(self, destination: str, now: datetime) -> bool:
        state = self._destinations.get(destination)
        if state is None or state.paused_until is None:
            return False
        if now >= state.paused_until:
            state.paused_until = None  # try it again (one failure pauses it again)
            state.failures = self.services.settings.notify_pause_after - 1
            self.figures.paused.pop(destination, None)
            log.info("%s: trying again after a pause", destination)
            return False
        return True

    def _failed(self, destination: str, failure: DeliveryFailed, now: datetime) -> None:
        if failure.permanent:
            return  # the receiver refused this one; the destination itself may be fine
        state = self._destinations.setdefault(destination, Destination())
        state.failures += 1
        settings = self.services.settings
        if state.failures >= settings.notify_pause_after and destination.startswith("webhook:"):
            # an endpoint is paused in its record, for an admin to see, correct and resume
            code = destination.removeprefix("webhook:")
            reason = f"failed {state.failures} times running; last: {failure.reason}"
            if pause_failing(self.services.desk, self.services.system_context(), code, reason):
                log.warning("webhook endpoint %s paused: %s", code, reason)
            if code in self._endpoints:  # the rest of this batch waits, as the next ones will
                self._endpoints[code] = {**self._endpoints[code], "state": EndpointState.PAUSED}
            self._destinations.pop(destination, None)
            return
        if state.failures >= settings.notify_pause_after and state.paused_until is None:
            state.paused_until = now + settings.notify_pause
            self.figures.paused[destination] = state.paused_until
            log.warning(
                "%s failed %d times running (last: %s); paused until %s",
                destination,
                state.failures,
                failure.reason,
                state.paused_until.isoformat(),
            )

    # -- running ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.services.notify = self
        self._deciding.start()
        self._sending.start()
        self.services.desk.also_woken.append(self.wake)  # a commit is decided on at once

    def wake(self) -> None:
        self._deciding.wake()

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.services.desk.also_woken.remove(self.wake)
        self._deciding.stop()
        self._sending.stop()

    def failing(self) -> Failing | None:
        return self._deciding.failing() or self._sending.failing()

    def run_until_idle(self, timeout: float = 30.0) -> None:
        """Decide and send until nothing is left to do now (for tests and one-shot runs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self.decide_step()
            self.services.runner.catch_up()
            busy = self.send_step() or busy
            self.services.runner.catch_up()
            if not busy and not self._due(self.services.clock()):
                return
        raise TimeoutError("the notifier still had work after the timeout")
