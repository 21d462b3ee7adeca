"""A received e-mail, read into what the service applies: who wrote, about which record, the
words of the reply, and whether it must not be applied at all (a mail loop).

Pure: bytes in, a ParsedMail out, no I/O and no clock. Whatever the bytes, `parse` answers a
ParsedMail or raises UnreadableMail with the reason; the caller keeps such a message as a dead
letter with its original bytes. docs/mail-in.md says the rules in prose:

- Which record: a number in the subject (`[INC-000123]`, `Re: REQ-000042 ...`), and the number
  carried by any of our own Message-IDs in In-Reply-To or References, which the notifier writes
  as `<{notification uuid}.{INC-000123}@{our mail domain}>`. Ours come first (`record_ref`).
- Loops (`loop`, the first reason that holds): a delivery or disposition report
  (multipart/report), Auto-Submitted other than `no`, Precedence bulk/junk/list, List-Id,
  X-Autoreply / X-Autorespond, X-Loop naming one of our addresses, a null Return-Path, From one
  of our addresses, a Message-ID in our domain, a MAILER-DAEMON or postmaster sender.
- The text: the first text/plain part that is no attachment, else the first text/html part
  converted by inscriptis (it lays out blocks, lists and tables as text, and drops scripts and
  styles; BeautifulSoup's get_text runs words of adjacent blocks together, html2text writes
  Markdown with escapes); charsets decoded robustly (a wrong declaration falls back).
- The reply (`trimmed`): the text above the first quote header ("On ... wrote:", "Pada ...
  menulis:", "-----Original Message-----", "-----Pesan Asli-----", an Outlook "From: ... Sent:"
  block) or signature separator ("-- "), without quoted lines ("> ..."), bounded to a
  comment's length with TRUNCATED at the end. When that leaves nothing, the whole text.
- Reopen (`wants_reopen`): the first line of the reply holds a phrase of REOPEN_PHRASES.
- Files (`files`): the parts that are attachments, each its name and bytes, at most MAX_FILES;
  the mail reader puts them on the record the message changes, as attachments
  (application/attachments.py checks each: its size, and its type from its bytes).
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.errors import HeaderParseError, MessageError
from email.header import Header, decode_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

from annotated_types import MaxLen

from domain.fields import Description, Text
from domain.record_numbers import RecordKind
from domain.records import INCIDENT_PREFIX, NUMBER_DIGITS, parse_record_number
from domain.text import CONTROL

#: The largest message read (the reader fetches larger ones as their header alone).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
#: The longest Message-ID kept, and the most taken from In-Reply-To and References.
MAX_MESSAGE_ID = 250
MAX_REFERENCES = 100
#: The longest subject kept (an incident's title is at most this long).
MAX_SUBJECT = 200
#: The most text read out of a message, before trimming.
MAX_TEXT = 200_000
#: The most attached files taken from one message.
MAX_FILES = 10
#: The most MIME parts looked at, and how deep they may nest.
MAX_PARTS = 200
MAX_DEPTH = 20
#: What ends a reply cut to the length a comment may have.
TRUNCATED = "\n[…]"

#: The prefixes of the records a mail may name: incidents, service requests, problems, changes.
PREFIXES = (
    INCIDENT_PREFIX,
    RecordKind.SERVICE_REQUEST.value,
    RecordKind.PROBLEM.value,
    RecordKind.CHANGE.value,
)

#: How a reply to a resolved incident asks to reopen it: its first line holds one of these
#: (any case, as whole words). Indonesian first, then English. Kept short on purpose: a word
#: that thanks ("terima kasih") or confirms ("sudah beres") must never reopen.
REOPEN_PHRASES = (
    "buka kembali",
    "dibuka kembali",
    "buka lagi",
    "dibuka lagi",
    "belum selesai",
    "belum beres",
    "masih",
    "reopen",
    "re-open",
    "not fixed",
    "not resolved",
    "still",
)


def _max_length(field: object) -> int:
    lengths = [m.max_length for m in getattr(field, "metadata", ()) if isinstance(m, MaxLen)]
    assert lengths, "the field has a max_length"
    return min(lengths)


#: The most a reply may hold: what a comment or an incident's description accepts.
MAX_REPLY = min(_max_length(Text), _max_length(Description))


class UnreadableMail(Exception):
    """The message cannot be read into anything the service could apply; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MailFile:
    """A file attached to a message: its name as the message gives it, and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    #: `<...>`, as the message named itself, or `<sha256-of-the-bytes@missing-message-id.invalid>`.
    message_id: str
    #: The From address, lowercased; None when there is no usable one (an unknown sender).
    sender: str | None
    sender_name: str
    subject: str
    #: Record numbers in the subject (INC-000123), in order, each once.
    subject_refs: tuple[str, ...]
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    #: Record numbers carried by our own Message-IDs in In-Reply-To, then References (newest
    #: first).
    our_refs: tuple[str, ...]
    #: Why the message must not be applied (a mail loop), or None.
    loop: str | None
    #: The message's text (plain, or converted from HTML).
    text: str
    #: The reply alone: quoted history and signature cut, bounded to MAX_REPLY.
    trimmed: str
    wants_reopen: bool
    #: Parts that are attachments (not read, only counted).
    attachments: int
    #: The Date header, when it is a readable, zoned date.
    sent_at: datetime | None
    #: The attached files (at most MAX_FILES), to put on the record the message changes.
    files: tuple[MailFile, ...] = ()

    @property
    def record_ref(self) -> str | None:
        """The record this mail is about: ours from the headers first, then the subject's."""
        for ref in (*self.our_refs, *self.subject_refs):
            return ref
        return None


