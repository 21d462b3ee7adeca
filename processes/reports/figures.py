"""The figures of the service reports, from a read history (history.py): one function a report.

Every report has the same shape: its figures for the whole period (`total`), the same figures for
each value of each of its dimensions (`rows`: service, organisation, priority, group... as the
report has them), and for each month of the period (`months`: the trend). The definitions of the
figures are the report catalogue's (catalogue.toml, docs/reports.md); what is computed here is what
they say, and tests/integration/test_reports.py computes each again from the raw events of a
fixed history.

Each record's facts are worked out once (its cells, whether it was logged in the period, its SLA
verdicts as of the period's end by the rules it recorded); a row's figures are sums and
percentiles of its records' facts.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar
from uuid import UUID

from domain.calendar import CalendarSpec
from domain.satisfaction import is_low
from domain.sla_clock import ClockState, MarkKind, Ticket, judge
from domain.sla_incident import KIND as INCIDENT_KIND
from domain.sla_request import KIND as REQUEST_KIND
from domain.sla_rules import Rules
from domain.whatif import REPORTING_ZONE as JAKARTA
from processes.reports.history import (
    OPEN,
    ChangeRead,
    Clocked,
    History,
    IncidentRead,
    ItemRead,
    ProblemRead,
    RequestRead,
    Wait,
)

RulesOf = Callable[[Ticket], Rules]

#: Ages of the open backlog, in calendar days, as the reports bucket them.
AGE_BUCKETS = ((1, "under_1d"), (7, "1_7d"), (30, "7_30d"), (math.inf, "over_30d"))
#: A configuration item counts as checked if it was verified within this long before the end.
VERIFIED_WITHIN = timedelta(days=365)


@dataclass(frozen=True)
class Period:
    """Office days from `first` to `last`, both included: [start, end) in Asia/Jakarta."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(date(year, month, 1), following - timedelta(days=1))

    @cached_property
    def start(self) -> datetime:
        """Midnight WIB of the first day, in UTC (as stored events' timestamps are: comparing
        instants of one zone is much cheaper than of two)."""
        return _midnight(self.first)

    @cached_property
    def end(self) -> datetime:
        return _midnight(self.last + timedelta(days=1))

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def months(self) -> list[Period]:
        """Each calendar month the period touches, cut to the period."""
        found, day = [], self.first
        while day <= self.last:
            whole = Period.month(day.year, day.month)
            found.append(Period(max(whole.first, self.first), min(whole.last, self.last)))
            day = whole.last + timedelta(days=1)
        return found

    @property
    def label(self) -> str:
        return self.first.strftime("%Y-%m")

    def as_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=JAKARTA).astimezone(UTC)


def month_of(moment: datetime) -> str:
    return moment.astimezone(JAKARTA).strftime("%Y-%m")


