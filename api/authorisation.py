"""The authorisation table: every route of the API and the roles that may call it.

Each route decides for itself, through the one dependency it resolves (`api.deps.authorised`),
which lists its roles in the route's OpenAPI security requirement; the few public routes are
listed here. `decisions(openapi)` reads the decisions off the OpenAPI document; `table` writes
them as the Markdown table published in docs/authorisation.md (`itsm authorisation table
--write docs/authorisation.md`); `parse_table` reads it back. A test calls every route of the
OpenAPI document with a token of every role and checks each answer against the published table,
so a route added without a decision, or a decision changed without the table, fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.actors import Role

#: Routes anyone may call without a token: liveness and readiness for the orchestrator, metrics
#: for the scraper (counts and latencies, no record data), what a problem code means, and the
#: API's own description.
PUBLIC = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/problems/{code}"),
    }
)
#: Roles a token may carry (the service's own role acts only inside the service).
ROLES = tuple(role for role in Role if role is not Role.SYSTEM)
ALLOWED, DENIED, ANYONE = "✓", "·", "public"


@dataclass(frozen=True)
class Decision:
    method: str
    path: str
    #: The roles that may call the route; None for a public route.
    roles: frozenset[Role] | None
    summary: str = ""


class Undecided(Exception):
    """A route that neither checks a role nor is listed as public."""


def decisions(openapi: dict[str, Any]) -> list[Decision]:
    """The decision of every operation in an OpenAPI document, in document order: the roles its
    bearer security requirement lists, or public when it is one of PUBLIC."""
    found = []
    for path, operations in openapi["paths"].items():
        for verb, operation in operations.items():
            method = verb.upper()
            summary = operation.get("summary", "")
            required = [r for r in operation.get("security", []) if "HTTPBearer" in r]
            if required:
                roles = frozenset(Role(name) for name in required[0]["HTTPBearer"])
                found.append(Decision(method, path, roles, summary))
            elif (method, path) in PUBLIC:
                found.append(Decision(method, path, None, summary))
            else:
                raise Undecided(f"{method} {path} checks no role and is not public")
    return found


def table(found: list[Decision]) -> str:
    head = ["method", "path", *[role.value for role in ROLES], "summary"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in found:
        if d.roles is None:
            cells = [ANYONE] * len(ROLES)
        else:
            cells = [ALLOWED if role in d.roles else DENIED for role in ROLES]
        lines.append("| " + " | ".join([d.method, f"`{d.path}`", *cells, d.summary]) + " |")
    return "\n".join(lines) + "\n"


def parse_table(text: str) -> dict[tuple[str, str], frozenset[Role] | None]:
    """(method, path) -> the roles the table allows, None for public; from docs/authorisation.md."""
    rows: dict[tuple[str, str], frozenset[Role] | None] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != len(ROLES) + 3 or cells[0] in {"method", ""} or cells[0].startswith("-"):
            continue
        method, path, marks = cells[0], cells[1].strip("`"), cells[2 : 2 + len(ROLES)]
        if all(mark == ANYONE for mark in marks):
            rows[(method, path)] = None
        else:
            rows[(method, path)] = frozenset(
                role for role, mark in zip(ROLES, marks, strict=True) if mark == ALLOWED
            )
    return rows
