"""The console's words (console/i18n.py): every message a page can show is in both catalogues, so
no English id leaks into the Indonesian console (and no bare key into either); moments are
written in Jakarta's time, in each language's way.

Given the templates' messages (as Babel extracts them) and the keys the pages build from the
domain (roles, states, clock states, the incident's events, and every field and option of the
forms the pages offer)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pytest
from babel.messages.extract import extract_from_dir

import service.schemas  # noqa: F401  (registers every event type)
from console import audit, problems, requests, sso
from console.changes import STATE_ACTIONS
from console.forms import Input, form_of
from console.i18n import LANGUAGES, TEMPLATES_DIR, catalogue, moment
from console.pages import LOG_FIELDS, REQUESTER_OFFERED, STAFF_ACTIONS, STAFF_LOG_FIELDS
from domain.actors import Role
from domain.change import ChangeKind, ChangeState, Risk
from domain.change_commands import CHANGE_COMMANDS
from domain.commands import INCIDENT_COMMANDS, LogIncident
from domain.events import EVENT_TYPES
from domain.incident import IncidentState
from domain.problem import ProblemState
from domain.problem_commands import PROBLEM_COMMANDS
from domain.request_commands import REQUEST_COMMANDS
from domain.service_request import RequestState
from domain.sla_clock import ClockState
from domain.whatif import Verdict
from projections.change_details import MANAGERS_STEP
from projections.search_index import KINDS as SEARCH_KINDS


def template_messages() -> set[str]:
    found = extract_from_dir(
        str(TEMPLATES_DIR),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {m if isinstance(m, str) else m[0] for _, _, m, _, _ in found}


def built_keys() -> set[str]:
    """The message keys the pages make from the domain's values."""
    keys = {f"role.{r.value}" for r in Role}  # a timeline names every actor's role
    keys |= {f"state.{s.value}" for s in IncidentState}
    keys |= {f"sla.{c.value}" for c in ClockState} | {
        "sla.target.response",
        "sla.target.resolution",
    }
    keys |= {f"event.{name}" for name in EVENT_TYPES if name.startswith("Incident.")}
    keys |= {
        f"problem.{p}{d}"
        for p in ("not-found", "forbidden", "form-refused")
        for d in ("", ".detail")
    }
    keys |= {"done.log", "Refused", "%(time)s left", "%(time)s over"}
    keys |= {  # the dashboard's charts (console/dashboard.py)
        "SLA attainment by month (response and resolution, %)",
        "Incidents logged, by service",
        "Incidents logged, by library",
    }
    log = form_of(LogIncident, "log")
    assert log is not None
    shown = set(LOG_FIELDS + STAFF_LOG_FIELDS)
    inputs = [i for i in log.inputs if i.name in shown]
    offered = [
        actions for by_state in (STAFF_ACTIONS, REQUESTER_OFFERED) for actions in by_state.values()
    ]
    for action in {action for actions in offered for action in actions}:
        form = form_of(INCIDENT_COMMANDS[action], action)
        assert form is not None, f"{action} is offered but has no form"
        keys |= {f"action.{action}", f"done.{action}"}
        inputs += form.inputs
    keys |= {f"field.{i.field}" for i in every_input(inputs)}
    keys |= {f"value.{option}" for i in every_input(inputs) for option in i.options}
    keys |= {f"error.{e}" for e in FORM_ERRORS}
    return (
        keys
        | audit_keys()
        | change_keys()
        | request_keys()
        | sso_keys()
        | problem_keys()
        | whatif_keys()
        | {f"search.kind.{kind}" for kind in SEARCH_KINDS}
        | {f"{area}done.remove-file" for area in ("", "change.", "problem.")}
        | {"code.no-reason-given", "code.attachment-already-removed"}
    )


def whatif_keys() -> set[str]:
    """The what-if pages' keys (console/whatif.py, whatif.po): a flip's verdicts, the form's
    errors."""
    keys = {f"whatif.verdict.{v.value}" for v in Verdict}
    return keys | {f"whatif.error.{e}" for e in ("day", "period", "hours", "nothing", "rule")}


def audit_keys() -> set[str]:
    """The keys the auditor's pages (console/audit.py) build: the kinds a sample draws, the
    sample form's errors, the problems its pages may answer, yes and no."""
    keys = {f"audit.kind.{t}" for t in audit.SAMPLE_TYPES}
    keys |= {f"audit.error.{e}" for e in ("moment", "period", "seed", "size", "type")}
    keys |= {
        f"problem.{p}{d}" for p in ("audit-not-ready", "ledger-behind") for d in ("", ".detail")
    }
    return keys | {"audit.yes", "audit.no"}


def sso_keys() -> set[str]:
    """The problems signing in with single sign-on may answer (console/sso.py, sso.po)."""
    return {f"problem.{p}{d}" for p in sso.PROBLEMS for d in ("", ".detail")}


