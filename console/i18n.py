"""The console's words and formats: gettext catalogues (console/locales/{id,en}/LC_MESSAGES/
*.po, one file per area) read with Babel when the process starts, no compile step; Bahasa
Indonesia unless the person chose English; moments in Asia/Jakarta, in each language's own way.

Templates say `{{ _("Queue") }}`; the English catalogue maps each message id to itself where
the id is already English, the Indonesian one to Bahasa Indonesia. A message id missing from a
catalogue fails the test that reads every template (tests/unit/test_console_i18n.py), so no
English leaks into the Indonesian console unnoticed.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_timedelta
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES: Final = Path(__file__).parent / "locales"
TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
LANGUAGES: Final = ("id", "en")
DEFAULT: Final = "id"
JAKARTA: Final = ZoneInfo("Asia/Jakarta")


def language(chosen: str | None) -> str:
    return chosen if chosen in LANGUAGES else DEFAULT


@cache
def catalogue(lang: str) -> Catalog:
    """The language's messages: every .po file of its LC_MESSAGES, one per area of the console
    (console.po, and one for each area added since), as one catalogue. An id in two files is an
    error: each message has one home."""
    merged = Catalog(locale=lang, domain="console")
    for path in sorted((LOCALES / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as f:
            for message in read_po(f, locale=lang):
                if not message.id:
                    continue  # the file's header
                if message.id in merged:
                    raise ValueError(f"{path.name}: {message.id!r} is already in another file")
                merged[message.id] = message
    return merged


@cache
def translations(lang: str) -> Translations:
    buffer = io.BytesIO()
    write_mo(buffer, catalogue(lang))
    buffer.seek(0)
    return Translations(buffer, domain="console")


@cache
def _months(lang: str) -> tuple[str, ...]:
    """The language's abbreviated month names, January first (Babel's CLDR data)."""
    names = Locale.parse(lang).months["format"]["abbreviated"]
    return tuple(str(names[n]) for n in range(1, 13))


def moment(value: datetime | str | None, lang: str) -> str:
    """A moment as people read it: in Jakarta's time, in their language's way ("5 Des 2026,
    04.54 WIB" / "5 Dec 2026, 04:54 WIB", as Babel's `d MMM y, HH.mm` / `HH:mm` write them).
    Written here from Babel's month names rather than by `format_datetime` per call: a queue
    writes hundreds, and the pattern parser cost 12 us each."""
    if value is None:
        return ""
    at = (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(JAKARTA)
    month = _months(lang)[at.month - 1]
    separator = ":" if lang == "en" else "."
    return f"{at.day} {month} {at.year}, {at.hour:02d}{separator}{at.minute:02d} WIB"


def duration(value: timedelta | float | None, lang: str) -> str:
    """A length of time, roughly ("3 jam", "2 days"), to the minute."""
    if value is None:
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    return _rounded(round(seconds / 60), lang)


@lru_cache(maxsize=4096)
def _rounded(minutes: int, lang: str) -> str:
    return format_timedelta(timedelta(minutes=minutes), threshold=1.2, locale=lang)
