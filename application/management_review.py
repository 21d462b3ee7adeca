"""The inputs of a management review (ISO/IEC 20000-1 9.3) for a period, as one answer read from
the views: the decisions of earlier reviews of reports and their actions, with the state of the
improvement each opened; the audits of the period and their findings; nonconformities open,
closed and overdue; the improvement register by state and source; customers' ratings (count,
mean, the low ones); and the service reports issued for the period, by code and digest.

Only views are read (projections/queries.py), each within the caller's reach; nothing is
recomputed from events. The period is whole days in the office's time (Asia/Jakarta).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from domain.context import Context
from domain.internal_audit import OFFICE_ZONE
from domain.nonconformity import NonconformityState
from domain.satisfaction import is_low
from projections.base import Row
from projections.improvements import improvements
from projections.incident_details import incidents
from projections.internal_audits import internal_audits
from projections.issued_reports import issued_reports
from projections.nonconformities import nonconformities
from projections.queries import BY_CODE, SHARED, View
from projections.service_requests import service_requests
from projections.view_store import ViewStore

#: Issued reports as management reads them: every one, whatever its organisation.
ISSUED = View(issued_reports, SHARED, BY_CODE)


def _day(stamp: str | None) -> date | None:
    """The office day of a view's UTC time."""
    if stamp is None:
        return None
    return datetime.fromisoformat(stamp).astimezone(OFFICE_ZONE).date()


def _overlaps(first: str, last: str, since: date, until: date) -> bool:
    return date.fromisoformat(first) <= until and date.fromisoformat(last) >= since


def _in(stamp: str | None, since: date, until: date) -> bool:
    day = _day(stamp)
    return day is not None and since <= day <= until


def review(store: ViewStore, ctx: Context, since: date, until: date, today: date) -> dict[str, Any]:
    """The inputs of a management review of [since, until] (office days), as of `today`."""
    improvement_rows = improvements.rows(store, ctx)
    return {
        "period": {"from": since.isoformat(), "to": until.isoformat()},
        "today": today.isoformat(),
        "previous_actions": _previous_actions(store, ctx, since, improvement_rows),
        "audits": _audits(store, ctx, since, until),
        "nonconformities": _nonconformities(store, ctx, since, until, today),
        "improvements": _improvements(improvement_rows),
        "satisfaction": _satisfaction(store, ctx, since, until),
        "reports": [
            {"code": r["code"], "report": r["report"], "period": r["period"], "digest": r["digest"]}
            for r in ISSUED.rows(store, ctx)
            if _overlaps(r["period"]["from"], r["period"]["to"], since, until)
        ],
    }


def _previous_actions(
    store: ViewStore, ctx: Context, since: date, improvement_rows: list[Row]
) -> list[dict[str, Any]]:
    """The decisions recorded on reports before the period, with their actions and the state
    of the improvement each names (9.3 a: the status of actions from previous reviews)."""
    states = {r["ref"]: r["state"] for r in improvement_rows}
    return [
        {
            "report": report["code"],
            "decision": d["decision"],
            "actions": d["actions"],
            "improvement": d["improvement"],
            "improvement_state": states.get(d["improvement"]),
            "at": d["at"],
        }
        for report in ISSUED.rows(store, ctx)
        for d in report["decisions"]
        if (_day(d["at"]) or since) < since
    ]


def _audits(store: ViewStore, ctx: Context, since: date, until: date) -> list[dict[str, Any]]:
    return [
        {
            "ref": a["ref"],
            "title": a["title"],
            "state": a["state"],
            "scope": a["scope"],
            "planned": a["planned"],
            "findings": [
                {
                    "finding": f["finding"],
                    "kind": f["kind"],
                    "clause": f["clause"],
                    "opened": None if f["opened"] is None else f["opened"]["ref"],
                }
                for f in a["findings"]
            ],
        }
        for a in internal_audits.rows(store, ctx)
        if _overlaps(a["planned"]["start"], a["planned"]["end"], since, until)
    ]


def _nonconformities(
    store: ViewStore, ctx: Context, since: date, until: date, today: date
) -> dict[str, Any]:
    rows = nonconformities.rows(store, ctx)
    open_ = [r for r in rows if r["state"] == NonconformityState.OPEN]
    return {
        "open": len(open_),
        "raised_in_period": sum(_in(r["raised_at"], since, until) for r in rows),
        "closed_in_period": sum(_in(r["closed_at"], since, until) for r in rows),
        "overdue": [
            {"ref": r["ref"], "next_due": r["next_due"], "owner": r["owner"]}
            for r in open_
            if r["next_due"] is not None and r["next_due"] < today.isoformat()
        ],
    }


def _improvements(rows: list[Row]) -> dict[str, Any]:
    return {
        "by_state": dict(sorted(Counter(str(r["state"]) for r in rows).items())),
        "by_source": dict(sorted(Counter(str(r["source"]) for r in rows).items())),
    }


def _satisfaction(store: ViewStore, ctx: Context, since: date, until: date) -> dict[str, Any]:
    """The ratings callers gave in the period, of incidents and service requests."""
    scores = [
        row["rating"]["score"]
        for view in (incidents, service_requests)
        for row in view.rows(store, ctx)
        if row.get("rating") is not None and _in(row["rating"]["at"], since, until)
    ]
    return {
        "count": len(scores),
        "mean": round(sum(scores) / len(scores), 2) if scores else None,
        "low": sum(is_low(s) for s in scores),
    }
