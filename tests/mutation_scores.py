"""Print the mutation score of each file of domain/ from mutmut's results (`make mutation`).

mutmut 3 keeps each file's results in mutants/<file>.meta (mutant name -> the tests' exit code)
and prints only totals. The score here is killed / checked: a mutant counts as killed only when a
test failed on it; a survivor, a timeout (under load it may be either), or a mutant no test ran
all count against it. Mutants not run yet (a run scoped to some files) are left out, as are files
with none run.

    .venv/bin/python -m tests.mutation_scores [--survivors]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

MUTANTS = Path("mutants")


def results(meta: Path) -> dict[str, str]:
    exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in exit_codes.items()}


def main(argv: list[str]) -> int:
    rows: list[tuple[str, Counter[str], list[str]]] = []
    for meta in sorted((MUTANTS / "domain").glob("*.py.meta")):
        statuses = results(meta)
        counts = Counter(status for status in statuses.values() if status != "not checked")
        if counts:
            survivors = sorted(n for n, s in statuses.items() if s in {"survived", "no tests"})
            rows.append((str(meta.relative_to(MUTANTS)).removesuffix(".meta"), counts, survivors))
    if not rows:
        print("no mutmut results under mutants/: run `make mutation` first", file=sys.stderr)
        return 1
    print(
        f"{'file':<32} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} "
        f"{'timeout':>7} {'score':>7}"
    )
    for path, counts, survivors in rows:
        checked = sum(counts.values())
        print(
            f"{path:<32} {checked:>7} {counts['killed']:>7} {counts['survived']:>8} "
            f"{counts['no tests']:>8} {counts['timeout']:>7} "
            f"{100 * counts['killed'] / checked:>6.1f}%"
        )
        if "--survivors" in argv:
            for name in survivors:
                print(f"    {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
