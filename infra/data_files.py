"""A file of an object's data directory, named once where it is declared.

`events_db = DataFile("events.db")` in a class reads, on an instance, as
`self.data_dir / "events.db"`: the settings and the local Kafka broker each keep several.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, overload


class HasDataDir(Protocol):
    @property
    def data_dir(self) -> Path: ...


class DataFile:
    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, owner: None, kind: type[Any]) -> DataFile: ...

    @overload
    def __get__(self, owner: HasDataDir, kind: type[Any]) -> Path: ...

    def __get__(self, owner: HasDataDir | None, kind: type[Any]) -> Path | DataFile:
        return self if owner is None else owner.data_dir / self.name
