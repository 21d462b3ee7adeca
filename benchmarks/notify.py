"""Notifier benchmark (issue 19, "Figures"): what deciding and recording costs over sending, and
how long an event waits for its e-mail, against one real SMTP server (aiosmtpd's, started here,
in a thread of this process, as the tests start it).

    .venv/bin/python -m benchmarks.notify [--n 500] [--rounds 3] [--rate 50] [--seconds 20]
                                          [--out figures.jsonl]

    bare      `SmtpSender.send` of N rendered messages one after another over one connection:
              the floor, messages/s
    notifier  the notifier (`Notify.run_until_idle`) over N incidents already in the store: each
              event folded, its notification decided, rendered and written, its attempt claimed,
              the message sent, and the outcome written, with the notifications view folded;
              messages/s, and its ratio to bare (target >= 0.5)
    latency   incidents logged at --rate a second for --seconds with the notifier running in the
              background (`Notify.start`), each timed from its commit to the SMTP server taking
              its message: p50, p95, p99 (target p99 < 2 s)

The two throughput measures alternate (notifier, bare, notifier, bare...) for --rounds rounds
over the same N messages (bare sends the ones the notifier's round just rendered), and the best
of each is reported. Every message must be taken (250), every notification end sent: anything
else stops the run with its reason (benchmarks/_expect.py). A store on SQLite in a fresh
temporary directory; progress on stderr, one JSON object a measure on stdout.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

from application.kinds import INCIDENT, PERSON
from application.messages import email_of
from application.pipeline import Submission
from benchmarks._expect import expect
from benchmarks._report import Report, fresh_dir, ratio, rounded, say
from domain.actors import Actor, Role
from domain.commands import LogIncident
from domain.context import Context
from domain.directory import RegisterPerson
from domain.notification import Channel, Decided, DeliveryState, notification_id
from infra.clock import utcnow
from infra.mail_out import SmtpSender
from infra.settings import Settings
from processes.notify import Notify
from projections.notifications import notifications
from service.bootstrap import Services, build
from tests.engines.smtp import SmtpServer

SENDER = "Layanan TIK DPK Banten <layanan@dpk-banten.example>"
AGENT = Actor(id="bench.agent", role=Role.AGENT)
ADMIN = Actor(id="bench.admin", role=Role.ADMIN)
CALLER = "budi.santoso"


class UnexpectedOutcome(RuntimeError):
    """A notification that did not end sent: the run is void, not a figure."""


def settings_for(data_dir: Path, mail: SmtpServer) -> Settings:
    return Settings(
        data_dir=data_dir,
        smtp_host=mail.host,
        smtp_port=mail.port,
        smtp_security="none",
        smtp_from=SENDER,
        smtp_timeout=10.0,
        notify_retry_delays=[timedelta(seconds=1)],
    )


def ctx(services: Services, actor: Actor = AGENT) -> Context:
    from uuid import uuid4

    return Context(actor=actor, at=services.clock(), correlation_id=uuid4())


def log_incidents(services: Services, count: int) -> None:
    """`count` incidents logged for the caller (each one notification: the receipt), in batches
    (their writing is not measured), and the views caught up with them."""
    for start in range(0, count, 100):
        submissions = [
            Submission(ctx(services), incident(start + i), INCIDENT)
            for i in range(min(100, count - start))
        ]
        for outcome in services.desk.execute_batch(submissions):
            if isinstance(outcome, Exception):
                raise outcome
    services.desk.wake_followers()
    services.runner.catch_up()


def incident(n: int) -> LogIncident:
    return LogIncident(
        title=f"Kiosk {n} mati", service="kiosks-gates", caller=CALLER, impact="low", urgency="low"
    )


def pending(services: Services) -> list[dict[str, Any]]:
    services.runner.catch_up()
    return services.views.select(
        notifications, '"state" != ?', (DeliveryState.SENT.value,), tail="LIMIT 5"
    )


def check_all_sent(services: Services, notify: Notify) -> None:
    figures = notify.figures
    left = pending(services)
    if left or figures.failed or figures.dead:
        first = left[0] if left else {}
        raise UnexpectedOutcome(
            f"{figures.failed} failed, {figures.dead} dead, {len(left)}+ not sent; first:"
            f" {first.get('id')} {first.get('state')}: {first.get('last_error')}"
        )


def notifier_round(services: Services, notify: Notify, n: int) -> tuple[float, list[UUID]]:
    """N incidents written, then the notifier timed over them: messages/s, and the ids of the
    notifications it sent."""
    before = {row["id"] for row in services.views.select(notifications, "1 = 1", ())}
    log_incidents(services, n)
    sent = notify.figures.sent
    start = time.perf_counter()
    notify.run_until_idle(timeout=600)
    elapsed = time.perf_counter() - start
    check_all_sent(services, notify)
    if notify.figures.sent - sent != n:
        raise UnexpectedOutcome(f"sent {notify.figures.sent - sent} notifications, not {n}")
    ids = [
        UUID(row["id"])
        for row in services.views.select(notifications, "1 = 1", ())
        if row["id"] not in before
    ]
    return n / elapsed, ids


def rendered(services: Services, ids: list[UUID]) -> list[EmailMessage]:
    """The messages of these notifications, exactly as the notifier sent them."""
    messages = []
    for note in ids:
        first = next(iter(services.desk.events.get(note, limit=1)))
        assert isinstance(first, Decided)
        messages.append(email_of(first, SENDER))
    return messages


def bare_round(settings: Settings, messages: list[EmailMessage]) -> float:
    smtp = settings.smtp()
    assert smtp is not None
    start = time.perf_counter()
    with SmtpSender(smtp) as sender:
        for message in messages:
            receipt = sender.send(message)
            expect("SMTP DATA", receipt.code, {250}, receipt.reply.encode())
    return len(messages) / (time.perf_counter() - start)


def latency(
    services: Services, mail: SmtpServer, rate: float, seconds: float
) -> tuple[list[float], int]:
    """Incidents logged at `rate` a second with the notifier running; each one's seconds from
    its commit to the server taking its message."""
    notify = Notify(services, idle=0.5)
    #: the notification of each event (its id) -> when the event committed, and arrived
    committed: dict[str, float] = {}
    arrived: dict[str, float] = {}
    count = int(rate * seconds)
    base = len(mail.received)
    stop = threading.Event()

    def watch() -> None:
        seen = base
        while not stop.is_set() or seen < base + count:
            try:
                got = mail.wait_for(seen + 1, timeout=0.5)
            except AssertionError:
                if stop.is_set() and time.monotonic() > deadline:
                    return
                continue
            now = time.monotonic()
            for received in got[seen:]:
                note = (received.message_id or "").strip().lstrip("<").partition(".")[0]
                arrived.setdefault(note, now)
            seen = len(got)

    deadline = float("inf")
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    notify.start()
    try:
        start = time.monotonic()
        for i in range(count):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            outcome = services.desk.execute(Submission(ctx(services), incident(i), INCIDENT))
            note = notification_id(outcome.record_id, 1, CALLER, Channel.EMAIL)
            committed[str(note)] = time.monotonic()
        deadline = time.monotonic() + 30
        stop.set()
        watcher.join(40)
    finally:
        notify.stop()
    check_all_sent(services, notify)
    missing = set(committed) - set(arrived)
    if missing:
        raise UnexpectedOutcome(f"{len(missing)} incidents' messages never arrived")
    late = max(0.0, time.monotonic() - start - seconds)
    say(f"latency: {count} events written in {seconds + late:.1f} s")
    return [arrived[note] - at for note, at in committed.items()], count


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500, help="notifications per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0, help="events a second (latency)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long (latency)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report = Report(args.out)
    with fresh_dir("notify", None) as scratch, SmtpServer(scratch / "smtp") as mail:
        services = build(settings_for(scratch / "var", mail))
        services.start()
        try:
            services.desk.execute(
                Submission(
                    ctx(services, ADMIN),
                    RegisterPerson(actor_id=CALLER, name="Budi", email="budi@perpus.example"),
                    PERSON,
                )
            )
            notify = Notify(services)  # after the directory: the store's past is told no one
            say(f"warm-up: {args.n // 5} notifications")
            notifier_round(services, notify, max(1, args.n // 5))
            best_notifier = best_bare = 0.0
            for r in range(1, args.rounds + 1):
                rate_notifier, ids = notifier_round(services, notify, args.n)
                rate_bare = bare_round(services.settings, rendered(services, ids))
                say(
                    f"round {r}: notifier {rate_notifier:,.0f} messages/s,"
                    f" bare {rate_bare:,.0f} messages/s"
                )
                best_notifier = max(best_notifier, rate_notifier)
                best_bare = max(best_bare, rate_bare)
            report.emit("bare", n=args.n, messages_per_s=rounded(best_bare))
            report.emit(
                "notifier",
                n=args.n,
                messages_per_s=rounded(best_notifier),
                ratio_to_bare=ratio(best_notifier, best_bare),
                target=">= 0.5",
            )
            waits, count = latency(services, mail, args.rate, args.seconds)
            report.emit(
                "latency",
                events=count,
                events_per_s=args.rate,
                p50_s=round(percentile(waits, 50), 3),
                p95_s=round(percentile(waits, 95), 3),
                p99_s=round(percentile(waits, 99), 3),
                max_s=round(max(waits), 3),
                target="p99 < 2 s",
            )
        finally:
            services.close()
            report.close()
    say(f"done at {utcnow():%H:%M:%S} UTC")


if __name__ == "__main__":
    main()
