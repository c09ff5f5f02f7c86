"""A printable dossier (PDF) of one or more rings: `summary.zh.pdf` / `summary.en.pdf`, `rxring report --format pdf`.

What it holds, in order: the title page (the facts, what was found, the rings at
a glance, the contents); the extraction record
(提取笔录) when the dossier is an evidence package's; per ring its members by
role, a ring diagram, the findings and each box's chain of custody.  Every page
carries its number ("第 3 / 12 页") and a digest in the footer (the evidence
package's digest of the files the PDF does not cover, or the inputs' digest for a
report), so a printed page can be matched to the package it came from.

Chinese is set in reportlab's built-in CID font ``STSong-Light`` (Adobe-GB1; the
reader supplies the glyphs, nothing is downloaded or embedded); English pages use
it too, since their data (site names) is Chinese.  Long tables stop after
:data:`MAX_ROWS` rows and say where all the rows are (the CSV files of the
package or report).

The ring diagram draws the same graph as the HTML visualisation
(:func:`rxring.report.viz_graph.build_ring_graph`: members by role, patients grouped
per site above :data:`MAX_NODES` nodes, edges labelled with their boxes) in the
order money moves: prescribers, patients, source sites, laundering sites, one
column each.

Examples
--------
>>> from rxring.report.pdf import PdfText
>>> PdfText("zh").escape("<b>&")
'&lt;b&gt;&amp;'
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field

from pathlib import Path

from ..version import __version__
from .custody import CUSTODY_COLUMNS, custody_headers, custody_table, portable_sources, ring_custody
from .data import CaseData, fmt_money, period, read_ring_events
from .extraction import ExtractionRecord, input_notes, record_text
from .i18n import ROLE_KEYS, label, rule_text
from .pii import Masker
from .tables import finding_rows, member_rows
from .viz_graph import ROLE_STYLE, RingGraph, RingParts, build_ring_graph

__all__ = ["FONT", "MAX_ROWS", "MAX_NODES", "MAX_BOXES", "PdfText", "RingSection", "Dossier", "render_dossier",
           "ring_section", "write_report_pdf", "package_pdfs", "PDF_NAMES"]

#: The dossiers of an evidence package, one per language.
PDF_NAMES = {"zh": "summary.zh.pdf", "en": "summary.en.pdf"}

#: The built-in CID font every page is set in.
FONT = "STSong-Light"
#: Rows of a member, finding or custody table before "… all in the CSV".
MAX_ROWS = 60
#: Nodes of a ring diagram before patients are grouped per site.
MAX_NODES = 40
#: Boxes whose chain of custody is printed (the rest are in the CSV).
MAX_BOXES = 20

# The diagram's columns, left to right, and the roles drawn in each.
_COLUMNS = (("prescriber", "prescriber_group"), ("patient", "patient_group"), ("source_site",), ("laundering_site",))
_CUSTODY_WIDTHS = {"seq": 0.035, "event_time": 0.1, "event_type": 0.07, "site": 0.19, "patient": 0.12,
                   "prescriber": 0.12, "quantity": 0.065, "fund_amount": 0.07, "source": 0.16, "proving": 0.07}
_COLOR_ROLE = {style["color"]: role for role, style in ROLE_STYLE.items()}


@dataclass
class RingSection:
    """One ring as the dossier prints it: rows already masked and in the dossier's language.

    ``members`` and ``findings`` are :func:`rxring.report.tables.member_rows` and
    ``finding_rows``; ``custody`` is :func:`rxring.report.custody.custody_table` of its first
    :data:`MAX_BOXES` boxes, ``custody_file`` where all of it is (a package's custody/timeline.csv,
    ``rxring box`` for a report); ``tables_from`` where all member and finding rows are (a report's
    CSV command; the package's members.csv and findings.csv when None).
    """

    ring: dict
    summary: str
    members: list[dict]
    findings: list[dict]
    graph: RingGraph
    custody: list = field(default_factory=list)
    custody_total: int = 0
    custody_file: str = "custody/timeline.csv"
    tables_from: str | None = None


@dataclass
class Dossier:
    """Everything on the pages of one PDF."""

    lang: str
    title: str
    facts: list[tuple[str, str]]
    rings: list[RingSection]
    footer: str
    record: ExtractionRecord | None = None
    files_note: str = ""


#: Parsed text and line breaks of table cells, by text (and width): see :func:`_cell_type`.
_CELL_FRAGS: dict[str, list] = {}
_CELL_LINES: dict[tuple, tuple] = {}
_CELL_LIMIT = 20_000   # entries per cache: bounded in a long-running process (rxring serve)


@functools.lru_cache(maxsize=1)
def _cell_style():
    """The style of every table cell, in both languages (one object: :func:`_cell_type` keys on it)."""
    from reportlab.lib.styles import ParagraphStyle

    # wordWrap CJK: break lines between any two characters, as Chinese is set
    return ParagraphStyle("cell", fontName=FONT, fontSize=7, leading=9, wordWrap="CJK")


#: Left and right padding of a table cell (points).
_CELL_PADDING = 2


def _remember(cache: dict, key, value) -> None:
    if len(cache) >= _CELL_LIMIT:
        cache.clear()
    cache[key] = value


@functools.lru_cache(maxsize=1)
def _cell_type():
    """The Paragraph of a table cell (style :func:`_cell_style`), whose parsed text and line breaks are
    remembered by text and width.

    reportlab parses every cell's text as markup, then wraps it two or three times (to size the
    rows, to split the table across pages, to draw it), measuring it character by character each
    time (CJK line breaking); a package's dossiers print the same ids, times, amounts and labels
    many times over, in both languages.  The parse of a text, and its lines at a width, are always
    the same, so each is computed once: the pages are the same as with plain Paragraphs.  Cells
    are never split across pages (tables are, by row), so a cell's lines are only ever read.
    """
    from reportlab.platypus import Paragraph

    class Cell(Paragraph):
        def __init__(self, text: str):
            frags = _CELL_FRAGS.get(text)
            super().__init__(text, _cell_style(), frags=frags)
            if frags is None:
                _remember(_CELL_FRAGS, text, self.frags)

        def wrap(self, availWidth, availHeight):  # noqa: N803 (reportlab's names)
            key = (self.text, availWidth)
            known = _CELL_LINES.get(key)
            if known is None:
                size = super().wrap(availWidth, availHeight)
                if hasattr(self, "blPara"):
                    _remember(_CELL_LINES, key, (self.blPara, self._wrapWidths, size))
                return size
            self.blPara, self._wrapWidths, (self.width, self.height) = known
            return known[2]

    return Cell


@functools.lru_cache(maxsize=1)
def _register_font() -> None:
    """Register :data:`FONT` with its text widths remembered (reportlab measures each character of
    a CJK paragraph by a call of its own: the same few hundred characters, tens of thousands of times)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    class MeasuredFont(UnicodeCIDFont):
        def __init__(self, face):
            super().__init__(face)
            self._widths: dict[tuple, float] = {}

        def stringWidth(self, text, size, encoding=None):  # noqa: N802 (reportlab's name)
            key = (text, size)
            width = self._widths.get(key)
            if width is None:
                width = super().stringWidth(text, size, encoding)
                _remember(self._widths, key, width)
            return width

    pdfmetrics.registerFont(MeasuredFont(FONT))


