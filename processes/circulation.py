"""The circulation pipeline's composition: its store, rules and ports, built from Settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from time import monotonic
from typing import Any
from uuid import UUID

from application.desk import ServiceDesk
from application.kinds import SERVICE_REQUEST
from application.pipeline import Submission
from consumers.circulation import (
    CirculationConsumer,
    CirculationPipeline,
    Pseudonymiser,
    ReplaySeal,
    RequestToRaise,
    ServiceRequestPort,
)
from domain.circulation import (
    CalendarOpening,
    CorrelationRules,
    DeviceOfflineRule,
    FailureRateRule,
    MemberCardRule,
    OnRecovery,
    Opening,
    OpeningHours,
)
from domain.commands import AddWorkNote, LogIncident, ResolveIncident, StartWork
from domain.context import Context
from domain.errors import CalendarNotFound, DomainError
from domain.incident import IncidentState, ResolutionCode
from domain.request_commands import SubmitServiceRequest
from infra import kafka_clients
from infra.circulation_store import CirculationStore
from infra.clock import utcnow
from infra.kafka_clients import KEEP_FOREVER, TopicSpec
from infra.settings import Settings

log = logging.getLogger(__name__)


class LiveCalendarOpening:
    """Opening hours from a business calendar's newest version, looked up again every few
    minutes, so that a service manager's amendment (a new holiday, Saturday hours) reaches a
    running consumer without a restart."""

    def __init__(
        self, desk: ServiceDesk, name: str, *, every: float = 300.0, timer: Any = monotonic
    ) -> None:
        self.desk, self.name, self.every, self.timer = desk, name, every, timer
        self._version = 0
        self._load()

    def _load(self) -> None:
        calendar = self.desk.business_calendar(self.name)
        if calendar.version != self._version:  # else keep the spec and its worked-out table
            self._opening, self._version = CalendarOpening(calendar.spec()), calendar.version
        self._loaded = self.timer()

    def _current(self) -> CalendarOpening:
        if self.timer() - self._loaded >= self.every:
            self._load()
        return self._opening

    def open_since(self, at: datetime) -> datetime | None:
        return self._current().open_since(at)

    def open_time_between(self, start: datetime, end: datetime) -> timedelta:
        return self._current().open_time_between(start, end)


def opening_from(settings: Settings, desk: ServiceDesk | None) -> Opening:
    """The opening hours the device-offline rule counts: the named business calendar's when
    there is one, else the plain weekly hours of the settings."""
    name = settings.circulation_opening_calendar
    if desk is not None and name:
        try:
            return LiveCalendarOpening(desk, name)
        except CalendarNotFound:
            log.warning("no business calendar %r: opening hours from the settings", name)
    return OpeningHours.parse(settings.circulation_opening_hours)


def rules_from(settings: Settings, desk: ServiceDesk | None = None) -> CorrelationRules:
    recovery = OnRecovery(settings.circulation_on_recovery)
    return CorrelationRules(
        opening_hours=opening_from(settings, desk),
        device_offline=DeviceOfflineRule(
            enabled=settings.circulation_device_offline,
            threshold=settings.circulation_offline_threshold,
            stable_for=settings.circulation_stable_for,
            on_recovery=recovery,
        ),
        failure_rate=FailureRateRule(
            enabled=settings.circulation_failure_rate,
            window=settings.circulation_failure_window,
            threshold=settings.circulation_failure_threshold,
            min_volume=settings.circulation_failure_min_volume,
            stable_for=settings.circulation_stable_for,
            on_recovery=recovery,
        ),
        member_card=MemberCardRule(enabled=settings.circulation_member_card),
    )


class DeskIncidents:
    """The rules' IncidentPort over the service desk: its ordinary commands, each with an
    idempotency key, so a batch run again after a crash finds the first outcome."""

    def __init__(self, desk: ServiceDesk) -> None:
        self.desk = desk

    def open(self, ctx: Context, command: LogIncident, key: str) -> str:
        return str(self.desk.log_incident(ctx, command, idempotency_key=key).record_id)

    def note(self, ctx: Context, incident: str, text: str, key: str) -> bool:
        try:
            self.desk.handle(ctx, UUID(incident), AddWorkNote(text=text), idempotency_key=key)
        except DomainError:  # e.g. someone closed it meanwhile: the note has nowhere to go
            return False
        return True

    def resolve(self, ctx: Context, incident: str, notes: str, key: str) -> bool:
        record = UUID(incident)
        try:
            if self.desk.incident(record).state is IncidentState.ASSIGNED:
                # nobody has picked it up: the integration records that it works it, then
                # resolves it, so the lifecycle is the ordinary one
                self.desk.handle(ctx, record, StartWork(), idempotency_key=key + "/start")
            self.desk.handle(
                ctx,
                record,
                ResolveIncident(code=ResolutionCode.FIXED, notes=notes),
                idempotency_key=key,
            )
        except DomainError:  # already resolved, closed or cancelled by someone
            return self.note(ctx, incident, notes, key + "/note")
        return True


class DeskRequests:
    """The rules' ServiceRequestPort over the records write path: an ordinary submission by the
    integration, for the (pseudonymised) member, with the rule and the source event as its cause;
    the idempotency key makes a redelivered or replayed event find the first request."""

    def __init__(self, desk: ServiceDesk) -> None:
        self.desk = desk

    def raise_request(self, ctx: Context, request: RequestToRaise) -> str:
        rule, cause = request.idempotency_key.split("/", maxsplit=1)
        details = request.details
        kind, branch = details.get("request", "new"), details.get("branch", "?")
        command = SubmitServiceRequest(
            catalogue_item=request.catalogue_item,
            title=f"Membership card ({kind}) at {branch}",
            details=f"[rule {rule}] raised from circulation event {cause}: "
            + ", ".join(f"{k}={v}" for k, v in sorted(details.items())),
            requester=request.requested_for,
        )
        outcome = self.desk.execute(
            Submission(
                ctx,
                command,
                SERVICE_REQUEST,
                operation="submit_service_request",
                idempotency_key=request.idempotency_key,
            )
        )
        return str(outcome.record_id)


def build_pipeline(
    settings: Settings,
    desk: ServiceDesk | None,
    *,
    clock: Callable[[], datetime] = utcnow,
    requests: ServiceRequestPort | None = None,
    dead_letters_to_table: bool = True,
    store: CirculationStore | None = None,
) -> CirculationPipeline:
    return CirculationPipeline(
        store or CirculationStore(settings.circulation_db),
        rules_from(settings, desk),
        Pseudonymiser(settings.circulation_pseudonym_key),
        None if desk is None else DeskIncidents(desk),
        clock,
        requests=requests if requests is not None or desk is None else DeskRequests(desk),
        dead_letters_to_table=dead_letters_to_table,
    )


# -- Kafka mode ------------------------------------------------------------------------------------


def dead_letter_topic(settings: Settings) -> str:
    return f"{settings.circulation_topic}.dlq"


def circulation_topics(settings: Settings) -> dict[str, TopicSpec]:
    """The inbound topic (kept: the health view can be rebuilt from it) and its dead letters."""
    return {
        settings.circulation_topic: TopicSpec(settings.kafka_partitions, KEEP_FOREVER),
        dead_letter_topic(settings): TopicSpec(1, KEEP_FOREVER),
    }


def build_circulation_consumer(
    settings: Settings,
    bootstrap: str,
    desk: ServiceDesk | None,
    *,
    instance_id: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    store: CirculationStore | None = None,
) -> CirculationConsumer:
    return CirculationConsumer(
        lambda: kafka_clients.consumer(
            bootstrap,
            settings.circulation_group,
            client_id="itsm-circulation",
            instance_id=instance_id,
            # `itsm dlq replay --kafka` writes the topic in transactions: what a killed replay
            # left uncommitted is aborted, never applied, and its resumption sends it once
            isolation_level="read_committed",
        ),
        build_pipeline(settings, desk, clock=clock, dead_letters_to_table=False, store=store),
        topic=settings.circulation_topic,
        dead_letters=lambda: kafka_clients.producer(bootstrap, client_id="itsm-circulation-dlq"),
        dead_letter_topic=dead_letter_topic(settings),
        group_id=settings.circulation_group,
        seal=ReplaySeal(settings.circulation_pseudonym_key),
    )
