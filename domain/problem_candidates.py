"""Problem candidates (ISO/IEC 20000-1 8.6.3, item 49 of docs/iso20000.md): where incidents gather,
a problem may be behind them.

The incidents of a window are clustered three ways: by the configuration item they name, by
their service and category, and by a word their titles share (the search terms the service
already computes, domain/search_terms.py: folded and stemmed, so "peminjaman" and "pinjam" are one
word). A cluster of at least `threshold` incidents is a candidate. The caller leaves out the
incidents already linked to an open problem, so a cluster that is already a problem's is no
candidate, and new incidents of the same kind still are.

Pure: the incidents come in, the candidates go out, each with its incidents, how many, and when
first and last seen; the proposal is the body of POST /api/v1/problems that logs a problem from
them (linked both ways).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.search_terms import terms

#: The window looked at: 30 days unless asked, at most a year.
DEFAULT_DAYS, MAX_DAYS = 30, 366
#: The smallest cluster that is a candidate: 3 unless asked, from 2 to 100.
DEFAULT_THRESHOLD, MIN_THRESHOLD, MAX_THRESHOLD = 3, 2, 100
#: The most incidents of a window looked at (the latest), and the most incidents a candidate
#: lists (its count says how many there are).
MAX_INCIDENTS, MAX_LISTED = 5_000, 100

#: Words that say nothing of a fault, as terms (folded and stemmed): a shared one is no cluster.
#: Indonesian and English, the languages of the titles.
STOP_TERMS = frozenset(
    {
        *("di", "ke", "dari", "yang", "dan", "atau", "tidak", "bisa", "tak", "ada", "untuk"),
        *("dengan", "pada", "saat", "ini", "itu", "sudah", "belum", "masih", "lagi", "juga"),
        *("the", "and", "for", "not", "with", "from", "does", "cannot", "can", "when", "after"),
        *("is", "are", "was", "of", "to", "in", "on", "at", "a", "an", "no"),
    }
)
#: The shortest term that clusters (shorter ones are mostly particles and units).
MIN_TERM = 3


class Basis(StrEnum):
    CONFIGURATION_ITEM = "configuration_item"
    SERVICE_CATEGORY = "service_category"
    SIMILAR_TITLE = "similar_title"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """An incident, as clustering reads it."""

    id: str
    ref: str
    title: str
    service: str
    category: str | None
    configuration_item: str | None
    logged_at: str  # ISO 8601 UTC: sorts as time does


@dataclass(frozen=True, slots=True)
class Candidate:
    basis: Basis
    #: What the incidents share: the item's code, "service/category", or the word.
    key: str
    incidents: tuple[Occurrence, ...]

    @property
    def first_seen(self) -> str:
        return self.incidents[0].logged_at

    @property
    def last_seen(self) -> str:
        return self.incidents[-1].logged_at

    def proposal(self) -> dict[str, Any]:
        """The body of POST /api/v1/problems that logs a problem from this candidate."""
        services = {o.service for o in self.incidents}
        items = sorted({o.configuration_item for o in self.incidents if o.configuration_item})
        return {
            "title": _title(self)[:200],
            "service": services.pop() if len(services) == 1 else None,
            "configuration_items": items if self.basis is Basis.CONFIGURATION_ITEM else [],
            "incidents": [o.ref for o in self.incidents[:MAX_LISTED]],
        }


def _title(candidate: Candidate) -> str:
    """A title to start from, in the words the callers used: the latest incident's title, after
    the item or service and category they share (no sentence of ours: no language to choose)."""
    latest = candidate.incidents[-1].title
    return latest if candidate.basis is Basis.SIMILAR_TITLE else f"{candidate.key}: {latest}"


def title_terms(title: str) -> frozenset[str]:
    """The words of a title that may cluster it: its distinct search terms, particles left out."""
    return frozenset(t for t in terms(title) if len(t) >= MIN_TERM and t not in STOP_TERMS)


def candidates(occurrences: Iterable[Occurrence], threshold: int) -> list[Candidate]:
    """The clusters of at least `threshold` incidents, by item, by service and category, and by a
    title word; the most incidents first, then the latest seen. Words whose incidents are the
    same are one candidate (named by them all); a word's cluster inside another word's (all its
    incidents among the other's) is left out, as the larger says it."""
    ordered = sorted(occurrences, key=lambda o: (o.logged_at, o.ref))
    by_item: dict[str, list[Occurrence]] = defaultdict(list)
    by_category: dict[str, list[Occurrence]] = defaultdict(list)
    by_word: dict[str, list[Occurrence]] = defaultdict(list)
    for o in ordered:
        if o.configuration_item:
            by_item[o.configuration_item].append(o)
        by_category[f"{o.service}/{o.category}" if o.category else o.service].append(o)
        for term in title_terms(o.title):
            by_word[term].append(o)
    found = [
        *_clusters(Basis.CONFIGURATION_ITEM, by_item, threshold),
        *_clusters(Basis.SERVICE_CATEGORY, by_category, threshold),
        *_word_clusters(by_word, threshold),
    ]
    return sorted(found, key=lambda c: (-len(c.incidents), _descending(c.last_seen), c.key))


def _clusters(basis: Basis, groups: dict[str, list[Occurrence]], threshold: int) -> list[Candidate]:
    return [
        Candidate(basis, key, tuple(members))
        for key, members in groups.items()
        if len(members) >= threshold
    ]


def _word_clusters(by_word: dict[str, list[Occurrence]], threshold: int) -> list[Candidate]:
    same: dict[frozenset[str], list[str]] = defaultdict(list)
    members: dict[frozenset[str], Sequence[Occurrence]] = {}
    for word, found in by_word.items():
        if len(found) >= threshold:
            ids = frozenset(o.id for o in found)
            same[ids].append(word)
            members[ids] = found
    kept = [ids for ids in same if not any(ids < other for other in same)]
    return [
        Candidate(Basis.SIMILAR_TITLE, " ".join(sorted(same[ids])), tuple(members[ids]))
        for ids in kept
    ]


def _descending(text: str) -> tuple[int, ...]:
    """A key that sorts ISO times latest first."""
    return tuple(-ord(c) for c in text)
