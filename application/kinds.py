"""The registry of record kinds: one declaration per kind, read by every part that serves them.

A kind says what its records are (the aggregate), how a caller names one (a number with its
prefix, or a code), the words and error of its absence, whose own record it is (the reach rule:
the field naming the requester who owns it, beside its organisation), the view a write is answered
with, the route its resources live under, the commands that change it, and its SLA adapter if its
records run SLA clocks. The command pipeline resolves references and answers not-found from here;
the SLA watcher records alerts through here; a new kind is one module for its aggregate and
commands plus one entry in `KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain import commands as incident_commands
from domain import request_commands, sla_incident, sla_request
from domain.aggregate import Aggregate
from domain.attachments import ATTACHMENT_COMMANDS
from domain.audit_schedule import AuditSchedule
from domain.calendar import BusinessCalendar, calendar_id
from domain.canned_response import CANNED_RESPONSE_COMMANDS, CannedResponse, canned_response_id
from domain.change import Change, ChangeTemplate, template_id
from domain.change_commands import CHANGE_COMMANDS
from domain.change_policy import ChangePolicy
from domain.change_schedule import SCHEDULE_ID, ChangeSchedule
from domain.configuration_item import ConfigurationItem, ci_id
from domain.directory import (
    GROUP_COMMANDS,
    LIST_COMMANDS,
    PERSON_COMMANDS,
    BroadcastList,
    BroadcastListNotFound,
    Group,
    GroupNotFound,
    Person,
    PersonNotFound,
    broadcast_list_id,
    group_id,
    person_id,
)
from domain.disclosure import Disclosure
from domain.document import Document
from domain.document_commands import DOCUMENT_COMMANDS
from domain.errors import CalendarNotFound, IncidentNotFound, NotFound, RecordNotFound
from domain.events import DomainEvent
from domain.improvement import Improvement
from domain.improvement_commands import IMPROVEMENT_COMMANDS
from domain.inbound_mail import InboundMail
from domain.incident import Incident, SlaAlert
from domain.internal_audit import InternalAudit
from domain.internal_audit_commands import INTERNAL_AUDIT_COMMANDS
from domain.issued_report import ISSUED_REPORT_COMMANDS, IssuedReport, issued_report_id
from domain.knowledge import ARTICLE_COMMANDS, KnowledgeArticle
from domain.legal_hold import LegalHold
from domain.major_incident import MajorIncidentCriteria
from domain.nonconformity import Nonconformity
from domain.nonconformity_commands import NONCONFORMITY_COMMANDS
from domain.notification import NOTIFICATION_COMMANDS, Notification
from domain.priority import PriorityMatrix
from domain.problem import Problem
from domain.problem_commands import PROBLEM_COMMANDS
from domain.record_numbers import RecordKind
from domain.records import INCIDENT_PREFIX
from domain.saved_filter import FILTER_COMMANDS, SavedFilter
from domain.service_catalogue import ServiceCatalogue
from domain.service_request import CatalogueItem, ServiceRequest, catalogue_item_id
from domain.sla import SlaPolicy
from domain.sla_clock import Ticket
from domain.supplier import SUPPLIER_COMMANDS, Supplier, supplier_id
from domain.webhook_endpoint import ENDPOINT_COMMANDS, WebhookEndpoint, endpoint_id
from projections.base import Projection
from projections.canned_responses import canned_responses
from projections.change_calendar import change_calendar
from projections.change_details import change_details
from projections.configuration_items import configuration_items
from projections.directory import broadcast_lists, directory_groups, directory_people
from projections.documents import document_register
from projections.improvements import improvement_register
from projections.inbound_mail import inbound_mail
from projections.incident_details import incident_details
from projections.internal_audits import audit_programme
from projections.issued_reports import issued_reports
from projections.knowledge import knowledge_articles
from projections.legal_holds import legal_holds
from projections.nonconformities import nonconformity_register
from projections.notifications import notifications
from projections.problems import problem_details
from projections.saved_filters import saved_filters
from projections.service_requests import catalogue_items, service_request_details
from projections.suppliers import suppliers
from projections.webhook_endpoints import webhook_endpoints


@dataclass(frozen=True, slots=True)
class SlaAdapter:
    """How a kind's records run SLA clocks: its name in the clock views, the ticket its events
    make (domain/sla_clock.py), and the command that records passed warnings and breaches."""

    name: str
    ticket: Callable[[Iterable[DomainEvent]], Ticket]
    record_alerts: Callable[[list[SlaAlert]], Any]


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    aggregate: type[Aggregate]
    #: The words an answer names a record of this kind with ("no service request REQ-000042"):
    #: by default its name in words.
    noun: str = ""
    not_found: type[NotFound] = RecordNotFound
    #: The number prefix (INC, REQ, PRB, CHG), for numbered kinds; else records go by a code.
    prefix: str | None = None
    #: The id of a record known by a code (a configuration item, a catalogue item, a template).
    coded: Callable[[str], UUID] | None = None
    #: Where its resources live, under /api/v1.
    path: str = ""
    #: The reach rule: the field (of its rows and first event) naming whose own record it is.
    owner: str | None = None
    #: The view a write on it is answered with, keyed by the record's id.
    detail: Projection | None = None
    commands: Mapping[str, type[Any]] = field(default_factory=dict)
    sla: SlaAdapter | None = None

    def __post_init__(self) -> None:
        if not self.noun:
            object.__setattr__(self, "noun", self.name.replace("_", " "))

    def missing(self, ref: object, record_id: UUID | None = None) -> NotFound:
        """The error a missing record (or one out of the caller's reach) is answered with."""
        return self.not_found(f"no {self.noun} {ref}", record_id)


def numbered(
    kind: RecordKind,
    aggregate: type[Aggregate],
    path: str,
    detail: Projection,
    commands: Mapping[str, type[Any]],
    **more: Any,
) -> Kind:
    """A kind whose records go by a number with its prefix (PRB-000001), named after it."""
    return Kind(
        kind.name.lower(),
        aggregate,
        prefix=kind.value,
        path=path,
        detail=detail,
        commands=commands,
        **more,
    )


def with_files(commands: Mapping[str, type[Any]]) -> dict[str, type[Any]]:
    """A kind's commands and the attachment commands (domain/attachments.py): the one
    declaration of attaching and removing files, shared by every kind that takes them."""
    return {**commands, **ATTACHMENT_COMMANDS}


INCIDENT = Kind(
    "incident",
    Incident,
    not_found=IncidentNotFound,
    prefix=INCIDENT_PREFIX,
    path="/incidents",
    owner="caller",
    detail=incident_details,
    commands=with_files(incident_commands.INCIDENT_COMMANDS),
    sla=SlaAdapter(
        sla_incident.KIND,
        sla_incident.ticket,
        lambda alerts: incident_commands.RecordSlaAlerts(alerts=alerts),
    ),
)
SERVICE_REQUEST = numbered(
    RecordKind.SERVICE_REQUEST,
    ServiceRequest,
    "/service-requests",
    service_request_details,
    with_files(request_commands.REQUEST_COMMANDS),
    owner="requester",
    sla=SlaAdapter(
        sla_request.KIND,
        sla_request.ticket,
        lambda alerts: request_commands.RecordSlaAlerts(alerts=alerts),
    ),
)
PROBLEM = numbered(
    RecordKind.PROBLEM, Problem, "/problems", problem_details, with_files(PROBLEM_COMMANDS)
)
CHANGE = numbered(
    RecordKind.CHANGE, Change, "/changes", change_details, with_files(CHANGE_COMMANDS)
)
CONFIGURATION_ITEM = Kind(
    "configuration_item",
    ConfigurationItem,
    coded=ci_id,
    path="/configuration-items",
    detail=configuration_items,
)
CATALOGUE_ITEM = Kind(
    "catalogue_item",
    CatalogueItem,
    coded=catalogue_item_id,
    path="/catalogue-items",
    detail=catalogue_items,
)
CHANGE_TEMPLATE = Kind(
    "change_template",
    ChangeTemplate,
    coded=template_id,
    path="/change-templates",
)
KNOWLEDGE_ARTICLE = numbered(
    RecordKind.KNOWLEDGE_ARTICLE,
    KnowledgeArticle,
    "/knowledge-articles",
    knowledge_articles,
    ARTICLE_COMMANDS,
)
#: The improvement register (domain/improvement.py): the staff's, by organisation.
IMPROVEMENT = numbered(
    RecordKind.IMPROVEMENT,
    Improvement,
    "/improvements",
    improvement_register,
    IMPROVEMENT_COMMANDS,
)
#: The internal audit programme (domain/internal_audit.py) and nonconformities with their
#: corrective actions (domain/nonconformity.py): the staff's, by organisation.
INTERNAL_AUDIT = numbered(
    RecordKind.INTERNAL_AUDIT,
    InternalAudit,
    "/internal-audits",
    audit_programme,
    INTERNAL_AUDIT_COMMANDS,
    noun="internal audit",
)
NONCONFORMITY = numbered(
    RecordKind.NONCONFORMITY,
    Nonconformity,
    "/nonconformities",
    nonconformity_register,
    NONCONFORMITY_COMMANDS,
)
#: The register of controlled documents (domain/document.py): the office's, of no organisation.
DOCUMENT = numbered(
    RecordKind.DOCUMENT,
    Document,
    "/documents",
    document_register,
    with_files(DOCUMENT_COMMANDS),
)
#: Service reports as issued to management, and the decisions taken from them
#: (domain/issued_report.py), by code (`2026-03-incidents`).
ISSUED_REPORT = Kind(
    "issued_report",
    IssuedReport,
    coded=issued_report_id,
    path="/issued-reports",
    detail=issued_reports,
    commands=ISSUED_REPORT_COMMANDS,
)
#: Suppliers and their contracts (domain/supplier.py), by code.
SUPPLIER = Kind(
    "supplier",
    Supplier,
    coded=supplier_id,
    path="/suppliers",
    detail=suppliers,
    commands=SUPPLIER_COMMANDS,
)
CHANGE_SCHEDULE = Kind(
    "change_schedule",
    ChangeSchedule,
    coded=lambda _: SCHEDULE_ID,
    path="/changes/calendar",
    detail=change_calendar,
)

# -- the directory: people by actor id, groups and broadcast lists by code ----------------------
PERSON = Kind(
    "person",
    Person,
    not_found=PersonNotFound,
    coded=person_id,
    path="/directory/people",
    detail=directory_people,
    commands=PERSON_COMMANDS,
)
GROUP = Kind(
    "group",
    Group,
    not_found=GroupNotFound,
    coded=group_id,
    path="/directory/groups",
    detail=directory_groups,
    commands=GROUP_COMMANDS,
)
BROADCAST_LIST = Kind(
    "broadcast_list",
    BroadcastList,
    not_found=BroadcastListNotFound,
    coded=broadcast_list_id,
    path="/directory/broadcast-lists",
    detail=broadcast_lists,
    commands=LIST_COMMANDS,
)

#: Who was told what, and whether it reached them (domain/notification.py).
NOTIFICATION = Kind(
    "notification",
    Notification,
    path="/notifications",
    detail=notifications,
    commands=NOTIFICATION_COMMANDS,
)


# -- the helpdesk's careful words (domain/canned_response.py), by code --------------------------
CANNED_RESPONSE = Kind(
    "canned_response",
    CannedResponse,
    coded=canned_response_id,
    path="/canned-responses",
    detail=canned_responses,
    commands=CANNED_RESPONSE_COMMANDS,
)


# -- where the signed webhooks go (domain/webhook_endpoint.py), by code -------------------------
WEBHOOK_ENDPOINT = Kind(
    "webhook_endpoint",
    WebhookEndpoint,
    coded=endpoint_id,
    path="/webhook-endpoints",
    detail=webhook_endpoints,
    commands=ENDPOINT_COMMANDS,
)
#: What became of each message the helpdesk mailbox received (domain/inbound_mail.py): a
#: record of its own, written with the change the message made. Its id derives from the
#: Message-ID; admins and auditors read the list (api/inbound_mail.py).
INBOUND_MAIL = Kind("inbound_mail", InboundMail, path="/inbound-mail", detail=inbound_mail)
#: The holds on each held record (domain/legal_hold.py), keyed by the record's id.
LEGAL_HOLD = Kind("legal_hold", LegalHold, path="/legal-holds", detail=legal_holds)
#: Who was handed what (domain/disclosure.py): one event each, read with the audit history.
DISCLOSURE = Kind("disclosure", Disclosure, path="/audit/events")
#: The queues people keep (domain/saved_filter.py), by id; kept by their owner alone.
SAVED_FILTER = Kind(
    "saved_filter",
    SavedFilter,
    path="/saved-filters",
    detail=saved_filters,
    commands=FILTER_COMMANDS,
)


# -- the rules of record: versioned, of no organisation, one matrix and one policy -------------
def single(name: str, aggregate: type[Aggregate], record_id: UUID, path: str, **more: Any) -> Kind:
    """A kind of one record, whatever code a caller names it by."""
    return Kind(name, aggregate, not_found=NotFound, coded=lambda _: record_id, path=path, **more)


PRIORITY_MATRIX = single("priority_matrix", PriorityMatrix, PriorityMatrix.ID, "/priority-matrix")
SLA_POLICY = single("sla_policy", SlaPolicy, SlaPolicy.ID, "/sla/policy", noun="SLA policy")
CHANGE_POLICY = single("change_policy", ChangePolicy, ChangePolicy.ID, "/change-policy")
SERVICE_CATALOGUE = single(
    "service_catalogue", ServiceCatalogue, ServiceCatalogue.ID, "/service-catalogue"
)
AUDIT_SCHEDULE = single(
    "audit_schedule", AuditSchedule, AuditSchedule.ID, "/internal-audits/schedule"
)
MAJOR_INCIDENT_CRITERIA = single(
    "major_incident_criteria",
    MajorIncidentCriteria,
    MajorIncidentCriteria.ID,
    "/major-incident-criteria",
    noun="major-incident criteria",
)
BUSINESS_CALENDAR = Kind(
    "business_calendar",
    BusinessCalendar,
    not_found=CalendarNotFound,
    coded=calendar_id,
    path="/sla/calendars",
)

#: Every kind of record, by name. A new kind is one more line here.
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        INCIDENT,
        SERVICE_REQUEST,
        PROBLEM,
        CHANGE,
        CONFIGURATION_ITEM,
        CATALOGUE_ITEM,
        CHANGE_TEMPLATE,
        CHANGE_SCHEDULE,
        KNOWLEDGE_ARTICLE,
        IMPROVEMENT,
        INTERNAL_AUDIT,
        NONCONFORMITY,
        DOCUMENT,
        ISSUED_REPORT,
        SUPPLIER,
        PERSON,
        GROUP,
        BROADCAST_LIST,
        NOTIFICATION,
        WEBHOOK_ENDPOINT,
        CANNED_RESPONSE,
        INBOUND_MAIL,
        SAVED_FILTER,
        PRIORITY_MATRIX,
        SLA_POLICY,
        CHANGE_POLICY,
        BUSINESS_CALENDAR,
        SERVICE_CATALOGUE,
        AUDIT_SCHEDULE,
        DISCLOSURE,
        LEGAL_HOLD,
        MAJOR_INCIDENT_CRITERIA,
    )
}
#: The kinds whose records take files (domain/attachments.py), by name.
ATTACHABLE = (INCIDENT, SERVICE_REQUEST, PROBLEM, CHANGE, DOCUMENT)
#: The numbered kinds, by their number prefix.
KINDS_BY_PREFIX: dict[str, Kind] = {k.prefix: k for k in KINDS.values() if k.prefix is not None}
_BY_AGGREGATE = {kind.aggregate: kind for kind in KINDS.values()}
_BY_SLA_NAME = {kind.sla.name: kind for kind in KINDS.values() if kind.sla is not None}


def kind_of(aggregate: type[Aggregate]) -> Kind:
    return _BY_AGGREGATE[aggregate]


def sla_kind(name: str) -> Kind:
    """The kind whose SLA clocks are named `name` in the clock views."""
    return _BY_SLA_NAME[name]


def aggregates() -> tuple[type[Aggregate], ...]:
    """Every aggregate a record may be, to find a record by id alone."""
    return tuple(_BY_AGGREGATE)
