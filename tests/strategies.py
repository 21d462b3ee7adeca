"""Hypothesis strategies for every registered event type, shared by the storage, schema and
stream tests.

Each event class has an explicit strategy, so a new event class fails
`test_every_registered_event_type_has_a_strategy` until someone says how to build one.
"""

from __future__ import annotations

import base64
import types
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Union, get_args, get_origin
from uuid import UUID

from hypothesis import strategies as st
from pydantic import AwareDatetime
from pydantic.fields import FieldInfo

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
    incident,
    internal_audit,
    issued_report,
    knowledge,
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
    service_request,
    sla,
    supplier,
    webhook_endpoint,
)
from domain.actors import Actor, Role
from domain.attachments import ALLOWED_TYPES
from domain.events import DomainEvent
from domain.notification_rules import BY_TOPIC
from domain.organisations import ORGANISATION_CODES
from domain.rule_versions import RuleVersions

ENVELOPE = ("originator_id", "originator_version", "timestamp", "actor", "correlation_id")

utc_datetimes = st.datetimes(timezones=st.just(UTC))
#: An actor id: any text of 1 to 200 characters with no control character (domain/text.py)
#: and no lone surrogate (which no UTF-8 text holds).
actor_ids = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters=[*map(chr, range(0x20)), "\x7f"]),
    min_size=1,
    max_size=200,
)
actors = st.builds(Actor, id=actor_ids, role=st.sampled_from(Role))
cells = st.fixed_dictionaries(
    {
        impact: st.fixed_dictionaries({u: st.integers(1, 5) for u in priority.Urgency})
        for impact in priority.Impact
    }
)


#: Major-incident criteria (domain/major_incident.py): services as the catalogue codes them.
major_criteria = st.builds(
    major_incident.Criteria,
    critical_services=st.lists(
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True), max_size=4
    ),
    critical_priority=st.integers(1, 5),
    related_reports=st.integers(2, 500),
    within_minutes=st.integers(1, 10_080),
    organisation_wide_priority=st.none() | st.integers(1, 5),
)

#: Organisation codes as records carry them (domain/organisations.py).
organisation_codes = st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True)


def _bounds(field: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in field.metadata:
        for name in ("min_length", "max_length", "ge", "le", "pattern"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    return found


def _value(annotation: Any, bounds: dict[str, Any]) -> st.SearchStrategy[Any]:
    if annotation is str and bounds.get("pattern"):
        return st.from_regex(bounds["pattern"], fullmatch=True)
    if annotation is str:
        return st.text(
            min_size=bounds.get("min_length", 0), max_size=min(bounds.get("max_length", 60), 60)
        )
    if annotation is bool:
        return st.booleans()
    if annotation == list[str]:
        return st.lists(st.text(min_size=1, max_size=30), max_size=4)
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return st.lists(_value(item, {}), max_size=4)
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        constraints = {**bounds}
        for info in metadata:
            if isinstance(info, FieldInfo):
                constraints.update(_bounds(info))
        if base is str and constraints.get("pattern"):
            return st.from_regex(constraints["pattern"], fullmatch=True)
        return _value(base, constraints)
    if annotation is int:
        return st.integers(min_value=bounds.get("ge"), max_value=bounds.get("le"))
    if annotation is UUID:
        return st.uuids()
    if annotation in (datetime, AwareDatetime):
        return utc_datetimes
    if annotation is date:
        return st.dates()
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return st.sampled_from(list(annotation))
    if annotation == priority.Cells:
        return cells
    raise NotImplementedError(f"no strategy for fields of type {annotation!r}: add one")


def field_values(field: FieldInfo) -> st.SearchStrategy[Any]:
    """Values a field accepts, from its annotation and its length and range constraints."""
    annotation = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        assert len(options) == 1, annotation
        return st.none() | _value(options[0], _bounds(field))
    return _value(annotation, _bounds(field))


def events(event_type: type[DomainEvent], **overrides: st.SearchStrategy[Any]) -> Any:
    """Instances of an event type: the envelope, then every field (optional ones included)."""
    fields = {
        name: overrides[name] if name in overrides else field_values(info)
        for name, info in event_type.model_fields.items()
        if name not in ENVELOPE
    }
    return st.builds(
        event_type,
        originator_id=st.uuids(),
        originator_version=st.integers(min_value=1, max_value=2**63 - 1),
        timestamp=utc_datetimes,
        actor=actors,
        correlation_id=st.uuids(),
        **fields,
    )


names = st.text(min_size=1, max_size=60)
#: Ed25519 public keys as PEM (any 32 bytes: the domain holds them as text)
public_key_pems = st.binary(min_size=32, max_size=32).map(
    lambda raw: (
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(b"0*0\x05\x06\x03+ep\x03!\x00" + raw).decode()
        + "\n-----END PUBLIC KEY-----\n"
    )
)
key_ids = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)
#: token ids as the service makes them, and as the first releases' tables may hold them
token_ids = key_ids | st.from_regex(r"[A-Za-z0-9.-]{1,64}", fullmatch=True)
secret_digests = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
codes = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
code_lists = st.lists(codes, max_size=5, unique=True).map(sorted)


@st.composite
def windowed(draw: st.DrawFn, event_type: type[DomainEvent], **overrides: Any) -> Any:
    """Events with a window that ends after it starts."""
    start = draw(st.datetimes(max_value=datetime(9000, 1, 1), timezones=st.just(UTC)))
    length = draw(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=30)))
    return draw(events(event_type, start=st.just(start), end=st.just(start + length), **overrides))


