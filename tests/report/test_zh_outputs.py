"""Chinese throughout: the zh outputs of the shared synthetic city hold no English sentence.

Ids, rule codes, product codes, masked ids, numbers, file names and command lines
aside, every heading, column, explanation and note of a zh output is Chinese
(issue 18, item 5).  The checker is tested on itself first, so a checker that
never fires cannot pass the city.
"""

from __future__ import annotations

import csv
import getpass
import html.parser
import io
import json
import re
import socket
import zipfile

import openpyxl
import pytest

from rxring.backends import duckdb as duckdb_backend
from rxring.backends.neo4j import listing
from rxring.report import build_evidence
from rxring.report.i18n import TIMELINE_NOTES, note_text
from rxring.workspace import Workspace
from tests.report.outputs_digest import pdf_pages

CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
# What may stay Latin: anything holding a digit (ids, codes, times, masked ids), upper-case codes
# (DUP_DISPENSE, NHSA, UTC), paths and file names, and a few format names.
NOT_WORDS = re.compile(r"\b[\w.-]+\.(?:md|csv|json|html|sha256|zip|pdf)\b|[\w.:/#*@\\-]*\d[\w.:/#*@\\-]*"
                       r"|\b[A-Z][A-Z0-9_]+\b|\S*/\S*")
ALLOWED = {"rxring", "sha256sum", "csv", "markdown", "sql", "cypher"}
WORD = re.compile(r"[A-Za-z]{2,}")


def latin_only(text: str, data=()) -> list[str]:
    """The segments (lines, table cells, code spans, CSV cells) of ``text`` that are Latin words and no Chinese.

    JSON objects (the analysis options, machine-readable by design) and the values in
    ``data`` (a host name, an operator, input format ids) are data, not sentences.
    """
    found = []
    text = re.sub(r"\{[^{}]*\}", " ", text)
    for value in sorted(data, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])", " ", text)
    for segment in re.split(r"[\n|`,]", text):
        segment = segment.strip()
        if not segment or CJK.search(segment) or segment.startswith(("rxring ", "sha256sum ")):
            continue
        if any(w.lower() not in ALLOWED for w in WORD.findall(NOT_WORDS.sub(" ", segment))):
            found.append(segment)
    return found


class _Text(html.parser.HTMLParser):
    """The visible text of an HTML page (script and style left out) and its title attributes."""

    def __init__(self):
        super().__init__()
        self.skip, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")
        self.parts += [v for k, v in attrs if k in ("title", "alt", "placeholder", "aria-label") and v]

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return "\n".join(parser.parts)


def test_the_checker_finds_english_and_passes_ids():
    assert latin_only("Trace code `83296910651558914045` was sold as 2 separate packs") != []
    assert latin_only("| dispense |") == ["dispense"]
    assert latin_only("追溯码 `83296910651558914045` 扣除退货后仍作为 2 盒分别销售") == []
    assert latin_only("`DUP_DISPENSE` (89) `110*************76#10` `R001` `summary.zh.md` `H112036216766`") == []
    assert latin_only("`rxring evidence R001 -w ws`, 2025-01-05 10:42 – 2025-03-01 11:48") == []
    assert latin_only('分析参数：{ "seed": 5, "provenance_types": [ "inbound",\n "refund" ] }') == []
    assert latin_only("主机名 `pc-one`", data={"pc-one"}) == [] and latin_only("主机名 `pc one`") == ["pc one"]


def test_every_event_type_has_its_names():
    from rxring.rules.registry import EVENT_TYPE_NAMES
    from rxring.schema import EVENT_TYPES

    assert set(EVENT_TYPE_NAMES) == set(EVENT_TYPES)
    assert all(CJK.search(zh) and not CJK.search(en) for zh, en in EVENT_TYPE_NAMES.values())


def test_every_timeline_note_has_chinese():
    """Every note the embedded and the Neo4j chain of custody can write is in TIMELINE_NOTES (or 'cancels …')."""
    written = {text for text in re.findall(r"'([^']*)'", duckdb_backend._TIMELINE_SQL) if " " in text}
    written |= set(re.findall(r'note = "([^"]+)"', open(listing.__file__, encoding="utf-8").read()))
    assert "same sale reported again (counted once)" in written
    written.discard("cancels ")
    assert written <= set(TIMELINE_NOTES), written - set(TIMELINE_NOTES)
    for note in written:
        assert CJK.search(note_text(note, "zh")) and note_text(note, "en") == note
    assert note_text("cancels E9", "zh") == "抵消销售 E9"