# -- small statistics ---------------------------------------------------------------------------


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def nearest_rank(values: Sequence[float], percent: int) -> float | None:
    """The nearest-rank percentile (a value of the data; None of none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(percent * len(ordered) / 100), 1) - 1]


def mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


# -- the shape every report has ------------------------------------------------------------------


@dataclass
class Facts:
    """One record's part in a report: its cells (dimension -> values), whether it was opened in
    the period (its cohort), and the numbers its figures add up."""

    cells: Mapping[str, tuple[str, ...]]
    opened: bool
    values: dict[str, Any] = field(default_factory=dict)


Figures = Callable[[Sequence[Facts]], dict[str, Any]]


def tabulate(
    facts_of: Callable[[Period], list[Facts]],
    period: Period,
    dimensions: Sequence[str],
    figures: Figures,
    *,
    month_figures: Figures | None = None,
) -> dict[str, Any]:
    """The total, a row for each value of each dimension, and a row for each month. A month's
    row is that month's report's total (its facts are made for the month as the period, and
    `month_figures` figures them where a month's figures differ from a period's)."""
    facts = facts_of(period)
    rows = []
    for dimension in dimensions:
        by_value: dict[str, list[Facts]] = defaultdict(list)
        for fact in facts:
            for value in fact.cells[dimension]:
                by_value[value].append(fact)
        for value in sorted(by_value):
            rows.append({"dimension": dimension, "key": value, "figures": figures(by_value[value])})
    total = figures(facts)
    months = period.months()
    monthly = month_figures or figures
    trend = [total] if len(months) == 1 else [monthly(facts_of(month)) for month in months]
    return {
        "total": total,
        "rows": rows,
        "months": [{"month": m.label, "figures": f} for m, f in zip(months, trend, strict=True)],
    }


def cohort(facts: Iterable[Facts]) -> Iterator[Facts]:
    """The facts of the records opened in the period the figures are for."""
    return (f for f in facts if f.opened)


# -- incidents and service requests: clocked records --------------------------------------------


def _verdict(state: ClockState) -> str | None:
    if state is ClockState.MET:
        return "met"
    if state is ClockState.BREACHED:
        return "breached"
    return None


class Judge:
    """Each clocked record's verdicts by the rules it recorded, as of a moment: judged once where
    a later moment cannot change them (every mark before both moments, the resolution stopped),
    as happens for most records when a year's report judges each again for its month's row."""

    def __init__(self, rules_of: RulesOf, kind: str) -> None:
        self.rules_of, self.kind = rules_of, kind
        self.known: dict[UUID, tuple[datetime, dict[str, Any], bool]] = {}

    def verdicts(self, record: Clocked, as_of: datetime) -> dict[str, Any]:
        known = self.known.get(record.id)
        if known is not None:
            at, values, stopped = known
            if stopped and record.marks[-1].at < min(at, as_of):
                return values
        ticket = record.ticket(self.kind)
        rules = self.rules_of(ticket)
        clock = judge(ticket, rules.terms, rules.calendar, as_of, explain=False)
        resolution = clock.resolution
        stopped = resolution.stopped_at is not None
        values = {
            "response": _verdict(clock.response.state),
            "resolution": _verdict(resolution.state),
            "cancelled": resolution.state is ClockState.CANCELLED,
            "resolve_hours": hours(resolution.counted) if stopped else None,
        }
        self.known[record.id] = (as_of, values, stopped)
        return values


def _clocked(record: Clocked, period: Period, judged: Judge) -> Facts | None:
    """A clocked record's facts: where it stands at the period's end, and if it was opened in
    the period, its verdicts as of the end and the business time its resolution clock ran.
    None if it was neither opened in the period nor open at its end (it adds to no figure)."""
    end = period.end
    if record.logged_at >= end:
        return None
    state = record.state_at(end)
    opened = period.holds(record.logged_at)
    score = record.rated[1] if record.rated and period.holds(record.rated[0]) else None
    if not opened and state != OPEN and score is None:
        return None
    values: dict[str, Any] = {
        "open": state == OPEN,
        "age_days": (end - record.logged_at).total_seconds() / 86400 if state == OPEN else None,
        "score": score,
    }
    if opened:
        values |= judged.verdicts(record, end)
    cells = {
        "service": (record.service,),
        "organisation": (record.organisation,),
        "priority": (f"P{record.priority}",),
        "group": (record.group,),
    }
    return Facts(cells, opened, values)


def _backlog(facts: Sequence[Facts]) -> dict[str, Any]:
    ages = [f.values["age_days"] for f in facts if f.values["open"]]
    found: dict[str, Any] = {
        "backlog": len(ages),
        "backlog_median_age_days": rounded(statistics.median(ages), 1) if ages else None,
    }
    lower = 0.0
    for limit, name in AGE_BUCKETS:
        found[f"backlog_{name}"] = sum(lower <= age < limit for age in ages)
        lower = limit
    return found


def _sla(facts: Sequence[Facts]) -> dict[str, Any]:
    judged = [f for f in cohort(facts) if not f.values["cancelled"]]
    found: dict[str, Any] = {}
    for target in ("response", "resolution"):
        met = sum(f.values[target] == "met" for f in judged)
        breached = sum(f.values[target] == "breached" for f in judged)
        found[f"{target}_met"] = met
        found[f"{target}_breached"] = breached
        found[f"{target}_met_pct"] = pct(met, met + breached)
    times = [f.values["resolve_hours"] for f in judged if f.values["resolve_hours"] is not None]
    found["resolve_mean_hours"] = mean(times)
    found["resolve_p50_hours"] = rounded(nearest_rank(times, 50))
    found["resolve_p90_hours"] = rounded(nearest_rank(times, 90))
    return found


def _satisfaction(facts: Sequence[Facts]) -> dict[str, Any]:
    """The ratings callers gave in the period (of records closed in it or before)."""
    scores = [f.values["score"] for f in facts if f.values["score"] is not None]
    return {
        "rated": len(scores),
        "satisfaction_mean": mean(scores),
        "satisfaction_low": sum(is_low(score) for score in scores),
    }


def _incident_facts(incident: IncidentRead, period: Period, judged: Judge) -> Facts | None:
    facts = _clocked(incident, period, judged)
    if facts is not None and facts.opened:
        resolved = incident.first(MarkKind.RESOLVED) is not None
        reopened = incident.count(MarkKind.REOPENED) > 0
        facts.values |= {
            "resolved": resolved,
            "reopened": reopened,
            # resolved by whoever logged it (staff taking the call), no other group involved,
            # never reopened
            "first_contact": resolved
            and incident.resolved_by == incident.opened_by
            and len(incident.groups()) <= 1
            and not reopened,
            "major": incident.major_at is not None,
            # a major incident resolved whose review is not recorded (it cannot be closed)
            "review_outstanding": incident.major_now and resolved and not incident.major_reviewed,
        }
    return facts


def _incident_figures(facts: Sequence[Facts]) -> dict[str, Any]:
    opened = list(cohort(facts))
    resolved = [f for f in opened if f.values["resolved"]]
    return {
        "logged": len(opened),
        "resolved": len(resolved),
        **_sla(facts),
        **_backlog(facts),
        "reopened_pct": pct(sum(f.values["reopened"] for f in resolved), len(resolved)),
        "first_contact_pct": pct(sum(f.values["first_contact"] for f in resolved), len(resolved)),
        "major": sum(f.values["major"] for f in opened),
        "major_reviews_outstanding": sum(f.values["review_outstanding"] for f in opened),
        **_satisfaction(facts),
    }


def incidents(history: History, period: Period, rules_of: RulesOf) -> dict[str, Any]:
    judged = Judge(rules_of, INCIDENT_KIND)
    records = history.incidents.values()
    return _clocked_report(records, period, judged, _incident_facts, _incident_figures)


#: What the incident and request reports group their records by.
CLOCKED_DIMENSIONS = ("service", "organisation", "priority", "group")

C = TypeVar("C", bound=Clocked)


def _clocked_report(
    records: Iterable[C],
    period: Period,
    judged: Judge,
    facts: Callable[[C, Period, Judge], Facts | None],
    figures: Figures,
) -> dict[str, Any]:
    """A report of clocked records: each one's facts for the period and for each month."""

    def facts_of(within: Period) -> list[Facts]:
        found = (facts(record, within, judged) for record in records)
        return [f for f in found if f is not None]

    return tabulate(facts_of, period, CLOCKED_DIMENSIONS, figures)


