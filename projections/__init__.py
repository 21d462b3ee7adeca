"""Read models built from the event store. Each is a pure fold; see projections.base."""

from projections.attachments import attachments
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
from projections.open_work import open_work_by_group
from projections.problems import incident_occurrences, known_errors, problem_details
from projections.saved_filters import saved_filters
from projections.search_index import search_index
from projections.service_requests import catalogue_items, service_request_details
from projections.sla_clocks import sla_clocks
from projections.suppliers import suppliers
from projections.webhook_endpoints import webhook_endpoints

PROJECTIONS: tuple[Projection, ...] = (
    incident_details,
    open_work_by_group,
    sla_clocks,
    configuration_items,
    change_details,
    change_calendar,
    # service requests, problems
    catalogue_items,
    service_request_details,
    problem_details,
    known_errors,
    incident_occurrences,
    knowledge_articles,
    # the improvement register
    improvement_register,
    # internal audits and nonconformities
    audit_programme,
    nonconformity_register,
    # the register of controlled documents
    document_register,
    # service reports as issued, and the decisions taken from them
    issued_reports,
    # suppliers and their contracts
    suppliers,
    # legal holds on records
    legal_holds,
    # the directory
    directory_people,
    directory_groups,
    broadcast_lists,
    notifications,
    # where webhooks go
    webhook_endpoints,
    # e-mail in
    inbound_mail,
    # the helpdesk's replies
    canned_responses,
    # the files on records
    attachments,
    # the queues people keep
    saved_filters,
    # full-text search over the records people look for
    search_index,
)
BY_NAME: dict[str, Projection] = {p.name: p for p in PROJECTIONS}

__all__ = [
    "BY_NAME",
    "PROJECTIONS",
    "Projection",
    "attachments",
    "audit_programme",
    "catalogue_items",
    "change_calendar",
    "change_details",
    "configuration_items",
    "document_register",
    "improvement_register",
    "inbound_mail",
    "incident_details",
    "incident_occurrences",
    "issued_reports",
    "knowledge_articles",
    "known_errors",
    "legal_holds",
    "nonconformity_register",
    "open_work_by_group",
    "problem_details",
    "saved_filters",
    "search_index",
    "service_request_details",
    "sla_clocks",
    "suppliers",
    "webhook_endpoints",
]
