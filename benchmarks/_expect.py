"""What a benchmark may count: only the answers it expected.

A benchmark that counts every answer measures how fast the service refuses (a 429 under the
rate limit is cheap), so it must stop at the first answer it did not expect, naming it.
"""

from __future__ import annotations

from collections.abc import Collection

#: The settings a benchmark's own server runs with: the per-token and per-address limits off, so
#: the measured load is not refused (a benchmark states them in its output).
UNLIMITED_ENV: dict[str, str] = {
    "ITSM_RATE_LIMIT": "",
    "ITSM_ADDRESS_RATE_LIMIT": "",
    "ITSM_ADDRESS_FAILURE_LIMIT": "",
}


class UnexpectedAnswer(RuntimeError):
    """An answer the benchmark did not expect: the run is void, not a figure."""

    def __init__(self, what: str, status: int, expected: Collection[int], body: bytes) -> None:
        self.what, self.status, self.expected, self.body = what, status, expected, body
        text = body[:500].decode("utf-8", errors="replace")
        wanted = " or ".join(str(s) for s in sorted(expected))
        super().__init__(f"{what}: answered {status}, expected {wanted}: {text}")


def expect(what: str, status: int, expected: Collection[int], body: bytes = b"") -> None:
    """Raise UnexpectedAnswer unless `status` is one of `expected`."""
    if status not in expected:
        raise UnexpectedAnswer(what, status, expected, body)
