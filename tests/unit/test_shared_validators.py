"""A rule that an event and the command it comes from both state is checked by one validator or
declared by one field group: each refuses what breaks the rule, and takes what keeps it
(domain/change.py `cab_checked`, domain/change_schedule.py `window_checked`,
domain/service_request.py `approval_checked`, domain/incident.py `Escalation`, domain/fields.py
`Reasoned`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

from domain import change, change_commands, change_schedule, commands, incident, request_commands
from domain import service_request as request
from domain.actors import Role
from tests.conftest import T0, context

HOUR = timedelta(hours=1)


def envelope() -> dict[str, Any]:
    return {"originator_id": uuid4(), "originator_version": 1, **context().stamp()}


def accepts(model: type[BaseModel], fields: dict[str, Any]) -> bool:
    try:
        model.model_validate(fields)
    except ValidationError:
        return False
    return True


ASSESSMENTS = [
    (
        change.Assessed,
        {
            **envelope(),
            "risk": "low",
            "impact": "an hour",
            **dict.fromkeys(("continuity", "availability", "security", "cmdb_impact")),
        },
    ),
    (
        change_commands.Assess,
        {
            "risk": "low",
            "impact": "an hour",
            **{key: {"level": "low"} for key in ("continuity", "availability", "security")},
        },
    ),
]


@pytest.mark.parametrize(("model", "base"), ASSESSMENTS)
def test_a_cab_names_each_approver_once_and_its_quorum_at_most_its_size(
    model: type[BaseModel], base: dict[str, Any]
) -> None:
    assert accepts(model, {**base, "cab": ["ahmad", "lina"], "quorum": 2})
    assert not accepts(model, {**base, "cab": ["ahmad", "ahmad"], "quorum": 1})
    assert not accepts(model, {**base, "cab": ["ahmad", "lina"], "quorum": 3})


WINDOWS = [
    (
        change_schedule.WindowBooked,
        {
            **envelope(),
            "change_id": uuid4(),
            "change_ref": "CHG-000001",
            "title": "t",
            "configuration_items": [],
            "reach": [],
        },
    ),
    (
        change_schedule.BlackoutDeclared,
        {**envelope(), "code": "year-end", "title": "t", "reason": "closing the year"},
    ),
    (change_commands.Schedule, {}),
]


@pytest.mark.parametrize(("model", "base"), WINDOWS)
def test_a_window_ends_after_it_starts(model: type[BaseModel], base: dict[str, Any]) -> None:
    assert accepts(model, {**base, "start": T0, "end": T0 + HOUR})
    assert not accepts(model, {**base, "start": T0, "end": T0})
    assert not accepts(model, {**base, "start": T0 + HOUR, "end": T0})


ITEM = {
    "title": "Reprint a card",
    "service": "membership-cards",
    "priority": 4,
    "fulfilment_group": "desk",
    "steps": ["print"],
}
RULES = [
    (request.CatalogueItemDefined, {**envelope(), **ITEM, "code": "card-reprint"}),
    (
        request.Submitted,
        {
            **envelope(),
            **ITEM,
            "number": 1,
            "catalogue_item": "card-reprint",
            "requester": "budi",
            "organisation": "province",
        },
    ),
    (request_commands.DefineCatalogueItem, {**ITEM, "code": "card-reprint"}),
]


@pytest.mark.parametrize(("model", "base"), RULES)
def test_an_approval_rule_names_a_role_or_approvers_and_needs_no_more_than_it_names(
    model: type[BaseModel], base: dict[str, Any]
) -> None:
    role = Role.SERVICE_MANAGER
    assert accepts(model, {**base, "approval_required": False})
    assert accepts(model, {**base, "approval_required": True, "approver_role": role})
    assert accepts(
        model, {**base, "approval_required": True, "approvers": ["a", "b"], "approvals_needed": 2}
    )
    assert not accepts(model, {**base, "approval_required": False, "approvers": ["a"]})
    assert not accepts(model, {**base, "approval_required": True})
    assert not accepts(
        model, {**base, "approval_required": True, "approver_role": role, "approvers": ["a"]}
    )
    assert not accepts(model, {**base, "approval_required": True, "approvers": ["a", "a"]})
    assert not accepts(
        model, {**base, "approval_required": True, "approvers": ["a"], "approvals_needed": 2}
    )


ESCALATIONS = [
    (incident.Escalated, {**envelope(), "reason": "needs the network team"}),
    (commands.Escalate, {"reason": "needs the network team"}),
]


@pytest.mark.parametrize(("model", "base"), ESCALATIONS)
def test_an_escalation_names_the_target_its_kind_takes_and_only_that(
    model: type[BaseModel], base: dict[str, Any]
) -> None:
    functional, hierarchical = {**base, "kind": "functional"}, {**base, "kind": "hierarchical"}
    assert accepts(model, {**functional, "to_group": "network-team"})
    assert accepts(model, {**hierarchical, "to_manager": "dewi.lestari"})
    assert not accepts(model, functional)
    assert not accepts(model, hierarchical)
    assert not accepts(model, {**functional, "to_group": "network-team", "to_manager": "dewi"})
    assert not accepts(model, {**hierarchical, "to_manager": "dewi", "to_group": "network-team"})
    assert not accepts(model, {**functional, "to_manager": "dewi.lestari"})


REASONED = [
    (incident.Reopened, envelope()),
    (commands.Reopen, {}),
    (change.Cancelled, envelope()),
    (change_commands.CancelChange, {}),
    (request_commands.Reject, {}),
]


@pytest.mark.parametrize(("model", "base"), REASONED)
def test_a_reason_is_required_and_bounded_alike_on_the_command_and_the_event(
    model: type[BaseModel], base: dict[str, Any]
) -> None:
    assert accepts(model, {**base, "reason": "r" * 2_000})
    assert not accepts(model, {**base, "reason": "r" * 2_001})
    assert not accepts(model, {**base, "reason": ""})
    assert not accepts(model, base)