#: An aspect of a change's assessment: a level and perhaps a note.
aspects = st.builds(
    change.Aspect,
    level=st.sampled_from(list(change.Level)),
    note=st.none() | st.text(min_size=1, max_size=40),
)
#: What the CMDB said depends on a change's items.
cmdb_impacts = st.builds(
    change.CmdbImpact,
    items=st.lists(
        st.builds(change.ImpactedItem, code=codes, distance=st.integers(1, 5)), max_size=4
    ),
    services=code_lists,
)


def _approvers() -> st.SearchStrategy[Any]:
    roles = st.lists(st.sampled_from(list(Role)), min_size=1, max_size=3, unique=True)
    return st.builds(change_policy.Approvers, roles=roles, quorum=st.integers(1, 5))


#: The change policy's terms: every cell of the matrix, any criteria, any control.
policy_terms = st.builds(
    change_policy.ChangePolicyTerms,
    approval=st.fixed_dictionaries(
        {
            kind: st.fixed_dictionaries({risk: _approvers() for risk in change.Risk})
            for kind in change_policy.JUDGED_KINDS
        }
    ),
    major=st.builds(
        change_policy.MajorCriteria,
        service_actions=st.lists(
            st.sampled_from(
                [a for a in change.ServiceAction if a is not change.ServiceAction.NONE]
            ),
            unique=True,
            max_size=4,
        ),
        risks=st.lists(st.sampled_from(list(change.Risk)), unique=True, max_size=3),
        item_criticality=st.lists(
            st.sampled_from(list(configuration_item.Criticality)), unique=True, max_size=4
        ),
        critical_services=code_lists,
        more_items_than=st.none() | st.integers(1, 100),
    ),
    control=st.builds(
        change_policy.ChangeControl,
        ci_types=st.lists(st.sampled_from(list(configuration_item.CiType)), unique=True),
        services=code_lists,
    ),
)


@st.composite
def classified_changes(draw: st.DrawFn) -> Any:
    """Change.Raised as the validator admits it: a change to a service names one, a transfer
    (only) says where to."""
    action = draw(st.sampled_from(list(change.ServiceAction)))
    services = st.lists(codes, min_size=action is not change.ServiceAction.NONE, max_size=4)
    transfer_to = names if action is change.ServiceAction.TRANSFER else st.none()
    return draw(
        events(
            change.Raised,
            configuration_items=code_lists,
            template=st.none() | codes,
            organisation=organisation_codes,
            services=services,
            service_action=st.just(action),
            transfer_to=transfer_to,
        )
    )


