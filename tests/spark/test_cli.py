"""``rxring analyze --backend spark``: the CLI runs the Spark engine and writes the workspace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from rxring.results import load_analysis, load_findings
from rxring.cli import cli
from tests.rules.fixtures import FIXTURES


def test_analyze_backend_spark_ingests_then_analyses(spark, tmp_path):
    """A canonical CSV (a part without origin columns) beside NHSA messages (parts with them: the
    2601 reversal matches message_id): the same findings as the embedded engine."""
    fixture = FIXTURES["resold_at_another_site"]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    fixture.events.to_csv(inputs / "events.csv", index=False)
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "ingest" / "one_sale.jsonl", inputs / "his.jsonl")
    ws, embedded = tmp_path / "ws", tmp_path / "embedded"
    run = CliRunner().invoke(cli, ["analyze", str(inputs), "-w", str(ws), "--backend", "spark",
                                   "--spark-master", "local[2]", "--json"])
    assert run.exit_code == 0, run.output
    payload = json.loads(run.output)
    resale = "81234560000000100005"   # the one real resale among the NHSA messages
    expected = sorted([*fixture.expected, f"DUP_DISPENSE:{resale}", f"RESURFACE:{resale}"])
    assert payload["stats"]["findings"] == len(expected)
    meta = load_analysis(ws)
    assert meta["engine"] == "spark" and meta["spark"]["master"].startswith("local")
    assert sorted(load_findings(ws)["finding_id"]) == expected
    assert CliRunner().invoke(cli, ["analyze", str(inputs), "-w", str(embedded)]).exit_code == 0
    assert sorted(load_findings(embedded)["finding_id"]) == expected


def test_analyze_backend_spark_bad_events_is_one_line(spark, tmp_path):
    ws = tmp_path / "ws"
    (ws / "events").mkdir(parents=True)
    (ws / "events" / "part-x.parquet").write_text("not parquet", encoding="utf-8")
    run = CliRunner().invoke(cli, ["analyze", "-w", str(ws), "--backend", "spark", "--spark-master", "local[2]"])
    assert run.exit_code == 2
    assert "cannot read events" in run.output and "Traceback" not in run.output
