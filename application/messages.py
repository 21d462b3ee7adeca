"""The words of notifications: Jinja2 templates per topic and language, plain text and HTML.

Each topic has one template per language (application/templates/notifications/{id,en}/), with a
`subject` block and a `body` block of plain paragraphs; the language's layouts wrap the body with
the link to the record and the footer, once as text and once as HTML (autoescaped: nothing a
caller or agent wrote becomes markup). Bahasa Indonesia is the default; English for whoever
chose it. Times are written in Asia/Jakarta, in the language's own way (Babel).

The subject always starts with the record's reference in brackets (`[INC-000123] ...`), which is
also how a reply finds its record again (docs/mail-in.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime as format_datetime_header
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from uuid import UUID
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from domain.notification import Decided
from domain.organisations import ORGANISATIONS

TEMPLATES = Path(__file__).parent / "templates" / "notifications"
LANGUAGES = ("id", "en")
JAKARTA = ZoneInfo("Asia/Jakarta")
_ORGANISATION_NAMES = {code: name for code, name, _ in ORGANISATIONS}
#: Where a person's link leads: the record's page in the web console where it has one, else
#: the record over the API (the kinds whose console pages are still to come).
_PAGES = {
    "incident": "/console/incidents",
    "service_request": "/console/requests",
    "change": "/console/changes",
    "problem": "/api/v1/problems",
    "document": "/api/v1/documents",
}
#: Where a machine's link leads (a webhook's `url`): the record over the API.
_RESOURCES = {
    "incident": "/api/v1/incidents",
    "service_request": "/api/v1/service-requests",
    "change": "/api/v1/changes",
    "problem": "/api/v1/problems",
    "document": "/api/v1/documents",
}


class _Registry(HeaderRegistry):
    """The standard header registry, each header's class made once. The standard one makes a
    new class for every header set (`type(...)` in `__getitem__`), which was a fifth of the time
    it took to build a notification's e-mail."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = super().__getitem__(name)
        return made


#: The standard policy (RFC 5322 headers, checked: no line breaks in a value), faster to build by.
POLICY = policy.default.clone(header_factory=_Registry())


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


class Messages:
    """Renders a topic's message for a recipient; the templates are read once."""

    def __init__(
        self,
        public_url: str,
        mail_domain: str,
        service_name: Callable[[str, str], str] = lambda code, language: code,
    ) -> None:
        """`service_name(code, language)`: what people call a service the record names by its
        code (the service catalogue in force; the code itself where it holds none)."""
        self.public_url = public_url.rstrip("/")
        self.mail_domain = mail_domain
        self.service_name = service_name
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html.j2"], default_for_string=False, default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["when"] = self._when
        self._layouts = {
            language: (
                self.env.get_template(f"{language}/layout.txt.j2"),
                self.env.get_template(f"{language}/layout.html.j2"),
            )
            for language in LANGUAGES
        }

    def render(
        self,
        topic: str,
        language: str,
        *,
        event: Any,
        record: Mapping[str, Any],
        recipient: Mapping[str, Any],
    ) -> Rendered:
        language = language if language in LANGUAGES else "id"
        template = self.env.get_template(f"{language}/{topic}.j2")
        values = {
            "event": event,
            "record": record,
            "recipient": recipient,
            "language": language,
            "link": self.link(record),
            "organisation": _ORGANISATION_NAMES.get(record.get("organisation") or "", ""),
            "service": self.service_name(record.get("service") or "", language),
        }
        subject = " ".join(_block(template, "subject", values).split())
        ref = record.get("ref")
        if ref:
            subject = f"[{ref}] {subject}"
        body = _block(template, "body", values).strip()
        paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
        text_layout, html_layout = self._layouts[language]
        layout = {**values, "subject": subject, "body": body, "paragraphs": paragraphs}
        return Rendered(subject[:500], text_layout.render(layout), html_layout.render(layout))

    def link(self, record: Mapping[str, Any]) -> str:
        """The record's page, for a person (an e-mail's link)."""
        path = _PAGES.get(record.get("kind") or "", "")
        return f"{self.public_url}{path}/{record.get('ref') or ''}"

    def resource(self, record: Mapping[str, Any]) -> str:
        """The record over the API, for a machine (a webhook's `url`)."""
        path = _RESOURCES.get(record.get("kind") or "", "")
        return f"{self.public_url}{path}/{record.get('ref') or ''}"

    def message_id(self, notification: UUID, ref: str | None) -> str:
        """The Message-ID of a notification's e-mail: the same on every send of it, naming the
        record so that a reply finds it (`<uuid.INC-000123@domain>`)."""
        return f"<{notification}.{ref or 'none'}@{self.mail_domain}>"

    @staticmethod
    def _when(moment: datetime, language: str) -> str:
        """A moment as people of that language read it, in Asia/Jakarta (WIB)."""
        if language == "en":
            return format_datetime(moment, "EEEE d MMMM y, HH:mm 'WIB'", JAKARTA, "en")
        return format_datetime(moment, "EEEE, d MMMM y, HH.mm 'WIB'", JAKARTA, "id")


def _block(template: Template, name: str, values: Mapping[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(dict(values))))


@lru_cache(maxsize=4_096)
def _header(name: str, value: str) -> BaseHeader:
    """A header as the policy parses it, parsed once for the values that recur (the sender, a
    recipient's address, the fixed ones): a header is immutable, and a message takes a parsed
    one as it is."""
    return cast(BaseHeader, POLICY.header_factory(name, value))


def email_of(decided: Decided, sender: str) -> EmailMessage:
    """The e-mail of a decided notification, exactly as decided: the same bytes' worth of words,
    and the same Message-ID, on every attempt. Marked as sent automatically (RFC 3834), so that
    auto-replies stay silent, and threaded per record (`References`), so that mail programs
    keep a record's messages together."""
    message = EmailMessage(policy=POLICY)
    message["From"] = _header("From", sender)
    message["To"] = _header("To", decided.address)
    message["Subject"] = decided.subject
    message["Message-ID"] = decided.message_id
    message["Date"] = format_datetime_header(decided.timestamp)
    message["Auto-Submitted"] = _header("Auto-Submitted", "auto-generated")
    message["Content-Language"] = _header("Content-Language", decided.language)
    if decided.record_ref:
        domain = decided.message_id.rpartition("@")[2].rstrip(">")
        message["References"] = f"<{decided.record_ref}@{domain}>"
        message["X-ITSM-Record"] = decided.record_ref
    message.set_content(decided.text)
    if decided.html:
        message.add_alternative(decided.html, subtype="html")
    return message
