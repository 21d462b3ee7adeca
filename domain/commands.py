"""Commands on incidents: what a client may ask, validated before any rule runs.

Each command is a pydantic model, so the same definition is the API's request body (and its
OpenAPI schema) and the domain's input. `action` is the path segment of
POST /api/v1/incidents/{id}/{action}; `execute` calls the one aggregate method it is named after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from domain import canned_response as canned
from domain import directory, links
from domain.command_base import ActionCommand, Command, by_action
from domain.context import Context
from domain.errors import DuplicateNotFound, NotFound
from domain.examples import example
from domain.fields import (
    Description,
    Name,
    Note,
    OptionalName,
    OptionalReason,
    Reason,
    Reasoned,
    Text,
    record_ref,
)
from domain.improvement import Improvement, SourceKind, SourceRecord, open_follow_up
from domain.incident import (
    CancelReason,
    Channel,
    Escalation,
    HoldReason,
    Incident,
    MajorIncidentReview,
    ResolutionCode,
    SlaAlert,
    cancellation_checked,
)
from domain.major_incident import MajorIncidentCriteria
from domain.organisations import RequestedOrganisation
from domain.priority import Impact, PriorityMatrix, Urgency
from domain.record_numbers import RecordKind
from domain.records import INCIDENT_PREFIX, incident_number_label
from domain.satisfaction import Rating, is_low
from domain.service_catalogue import CODE_PATTERN, OptionalCode
from domain.session import Session
from domain.supplier import CODE_PATTERN as SUPPLIER_CODE
from domain.supplier import awaited

#: The command types every kind's commands are made of, defined in domain/command_base.py (the
#: directory's commands need them without these) and imported from here as they always were.
__all__ = ["ActionCommand", "Command", "by_action"]


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules of record a command is judged by, supplied by the application."""

    matrix: PriorityMatrix
    reopen_window: timedelta
    #: Another incident a command names (a cancel's original), as stored; None if none is.
    find_incident: Callable[[UUID], Incident | None]
    #: The major-incident criteria in force (domain/major_incident.py); None before they are
    #: defined.
    major_incident_criteria: MajorIncidentCriteria | None = None


# -- an approver's decision, on a change (a CAB member) or a service request (its approver) ------
# Mixed in first: `class Approve(Approval, ChangeCommand)`.


class Approval(BaseModel):
    """An approver's yes, with a comment if they have one."""

    model_config = example({"comment": "Agreed: worth doing now."})

    comment: str | None = OptionalReason


class Rejection(Reasoned):
    """An approver's no, and why."""

    model_config = example({"reason": "Not now: the budget for this year is spent."})


class LogIncident(Command):
    model_config = example(
        {
            "title": "Self-check kiosk 3 at Serang branch is offline",
            "service": "kiosks-gates",
            "category": "kiosk",
            "subcategory": "offline",
            "configuration_item": "kiosk-dpk-01",
            "caller": "budi.santoso",
            "channel": "phone",
            "impact": "medium",
            "urgency": "high",
        }
    )

    title: str = Name
    description: str = Description
    service: str = Field(
        pattern=CODE_PATTERN,
        min_length=1,
        max_length=40,
        description="the service, by its code in the service catalogue (GET /service-catalogue)",
    )
    category: str | None = OptionalCode
    subcategory: str | None = OptionalCode
    configuration_item: str | None = OptionalName
    caller: str = Name
    channel: Channel = Channel.PORTAL
    impact: Impact
    urgency: Urgency
    assignment_group: str | None = Field(
        default=None, min_length=1, max_length=200, description="assign at once, if given"
    )
    agent: str | None = OptionalName
    organisation: str | None = RequestedOrganisation

    def decide(self, session: Session, ctx: Context) -> UUID:
        """A new incident, numbered, classified by the service catalogue, judged by the matrix
        and SLA rules in force now (for ever: docs/sla.md), and assigned at once if a group is
        given."""
        catalogue = session.service_catalogue()
        classification = catalogue.classified(self.service, self.category, self.subcategory)
        incident_id = session.new_id()
        organisation = ctx.organisation_for(self.organisation)
        incident = Incident.log(
            ctx,
            id=incident_id,
            number=session.allocate(INCIDENT_PREFIX, incident_id),
            title=self.title,
            description=self.description,
            service=self.service,
            configuration_item=self.configuration_item,
            caller=self.caller,
            channel=self.channel,
            impact=self.impact,
            urgency=self.urgency,
            matrix=session.rules.matrix,
            sla=session.sla_rules_for(self.service, organisation),
            organisation=organisation,
            classification=classification,
            catalogue_version=catalogue.version,
        )
        if self.assignment_group:
            directory.assignable(session, self.assignment_group, self.agent, "assign")
            incident.assign(ctx, group=self.assignment_group, agent=self.agent)
        session.add(incident)
        propose_major(session, ctx, incident)
        return incident_id


