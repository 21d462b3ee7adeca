"""The change policy (ISO/IEC 20000-1 8.5.1, items 18, 20 and 24 of the checklist): one versioned
rule, like the priority matrix, that says who approves which change (the approval matrix, by kind
and risk), which changes are of major impact and go to service design and transition, and what is
under change control (configuration item types, services). A change records the version that
judged it.

Given (records) / When (a command) / Then (events, or the named error).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.actors import Actor, Role
from domain.change import (
    ApproverRoleNotAllowed,
    Assessed,
    Authorised,
    BelowApprovalMatrix,
    Change,
    ChangeKind,
    CmdbImpact,
    DesignAcceptanceRequired,
    DesignAccepted,
    DesignReviewNotRequired,
    ImplementationOutcome,
    Risk,
    RoutedToDesignAndTransition,
    ServiceAction,
    TestResult,
)
from domain.change_commands import (
    AcceptDesign,
    Approve,
    Assess,
    ChangeConfigurationItem,
    RaiseChange,
    Reject,
)
from domain.change_policy import (
    DEFAULT_TERMS,
    Approvers,
    ChangeControl,
    ChangePolicy,
    ChangePolicyTerms,
    MajorCriteria,
    PolicyRevised,
    major_criteria_met,
)
from domain.configuration_item import (
    CiStatus,
    CiType,
    ConfigurationItem,
    Criticality,
    StatusChanged,
)
from domain.errors import ChangeNotImplemented, NothingChanged, NotPermitted
from domain.record_numbers import RecordKind
from domain.rule_commands import ReviseServiceCatalogue
from domain.service_catalogue import ServiceCatalogue, shipped_services
from tests.conftest import T0, context
from tests.unit.test_change_assessment_rules import ASPECTS
from tests.unit.test_change_intake_rules import ChangeSession

SYSTEM = Actor(id="system", role=Role.ADMIN)
SERVICE_MANAGER = Actor(id="dewi.lestari", role=Role.SERVICE_MANAGER)
MANAGER = Actor(id="rina.wati", role=Role.CHANGE_MANAGER)
AGENT = Actor(id="siti.rahma", role=Role.AGENT)
RESOLVER = Actor(id="andi.pratama", role=Role.RESOLVER)
AHMAD = Actor(id="ahmad", role=Role.CAB_MEMBER)
YUSUF = Actor(id="yusuf", role=Role.CAB_MEMBER)


def policy(terms: ChangePolicyTerms = DEFAULT_TERMS) -> ChangePolicy:
    made = ChangePolicy.define(context(SYSTEM), terms)
    made.collect_events()
    return made


def item(code: str, ci_type: CiType = CiType.SERVER, **more: Any) -> ConfigurationItem:
    made = ConfigurationItem.register(
        context(SYSTEM),
        code=code,
        name=code,
        ci_type=ci_type,
        owner="infra-team",
        status=CiStatus.ACTIVE,
        service=None,
        location=None,
        depends_on=[],
        **more,
    )
    made.collect_events()
    return made


class PolicySession(ChangeSession):
    """A session with the change policy, the directory's roles, the CMDB and numbered changes."""

    def __init__(self, *records: Any, rule: ChangePolicy | None = None) -> None:
        super().__init__(*records)
        self.rule = rule or policy()
        self.roles: dict[str, frozenset[Role]] = {}

    def change_policy(self) -> ChangePolicy:
        return self.rule

    def directory_roles(self, actor_id: str) -> frozenset[Role]:
        return self.roles.get(actor_id, frozenset())

    def impact_of(self, codes: list[str]) -> CmdbImpact:
        return CmdbImpact()

    def find_numbered(self, kind: RecordKind, ref: str) -> UUID:
        return next(
            r.id
            for r in self.records.values()
            if isinstance(r, Change) and f"CHG-{r.number:06d}" == ref
        )


def raise_in(session: PolicySession, **body: Any) -> Change:
    command = RaiseChange.model_validate({"kind": "normal", "title": "t", **body})
    change_id = command.decide(session, context(RESOLVER))  # type: ignore[arg-type]
    return session.get(Change, change_id)


def assess_in(session: PolicySession, change: Change, **body: Any) -> None:
    command = Assess.model_validate(
        {
            "risk": "medium",
            "impact": "x",
            "cab": ["ahmad", "yusuf"],
            "quorum": 1,
            "tests": ["drill"],
            **{k: v.model_dump() for k, v in ASPECTS.items()},
            **body,
        }
    )
    command.decide(session, context(MANAGER), change.id)  # type: ignore[arg-type]


