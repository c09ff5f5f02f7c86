"""The helpers the analyze command uses for ``--engine spark``."""

from __future__ import annotations

import click
from click.testing import CliRunner

from rxring.analysis import load_analysis, load_findings
from rxring.commands.spark import analyze_with_engine, engine_options
from rxring.options import AnalysisOptions
from tests.rules.fixtures import FIXTURES


def test_engine_options_parse():
    @click.command()
    @engine_options
    def command(engine, spark_master):
        click.echo(f"{engine} {spark_master}")

    runner = CliRunner()
    assert runner.invoke(command, []).output.strip() == "embedded local[*]"
    assert runner.invoke(command, ["--engine", "spark", "--spark-master", "local[2]"]).output.strip() == "spark local[2]"
    assert runner.invoke(command, ["--engine", "flink"]).exit_code == 2


def test_analyze_with_spark_ingests_then_analyses(spark, tmp_path):
    fixture = FIXTURES["resold_at_another_site"]
    source = tmp_path / "events.csv"
    fixture.events.to_csv(source, index=False)
    ws = tmp_path / "ws"
    result = analyze_with_engine("spark", [source], ws, AnalysisOptions(), master="local[2]", progress=False)
    assert result.ingest_report is not None
    assert load_analysis(ws)["engine"] == "spark"
    assert list(load_findings(ws)["finding_id"]) == list(result.findings["finding_id"])
    assert sorted(result.findings["finding_id"]) == sorted(fixture.expected)
