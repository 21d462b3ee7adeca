"""What the console writes of a record's own text: a search snippet keeps the index's marks on
the matched words and nothing else of it becomes markup (console/render.py `marked`)."""

from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from console.render import marked

words = st.text(max_size=40)


@given(parts=st.lists(st.tuples(words, st.booleans()), max_size=6))
def test_a_snippet_keeps_its_marks_and_escapes_everything_else(
    parts: list[tuple[str, bool]],
) -> None:
    snippet = "".join(f"<mark>{text}</mark>" if hit else text for text, hit in parts)
    shown = str(marked(snippet))
    # every tag left is a mark the index made, and the text reads as it was
    assert shown.count("<mark>") >= sum(hit for _, hit in parts)
    unmarked = shown.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in unmarked
    assert html.unescape(unmarked) == snippet.replace("<mark>", "").replace("</mark>", "")


def test_a_script_in_an_articles_title_stays_text() -> None:
    assert str(marked("<script>alert(1)</script> <mark>kios</mark>")) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; <mark>kios</mark>"
    )
