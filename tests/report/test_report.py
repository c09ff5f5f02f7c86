"""`rxring report` in every format, on the hand-made fixture workspace."""

import csv
import json
import re

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.report import build_report
from rxring.report.htmlkit import find_external_urls
from rxring.report.i18n import LABELS, LANGS, label, rule_text
from rxring.rules.registry import rule as registry_rule
from rxring.report.tables import TABLES, headers
from rxring.report.viz import VIS_INERT_URLS
from rxring.schema import RULES

XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
RAW_PII = ("11010519900101123X", "110105198512125678", "张三丰", "王医生")


def _all_text(paths):
    return "\n".join(p.read_text(encoding="utf-8-sig") for p in paths)


def test_every_label_is_translated():
    for key, pair in LABELS.items():
        assert len(pair) == len(LANGS) and all(pair), key
    for rule in RULES:   # every rule's text, in both languages, is the registry's sentence
        entry = registry_rule(rule)
        for lang in LANGS:
            text = rule_text(rule, lang)
            assert text and text != rule, (rule, lang)
            assert entry.sentence(lang)[1:] in text, (rule, lang)
        assert rule_text(rule, "zh").startswith(entry.name_zh), rule
        assert rule_text(rule, "zh") != rule_text(rule, "en"), rule
    assert rule_text("NOT_A_RULE", "en") == "NOT_A_RULE"
    assert label("ring_title", "zh", ring_id="R9") == "团伙 R9"


def test_html_report_index_and_ring_pages(fixture_case, tmp_path):
    (index,) = build_report(fixture_case.root, "html", "zh", tmp_path / "out")
    assert index.name == "index.html"
    pages = sorted(p.name for p in index.parent.iterdir())
    assert pages == ["index.html", "ring-R001.html", "ring-R002.html", "viz-R001.html", "viz-R002.html"]
    text = index.read_text(encoding="utf-8")
    assert 'href="ring-R001.html"' in text and 'href="ring-R002.html"' in text
    assert "回流药团伙报告" in text and 'class="sortable"' in text
    # rings in rank order, with fund and period
    assert text.index(">R001<") < text.index(">R002<")
    ring = (index.parent / "ring-R001.html").read_text(encoding="utf-8")
    assert "朝阳区第一人民医院" in ring and "RESURFACE:80000000000000001000:1" in ring
    assert 'href="viz-R001.html"' in ring and 'href="index.html"' in ring
    assert ring.count("<tr>") >= 6 + 4  # members and findings rows


def test_a_large_ring_page_shows_its_first_rows_and_says_where_the_rest_are(fixture_case, tmp_path, monkeypatch):
    from rxring.report import html_report

    monkeypatch.setattr(html_report, "PAGE_ROWS", 50)
    (index,) = build_report(fixture_case.root, "html", "en", tmp_path / "out", ring_ids=["R002"])
    page = (index.parent / "ring-R002.html").read_text(encoding="utf-8")
    members, findings = page.split("<h2>Findings")
    assert "first 50 of " in members and "rxring report --format csv --ring R002" in members
    assert members.split("<tbody>")[1].count("<tr>") == 50
    assert findings.split("<tbody>")[1].count("<tr>") == 50 and "first 50 of 210 rows" in findings
    (csv_path, findings_csv, _) = build_report(fixture_case.root, "csv", "en", tmp_path / "r.csv", ring_ids=["R002"])
    assert len(findings_csv.read_text(encoding="utf-8-sig").splitlines()) == 1 + 210   # every row in the CSV


