"""What a caller may read of a record, decided here once for every event type.

A caller (a requester: the library staff member or member who reported an incident or asked for
a service) reads their own records: over the API today, by e-mail and on the portal later. They
read what was said to them (public comments, the resolution, the questions about their request),
never what staff wrote for staff (work notes, notes on a hold or a fulfilment step, an approver's
comment, the reasons behind an escalation). Staff roles read everything.

Each stored event type has an `Audience` in `AUDIENCES`:

- `STAFF`: only staff read the event at all (a work note);
- `caller(*says)`: the caller reads the event; of its free-text fields (`free_text`), those named
  in `says` are addressed to them, and the others are withheld (they read as null).

Some records are not the staff's either: who may use the API, as the record of its tokens says
(domain/api_token.py). Their events are `ACCESS`: read by admins and auditors only
(`READS_ACCESS`), and the digest of a token's secret by auditors only (`READS_DIGESTS`), whatever
road the events take to a reader (`for_reader`).

Both gaps fail closed: an event type missing from the table is staff-only, and a free-text field
not named in `says` is withheld. So a new note-like event, or a note added to an existing event,
cannot reach a caller by default; tests/unit/test_visibility.py fails until it is classified.

Every answer meant for a caller reads the record through `for_caller`: the views fold those events
again (api/scoping.py), the history lists them, time travel replays them.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Union, get_args, get_origin

from domain import (
    api_token,
    audit_key,
    audit_schedule,
    calendar,
    canned_response,
    change,
    change_policy,
    change_schedule,
    configuration_item,
    directory,
    disclosure,
    document,
    improvement,
    inbound_mail,
    internal_audit,
    issued_report,
    legal_hold,
    major_incident,
    nonconformity,
    notification,
    priority,
    problem,
    record_numbers,
    records,
    saved_filter,
    service_catalogue,
    sla,
    supplier,
    webhook_endpoint,
)
from domain import incident as i
from domain import knowledge as k
from domain import service_request as r
from domain.actors import Role
from domain.events import DomainEvent

#: Text longer than a name or a code (domain Name fields hold at most 200 characters) is what
#: people write to each other: a note, a comment, a reason, a description.
LONGEST_NAME = 200

#: The roles that read internal events and fields: the service's staff, its auditors and the
#: service itself. Named one by one, so that a new role reads as a caller until it is added.
READS_INTERNAL = frozenset(
    {
        Role.AGENT,
        Role.RESOLVER,
        Role.CHANGE_MANAGER,
        Role.CAB_MEMBER,
        Role.SERVICE_MANAGER,
        Role.AUDITOR,
        Role.ADMIN,
        Role.SYSTEM,
    }
)

#: The roles that read the record of who may use the API (ACCESS events): whoever grants access,
#: and whoever audits it. Other staff read it only as it decides what they may do.
READS_ACCESS = frozenset({Role.ADMIN, Role.AUDITOR, Role.SYSTEM})
#: The roles that read a token secret's digest: the auditors (and the service).
READS_DIGESTS = frozenset({Role.AUDITOR, Role.SYSTEM})


@dataclass(frozen=True, slots=True)
class Audience:
    """Who reads an event: staff only, or the caller too (staff read every event but ACCESS)."""

    caller: bool
    #: Of a caller's event, the free-text fields addressed to the caller.
    says: frozenset[str] = frozenset()
    #: Every staff role reads the event; False: only READS_ACCESS do.
    staff: bool = True
    #: Fields only READS_DIGESTS read (they read as null to everyone else).
    auditors_only: frozenset[str] = frozenset()


STAFF = Audience(caller=False)
#: Who may use the API: admins and auditors read it, auditors alone the digest of a secret.
ACCESS = Audience(caller=False, staff=False, auditors_only=frozenset({"secret_sha256"}))


def caller(*says: str) -> Audience:
    """The caller reads the event, and of its free text, the fields named."""
    return Audience(caller=True, says=frozenset(says))


AUDIENCES: Mapping[type[DomainEvent], Audience] = {
    # -- incidents: the caller follows their incident's life and reads what is said to them
    i.Logged: caller("description"),
    i.Assigned: caller(),
    i.WorkStarted: caller(),
    i.PutOnHold: caller("supplier"),  # the reason and the supplier awaited, not the note
    i.Resumed: caller(),  # not the note
    i.WorkNoteAdded: STAFF,
    i.CommentAdded: caller("text"),
    i.Reprioritised: caller(),  # the new priority, not the reason
    i.Recategorised: caller(),  # the new service and category, not the reason
    i.Escalated: caller(),  # where it went, not why
    i.MajorIncidentDeclared: caller(),
    i.MajorIncidentStoodDown: caller(),
    i.MajorIncidentProposed: STAFF,  # the staff decide whether to declare it
    i.MajorIncidentReviewed: STAFF,  # what went well and badly: the staff's lessons
    i.Resolved: caller("notes"),  # the caller confirms or reopens on them
    i.Reopened: caller("reason"),  # the caller's own words, or said for them
    i.Closed: caller(),
    i.Cancelled: caller(),  # the reason (duplicate, logged in error), not the note
    i.SlaWarned: caller(),
    i.SlaBreached: caller(),
    i.LinkedToProblem: caller(),
    i.LinkedToChange: caller(),
    i.WorkaroundShared: STAFF,  # for the people working the incident, who may pass it on
    i.ChildLinked: STAFF,  # the children are other callers' reports
    i.LinkedToParent: caller(),  # their report is one of a larger outage
    i.UnlinkedFromParent: caller(),  # their report is on its own again, not why
    i.ChildUnlinked: STAFF,  # names another caller's report
    i.ParentResolved: caller(),  # why their incident was resolved
    i.DuplicateMerged: STAFF,  # names another caller
    i.Rated: caller("comment"),  # the caller's own words: theirs and the staff's to read
    # -- service requests: the requester follows their request and answers its questions
    r.CatalogueItemDefined: caller("description"),  # the catalogue is published
    r.ArticleLinked: caller(),  # the instructions a request follows are published too
    r.ArticleUnlinked: caller("reason"),  # as is why an article no longer applies
    r.Submitted: caller("details"),
    r.ApprovalRequested: caller(),
    r.ApprovalGiven: caller(),  # who approved, not their comment
    r.Approved: caller(),
    r.Rejected: caller("reason"),  # the requester must know why
    r.FulfilmentStarted: caller(),
    r.StepCompleted: caller(),  # which step is done, not the fulfiller's note
    r.InformationRequested: caller("question"),
    r.RequesterResponded: caller("answer"),
    r.Fulfilled: caller("notes"),
    r.Closed: caller(),
    r.Cancelled: caller("reason"),
    r.Rated: caller("comment"),  # the requester's own words: theirs and the staff's to read
    r.SlaWarned: caller(),
    r.SlaBreached: caller(),
    # -- problems and changes are the staff's records: a requester reaches none of them
    problem.Logged: STAFF,
    problem.InvestigationStarted: STAFF,
    problem.RootCauseRecorded: STAFF,
    problem.WorkaroundPublished: STAFF,
    problem.KnownErrorPublished: STAFF,
    problem.Resolved: STAFF,
    problem.Closed: STAFF,
    problem.Cancelled: STAFF,
    problem.IncidentLinked: STAFF,
    problem.ChangeLinked: STAFF,
    problem.ConfigurationItemLinked: STAFF,
    problem.Reprioritised: STAFF,
    problem.Escalated: STAFF,
    problem.WorkNoteAdded: STAFF,  # as an incident's work notes: never a caller's
    problem.ActionTaken: STAFF,
    problem.PotentialActionDecided: STAFF,
    change.Raised: STAFF,
    change.PreAuthorised: STAFF,
    change.BackoutPlanRecorded: STAFF,
    change.Assessed: STAFF,
    change.TestsPlanned: STAFF,
    change.RoutedToDesignAndTransition: STAFF,
    change.DesignAccepted: STAFF,
    change.TestRecorded: STAFF,
    change.Approved: STAFF,
    change.Authorised: STAFF,
    change.Rejected: STAFF,
    change.Scheduled: STAFF,
    change.ImplementationStarted: STAFF,
    change.Implemented: STAFF,
    change.ReviewTaskOpened: STAFF,
    change.Reviewed: STAFF,
    change.Closed: STAFF,
    change.Cancelled: STAFF,
    change.ProblemLinked: STAFF,
    change.IncidentLinked: STAFF,
    # the standard change templates and the calendar of windows are published
    change.TemplateDefined: caller("description", "backout_plan"),
    change_schedule.WindowBooked: caller(),  # not an override's reason
    change_schedule.WindowReleased: caller(),
    change_schedule.BlackoutDeclared: caller("reason"),
    change_schedule.BlackoutWithdrawn: caller("reason"),
    # -- configuration items: a requester reads them (what depends on what, and its changes)
    configuration_item.Registered: caller("description"),
    configuration_item.StatusChanged: caller(),
    configuration_item.OwnerChanged: caller(),
    configuration_item.DependencyAdded: caller(),
    configuration_item.DependencyRemoved: caller(),
    configuration_item.DependantAdded: caller(),
    configuration_item.DependantRemoved: caller(),
    configuration_item.ProblemLinked: caller(),
    configuration_item.ChangeLinked: caller(),
    configuration_item.Verified: caller("note"),  # what was found, as the staff read it
    configuration_item.DiscrepancyCorrected: caller("note"),  # and which change put it right
    # -- knowledge articles: everyone reads a published article (api/knowledge.py says which);
    # its review and the problems it explains are the staff's
    k.Drafted: caller("body"),
    k.Revised: caller("body"),
    k.SubmittedForReview: caller(),
    k.ChangesRequested: STAFF,
    k.Published: caller(),
    k.Retired: caller("reason"),
    k.ProblemLinked: STAFF,
    # -- the rules are published (the reasons for a revision are the staff's)
    sla.PolicyDefined: caller(),
    sla.PolicyRevised: caller(),
    calendar.CalendarDefined: caller(),
    calendar.HolidaysAmended: caller(),
    calendar.HoursRevised: caller(),
    audit_schedule.ScheduleDefined: STAFF,  # the audit programme is the staff's to plan
    audit_schedule.ScheduleRevised: STAFF,
    change_policy.PolicyDefined: caller(),
    change_policy.PolicyRevised: caller(),  # the terms, not the reason
    priority.MatrixDefined: caller(),
    priority.MatrixRevised: caller(),
    major_incident.CriteriaDefined: caller(),
    major_incident.CriteriaRevised: caller(),
    service_catalogue.CatalogueDefined: caller(),
    service_catalogue.CatalogueRevised: caller(),
    # -- the service's own bookkeeping
    records.NumberAllocated: STAFF,
    records.IdempotencyKeyRecorded: STAFF,
    record_numbers.RecordNumberAllocated: STAFF,
    # -- the keys that sign the audit ledger: the auditors' and the admins', not a caller's
    audit_key.Introduced: STAFF,
    audit_key.Rotated: STAFF,
    # -- who may use the API: the tokens' record (issue 18)
    api_token.Issued: ACCESS,
    legal_hold.HoldPlaced: STAFF,  # a matter the office keeps to itself
    legal_hold.HoldReleased: STAFF,
    disclosure.Recorded: ACCESS,  # who was handed what: the auditors' and admins' record
    api_token.Imported: ACCESS,
    api_token.Revoked: ACCESS,
    api_token.TablesImported: ACCESS,
    # -- the directory: a person reads their own entry (their reach is theirs alone), but not
    # why it was deactivated; the groups' make-up and the broadcast lists are the staff's
    **dict.fromkeys(directory.PersonEvent.__subclasses__(), caller()),
    **dict.fromkeys(
        (
            *directory.GroupEvent.__subclasses__(),
            *directory.BroadcastListEvent.__subclasses__(),
            directory.GroupMemberAdded,
            directory.GroupMemberRemoved,
            directory.ListMemberAdded,
            directory.ListMemberRemoved,
        ),
        STAFF,
    ),
    # -- notifications: who was told what is the staff's and the auditors' record
    **dict.fromkeys(notification.NotificationEvent.__subclasses__(), STAFF),
    # -- where webhooks go: the URLs (and which secret signs) are the admins' business; an
    # endpoint's record never holds its secret, only the fingerprint
    **dict.fromkeys(webhook_endpoint.WebhookEndpointEvent.__subclasses__(), STAFF),
    # -- saved filters: the staff's own queues
    **dict.fromkeys(saved_filter.SavedFilterEvent.__subclasses__(), STAFF),
    # -- inbound mail: what became of each message (people's words, their addresses): staff's
    **dict.fromkeys(inbound_mail.InboundMailEvent.__subclasses__(), STAFF),
    # -- the improvement register: the staff's (a follow-up of a low rating quotes the comment
    # to the staff, who read it on the rated record anyway)
    **dict.fromkeys(improvement.ImprovementEvent.__subclasses__(), STAFF),
    # -- internal audits and nonconformities: the staff's (auditors, managers and the owners of
    # corrective actions); findings name records and people's work
    **dict.fromkeys(internal_audit.AuditEvent.__subclasses__(), STAFF),
    **dict.fromkeys(nonconformity.NonconformityEvent.__subclasses__(), STAFF),
    # -- controlled documents: a requester reads the published documents of the customer kinds
    # (projections/documents.py says which); of their making, what was decided, not the staff's
    # notes, why a version was returned, or the files before the routes serve them
    document.Registered: caller(),
    document.VersionDrafted: caller(),
    document.ContentSet: caller(),
    document.SubmittedForApproval: caller(),
    document.Approved: caller(),
    document.Returned: STAFF,
    document.Published: caller(),
    document.Reviewed: caller(),
    document.ReviewDueNoticed: caller(),  # the owner is told (a date and a version, no words)
    document.Withdrawn: caller("reason"),
    document.VersionDisposed: caller(),
    document.AttachmentAdded: STAFF,
    document.InternalAttachmentAdded: STAFF,
    document.AttachmentRemoved: STAFF,
    # -- issued service reports and the decisions taken from them: management's
    **dict.fromkeys(issued_report.IssuedReportEvent.__subclasses__(), STAFF),
    # -- suppliers and their contracts: the staff's (a caller reads which supplier a hold awaits)
    **dict.fromkeys(supplier.SupplierEvent.__subclasses__(), STAFF),
    # -- canned responses: the helpdesk's tools (what a caller reads of one is the comment)
    **dict.fromkeys(canned_response.CannedResponseEvent.__subclasses__(), STAFF),
    # -- attachments (domain/attachments.py): a caller reads the files on their own incident or
    # request; a file for the staff (with a work note), and why one was removed, are the staff's
    i.AttachmentAdded: caller(),
    r.AttachmentAdded: caller(),
    **dict.fromkeys(
        (
            i.InternalAttachmentAdded,
            i.AttachmentRemoved,
            r.InternalAttachmentAdded,
            r.AttachmentRemoved,
            problem.AttachmentAdded,
            problem.InternalAttachmentAdded,
            problem.AttachmentRemoved,
            change.AttachmentAdded,
            change.InternalAttachmentAdded,
            change.AttachmentRemoved,
        ),
        STAFF,
    ),
}


def audience(event_type: type[DomainEvent]) -> Audience:
    """Who reads events of this type; staff only when the table does not say."""
    return AUDIENCES.get(event_type, STAFF)


def reads_internal(role: Role) -> bool:
    """Whether a reader of this role reads staff-only events and fields (every other role reads
    as a caller)."""
    return role in READS_INTERNAL


@cache
def free_text(event_type: type[DomainEvent]) -> frozenset[str]:
    """The fields of an event type that hold what people write: text (or optional text) longer
    than a name may be, or unbounded."""
    found = set()
    for name, field in event_type.model_fields.items():
        if not _is_text(field.annotation):
            continue
        longest = [m.max_length for m in field.metadata if getattr(m, "max_length", None)]
        if not longest or max(longest) > LONGEST_NAME:
            found.add(name)
    return frozenset(found)


def _is_text(annotation: object) -> bool:
    if annotation is str:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return set(get_args(annotation)) == {str, type(None)}
    return False


@cache
def withheld(event_type: type[DomainEvent]) -> frozenset[str]:
    """The free-text fields of a caller's event that the caller does not read."""
    return free_text(event_type) - audience(event_type).says