class PdfText:
    """Paragraph styles and text helpers of one language (reportlab's mini-markup escaped)."""

    def __init__(self, lang: str):
        from reportlab.lib.styles import ParagraphStyle

        _register_font()
        self.lang = lang
        wrap = "CJK"   # break lines between any two characters, as Chinese is set
        self.title = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, spaceAfter=8, wordWrap=wrap)
        self.h1 = ParagraphStyle("h1", fontName=FONT, fontSize=13, leading=18, spaceBefore=10, spaceAfter=6,
                                 wordWrap=wrap)
        self.h2 = ParagraphStyle("h2", fontName=FONT, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4,
                                 wordWrap=wrap)
        self.body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=13, wordWrap=wrap)
        self.note = ParagraphStyle("note", fontName=FONT, fontSize=8, leading=11, textColor="#555555", wordWrap=wrap)

    @staticmethod
    def escape(text) -> str:
        """``text`` safe inside a reportlab Paragraph (its markup is XML-like)."""
        return str("" if text is None else text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def para(self, text, style=None):
        from reportlab.platypus import Paragraph

        return Paragraph(self.escape(text), style or self.body)

    @staticmethod
    def cell(value, room: float):
        """A table cell of ``room`` points of text width: the text itself when it fits on one line as it
        is (the table draws it where the one-line Paragraph would, at a fraction of the cost), else
        a Paragraph (:func:`_cell_type`) that wraps it."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        style = _cell_style()
        text = "" if value is None else str(value)
        if text and text == " ".join(text.split()) and stringWidth(text, style.fontName, style.fontSize) <= room:
            return text
        return _cell_type()(PdfText.escape(text))

    def label(self, key: str, **values) -> str:
        return label(key, self.lang, **values)


def _table(text: PdfText, header: list[str], rows: list[list], widths: list[float], total: int, csv_name: str,
           limit: int | None = MAX_ROWS):
    """A table of at most ``limit`` rows with a repeated header, and the note naming the CSV with all rows."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    shown = rows if limit is None else rows[:limit]
    rooms = [width - 2 * _CELL_PADDING for width in widths]
    data = [[text.cell(v, room) for v, room in zip(row, rooms)] for row in [header, *shown]]
    table = Table(data, colWidths=widths, repeatRows=1)
    style = _cell_style()   # plain text cells are set as the Paragraph cells are
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PADDING), ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
        ("FONT", (0, 0), (-1, -1), style.fontName, style.fontSize, style.leading),
    ]))
    out = [table]
    if total > len(shown):
        out.append(text.para(text.label("rows_in_csv", n=total - len(shown), file=csv_name), text.note))
    return out


