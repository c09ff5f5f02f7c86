"""Outputs stay readable by other tools: JSON is always valid JSON, CSV cells of missing values are empty.

JSON has no NaN or Infinity; every JSON rxring writes for users (reports, evidence
members, the visualisation's data, analysis.json, ``--json``) goes through
:mod:`rxring.jsonout` and writes null instead.  CSV writers print missing values
(None, NaN, NaT) as empty cells, never ``nan``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile

import pandas as pd
import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.jsonout import dumps, jsonable, write_json
from rxring.report import build_evidence, build_report
from rxring.report.evidence import read_package_csv
from rxring.report.htmlkit import script_json
from rxring.workspace import Workspace

from .conftest import build_workspace, member_text


def strict_json(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity (as every other JSON parser does)."""
    def refuse(name):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_the_json_helper_writes_null_for_non_finite_numbers(tmp_path):
    value = {"nan": float("nan"), "inf": [float("inf"), -float("inf")], "ok": 1.5, "ts": pd.NaT, "na": pd.NA,
             "when": pd.Timestamp("2026-03-01 09:00"), "n": pd.Series([1, 2]).iloc[0]}
    assert strict_json(dumps(value)) == {"nan": None, "inf": [None, None], "ok": 1.5, "ts": None, "na": None,
                                        "when": "2026-03-01T09:00:00", "n": 1}
    assert jsonable(float("nan")) is None
    path = write_json(tmp_path / "x.json", {"score": float("nan")})
    assert strict_json(path.read_text(encoding="utf-8")) == {"score": None}
    assert "NaN" not in script_json({"score": float("nan")}) and strict_json(script_json([math.inf])) == [None]


@pytest.fixture()
def nan_case(tmp_path):
    """The small hostile workspace with a NaN score, an infinite fund and NaN in analysis.json."""
    case = build_workspace(tmp_path / "case", big=False)
    ws = Workspace(case.root)
    rings = pd.read_parquet(ws.rings_path)
    rings["score"] = float("nan")
    rings["fund_at_risk"] = float("inf")
    rings.to_parquet(ws.rings_path)
    meta = json.loads(ws.analysis_path.read_text(encoding="utf-8"))
    meta["options"]["min_score"] = float("nan")  # Python's json reads and writes NaN; others do not
    ws.analysis_path.write_text(json.dumps(meta), encoding="utf-8")
    return case


def test_report_json_is_valid_json_with_nan_values(nan_case, tmp_path):
    (path,) = build_report(nan_case.root, "json", "en", tmp_path / "report.json")
    document = strict_json(path.read_text(encoding="utf-8"))
    ring = document["rings"][0]
    assert ring["score"] is None and ring["fund_at_risk"] is None
    assert document["analysis"]["options"]["min_score"] is None


def _members(path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {name: member_text(name, archive.read(name)) for name in archive.namelist()}


def test_evidence_json_members_are_valid_and_csv_cells_never_say_nan(nan_case, tmp_path):
    members = _members(build_evidence(nan_case.root, "R001", tmp_path / "e.zip").path)
    for name in ("case.json", "tool.json", "queries/parameters.json"):
        strict_json(members[name])
    assert strict_json(members["case.json"])["ring"]["score"] is None
    data = re.search(r'<script type="application/json" id="ring-data">(.*?)</script>', members["ring.html"], re.S)
    strict_json(data.group(1))
    for name in ("custody/timeline.csv", "findings.csv", "members.csv", "source_rows.csv"):
        rows = list(csv.reader(io.StringIO(members[name])))
        cells = [c for row in rows for c in row]
        assert not [c for c in cells if c.strip().lower() in ("nan", "nat", "<na>", "none")], name
    timeline = read_package_csv(members["custody/timeline.csv"].encode())
    inbound = [row for row in timeline if row["event_type"] == "inbound"]
    assert inbound and {row["fund_amount"] for row in inbound} == {""}  # inbound events have no money
    assert {row["quantity"] for row in timeline} == {"1.0"}  # values that are there are still printed
    assert "nan" not in members["custody/timeline.md"]


def test_report_csv_cells_of_missing_values_are_empty(nan_case, tmp_path):
    paths = build_report(nan_case.root, "csv", "en", tmp_path / "r.csv")
    for path in paths:
        cells = [c for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))) for c in row]
        assert "nan" not in [c.lower() for c in cells], path.name


def test_analysis_json_is_written_without_nan(tmp_path):
    from rxring.analysis import AnalysisResult, write_results
    from rxring.schema import FINDING_COLUMNS, RING_COLUMNS

    result = AnalysisResult(findings=pd.DataFrame(columns=list(FINDING_COLUMNS)),
                            rings=pd.DataFrame(columns=list(RING_COLUMNS)),
                            stats={"seconds": float("nan")}, meta={"stats": {"seconds": float("nan")}, "x": math.inf})
    folder = write_results(tmp_path / "ws", result)
    assert strict_json((folder / "analysis.json").read_text(encoding="utf-8")) == {"stats": {"seconds": None}, "x": None}


def test_json_listing_of_an_unknown_code_prints_a_json_error(small_case):
    result = CliRunner().invoke(cli, ["box", "81000000000000009999", "-w", str(small_case.root), "--json"])
    assert result.exit_code == 2
    assert strict_json(result.stdout) == {"error": result.stderr.strip().removeprefix("rxring: error: ")}
    assert "does not occur" in result.stdout and result.stderr.startswith("rxring: error: ")
    # the same convention for every --json command: an unknown ring, a bad code
    for args in (["ring", "R999", "-w", str(small_case.root), "--json"], ["code", "12AB", "--json"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and set(strict_json(result.stdout)) == {"error"}, args
    # without --json the error is only the stderr line
    result = CliRunner().invoke(cli, ["box", "81000000000000009999", "-w", str(small_case.root)])
    assert result.exit_code == 2 and result.stdout == ""
