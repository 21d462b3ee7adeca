"""Commands on problems, and the links between incidents, problems, changes and items.

Each command is a pydantic model (the API's request body and the domain's input); `decide` reads
and changes records through the session, so both sides of every link, and the workaround told to
each linked incident, are saved in one atomic write.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from domain import directory, links
from domain.change_commands import CodeField, RecordCommand, load_items
from domain.commands import Command, by_action
from domain.configuration_item import CodeList, ConfigurationItem, ci_id
from domain.context import Context
from domain.examples import example
from domain.fields import Description, Name, OptionalReason, Reason, Reasoned, Text, record_ref
from domain.incident import Escalation, Incident
from domain.organisations import RequestedOrganisation
from domain.priority import Impact, Urgency
from domain.problem import (
    MAX_ACTIONS,
    Analysis,
    Decision,
    PotentialAction,
    Problem,
    RcaMethod,
    judged,
)
from domain.record_numbers import RecordKind
from domain.service_catalogue import OptionalCode
from domain.session import Session


class LogProblem(Command):
    model_config = example(
        {
            "title": "Online renewal fails for members with fines",
            "service": "batupusaka",
            "configuration_items": ["app-union-catalogue"],
            "incidents": ["INC-000042"],
            "impact": "high",
            "urgency": "medium",
        }
    )

    title: str = Name
    description: str = Description
    service: str | None = OptionalCode
    configuration_items: CodeList = Field(default_factory=list, max_length=100)
    incidents: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=100,
        description="INC-000042 or ids: the incidents it is logged from",
    )
    organisation: str | None = RequestedOrganisation
    impact: Impact = Field(default=Impact.MEDIUM, description="how widely it hurts")
    urgency: Urgency = Field(default=Urgency.MEDIUM, description="how soon it must be removed")

    def decide(self, session: Session, ctx: Context) -> UUID:
        if self.service is not None:
            session.service_catalogue().known([self.service])
        items = load_items(session, self.configuration_items)
        incidents = [links.load_incident(session, ref) for ref in dict.fromkeys(self.incidents)]
        problem_id = session.new_id()
        problem = Problem.log(
            ctx,
            id=problem_id,
            number=session.allocate(RecordKind.PROBLEM, problem_id),
            title=self.title,
            description=self.description,
            service=self.service,
            configuration_items=self.configuration_items,
            organisation=ctx.organisation_for(self.organisation),
            priority=judged(session.rules.matrix, self.impact, self.urgency),
        )
        session.add(problem)
        for item in items.values():
            item.link_problem(ctx, problem_id=problem_id, problem_ref=links.problem_ref(problem))
        for incident in incidents:
            links.incident_and_problem(ctx, incident, problem)
        return problem_id


class ProblemCommand(RecordCommand):
    """An action on one problem: POST /api/v1/problems/{ref}/{action}."""

    def decide(self, session: Session, ctx: Context, problem_id: UUID) -> UUID:
        self.execute(session.get(Problem, problem_id), session, ctx)
        return problem_id

    def execute(self, problem: Problem, session: Session, ctx: Context) -> None:
        self.call_action(problem, ctx)


class StartInvestigation(ProblemCommand):
    model_config = example({})

    action = "start-investigation"
    summary = "Start investigating the problem"


class ReprioritiseProblem(ProblemCommand):
    model_config = example(
        {"impact": "high", "urgency": "high", "reason": "Every branch's renewals fail now"}
    )

    action = "reprioritise"
    summary = "Change impact and urgency, with a reason; priority follows the matrix in force"
    impact: Impact
    urgency: Urgency
    reason: str = Reason

    def execute(self, problem: Problem, session: Session, ctx: Context) -> None:
        problem.reprioritise(
            ctx,
            impact=self.impact,
            urgency=self.urgency,
            reason=self.reason,
            matrix=session.rules.matrix,
        )


class EscalateProblem(Escalation, ProblemCommand):
    model_config = example(
        {
            "kind": "hierarchical",
            "reason": "No cause found in two weeks; the vendor must be engaged",
            "to_manager": "dewi.lestari",
        }
    )

    action = "escalate"
    summary = "Escalate, with a reason, to a group (functional) or a named manager (hierarchical)"

    def execute(self, problem: Problem, session: Session, ctx: Context) -> None:
        if self.to_group is not None:
            directory.assignable(session, self.to_group, None, "escalate")
        if self.to_manager is not None:
            directory.responsible(session, self.to_manager, "be escalated to")
        self.call_action(problem, ctx)


class AddProblemWorkNote(ProblemCommand):
    model_config = example({"text": "The renewal API logs show a 422 for every fine under 1000"})

    action = "add-work-note"
    summary = "Add a work note (the staff's: never shown to callers)"
    text: str = Text


class RecordProblemAction(ProblemCommand):
    model_config = example(
        {
            "description": "Replayed last night's failed renewals on the test instance",
            "result": "All 37 failed the same way",
        }
    )

    action = "record-action"
    summary = "Record an action taken on the problem, and what came of it"
    description: str = Reason
    result: str | None = OptionalReason


class RecordRootCause(ProblemCommand):
    model_config = example(
        {
            "root_cause": "The renewal API rejects members whose fine is under Rp 1.000",
            "method": "five-whys",
            "analysis": {
                "whys": [
                    "Renewals fail for some members",
                    "The API answers 422 for them",
                    "Their fine is under Rp 1.000",
                    "The fine check rounds small fines to zero and treats zero as unpaid",
                    "The rounding rule was never tested with small fines",
                ]
            },
            "actions": [
                {
                    "kind": "corrective",
                    "description": "Fix the rounding of small fines",
                    "owner": "app-team",
                    "change": "CHG-000007",
                },
                {
                    "kind": "preventive",
                    "description": "Test fines at the edges in every release",
                    "owner": "dewi.lestari",
                },
            ],
        }
    )

    action = "record-root-cause"
    summary = (
        "Record (or revise) the root cause, the method and analysis that found it, and the"
        " potential actions it points to"
    )
    root_cause: str = Text
    method: RcaMethod | None = Field(
        default=None, description="five-whys, fishbone, fault-tree, kepner-tregoe or other"
    )
    analysis: Analysis | None = None
    actions: list[PotentialAction] = Field(
        default_factory=list,
        max_length=MAX_ACTIONS,
        description="potential actions, numbered on from the problem's last; each decided later",
    )


class DecidePotentialAction(Decision, ProblemCommand):
    model_config = example(
        {"potential_action": 2, "decision": "rejected", "reason": "Covered by the test plan"}
    )

    action = "decide-potential-action"
    summary = "Take a potential action, or reject it with a reason (once)"


class PublishWorkaround(ProblemCommand):
    model_config = example({"workaround": "Renew at the desk, or pay the fine first"})

    action = "publish-workaround"
    summary = "Publish a workaround; every linked incident still being worked is told of it"
    workaround: str = Text

    def execute(self, problem: Problem, session: Session, ctx: Context) -> None:
        problem.publish_workaround(ctx, workaround=self.workaround)
        for incident_id in sorted(problem.incidents):
            incident = session.get(Incident, incident_id)
            incident.share_workaround(
                ctx,
                problem_id=problem.id,
                problem_ref=links.problem_ref(problem),
                workaround=self.workaround,
            )


class PublishKnownError(ProblemCommand):
    model_config = example({"symptoms": "The renew button does nothing in the OPAC"})

    action = "publish-known-error"
    summary = "Publish the problem as a known error (its root cause must be recorded)"
    symptoms: str = Text


class ResolveProblem(ProblemCommand):
    model_config = example(
        {"change": "CHG-000007", "notes": "The patched renewal API accepts small fines"}
    )

    action = "resolve"
    summary = "Resolve through a change that was implemented successfully (linked if it is not)"
    change: str = record_ref("CHG-000042 or the change's id")
    notes: str = Text

    def execute(self, problem: Problem, session: Session, ctx: Context) -> None:
        change = links.load_change(session, self.change)
        if change.id not in problem.changes:
            links.problem_and_change(ctx, problem, change)
        problem.resolve(
            ctx,
            change_id=change.id,
            change_ref=links.change_ref(change),
            implemented_successfully=change.implemented_successfully,
            notes=self.notes,
        )


class Close(ProblemCommand):
    model_config = example({})

    action = "close"
    summary = "Close a resolved problem"


class CancelProblem(Reasoned, ProblemCommand):
    model_config = example({"reason": "Logged in error: a duplicate of PRB-000002"})

    action = "cancel"
    summary = "Cancel an open problem (logged in error, or a duplicate)"


class LinkIncident(ProblemCommand):
    model_config = example({"incident": "INC-000042"})

    action = "link-incident"
    summary = "Link an incident (both records record the link; it sees the workaround)"
    incident: str = record_ref("INC-000042 or the id")

    def execute(self, problem: Problem, session: Session, ctx: Context) -> None:
        links.incident_and_problem(ctx, links.load_incident(session, self.incident), problem)


class LinkChange(ProblemCommand):
    model_config = example({"change": "CHG-000007"})

    action = "link-change"
    summary = "Link a change (both records record the link)"
    change: str = record_ref("CHG-000042 or the id")

    def execute(self, problem: Problem, session: Session, ctx: Context) -> None:
        links.problem_and_change(ctx, problem, links.load_change(session, self.change))


class LinkConfigurationItem(ProblemCommand):
    model_config = example({"code": "srv-inlislite-01"})

    action = "link-configuration-item"
    summary = "Link a configuration item (both records record the link)"
    code: str = CodeField

    def execute(self, problem: Problem, session: Session, ctx: Context) -> None:
        item = session.get(ConfigurationItem, ci_id(self.code), self.code)
        links.problem_and_item(ctx, problem, item)


PROBLEM_COMMANDS = by_action(
    StartInvestigation,
    ReprioritiseProblem,
    EscalateProblem,
    AddProblemWorkNote,
    RecordProblemAction,
    RecordRootCause,
    DecidePotentialAction,
    PublishWorkaround,
    PublishKnownError,
    ResolveProblem,
    Close,
    CancelProblem,
    LinkIncident,
    LinkChange,
    LinkConfigurationItem,
)
