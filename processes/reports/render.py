"""A service report as people read it: CSV rows, an HTML page and a PDF, with charts drawn by
matplotlib, in Bahasa Indonesia or English (the catalogue's words; dates in Asia/Jakarta).

The report itself is the dict processes/reports.make answers; nothing here computes a figure.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from domain.organisations import ORGANISATIONS
from domain.whatif import REPORTING_ZONE
from processes.reports import Language, ReportDefinition, catalogue

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TEMPLATES = Path(__file__).with_name("templates")
_ORGANISATIONS = {code: name for code, name, _ in ORGANISATIONS}

#: The words around the figures, in each language (the figures' own are the catalogue's).
WORDS: Mapping[Language, Mapping[str, str]] = {
    "id": {
        "period": "Periode",
        "made_from": "Dibuat dari catatan sampai posisi",
        "digest": "Ringkasan SHA-256",
        "as_of": "Keadaan pada",
        "generated": "Dibuat",
        "figure": "Ukuran",
        "value": "Nilai",
        "definition": "Definisi",
        "total": "Seluruh periode",
        "by": "Menurut",
        "month": "Bulan",
        "trend": "Tren per bulan",
        "service": "layanan",
        "organisation": "organisasi",
        "priority": "prioritas",
        "group": "kelompok",
        "type": "jenis",
        "supplier": "pemasok",
        "agreement": "perjanjian",
        "customer": "pelanggan",
        "none": "tidak ada data",
    },
    "en": {
        "period": "Period",
        "made_from": "Made from the record up to position",
        "digest": "SHA-256 digest",
        "as_of": "As of",
        "generated": "Generated",
        "figure": "Figure",
        "value": "Value",
        "definition": "Definition",
        "total": "Whole period",
        "by": "By",
        "month": "Month",
        "trend": "Trend by month",
        "service": "service",
        "organisation": "organisation",
        "priority": "priority",
        "group": "group",
        "type": "type",
        "supplier": "supplier",
        "agreement": "agreement",
        "customer": "customer",
        "none": "no data",
    },
}


@dataclass(frozen=True)
class Labels:
    """What people call the keys of a report's rows, in one language."""

    language: Language
    service_name: Callable[[str, str], str]

    def of(self, dimension: str, key: str) -> str:
        if dimension == "service":
            return self.service_name(key, self.language)
        if dimension in ("organisation", "customer"):
            return _ORGANISATIONS.get(key, key)
        return key

    def month(self, label: str) -> str:
        year, month = (int(part) for part in label.split("-"))
        return format_date(date(year, month, 1), "MMMM y", locale=self.language)

    def moment(self, moment: datetime) -> str:
        return (
            format_datetime(moment, "d MMMM y HH:mm", tzinfo=REPORTING_ZONE, locale=self.language)
            + " WIB"
        )


def definition_of(report: Mapping[str, Any]) -> ReportDefinition:
    return catalogue()[report["report"]]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- CSV -----------------------------------------------------------------------------------------