def _record_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    ci = configuration_item
    through = {"change_ref": st.from_regex(r"CHG-[0-9]{6}", fullmatch=True)}
    return {
        ci.Registered: events(ci.Registered, code=codes, depends_on=code_lists),
        ci.StatusChanged: events(ci.StatusChanged, **through),
        ci.OwnerChanged: events(ci.OwnerChanged, **through),
        ci.DependencyAdded: events(ci.DependencyAdded, on=codes, **through),
        ci.DependencyRemoved: events(ci.DependencyRemoved, on=codes, **through),
        ci.DependantAdded: events(ci.DependantAdded, dependant=codes),
        ci.DependantRemoved: events(ci.DependantRemoved, dependant=codes, **through),
        change.TemplateDefined: events(
            change.TemplateDefined, code=codes, configuration_items=code_lists
        ),
        change.Raised: classified_changes(),
        change.PreAuthorised: events(change.PreAuthorised, template=codes),
        change.BackoutPlanRecorded: events(change.BackoutPlanRecorded),
        change.Assessed: events(
            change.Assessed,
            cab=st.lists(names, min_size=1, max_size=5, unique=True),
            quorum=st.just(1),
            continuity=st.none() | aspects,
            availability=st.none() | aspects,
            security=st.none() | aspects,
            cmdb_impact=st.none() | cmdb_impacts,
            policy_version=st.none() | st.integers(1, 50),
        ),
        change.TestsPlanned: events(
            change.TestsPlanned, tests=st.lists(names, min_size=1, max_size=4, unique=True)
        ),
        change.TestRecorded: events(change.TestRecorded),
        change.RoutedToDesignAndTransition: events(
            change.RoutedToDesignAndTransition,
            criteria=st.lists(names, min_size=1, max_size=3),
            policy_version=st.integers(1, 50),
        ),
        change.DesignAccepted: events(change.DesignAccepted),
        change_policy.PolicyDefined: events(change_policy.PolicyDefined, terms=policy_terms),
        change_policy.PolicyRevised: events(change_policy.PolicyRevised, terms=policy_terms),
        change.Approved: events(change.Approved),
        change.Authorised: events(
            change.Authorised, approvers=st.lists(names, min_size=1, max_size=5)
        ),
        change.Rejected: events(change.Rejected),
        change.Scheduled: windowed(change.Scheduled),
        change.ImplementationStarted: events(change.ImplementationStarted),
        change.Implemented: events(change.Implemented),
        change.ReviewTaskOpened: events(change.ReviewTaskOpened),
        change.Reviewed: events(change.Reviewed),
        change.Closed: events(change.Closed),
        change.Cancelled: events(change.Cancelled),
        change_schedule.WindowBooked: windowed(
            change_schedule.WindowBooked,
            configuration_items=code_lists,
            reach=code_lists,
            change_ref=through["change_ref"],
        ),
        change_schedule.WindowReleased: events(change_schedule.WindowReleased),
        change_schedule.BlackoutDeclared: windowed(
            change_schedule.BlackoutDeclared, code=codes, configuration_items=code_lists
        ),
        change_schedule.BlackoutWithdrawn: events(change_schedule.BlackoutWithdrawn, code=codes),
        record_numbers.RecordNumberAllocated: events(record_numbers.RecordNumberAllocated),
        **_link_strategies(),
        **_request_strategies(),
        **_problem_strategies(),
        **_knowledge_strategies(),
        **_satisfaction_strategies(),
        **_document_strategies(),
        **_issued_report_strategies(),
        **_supplier_strategies(),
        **_audit_strategies(),
    }


refs = st.from_regex(r"(INC|CHG|PRB)-[0-9]{6}", fullmatch=True)


def _link_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    return {
        incident.LinkedToProblem: events(incident.LinkedToProblem, problem_ref=refs),
        incident.LinkedToChange: events(incident.LinkedToChange, change_ref=refs),
        incident.WorkaroundShared: events(incident.WorkaroundShared, problem_ref=refs),
        incident.ChildLinked: events(incident.ChildLinked, incident_ref=refs),
        incident.LinkedToParent: events(incident.LinkedToParent, incident_ref=refs),
        incident.UnlinkedFromParent: events(incident.UnlinkedFromParent, incident_ref=refs),
        incident.ChildUnlinked: events(incident.ChildUnlinked, incident_ref=refs),
        incident.ParentResolved: events(
            incident.ParentResolved, incident_ref=refs, on_behalf_of=actors
        ),
        incident.DuplicateMerged: events(incident.DuplicateMerged, incident_ref=refs),
        change.ProblemLinked: events(change.ProblemLinked, problem_ref=refs),
        change.IncidentLinked: events(change.IncidentLinked, incident_ref=refs),
        configuration_item.ProblemLinked: events(
            configuration_item.ProblemLinked, problem_ref=refs
        ),
        configuration_item.ChangeLinked: events(configuration_item.ChangeLinked, change_ref=refs),
        configuration_item.Verified: events(configuration_item.Verified),
        configuration_item.DiscrepancyCorrected: events(configuration_item.DiscrepancyCorrected),
    }


#: approval rules that hold together: none, by a role, or by named approvers and a quorum
approval_rules = st.one_of(
    st.fixed_dictionaries(
        {
            "approval_required": st.just(False),
            "approver_role": st.none(),
            "approvers": st.just([]),
            "approvals_needed": st.just(1),
        }
    ),
    st.fixed_dictionaries(
        {
            "approval_required": st.just(True),
            "approver_role": st.sampled_from(Role),
            "approvers": st.just([]),
            "approvals_needed": st.integers(1, 3),
        }
    ),
    st.lists(names, min_size=1, max_size=4, unique=True).flatmap(
        lambda named: st.fixed_dictionaries(
            {
                "approval_required": st.just(True),
                "approver_role": st.none(),
                "approvers": st.just(named),
                "approvals_needed": st.integers(1, len(named)),
            }
        )
    ),
)
steps = st.lists(names, min_size=1, max_size=5)


@st.composite
def _with_rule(draw: st.DrawFn, event_type: type[DomainEvent], **overrides: Any) -> Any:
    rule = {k: st.just(v) for k, v in draw(approval_rules).items()}
    return draw(events(event_type, steps=steps, **rule, **overrides))