def _diagram(text: PdfText, graph: RingGraph, width: float):
    """The ring's graph as a reportlab drawing: one column per role, edges labelled with their boxes."""
    from reportlab.graphics.shapes import Circle, Drawing, Line, Polygon, Rect, String
    from reportlab.lib import colors

    columns: list[list[dict]] = [[] for _ in _COLUMNS]
    for node in graph.nodes:
        role = _COLOR_ROLE.get(node.get("color"), "patient")
        for index, roles in enumerate(_COLUMNS):
            if role in roles:
                columns[index].append(dict(node, role=role))
    tallest = max((len(c) for c in columns), default=1) or 1
    row_height = 16
    height = 40 + tallest * row_height
    drawing = Drawing(width, height)
    step = width / len(_COLUMNS)
    where: dict[str, tuple[float, float]] = {}
    for index, column in enumerate(columns):
        x = step * index + 14
        header = text.label(("role_prescriber", "role_patient", "role_source_site", "role_laundering_site")[index])
        drawing.add(String(x - 6, height - 12, header, fontName=FONT, fontSize=8))
        top = height - 30 - (tallest - len(column)) * row_height / 2
        for n, node in enumerate(sorted(column, key=lambda item: str(item.get("label")))):
            where[str(node["id"])] = (x, top - n * row_height)
    incoming: dict[str, int] = {}
    for edge in graph.edges:
        incoming[str(edge.get("to"))] = incoming.get(str(edge.get("to")), 0) + 1
    for edge in graph.edges:
        a, b = where.get(str(edge.get("from"))), where.get(str(edge.get("to")))
        if a is None or b is None:
            continue
        drawing.add(Line(a[0], a[1], b[0], b[1], strokeColor=colors.HexColor("#bbbbbb"), strokeWidth=0.4))
        if len(graph.edges) <= 40 and incoming[str(edge.get("to"))] <= 3:   # else the labels would overlap
            # near the target, clear of the source's label text
            drawing.add(String(a[0] + (b[0] - a[0]) * 0.75 - 8, a[1] + (b[1] - a[1]) * 0.75 + 2,
                               str(edge.get("label") or ""), fontName=FONT, fontSize=5,
                               fillColor=colors.HexColor("#777777")))
    for column in columns:
        for node in column:
            x, y = where[str(node["id"])]
            fill = colors.HexColor(node.get("color") or "#999999")
            if node["role"].endswith("site"):
                drawing.add(Rect(x - 4, y - 4, 8, 8, fillColor=fill, strokeColor=None))
            elif node["role"].startswith("prescriber"):
                drawing.add(Polygon([x - 4, y - 4, x + 4, y - 4, x, y + 4], fillColor=fill, strokeColor=None))
            else:
                drawing.add(Circle(x, y, 4, fillColor=fill, strokeColor=None))
            name = str(node.get("label") or "")
            drawing.add(String(x + 7, y - 3, name if len(name) <= 22 else name[:21] + "…", fontName=FONT, fontSize=6))
    return drawing


