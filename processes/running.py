"""What a background process of the service works with: the parts of the composition root's
`Services` (service/bootstrap.py, a layer above) that the SLA watcher, the notifier and the
mail reader read. Named here, below the root, so that they depend on what they use rather than
on the root itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from application.desk import ServiceDesk
from domain.context import Context
from infra.blobs import BlobStore
from infra.settings import Settings
from projections.runner import ProjectionRunner
from projections.view_store import ViewStore


class Running(Protocol):
    """What the processes read of the services (none of it is theirs to replace)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def desk(self) -> ServiceDesk: ...

    @property
    def views(self) -> ViewStore: ...

    @property
    def runner(self) -> ProjectionRunner: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def blobs(self) -> BlobStore: ...

    def system_context(self) -> Context: ...
