"""A what-if report as people read it: a terminal table, CSV rows, and a chart of compliance per
month (record beside what-if, drawn by matplotlib). The report itself is domain/whatif.report's
dict."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES = (
    "tickets",
    "met",
    "breached",
    "open",
    "compliance_pct",
    "median_resolve_minutes",
    "p90_resolve_minutes",
)


def _num(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g}{suffix}"


def _signed(value: float | None, suffix: str = "") -> str:
    if value is None:
        return ""
    return f"({value:+g}{suffix})"


def table(report: dict[str, Any], flips_shown: int = 20) -> str:
    """The report as fixed-width text: one block per dimension, then the flips."""
    out = io.StringIO()
    head = (
        f"{'':<28} {'tickets':>15} {'breached':>15} {'compliance %':>24}"
        f" {'median h':>17} {'p90 h':>17}"
    )
    dimension = None
    for row in [report["total"], *report["rows"]]:
        if row["dimension"] != dimension:
            dimension = row["dimension"]
            out.write(f"\n{dimension}: record -> what-if\n{head}\n")
        out.write(_line(row) + "\n")
    shown = report["flips"][:flips_shown]
    out.write(
        f"\n{report['flipped']} of {report['tickets']} tickets flip"
        f" ({report['met_to_breached']} met -> breached,"
        f" {report['breached_to_met']} breached -> met)"
        + (f"; the first {len(shown)}:" if shown else "")
        + "\n"
    )
    for flip in shown:
        rec, wi = flip["record"], flip["whatif"]
        out.write(
            f"  {flip['ref']}  {flip['service']}: P{rec['priority']} {rec['verdict']}"
            f" -> P{wi['priority']} {wi['verdict']}\n"
        )
        side = wi if wi["verdict"] == "breached" else rec
        for line in side["explanation"]:
            if "breached:" in line:
                label = "what-if" if side is wi else "record"
                out.write(f"      {label}: {line}\n")
    return out.getvalue()


def _line(row: dict[str, Any]) -> str:
    rec, wi, delta = row["record"], row["whatif"], row["delta"]

    def pair(name: str, scale: float = 1.0, width: int = 15) -> str:
        a, b = rec[name], wi[name]
        a = None if a is None else round(a / scale, 1)
        b = None if b is None else round(b / scale, 1)
        return f"{_num(a)} -> {_num(b)}".rjust(width)

    key = str(row["key"])[:28]
    compliance = f"{pair('compliance_pct', width=14)} {_signed(delta['compliance_pct']):>9}"
    return (
        f"{key:<28} {pair('tickets')} {pair('breached')} {compliance}"
        f" {pair('median_resolve_minutes', 60, 17)} {pair('p90_resolve_minutes', 60, 17)}"
    )


def csv_text(report: dict[str, Any]) -> str:
    """One line per group: its figures under record, under the what-if, and the deltas."""
    out = io.StringIO()
    writer = csv.writer(out)
    sides = ("record", "whatif", "delta")
    writer.writerow(["dimension", "key", *(f"{s}_{f}" for s in sides for f in FIGURES)])
    for row in [report["total"], *report["rows"]]:
        writer.writerow(
            [row["dimension"], row["key"], *(_cell(row[s][f]) for s in sides for f in FIGURES)]
        )
    return out.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


#: The chart's words, in Bahasa Indonesia (the default) and English.
CHART_WORDS = {
    "id": {
        "title": "Kepatuhan SLA penyelesaian per bulan: catatan dan what-if",
        "record": "menurut aturan yang tercatat",
        "whatif": "menurut what-if",
        "axis": "% tiket yang diputuskan yang memenuhi target",
    },
    "en": {
        "title": "SLA resolution compliance by month: record and what-if",
        "record": "by the rules of record",
        "whatif": "by the what-if",
        "axis": "% of decided tickets that met the target",
    },
}


def chart(report: dict[str, Any], language: str = "id") -> Figure:
    """Compliance per month, record (grey) beside what-if (blue), as bars drawn by matplotlib,
    each labelled with its percentage; each bar's SVG id is `record-YYYY-MM` or `whatif-YYYY-MM`.
    Save it as SVG, PNG or PDF (`Figure.savefig` by the file's suffix)."""
    from matplotlib.figure import Figure

    words = CHART_WORDS.get(language, CHART_WORDS["id"])
    months = [row for row in report["rows"] if row["dimension"] == "month"]
    figure = Figure(figsize=(max(6.0, 0.9 * len(months) + 2), 4), layout="constrained")
    axes = figure.add_subplot()
    width = 0.4
    for offset, side, colour in (
        (-width / 2, "record", "#8a8a8a"),
        (width / 2, "whatif", "#1f6fd1"),
    ):
        values = [row[side]["compliance_pct"] for row in months]  # None: nothing decided
        bars = axes.bar(
            [i + offset for i in range(len(months))],
            [value or 0 for value in values],
            width,
            color=colour,
            label=words[side],
        )
        for bar, row in zip(bars, months, strict=True):
            bar.set_gid(f"{side}-{row['key']}")
        shown = ["-" if value is None else f"{value:.1f}" for value in values]
        axes.bar_label(bars, labels=shown, fontsize=7, padding=2)
    axes.set_xticks(range(len(months)), [str(row["key"]) for row in months])
    axes.set_ylim(0, 105)
    axes.set_ylabel(words["axis"], fontsize=8)
    axes.set_title(words["title"], fontsize=10)
    axes.legend(fontsize=8, loc="lower right")
    axes.grid(axis="y", alpha=0.3)
    return figure
