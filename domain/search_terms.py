"""The words full-text search looks for: worked out here, in Python, for both backends.

The engines (SQLite FTS5, PostgreSQL full-text search) each have their own tokeniser, stemmers
and case rules, and they disagree: PostgreSQL has no Indonesian stemmer, FTS5 splits INC-000123
in two. So the text is made into terms here, at index time and at query time alike, and the
engines are handed terms they cannot split or change further (lower-case ASCII letters and
digits, one space between them): both backends then search the very same tokens.

- Case and diacritics fold away: "Pérpustakaan" and "PERPUSTAKAAN" are the same word (NFKD, the
  combining marks dropped, casefolded).
- Indonesian affixes are taken off by PySastrawi (the Nazief-Adriani stemmer with its dictionary
  of roots): "peminjaman", "meminjam" and "dipinjamkan" are all "pinjam". A word whose root is not
  in its dictionary (English words, names) is kept as written, so "printer" stays "printer".
- A run of letters and digits joined by - . / or _ that holds a digit is one term, its joins
  taken out: INC-000123 is "inc000123", the member card 3604.2023.00017 is "3604202300017", so a
  number is found exactly (and only whole: "000123" alone does not find it). Joined words
  without a digit ("kiosk-serang") are separate words.
- A word in another script is kept, spelt in hexadecimal behind an "x" (so no engine splits it),
  and any term is cut at MAX_TERM characters (the same cut at index and query time).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

from Sastrawi.Stemmer.StemmerFactory import StemmerFactory  # type: ignore[import-untyped]

#: The longest term kept (PostgreSQL refuses words past 2,047 bytes; ids are far shorter).
MAX_TERM = 64
#: The most terms a query looks for (each more one is ignored).
MAX_QUERY_TERMS = 16
#: How the words a query found are marked in a snippet (the rest of the snippet is escaped HTML).
MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"

_WORD = re.compile(r"[^\W_]+(?:[-./_][^\W_]+)*")
_JOIN = re.compile(r"[-./_]")
_ASCII_TERM = re.compile(r"[a-z0-9]+")
_ASCII_DIGIT = re.compile(r"[0-9]")
_stemmer = StemmerFactory().create_stemmer()


def folded(text: str) -> str:
    """The text with case and diacritics folded (é is e, ß is ss)."""
    if text.isascii():  # nothing to decompose or compose, and casefold is lower
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare).casefold()


def _words(text: str) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """Each word of the text where it stands (start, end in `text`), with its terms. Folding can
    change a text's length (ß), so each word is folded on its own, in place."""
    for found in _WORD.finditer(text):
        yield found.start(), found.end(), _word_terms(found[0])


@lru_cache(maxsize=100_000)
def _word_terms(written: str) -> tuple[str, ...]:
    """The terms of one word as written (cached: people use few words, and each costs folding
    and stemming; a snippet looks at every word of a text)."""
    word = folded(written)
    if _has_digit(word):
        parts = [_JOIN.sub("", word)]
    else:
        parts = [part for part in _JOIN.split(word) if part]
    return tuple(_term(part) for part in parts)


@lru_cache(maxsize=100_000)
def _term(word: str) -> str:
    """One folded word as the engines store it: stemmed, ASCII, cut to MAX_TERM."""
    if word.isascii():
        stem = word if _has_digit(word) else _stemmer.stem(word) or word
        term = stem if _ASCII_TERM.fullmatch(stem) else word
    else:
        term = word
    if not _ASCII_TERM.fullmatch(term):  # not ASCII, or folded into signs ("⑴" is "(1)")
        term = "x" + word.encode().hex()
    return term[:MAX_TERM]


def _has_digit(word: str) -> bool:
    if word.isascii():
        return _ASCII_DIGIT.search(word) is not None
    return any(c.isdigit() for c in word)


def terms(text: str) -> list[str]:
    """The terms of a text, in order, repeated as often as they occur (the rank counts them)."""
    found: list[str] = []
    for word in _WORD.findall(text):  # the words alone: `_words` without where each stands
        found.extend(_word_terms(word))
    return found


def indexed(texts: Iterable[str]) -> str:
    """What a view stores for the engines to index: the terms of the texts, space-separated."""
    return " ".join(found for text in texts if (found := _indexed(text)))


@lru_cache(maxsize=8_192)
def _indexed(text: str) -> str:
    """One text's terms, space-separated (cached: a record's row is indexed again on each of its
    events that says something, and its earlier texts, its title first, are the same each time)."""
    return " ".join(terms(text))


def query_terms(query: str) -> list[str]:
    """What a query looks for: its distinct terms, in order, at most MAX_QUERY_TERMS."""
    return list(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]


def snippet(texts: Iterable[str], wanted: Iterable[str], width: int = 160) -> str | None:
    """A few words around the first place one of the wanted terms occurs in the texts, as HTML:
    the text escaped and each word that matches in MARK_OPEN ... MARK_CLOSE. None if no text
    holds one of them."""
    looked_for = set(wanted)
    for text in texts:
        found = [(s, e) for s, e, ts in _words(text) if looked_for.intersection(ts)]
        if not found:
            continue
        first = found[0][0]
        start = max(0, first - width // 3)
        if start:  # begin on a word
            space = text.rfind(" ", 0, start)
            start = space + 1 if space >= 0 and first - space < width // 2 else start
        end = min(len(text), start + width)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > found[0][1] else end
        shown, at = [], start
        for s, e in found:
            if s < start or e > end:
                continue
            shown.append(html.escape(text[at:s]) + MARK_OPEN + html.escape(text[s:e]) + MARK_CLOSE)
            at = e
        shown.append(html.escape(text[at:end]))
        body = " ".join("".join(shown).split())
        return ("… " if start else "") + body + (" …" if end < len(text) else "")
    return None
