"""A projection names each event type it folds once: in its fold's signature, which `folds_of`
reads, rather than again as a key beside the fold."""

from __future__ import annotations

import pytest

from domain import incident as e
from domain import internal_audit, nonconformity
from projections.base import Row, folds_of
from projections.incident_details import incident_details
from projections.internal_audits import audit_programme
from projections.nonconformities import nonconformity_register


def _logged(_: Row | None, ev: e.Logged) -> Row:
    return {"id": str(ev.originator_id)}


def _alert(row: Row, ev: e.SlaWarned | e.SlaBreached) -> Row:
    return row


def _logged_again(_: Row | None, ev: e.Logged) -> Row:
    return {}


def test_each_fold_takes_the_event_type_its_signature_names() -> None:
    assert folds_of(_logged, _alert) == {
        e.Logged: _logged,
        e.SlaWarned: _alert,
        e.SlaBreached: _alert,
    }


def test_two_folds_of_one_event_type_are_refused() -> None:
    with pytest.raises(ValueError, match="Logged"):
        folds_of(_logged, _logged_again)


def test_a_projection_declared_through_folds_of_folds_what_it_named() -> None:
    assert incident_details.folds[e.SlaBreached].__name__ == "_sla_alert"
    assert incident_details.folds[e.Logged].__name__ == "_logged"
    assert len(incident_details.folds) == 30


def test_the_audit_views_fold_every_event_of_their_kinds() -> None:
    assert len(audit_programme.folds) == 7
    assert set(audit_programme.folds) == set(internal_audit.AuditEvent.__subclasses__())
    assert len(nonconformity_register.folds) == 7
    assert set(nonconformity_register.folds) == set(
        nonconformity.NonconformityEvent.__subclasses__()
    )


def test_the_document_register_folds_every_document_event() -> None:
    from domain.document import DocumentEvent
    from projections.documents import document_register

    assert set(document_register.folds) == set(DocumentEvent.__subclasses__())
    assert len(document_register.folds) == 14