def _request_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    r = service_request
    return {
        r.CatalogueItemDefined: _with_rule(r.CatalogueItemDefined, code=codes),
        r.ArticleLinked: events(r.ArticleLinked),
        r.ArticleUnlinked: events(r.ArticleUnlinked),
        r.Submitted: _with_rule(
            r.Submitted,
            catalogue_item=codes,
            organisation=organisation_codes,
            sla=st.none() | st.builds(RuleVersions),
        ),
        r.ApprovalRequested: events(r.ApprovalRequested),
        r.ApprovalGiven: events(r.ApprovalGiven),
        r.Approved: events(r.Approved, approvers=st.lists(names, min_size=1, max_size=4)),
        r.Rejected: events(r.Rejected),
        r.FulfilmentStarted: events(r.FulfilmentStarted),
        r.StepCompleted: events(r.StepCompleted),
        r.InformationRequested: events(r.InformationRequested),
        r.RequesterResponded: events(r.RequesterResponded),
        r.Fulfilled: events(r.Fulfilled),
        r.Closed: events(r.Closed),
        r.SlaWarned: events(r.SlaWarned),
        r.SlaBreached: events(r.SlaBreached),
        r.Cancelled: events(r.Cancelled),
    }


def _problem_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    p = problem
    return {
        p.Logged: events(p.Logged, configuration_items=code_lists, organisation=organisation_codes),
        p.InvestigationStarted: events(p.InvestigationStarted),
        p.RootCauseRecorded: events(
            p.RootCauseRecorded,
            analysis=st.none()
            | st.builds(
                p.Analysis,
                whys=st.lists(names, max_size=p.MAX_WHYS),
                factors=st.lists(st.builds(p.Factor, category=names, cause=names), max_size=4),
                notes=st.none() | names,
            ),
            actions=st.lists(
                st.builds(
                    p.NumberedAction,
                    kind=st.sampled_from(p.ActionKind),
                    description=names,
                    owner=names,
                    change=st.none() | st.from_regex(r"CHG-[0-9]{6}", fullmatch=True),
                    improvement=st.none() | st.from_regex(r"IMP-[0-9]{6}", fullmatch=True),
                    number=st.integers(1, p.MAX_PROBLEM_ACTIONS),
                ),
                max_size=3,
            ),
        ),
        p.WorkaroundPublished: events(p.WorkaroundPublished),
        p.KnownErrorPublished: events(p.KnownErrorPublished),
        p.Resolved: events(p.Resolved, change_ref=refs),
        p.Closed: events(p.Closed),
        p.Cancelled: events(p.Cancelled),
        p.IncidentLinked: events(p.IncidentLinked, incident_ref=refs),
        p.ChangeLinked: events(p.ChangeLinked, change_ref=refs),
        p.ConfigurationItemLinked: events(p.ConfigurationItemLinked, code=codes),
        p.Reprioritised: events(p.Reprioritised),
        # the target must fit the kind of escalation, as an incident's
        p.Escalated: events(
            p.Escalated,
            kind=st.just(incident.EscalationKind.FUNCTIONAL),
            to_group=names,
            to_manager=st.none(),
        )
        | events(
            p.Escalated,
            kind=st.just(incident.EscalationKind.HIERARCHICAL),
            to_group=st.none(),
            to_manager=names,
        ),
        p.WorkNoteAdded: events(p.WorkNoteAdded),
        p.ActionTaken: events(p.ActionTaken),
        # a rejection says why
        p.PotentialActionDecided: events(
            p.PotentialActionDecided, decision=st.just(p.ActionDecision.TAKEN)
        )
        | events(
            p.PotentialActionDecided, decision=st.just(p.ActionDecision.REJECTED), reason=names
        ),
    }


def _knowledge_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    k = knowledge
    keywords = st.lists(names, max_size=5)
    return {
        k.Drafted: events(k.Drafted, keywords=keywords, organisation=organisation_codes),
        k.Revised: events(k.Revised, keywords=keywords),
        k.SubmittedForReview: events(k.SubmittedForReview),
        k.ChangesRequested: events(k.ChangesRequested),
        k.Published: events(k.Published),
        k.Retired: events(k.Retired),
        k.ProblemLinked: events(k.ProblemLinked, problem_ref=refs),
    }


def _satisfaction_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    """Ratings of incidents and requests, and the improvement register (domain/satisfaction.py,
    domain/improvement.py)."""
    m = improvement
    sources = st.builds(m.SourceRecord, kind=st.sampled_from(m.SourceKind), id=st.uuids(), ref=refs)
    return {
        incident.Rated: events(incident.Rated),
        service_request.Rated: events(service_request.Rated),
        m.Proposed: events(
            m.Proposed,
            source_record=st.none() | sources,
            due=st.none() | st.dates(),
            organisation=organisation_codes,
        ),
        m.Approved: events(m.Approved),
        m.Started: events(m.Started),
        m.Completed: events(m.Completed),
        m.Rejected: events(m.Rejected),
        m.OwnerAssigned: events(m.OwnerAssigned),
    }