# -- the rule itself -------------------------------------------------------------------------------


def test_a_service_manager_revises_the_policy_with_a_reason_and_each_version_stays() -> None:
    rule = policy()
    stricter = DEFAULT_TERMS.model_copy(
        update={
            "approval": {
                **DEFAULT_TERMS.approval,
                ChangeKind.NORMAL: {
                    **DEFAULT_TERMS.approval[ChangeKind.NORMAL],
                    Risk.MEDIUM: Approvers(roles=[Role.CHANGE_MANAGER], quorum=2),
                },
            }
        }
    )
    with pytest.raises(NotPermitted):
        rule.revise(context(MANAGER), stricter, "two approvers for medium risk")
    with pytest.raises(NothingChanged):
        rule.revise(context(SERVICE_MANAGER), DEFAULT_TERMS, "no change")

    rule.revise(context(SERVICE_MANAGER), stricter, "two approvers for medium risk")

    [event] = rule.collect_events()
    assert isinstance(event, PolicyRevised)
    assert (rule.version, event.reason) == (2, "two approvers for medium risk")
    assert rule.terms.approvers(ChangeKind.NORMAL, Risk.MEDIUM).quorum == 2


def test_the_matrix_names_approvers_for_every_risk_of_normal_and_emergency_changes() -> None:
    terms = DEFAULT_TERMS.model_dump()
    del terms["approval"][ChangeKind.EMERGENCY][Risk.LOW]
    with pytest.raises(ValidationError, match="every risk"):
        ChangePolicyTerms.model_validate(terms)
    standard = DEFAULT_TERMS.model_dump()
    standard["approval"][ChangeKind.STANDARD] = standard["approval"][ChangeKind.NORMAL]
    with pytest.raises(ValidationError, match="normal and emergency"):
        ChangePolicyTerms.model_validate(standard)
    with pytest.raises(ValidationError, match="not of major impact"):
        MajorCriteria(service_actions=[ServiceAction.NONE])


# -- the approval matrix (24) ----------------------------------------------------------------------


def test_assessment_refuses_a_quorum_or_cab_below_the_matrix_and_records_its_version() -> None:
    session = PolicySession()
    change = raise_in(session)

    with pytest.raises(BelowApprovalMatrix, match="at least 2"):
        assess_in(session, change, risk="high", quorum=1)  # the matrix asks two for high risk
    with pytest.raises(BelowApprovalMatrix):
        assess_in(session, change, risk="high", cab=["ahmad"], quorum=1)
    assert [type(e) for e in change.collect_events()][-1] is not Assessed

    assess_in(session, change, risk="high", quorum=2)

    assessed = next(e for e in change.collect_events() if isinstance(e, Assessed))
    assert (assessed.policy_version, assessed.approver_roles) == (
        1,
        [Role.CAB_MEMBER, Role.CHANGE_MANAGER, Role.SERVICE_MANAGER],
    )


def test_an_approver_without_a_role_the_matrix_names_is_refused_unless_the_directory_gives_it() -> (
    None
):
    # Given a matrix that lets only change managers approve, and a change assessed by it
    terms = DEFAULT_TERMS.model_copy(
        update={
            "approval": {
                kind: {risk: Approvers(roles=[Role.CHANGE_MANAGER], quorum=1) for risk in Risk}
                for kind in DEFAULT_TERMS.approval
            }
        }
    )
    session = PolicySession(rule=policy(terms))
    change = raise_in(session, backout_plan="restore")
    assess_in(session, change)
    change.collect_events()

    # When a named approver whose token and directory say cab_member approves: refused, and
    # rejecting takes the same standing
    with pytest.raises(ApproverRoleNotAllowed, match="change_manager"):
        Approve().decide(session, context(AHMAD), change.id)  # type: ignore[arg-type]
    with pytest.raises(ApproverRoleNotAllowed, match="change_manager"):
        Reject(reason="not now").decide(session, context(AHMAD), change.id)  # type: ignore[arg-type]
    assert change.collect_events() == []

    # When the directory says yusuf is a change manager too, Then his approval authorises
    session.roles["yusuf"] = frozenset({Role.CHANGE_MANAGER})
    Approve().decide(session, context(YUSUF), change.id)  # type: ignore[arg-type]
    assert [type(e) for e in change.collect_events()][-1] is Authorised