def _request_facts(request: RequestRead, period: Period, judged: Judge) -> Facts | None:
    facts = _clocked(request, period, judged)
    if facts is None:
        return None
    facts.values["awaiting_approval"] = request.awaiting_approval_at(period.end)
    if facts.opened:
        facts.values["fulfilled"] = request.first(MarkKind.RESOLVED) is not None
        facts.values["rejected"] = request.first(MarkKind.REJECTED) is not None
    return facts


def _request_figures(facts: Sequence[Facts]) -> dict[str, Any]:
    opened = list(cohort(facts))
    sla = _sla(facts)
    return {
        "submitted": len(opened),
        "fulfilled": sum(f.values["fulfilled"] for f in opened),
        "rejected": sum(f.values["rejected"] for f in opened),
        "fulfilment_met_pct": sla["resolution_met_pct"],
        "fulfilment_mean_hours": sla["resolve_mean_hours"],
        "fulfilment_p90_hours": sla["resolve_p90_hours"],
        "awaiting_approval": sum(f.values["awaiting_approval"] for f in facts),
        **_backlog(facts),
        **_satisfaction(facts),
    }


def requests(history: History, period: Period, rules_of: RulesOf) -> dict[str, Any]:
    judged = Judge(rules_of, REQUEST_KIND)
    records = history.requests.values()
    return _clocked_report(records, period, judged, _request_facts, _request_figures)


