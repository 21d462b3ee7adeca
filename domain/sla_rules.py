"""Resolving the rules a ticket recorded: (policy id, version) and (calendar id, version).

Versions are immutable once written, so a resolved version is cached for ever and every process
resolves the same (id, version) to the same terms: judging stays a pure function of the ticket's
events and those versions, whichever process does it and in whatever order it saw the events.
A ticket logged before SLA policies existed recorded nothing; it is judged by the first versions
(the policy's version 1 and the calendar it names for the ticket's service, at version 1).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.calendar import BusinessCalendar, CalendarSpec, calendar_id
from domain.rule_versions import RuleVersion, RuleVersions
from domain.sla import PolicyTerms, SlaPolicy
from domain.sla_clock import Ticket, TicketClock, judge

#: (id, version) -> the aggregate at that version; raises LookupError if there is none
Loader = Callable[[UUID, int], object]


@dataclass(frozen=True, slots=True)
class Rules:
    versions: RuleVersions
    terms: PolicyTerms
    calendar: CalendarSpec
    recorded: bool  # False: the ticket recorded no rules, and the first versions judge it


class RuleBook:
    def __init__(self, load: Loader) -> None:
        self._load = load
        self._policies: dict[int, PolicyTerms] = {}
        self._calendars: dict[tuple[UUID, int], CalendarSpec] = {}
        self._lock = threading.Lock()

    def policy(self, version: int) -> PolicyTerms:
        terms = self._policies.get(version)
        if terms is None:
            policy = self._load(SlaPolicy.ID, version)
            assert isinstance(policy, SlaPolicy)
            with self._lock:
                terms = self._policies[version] = policy.terms
        return terms

    def calendar(self, ref: RuleVersion) -> CalendarSpec:
        key = (ref.id, ref.version)
        spec = self._calendars.get(key)
        if spec is None:
            calendar = self._load(ref.id, ref.version)
            assert isinstance(calendar, BusinessCalendar)
            with self._lock:
                spec = self._calendars[key] = calendar.spec()
        return spec

    def rules(self, ticket: Ticket) -> Rules:
        versions, recorded = ticket.rules, True
        if versions is None:
            recorded = False
            name = self.policy(1).calendar_for(ticket.service, ticket.organisation)
            versions = RuleVersions(
                policy=RuleVersion(id=SlaPolicy.ID, version=1),
                calendar=RuleVersion(id=calendar_id(name), version=1),
                calendar_name=name,
            )
        terms = self.policy(versions.policy.version)
        return Rules(versions, terms, self.calendar(versions.calendar), recorded)

    def judge(self, ticket: Ticket, as_of: datetime) -> tuple[Rules, TicketClock]:
        """The ticket's clock as of `as_of`, by the rules it recorded."""
        rules = self.rules(ticket)
        return rules, judge(ticket, rules.terms, rules.calendar, as_of)
