"""A file's content type, told from its bytes (never from its name or what the client says).

`filetype` (pure Python) reads the magic numbers of binary formats: PNG, JPEG, GIF, WebP, PDF and
many more. Plain text has no magic number: bytes it does not know are text/plain when they are
UTF-8 without control characters other than the usual whitespace (a log, a CSV export). What is
allowed is the domain's allow-list (domain/attachments.py `ALLOWED_TYPES`), not this module's.
"""

from __future__ import annotations

import re

import filetype  # type: ignore[import-untyped]

#: How much of a file the magic numbers are read from (filetype reads no more than this).
HEAD = 8192
#: The control characters (C0, DEL, C1) plain text may not hold: all but tab, line feed, form
#: feed and carriage return. A terminal's escape sequence in a "log" is refused with them.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def detected_type(data: bytes) -> str | None:
    """The MIME type the bytes are, or None when they are of no type this can tell."""
    kind = filetype.guess(data[:HEAD])
    if kind is not None:
        mime: str = kind.mime
        return mime
    return "text/plain" if _is_text(data) else None


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _CONTROLS.search(text) is None