# -- changes of major impact (20) ------------------------------------------------------------------


@given(
    action=st.sampled_from(list(ServiceAction)),
    risk=st.none() | st.sampled_from(list(Risk)),
    levels=st.lists(st.sampled_from(list(Criticality)), max_size=12),
    services=st.lists(st.sampled_from(["batupusaka", "public-wifi", "circulation"]), max_size=3),
)
def test_a_change_meets_the_criteria_exactly_when_one_of_them_holds(
    action: ServiceAction,
    risk: Risk | None,
    levels: list[Criticality],
    services: list[str],
) -> None:
    criteria = DEFAULT_TERMS.major.model_copy(update={"critical_services": ["batupusaka"]})
    items = {f"item-{i}": level for i, level in enumerate(levels)}

    met = major_criteria_met(
        criteria, service_action=action, risk=risk, items=items, services=services
    )

    expected = (
        action in (ServiceAction.ADD, ServiceAction.REMOVE, ServiceAction.TRANSFER)
        or risk is Risk.HIGH
        or Criticality.CRITICAL in levels
        or "batupusaka" in services
        or len(items) > 10
    )
    assert bool(met) is expected


def test_a_change_of_major_impact_is_routed_and_waits_for_its_design_to_be_accepted() -> None:
    # Given a change that adds a service, on a critical server
    server = item("srv-ejournal", criticality=Criticality.CRITICAL)
    session = PolicySession(server)
    change = raise_in(
        session,
        services=["e-journal"],
        service_action="add",
        configuration_items=["srv-ejournal"],
        backout_plan="switch it off",
    )

    # Then raising it routed it to design and transition, naming the criteria and the version
    routed = [e for e in change.collect_events() if isinstance(e, RoutedToDesignAndTransition)]
    assert [(e.criteria, e.policy_version) for e in routed] == [
        (["service action: add", "critical items: srv-ejournal"], 1)
    ]
    # and the assessment's high risk is one more criterion
    assess_in(session, change, risk="high", quorum=2)
    routed = [e for e in change.collect_events() if isinstance(e, RoutedToDesignAndTransition)]
    assert [e.criteria for e in routed] == [["risk: high"]]

    # When a CAB member approves before the design is accepted: refused
    with pytest.raises(DesignAcceptanceRequired, match="service action: add"):
        Approve().decide(session, context(AHMAD), change.id)  # type: ignore[arg-type]

    # an agent does not accept a design; a change manager does, once
    acceptance = AcceptDesign(
        design_document="DOC-000031 v2", acceptance_criteria="reachable from OPAC with SSO"
    )
    with pytest.raises(NotPermitted):
        acceptance.decide(session, context(AGENT), change.id)  # type: ignore[arg-type]
    acceptance.decide(session, context(MANAGER), change.id)  # type: ignore[arg-type]
    [accepted] = change.collect_events()
    assert isinstance(accepted, DesignAccepted)
    assert (accepted.actor, accepted.design_document) == (MANAGER, "DOC-000031 v2")

    Approve().decide(session, context(AHMAD), change.id)  # type: ignore[arg-type]
    Approve().decide(session, context(YUSUF), change.id)  # type: ignore[arg-type]
    assert [type(e) for e in change.collect_events()][-1] is Authorised


def test_a_change_of_no_major_impact_needs_no_design_acceptance() -> None:
    session = PolicySession(item("kiosk-dpk-02", CiType.KIOSK))
    change = raise_in(session, configuration_items=["kiosk-dpk-02"])
    assert not [e for e in change.collect_events() if isinstance(e, RoutedToDesignAndTransition)]

    with pytest.raises(DesignReviewNotRequired):
        change.accept_design(context(MANAGER), design_document="DOC-1", acceptance_criteria="x")


# -- change control (18) ---------------------------------------------------------------------------


def implemented(session: PolicySession, **body: Any) -> Change:
    """A change taken through implementation, successfully."""
    change = raise_in(session, backout_plan="restore", **body)
    if change.major_criteria:
        change.accept_design(context(MANAGER), design_document="DOC-1", acceptance_criteria="x")
    assess_in(session, change)
    change.approve(context(AHMAD))
    change.record_test(context(RESOLVER), test="drill", result=TestResult.PASSED)
    change.schedule(
        context(MANAGER), start=T0, end=T0 + timedelta(hours=1), overridden=[], override_reason=None
    )
    change.start_implementation(context(RESOLVER))
    change.record_implementation(
        context(RESOLVER), outcome=ImplementationOutcome.SUCCESSFUL, notes="done"
    )
    change.collect_events()
    return change


