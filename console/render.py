"""Pages from templates (console/templates), in the visitor's language, with the headers every
console answer carries.

One Jinja2 environment per language, each with its catalogue installed (`_` and `ngettext` in
templates), autoescaped: nothing a caller or an agent wrote becomes markup. Every page is sent
with a strict Content Security Policy (scripts, styles and images from the service alone, no
inline script, no framing), and is never cached: a page shows one person's records.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from console.i18n import (
    DEFAULT,
    TEMPLATES_DIR,
    catalogue,
    duration,
    language,
    moment,
    translations,
)

if TYPE_CHECKING:
    from console.auth import Visitor


#: No script, style or image from anywhere but the service; no inline script; no framing; forms
#: post only here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def marked(snippet: str) -> Markup:
    """A search snippet with its matched words marked (the index wraps them in <mark>): every
    other character escaped, so nothing of the record's own text becomes markup."""
    escaped = str(escape(snippet))
    return Markup(escaped.replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>"))


@cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html",), default=True),
        undefined=StrictUndefined,
        extensions=("jinja2.ext.i18n",),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    words = translations(lang)
    # a message the catalogue may lack (a refusal's code): its own words, or a general one's
    env.globals["said"] = lambda key, fallback: words.gettext(
        key if catalogue(lang).get(key) is not None else fallback
    )
    env.filters["moment"] = lambda value: moment(value, lang)
    env.filters["marked"] = marked
    env.filters["duration"] = lambda value: duration(value, lang)
    return env


def render(
    request: Request, template: str, who: Visitor | None, *, status: int = 200, **context: Any
) -> HTMLResponse:
    lang = who.lang if who is not None else language(request.cookies.get("itsm_lang") or DEFAULT)
    body = (
        environment(lang)
        .get_template(template)
        .render(
            who=who,
            lang=lang,
            path=request.url.path,
            # where the language links come back to: this page, with its question
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        )
    )
    return HTMLResponse(body, status_code=status, headers=HEADERS)