def _document_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    """The register of controlled documents (domain/document.py)."""
    d = document
    links = st.none() | st.from_regex(
        r"https://[a-z]{1,20}\.go\.id/[a-z0-9/]{0,30}", fullmatch=True
    )
    versions = st.integers(min_value=1, max_value=2**63 - 1)
    clauses = st.lists(st.from_regex(r"([4-9]|10)(\.[0-9]{1,2}){0,3}", fullmatch=True), max_size=4)
    return {
        d.Registered: events(
            d.Registered,
            clauses=clauses,
            source=st.none() | st.builds(d.Source, publisher=names, version=st.just("3.2")),
            retention=st.builds(
                d.Retention,
                keep_months=st.integers(min_value=0, max_value=1_200),
                then=st.sampled_from(d.Disposal),
            ),
            link=links,
        ),
        d.VersionDrafted: events(d.VersionDrafted, version=versions, link=links),
        d.ContentSet: events(d.ContentSet, version=versions, link=links),
        d.SubmittedForApproval: events(d.SubmittedForApproval, version=versions),
        d.Approved: events(d.Approved, version=versions),
        d.Returned: events(d.Returned, version=versions),
        d.Published: events(
            d.Published, version=versions, supersedes=st.none() | versions, next_review=st.dates()
        ),
        d.Reviewed: events(d.Reviewed, version=versions, next_review=st.dates()),
        d.ReviewDueNoticed: events(d.ReviewDueNoticed, version=versions, due=st.dates()),
        d.Withdrawn: events(d.Withdrawn),
        d.VersionDisposed: events(
            d.VersionDisposed, version=versions, sha256=st.none() | secret_digests
        ),
    }


def _issued_report_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    """Issued service reports (domain/issued_report.py): the report whole is any JSON object."""
    m = issued_report
    body = st.dictionaries(names, st.none() | st.integers() | names, max_size=4)
    return {
        m.Issued: events(m.Issued, body=body, period_from=st.dates(), period_to=st.dates()),
        m.DecisionRecorded: events(m.DecisionRecorded),
    }


def _supplier_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    """Suppliers and their contracts (domain/supplier.py)."""
    m = supplier
    contracts = st.builds(
        m.Contract,
        reference=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 /.-]{0,40}", fullmatch=True),
        document=st.none() | st.from_regex(r"^DOC-\d{6}$", fullmatch=True),
        services=st.lists(codes, min_size=1, max_size=3, unique=True),
        valid_from=st.dates(max_value=date(2100, 1, 1)),
        valid_to=st.none(),
        response_minutes=st.none() | st.integers(1, m.MAX_MINUTES),
        resolution_minutes=st.integers(1, m.MAX_MINUTES),
        calendar=codes,
    )
    return {
        m.Registered: events(m.Registered, contract=contracts),
        m.ContractRevised: events(m.ContractRevised, contract=contracts),
        m.Retired: events(m.Retired),
    }


def _audit_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    """The audit programme and nonconformities (domain/internal_audit.py,
    domain/nonconformity.py)."""
    a, n = internal_audit, nonconformity
    clauses = st.from_regex(n.CLAUSE_PATTERN, fullmatch=True)
    evidence = st.builds(
        a.Evidence, kind=st.sampled_from(a.EvidenceKind), ref=refs, note=st.none() | names
    )
    opened = st.builds(
        a.Opened,
        kind=st.sampled_from(["nonconformity", "improvement"]),
        id=st.uuids(),
        ref=st.from_regex(r"(NC|IMP)-[0-9]{6}", fullmatch=True),
    )
    finding = st.builds(n.FindingRef, audit_id=st.uuids(), audit=refs, finding=st.integers(1, 99))
    return {
        a.Planned: events(
            a.Planned,
            scope=st.lists(clauses, min_size=1, max_size=3),
            services=st.lists(codes, max_size=3),
            auditors=st.lists(actor_ids, max_size=3),
            organisation=organisation_codes,
        ),
        a.AuditorAssigned: events(a.AuditorAssigned),
        a.Started: events(a.Started),
        a.FindingRecorded: events(
            a.FindingRecorded,
            clause=clauses,
            evidence=st.lists(evidence, max_size=3),
            opened=st.none() | opened,
        ),
        a.Reported: events(a.Reported),
        a.Closed: events(a.Closed),
        a.Cancelled: events(a.Cancelled),
        n.Raised: events(
            n.Raised,
            clause=clauses,
            finding=st.none() | finding,
            organisation=organisation_codes,
        ),
        n.CorrectionRecorded: events(n.CorrectionRecorded),
        n.RootCauseRecorded: events(n.RootCauseRecorded),
        n.ActionPlanned: events(n.ActionPlanned),
        n.ActionDone: events(n.ActionDone),
        n.VerifiedEffective: events(n.VerifiedEffective),
        n.VerifiedNotEffective: events(n.VerifiedNotEffective),
    }


