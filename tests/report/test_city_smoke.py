"""Scale smoke test: a synthetic city through synth → analyze → every output.

Marked slow (about half a minute): run with ``pytest -m slow tests/report``.
"""

import json
import time
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.report import build_evidence, build_report, verify_evidence, write_viz
from rxring.report.htmlkit import find_external_urls
from rxring.report.viz import VIS_INERT_URLS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("city")
    runner = CliRunner()
    result = runner.invoke(cli, ["synth", "--out", str(root / "city"), "--events", "30000", "--seed", "1", "--no-progress"])
    if result.exit_code != 0:
        pytest.fail(f"synth failed: {result.output}")
    result = runner.invoke(cli, ["analyze", str(root / "city" / "inputs"), "--workspace", str(root / "ws")])
    if result.exit_code != 0:
        pytest.fail(f"analyze failed: {result.output}")
    return root / "ws"


def test_every_output_on_a_city(city, tmp_path):
    rings = json.loads(build_report(city, "json", "en", tmp_path / "r.json")[0].read_text(encoding="utf-8"))["rings"]
    assert rings, "the synthetic city has planted rings; the analysis found none"
    started = time.perf_counter()
    (index,) = build_report(city, "html", "zh", tmp_path / "html")
    (xlsx,) = build_report(city, "xlsx", "zh", tmp_path / "r.xlsx")
    build_report(city, "md", "en", tmp_path / "r.md")
    build_report(city, "csv", "en", tmp_path / "r.csv")
    viz = write_viz(city, [], tmp_path / "all.html")
    package = build_evidence(city, rings[0]["ring_id"], tmp_path / "case.zip")
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
    assert ",ok," in sources  # raw lines were read back from the city's input files