def _ring_flowables(text: PdfText, section: RingSection, usable: float) -> list:
    from reportlab.platypus import KeepTogether, Spacer

    ring = section.ring
    out = [text.para(text.label("ring_title", ring_id=ring["ring_id"]), text.h1), text.para(section.summary)]
    out.append(text.para(text.label("members"), text.h2))
    for role in ROLE_KEYS:
        mine = [m for m in section.members if m["role_key"] == role]
        out.append(text.para(f"{text.label(role)} ({len(mine)})", text.body))
        rows = [[m["member_id"], m["name"] or "", str(m["boxes"]), str(m["events"]), _money(m["fund_amount"]),
                 str(m["findings_count"])] for m in mine[:MAX_ROWS]]   # the rows shown: the rest are in the CSV
        header = [text.label(k) for k in ("member_id", "name", "boxes", "events", "fund_at_risk", "findings_count")]
        widths = [usable * w for w in (0.22, 0.34, 0.1, 0.1, 0.14, 0.1)]
        out += _table(text, header, rows, widths, len(mine), section.tables_from or "members.csv")
        out.append(Spacer(1, 4))
    diagram = [text.para(text.label("ring_diagram"), text.h2)]
    if section.graph.notes:
        diagram.append(text.para(" ".join(section.graph.notes), text.note))
    out.append(KeepTogether([*diagram, _diagram(text, section.graph, usable)]))   # never a heading alone at a page end
    out.append(text.para(f"{text.label('findings')} ({len(section.findings)})", text.h2))
    rows = [[f["finding_id"], f["rule"], _when(f), _money(f.get("fund_amount")), f["explanation"]]
            for f in section.findings[:MAX_ROWS]]
    header = [text.label(k) for k in ("finding_id", "rule", "period", "fund_amount", "explanation")]
    out += _table(text, header, rows, [usable * w for w in (0.2, 0.13, 0.15, 0.1, 0.42)], len(section.findings),
                  section.tables_from or "findings.csv")
    if section.custody:
        out.append(text.para(text.label("custody_title"), text.h2))
        widths = [usable * _CUSTODY_WIDTHS[k] for k in CUSTODY_COLUMNS]
        for code, table in section.custody[:MAX_BOXES]:
            out.append(text.para(f"{text.label('trace_code')} {code}", text.body))
            out += _table(text, custody_headers(text.lang), table, widths, len(table), section.custody_file)
            out.append(Spacer(1, 4))
        if section.custody_total > MAX_BOXES:
            out.append(text.para(text.label("boxes_in_csv", n=section.custody_total - MAX_BOXES,
                                            file=section.custody_file), text.note))
    return out


def _money(value) -> str:
    return fmt_money(value)


def _when(finding: dict) -> str:
    return period(finding.get("first_time"), finding.get("last_time"))