# -- problems ------------------------------------------------------------------------------------

#: The key of a row for records that name no service.
NONE = "(none)"


def _problem_facts(problem: ProblemRead, period: Period) -> Facts:
    end, resolved = period.end, problem.resolved_at
    recurring = sum(
        resolved is not None and resolved <= linked < end for linked in problem.incidents.values()
    )
    finished = problem.finished_at is not None and problem.finished_at < end
    values = {
        "open": not finished and (resolved is None or resolved >= end),
        "known_error": problem.known_error_at is not None and not finished,
        "known_error_published": period.holds(problem.known_error_at),
        "resolved": period.holds(resolved),
        "resolved_before_end": resolved is not None and resolved < end,
        "incidents_linked": sum(period.holds(at) for at in problem.incidents.values()),
        "recurring_incidents": recurring,
    }
    cells = {"service": (problem.service or NONE,), "organisation": (problem.organisation,)}
    return Facts(cells, period.holds(problem.logged_at), values)


def _problem_figures(facts: Sequence[Facts]) -> dict[str, Any]:
    resolved = [f for f in facts if f.values["resolved_before_end"]]
    recurred = sum(f.values["recurring_incidents"] > 0 for f in resolved)
    return {
        "logged": sum(1 for _ in cohort(facts)),
        "open": sum(f.values["open"] for f in facts),
        "known_errors": sum(f.values["known_error"] for f in facts),
        "known_errors_published": sum(f.values["known_error_published"] for f in facts),
        "resolved": sum(f.values["resolved"] for f in facts),
        "incidents_linked": sum(f.values["incidents_linked"] for f in facts),
        "recurred": recurred,
        "recurrence_pct": pct(recurred, len(resolved)),
        "recurring_incidents": sum(f.values["recurring_incidents"] for f in facts),
    }


def problems(history: History, period: Period) -> dict[str, Any]:
    def facts_of(within: Period) -> list[Facts]:
        return [
            _problem_facts(problem, within)
            for problem in history.problems.values()
            if problem.logged_at < within.end
        ]

    return tabulate(facts_of, period, ("service", "organisation"), _problem_figures)


# -- changes -------------------------------------------------------------------------------------


def _change_facts(
    change: ChangeRead, period: Period, logged: Callable[[Any], datetime | None]
) -> Facts:
    implemented = period.holds(change.implemented_at)
    began = change.started_at or change.implemented_at
    caused = began is not None and any(
        (at := logged(incident)) is not None and began <= at < period.end
        for incident in change.incidents
    )
    values = {
        "kind": change.kind,
        "implemented": implemented,
        "outcome": change.outcome if implemented else None,
        "caused_incidents": implemented and caused,
    }
    cells = {
        "service": tuple(sorted(set(change.services))) or (NONE,),
        "organisation": (change.organisation,),
        "type": (change.kind,),
    }
    return Facts(cells, period.holds(change.raised_at), values)