class IncidentCommand(ActionCommand):
    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        """Decide on the incident the command names, if the caller reaches it and the directory
        holds whom the command hands it to."""
        incident = session.get(Incident, incident_id)
        self.check_directory(session)
        self.execute(incident, ctx, session.rules)
        return incident_id

    def check_directory(self, session: Session) -> None:
        """Refuse a group or person the command hands the incident to that the directory does
        not hold, or holds as disbanded or deactivated (domain/directory.py); most name none."""

    def execute(self, incident: Incident, ctx: Context, rules: Rules) -> None:
        self.call_action(incident, ctx)


class Assign(IncidentCommand):
    model_config = example({"group": "kiosk-team", "agent": "siti.rahma"})

    action = "assign"
    summary = "Assign to a group, and optionally an agent (a member of the group)"
    group: str = Name
    agent: str | None = OptionalName

    def check_directory(self, session: Session) -> None:
        directory.assignable(session, self.group, self.agent, "assign")


class StartWork(IncidentCommand):
    model_config = example({})

    action = "start-work"
    summary = "Start work (the assigned agent, or the caller of this action)"


class PutOnHold(IncidentCommand):
    model_config = example(
        {"reason": "awaiting_caller", "note": "Asked for the kiosk's serial number"}
    )

    action = "put-on-hold"
    summary = "Put on hold, awaiting the caller, a supplier or a change"
    reason: HoldReason
    note: str | None = Note
    supplier: str | None = Field(
        default=None,
        pattern=SUPPLIER_CODE,
        max_length=40,
        description="awaiting this supplier (GET /api/v1/suppliers): its contract's clock runs",
    )

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        incident = session.get(Incident, incident_id)
        supplier = None if self.supplier is None else awaited(session, self.supplier)
        incident.put_on_hold(ctx, reason=self.reason, note=self.note, supplier=supplier)
        return incident_id


class Resume(IncidentCommand):
    model_config = example({"note": "The caller sent the serial number"})

    action = "resume"
    summary = "Resume work after a hold"
    note: str | None = Note


class AddWorkNote(IncidentCommand):
    model_config = example({"text": "Restarted the print spooler; watching for a recurrence."})

    action = "add-work-note"
    summary = "Add an internal work note"
    text: str = Text


class AddComment(IncidentCommand):
    model_config = example({"text": "The kiosk shows a blank screen again this morning."})

    action = "add-comment"
    summary = "Add a public comment, visible to the caller"
    text: str = Text


class ReplyWithCannedResponse(IncidentCommand):
    model_config = example({"response": "kartu-hilang"})

    action = "reply"
    summary = (
        "Add a canned response as a public comment, its placeholders filled from the incident,"
        " in the caller's language unless another is asked for"
    )
    response: str = canned.Code
    language: Literal["id", "en"] | None = None

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        incident = session.get(Incident, incident_id)
        response = canned.held(session, self.response)
        caller = session.find(directory.Person, directory.person_id(incident.caller))
        agent = session.find(directory.Person, directory.person_id(ctx.actor.id))
        language = self.language or (caller.language if caller is not None else "id")
        values = {
            "caller_name": caller.name if caller is not None else incident.caller,
            "number": incident_number_label(incident.number),
            "title": incident.title,
            "service": session.service_catalogue().name_of(incident.service, language),
            "agent_name": agent.name if agent is not None else ctx.actor.id,
        }
        text = canned.render(response.words(language), values)[:10_000]
        incident.add_comment(ctx, text=text)
        return incident_id


