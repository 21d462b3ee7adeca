"""The canned responses as agents pick them: `canned_responses`, one row per response (its code,
title, words in each language, state, who last revised it and why), by code."""

from __future__ import annotations

from domain import canned_response as cr
from projections.base import Column, Projection, Row, at, by, folds_of
from projections.records import stamped


def _created(_: Row | None, ev: cr.Created) -> Row:
    return {
        "id": str(ev.originator_id),
        "code": ev.code,
        "title": ev.title,
        "text_id": ev.text_id,
        "text_en": ev.text_en,
        "state": cr.ResponseState.ACTIVE,
        "created_at": at(ev),
        "created_by": by(ev),
        "revised_by": by(ev),
        "revision_reason": None,
        "retired_reason": None,
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _revised(row: Row, ev: cr.Revised) -> Row:
    return stamped(
        row,
        ev,
        title=ev.title,
        text_id=ev.text_id,
        text_en=ev.text_en,
        revised_by=by(ev),
        revision_reason=ev.reason,
    )


def _retired(row: Row, ev: cr.Retired) -> Row:
    return stamped(row, ev, state=cr.ResponseState.RETIRED, retired_reason=ev.reason)


canned_responses = Projection(
    name="canned_responses",
    version=1,
    folds=folds_of(_created, _revised, _retired),
    columns=(Column("code", "TEXT"), Column("state", "TEXT")),
    indexes=(("code",), ("state", "code")),
)
