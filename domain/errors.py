"""Named domain errors. Each carries a stable `code` that the API maps to HTTP status once."""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A broken rule. Raised before anything is written."""

    code: ClassVar[str] = "domain-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not-found"


class IncidentNotFound(NotFound):
    code = "incident-not-found"


class IllegalTransition(DomainError):
    """The action is not allowed in the record's current state."""

    code = "illegal-transition"

    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"cannot {action.replace('_', ' ')} while the incident is {state}")
        self.action = action
        self.state = state


class IncidentAlreadyClosed(IllegalTransition):
    code = "incident-closed"


class NotAMajorIncident(DomainError):
    code = "not-a-major-incident"


class AlreadyAMajorIncident(DomainError):
    code = "already-a-major-incident"


class NothingChanged(DomainError):
    """The command would record a change that is no change."""

    code = "nothing-changed"


class PriorityUnchanged(NothingChanged):
    code = "priority-unchanged"


class AssignmentUnchanged(NothingChanged):
    code = "assignment-unchanged"


class EscalationTargetUnchanged(NothingChanged):
    code = "escalation-target-unchanged"


class ReopenWindowClosed(DomainError):
    code = "reopen-window-closed"


class ConfirmationWindowOpen(DomainError):
    """An agent may close a resolved incident only after the caller's window has passed."""

    code = "confirmation-window-open"


class NotTheCaller(DomainError):
    code = "not-the-caller"


class DuplicateOfItself(DomainError):
    code = "duplicate-of-itself"


class VersionConflict(DomainError):
    """The client's expected version (If-Match) is not the current one."""

    code = "version-conflict"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected}, but the record is at version {actual}")
        self.expected = expected
        self.actual = actual


class InvalidRule(DomainError):
    """A rule set (such as a priority matrix) is incomplete or out of range."""

    code = "invalid-rule"


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key was sent before with a different request."""

    code = "idempotency-key-reused"


class SlaAlertsAlreadyRecorded(NothingChanged):
    """Every SLA warning or breach the command names is already on the record."""

    code = "sla-alerts-already-recorded"


class SlaAlertNotDue(DomainError):
    """An SLA warning or breach may be recorded only once its moment has passed."""

    code = "sla-alert-not-due"


class CalendarNotFound(NotFound):
    code = "calendar-not-found"


class RuleVersionNotFound(NotFound):
    """No such version of an SLA policy or calendar."""

    code = "rule-version-not-found"
