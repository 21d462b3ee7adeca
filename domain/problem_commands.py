"""Commands on problems, and the links between incidents, problems, changes and items.

Each command is a pydantic model (the API's request body and the domain's input); `decide` reads
and changes records through the session, so both sides of every link, and the workaround told to
each linked incident, are saved in one atomic write.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from domain import links
from domain.change_commands import CodeField, RecordCommand, load_items
from domain.commands import Command, by_action
from domain.configuration_item import CodeList, ConfigurationItem, ci_id
from domain.context import Context
from domain.examples import example
from domain.fields import Description, Name, Reasoned, Text, record_ref
from domain.incident import Incident
from domain.organisations import RequestedOrganisation
from domain.problem import Problem
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


class RecordRootCause(ProblemCommand):
    model_config = example(
        {"root_cause": "The renewal API rejects members whose fine is under Rp 1.000"}
    )

    action = "record-root-cause"
    summary = "Record (or revise) the root cause found by the investigation"
    root_cause: str = Text


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
    RecordRootCause,
    PublishWorkaround,
    PublishKnownError,
    ResolveProblem,
    Close,
    CancelProblem,
    LinkIncident,
    LinkChange,
    LinkConfigurationItem,
)