def change_keys() -> set[str]:
    """The change pages' keys (console/changes.py, cab.po): each under `change.`, the fields of
    every action a change's page offers among them."""
    keys = {f"change.state.{s.value}" for s in ChangeState}
    keys |= {f"change.kind.{k.value}" for k in ChangeKind}
    keys |= {f"change.value.{r.value}" for r in Risk}
    keys |= {f"change.step.{step}" for step in MANAGERS_STEP.values()}
    keys |= {f"change.event.{name}" for name in EVENT_TYPES if name.startswith("Change.")}
    for action in {action for actions in STATE_ACTIONS.values() for action in actions}:
        form = form_of(CHANGE_COMMANDS[action], action)
        assert form is not None, f"{action} is offered but has no form"
        keys |= {f"change.action.{action}", f"change.done.{action}"}
        keys |= {f"change.field.{i.field}" for i in every_input(form.inputs)}
        keys |= {f"change.value.{option}" for i in every_input(form.inputs) for option in i.options}
    return keys


#: The errors a form read off a command may show beside a field or above it: pydantic's, and the
#: rules' own (domain: the moments', the change schedule's windows, a CAB's quorum, a
#: checklist's tests).
FORM_ERRORS = (
    "missing",
    "string_too_long",
    "string_too_short",
    "enum",
    "int_parsing",
    "too_short",
    "too_long",
    "window_order",
    "cab_quorum",
    "tests_distinct",
    "moment_format",
    "moment_range",
)


def every_input(inputs: Iterable[Input]) -> Iterator[Input]:
    """Each input, and a group's own inputs after it."""
    for spec in inputs:
        yield spec
        yield from every_input(spec.inputs)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_a_page_can_show_is_in_the_catalogue(lang: str) -> None:
    words = catalogue(lang)
    missing = sorted(
        key
        for key in template_messages() | built_keys()
        if not (words.get(key) and words.get(key).string)
    )
    assert not missing, f"add to console/locales/{lang}/LC_MESSAGES/console.po: {missing}"


def test_the_indonesian_catalogue_translates_what_the_english_one_words() -> None:
    indonesian, english = catalogue("id"), catalogue("en")
    same = sorted(
        m.id
        for m in english
        if m.id
        and indonesian.get(m.id) is not None
        and indonesian.get(m.id).string == m.string
        and m.id
        not in {
            "SLA",
            "Internal",
            "Auditor",
            "role.auditor",
            "problem.value.kepner-tregoe",
            "Audit",
        }
    )
    assert not same, f"left in English in the Indonesian catalogue: {same}"


def test_moments_are_written_in_jakartas_time_each_language_its_way() -> None:
    at = datetime(2026, 12, 4, 21, 54, tzinfo=UTC)  # 04:54 the next morning in Jakarta
    assert moment(at, "id") == "5 Des 2026, 04.54 WIB"
    assert moment(at, "en") == "5 Dec 2026, 04:54 WIB"
    assert moment(at.isoformat(), "id") == moment(at, "id")


def request_keys() -> set[str]:
    """The service requests' keys (console/requests.py, requests.po): their states, events, and
    the actions their pages offer with each form's fields."""
    keys = {f"state.{s.value}" for s in RequestState}
    keys |= {f"event.{name}" for name in EVENT_TYPES if name.startswith("ServiceRequest.")}
    keys |= {"done.request", "field.catalogue_item", "field.requester", "field.details"}
    offered = [*requests.STAFF.values(), *requests.REQUESTER.values()]
    for action in {action for actions in offered for action in actions}:
        form = form_of(REQUEST_COMMANDS[action], action)
        assert form is not None, f"{action} is offered but has no form"
        keys |= {f"action.{action}", f"done.{action}"}
        keys |= {f"field.{i.field}" for i in every_input(form.inputs)}
        keys |= {f"value.{option}" for i in every_input(form.inputs) for option in i.options}
    return keys


def problem_keys() -> set[str]:
    """The problems' keys (console/problems.py, problems.po): each under `problem.`."""
    keys = {f"problem.state.{s.value}" for s in ProblemState}
    keys |= {f"problem.event.{name}" for name in EVENT_TYPES if name.startswith("Problem.")}
    keys |= {f"problem.field.{problems.PROBLEM_PAGE.body}"}
    keys |= {label for label, _, _ in problems.PROBLEM_PAGE.facts(SOME_PROBLEM, "id")}
    for action in {action for actions in problems.ACTIONS.values() for action in actions}:
        form = form_of(PROBLEM_COMMANDS[action], action)
        assert form is not None, f"{action} is offered but has no form"
        keys |= {f"problem.action.{action}", f"problem.done.{action}"}
        keys |= {f"problem.field.{i.field}" for i in every_input(form.inputs)}
        keys |= {
            f"problem.value.{option}" for i in every_input(form.inputs) for option in i.options
        }
    return keys


#: A problem's row, as far as its page's facts read it.
SOME_PROBLEM = {
    "state": "logged",
    "priority": 3,
    "service": "opac",
    "logged_at": "2026-03-02T08:30:00+00:00",
}
