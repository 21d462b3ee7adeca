"""The notifier against a real SMTP server (aiosmtpd's), on SQLite and PostgreSQL: callers and
groups are told what the rules say, in their language, once; each decision and its outcome is in
the record; a work note reaches no one; a muted topic is not sent unless the standard needs it; a
failed delivery is retried, then dead-lettered; an attempt cut short is sent again with the same
Message-ID and counted as a re-send."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest

from application.kinds import GROUP, INCIDENT, NOTIFICATION, PERSON, Kind
from application.pipeline import Submission
from application.seed import seed
from audit.reports import period_reports
from domain.actors import Actor, Role
from domain.commands import (
    AddComment,
    AddWorkNote,
    CancelIncident,
    LogIncident,
    ResolveIncident,
    StartWork,
)
from domain.directory import (
    AddGroupMember,
    ChooseMutes,
    FormGroup,
    RegisterPerson,
    SetGroupHours,
    SetOnCallRota,
)
from domain.major_incident import Criteria
from domain.notification import DeliveryState, StartAttempt
from infra.settings import Settings
from processes.notify import Notify
from projections.notification_subjects import notification_subjects
from projections.notifications import notifications
from service.bootstrap import Services, build
from tests.conftest import Clock, context
from tests.engines import smtp
from tests.engines.smtp import SmtpServer
from tests.integration.conftest import serving
from tests.integration.test_changes_api import authorised_change

smtp_servers = smtp.smtp_servers

ADMIN = Actor(id="admin.dpk", role=Role.ADMIN)
AGENT = Actor(id="siti.rahma", role=Role.AGENT)
SENDER = "Layanan TIK DPK Banten <layanan@dpk-banten.example>"


@pytest.fixture
def mail(smtp_servers: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_servers()


@pytest.fixture
def told(
    settings: Settings, mail: SmtpServer, clock: Clock, tmp_path: Path
) -> Iterator[tuple[Services, Notify]]:
    """A service that e-mails through the test's SMTP server, with a directory: a caller who
    reads Indonesian, an agent who chose English, and the kiosk group."""
    given = settings.model_dump()
    given.update(
        smtp_host=mail.host,
        smtp_port=mail.port,
        smtp_security="none",
        smtp_from=SENDER,
        smtp_timeout=10.0,
        notify_retry_delays=[timedelta(minutes=1), timedelta(minutes=5)],
        notify_pause_after=50,
    )
    services = build(Settings(**given), clock=clock)
    services.start()
    run(
        services,
        RegisterPerson(
            actor_id="budi.santoso", name="Budi Santoso", email="budi@perpus-serang.example"
        ),
        PERSON,
    )
    run(
        services,
        RegisterPerson(
            actor_id="siti.rahma", name="Siti Rahma", email="siti@dpk-banten.example", language="en"
        ),
        PERSON,
    )
    run(
        services,
        RegisterPerson(actor_id="andi.wijaya", name="Andi Wijaya", email="andi@dpk-banten.example"),
        PERSON,
    )
    run(
        services,
        FormGroup(
            code="tim-kiosk",
            name="Tim Kiosk",
            manager="andi.wijaya",
            members=["siti.rahma", "andi.wijaya"],
        ),
        GROUP,
    )
    notify = Notify(services)  # after the directory: what was written before is told no one
    yield services, notify
    services.close()


def run(
    services: Services,
    command: Any,
    kind: Kind,
    ref: str | UUID | None = None,
    actor: Actor = ADMIN,
) -> UUID:
    outcome = services.desk.execute(
        Submission(context(actor, services.clock()), command, kind, ref=ref)
    )
    assert outcome.position is not None
    assert services.runner.wait_for(outcome.position, 10)
    return outcome.record_id


def log_incident(services: Services, **more: Any) -> UUID:
    command = LogIncident(
        title="Kiosk mati di lantai 2",
        service="kiosks-gates",
        caller="budi.santoso",
        impact="medium",
        urgency="medium",
        **more,
    )
    return run(services, command, INCIDENT, actor=AGENT)


def messages(mail: SmtpServer) -> list[EmailMessage]:
    return [
        message_from_bytes(r.data, policy=policy.default)  # type: ignore[misc]
        for r in mail.received
    ]


def to_caller(mail: SmtpServer) -> list[EmailMessage]:
    return [m for m in messages(mail) if m["To"] == "budi@perpus-serang.example"]


def rows(services: Services, incident: UUID) -> list[dict[str, Any]]:
    services.runner.catch_up()
    return services.views.select(notifications, '"record_id" = ?', (str(incident),))


def test_the_caller_is_told_the_number_and_the_group_of_the_assignment(
    told: tuple[Services, Notify], mail: SmtpServer
) -> None:
    services, notify = told
    incident = log_incident(services, assignment_group="tim-kiosk")
    notify.run_until_idle()
    sent = {m["To"]: m for m in messages(mail)}
    # the caller: the number, in Bahasa Indonesia; the group: the assignment, each in their
    # language; siti assigned it, and nobody is told of what they did themselves
    assert set(sent) == {"budi@perpus-serang.example", "andi@dpk-banten.example"}
    caller = sent["budi@perpus-serang.example"]
    assert caller["Subject"].startswith("[INC-000001] Laporan Anda sudah kami terima")
    assert "INC-000001" in caller.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert caller.get_body(("html",)) is not None
    assert caller["Auto-Submitted"] == "auto-generated"
    assert sent["andi@dpk-banten.example"]["Subject"].startswith("[INC-000001] Ditugaskan ke")
    # each decision and its outcome is in the record, with the server's answer
    recorded = {row["recipient"]: row for row in rows(services, incident)}
    assert {r["state"] for r in recorded.values()} == {DeliveryState.SENT}
    assert recorded["budi.santoso"]["message_id"] == caller["Message-ID"].strip()
    assert "queued as" in recorded["budi.santoso"]["answer"]
    assert recorded["budi.santoso"]["topic"] == "incident.logged"
    # deciding again decides nothing new: the same ids are refused by the store
    before = len(mail.received)
    with services.views.transaction() as tx:
        tx.set_position(notification_subjects, 0)
    notify.run_until_idle()
    assert len(mail.received) == before
    assert len(rows(services, incident)) == 2


def test_work_notes_reach_no_one_and_a_muted_topic_only_what_must_be_told(
    told: tuple[Services, Notify], mail: SmtpServer
) -> None:
    services, notify = told
    incident = log_incident(services, assignment_group="tim-kiosk", agent="siti.rahma")
    run(services, StartWork(), INCIDENT, incident, actor=AGENT)
    notify.run_until_idle()
    assert len(to_caller(mail)) == 1  # the receipt
    run(services, ChooseMutes(topics=["incident.commented"]), PERSON, "budi.santoso")
    run(
        services,
        AddWorkNote(text="Kabel LAN putus; rahasia internal"),
        INCIDENT,
        incident,
        actor=AGENT,
    )
    run(
        services,
        AddComment(text="Kami sedang memeriksa kiosknya."),
        INCIDENT,
        incident,
        actor=AGENT,
    )
    run(
        services,
        ResolveIncident(code="fixed", notes="Kabel diganti."),
        INCIDENT,
        incident,
        actor=AGENT,
    )
    notify.run_until_idle()
    got = to_caller(mail)
    assert len(got) == 2  # the comment is muted; the resolution must be told
    resolved = got[1]
    body = resolved.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert resolved["Subject"] == "[INC-000001] Laporan Anda sudah diselesaikan"
    assert "Kabel diganti." in body
    assert "buka kembali" in body
    assert "WIB" in body
    assert all("rahasia internal" not in r.data.decode() for r in mail.received)
    recorded = {row["topic"]: row for row in rows(services, incident)}
    assert recorded["incident.resolved"]["mandatory"] is True


def test_a_refused_delivery_is_retried_then_dead_lettered(
    told: tuple[Services, Notify], mail: SmtpServer, clock: Clock
) -> None:
    services, notify = told
    mail.fail_next(3, "451 4.3.0 try again later")
    incident = log_incident(services)
    notify.run_until_idle()
    (row,) = rows(services, incident)
    assert (row["state"], row["attempts"]) == (DeliveryState.RETRYING, 1)
    assert "451" in row["last_error"]
    clock.advance(minutes=1)
    notify.run_until_idle()
    clock.advance(minutes=5)
    notify.run_until_idle()
    (row,) = rows(services, incident)
    assert (row["state"], row["attempts"]) == (DeliveryState.DEAD, 3)
    assert mail.received == []
    history = [e.type_name for e in services.desk.events.get(UUID(row["id"]))]
    assert history == [
        "Notification.Decided",
        *["Notification.AttemptStarted", "Notification.AttemptFailed"] * 3,
        "Notification.DeadLettered",
    ]


def test_an_attempt_cut_short_is_sent_again_with_the_same_message_id(
    told: tuple[Services, Notify], mail: SmtpServer, clock: Clock
) -> None:
    services, notify = told
    incident = log_incident(services)
    notify.decide_step()
    (row,) = rows(services, incident)
    # a sender that recorded its attempt and died before sending or recording the outcome
    run(services, StartAttempt(), NOTIFICATION, UUID(row["id"]))
    notify.run_until_idle()
    assert mail.received == []  # within the lease it is someone else's attempt
    clock.advance(seconds=services.settings.notify_lease.total_seconds() + 1)
    notify.run_until_idle()
    (row,) = rows(services, incident)
    assert (row["state"], row["attempts"], row["resends"]) == (DeliveryState.SENT, 2, 1)
    (received,) = messages(mail)
    assert received["Message-ID"].strip() == row["message_id"]


def test_the_history_shows_who_was_told_what_and_admins_requeue_a_dead_letter(
    told: tuple[Services, Notify], mail: SmtpServer
) -> None:
    services, notify = told
    mail.fail_next(1, "550 5.1.1 no such mailbox")
    incident = log_incident(services, assignment_group="tim-kiosk")
    notify.run_until_idle()
    with serving(services) as api:
        staff = api.client("andi.wijaya", Role.AGENT)
        history = staff.get(f"/api/v1/incidents/{incident}/history").json()
        shown = {n["recipient"]: n for n in history["notifications"]}
        assert set(shown) == {"budi.santoso", "andi.wijaya"}
        # the first send met a permanent refusal: dead at once, with the relay's words
        dead = next(n for n in shown.values() if n["state"] == "dead")
        assert "550" in dead["last_error"]
        # the caller reads only their own, and not where it went
        caller = api.client("budi.santoso", Role.REQUESTER)
        own = caller.get(f"/api/v1/incidents/{incident}/history").json()["notifications"]
        assert [(n["recipient"], n["address"]) for n in own] == [("budi.santoso", None)]
        # an agent may not requeue; an admin may, and it is sent again
        refused = staff.post(
            f"/api/v1/notifications/{dead['id']}/requeue", json={"reason": "fixed"}
        )
        assert refused.status_code == 403
        admin = api.client("admin.dpk", Role.ADMIN)
        listed = admin.get("/api/v1/notifications", params={"state": "dead"}).json()["items"]
        assert [n["id"] for n in listed] == [dead["id"]]
        for person in shown:
            mine = admin.get("/api/v1/notifications", params={"recipient": person, "limit": 1})
            assert [n["recipient"] for n in mine.json()["items"]] == [person]
        requeued = admin.post(
            f"/api/v1/notifications/{dead['id']}/requeue", json={"reason": "mailbox fixed"}
        )
        assert requeued.status_code == 200, requeued.text
        assert requeued.json()["state"] == "pending"
    notify.run_until_idle()
    assert {r["state"] for r in rows(services, incident)} == {DeliveryState.SENT}


def test_out_of_hours_only_the_one_on_call_is_told(
    told: tuple[Services, Notify], mail: SmtpServer, clock: Clock
) -> None:
    services, notify = told
    # Saturday night in Serang: the office's hours are over; andi is on call until Monday
    clock.now = datetime(2026, 12, 5, 14, tzinfo=UTC)  # 21:00 WIB
    run(services, SetGroupHours(hours="office"), GROUP, "tim-kiosk")
    shift = {
        "person": "andi.wijaya",
        "starts": clock.now - timedelta(hours=1),
        "ends": clock.now + timedelta(days=2),
    }
    run(services, SetOnCallRota(shifts=[shift]), GROUP, "tim-kiosk")
    run(
        services,
        RegisterPerson(actor_id="rudi.hartono", name="Rudi", email="rudi@dpk.example"),
        PERSON,
    )
    run(services, AddGroupMember(member="rudi.hartono"), GROUP, "tim-kiosk")
    log_incident(services, assignment_group="tim-kiosk")
    notify.run_until_idle()
    assigned = [m["To"] for m in messages(mail) if "Ditugaskan" in m["Subject"]]
    assert assigned == ["andi@dpk-banten.example"]  # not rudi: it is not his night


def test_a_change_tells_the_cab_of_the_vote_and_the_requester_of_the_authorisation(
    told: tuple[Services, Notify], mail: SmtpServer
) -> None:
    services, notify = told
    for actor_id in ("andi.pratama", "ahmad", "yusuf", "lina"):
        run(
            services,
            RegisterPerson(
                actor_id=actor_id,
                name=actor_id.title(),
                email=f"{actor_id}@dpk-banten.example",
                roles=["cab_member"] if actor_id != "andi.pratama" else ["resolver"],
            ),
            PERSON,
        )
    with serving(services) as api:
        authorised_change(api, [])
    notify.run_until_idle()
    subjects = {(m["To"].split("@")[0], m["Subject"].split("] ")[0] + "]") for m in messages(mail)}
    # each CAB member is asked to vote; the requester hears of the authorisation
    assert {to for to, _ in subjects} == {"ahmad", "yusuf", "lina", "andi.pratama"}
    told_of = {row["recipient"]: row["topic"] for row in all_rows(services)}
    assert told_of["andi.pratama"] == "change.authorised"
    assert {told_of[m] for m in ("ahmad", "yusuf", "lina")} == {"change.vote_needed"}


def all_rows(services: Services) -> list[dict[str, Any]]:
    services.runner.catch_up()
    return services.views.select(notifications)


def test_approvers_hear_of_a_request_its_requester_of_its_fulfilment_and_groups_of_a_workaround(
    told: tuple[Services, Notify], mail: SmtpServer
) -> None:
    services, notify = told
    seed(services.desk)  # the catalogue, and the directory's approvers (the heads)
    with serving(services) as api:
        member = api.client("budi.santoso", Role.REQUESTER)
        made = member.post(
            "/api/v1/service-requests",
            json={"catalogue_item": "inlislite-school-install", "title": "SMAN 2 Pandeglang"},
        )
        assert made.status_code == 201, made.text
        ref = made.json()["ref"]
        for head in ("kepala.bidang", "kepala.dinas"):
            approved = api.client(head, Role.SERVICE_MANAGER).post(
                f"/api/v1/service-requests/{ref}/approve"
            )
            assert approved.status_code == 200, approved.text
        desk = api.client("siti.rahma", Role.AGENT)
        assert desk.post(f"/api/v1/service-requests/{ref}/start-fulfilment").status_code == 200
        for step in (1, 2, 3, 4):
            done = desk.post(f"/api/v1/service-requests/{ref}/complete-step", json={"step": step})
            assert done.status_code == 200, done.text
        fulfilled = desk.post(f"/api/v1/service-requests/{ref}/fulfil", json={"notes": "Selesai"})
        assert fulfilled.status_code == 200, fulfilled.text

        incident = log_incident(services, assignment_group="tim-kiosk")
        problem = desk.post(
            "/api/v1/problems",
            json={"title": "Kiosk mati", "service": "kiosks-gates", "incidents": [str(incident)]},
        )
        assert problem.status_code == 201, problem.text
        problem_ref = problem.json()["ref"]
        assert desk.post(f"/api/v1/problems/{problem_ref}/start-investigation").status_code == 200
        workaround = desk.post(
            f"/api/v1/problems/{problem_ref}/publish-workaround",
            json={"workaround": "Nyalakan ulang kiosk"},
        )
        assert workaround.status_code == 200, workaround.text
    notify.run_until_idle()
    told_of = {(row["recipient"], row["topic"]) for row in all_rows(services)}
    assert {
        ("kepala.bidang", "request.approval_needed"),
        ("kepala.dinas", "request.approval_needed"),
        ("budi.santoso", "request.fulfilled"),
        # the kiosk group of the linked incident, but siti, who published it
        ("andi.wijaya", "problem.workaround_published"),
    } <= told_of
    assert ("siti.rahma", "problem.workaround_published") not in told_of
    assert {row["state"] for row in all_rows(services)} == {DeliveryState.SENT}


def test_the_auditors_pack_reports_who_was_told_what_as_it_stood_at_the_periods_end(
    told: tuple[Services, Notify], mail: SmtpServer, clock: Clock
) -> None:
    services, notify = told
    mail.fail_next(1, "451 4.3.0 try again later")
    log_incident(services, assignment_group="tim-kiosk")
    notify.run_until_idle()
    period_end = clock.advance(seconds=30)
    clock.advance(minutes=2)  # the retry is due, after the period
    notify.run_until_idle()
    assert services.audit is not None
    made = period_reports(services.audit.store, services.desk, None, period_end)
    report = orjson.loads(made["notifications.json"])
    assert report["notifications_decided"] == 2
    assert report["by_topic"] == {"incident.assigned": 1, "incident.logged": 1}
    # at the period's end one had failed once and waited for its retry; sent after it
    assert report["by_state_at_period_end"] == {"retrying": 1, "sent": 1}
    assert {r["state"] for r in all_rows(services)} == {DeliveryState.SENT}
    retried = next(r for r in report["notifications"] if r["state"] == "retrying")
    assert "451" in retried["last_error"]


def test_a_reminder_before_a_window_goes_when_due_and_is_withdrawn_if_the_window_moves(
    told: tuple[Services, Notify], mail: SmtpServer, clock: Clock
) -> None:
    services, notify = told
    run(
        services,
        RegisterPerson(
            actor_id="andi.pratama",
            name="Andi",
            email="pratama@dpk-banten.example",
            roles=["resolver"],
        ),
        PERSON,
    )
    first_window = clock.now + timedelta(days=2)
    later_window = clock.now + timedelta(days=3)
    with serving(services) as api:
        change = authorised_change(api, [])
        manager = api.client("rina.wati", Role.CHANGE_MANAGER)
        for start in (first_window, later_window):  # booked, then moved a day later
            scheduled = manager.post(
                f"/api/v1/changes/{change['ref']}/schedule",
                json={
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=2)).isoformat(),
                },
            )
            assert scheduled.status_code == 200, scheduled.text
    notify.run_until_idle()

    def reminders() -> list[tuple[str, str | None]]:
        found = [r for r in all_rows(services) if r["topic"] == "change.window_opening"]
        found.sort(key=lambda r: r["record_version"])
        return [(r["state"], r["withdrawn_reason"]) for r in found]

    # one reminder per booking, each due an hour before its window; none sent yet
    assert reminders() == [("pending", None), ("pending", None)]
    clock.now = first_window - timedelta(minutes=30)
    notify.run_until_idle()
    # the first window's is withdrawn, not sent: the window moved
    assert reminders() == [("withdrawn", "the change's window was moved"), ("pending", None)]
    assert window_mail(mail) == []
    clock.now = later_window - timedelta(minutes=30)
    notify.run_until_idle()
    assert reminders() == [("withdrawn", "the change's window was moved"), ("sent", None)]
    (reminder,) = window_mail(mail)
    assert reminder["To"] == "pratama@dpk-banten.example"
    assert reminder["Subject"].startswith(f"[{change['ref']}] Jendela perubahan segera dibuka")


def window_mail(mail: SmtpServer) -> list[EmailMessage]:
    return [m for m in messages(mail) if "Jendela perubahan" in m["Subject"]]


def test_the_caller_of_a_duplicate_hears_of_the_originals_resolution(
    told: tuple[Services, Notify], mail: SmtpServer
) -> None:
    services, notify = told
    run(
        services,
        RegisterPerson(actor_id="rina.kartika", name="Rina Kartika", email="rina@perpus.example"),
        PERSON,
    )
    original = log_incident(services, assignment_group="tim-kiosk", agent="siti.rahma")
    duplicate = run(
        services,
        LogIncident(
            title="Kiosk lantai 2 mati lagi",
            service="kiosks-gates",
            caller="rina.kartika",
            impact="medium",
            urgency="medium",
        ),
        INCIDENT,
        actor=AGENT,
    )
    run(
        services,
        CancelIncident(reason="duplicate", duplicate_of=original),
        INCIDENT,
        duplicate,
        actor=AGENT,
    )
    run(services, StartWork(), INCIDENT, original, actor=AGENT)
    notify.run_until_idle()
    before = [m for m in messages(mail) if m["To"] == "rina@perpus.example"]
    run(
        services,
        ResolveIncident(code="fixed", notes="Kabel diganti."),
        INCIDENT,
        original,
        actor=AGENT,
    )
    notify.run_until_idle()

    to_rina = [m for m in messages(mail) if m["To"] == "rina@perpus.example"][len(before) :]
    [heard] = to_rina
    assert heard["Subject"].strip().startswith("[INC-000001] ")
    body = heard.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Kabel diganti." in body
    assert "duplikat" in body
    recorded = {(r["recipient"], r["topic"]) for r in rows(services, original)}
    assert ("rina.kartika", "incident.duplicate_resolved") in recorded
    assert ("budi.santoso", "incident.resolved") in recorded


def test_an_incident_meeting_the_major_incident_criteria_tells_its_group_and_manager(
    told: tuple[Services, Notify], mail: SmtpServer
) -> None:
    services, notify = told
    services.desk.revise_major_incident_criteria(
        context(ADMIN, services.clock()),
        Criteria(critical_services=["kiosks-gates"], critical_priority=1),
        "the kiosks are every branch's front door",
    )
    command = LogIncident(
        title="Semua kiosk mati",
        service="kiosks-gates",
        caller="budi.santoso",
        impact="high",
        urgency="high",
        assignment_group="tim-kiosk",
    )
    incident = run(services, command, INCIDENT, actor=AGENT)
    notify.run_until_idle()

    proposed = {
        row["recipient"]: row
        for row in rows(services, incident)
        if row["topic"] == "incident.major_proposed"
    }
    assert set(proposed) == {"andi.wijaya", "siti.rahma"}  # the group, its manager among them
    subjects = {m["To"]: m["Subject"] for m in messages(mail)}
    assert "Usulan insiden mayor" in subjects["andi@dpk-banten.example"]
    assert "Major incident proposed" in subjects["siti@dpk-banten.example"]
