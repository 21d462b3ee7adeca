"""Named domain errors. Each carries a stable `code` that the API maps to HTTP status once."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID


class DomainError(Exception):
    """A broken rule. Raised before anything is written."""

    code: ClassVar[str] = "domain-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not-found"

    def __init__(self, detail: str, record_id: UUID | None = None) -> None:
        super().__init__(detail)
        #: The record looked for, when it was looked for by id.
        self.record_id = record_id


class IncidentNotFound(NotFound):
    code = "incident-not-found"


class IllegalTransition(DomainError):
    """The action is not allowed in the record's current state."""

    code = "illegal-transition"

    def __init__(self, action: str, state: str, kind: str = "incident") -> None:
        super().__init__(f"cannot {action.replace('_', ' ')} while the {kind} is {state}")
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


class AlreadyRated(DomainError):
    """The caller has rated the record already: a rating is given once (domain/satisfaction.py)."""

    code = "already-rated"


class SourceRecordNotFound(DomainError):
    """An improvement names a record it came from that the caller does not reach: none by that
    reference, or one out of their reach (the same words either way)."""

    code = "source-record-not-found"


class DuplicateOfItself(DomainError):
    code = "duplicate-of-itself"


class DuplicateNotFound(DomainError):
    """A cancel as a duplicate names no incident the caller reaches: none by that id, or one out
    of their reach (the same words either way, as for any record out of reach)."""

    code = "duplicate-not-found"


class Contention(DomainError):
    """The records a command needs kept changing under it, attempt after attempt: nothing was
    written, and the same command sent again will be decided afresh."""

    code = "contention"


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


# -- configuration items, changes, service requests, problems -----------------------------------


class RecordNotFound(NotFound):
    """No configuration item, change, service request, problem or template by that reference."""

    code = "record-not-found"


class RecordAlreadyExists(DomainError):
    code = "record-already-exists"


class RecordIllegalTransition(IllegalTransition):
    """An action a change, service request or problem does not allow in its current state."""

    def __init__(self, kind: str, action: str, state: str) -> None:
        super().__init__(action, state, kind)


class NotPermitted(DomainError):
    """The actor's role or standing does not allow this decision."""

    code = "not-permitted"


class OutsideOrganisation(NotPermitted):
    """A record for an organisation the caller does not see (they may see only their own)."""

    code = "outside-organisation"


class RequesterCannotApprove(NotPermitted):
    code = "requester-cannot-approve"


class NotANamedApprover(NotPermitted):
    code = "not-a-named-approver"


class AlreadyDecided(DomainError):
    """This approver has already given their decision on this record."""

    code = "already-decided"


class BackoutPlanMissing(DomainError):
    code = "backout-plan-missing"


class ScheduleConflict(DomainError):
    """The window overlaps another change on related configuration items, or a blackout."""

    code = "schedule-conflict"

    def __init__(self, detail: str, conflicts: list[dict[str, str]]) -> None:
        super().__init__(detail)
        self.conflicts = conflicts


class InvalidWindow(DomainError):
    code = "invalid-window"


class DependencyCycle(DomainError):
    code = "dependency-cycle"


class ChangeNotImplemented(DomainError):
    """A configuration item changes only through a successfully implemented change that names it."""

    code = "change-not-implemented"


class ReviewRequired(DomainError):
    code = "review-required"


class AlreadyLinked(NothingChanged):
    code = "already-linked"


class UnderLegalHold(DomainError):
    """Nothing of a record under legal hold is destroyed (domain/legal_hold.py)."""

    code = "under-legal-hold"


class NotLinked(NothingChanged):
    code = "not-linked"


class ArticleNotPublished(DomainError):
    """Only a published knowledge article may be named as instructions."""

    code = "article-not-published"


class AlreadyHasParent(DomainError):
    """A child has one parent: link it to another only after it leaves the first."""

    code = "already-has-parent"


class NoParent(NothingChanged):
    """Unlinking a child from its parent, when it has none."""

    code = "no-parent"


class FilterListChanged(DomainError):
    """A saved filter is for one list for good: revised with another list's parameters."""

    code = "filter-list-changed"


class ParentCycle(DomainError):
    """The link would make an incident its own parent, or its own parent's parent..."""

    code = "parent-cycle"


class TooManyRelated(DomainError):
    """A parent's children, or a survivor's merged duplicates, are bounded: all of them are
    written in one atomic write when it is resolved."""

    code = "too-many-related"


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


class FulfilmentStepsOutstanding(DomainError):
    """A service request is fulfilled only when every fulfilment step is done."""

    code = "fulfilment-steps-outstanding"


class RootCauseMissing(DomainError):
    """A known error is published only once the problem's root cause is recorded."""

    code = "root-cause-missing"


class UnknownPotentialAction(DomainError):
    """A decision names a potential action the problem's analyses did not propose."""

    code = "unknown-potential-action"


class PotentialActionAlreadyDecided(DomainError):
    """A potential action is decided once (taken, or rejected with a reason)."""

    code = "potential-action-already-decided"


# -- attachments (domain/attachments.py) ---------------------------------------------------------


class AttachmentNotFound(NotFound):
    """No attachment of that id on the record (or the caller does not read it: an internal one)."""

    code = "attachment-not-found"


class PersonAlreadyErased(NothingChanged):
    """The person's data is already erased (domain/directory.py)."""

    code = "person-already-erased"


class AttachmentAlreadyRemoved(DomainError):
    code = "attachment-already-removed"


class AttachmentGone(DomainError):
    """The attachment was removed for privacy: its bytes are deleted, its hash kept."""

    code = "attachment-gone"


class FileTooLarge(DomainError):
    code = "file-too-large"


class UnsupportedFileType(DomainError):
    """The file's bytes are of no type the allow-list admits (whatever its name says)."""

    code = "unsupported-file-type"


class SupplierNotAwaited(DomainError):
    """A hold names a supplier, but does not await one (an invalid command: 422)."""

    code = "supplier-not-awaited"


class BackoutTestUnexplained(DomainError):
    """A backout plan recorded as tested says how it was tested (an invalid command: 422)."""

    code = "backout-test-unexplained"