class Recategorise(IncidentCommand):
    model_config = example(
        {
            "service": "batupusaka",
            "category": "renewal",
            "subcategory": "refused",
            "reason": "The kiosk works; the renewal is refused by Batupusaka",
        }
    )

    action = "recategorise"
    summary = "Move to another service, category or subcategory of the catalogue, saying why"
    service: str = Field(pattern=CODE_PATTERN, min_length=1, max_length=40)
    category: str | None = OptionalCode
    subcategory: str | None = OptionalCode
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        incident = session.get(Incident, incident_id)
        catalogue = session.service_catalogue()
        to = catalogue.classified(self.service, self.category, self.subcategory)
        incident.recategorise(ctx, to=to, catalogue_version=catalogue.version, reason=self.reason)
        return incident_id


class Reprioritise(IncidentCommand):
    model_config = example(
        {"impact": "high", "urgency": "high", "reason": "Every kiosk in the branch is affected"}
    )

    action = "reprioritise"
    summary = "Change impact and urgency, with a reason; priority follows the matrix"
    impact: Impact
    urgency: Urgency
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        super().decide(session, ctx, incident_id)
        propose_major(session, ctx, session.get(Incident, incident_id))
        return incident_id

    def execute(self, incident: Incident, ctx: Context, rules: Rules) -> None:
        incident.reprioritise(
            ctx, impact=self.impact, urgency=self.urgency, reason=self.reason, matrix=rules.matrix
        )


class Escalate(Escalation, IncidentCommand):
    model_config = example(
        {"kind": "functional", "reason": "Needs the network team", "to_group": "network-team"}
    )

    action = "escalate"
    summary = "Escalate functionally (to a group) or hierarchically (to a manager)"

    def check_directory(self, session: Session) -> None:
        if self.to_group is not None:
            directory.assignable(session, self.to_group, None, "escalate")
        if self.to_manager is not None:
            directory.responsible(session, self.to_manager, "be escalated to")


class DeclareMajor(IncidentCommand):
    model_config = example(
        {"manager": "dewi.lestari", "reason": "Every branch's circulation is down"}
    )

    action = "declare-major"
    summary = "Declare a major incident under a named manager"
    manager: str = Name
    reason: str = Reason

    def check_directory(self, session: Session) -> None:
        directory.responsible(session, self.manager, "manage a major incident")


class StandDownMajor(Reasoned, IncidentCommand):
    model_config = example({"reason": "Circulation restored at every branch"})

    action = "stand-down-major"
    summary = "Stand down a major incident"


class ReviewMajor(MajorIncidentReview, IncidentCommand):
    model_config = example(
        {
            "timeline": "08:10 gates alarm at 5 branches; 08:25 declared major; 10:40 fixed",
            "went_well": "The broadcast list knew within 15 minutes",
            "went_badly": "Nobody on call knew the RFID server's password",
            "actions": ["Put the RFID server's credentials in the vault"],
            "problems": ["PRB-000004"],
            "improvements": ["IMP-000002"],
        }
    )

    action = "review-major"
    summary = (
        "Record the review of a resolved major incident (needed before it is closed):"
        " timeline, what went well and badly, actions, problems and improvements"
    )

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        incident = session.get(Incident, incident_id)
        for ref in self.problems:
            links.load_problem(session, ref)
        for ref in self.improvements:
            session.get(Improvement, session.find_numbered(RecordKind.IMPROVEMENT, ref), ref)
        self.call_action(incident, ctx)
        return incident_id


def propose_major(session: Session, ctx: Context, incident: Incident) -> None:
    """Propose the incident as a major incident if it meets the criteria in force
    (domain/major_incident.py); nothing before they are defined."""
    rule = session.rules.major_incident_criteria
    if rule is not None:
        incident.propose_major(ctx, rule=rule)


class ResolveIncident(IncidentCommand):
    model_config = example({"code": "fixed", "notes": "Replaced the network cable"})

    action = "resolve"
    summary = "Resolve with a resolution code and notes; opens the caller's reopen window"
    code: ResolutionCode
    notes: str = Text

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        """Resolve the incident, and with it each of its children still open (one write)."""
        incident = session.get(Incident, incident_id)
        self.execute(incident, ctx, session.rules)
        links.resolve_children(session, ctx, incident)
        return incident_id

    def execute(self, incident: Incident, ctx: Context, rules: Rules) -> None:
        incident.resolve(ctx, code=self.code, notes=self.notes, reopen_window=rules.reopen_window)


class ConfirmResolution(IncidentCommand):
    model_config = example({})

    action = "confirm"
    summary = "The caller confirms the resolution, which closes the incident"

    def execute(self, incident: Incident, ctx: Context, rules: Rules) -> None:
        incident.confirm_resolution(ctx)