def _directory_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    d = directory
    hours = st.none() | codes
    known = st.sampled_from(sorted(ORGANISATION_CODES))
    members = st.lists(actor_ids, max_size=4)
    emails = st.none() | st.from_regex(d.EMAIL_PATTERN, fullmatch=True).filter(
        lambda text: len(text) <= 254
    )
    shifts = st.lists(
        st.builds(
            d.Shift,
            person=actor_ids,
            starts=st.just(datetime(2026, 12, 1, tzinfo=UTC)),
            ends=st.just(datetime(2026, 12, 2, tzinfo=UTC)),
        ),
        max_size=1,
    )
    return {
        d.PersonRegistered: events(
            d.PersonRegistered,
            actor_id=actor_ids,
            email=emails,
            organisation=known,
            roles=st.lists(st.sampled_from(Role), max_size=3),
            source=st.sampled_from(["admin", "import", "sso", "seed"]),
        ),
        d.PersonRenamed: events(d.PersonRenamed),
        d.ContactChanged: events(d.ContactChanged, email=emails),
        d.LanguageChosen: events(d.LanguageChosen),
        d.OrganisationChanged: events(d.OrganisationChanged, organisation=known),
        d.RolesChanged: events(d.RolesChanged, roles=st.lists(st.sampled_from(Role), max_size=3)),
        d.MutesChosen: events(
            d.MutesChosen, topics=st.lists(st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True))
        ),
        d.PersonDeactivated: events(d.PersonDeactivated),
        d.PersonReactivated: events(d.PersonReactivated),
        d.PasswordSet: events(d.PasswordSet),
        d.PersonErased: events(d.PersonErased),
        d.GroupFormed: events(
            d.GroupFormed,
            code=codes,
            hours=hours,
            organisation=known,
            members=members,
            manager=st.none() | actor_ids,
        ),
        d.GroupRenamed: events(d.GroupRenamed),
        d.GroupMemberAdded: events(d.GroupMemberAdded, member=actor_ids),
        d.GroupMemberRemoved: events(d.GroupMemberRemoved, member=actor_ids),
        d.ManagerAppointed: events(d.ManagerAppointed, manager=actor_ids),
        d.HoursSet: events(d.HoursSet, hours=hours),
        d.OnCallRotaSet: events(d.OnCallRotaSet, shifts=shifts),
        d.GroupDisbanded: events(d.GroupDisbanded),
        d.BroadcastListCreated: events(d.BroadcastListCreated, code=codes, members=members),
        d.ListMemberAdded: events(d.ListMemberAdded, member=actor_ids),
        d.ListMemberRemoved: events(d.ListMemberRemoved, member=actor_ids),
    }


def _notification_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    n = notification
    return {
        n.Decided: events(
            n.Decided,
            language=st.sampled_from(["id", "en"]),
            organisation=organisation_codes,
            record_version=st.integers(min_value=1, max_value=2**31),
        ),
        n.AttemptStarted: events(n.AttemptStarted),
        n.Sent: events(n.Sent),
        n.AttemptFailed: events(n.AttemptFailed),
        n.DeadLettered: events(n.DeadLettered),
        n.Requeued: events(n.Requeued),
        n.Withdrawn: events(n.Withdrawn),
    }


def _canned_response_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    cr = canned_response
    words = st.sampled_from(
        [
            "Halo {{ caller_name }}, laporan {{ number }} sedang kami tangani.",
            "Silakan datang ke meja layanan dengan KTP.",
            "Hello {{ caller_name }}, {{ title }} ({{ service }}) is being looked at.",
        ]
    )
    return {
        cr.Created: events(cr.Created, code=codes, text_id=words, text_en=st.none() | words),
        cr.Revised: events(cr.Revised, text_id=words, text_en=st.none() | words),
        cr.Retired: events(cr.Retired),
    }


