"""A what-if report as people read it: a terminal table, CSV rows, and an SVG chart of compliance
per month (record against what-if). The report itself is domain/whatif.report's dict."""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

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


def chart_svg(report: dict[str, Any]) -> str:
    """Compliance per month: the record (grey) and the what-if (blue), 0-100 %."""
    months = [row for row in report["rows"] if row["dimension"] == "month"]
    width, height, left, right, top, bottom = 760, 360, 56, 20, 40, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(months) - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if len(months) > 1 else plot_w / 2)

    def y(pct: float) -> float:
        return top + plot_h * (1 - pct / 100)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">SLA compliance per month (resolution):'
        " record vs what-if</text>",
    ]
    for pct in range(0, 101, 20):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(pct):.1f}" y2="{y(pct):.1f}"'
            ' stroke="#ddd"/>'
            f'<text x="{left - 8}" y="{y(pct) + 4:.1f}" text-anchor="end">{pct}%</text>'
        )
    for i, row in enumerate(months):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 18}" text-anchor="middle">'
            f"{escape(str(row['key']))}</text>"
        )
    for side, colour, label in (("record", "#888", "record"), ("whatif", "#1f6fd1", "what-if")):
        points = [
            (x(i), y(row[side]["compliance_pct"]))
            for i, row in enumerate(months)
            if row[side]["compliance_pct"] is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        parts += [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points
        ]
        legend_x = width - right - (170 if side == "record" else 80)
        parts.append(
            f'<rect x="{legend_x}" y="12" width="12" height="12" fill="{colour}"/>'
            f'<text x="{legend_x + 16}" y="22">{label}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
