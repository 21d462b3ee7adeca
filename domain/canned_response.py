"""Canned responses (issue 20): the helpdesk's careful words for the questions that come every
day, kept once by the agents and sent with one action as a public comment on an incident.

    created (active) -> revised* -> retired

A response is known by a code (`canned_response_id`), and has its words in Bahasa Indonesia and,
optionally, in English. The words may hold placeholders in Jinja2's form, `{{ caller_name }}`,
filled from the incident when it is used (`PLACEHOLDERS`); anything else a template can say (an
expression, a filter, a loop), a placeholder outside that list, or a text that is no template,
is refused when the response is created or revised, not when an agent uses it. They are rendered
in Jinja2's sandbox all the same, with strict undefined names: a template is code, and its words
go to callers.

Using one (`ReplyWithCannedResponse`, domain/commands.py) adds an ordinary `Incident.CommentAdded`
with the rendered words: the incident's history holds exactly what the caller read, and the
response's record shows which version of its words was current then.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import AfterValidator, Field

from domain.aggregate import LifecycleAggregate, applies
from domain.command_base import ActionCommand, Command, by_action
from domain.context import Context
from domain.directory import CODE_PATTERN
from domain.errors import NothingChanged, RecordAlreadyExists, RecordNotFound
from domain.events import DomainEvent
from domain.examples import example
from domain.fields import Name, OptionalReason, Reason
from domain.record_numbers import named_id
from domain.session import Session

#: What a response's words may name, and what each is filled with when it is used.
PLACEHOLDERS: Mapping[str, str] = {
    "caller_name": "the caller's name as the directory holds it (else their actor id)",
    "number": "the incident's number, e.g. INC-000123",
    "title": "the incident's title",
    "service": "the service the incident is about",
    "agent_name": "the name of the agent who sends it (else their actor id)",
}
LANGUAGES = ("id", "en")
#: The longest text a response holds: a comment's own limit.
MAX_TEXT = 10_000

_TEMPLATES = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def canned_response_id(code: str) -> UUID:
    return named_id("canned-response", code)


#: What the words' template may be made of: text, and placeholders as they are.
_PLAIN = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name)


def check_words(text: str) -> str:
    """The text, if it is words with placeholders, `{{ caller_name }}`, naming only
    `PLACEHOLDERS`; else ValueError saying what is wrong (a template that does not parse, an
    expression, a filter or a statement, a name that is not one of them)."""
    try:
        parsed = _TEMPLATES.parse(text)
    except TemplateError as error:
        raise ValueError(f"the words are no template: {error.message}") from None
    if not all(isinstance(node, _PLAIN) for node in parsed.find_all(nodes.Node)):
        raise ValueError(
            "the words hold only text and placeholders such as {{ caller_name }}: no"
            " expressions, filters or statements"
        )
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(PLACEHOLDERS))
    if unknown:
        raise ValueError(
            f"unknown placeholder {', '.join(unknown)}; the placeholders are"
            f" {', '.join(sorted(PLACEHOLDERS))}"
        )
    return text


Words = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(check_words)]
Code = Field(pattern=CODE_PATTERN, min_length=1, max_length=80)


def render(text: str, values: Mapping[str, str]) -> str:
    """The words with their placeholders filled (every placeholder is given a value: `values`
    holds all of `PLACEHOLDERS`)."""
    return _TEMPLATES.from_string(text).render(**values).strip()


class UnknownCannedResponse(RecordNotFound):
    """A reply names a canned response there is none of: the command is invalid (422)."""

    code = "canned-response-not-found"


def held(session: Session, code: str) -> CannedResponse:
    """The canned response of that code, for a command that names it; UnknownCannedResponse if
    there is none."""
    found = session.find(CannedResponse, canned_response_id(code))
    if found is None:
        raise UnknownCannedResponse(f"no canned response {code}", canned_response_id(code))
    return found


class ResponseState(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


# -- events -------------------------------------------------------------------------------------


class CannedResponseEvent(DomainEvent):
    """A fact in a canned response's record."""


class Created(CannedResponseEvent):
    type_name: ClassVar[str] = "CannedResponse.Created"
    code: str = Code
    title: str = Name
    text_id: Words
    text_en: Words | None = None


class Revised(CannedResponseEvent):
    type_name: ClassVar[str] = "CannedResponse.Revised"
    title: str = Name
    text_id: Words
    text_en: Words | None = None
    reason: str | None = OptionalReason


class Retired(CannedResponseEvent):
    type_name: ClassVar[str] = "CannedResponse.Retired"
    reason: str = Reason


