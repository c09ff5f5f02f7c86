"""A synthetic city, ingested into a workspace: Spark gives the embedded findings and rings,
and writes a workspace every listing and report command reads."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from pandas.testing import assert_frame_equal

from rxring.analysis import analyze
from rxring.results import load_analysis, load_findings, load_rings
from rxring.cli import cli
from rxring.ingest import ingest
from rxring.options import AnalysisOptions
from rxring.backends.spark import run_spark_analysis
from rxring.synth import generate


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """(embedded workspace, spark output folder, spark result) for a ~20k-event city."""
    root = tmp_path_factory.mktemp("city")
    summary = generate(root / "gen", seed=11, events=20_000)
    ws = root / "ws"
    ingest([summary.inputs_dir], ws, progress=False)
    return root, ws


@pytest.fixture(scope="module")
def both(spark, city):
    root, ws = city
    options = AnalysisOptions(seed=3)
    embedded = analyze(ws, "embedded", options)
    out = root / "spark-out"
    result = run_spark_analysis(ws, out, options, spark=spark)
    return ws, out, embedded, result


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


def test_city_stats_and_analysis_json(both):
    ws, out, embedded, result = both
    meta = load_analysis(out)
    assert meta["engine"] == "spark"
    assert meta["spark"]["master"].startswith("local")
    assert meta["options"] == AnalysisOptions(seed=3).to_dict()
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
    from rxring.backends.spark.engine import _write_remote

    _, _, embedded, result = both
    out = f"file://{tmp_path}/results"
    _write_remote(spark, out, result.findings, result.rings, {"engine": "spark"})
    findings = pq.read_table(tmp_path / "results" / "findings.parquet").to_pandas()
    assert sorted(findings["finding_id"]) == sorted(embedded.findings["finding_id"])
    assert list(findings.columns) == list(embedded.findings.columns)
    rings = pq.read_table(tmp_path / "results" / "rings.parquet").to_pandas()
    assert sorted(rings["ring_id"]) == sorted(embedded.rings["ring_id"])
    meta = [p for p in (tmp_path / "results" / "analysis.json").iterdir() if p.name.startswith("part-")]
    assert json.loads(meta[0].read_text().strip()) == {"engine": "spark"}


def test_events_from_a_plain_parquet_folder(spark, both, tmp_path):
    """Not a workspace: a folder of Parquet parts (as on HDFS / S3), masters passed explicitly."""
    ws, _, embedded, _ = both
    shutil.copytree(ws / "events", tmp_path / "events-only")
    deletions = pd.read_parquet(ws / "deletions.parquet") if (ws / "deletions.parquet").exists() else None
    products = pd.read_parquet(ws / "masters" / "products.parquet")
    result = run_spark_analysis(str(tmp_path / "events-only"), tmp_path / "out", AnalysisOptions(seed=3),
                                products=products, deletions=deletions, spark=spark)
    assert_frame_equal(result.findings, embedded.findings)
