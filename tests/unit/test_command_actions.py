"""An action command that only passes its fields on calls the record's method its action is
named after (domain/commands.py, ActionCommand.call_action): that method must take each such
command's fields and need no other, or the route would fail at run time instead of here."""

from __future__ import annotations

import inspect

import pytest

from domain.change import Change
from domain.change_commands import CHANGE_COMMANDS, ChangeCommand
from domain.commands import INCIDENT_COMMANDS, ActionCommand, IncidentCommand, Resume
from domain.commands import RecordSlaAlerts as IncidentSlaAlerts
from domain.incident import Incident
from domain.knowledge import ARTICLE_COMMANDS, ArticleCommand, KnowledgeArticle
from domain.problem import Problem
from domain.problem_commands import PROBLEM_COMMANDS, ProblemCommand
from domain.request_commands import REQUEST_COMMANDS, RequestCommand
from domain.request_commands import RecordSlaAlerts as RequestSlaAlerts
from domain.service_request import ServiceRequest

KINDS: list[tuple[type[ActionCommand], type, list[type[ActionCommand]]]] = [
    (IncidentCommand, Incident, [*INCIDENT_COMMANDS.values(), IncidentSlaAlerts]),
    (ChangeCommand, Change, list(CHANGE_COMMANDS.values())),
    (RequestCommand, ServiceRequest, [*REQUEST_COMMANDS.values(), RequestSlaAlerts]),
    (ProblemCommand, Problem, list(PROBLEM_COMMANDS.values())),
    (ArticleCommand, KnowledgeArticle, list(ARTICLE_COMMANDS.values())),
]

PASSING_ON = [
    pytest.param(record, command, id=command.__qualname__ + "@" + record.__name__)
    for base, record, commands in KINDS
    for command in commands
    # one that decides on its own (links two records, say) passes nothing on
    if command.execute is base.execute and command.decide is base.decide
]


def test_most_actions_only_pass_their_fields_on() -> None:
    assert len(PASSING_ON) >= 30


@pytest.mark.parametrize(("record", "command"), PASSING_ON)
def test_an_action_passing_its_fields_on_names_a_method_taking_them(
    record: type, command: type[ActionCommand]
) -> None:
    method = getattr(record, command.action.replace("-", "_"))
    parameters = list(inspect.signature(method).parameters.values())
    assert [p.name for p in parameters[:2]] == ["self", "ctx"]
    taken = {p.name for p in parameters[2:]}
    required = {p.name for p in parameters[2:] if p.default is inspect.Parameter.empty}
    assert required <= set(command.model_fields) <= taken


def test_call_action_passes_the_context_and_the_fields_by_name() -> None:
    calls: list[tuple[object, dict[str, object]]] = []

    class Record:
        def resume(self, ctx: object, **fields: object) -> None:
            calls.append((ctx, fields))

    Resume.model_validate({"note": "n"}).call_action(
        Record(),
        "ctx",  # type: ignore[arg-type]
    )
    assert calls == [("ctx", {"note": "n"})]