def transition(state: ResponseState | None, event: CannedResponseEvent) -> ResponseState:
    """The lifecycle state after an event: shared by the aggregate and the view."""
    match event:
        case Created() | Revised():
            return ResponseState.ACTIVE
        case Retired():
            return ResponseState.RETIRED
    assert state is not None, "a response's history starts with CannedResponse.Created"
    return state


# -- the aggregate ------------------------------------------------------------------------------


class CannedResponse(
    LifecycleAggregate[ResponseState],
    events=CannedResponseEvent,
    transition=transition,
    noun="canned response",
):
    KIND: ClassVar[str] = "canned response"

    code: str
    title: str
    texts: dict[str, str]
    state: ResponseState

    @classmethod
    def create(
        cls, ctx: Context, *, code: str, title: str, text_id: str, text_en: str | None
    ) -> CannedResponse:
        return cls._begin(
            ctx,
            canned_response_id(code),
            Created,
            code=code,
            title=title,
            text_id=text_id,
            text_en=text_en,
        )

    def revise(
        self, ctx: Context, *, title: str, text_id: str, text_en: str | None, reason: str | None
    ) -> None:
        self._require("revise", ResponseState.ACTIVE)
        if (title, {"id": text_id, "en": text_en}) == (self.title, self._given()):
            raise NothingChanged(f"canned response {self.code} already says exactly this")
        self._record(
            Revised(
                **self._envelope(ctx), title=title, text_id=text_id, text_en=text_en, reason=reason
            )
        )

    def retire(self, ctx: Context, reason: str) -> None:
        self._require("retire", ResponseState.ACTIVE)
        self._record(Retired(**self._envelope(ctx), reason=reason))

    def words(self, language: str) -> str:
        """Its words in `language`, or in Bahasa Indonesia where it has none in that one."""
        self._require("use", ResponseState.ACTIVE)
        return self.texts.get(language) or self.texts["id"]

    def _given(self) -> dict[str, str | None]:
        return {"id": self.texts["id"], "en": self.texts.get("en")}

    @applies(Created, Revised)
    def _worded(self, e: Created | Revised) -> None:
        if isinstance(e, Created):
            self.code = e.code
        self.title = e.title
        self.texts = {"id": e.text_id, **({"en": e.text_en} if e.text_en else {})}

    @applies(Retired)
    def _retired(self, e: Retired) -> None:
        pass  # the lifecycle state is all the decisions need


# -- commands -----------------------------------------------------------------------------------


class CreateCannedResponse(Command):
    model_config = example(
        {
            "code": "kartu-hilang",
            "title": "Kartu anggota hilang",
            "text_id": "Halo {{ caller_name }}, untuk kartu anggota yang hilang ({{ number }}),"
            " silakan datang ke meja layanan dengan KTP; kartu baru dicetak di tempat.",
            "text_en": "Hello {{ caller_name }}, for a lost membership card ({{ number }}),"
            " please come to the service desk with your ID card; a new card is printed there.",
        }
    )

    code: str = Code
    title: str = Name
    text_id: Words
    text_en: Words | None = None

    def decide(self, session: Session, ctx: Context) -> UUID:
        if session.find(CannedResponse, canned_response_id(self.code)) is not None:
            raise RecordAlreadyExists(f"canned response {self.code} already exists")
        session.add(
            CannedResponse.create(
                ctx, code=self.code, title=self.title, text_id=self.text_id, text_en=self.text_en
            )
        )
        return canned_response_id(self.code)


class CannedResponseCommand(ActionCommand):
    """An action on one canned response: POST /api/v1/canned-responses/{code}/{action}."""

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        self.call_action(session.get(CannedResponse, record_id), ctx)
        return record_id


class ReviseCannedResponse(CannedResponseCommand):
    model_config = example(
        {
            "title": "Kartu anggota hilang",
            "text_id": "Halo {{ caller_name }}, kartu baru untuk {{ number }} dicetak di meja"
            " layanan; bawa KTP Anda.",
            "reason": "Shorter",
        }
    )

    action = "revise"
    summary = "Revise a canned response's title and words (all of them at once)"
    title: str = Name
    text_id: Words
    text_en: Words | None = None
    reason: str | None = OptionalReason


class RetireCannedResponse(CannedResponseCommand):
    model_config = example({"reason": "Cards are now renewed online"})

    action = "retire"
    summary = "Retire a canned response: no longer offered or used"
    reason: str = Reason


CANNED_RESPONSE_COMMANDS = by_action(ReviseCannedResponse, RetireCannedResponse)
