"""The notifier SIGKILLed at random (issue 19, "Crash"): `itsm notify run` in a process of its
own, killed at a seeded random moment in each of 20 rounds while the test writes more incidents,
then run to the end. The moments vary by round: any moment of its life (start-up included), any
moment once it runs, or just after the SMTP server took one of its messages (most likely with a
batch half-sent and none of it recorded). Against a real SMTP server (aiosmtpd's) that keeps
every message it took across the rounds, on SQLite and PostgreSQL:

- every notification the rules call for is decided exactly once (one `Notification.Decided` per
  record, version and recipient), and none is lost: each is sent, and the server has its
  Message-ID (a webhook receiver on loopback, subscribed to every topic, its webhook-id);
- a Message-ID or webhook-id received more than once belongs to a notification whose record says
  it was sent again (an attempt started after one that recorded no outcome): a re-send after a
  crash is recognisable, and counted.

The notifier takes an attempt cut short again after its lease (ITSM_NOTIFY_LEASE), one second
here rather than two minutes, so that what a killed notifier left half-done is taken up within
the test.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner

from application import webhook_endpoints as endpoints
from application.kinds import GROUP, INCIDENT, PERSON
from cli.main import main
from domain.actors import Actor, Role
from domain.commands import AddComment, LogIncident, ResolveIncident, StartWork
from domain.directory import FormGroup, RegisterPerson
from domain.notification import AttemptStarted, Decided, DeliveryState
from domain.webhook_endpoint import RegisterWebhookEndpoint
from infra.settings import Settings
from infra.webhook_secrets import WebhookSecrets
from infra.webhooks_out import new_secret
from processes.notify import Notify
from projections.notifications import notifications
from projections.runner import decode
from service.bootstrap import Services, build
from tests.conftest import context
from tests.engines import smtp, webhook_receiver
from tests.engines.smtp import SmtpServer
from tests.engines.webhook_receiver import WebhookReceiver
from tests.forked_cli import forkserver, run_itsm
from tests.integration.test_notifications import ADMIN, run

pytestmark = pytest.mark.slow

smtp_servers = smtp.smtp_servers
webhook_receivers = webhook_receiver.webhook_receivers

ROUNDS = 20
#: Incidents the test logs in each round (each makes four notifications: the caller's receipt,
#: the assignment to the group's two members, and the caller's comment or resolution).
PER_ROUND = 2
#: A round's notifier is killed this long after it was started (seconds, seeded).
LIFE = (0.1, 1.2)
SEED = 19
LEASE = 1.0
SENDER = "Layanan TIK DPK Banten <layanan@dpk-banten.example>"
AGENT = Actor(id="rudi.hartono", role=Role.AGENT)  # not a recipient: everyone is told
#: The people the rules name here: the caller, and the group's members.
CALLER = "budi.santoso"
MEMBERS = ("siti.rahma", "andi.wijaya")
#: The webhook endpoint that hears of every topic.
BOT = "bot-crash"


class Notifier:
    """`itsm notify run` in a child process of its own, forked from a forkserver that has the
    service imported (tests/forked_cli.py): a real process to SIGKILL, started in milliseconds."""

    def __init__(self, env: dict[str, str]) -> None:
        with tempfile.NamedTemporaryFile(prefix="itsm-notify-", delete=False) as file:
            self._stderr = Path(file.name)
        self.process = forkserver().Process(
            target=run_itsm, args=(env, ("notify", "run"), str(self._stderr)), daemon=True
        )
        self.process.start()

    def wait_until_running(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while "notifier running" not in self.stderr():
            assert time.monotonic() < deadline, f"the notifier did not start: {self.stderr()}"
            assert self.process.exitcode is None, f"the notifier ended: {self.stderr()}"
            time.sleep(0.02)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(10)
        assert self.process.exitcode == -signal.SIGKILL, self.stderr()
        self._stderr.unlink(missing_ok=True)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: it finishes its step and exits cleanly."""
        self.process.terminate()
        self.process.join(20)
        try:
            assert self.process.exitcode == 0, self.stderr()
        finally:
            if self.process.exitcode is None:
                self.process.kill()
                self.process.join(10)
            self._stderr.unlink(missing_ok=True)

    def stderr(self) -> str:
        return self._stderr.read_text(errors="replace") if self._stderr.exists() else ""