@pytest.fixture(scope="module")
def zh_outputs(city, city_outputs, tmp_path_factory) -> dict[str, str]:
    """Every zh output of the city: the evidence package's zh files (custody CSV and source rows included) and PDF,
    and the md, csv, xlsx, every html page and pdf reports (the zh reports of ``city_outputs``)."""
    out = tmp_path_factory.mktemp("zh")
    reports = city_outputs.folder
    ws = city.workspace
    package = build_evidence(ws, "R001", out / "case.zip", command_line="rxring evidence R001 -w ws")  # data, as typed
    docs = {}
    with zipfile.ZipFile(package.path) as archive:
        for name in ("summary.zh.md", "extraction_record.zh.md", "custody/timeline.md", "custody/timeline.csv",
                     "source_rows.csv", "findings.csv", "members.csv"):
            docs[name] = archive.read(name).decode("utf-8-sig")
        # the raw source lines are the inputs' own bytes (data, in the inputs' language): every other column is scanned
        rows = list(csv.reader(io.StringIO(docs["source_rows.csv"])))
        raw = rows[0].index("原始行")
        docs["source_rows.csv"] = "\n".join(",".join(c for i, c in enumerate(row) if i != raw) for row in rows)
        docs["ring.html"] = html_text(archive.read("ring.html").decode("utf-8"))
        docs["summary.zh.pdf"] = "\n".join(pdf_pages(archive.read("summary.zh.pdf")))
    docs["report.md"] = (reports / "report.md").read_text(encoding="utf-8")
    csvs = sorted(reports.glob("report*.csv"))
    assert [path.name for path in csvs] == ["report-findings.csv", "report-members.csv", "report.csv"]
    for path in csvs:
        docs[path.name] = path.read_text(encoding="utf-8-sig")
    for page in sorted((reports / "html").glob("*.html")):
        docs[f"html/{page.name}"] = html_text(page.read_text(encoding="utf-8"))
    book = openpyxl.load_workbook(reports / "report.xlsx")
    for sheet in book.worksheets:   # cells (sheet names stay the tables' ids: rings, findings, members)
        docs[f"xlsx/{sheet.title}"] = "\n".join("|".join("" if v is None else str(v) for v in row)
                                                for row in sheet.iter_rows(values_only=True))
    docs["report.pdf"] = "\n".join(pdf_pages((reports / "report.pdf").read_bytes()))
    return docs


def _data_values(city) -> set[str]:
    """Values the zh outputs show as they are: this host, the operator, the inputs' format ids."""
    manifest = json.loads(Workspace(city.workspace).manifest_path.read_text(encoding="utf-8"))
    return {socket.gethostname(), getpass.getuser()} | {str(i.get("format")) for i in manifest.get("inputs", [])}


def test_zh_outputs_have_no_english_sentences(zh_outputs, city):
    data = _data_values(city)
    bad = {name: sorted(set(latin_only(text, data)))[:5] for name, text in zh_outputs.items()}
    assert {name: found for name, found in bad.items() if found} == {}


def test_zh_explanations_are_the_registry_templates(zh_outputs):
    """The findings' explanations in the zh outputs are rules.registry's explanation_zh filled in."""
    findings = list(csv.DictReader(io.StringIO(zh_outputs["findings.csv"])))
    assert findings
    texts = {row["线索编号"]: row["说明"] for row in findings}
    resurfaced = [t for f, t in texts.items() if f.startswith("RESURFACE:")]
    assert resurfaced and all(t.startswith("追溯码 ") and "销售给参保人" in t for t in resurfaced)
    assert "扣除退货后仍作为" in zh_outputs["summary.zh.md"]
    assert "证据事件 / Proving event" in zh_outputs["custody/timeline.md"]
    assert "| `销售 / dispense` |" in zh_outputs["custody/timeline.md"]
