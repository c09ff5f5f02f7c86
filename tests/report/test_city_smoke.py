"""Smoke test: the session's synthetic city (tests/conftest.py ``city``: synth -> ingest -> analyze) through every output."""

import json
import time
import zipfile

import openpyxl

from rxring.report import build_report, verify_evidence
from rxring.report.htmlkit import find_external_urls
from rxring.report.viz import VIS_INERT_URLS


def test_every_output_on_a_city(city, city_outputs, tmp_path):
    """The outputs the city's other tests read (``city_outputs``: every format in zh, the en JSON, the
    visualisations, the first ring's evidence), and the md and csv reports in en."""
    ws, out = city.workspace, city_outputs.folder
    rings = json.loads((out / "report-en.json").read_text(encoding="utf-8"))["rings"]
    assert rings, "the synthetic city has planted rings; the analysis found none"
    assert rings[0]["ring_id"] == "R001"  # the ring of the evidence package
    started = time.perf_counter()
    build_report(ws, "md", "en", tmp_path / "r.md")
    build_report(ws, "csv", "en", tmp_path / "r.csv")
    elapsed = city_outputs.seconds + time.perf_counter() - started
    assert elapsed < 120, f"outputs took {elapsed:.0f} s"
    index, xlsx, package = out / "html" / "index.html", out / "report.xlsx", out / "evidence.zip"

    assert len(list(index.parent.glob("ring-*.html"))) == len(rings)
    book = openpyxl.load_workbook(xlsx)
    assert book["rings"].max_row == 1 + len(rings)
    assert book["findings"].max_row == 1 + sum(len(r["findings"]) for r in rings)
    for page in [out / "viz-all.html", out / "viz-ring.html", *index.parent.glob("*.html")]:
        assert find_external_urls(page.read_text(encoding="utf-8"), VIS_INERT_URLS) == [], page.name
    digest = (out / "evidence.zip.sha256").read_text(encoding="utf-8").split()[0]
    assert verify_evidence(package, digest).ok
    with zipfile.ZipFile(package) as archive:
        sources = archive.read("source_rows.csv").decode("utf-8-sig")
    assert ",原始行如下 / raw line shown," in sources  # raw lines were read back from the city's input files