def ring_section(case: CaseData, ring: dict, masker: Masker, lang: str, custody=None, *, rows=None,
                 parts: RingParts | None = None, custody_total: int | None = None,
                 custody_file: str = "custody/timeline.csv", tables_from: str | None = None) -> RingSection:
    """One ring's pages: what was found, members, diagram (:data:`MAX_NODES`), findings, custody if given
    (of its first :data:`MAX_BOXES` boxes, of ``custody_total``, default all given).

    ``rows``: the ring's (:func:`~rxring.report.tables.member_rows`, ``finding_rows``) in ``lang``
    and ``parts`` its :func:`~rxring.report.viz_graph.ring_parts`, when the caller has them already.
    """
    summary = label(
        "ring_found", lang, ring_id=ring["ring_id"], rank=ring.get("rank"), score=ring.get("score"),
        boxes=ring.get("boxes"), events=ring.get("events"), fund=fmt_money(ring.get("fund_at_risk")),
        period=period(ring.get("first_time"), ring.get("last_time")),
    )
    custody = list(custody or [])
    members, findings = rows if rows is not None else (member_rows(case, [ring], masker, lang),
                                                       finding_rows(case, [ring], masker, lang))
    return RingSection(
        ring=ring, summary=summary, members=members, findings=findings,
        graph=build_ring_graph(case, [ring], lang=lang, masker=masker, max_nodes=MAX_NODES, parts=parts, events=False),
        custody=custody[:MAX_BOXES], custody_total=len(custody) if custody_total is None else custody_total,
        custody_file=custody_file, tables_from=tables_from,
    )


def write_report_pdf(case: CaseData, rings: list[dict], output: Path, lang: str, masker: Masker, created: str,
                     inputs_digest: str) -> list[Path]:
    """``rxring report --format pdf``: every ring of ``rings``, with the chain of custody of its first
    :data:`MAX_BOXES` boxes (the others: ``rxring box``, or the ring's evidence package)."""
    read_ring_events(case, rings)   # one scan for every ring's boxes and graph

    def section(ring: dict) -> RingSection:
        codes, events, proving = ring_custody(case, ring, MAX_BOXES)
        portable_sources(events, case)   # the inputs' names, as the evidence package shows them
        return ring_section(case, ring, masker, lang,
                            custody_table(codes[:MAX_BOXES], events, case, masker, proving, lang),
                            custody_total=len(codes), custody_file=label("custody_where_box", lang),
                            tables_from=f"rxring report --format csv --ring {ring['ring_id']}")

    facts = [(label("generated", lang), created), (label("tool_version", lang), f"rxring {__version__}"),
             (label("workspace", lang), masker.text(str(case.workspace.root))),
             (label("rings_count", lang), str(len(rings))),
             (label("inputs_digest", lang), inputs_digest)]
    dossier = Dossier(
        lang=lang, title=label("report_title", lang), facts=facts,
        rings=[section(ring) for ring in rings],
        footer=f"rxring {__version__} | {label('inputs_digest', lang)}: {inputs_digest}",
        files_note=_sentences(lang, label("pii_revealed" if masker.reveal else "pii_masked", lang),
                              label("custody_in_box", lang, n=MAX_BOXES)),
    )
    if not rings:
        dossier.files_note += " " + label("no_rings", lang)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(render_dossier(dossier))
    return [output]


