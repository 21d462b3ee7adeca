"""`itsm import mapped`: a value the mapping does not map is reported per value, with its count,
and with --refuse-unmapped the row is refused (counted), never silently made `medium`."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from processes.import_mapping import SHIPPED
from tests.integration.test_imports import HELPDESK, head_of

ROWS = 3000


def without_value_4(tmp_path: Path) -> Path:
    """The shipped help desk mapping, less its impact "Value 4"."""
    text = (SHIPPED / "helpdesk.toml").read_text()
    impacts = text.index("[impacts]")
    cut = text.index('"Value 4" = "high"\n', impacts)
    mapping = tmp_path / "helpdesk.toml"
    mapping.write_text(text[:cut] + text[cut + len('"Value 4" = "high"\n') :])
    return mapping


def rows_with(path: Path, column: str, value: str) -> int:

    with path.open(newline="") as f:
        return Counter(r[column] for r in csv.DictReader(f))[value]


def count(output: str, label: str) -> int:
    found = re.search(rf"^\s+([\d,]+) rows\s+{re.escape(label)}$", output, re.M)
    assert found, output
    return int(found.group(1).replace(",", ""))


@pytest.mark.parametrize("refuse", [False, True])
def test_an_unmapped_impact_is_reported_per_value_and_refused_by_option(
    tmp_path: Path, refuse: bool
) -> None:
    log = head_of(HELPDESK, ROWS, tmp_path / "helpdesk.csv")
    expected = rows_with(log, "seriousness_2", "Value 4")
    assert expected > 0
    options = ["--refuse-unmapped"] if refuse else []
    run = CliRunner().invoke(
        main,
        [
            "import",
            "mapped",
            "--data-dir",
            str(tmp_path / "var"),
            "--mapping",
            str(without_value_4(tmp_path)),
            *options,
            str(log),
        ],
    )
    assert run.exit_code == 0, run.output
    assert f"= {ROWS:,} of {ROWS:,} read" in run.output
    if refuse:
        label = "seriousness_2 'Value 4' is not in the mapping (refused by option)"
        assert count(run.output, label) == expected
    else:
        assert count(run.output, "seriousness_2 'Value 4'") == expected