def _saved_filter_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    f = saved_filter
    optional_codes, services = st.none() | codes, st.sampled_from(["Kiosk", "INLISLite", "Wi-Fi"])
    queries: dict[saved_filter.RecordList, st.SearchStrategy[Any]] = {
        f.RecordList.INCIDENTS: st.builds(
            f.IncidentQuery,
            status=st.none() | st.sampled_from(list(incident.IncidentState)),
            group=optional_codes,
            priority=st.none() | st.integers(min_value=1, max_value=5),
            service=st.none() | services,
        ),
        f.RecordList.SERVICE_REQUESTS: st.builds(
            f.RequestQuery,
            state=st.none() | st.sampled_from(list(service_request.RequestState)),
            group=optional_codes,
            requester=optional_codes,
        ),
        f.RecordList.PROBLEMS: st.builds(
            f.ProblemQuery,
            state=st.none() | st.sampled_from(list(problem.ProblemState)),
            service=st.none() | services,
        ),
        f.RecordList.CHANGES: st.builds(
            f.ChangeQuery,
            state=st.none() | st.sampled_from(list(change.ChangeState)),
            kind=st.none() | st.sampled_from(list(change.ChangeKind)),
        ),
    }

    def of_a_list(event_type: type[DomainEvent]) -> st.SearchStrategy[Any]:
        """The event, its query one of its list's (as the domain validates it)."""
        return st.sampled_from(list(f.RecordList)).flatmap(
            lambda listed: queries[listed].flatmap(
                lambda query: events(event_type, list=st.just(listed), query=st.just(query))
            )
        )

    return {
        f.Saved: of_a_list(f.Saved),
        f.Revised: of_a_list(f.Revised),
        f.Deleted: events(f.Deleted),
    }


def _webhook_endpoint_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    w = webhook_endpoint
    urls = st.sampled_from(
        [
            "https://chat.dpk-banten.example/hooks/itsm",
            "https://wa-gateway.example:8443/in?token=abc",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
        ]
    )
    topics = st.just(["*"]) | st.lists(
        st.sampled_from(sorted(BY_TOPIC)), min_size=1, max_size=4, unique=True
    )
    fingerprints = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)
    return {
        w.Registered: events(
            w.Registered,
            code=codes,
            url=urls,
            topics=topics,
            organisation=st.none() | st.sampled_from(sorted(ORGANISATION_CODES)),
            secret_fingerprint=fingerprints,
        ),
        w.TopicsChosen: events(w.TopicsChosen, topics=topics),
        w.UrlChanged: events(w.UrlChanged, url=urls),
        w.SecretRotated: events(w.SecretRotated, secret_fingerprint=fingerprints),
        w.Paused: events(w.Paused),
        w.Resumed: events(w.Resumed),
        w.Retired: events(w.Retired),
    }


def _inbound_mail_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    m = inbound_mail
    message_ids = st.from_regex(r"<[a-z0-9.-]{1,40}@[a-z0-9.-]{1,40}>", fullmatch=True)
    return {
        m.Applied: events(m.Applied, message_id=message_ids),
        m.Ignored: events(m.Ignored, message_id=message_ids),
        m.DeadLettered: events(m.DeadLettered, message_id=message_ids, sha256=secret_digests),
        m.Replayed: events(m.Replayed, sha256=secret_digests),
        m.Redelivered: events(m.Redelivered),
    }


def _attachment_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    """The files on incidents, requests, problems, changes and documents (domain/attachments.py)."""
    strategies: dict[type[DomainEvent], st.SearchStrategy[Any]] = {}
    for kind in (incident, service_request, problem, change, document):
        for added in (kind.AttachmentAdded, kind.InternalAttachmentAdded):
            strategies[added] = events(
                added,
                sha256=secret_digests,
                content_type=st.sampled_from(sorted(ALLOWED_TYPES)),
            )
        strategies[kind.AttachmentRemoved] = events(kind.AttachmentRemoved, sha256=secret_digests)
    return strategies


