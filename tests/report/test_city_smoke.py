"""Smoke test: the session's synthetic city (tests/conftest.py ``city``: synth -> ingest -> analyze) through every output."""

import json
import time
import zipfile

import openpyxl

from rxring.report import build_evidence, build_report, verify_evidence, write_viz
from rxring.report.htmlkit import find_external_urls
from rxring.report.viz import VIS_INERT_URLS


def test_every_output_on_a_city(city, tmp_path):
    ws = city.workspace
    rings = json.loads(build_report(ws, "json", "en", tmp_path / "r.json")[0].read_text(encoding="utf-8"))["rings"]
    assert rings, "the synthetic city has planted rings; the analysis found none"
    started = time.perf_counter()
    (index,) = build_report(ws, "html", "zh", tmp_path / "html")
    (xlsx,) = build_report(ws, "xlsx", "zh", tmp_path / "r.xlsx")
    build_report(ws, "md", "en", tmp_path / "r.md")
    build_report(ws, "csv", "en", tmp_path / "r.csv")
    viz = write_viz(ws, [], tmp_path / "all.html")
    package = build_evidence(ws, rings[0]["ring_id"], tmp_path / "case.zip")
    elapsed = time.perf_counter() - started
    assert elapsed < 120, f"outputs took {elapsed:.0f} s"

    assert len(list(index.parent.glob("ring-*.html"))) == len(rings)
    book = openpyxl.load_workbook(xlsx)
    assert book["rings"].max_row == 1 + len(rings)
    assert book["findings"].max_row == 1 + sum(len(r["findings"]) for r in rings)
    for page in [viz, *index.parent.glob("*.html")]:
        assert find_external_urls(page.read_text(encoding="utf-8"), VIS_INERT_URLS) == [], page.name
    assert verify_evidence(package.path, package.digest).ok
    with zipfile.ZipFile(package.path) as archive:
        sources = archive.read("source_rows.csv").decode("utf-8-sig")
    assert ",原始行如下 / raw line shown," in sources  # raw lines were read back from the city's input files

