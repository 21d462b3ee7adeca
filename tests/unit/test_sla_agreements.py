"""Service level agreements in the SLA policy (ISO/IEC 20000-1 8.3.3), Given / When / Then: the
first agreement that covers a ticket's organisation and service sets its targets and calendar,
priority by priority; what it leaves out is the service's terms, then the policy's; and the clock
judges a ticket of that customer by them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.calendar import OFFICE_HOURS, CalendarSpec, shipped_holidays
from domain.incident import HoldReason
from domain.rule_versions import SlaTarget
from domain.sla import DEFAULT_TERMS, Agreement, PolicyTerms, ServiceTerms, Targets
from domain.sla_clock import Mark, MarkKind, Ticket, judge
from tests.conftest import T0

LEBAK = "perpus-kab-lebak"
JAKARTA = ZoneInfo("Asia/Jakarta")
FAST = Targets(response_minutes=30, resolution_minutes=120)
WIFI = Agreement(
    code="sla-lebak-wifi",
    name="Wi-Fi Lebak",
    customer=LEBAK,
    services=["public-wifi"],
    calendar="library",
    targets={3: FAST},
)
EVERYTHING = Agreement(code="sla-lebak", name="Lebak", customer=LEBAK, calendar="24x7")
TERMS = DEFAULT_TERMS.model_copy(
    update={
        "agreements": [WIFI, EVERYTHING],
        "services": {
            **DEFAULT_TERMS.services,
            "public-wifi": ServiceTerms(
                targets={4: Targets(response_minutes=5, resolution_minutes=9)}
            ),
        },
    }
)
OFFICE = CalendarSpec.of("Asia/Jakarta", OFFICE_HOURS, shipped_holidays())


def test_the_first_agreement_covering_the_customer_and_service_applies() -> None:
    assert TERMS.agreement_for("public-wifi", LEBAK) == WIFI
    assert TERMS.agreement_for("kiosks-gates", LEBAK) == EVERYTHING  # no services: all of them
    assert TERMS.agreement_for("public-wifi", "dpk-banten") is None
    assert TERMS.agreement_for("public-wifi", None) is None


def test_targets_come_from_the_agreement_then_the_service_then_the_policy() -> None:
    assert TERMS.targets_for("public-wifi", 3, LEBAK) == FAST
    assert TERMS.targets_for("public-wifi", 4, LEBAK).resolution_minutes == 9  # the service's
    assert TERMS.targets_for("public-wifi", 2, LEBAK) == DEFAULT_TERMS.targets[2]
    assert TERMS.targets_for("public-wifi", 3, "dpk-banten") == DEFAULT_TERMS.targets[3]
    assert TERMS.calendar_for("public-wifi", LEBAK) == "library"
    assert TERMS.calendar_for("kiosks-gates", LEBAK) == "24x7"
    assert TERMS.calendar_for("batupusaka", "dpk-banten") == "24x7"  # the service's
    assert TERMS.calendar_for("kiosks-gates", "dpk-banten") == "office"
    assert {"library", "24x7", "office"} <= TERMS.calendars()


def test_agreements_have_codes_of_their_own_known_customers_and_priorities_1_to_5() -> None:
    with pytest.raises(ValidationError, match="code of its own"):
        PolicyTerms.model_validate({**TERMS.model_dump(), "agreements": [WIFI, WIFI]})
    with pytest.raises(ValidationError, match="priorities 1 to 5"):
        PolicyTerms.model_validate(
            {**TERMS.model_dump(), "agreements": [{**WIFI.model_dump(), "targets": {9: FAST}}]}
        )
    with pytest.raises(ValidationError):
        Agreement(code="x", name="x", customer="perpus-kab-bogor")


@pytest.mark.parametrize(("organisation", "minutes"), [(LEBAK, 120), ("dpk-banten", 24 * 60)])
def test_the_clock_judges_a_customers_ticket_by_its_agreement(
    organisation: str, minutes: int
) -> None:
    ticket = Ticket("incident", "public-wifi", None, (Mark(T0, MarkKind.LOGGED, 3),), organisation)
    clock = judge(ticket, TERMS, OFFICE, T0 + timedelta(hours=1), explain=False)
    assert clock.resolution.target_time == timedelta(minutes=minutes)
    assert clock.resolution.target is SlaTarget.RESOLUTION


# -- the exceptions an agreement makes: days its customer is closed, holds that also pause ------

CLOSED_TUESDAY = EVERYTHING.model_copy(
    update={
        "closed_days": [date(2026, 3, 3)],  # the day after T0: Lebak's stock-take
        "pause_on": [HoldReason.AWAITING_CHANGE],
    }
)
EXCEPTIONS = DEFAULT_TERMS.model_copy(update={"agreements": [CLOSED_TUESDAY]})


def counted(organisation: str, *marks: Mark, days: int = 2) -> timedelta:
    logged = Mark(T0, MarkKind.LOGGED, 3)
    ticket = Ticket("incident", "kiosks-gates", None, (logged, *marks), organisation)
    clock = judge(ticket, EXCEPTIONS, OFFICE, T0 + timedelta(days=days), explain=False)
    return clock.resolution.counted


def test_the_clock_does_not_run_on_a_day_the_customers_agreement_closes() -> None:
    # Given Lebak's agreement closes Tuesday 3 March; the province has none
    tuesday = datetime(2026, 3, 3, tzinfo=JAKARTA)
    office_day = OFFICE.business_time(tuesday, tuesday + timedelta(days=1))
    assert office_day > timedelta()

    # When both tickets are judged on Wednesday afternoon, Then Lebak's counted one day less
    assert counted("dpk-banten") - counted(LEBAK) == office_day
    # and the calendar itself is not changed: the province's ticket counts Tuesday
    assert OFFICE.business_time(tuesday, tuesday + timedelta(days=1)) == office_day


@pytest.mark.parametrize(("organisation", "paused"), [(LEBAK, True), ("dpk-banten", False)])
def test_a_hold_the_agreement_lists_pauses_only_its_customers_clock(
    organisation: str, paused: bool
) -> None:
    # Given a ticket held awaiting a change from 09:30 to 15:30 WIB on Wednesday
    wednesday = T0 + timedelta(days=2)
    held = Mark(wednesday - timedelta(hours=6), MarkKind.HELD, HoldReason.AWAITING_CHANGE.value)
    resumed = Mark(wednesday, MarkKind.RESUMED)
    running = counted(organisation, days=3)

    # When it is judged, Then the hold paused its clock if, and only if, its agreement says so
    with_hold = counted(organisation, held, resumed, days=3)
    assert (with_hold < running) is paused
    assert (with_hold == running) is not paused


def test_exceptions_are_bounded_and_name_real_hold_reasons() -> None:
    with pytest.raises(ValidationError):
        Agreement(code="x", name="x", customer=LEBAK, pause_on=["awaiting_lunch"])
    with pytest.raises(ValidationError):
        Agreement(code="x", name="x", customer=LEBAK, closed_days=[date(2026, 1, 1)] * 101)