def parse(raw: bytes, *, our_domain: str, our_addresses: set[str]) -> ParsedMail:
    """Read a message received as bytes. Raises UnreadableMail, and nothing else."""
    if not raw.strip():
        raise UnreadableMail("the message is empty")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise UnreadableMail(f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        parsed = _parse(raw, our_domain.lower(), {a.lower() for a in our_addresses})
    except UnreadableMail:
        raise
    except (
        MessageError,
        ValueError,
        LookupError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as error:
        # The standard library's e-mail parser is lenient but not total: what it raises on
        # bytes it cannot read is this message's reason, not the reader's failure.
        raise UnreadableMail(f"the message cannot be parsed ({type(error).__name__})") from error
    except RecursionError as error:
        raise UnreadableMail("the message nests too deeply") from error
    if not parsed.subject and not parsed.text.strip():
        raise UnreadableMail("the message has neither a subject nor any text")
    return parsed


def _parse(raw: bytes, our_domain: str, ours: set[str]) -> ParsedMail:
    message = message_from_bytes(raw, policy=policy.compat32)
    message_id = _message_id(message, raw)
    sender_name, sender = _sender(message)
    subject = _clean(_header(message, "Subject"), keep_lines=False)
    in_reply_to = _ids(_header(message, "In-Reply-To"))
    references = _ids(_header(message, "References"))
    text, attachments = _text(message)
    trimmed = _bounded(trim(text))
    return ParsedMail(
        message_id=message_id,
        sender=sender,
        sender_name=sender_name,
        subject=_cut(subject, MAX_SUBJECT),
        subject_refs=record_refs(subject),
        in_reply_to=in_reply_to,
        references=references,
        our_refs=_ours(in_reply_to, tuple(reversed(references)), our_domain),
        loop=_loop(message, sender, message_id, our_domain, ours),
        text=text,
        trimmed=trimmed,
        wants_reopen=wants_reopen(trimmed),
        attachments=attachments,
        sent_at=_date(_header(message, "Date")),
        files=_files(message),
    )


# -- headers -----------------------------------------------------------------------------------

_ID = re.compile(rf"<([^<>\s\x00-\x1f\x7f]{{1,{MAX_MESSAGE_ID - 2}}})>")
_BARE_ID = re.compile(
    rf"[^<>\s@\x00-\x1f\x7f]{{1,200}}@[^<>\s@\x00-\x1f\x7f]{{1,{MAX_MESSAGE_ID - 203}}}"
)
#: The most of a header read: a header longer than this is someone's mistake or an attack.
MAX_HEADER = 20_000


def _header(message: Message, name: str) -> str:
    """A header's text, RFC 2047 words decoded, and raw 8-bit bytes read as UTF-8 (else the
    fallback charset): '' when absent."""
    value = message.get(name)
    if value is None:
        return ""
    if isinstance(value, Header):  # the parser's wrapping of raw 8-bit bytes: read them
        chunks = decode_header(value)
        return "".join(_chunk(part, charset) for part, charset in chunks)[:MAX_HEADER]
    text = str(value)[:MAX_HEADER]
    if "=?" not in text or not text.isascii():
        return text
    try:
        words = decode_header(text)
    except HeaderParseError:  # a broken encoded word: the header as it came
        return text
    return "".join(_chunk(part, charset) for part, charset in words)


def _chunk(part: bytes | str, charset: str | None) -> str:
    return decode_bytes(part, charset) if isinstance(part, bytes) else part


def _message_id(message: Message, raw: bytes) -> str:
    given = _header(message, "Message-ID")
    found = _ID.search(given) or _BARE_ID.search(given)
    if found is None:
        return f"<{hashlib.sha256(raw).hexdigest()}@missing-message-id.invalid>"
    inner = found.group(1) if found.re is _ID else found.group(0)
    return f"<{inner}>"


def _ids(value: str) -> tuple[str, ...]:
    found: list[str] = []
    for match in _ID.finditer(value):
        if (id_ := f"<{match.group(1)}>") not in found:
            found.append(id_)
    if len(found) > MAX_REFERENCES:  # the thread's first message and the latest ones
        found = [found[0], *found[-(MAX_REFERENCES - 1) :]]
    return tuple(found)


_ADDRESS = re.compile(r"[^@\s<>\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.\-\[\]:]{1,253}")


def _sender(message: Message) -> tuple[str, str | None]:
    name, address = parseaddr(_header(message, "From"))
    address = address.strip().lower()
    name = _cut(_clean(name, keep_lines=False), MAX_SUBJECT)
    if not _ADDRESS.fullmatch(address) or len(address) > 254:
        return name, None
    return name, address


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else None


def record_refs(text: str) -> tuple[str, ...]:
    """The record numbers in a text (`INC-000123`, `[req-42]`), as labels, each once."""
    found: list[str] = []
    for match in _REF.finditer(text):
        prefix, digits = match.group(1).upper(), match.group(2)
        number = parse_record_number(prefix, f"{prefix}-{digits}")
        if number is not None and (label := f"{prefix}-{number:06d}") not in found:
            found.append(label)
    return tuple(found)


_REF = re.compile(
    rf"(?<![A-Za-z0-9])({'|'.join(PREFIXES)})-([0-9]{{1,{NUMBER_DIGITS}}})(?![0-9])",
    re.IGNORECASE,
)


def _ours(
    in_reply_to: tuple[str, ...], references: tuple[str, ...], domain: str
) -> tuple[str, ...]:
    """The record numbers that our own Message-IDs carry: `<{uuid}.{REF}@{our domain}>`."""
    found: list[str] = []
    for id_ in (*in_reply_to, *references):
        match = _OUR_ID.fullmatch(id_)
        if match is None or match.group(2).lower() != domain:
            continue
        for ref in record_refs(match.group(1)):
            if ref not in found:
                found.append(ref)
    return tuple(found)


_OUR_ID = re.compile(
    r"<[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    rf"\.((?:{'|'.join(PREFIXES)})-[0-9]{{1,{NUMBER_DIGITS}}})@([^<>@\s]+)>",
    re.IGNORECASE,
)


# -- loops -------------------------------------------------------------------------------------

_DAEMONS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})


