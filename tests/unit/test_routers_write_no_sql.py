"""Routers write no SQL: every query a route needs is a view's (projections/queries.py and the
view modules), where the caller's organisation scoping is applied once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"
#: What an SQL fragment looks like: a comparison with a parameter, or a clause keyword.
SQL = re.compile(
    r"[=<>]\s*\?|\"\w+\"\s*(?:[=<>]|IN\b|LIKE\b)|\b(?:ORDER BY|SELECT|WHERE|LIMIT|LIKE)\b"
)


def sql_fragments(source: str) -> list[str]:
    """The string literals (f-strings' text too) of a module that look like SQL."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and SQL.search(node.value)
        ):
            found.append(node.value)
    return found


def test_no_api_module_holds_an_sql_fragment() -> None:
    offenders = {
        path.name: fragments
        for path in sorted(API.glob("*.py"))
        if (fragments := sql_fragments(path.read_text()))
    }
    assert offenders == {}


def test_the_check_finds_the_fragments_routers_used_to_write() -> None:
    # the shapes the review counted: a column compared with a parameter, and a page's tail
    assert sql_fragments("""rows = select(view, '"number" = ?', (n,))""")
    assert sql_fragments("""tail = f'ORDER BY "number" DESC LIMIT {limit}'""")
    assert sql_fragments("""clauses.append(f'"{column}" = ?')""")
    assert sql_fragments("""select(sla_clocks, '"watched" = 1')""")
    assert not sql_fragments("""summary = 'List incidents, newest first'""")