def test_html_report_escapes_every_value_and_has_no_external_url(fixture_case, tmp_path):
    (index,) = build_report(fixture_case.root, "html", "en", tmp_path / "out")
    for page in index.parent.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        for hostile in XSS:
            assert hostile not in text, page.name
        assert "<img" not in text, page.name
        assert "<script>alert" not in text
        assert "Content-Security-Policy" in text and "default-src 'none'" in text
        assert find_external_urls(text, VIS_INERT_URLS) == [], page.name
    ring = (index.parent / "ring-R001.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in ring
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in ring


def test_html_report_as_single_index_file_name(small_case, tmp_path):
    (index,) = build_report(small_case.root, "html", "en", tmp_path / "cases" / "report.html")
    assert index == tmp_path / "cases" / "report.html"
    ring = (tmp_path / "cases" / "ring-R001.html").read_text(encoding="utf-8")
    assert 'href="report.html"' in ring


@pytest.mark.parametrize("fmt", ["html", "md", "json", "csv", "xlsx"])
def test_personal_data_masked_by_default_and_revealed_with_flag(fixture_case, tmp_path, fmt):
    def dump(reveal):
        out = tmp_path / ("rev" if reveal else "mask") / (f"r.{fmt}" if fmt != "html" else "html")
        paths = build_report(fixture_case.root, fmt, "zh", out, reveal_pii=reveal)
        if fmt == "html":
            paths = sorted(paths[0].parent.glob("*.html"))
        if fmt == "xlsx":
            book = openpyxl.load_workbook(paths[0])
            return "\n".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row)
        return _all_text(paths)

    masked, revealed = dump(False), dump(True)
    for value in RAW_PII:
        assert value not in masked, value
        assert value in revealed, value
    assert "110*************3X" in masked


def test_markdown_report_keeps_hostile_values_in_code_spans(fixture_case, tmp_path):
    (path,) = build_report(fixture_case.root, "md", "en", tmp_path / "r.md")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Returned-drug resale ring report")
    assert "## Ring `R001`" in text and "## Ring `R002`" in text
    for line in text.splitlines():
        # every hostile value sits inside a code span, never as live Markdown/HTML
        for hostile in XSS:
            if hostile in line:
                assert re.search(r"`[^`]*" + re.escape(hostile) + r"[^`]*`", line), line
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line)
            assert len(cells) - 2 in (len(TABLES["rings"]), 7, 11), line


def test_json_report_structure(fixture_case):
    out = fixture_case.root.parent / "r.json"
    (path,) = build_report(fixture_case.root, "json", "en", out)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["personal_data"] == "masked"
    assert [r["ring_id"] for r in data["rings"]] == ["R001", "R002"]
    r1 = data["rings"][0]
    assert r1["boxes"] == 4 and r1["fund_at_risk"] == pytest.approx(354.0)
    assert r1["members"]["laundering_sites"] == [
        "<script>alert(1)</script>大药房 (S-XSS1)", '"><img src=x onerror=alert(1)> (S-XSS2)']
    assert len(r1["findings"]) == 4 and r1["findings"][0]["rule"] == "RESURFACE"
    assert r1["first_time"].startswith("2026-03-01")
    assert len(data["rings"][1]["member_stats"]) == 210 + 5 + 2 + 1


def test_csv_report_has_bom_and_three_tables(fixture_case, tmp_path):
    paths = build_report(fixture_case.root, "csv", "zh", tmp_path / "rings.csv")
    assert [p.name for p in paths] == ["rings.csv", "rings-findings.csv", "rings-members.csv"]
    for path, table in zip(paths, ("rings", "findings", "members")):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), path
        rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
        assert rows[0] == headers(table, "zh")
    rings = list(csv.DictReader(paths[0].read_text(encoding="utf-8-sig").splitlines()))
    assert rings[1][label("fund_at_risk", "zh")] == "9030.00"  # machine-readable number
    members = paths[2].read_text(encoding="utf-8-sig")
    assert len(list(csv.reader(members.splitlines()))) == 1 + 6 + 218


def test_spreadsheet_cells_cannot_start_a_formula(fixture_case, tmp_path):
    # a hostile prescriber name and site name starting with '='
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(fixture_case.root, ws)
    sites = pd.read_parquet(ws / "masters" / "sites.parquet")
    sites.loc[sites.site_id == "H-001", "name"] = '=HYPERLINK("x","y")'
    sites.to_parquet(ws / "masters" / "sites.parquet")
    (xlsx,) = build_report(ws, "xlsx", "en", tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(xlsx)
    values = [c.value for sheet in book for row in sheet.iter_rows() for c in row]
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)
    assert any(isinstance(v, str) and v.startswith("'=HYPERLINK") for v in values)
    paths = build_report(ws, "csv", "en", tmp_path / "r.csv")
    assert ",=HYPERLINK" not in _all_text(paths) and "'=HYPERLINK" in _all_text(paths)