class Reopen(Reasoned, IncidentCommand):
    model_config = example({"reason": "The kiosk is offline again"})

    action = "reopen"
    summary = "Reopen a resolved incident within the reopen window"


class Close(IncidentCommand):
    model_config = example({})

    action = "close"
    summary = "Close a resolved incident once the caller's window has passed"


class RateIncident(Rating, IncidentCommand):
    model_config = example({"score": 4, "comment": "Fixed the same morning, thank you"})

    action = "rating"
    summary = (
        "The caller rates their closed incident, once: a score of 1 to 5 and a comment (a"
        " score of 2 or less opens a follow-up in the improvement register)"
    )

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        """Rate the incident; a low rating also opens its follow-up, owned by the manager of
        the group that resolved it (one write)."""
        incident = session.get(Incident, incident_id)
        incident.rate(ctx, score=self.score, comment=self.comment)
        if is_low(self.score):
            open_follow_up(
                session,
                ctx,
                rated=SourceRecord(
                    kind=SourceKind.INCIDENT,
                    id=incident.id,
                    ref=incident_number_label(incident.number),
                ),
                score=self.score,
                comment=self.comment,
                group=incident.group,
                organisation=incident.organisation,
            )
        return incident_id


class CancelIncident(IncidentCommand):
    model_config = example(
        {"reason": "duplicate", "duplicate_of": "INC-000041", "note": "Same kiosk, same morning"}
    )

    action = "cancel"
    summary = "Cancel as a duplicate (naming the original) or as logged in error"
    reason: CancelReason
    duplicate_of: UUID | None = None
    note: str | None = Note

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        """Cancel the incident; a duplicate is merged into the original, which records it and
        its caller (both in one write)."""
        incident = session.get(Incident, incident_id)
        original = self.duplicate_of
        survivor = None
        # The original must be an incident the caller reaches: one missing and one out of reach
        # are refused in the same words (the aggregate refuses the incident itself).
        if original is not None and original != incident_id:
            try:
                survivor = session.get(Incident, original)
            except NotFound:
                raise DuplicateNotFound(f"duplicate_of names no incident {original}") from None
        incident.cancel(ctx, reason=self.reason, duplicate_of=original, note=self.note)
        if survivor is not None:
            survivor.merge_duplicate(ctx, duplicate=incident)
        return incident_id

    _duplicate_names_original = model_validator(mode="after")(cancellation_checked)


class LinkChild(IncidentCommand):
    model_config = example({"child": "INC-000042"})

    action = "link-child"
    summary = (
        "Make another open incident a child of this one (both record the link); resolving"
        " this one resolves its open children"
    )
    child: str = record_ref("INC-000042 or the id")

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        parent = session.get(Incident, incident_id)
        links.parent_and_child(session, ctx, parent, links.load_incident(session, self.child))
        propose_major(session, ctx, parent)  # the reports of one outage gather under it
        return incident_id


class UnlinkParent(Reasoned, IncidentCommand):
    model_config = example({"reason": "A different fault: this kiosk's card reader is broken"})

    action = "unlink-parent"
    summary = (
        "Take this incident out of its parent's children, saying why (both record it);"
        " resolving the parent no longer resolves it"
    )

    def decide(self, session: Session, ctx: Context, incident_id: UUID) -> UUID:
        links.child_from_parent(session, ctx, session.get(Incident, incident_id), self.reason)
        return incident_id


class RecordSlaAlerts(IncidentCommand):
    """The SLA watcher records the warnings and breaches a clock has passed (each only once).
    Not an API action: only the watcher, as the system actor, sends it."""

    action = "record-sla-alerts"
    summary = "Record SLA warnings and breaches"
    alerts: list[SlaAlert] = Field(min_length=1)


INCIDENT_COMMANDS = by_action(
    Assign,
    StartWork,
    PutOnHold,
    Resume,
    AddWorkNote,
    AddComment,
    ReplyWithCannedResponse,
    Recategorise,
    Reprioritise,
    Escalate,
    DeclareMajor,
    StandDownMajor,
    ReviewMajor,
    ResolveIncident,
    ConfirmResolution,
    Reopen,
    Close,
    RateIncident,
    CancelIncident,
    LinkChild,
    UnlinkParent,
)