STRATEGIES: dict[type[DomainEvent], st.SearchStrategy[Any]] = {
    incident.Logged: events(
        incident.Logged,
        sla=st.none() | st.builds(RuleVersions),
        organisation=organisation_codes,
        source=st.none() | st.builds(incident.ImportSource, file=st.none() | names),
    ),
    incident.Assigned: events(incident.Assigned),
    incident.WorkStarted: events(incident.WorkStarted),
    incident.PutOnHold: events(incident.PutOnHold),
    incident.Resumed: events(incident.Resumed),
    incident.WorkNoteAdded: events(incident.WorkNoteAdded),
    incident.CommentAdded: events(incident.CommentAdded),
    incident.Reprioritised: events(incident.Reprioritised),
    incident.Recategorised: events(incident.Recategorised),
    # the target must fit the kind of escalation
    incident.Escalated: events(
        incident.Escalated,
        kind=st.just(incident.EscalationKind.FUNCTIONAL),
        to_group=names,
        to_manager=st.none(),
    )
    | events(
        incident.Escalated,
        kind=st.just(incident.EscalationKind.HIERARCHICAL),
        to_group=st.none(),
        to_manager=names,
    ),
    incident.MajorIncidentDeclared: events(incident.MajorIncidentDeclared),
    incident.MajorIncidentStoodDown: events(incident.MajorIncidentStoodDown),
    incident.MajorIncidentProposed: events(
        incident.MajorIncidentProposed,
        criteria=st.lists(st.sampled_from(major_incident.Criterion), min_size=1, max_size=3),
    ),
    incident.MajorIncidentReviewed: events(
        incident.MajorIncidentReviewed,
        problems=st.lists(st.from_regex(r"PRB-[0-9]{6}", fullmatch=True), max_size=3),
        improvements=st.lists(st.from_regex(r"IMP-[0-9]{6}", fullmatch=True), max_size=3),
    ),
    major_incident.CriteriaDefined: events(major_incident.CriteriaDefined, criteria=major_criteria),
    major_incident.CriteriaRevised: events(major_incident.CriteriaRevised, criteria=major_criteria),
    incident.Resolved: events(incident.Resolved),
    incident.Reopened: events(incident.Reopened),
    incident.Closed: events(incident.Closed),
    # a duplicate names the original, and only a duplicate does
    incident.Cancelled: events(
        incident.Cancelled,
        reason=st.just(incident.CancelReason.DUPLICATE),
        duplicate_of=st.uuids(),
    )
    | events(
        incident.Cancelled,
        reason=st.just(incident.CancelReason.LOGGED_IN_ERROR),
        duplicate_of=st.none(),
    ),
    priority.MatrixDefined: events(priority.MatrixDefined),
    disclosure.Recorded: events(disclosure.Recorded),
    legal_hold.HoldPlaced: events(legal_hold.HoldPlaced, record_ref=st.just("DOC-000003")),
    legal_hold.HoldReleased: events(legal_hold.HoldReleased, record_ref=st.just("DOC-000003")),
    audit_schedule.ScheduleDefined: events(
        audit_schedule.ScheduleDefined, terms=st.just(audit_schedule.DEFAULT_TERMS)
    ),
    audit_schedule.ScheduleRevised: events(
        audit_schedule.ScheduleRevised, terms=st.just(audit_schedule.DEFAULT_TERMS)
    ),
    audit_key.Introduced: events(audit_key.Introduced, public_key=public_key_pems, key_id=key_ids),
    audit_key.Rotated: events(
        audit_key.Rotated, public_key=public_key_pems, key_id=key_ids, previous_key_id=key_ids
    ),
    priority.MatrixRevised: events(priority.MatrixRevised),
    service_catalogue.CatalogueDefined: events(
        service_catalogue.CatalogueDefined, services=st.just(service_catalogue.shipped_services())
    ),
    service_catalogue.CatalogueRevised: events(
        service_catalogue.CatalogueRevised, services=st.just(service_catalogue.shipped_services())
    ),
    # who may use the API (domain/api_token.py)
    api_token.Issued: events(
        api_token.Issued,
        token_id=token_ids,
        secret_sha256=secret_digests,
        holder=actors,
        organisation=st.none() | organisation_codes,
    ),
    api_token.Imported: events(
        api_token.Imported,
        token_id=token_ids,
        secret_sha256=secret_digests,
        holder=actors,
        organisation=st.none() | organisation_codes,
        source=st.just("imported from api_tokens"),
    ),
    api_token.Revoked: events(api_token.Revoked, token_id=token_ids),
    api_token.TablesImported: events(
        api_token.TablesImported, token_ids=st.lists(token_ids, max_size=4)
    ),
    records.NumberAllocated: events(records.NumberAllocated),
    # SLA rules and alerts (docs/sla.md): the rule values are models of their own
    incident.SlaWarned: events(incident.SlaWarned),
    incident.SlaBreached: events(incident.SlaBreached),
    sla.PolicyDefined: events(sla.PolicyDefined, terms=st.just(sla.DEFAULT_TERMS)),
    sla.PolicyRevised: events(sla.PolicyRevised, terms=st.just(sla.DEFAULT_TERMS)),
    calendar.CalendarDefined: events(
        calendar.CalendarDefined,
        hours=st.just(calendar.OFFICE_HOURS),
        years=st.just(calendar.shipped_holidays()),
    ),
    calendar.HolidaysAmended: events(
        calendar.HolidaysAmended,
        year=st.just(2026),
        holidays=st.just(calendar.shipped_holidays()[2026]),
    ),
    calendar.HoursRevised: events(calendar.HoursRevised, hours=st.just(calendar.ROUND_THE_CLOCK)),
    records.IdempotencyKeyRecorded: events(records.IdempotencyKeyRecorded),
    **_record_strategies(),
    **_directory_strategies(),
    **_notification_strategies(),
    **_webhook_endpoint_strategies(),
    **_canned_response_strategies(),
    **_saved_filter_strategies(),
    **_inbound_mail_strategies(),
    **_attachment_strategies(),
}