def notifying(settings: Settings, mail: SmtpServer) -> Settings:
    given = settings.model_dump()
    given.update(
        smtp_host=mail.host,
        smtp_port=mail.port,
        smtp_security="none",
        smtp_from=SENDER,
        smtp_timeout=10.0,
        notify_lease=timedelta(seconds=LEASE),
        notify_retry_delays=[timedelta(seconds=1)] * 5,
    )
    return Settings(**given)


def environment(settings: Settings) -> dict[str, str]:
    """The notifier's environment: this test's store and SMTP server, and a short lease."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITSM_")}
    env.update(
        ITSM_DATA_DIR=str(settings.data_dir),
        ITSM_DATABASE_URL=settings.database_url or "",
        ITSM_SMTP_HOST=settings.smtp_host or "",
        ITSM_SMTP_PORT=str(settings.smtp_port),
        ITSM_SMTP_SECURITY="none",
        ITSM_SMTP_FROM=SENDER,
        ITSM_SMTP_TIMEOUT="10",
        ITSM_NOTIFY_LEASE=str(LEASE),
        ITSM_NOTIFY_RETRY_DELAYS="[1, 1, 1, 1, 1]",
        ITSM_LOG_LEVEL="warning",
    )
    return env


def directory(services: Services) -> None:
    """The caller and the kiosk group (two members), each with an address."""
    for actor_id, email in (
        (CALLER, "budi@perpus-serang.example"),
        (MEMBERS[0], "siti@dpk-banten.example"),
        (MEMBERS[1], "andi@dpk-banten.example"),
    ):
        run(services, RegisterPerson(actor_id=actor_id, name=actor_id, email=email), PERSON)
    run(
        services,
        FormGroup(code="tim-kiosk", name="Tim Kiosk", manager=MEMBERS[1], members=list(MEMBERS)),
        GROUP,
    )


def endpoint(services: Services, receivers: Callable[..., WebhookReceiver]) -> WebhookReceiver:
    """A webhook endpoint for every topic, at a receiver that holds its secret."""
    receiver = receivers(new_secret())
    command = RegisterWebhookEndpoint(code=BOT, name=BOT, url=receiver.url, topics=["*"])
    secrets = WebhookSecrets(services.settings.webhook_secrets_directory())
    made = endpoints.register(services.desk, secrets, context(ADMIN, services.clock()), command)
    assert made.secret is not None
    receiver.secret = made.secret
    return receiver


def incident(services: Services, n: int) -> dict[tuple[str, int, str], None]:
    """Log an incident to the kiosk group, then comment on it or resolve it; the notifications
    the rules call for, by (record, version, recipient)."""
    logged = run(
        services,
        LogIncident(
            title=f"Kiosk {n} mati",
            service="kiosks-gates",
            caller=CALLER,
            impact="medium",
            urgency="medium",
            assignment_group="tim-kiosk",
        ),
        INCIDENT,
        actor=AGENT,
    )
    record = str(logged)
    # version 1 logged it (the caller's receipt), 2 assigned it (the group); the bot hears of
    # each event a rule tells of
    expected = [(record, 1, CALLER), *((record, 2, m) for m in MEMBERS), (record, 1, BOT)]
    expected.append((record, 2, BOT))
    if n % 2:
        run(services, AddComment(text="Kami memeriksanya."), INCIDENT, logged, actor=AGENT)
        expected += [(record, 3, CALLER), (record, 3, BOT)]
    else:  # work started (told no one), then resolved
        run(services, StartWork(), INCIDENT, logged, actor=AGENT)
        run(
            services, ResolveIncident(code="fixed", notes="Diganti."), INCIDENT, logged, actor=AGENT
        )
        expected += [(record, 4, CALLER), (record, 4, BOT)]
    return dict.fromkeys(expected)


def decided(services: Services) -> Counter[tuple[str, int, str]]:
    """Every `Notification.Decided` in the store, counted by (record, version, recipient)."""
    recorder = services.desk.recorder
    head = recorder.max_notification_id() or 0
    page = recorder.select_notifications(
        start=0, limit=head + 1, stop=head, topics=[Decided.type_name]
    )
    events, undecodable = decode(services.desk.mapper, page)
    assert undecodable is None
    return Counter(
        (str(e.record_id), e.record_version, e.recipient)
        for _, e in events
        if isinstance(e, Decided)
    )


def all_sent(services: Services, count: int) -> Callable[[], bool]:
    def done() -> bool:
        services.runner.catch_up()
        rows = services.views.select(notifications, "1 = 1", ())
        return len(rows) == count and all(r["state"] == DeliveryState.SENT for r in rows)

    return done


def wait_for(condition: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what()}")
        time.sleep(0.2)


def test_a_notifier_killed_at_random_loses_nothing_and_its_resends_are_recognisable(
    settings: Settings,
    smtp_servers: Callable[..., SmtpServer],
    webhook_receivers: Callable[..., WebhookReceiver],
) -> None:
    mail = smtp_servers()
    settings = notifying(settings, mail)
    env = environment(settings)
    services = build(settings)
    services.start()
    try:
        directory(services)
        bot = endpoint(services, webhook_receivers)
        Notify(services)  # its first start: what the store holds so far is told no one
        chance = random.Random(SEED)
        expected: dict[tuple[str, int, str], None] = {}
        n = delivering = 0
        for round_ in range(ROUNDS):
            notifier = Notifier(env)
            started, before = time.monotonic(), len(mail.received)
            for _ in range(PER_ROUND):  # written while it starts and runs
                n += 1
                expected |= incident(services, n)
            match round_ % 3:
                case 0:  # at a moment of its life, start-up included
                    time.sleep(max(0.0, chance.uniform(0.0, 1.5) - (time.monotonic() - started)))
                case 1:  # at a moment of its running
                    notifier.wait_until_running()
                    time.sleep(chance.uniform(0.0, 0.5))
                case _:  # at a moment of its sending: a batch half-sent, none of it recorded
                    with contextlib.suppress(AssertionError):
                        mail.wait_for(before + 1, timeout=10)
                    time.sleep(chance.uniform(0.0, 0.02))
            notifier.kill()
            delivering += len(mail.received) > before
        notifier = Notifier(env)
        try:
            wait_for(
                all_sent(services, len(expected)),
                60,
                lambda: (
                    f"{Counter(r['state'] for r in rows(services))} of {len(expected)}"
                    f" sent; the notifier said: {notifier.stderr()[-2_000:]}"
                ),
            )
        finally:
            notifier.stop()

        summary = none_lost_and_each_repeat_a_resend(services, expected, mail, bot)
        print(f"\n{summary} over {ROUNDS} kills ({delivering} after it had delivered something)")
    finally:
        services.close()


def none_lost_and_each_repeat_a_resend(
    services: Services,
    expected: dict[tuple[str, int, str], None],
    mail: SmtpServer,
    bot: WebhookReceiver,
) -> str:
    """Check what the rounds left (see the module's docstring); what it counted, in words."""
    # decided exactly once, each one the rules call for
    counted = decided(services)
    assert set(counted) == set(expected)
    assert [key for key, times in counted.items() if times != 1] == []
    # none lost: each sent, and its Message-ID reached the server (its webhook-id the bot)
    recorded = rows(services)
    assert {r["state"] for r in recorded} == {DeliveryState.SENT}
    hooks = bot.deliveries
    assert [d.refusal for d in hooks if d.refusal is not None] == []
    got = Counter((received.message_id or "").strip() for received in mail.received)
    got += Counter(d.webhook_id for d in hooks)
    ids = {r["message_id"]: r for r in recorded}
    assert set(ids) <= set(got), "a notification recorded as sent never reached its receiver"
    assert set(got) <= set(ids), "a receiver got a message no notification is for"
    # every repeat is a recorded re-send (the converse need not hold: a notifier killed
    # after it claimed an attempt and before it sent anything re-sends what never arrived)
    repeated = {message_id for message_id, times in got.items() if times > 1}
    resent = {r["message_id"] for r in recorded if r["resends"] > 0}
    assert resent == {r["message_id"] for r in recorded if any(resends(services, UUID(r["id"])))}
    assert repeated <= resent, f"repeats with no re-send recorded: {repeated - resent}"
    return (
        f"{len(expected)} notifications: {len(mail.received)} messages and {len(hooks)} webhooks"
        f" received, {len(repeated)} more than once; {len(resent)} notifications re-sent"
        f" ({sum(r['resends'] for r in recorded)} re-sends)"
    )


def rows(services: Services) -> list[dict[str, Any]]:
    services.runner.catch_up()
    return services.views.select(notifications, "1 = 1", ())


def resends(services: Services, notification: UUID) -> list[AttemptStarted]:
    return [
        event
        for event in services.desk.events.get(notification)
        if isinstance(event, AttemptStarted) and event.resend
    ]


def test_the_dead_letters_are_listed_and_one_requeued_is_sent(
    settings: Settings, smtp_servers: Callable[..., SmtpServer]
) -> None:
    mail = smtp_servers()
    settings = notifying(settings, mail)
    services = build(settings)
    services.start()
    try:
        directory(services)
        notifier = Notify(services)
        mail.fail_next(1, "550 5.1.1 no such mailbox")
        run(
            services,
            LogIncident(
                title="Kiosk mati",
                service="kiosks-gates",
                caller=CALLER,
                impact="low",
                urgency="low",
            ),
            INCIDENT,
            actor=AGENT,
        )
        notifier.run_until_idle()
        (dead,) = rows(services)
        assert dead["state"] == DeliveryState.DEAD
        cli = CliRunner()
        env = {"ITSM_DATABASE_URL": settings.database_url or ""}
        data_dir = ["--data-dir", str(settings.data_dir)]
        listed = cli.invoke(main, ["notify", "dead-letters", *data_dir], env=env)
        assert listed.exit_code == 0, listed.output
        header, line = listed.stdout.splitlines()
        assert header.split() == ["id", "record", "recipient", "topic", "last", "error"]
        assert line.split()[:5] == [
            dead["id"],
            "INC-000001",
            CALLER,
            "<budi@perpus-serang.example>",
            "incident.logged",
        ]
        assert "550 5.1.1 no such mailbox" in line
        # a reason is needed, and only a dead letter can be requeued
        refused = cli.invoke(main, ["notify", "requeue", *data_dir, dead["id"]], env=env)
        assert refused.exit_code == 2
        assert "--reason" in refused.output
        requeued = cli.invoke(
            main,
            ["notify", "requeue", *data_dir, dead["id"], "--reason", "mailbox made", "--by", "adm"],
            env=env,
        )
        assert requeued.exit_code == 0, requeued.output
        again = cli.invoke(
            main, ["notify", "requeue", *data_dir, dead["id"], "--reason", "twice"], env=env
        )
        assert again.exit_code == 1
        assert "not on the dead-letter list" in again.output
        notifier.run_until_idle()
        (sent,) = rows(services)
        assert (sent["state"], sent["attempts"]) == (DeliveryState.SENT, 2)
        assert [(r.message_id or "").strip() for r in mail.received] == [sent["message_id"]]
        history = [e.type_name for e in services.desk.events.get(UUID(sent["id"]))]
        assert "Notification.Requeued" in history
        empty = cli.invoke(main, ["notify", "dead-letters", *data_dir], env=env)
        assert (empty.exit_code, empty.stdout) == (0, "")
    finally:
        services.close()