def test_an_item_of_a_type_under_change_control_changes_only_through_an_implemented_change() -> (
    None
):
    # Given a policy that controls servers but not printers
    control = ChangeControl(ci_types=[CiType.SERVER], services=[])
    rule = policy(DEFAULT_TERMS.model_copy(update={"control": control}))
    server, printer = item("srv-01"), item("printer-03", CiType.PRINTER)
    session = PolicySession(server, printer, rule=rule)

    # When the server is put into maintenance naming no change: refused
    with pytest.raises(ChangeNotImplemented, match="under change control"):
        ChangeConfigurationItem(status=CiStatus.MAINTENANCE).decide(
            session,  # type: ignore[arg-type]
            context(AGENT),
            "srv-01",
            None,
        )

    # When the printer is, Then it is recorded as edited directly, naming no change
    ChangeConfigurationItem(status=CiStatus.MAINTENANCE).decide(
        session,  # type: ignore[arg-type]
        context(AGENT),
        "printer-03",
        None,
    )
    [event] = printer.collect_events()
    assert isinstance(event, StatusChanged)
    assert (event.change_id, event.change_ref, event.status) == (None, None, CiStatus.MAINTENANCE)

    # and the server through an implemented change, as ever
    change = implemented(session, configuration_items=["srv-01"])
    server.collect_events()
    ChangeConfigurationItem(change="CHG-000001", status=CiStatus.MAINTENANCE).decide(
        session,  # type: ignore[arg-type]
        context(AGENT),
        "srv-01",
        change.id,
    )
    [event] = server.collect_events()
    assert isinstance(event, StatusChanged)
    assert (event.change_id, event.change_ref) == (change.id, "CHG-000001")


def revise_catalogue(session: PolicySession, change: str | None) -> ServiceCatalogue:
    """Batupusaka renamed in a catalogue as shipped (a fresh one each time: the fake session
    keeps no copies, so a refused revision would leave its mark)."""
    catalogue = ServiceCatalogue.define(context(SYSTEM), shipped_services())
    catalogue.collect_events()
    session.records[catalogue.id] = catalogue
    services = [
        s.model_copy(update={"name": s.name.model_copy(update={"en": "Batupusaka (new)"})})
        if s.code == "batupusaka"
        else s
        for s in catalogue.services
    ]
    revision = ReviseServiceCatalogue(services=services, reason="renamed", change=change)
    revision.decide(session, context(SERVICE_MANAGER), catalogue.id)  # type: ignore[arg-type]
    return catalogue


def test_a_catalogue_revision_of_a_service_under_change_control_names_an_implemented_change() -> (
    None
):
    session = PolicySession()

    with pytest.raises(ChangeNotImplemented, match="batupusaka"):
        revise_catalogue(session, None)
    # a change that does nothing to a service, or to another one, does not do
    other = implemented(session, services=["public-wifi"], service_action="modify")
    with pytest.raises(ChangeNotImplemented, match="does not change"):
        revise_catalogue(session, f"CHG-{other.number:06d}")
    untouched = implemented(session, services=["batupusaka"])
    with pytest.raises(ChangeNotImplemented, match="does not change"):
        revise_catalogue(session, f"CHG-{untouched.number:06d}")

    change = implemented(session, services=["batupusaka"], service_action="modify")
    assert revise_catalogue(session, f"CHG-{change.number:06d}").version == 2


def test_a_catalogue_revision_of_services_not_under_change_control_names_no_change() -> None:
    catalogue = ServiceCatalogue.define(context(SYSTEM), shipped_services())
    session = PolicySession(catalogue)
    services = [
        s.model_copy(update={"retired": True}) if s.code == "public-wifi" else s
        for s in catalogue.services
    ]

    ReviseServiceCatalogue(services=services, reason="Wi-Fi handed over").decide(
        session,  # type: ignore[arg-type]
        context(SERVICE_MANAGER),
        catalogue.id,
    )

    assert catalogue.service("public-wifi").retired  # type: ignore[union-attr]