def _change_figures(facts: Sequence[Facts]) -> dict[str, Any]:
    raised = list(cohort(facts))
    implemented = [f for f in facts if f.values["implemented"]]
    successful = sum(f.values["outcome"] == "successful" for f in implemented)
    emergency = sum(f.values["kind"] == "emergency" for f in raised)
    return {
        "raised": len(raised),
        "standard": sum(f.values["kind"] == "standard" for f in raised),
        "normal": sum(f.values["kind"] == "normal" for f in raised),
        "emergency": emergency,
        "emergency_pct": pct(emergency, len(raised)),
        "implemented": len(implemented),
        "successful": successful,
        "failed": sum(f.values["outcome"] == "failed" for f in implemented),
        "backed_out": sum(f.values["outcome"] == "backed_out" for f in implemented),
        "success_pct": pct(successful, len(implemented)),
        "caused_incidents": sum(f.values["caused_incidents"] for f in implemented),
    }


def changes(history: History, period: Period) -> dict[str, Any]:
    def logged(incident: Any) -> datetime | None:
        found = history.incidents.get(incident)
        return None if found is None else found.logged_at

    def facts_of(within: Period) -> list[Facts]:
        return [
            _change_facts(change, within, logged)
            for change in history.changes.values()
            if change.raised_at < within.end
        ]

    return tabulate(facts_of, period, ("service", "organisation", "type"), _change_figures)


# -- configuration -------------------------------------------------------------------------------


def _item_facts(item: ItemRead, period: Period) -> Facts:
    end = period.end
    last_verified = max((at for at in item.verified if at < end), default=None)
    values = {
        "changed": any(period.holds(at) for at in item.changed),
        "verified": any(period.holds(at) for at in item.verified),
        "never_verified": last_verified is None,
        "verification_due": last_verified is None or end - last_verified > VERIFIED_WITHIN,
    }
    cells = {"type": (item.ci_type,), "service": (item.service or NONE,)}
    return Facts(cells, period.holds(item.registered_at), values)


def _item_figures(facts: Sequence[Facts]) -> dict[str, Any]:
    due = sum(f.values["verification_due"] for f in facts)
    return {
        "items": len(facts),
        "registered": sum(1 for _ in cohort(facts)),
        "changed": sum(f.values["changed"] for f in facts),
        "verified": sum(f.values["verified"] for f in facts),
        "never_verified": sum(f.values["never_verified"] for f in facts),
        "verification_due": due,
        "verified_within_year_pct": pct(len(facts) - due, len(facts)),
    }


def configuration(history: History, period: Period) -> dict[str, Any]:
    def facts_of(within: Period) -> list[Facts]:
        return [
            _item_facts(item, within)
            for item in history.items.values()
            if item.registered_at < within.end
        ]

    return tabulate(facts_of, period, ("type", "service"), _item_figures)


# -- suppliers -----------------------------------------------------------------------------------

#: A supplier's calendar by name (the business calendars' current versions).
CalendarOf = Callable[[str], CalendarSpec]


def _wait_facts(
    incident: IncidentRead, wait: Wait, history: History, period: Period, calendar_of: CalendarOf
) -> Facts | None:
    """A wait's facts: whether it ended in the period and within the contract's target (business
    time on the contract's calendar), or still waits at the period's end (and is overdue)."""
    end = period.end
    if wait.start >= end or (wait.end is not None and wait.end < period.start):
        return None
    supplier = history.suppliers.get(wait.supplier)
    contract = supplier.contracts.get(wait.contract_version) if supplier else None
    if contract is None:
        return None  # a hold names a supplier the read history does not hold
    calendar = calendar_of(contract["calendar"])
    target = timedelta(minutes=contract["resolution_minutes"])
    stopped = wait.end if wait.end is not None and wait.end < end else None
    waited = calendar.business_time(wait.start, stopped or end)
    values = {
        "started": period.holds(wait.start),
        "ended": stopped is not None,
        "met": stopped is not None and waited <= target,
        "hours": hours(waited) if stopped is not None else None,
        "waiting": stopped is None,
        "overdue": stopped is None and waited > target,
    }
    cells = {"supplier": (wait.supplier,), "service": (incident.service,)}
    return Facts(cells, period.holds(wait.start), values)