def _loop(
    message: Message, sender: str | None, message_id: str, domain: str, ours: set[str]
) -> str | None:
    """Why this message must not be applied (see the module's docstring), or None."""
    if message.get_content_type() == "multipart/report":
        return "a delivery or disposition report (multipart/report)"
    submitted = _header(message, "Auto-Submitted").strip().lower()
    if submitted and submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {_cut(submitted, 40)}"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in {"bulk", "junk", "list"}:
        return f"Precedence: {precedence}"
    if message.get("List-Id") is not None:
        return "a mailing list's message (List-Id)"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if message.get(name) is not None:
            return f"an automatic reply ({name})"
    loop = _header(message, "X-Loop").lower()
    if any(address in loop for address in ours):
        return "X-Loop names our own address"
    if message.get("Return-Path") is not None and _header(message, "Return-Path").strip() in {
        "<>",
        "",
    }:
        return "a null Return-Path (a bounce or an automatic reply)"
    if sender is not None and sender in ours:
        return "sent from our own address"
    if message_id.lower().endswith(f"@{domain}>"):
        return "a Message-ID of our own"
    if sender is not None and sender.partition("@")[0] in _DAEMONS:
        return f"sent by {sender.partition('@')[0]}"
    return None


# -- text --------------------------------------------------------------------------------------