def _record_flowables(text: PdfText, record: ExtractionRecord, usable: float) -> list:
    """The 提取笔录 (:mod:`rxring.report.extraction`): fields, process, data lists, coverage, signature lines."""
    from reportlab.platypus import KeepTogether, Spacer

    lang = text.lang
    out = [text.para(record_text("title", lang), text.h1), text.para(record_text("basis", lang), text.note)]
    out += [text.para(f"{f.label(lang)}：{f.value(lang)}" if lang == "zh" else f"{f.label(lang)}: {f.value(lang)}")
            for f in record.fields]
    out.append(text.para(record_text("steps", lang), text.h2))
    out += [text.para(f"{n}. {step[0 if lang == 'zh' else 1]}") for n, step in enumerate(record.steps, start=1)]
    header = [record_text(k, lang) for k in ("name", "category", "format", "size")] + ["SHA-256", "SM3"]
    widths = [usable * w for w in (0.27, 0.08, 0.08, 0.07, 0.25, 0.25)]
    missing = record_text("not_computed", lang)
    for key, items in (("inputs", record.inputs), ("files", record.files)):
        out.append(text.para(f"{record_text(key, lang)} ({len(items)})", text.h2))
        rows = [[item.name, item.category(lang), item.format_in(lang), "—" if item.size is None else str(item.size),
                 item.sha256 or missing, item.sm3 or missing] for item in items]
        out += _table(text, header, rows, widths, len(rows), "", limit=None)
        if key == "inputs":
            out += [text.para(f"{name}：{note}" if lang == "zh" else f"{name}: {note}", text.note)
                    for name, note in input_notes(record, lang)]
    out.append(KeepTogether([text.para(record_text("coverage", lang), text.h2),   # Markdown code marks dropped
                             text.para(record.coverage[0 if lang == "zh" else 1].replace("`", ""))]))
    signatures = [text.para(record_text("signatures", lang), text.h2)]
    date = "日期" if lang == "zh" else "Date"
    for signer in record.signers:
        signatures += [Spacer(1, 10), text.para(f"{signer[0 if lang == 'zh' else 1]}：________________________　"
                                                f"{date}：______________")]
    out.append(KeepTogether(signatures))   # the signature lines on one page, under their heading
    return out


def _sentences(lang: str, first: str, *more: str) -> str:
    """``first`` (a label without its full stop) and the sentences ``more``, as one paragraph.

    >>> _sentences("zh", "个人信息已脱敏", "本文件是打印版。"), _sentences("en", "Personal data masked", "Print.")
    ('个人信息已脱敏。本文件是打印版。', 'Personal data masked. Print.')
    """
    return ("。" if lang == "zh" else ". ").join([first, " ".join(more)]) if more else first


def _cover_flowables(text: PdfText, dossier: Dossier, usable: float) -> list:
    """The rest of the title page: what was found (a package's ring in one sentence), the rings at a glance, the contents."""
    out = []
    if len(dossier.rings) == 1 and dossier.record is not None:
        out += [text.para(text.label("what_was_found"), text.h2), text.para(dossier.rings[0].summary)]
    if dossier.rings:
        out.append(text.para(text.label("rings_at_a_glance"), text.h2))
        keys = ("ring_id", "rank", "score", "boxes", "events", "fund_at_risk", "period", "rules")
        rows = [[s.ring["ring_id"], s.ring.get("rank"), s.ring.get("score"), s.ring.get("boxes"), s.ring.get("events"),
                 _money(s.ring.get("fund_at_risk")), period(s.ring.get("first_time"), s.ring.get("last_time")),
                 ", ".join(str(r) for r in s.ring.get("rules", ()))] for s in dossier.rings]
        widths = [usable * w for w in (0.08, 0.06, 0.07, 0.06, 0.07, 0.12, 0.24, 0.3)]
        out += _table(text, [text.label(k) for k in keys], rows, widths, len(rows), "", limit=None)
    rules = list(dict.fromkeys(str(r) for s in dossier.rings for r in s.ring.get("rules", ())))
    if rules:
        out.append(text.para(text.label("rules"), text.h2))
        out += [text.para(f"{rule}　{rule_text(rule, text.lang)}" if text.lang == "zh"
                          else f"{rule}: {rule_text(rule, text.lang)}") for rule in rules]
    contents = [record_text("title", text.lang)] if dossier.record is not None else []
    contents.append(text.label("contents_rings", n=len(dossier.rings))
                    + (text.label("contents_custody") if any(s.custody for s in dossier.rings) else ""))
    out.append(text.para(text.label("contents"), text.h2))
    out += [text.para(f"{n}. {item}") for n, item in enumerate(contents, start=1)]
    return out