def for_caller(events: Iterable[DomainEvent]) -> list[DomainEvent]:
    """The events a caller reads, as they read them: staff-only events left out, withheld
    fields null. (The rest is untouched, so the views fold them as they fold every event.)"""
    seen = []
    for event in events:
        event_type = type(event)
        if not audience(event_type).caller:
            continue
        hidden = withheld(event_type)
        seen.append(event.model_copy(update=dict.fromkeys(hidden)) if hidden else event)
    return seen


def hidden_from(role: Role, event_type: type[DomainEvent]) -> frozenset[str] | None:
    """What a reader of this role does not read of an event of this type: None, the whole
    event; else the fields that read as null to them (for a caller, `for_caller` says)."""
    seen = audience(event_type)
    if not reads_internal(role):
        return withheld(event_type) if seen.caller else None
    if not seen.staff and role not in READS_ACCESS:
        return None
    return frozenset() if role in READS_DIGESTS else seen.auditors_only


def for_reader(role: Role, events: Iterable[DomainEvent]) -> list[DomainEvent]:
    """The events a reader of this role reads, as they read them: a caller as `for_caller`
    says, staff every event but the ones they do not read whole (ACCESS)."""
    if not reads_internal(role):
        return for_caller(events)
    seen = []
    for event in events:
        hidden = hidden_from(role, type(event))
        if hidden is None:
            continue
        seen.append(event.model_copy(update=dict.fromkeys(hidden)) if hidden else event)
    return seen


def hides_nothing(event_types: Iterable[type[DomainEvent]]) -> bool:
    """Whether a caller reads every one of these event types whole: then a view folded from them
    is the caller's as stored."""
    return all(audience(t).caller and not withheld(t) for t in event_types)