def test_xlsx_report_sheets_and_headers(fixture_case, tmp_path):
    (path,) = build_report(fixture_case.root, "xlsx", "en", tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:3] == ["rings", "findings", "members"]
    for table in ("rings", "findings", "members"):
        sheet = book[table]
        assert [c.value for c in sheet[1]] == headers(table, "en")
    rings = book["rings"]
    assert rings.max_row == 3
    assert rings.cell(2, 2).value == "R001" and rings.cell(2, 10).value == pytest.approx(354.0)
    assert rings.cell(2, 12).value.year == 2026  # a real datetime, not text
    assert book["findings"].max_row == 1 + 4 + 210
    assert book["members"].max_row == 1 + 6 + 218


def test_report_selected_ring_and_default_output(small_copy):
    (path,) = build_report(small_copy, "json", "en", ring_ids=["R001"])
    assert path == small_copy / "report.json"
    assert [r["ring_id"] for r in json.loads(path.read_text())["rings"]] == ["R001"]


def test_report_errors_are_one_line_for_the_user(fixture_case, tmp_path):
    with pytest.raises(RxringError, match="unknown ring R999"):
        build_report(fixture_case.root, "json", "en", tmp_path / "x.json", ring_ids=["R999"])
    with pytest.raises(RxringError, match="unknown report format"):
        build_report(fixture_case.root, "docx", "en", tmp_path / "x.docx")
    with pytest.raises(RxringError, match="unknown language"):
        build_report(fixture_case.root, "md", "fr", tmp_path / "x.md")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RxringError, match="run `rxring analyze"):
        build_report(empty, "md", "en", tmp_path / "x.md")
    result = CliRunner().invoke(cli, ["report", "--workspace", str(tmp_path / "nope"), "--format", "md"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "does not exist" in result.output


def test_cli_report_writes_files(fixture_case, tmp_path):
    out = tmp_path / "r.xlsx"
    result = CliRunner().invoke(
        cli, ["report", "-w", str(fixture_case.root), "--format", "xlsx", "--lang", "en", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out) and out.exists()


def test_hostile_ring_ids_stay_inside_the_output_folder(small_case, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(small_case.root, ws)
    rings = pd.read_parquet(ws / "rings.parquet")
    rings.loc[0, "ring_id"] = "../../<b>pwn</b>"
    rings.to_parquet(ws / "rings.parquet")
    (index,) = build_report(ws, "html", "en", tmp_path / "out" / "report")
    written = sorted(p.name for p in (tmp_path / "out" / "report").iterdir())
    assert len(written) == 3 and written[0] == "index.html"
    assert re.fullmatch(r"ring-[A-Za-z0-9_.]+-[0-9a-f]{8}\.html", written[1])
    assert re.fullmatch(r"viz-[A-Za-z0-9_.]+-[0-9a-f]{8}\.html", written[2])
    assert not (tmp_path / "pwn").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out", "ws"]
    text = index.read_text(encoding="utf-8")
    assert "<b>pwn" not in text and "&lt;b&gt;pwn&lt;/b&gt;" in text
    from rxring.report import build_evidence

    package = build_evidence(ws, "../../<b>pwn</b>")
    assert package.path.parent == ws / "evidence" and package.path.name.endswith(".zip")


def test_workspace_without_rings(small_case, tmp_path):
    import shutil

    from rxring.report import write_viz

    ws = tmp_path / "ws"
    shutil.copytree(small_case.root, ws)
    pd.read_parquet(ws / "rings.parquet").iloc[0:0].to_parquet(ws / "rings.parquet")
    (index,) = build_report(ws, "html", "en", tmp_path / "html")
    assert "No rings found." in index.read_text(encoding="utf-8")
    (xlsx,) = build_report(ws, "xlsx", "en", tmp_path / "r.xlsx")
    assert openpyxl.load_workbook(xlsx)["rings"].max_row == 1
    with pytest.raises(RxringError, match="no rings to draw"):
        write_viz(ws, [], tmp_path / "v.html")