def _parts(message: Message) -> Iterator[Message]:
    """The leaf parts, depth-first, within MAX_DEPTH and MAX_PARTS."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            if depth < MAX_DEPTH:
                children = [p for p in payload if isinstance(p, Message)]
                stack.extend((child, depth + 1) for child in reversed(children))
        else:
            yield part


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    return disposition == "attachment" or (
        part.get_filename(None) is not None and disposition != "inline"
    )


def _text(message: Message) -> tuple[str, int]:
    """The message's text and how many attachments it has."""
    plain: str | None = None
    markup: str | None = None
    attachments = 0
    for part in _parts(message):
        kind = part.get_content_type()
        if _is_attachment(part) or not kind.startswith("text/"):
            attachments += 1
            continue
        if kind == "text/plain" and plain is None:
            plain = _payload(part)
        elif kind == "text/html" and markup is None:
            markup = _payload(part)
    if plain is not None and plain.strip():
        return _clean(plain[:MAX_TEXT]), attachments
    if markup is not None:
        return _clean(html_to_text(markup[:MAX_TEXT])), attachments
    return "", attachments


def _files(message: Message) -> tuple[MailFile, ...]:
    """The attached files with bytes, in order, at most MAX_FILES."""
    files: list[MailFile] = []
    for part in _parts(message):
        if len(files) == MAX_FILES:
            break
        if not _is_attachment(part):
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and data:
            files.append(MailFile(_filename(part), data))
    return tuple(files)


def _filename(part: Message) -> str:
    """A part's file name, RFC 2231 and RFC 2047 decoded ("" when it has none)."""
    name = part.get_filename(None) or ""
    if "=?" in name:
        with contextlib.suppress(HeaderParseError, LookupError, ValueError):
            name = "".join(
                chunk if isinstance(chunk, str) else chunk.decode(charset or "utf-8", "replace")
                for chunk, charset in decode_header(name)
            )
    return name[:MAX_HEADER]


def _payload(part: Message) -> str:
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes):
        return ""
    return decode_bytes(body[: MAX_TEXT * 4], part.get_content_charset(None))