def render_dossier(dossier: Dossier) -> bytes:
    """The PDF bytes of ``dossier`` (A4, numbered pages, the digest in every footer).

    Reproducible: the same dossier gives the same bytes (reportlab's invariant mode:
    no creation time, no random document id).
    """
    from reportlab import rl_config
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import PageBreak, SimpleDocTemplate

    text = PdfText(dossier.lang)
    margin = 14 * mm
    usable = A4[0] - 2 * margin
    footer = dossier.footer

    class NumberedCanvas(Canvas):
        """Holds every page until the end, then writes "page n of m" and the footer on each."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages = []

        def showPage(self):  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(FONT, 7)
                self.setFillColorRGB(0.3, 0.3, 0.3)
                self.drawString(margin, 8 * mm, footer)
                self.drawRightString(A4[0] - margin, 8 * mm, label("page_of_total", dossier.lang, page=number,
                                                                    pages=total))
                super().showPage()
            super().save()

    story = [text.para(dossier.title, text.title)]
    for name, value in dossier.facts:
        story.append(text.para(f"{name}：{value}" if dossier.lang == "zh" else f"{name}: {value}"))
    if dossier.files_note:
        story.append(text.para(dossier.files_note, text.note))
    story += _cover_flowables(text, dossier, usable)
    if dossier.record:
        story += [PageBreak()] + _record_flowables(text, dossier.record, usable)
    for section in dossier.rings:
        story += [PageBreak()] + _ring_flowables(text, section, usable)
    buffer = io.BytesIO()
    previous = rl_config.invariant
    rl_config.invariant = 1
    try:
        document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=margin,
                                     bottomMargin=16 * mm, title=dossier.title, author="rxring", creator="rxring")
        document.build(story, canvasmaker=NumberedCanvas)
    finally:
        rl_config.invariant = previous
    return buffer.getvalue()


def package_pdfs(case: CaseData, ring: dict, masker: Masker, custody, tool: dict, package_digest: str,
                 record: ExtractionRecord | None = None, *, rows: dict | None = None,
                 parts: RingParts | None = None) -> dict[str, bytes]:
    """``summary.zh.pdf`` and ``summary.en.pdf`` (:data:`PDF_NAMES`) of an evidence package.

    ``custody`` is the package's ``(codes, rows, sources, proving)`` of its chain of custody;
    ``package_digest`` the digest every footer carries (a PDF cannot hold the digest of
    a list that includes itself, so the PDFs stay out of what that digest covers);
    ``record`` the package's 提取笔录, printed after the title page; ``rows`` (language → the ring's
    member and finding rows) and ``parts`` as the package's other files have them (:func:`ring_section`).
    """
    codes, events, _, proving = custody
    out = {}
    for lang, name in PDF_NAMES.items():
        facts = [(label("generated", lang), tool.get("created_utc", "")),
                 (label("tool_version", lang), f"rxring {tool.get('version', __version__)}"),
                 (label("command_line", lang), tool.get("command_line", "")),
                 (label("package_digest", lang), package_digest)]
        dossier = Dossier(
            lang=lang, title=label("dossier_title", lang, what=label("ring_title", lang, ring_id=ring["ring_id"])),
            facts=facts,
            rings=[ring_section(case, ring, masker, lang,
                                custody_table(codes[:MAX_BOXES], events, case, masker, proving, lang),
                                rows=(rows or {}).get(lang), parts=parts, custody_total=len(codes))],
            footer=f"rxring {__version__} | {label('ring_title', lang, ring_id=ring['ring_id'])} | "
                   f"{label('package_digest_short', lang)}: {package_digest}",
            record=record,
            files_note=_sentences(lang, label("pii_revealed" if masker.reveal else "pii_masked", lang),
                                  label("printed_package", lang)),
        )
        out[name] = render_dossier(dossier)
    return out