def csv_text(report: Mapping[str, Any], labels: Labels) -> str:
    """One line for the whole period, one for each row of each dimension, one for each month:
    scope, key, the key's name, then every figure under its catalogue name."""
    measures = report["measures"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scope", "key", "name", *measures])
    writer.writerow(
        ["total", "all", WORDS[labels.language]["total"], *_values(report["total"], measures)]
    )
    for row in report["rows"]:
        name = labels.of(row["dimension"], row["key"])
        writer.writerow([row["dimension"], row["key"], name, *_values(row["figures"], measures)])
    for row in report["months"]:
        writer.writerow(
            ["month", row["month"], labels.month(row["month"]), *_values(row["figures"], measures)]
        )
    return out.getvalue()


def _values(row: Mapping[str, Any], measures: Sequence[str]) -> list[str]:
    return [_cell(row.get(m)) for m in measures]


# -- charts --------------------------------------------------------------------------------------


def charts(report: Mapping[str, Any], labels: Labels) -> list[Figure]:
    """The report's two charts: its trend figures by month (grouped bars), and its headline
    figure by its first dimension (horizontal bars, largest first)."""
    from matplotlib.figure import Figure

    definition = definition_of(report)
    words = WORDS[labels.language]
    found = []

    trend = Figure(figsize=(8, 3.6), layout="constrained")
    axes = trend.add_subplot()
    months = report["months"]
    width = 0.8 / len(definition.trend)
    percent = all(definition.measures[m].unit == "percent" for m in definition.trend)
    for i, measure in enumerate(definition.trend):
        heights = [row["figures"].get(measure) or 0 for row in months]
        positions = [x + (i - (len(definition.trend) - 1) / 2) * width for x in range(len(months))]
        axes.bar(positions, heights, width, label=_short(definition, measure, labels.language))
    axes.set_xticks(range(len(months)), [labels.month(row["month"]) for row in months])
    axes.tick_params(axis="x", labelrotation=30 if len(months) > 4 else 0, labelsize=8)
    if percent:
        axes.set_ylim(0, 100)
        axes.set_ylabel("%")
    axes.set_title(f"{definition.words(labels.language).title}: {words['trend']}", fontsize=10)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
    axes.grid(axis="y", alpha=0.3)
    found.append(trend)

    dimension = definition.dimensions[0]
    rows = [r for r in report["rows"] if r["dimension"] == dimension]
    rows.sort(key=lambda r: r["figures"].get(definition.headline) or 0)
    by = Figure(figsize=(8, max(2.0, 0.35 * len(rows) + 1)), layout="constrained")
    axes = by.add_subplot()
    names = [labels.of(dimension, r["key"]) for r in rows]
    axes.barh(names, [r["figures"].get(definition.headline) or 0 for r in rows], color="#1f6fd1")
    axes.tick_params(axis="y", labelsize=8)
    axes.set_title(
        f"{_short(definition, definition.headline, labels.language)}"
        f" ({words['by'].lower()} {words.get(dimension, dimension)})",
        fontsize=10,
    )
    axes.grid(axis="x", alpha=0.3)
    found.append(by)
    return found


def _short(definition: ReportDefinition, measure: str, language: Language) -> str:
    """A figure's definition cut to its first clause: a legend's words."""
    said = definition.measures[measure].said_in(language)
    return said.split(" (")[0]


def svg(figure: Figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def png(figure: Figure, dpi: int = 150) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


# -- HTML ----------------------------------------------------------------------------------------


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def html(report: Mapping[str, Any], labels: Labels, generated: datetime) -> str:
    """The report as one self-contained HTML page: its figures with their definitions, a table
    for each dimension and for the months, and its charts as inline SVG."""
    definition = definition_of(report)
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        definition=definition,
        words=definition.words(labels.language),
        measures=definition.measures,
        language=labels.language,
        ui=WORDS[labels.language],
        labels=labels,
        cell=_cell,
        generated=labels.moment(generated),
        # matplotlib's own SVG, whose text it draws as paths: nothing of the data becomes markup
        charts=[Markup(svg(figure)) for figure in charts(report, labels)],
    )


# -- PDF -----------------------------------------------------------------------------------------


def pdf(report: Mapping[str, Any], labels: Labels, generated: datetime) -> bytes:
    """The report as a PDF: the same content as the HTML page, the charts as images."""
    from fpdf import FPDF
    from matplotlib import get_data_path

    definition = definition_of(report)
    words, ui = definition.words(labels.language), WORDS[labels.language]
    fonts = Path(get_data_path()) / "fonts" / "ttf"
    document = FPDF(orientation="portrait", format="A4")
    document.set_creation_date(generated)
    document.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    document.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    document.set_title(words.title)
    document.add_page()
    document.set_font("DejaVu", "B", 15)
    document.multi_cell(0, 8, new_x="LMARGIN", new_y="NEXT", text=words.title)
    document.set_font("DejaVu", "", 9)
    period = report["period"]
    document.multi_cell(0, 5, new_x="LMARGIN", new_y="NEXT", text=words.purpose)
    document.ln(2)
    for line in (
        f"{ui['period']}: {period['from']} - {period['to']}",
        f"{ui['made_from']} {report['position']}; {ui['digest']}: {report['digest']}",
        f"{ui['generated']}: {labels.moment(generated)}",
    ):
        document.multi_cell(0, 5, new_x="LMARGIN", new_y="NEXT", text=line)
    document.ln(3)
    _table(
        document,
        [ui["figure"], ui["value"], ui["definition"]],
        [
            [name, _cell(report["total"].get(name)), measure.said_in(labels.language)]
            for name, measure in definition.measures.items()
        ],
        (45, 20, 125),
    )
    for figure in charts(report, labels):
        document.ln(3)
        document.image(io.BytesIO(png(figure)), w=180)
    shown = [*definition.trend, definition.headline]
    shown = list(dict.fromkeys(shown))
    for dimension in [*definition.dimensions, "month"]:
        if dimension == "month":
            rows = [(labels.month(r["month"]), r["figures"]) for r in report["months"]]
        else:
            rows = [
                (labels.of(dimension, r["key"]), r["figures"])
                for r in report["rows"]
                if r["dimension"] == dimension
            ]
        document.ln(3)
        document.set_font("DejaVu", "B", 11)
        document.multi_cell(
            0, 7, new_x="LMARGIN", new_y="NEXT", text=f"{ui['by']} {ui.get(dimension, dimension)}"
        )
        document.set_font("DejaVu", "", 8)
        widths = (60, *(130 / len(shown),) * len(shown))
        _table(
            document,
            [ui.get(dimension, dimension), *shown],
            [[name, *(_cell(row.get(m)) for m in shown)] for name, row in rows],
            widths,
        )
    return bytes(document.output())


def _table(
    document: Any, head: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
) -> None:
    document.set_font("DejaVu", "", 7.5)
    with document.table(col_widths=tuple(widths), first_row_as_headings=True) as table:
        for values in [head, *rows]:
            line = table.row()
            for value in values:
                line.cell(value)
