"""The session's synthetic city (tests/conftest.py): Spark gives the embedded findings and rings,
and writes a workspace every listing and report command reads."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from pandas.testing import assert_frame_equal

from rxring.analysis import AnalysisResult
from rxring.results import load_analysis, load_findings, load_rings
from rxring.cli import cli
from rxring.options import AnalysisOptions
from rxring.backends.spark import run_spark_analysis
from rxring.workspace import Workspace


@pytest.fixture(scope="module")
def both(spark, city, tmp_path_factory):
    """(embedded workspace, spark workspace, embedded result, spark result): the session's
    city (~20k events, analysed on the embedded backend) and a copy of it analysed on Spark.

    Spark reads the events as a cluster job would: a plain folder of Parquet parts (as on
    HDFS / S3, not a workspace), the masters passed explicitly, the results written into
    the copy (:func:`run_spark_analysis`; ``rxring analyze --backend spark`` on a workspace
    is tests/spark/test_cli.py).  One Spark job chain for every test here."""
    ws = city.workspace
    out = tmp_path_factory.mktemp("city-spark") / "ws"
    shutil.copytree(ws, out)
    workspace = Workspace(ws)
    events_only = out.parent / "events-only"
    shutil.copytree(workspace.events_dir, events_only)
    deletions = pd.read_parquet(workspace.deletions_path) if workspace.deletions_path.exists() else None
    products = pd.read_parquet(workspace.masters_dir / "products.parquet")
    result = run_spark_analysis(str(events_only), out, _options(city), products=products, deletions=deletions,
                                spark=spark)
    return ws, out, city.result, result


def _options(city) -> AnalysisOptions:
    """The options the session's city was analysed with."""
    return AnalysisOptions.from_dict(city.result.meta["options"])


def test_city_same_findings_and_rings(both):
    ws, out, embedded, result = both
    assert len(embedded.findings) > 200
    assert set(embedded.findings["rule"]) >= {"DUP_DISPENSE", "RESURFACE", "NO_PROVENANCE"}
    assert_frame_equal(result.findings, embedded.findings)
    assert len(embedded.rings) >= 3
    assert_frame_equal(result.rings, embedded.rings)
    # ... and the files written read back equal too
    assert_frame_equal(load_findings(out), load_findings(ws))
    assert_frame_equal(load_rings(out), load_rings(ws))


def test_city_stats_and_analysis_json(both, city):
    ws, out, embedded, result = both
    meta = load_analysis(out)
    assert meta["engine"] == "spark"
    assert meta["spark"]["master"].startswith("local")
    assert meta["options"] == _options(city).to_dict()
    for key in ("events_read", "events_used", "findings", "findings_by_rule", "rings"):
        assert result.stats[key] == embedded.stats[key], key
        assert meta["stats"][key] == embedded.stats[key], key


def test_report_commands_read_the_spark_workspace(both):
    ws, out, embedded, _ = both
    runner = CliRunner()
    listed = runner.invoke(cli, ["rings", "-w", str(out), "--json"])
    assert listed.exit_code == 0, listed.output
    rings = json.loads(listed.output)
    assert [r["ring_id"] for r in rings] == list(embedded.rings["ring_id"])
    first = embedded.findings.iloc[0]
    shown = runner.invoke(cli, ["findings", "-w", str(out), "--code", first["trace_codes"][0], "--json"])
    assert shown.exit_code == 0, shown.output
    assert first["finding_id"] in [f["finding_id"] for f in json.loads(shown.output)]


def test_results_to_a_uri_are_spark_datasets(spark, both, tmp_path):
    """A URI output (file:// here, s3a:// or hdfs:// on a cluster) gets Spark-written datasets."""
    from rxring.backends.spark.engine import write_remote

    _, _, embedded, result = both
    out = f"file://{tmp_path}/results"
    write_remote(spark, out, AnalysisResult(findings=result.findings, rings=result.rings, meta={"engine": "spark"}))
    findings = pq.read_table(tmp_path / "results" / "findings.parquet").to_pandas()
    assert sorted(findings["finding_id"]) == sorted(embedded.findings["finding_id"])
    assert list(findings.columns) == list(embedded.findings.columns)
    rings = pq.read_table(tmp_path / "results" / "rings.parquet").to_pandas()
    assert sorted(rings["ring_id"]) == sorted(embedded.rings["ring_id"])
    meta = [p for p in (tmp_path / "results" / "analysis.json").iterdir() if p.name.startswith("part-")]
    assert json.loads(meta[0].read_text().strip()) == {"engine": "spark"}
