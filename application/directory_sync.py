"""The directory kept in step with single sign-on: on login (a verified access token), the
person's name, e-mail address, language (from the token's locale), organisation and roles are
what the token says (docs/directory.md).

A token is verified on every request, so the check must cost next to nothing: a profile seen for
the same subject within `ttl` seconds is passed over (a dictionary look-up); otherwise it is
compared with the directory's view, and only what differs is written, through the one pipeline
(RecordPerson with source "sso" for someone new, UpdatePerson for what changed), on a thread of
its own, so no request waits on the write. A failure is logged and the request goes on: the
directory is the notifier's and the assigner's, never a condition of being let in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from uuid import uuid4

from pydantic import ValidationError

from application.desk import ServiceDesk
from application.kinds import PERSON
from application.pipeline import Submission
from domain.actors import SYSTEM
from domain.context import Context
from domain.directory import RecordPerson, UpdatePerson
from domain.errors import DomainError, NothingChanged, RecordAlreadyExists
from infra.oidc import Profile
from projections import directory
from projections.view_store import ViewStore

log = logging.getLogger(__name__)

#: How long a profile once seen is trusted to be in the directory already, by default.
TTL = 300.0
#: At most this many subjects are remembered (the oldest forgotten first).
MAX_SUBJECTS = 10_000


class DirectorySync:
    def __init__(
        self,
        desk: ServiceDesk,
        views: ViewStore,
        clock: Callable[[], datetime],
        *,
        ttl: float = TTL,
    ) -> None:
        self.desk, self.views, self.clock, self.ttl = desk, views, clock, ttl
        self._seen: dict[str, tuple[float, Profile]] = {}
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="directory-sync")

    def __call__(self, profile: Profile) -> None:
        """Keep the directory in step with this profile, unless it was seen just now."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.pop(profile.actor_id, None)
            self._seen[profile.actor_id] = (now, profile)  # the newest last
            if seen is not None and seen[1] == profile and now - seen[0] < self.ttl:
                self._seen[profile.actor_id] = seen
                return
            while len(self._seen) > MAX_SUBJECTS:
                del self._seen[next(iter(self._seen))]
        self._writer.submit(self._sync_logged, profile)

    def settled(self, timeout: float = 10.0) -> None:
        """Wait until every sync asked for so far is done (for tests and shutdown)."""
        self._writer.submit(lambda: None).result(timeout)

    def close(self) -> None:
        self._writer.shutdown(wait=True, cancel_futures=True)

    def _sync_logged(self, profile: Profile) -> None:
        try:
            self.sync(profile)
        except (DomainError, ValidationError) as error:
            log.warning("the directory keeps %s as it was: %s", profile.actor_id, error)
        except Exception:
            log.exception("keeping %s in step with single sign-on failed", profile.actor_id)

    def sync(self, profile: Profile) -> str:
        """Register or update the person as the profile says: "registered", "updated" or
        "unchanged"."""
        said: dict[str, Any] = {
            "name": profile.name,
            "email": profile.email.lower() if profile.email else None,
            "language": profile.language,
            "organisation": profile.organisation,
            "roles": list(profile.roles) or None,
        }
        said = {k: v for k, v in said.items() if v is not None}
        row = directory.person(self.views, profile.actor_id)
        if row is None:
            registration = RecordPerson.model_validate(
                {"name": profile.actor_id, **said, "actor_id": profile.actor_id, "source": "sso"}
            )
            try:
                self._run(registration)
            except RecordAlreadyExists:  # the view had not caught up with it yet
                pass
            else:
                return "registered"
        differs = {k: v for k, v in said.items() if row is None or row.get(k) != v}
        if not differs:
            return "unchanged"
        try:
            self._run(UpdatePerson.model_validate(differs), ref=profile.actor_id)
        except NothingChanged:
            return "unchanged"
        return "updated"

    def _run(self, command: Any, ref: str | None = None) -> None:
        ctx = Context(actor=SYSTEM, at=self.clock(), correlation_id=uuid4())
        self.desk.execute(Submission(ctx, command, PERSON, ref=ref, operation="sso-sync"))
