"""When a time zone settles into its standing rule, read from the same TZif data zoneinfo reads.

A TZif file (RFC 8536) lists a zone's past (and announced) changes of offset one by one, then ends
with a POSIX TZ string: the rule after the last listed change, either one offset for ever
(`<+07>-7`) or a daylight-saving rule by month, week and weekday (`CET-1CEST,M3.5.0,M10.5.0/3`).
From the year after the last listed change a zone's offsets repeat with the Gregorian calendar,
every 400 years (146,097 days, a whole number of weeks); a zone without daylight saving keeps one
offset, so its weeks repeat. The business calendar's arithmetic uses this to work out spans of
any length in a bounded number of steps (domain/calendar.py).
"""

from __future__ import annotations

import re
import struct
import zoneinfo
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path

#: A POSIX TZ string with a standard time only: the zone keeps that offset for ever.
_ONE_OFFSET = re.compile(rb"(<[A-Za-z0-9+-]+>|[A-Za-z]{3,})[+-]?\d{1,2}(:\d{2}){0,2}")
_HEADER = struct.Struct(">4s c 15x 6l")  # magic, version, six counts


@dataclass(frozen=True, slots=True)
class Settled:
    """The first year whose every moment follows the zone's standing rule, and whether that rule
    keeps one offset (weeks repeat) or changes it by season (400-year cycles repeat)."""

    year: int
    one_offset: bool


@lru_cache(maxsize=64)
def settled(key: str) -> Settled:
    """The zone `key`'s settling (a key zoneinfo knows: the calendar checked it when defined)."""
    zoneinfo.ZoneInfo(key)  # refuses what is not a zone key, a path among them
    last, rule = _read(_tzif(key))
    year = 1 if last is None else last + 1
    one_offset = not rule or _ONE_OFFSET.fullmatch(rule) is not None
    return Settled(year, one_offset)


def _tzif(key: str) -> bytes:
    """The file zoneinfo loads for `key`: the first on its search path, else tzdata's."""
    for root in zoneinfo.TZPATH:
        path = Path(root, key)
        if path.is_file():
            return path.read_bytes()
    package, _, name = f"tzdata.zoneinfo/{key}".rpartition("/")
    return resources.files(package.replace("/", ".")).joinpath(name).read_bytes()


def _read(data: bytes) -> tuple[int | None, bytes]:
    """(the UTC year of the last listed change, or None; the footer's TZ string, b"" if none)."""
    magic, version, isut, isstd, leaps, count, types, chars = _HEADER.unpack_from(data)
    if magic != b"TZif":
        raise ValueError("not TZif data")
    size, stamp, leap = _HEADER.size, 4, 8
    if version != b"\x00":  # version 2 and later: skip the 32-bit block, read the 64-bit one
        offset = size + count * 5 + types * 6 + chars + leaps * 8 + isstd + isut
        _, _, isut, isstd, leaps, count, types, chars = _HEADER.unpack_from(data, offset)
        size, stamp, leap = offset + _HEADER.size, 8, 12
    changes = struct.unpack_from(f">{count}{'q' if stamp == 8 else 'l'}", data, size)
    end = size + count * (stamp + 1) + types * 6 + chars + leaps * leap + isstd + isut
    footer = data[end:].strip(b"\n") if stamp == 8 else b""
    last = max(changes, default=None)
    return (None if last is None else _year(last)), footer


def _year(seconds: int) -> int:
    try:
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).year
    except OverflowError:  # a sentinel beyond datetime's years (zic writes one for "big bang")
        return MAXYEAR if seconds > 0 else 1