#: Charsets in which nearly any bytes decode, so a declaration of one of them may be wrong: UTF-8
#: is tried first (text that decodes as UTF-8 is UTF-8, in practice).
_PERMISSIVE = re.compile(r"(ascii|us-ascii|latin|iso8859|iso-8859|cp125|windows-125|cp437|cp850)")
#: Python codecs that are no charset a mail may declare (escapes, compression, punycode).
_NOT_CHARSETS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)
#: The last resort: the charset a mislabelled Western (and Indonesian) mail most likely has.
FALLBACK_CHARSET = "windows-1252"


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Text from bytes in a declared charset that may be wrong or unknown: never raises."""
    codec = _codec(declared)
    if codec is None or _PERMISSIVE.search(codec):
        order = ["utf-8", codec or FALLBACK_CHARSET]
    else:
        order = [codec, "utf-8"]
    for name in order:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(FALLBACK_CHARSET, errors="replace")


def _codec(declared: str | None) -> str | None:
    if not declared or len(declared) > 40:
        return None
    try:
        info = codecs.lookup(declared.strip().strip('"').lower())
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


_TAG = re.compile(r"<[^<>]{0,2000}>")


def html_to_text(markup: str) -> str:
    """HTML as the text a person reads (inscriptis), or with its tags dropped when the HTML
    cannot be parsed at all."""
    from inscriptis import get_text

    markup = CONTROL.sub("", markup)
    try:
        return str(get_text(markup))
    except Exception:  # lxml's and inscriptis' own errors on hostile markup: read it plainly
        return html.unescape(_TAG.sub(" ", markup))


_SPACE_RUNS = re.compile(r"\n{3,}")


def _clean(text: str, *, keep_lines: bool = True) -> str:
    """Text the service accepts (domain/text.py): newlines as \\n, no control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not keep_lines:
        text = " ".join(text.split())
    text = CONTROL.sub("", text)
    # A lone surrogate is no text either (a broken encoded word): PostgreSQL refuses it.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _SPACE_RUNS.sub("\n\n", text).strip() if keep_lines else text.strip()


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _bounded(text: str) -> str:
    if len(text) <= MAX_REPLY:
        return text
    return text[: MAX_REPLY - len(TRUNCATED)].rstrip() + TRUNCATED


# -- the reply ---------------------------------------------------------------------------------

_QUOTE_HEADER = re.compile(
    r"^\s*(on\s.{0,300}\swrote:|pada\s.{0,300}\smenulis:)\s*$", re.IGNORECASE | re.DOTALL
)
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(original message|pesan asli|pesan asal|forwarded message"
    r"|pesan yang diteruskan)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\s*\**(from|dari)\s*:\**\s", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\s*\**(sent|date|dikirim|terkirim|tanggal|to|kepada|subject|perihal|subjek)\s*:",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*_{10,}\s*$")


def trim(text: str) -> str:
    """The reply alone: cut at the first quote header or signature separator, quoted lines
    (`>`) dropped. The whole text when that leaves nothing."""
    lines = text.split("\n")
    cut = len(lines)
    for i in range(len(lines)):
        if _starts_history(lines, i):
            cut = i
            break
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    reply = _SPACE_RUNS.sub("\n\n", "\n".join(kept)).strip()
    return reply or text.strip()


def _starts_history(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line in {"-- ", "--"}:
        return True
    if _ORIGINAL.match(line):
        return True
    # "On Mon, 2 Mar 2026 at 15:30, Siti <siti@...> wrote:", which Gmail may wrap in two lines.
    if re.match(r"^\s*(on|pada)\s", line, re.IGNORECASE):
        if _QUOTE_HEADER.match(line):
            return True
        if i + 1 < len(lines) and _QUOTE_HEADER.match(line + " " + lines[i + 1]):
            return True
    # Outlook: "From: ..." followed by "Sent: ..." (or Date, To, Subject) within a few lines,
    # often under a rule of underscores.
    if _RULE.match(line) and i + 1 < len(lines) and _OUTLOOK_FROM.match(lines[i + 1]):
        return True
    if _OUTLOOK_FROM.match(line):
        return any(_OUTLOOK_NEXT.match(following) for following in lines[i + 1 : i + 4])
    return False


_REOPEN = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(p) for p in REOPEN_PHRASES) + r")(?!\w)", re.IGNORECASE
)


def wants_reopen(reply: str) -> bool:
    """Whether a reply asks to reopen: its first non-empty line holds a REOPEN_PHRASES phrase."""
    first = next((line for line in reply.split("\n") if line.strip()), "")
    return _REOPEN.search(first) is not None