def _supplier_figures(facts: Sequence[Facts]) -> dict[str, Any]:
    ended = [f for f in facts if f.values["ended"]]
    met = sum(f.values["met"] for f in ended)
    times = [f.values["hours"] for f in ended]
    return {
        "waits": sum(f.values["started"] for f in facts),
        "ended": len(ended),
        "met": met,
        "breached": len(ended) - met,
        "met_pct": pct(met, len(ended)),
        "wait_mean_hours": mean(times),
        "wait_p90_hours": rounded(nearest_rank(times, 90)),
        "waiting": sum(f.values["waiting"] for f in facts),
        "overdue": sum(f.values["overdue"] for f in facts),
    }


def suppliers(history: History, period: Period, calendar_of: CalendarOf) -> dict[str, Any]:
    def facts_of(within: Period) -> list[Facts]:
        found = (
            _wait_facts(incident, wait, history, within, calendar_of)
            for incident in history.incidents.values()
            for wait in incident.waits
        )
        return [facts for facts in found if facts is not None]

    return tabulate(facts_of, period, ("supplier", "service"), _supplier_figures)


# -- service level agreements: workload against limits ------------------------------------------


def _agreement_facts(
    record: Clocked, kind: str, period: Period, rules_of: RulesOf, judged: Judge
) -> Facts | None:
    """A ticket opened in the period that its customer's agreement covers (by the policy version
    it recorded): the agreement, its monthly workload limit, and the ticket's resolution verdict."""
    if not period.holds(record.logged_at):
        return None
    ticket = record.ticket(kind)
    agreement = rules_of(ticket).terms.agreement_for(ticket.service, ticket.organisation)
    if agreement is None:
        return None
    values = {
        "kind": kind,
        "limit": agreement.workload_limit,
        **judged.verdicts(record, period.end),
    }
    cells = {"agreement": (agreement.code,), "customer": (agreement.customer,)}
    return Facts(cells, True, values)


def _agreement_figures(facts: Sequence[Facts], months: int) -> dict[str, Any]:
    limits = {f.values["limit"] for f in facts if f.values["limit"] is not None}
    limit = max(limits) * months if limits else None
    decided = [f for f in facts if f.values["resolution"] is not None]
    met = sum(f.values["resolution"] == "met" for f in decided)
    return {
        "tickets": len(facts),
        "incidents": sum(f.values["kind"] == INCIDENT_KIND for f in facts),
        "requests": sum(f.values["kind"] == REQUEST_KIND for f in facts),
        "workload_limit": limit,
        "workload_pct": pct(len(facts), limit) if limit else None,
        "over_limit": int(limit is not None and len(facts) > limit),
        "resolution_met_pct": pct(met, len(decided)),
    }


def agreements(history: History, period: Period, rules_of: RulesOf) -> dict[str, Any]:
    incidents, requests = Judge(rules_of, INCIDENT_KIND), Judge(rules_of, REQUEST_KIND)

    def facts_of(within: Period) -> list[Facts]:
        found = [
            *(
                _agreement_facts(i, INCIDENT_KIND, within, rules_of, incidents)
                for i in history.incidents.values()
            ),
            *(
                _agreement_facts(r, REQUEST_KIND, within, rules_of, requests)
                for r in history.requests.values()
            ),
        ]
        return [facts for facts in found if facts is not None]

    months = len(period.months())
    return tabulate(
        facts_of,
        period,
        ("agreement", "customer"),
        lambda facts: _agreement_figures(facts, months),
        month_figures=lambda facts: _agreement_figures(facts, 1),
    )
