"""``rxring analyze --backend spark``: the CLI runs the Spark engine and writes the workspace."""

from __future__ import annotations

import json

from click.testing import CliRunner

from rxring.results import load_analysis, load_findings
from rxring.cli import cli
from tests.rules.fixtures import FIXTURES


def test_analyze_backend_spark_ingests_then_analyses(spark, tmp_path):
    fixture = FIXTURES["resold_at_another_site"]
    source = tmp_path / "events.csv"
    fixture.events.to_csv(source, index=False)
    ws = tmp_path / "ws"
    run = CliRunner().invoke(cli, ["analyze", str(source), "-w", str(ws), "--backend", "spark",
                                   "--spark-master", "local[2]", "--json"])
    assert run.exit_code == 0, run.output
    payload = json.loads(run.output)
    assert payload["stats"]["findings"] == len(fixture.expected)
    meta = load_analysis(ws)
    assert meta["engine"] == "spark" and meta["spark"]["master"].startswith("local")
    assert sorted(load_findings(ws)["finding_id"]) == sorted(fixture.expected)


def test_analyze_backend_spark_bad_events_is_one_line(spark, tmp_path):
    ws = tmp_path / "ws"
    (ws / "events").mkdir(parents=True)
    (ws / "events" / "part-x.parquet").write_text("not parquet", encoding="utf-8")
    run = CliRunner().invoke(cli, ["analyze", "-w", str(ws), "--backend", "spark", "--spark-master", "local[2]"])
    assert run.exit_code == 2
    assert "cannot read events" in run.output and "Traceback" not in run.output
