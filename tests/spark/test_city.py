"""The session's synthetic city, with a canonical CSV and NHSA messages added, analysed by
``rxring analyze --backend spark`` with every rule threshold away from its default: the
embedded findings and rings, and a workspace every listing and report command reads."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from pandas.testing import assert_frame_equal

from rxring.analysis import AnalysisResult
from rxring.cli import cli
from rxring.commands.options import option_arguments
from rxring.options import AnalysisOptions
from rxring.results import load_analysis, load_findings, load_rings
from tests.rules.fixtures import FIXTURES
from tests.rules.namespaced import prefixed

#: The rule fixture written as a canonical CSV beside the city: its sites, people and event ids in a namespace
#: of their own (tests/rules/namespaced.py), its trace code as it is (a code must be 20 digits to be read).
FIXTURE = "resold_at_another_site"
NAMESPACE = "CSV-"
#: The one real resale among the NHSA messages of tests/fixtures/ingest/one_sale.jsonl.
RESALE = "81234560000000100005"

#: The findings the CSV fixture and the NHSA messages add to the city.
ADDED = frozenset([*FIXTURES[FIXTURE].expected, f"DUP_DISPENSE:{RESALE}", f"RESURFACE:{RESALE}"])

#: Every threshold of the rules away from its default, each to a value that changes some rule fixture's
#: findings (tests/rules/test_registry.py holds that each reaches the SQL, rendered once for DuckDB and
#: Spark); given on the command line.
OTHER_OPTIONS = AnalysisOptions(double_scan_minutes=1, provenance_min_coverage=0.9, provenance_grace_days=0,
                                opening_stocktake_days=0, provenance_types=("inbound",), conflict_min_support=6,
                                conflict_min_share=0.9)


@dataclass
class Both:
    """The same workspace analysed by the CLI on Spark and on the embedded engine."""

    spark_ws: Path
    embedded_ws: Path
    printed: dict        # what ``rxring analyze --backend spark --json`` printed
    options: AnalysisOptions


@pytest.fixture(scope="module")
def both(spark, city, tmp_path_factory) -> Both:
    """The session's city (~20k events from NHSA messages: parts with origin columns) plus a canonical CSV
    (a part without them) and more NHSA messages (the 2601 reversal matches message_id), ingested and
    analysed by ``rxring analyze INPUTS -w WS --backend spark``; a copy of the same workspace analysed by
    the embedded engine, both with :data:`OTHER_OPTIONS` (and the city's seed).  One Spark job chain for
    every test here (the rule fixtures with the default options, as a cluster job on a plain folder of
    Parquet parts: tests/spark/together.py)."""
    root = tmp_path_factory.mktemp("city-spark")
    inputs = root / "inputs"
    inputs.mkdir()
    prefixed(FIXTURES[FIXTURE].events, NAMESPACE, keep=("trace_code",)).to_csv(inputs / "events.csv", index=False)
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "ingest" / "one_sale.jsonl", inputs / "his.jsonl")
    options = OTHER_OPTIONS.with_(seed=int(city.result.meta["options"]["seed"]))
    spark_ws, embedded_ws = root / "spark", root / "embedded"
    runs = {}
    for ws, extra in ((spark_ws, ["--backend", "spark", "--spark-master", "local[2]"]), (embedded_ws, [])):
        shutil.copytree(city.workspace, ws)
        run = CliRunner().invoke(cli, ["analyze", str(inputs), "-w", str(ws), *option_arguments(options), "--json",
                                       *extra])
        assert run.exit_code == 0, run.output
        runs[ws] = json.loads(run.output)
    return Both(spark_ws=spark_ws, embedded_ws=embedded_ws, printed=runs[spark_ws], options=options)


def test_city_same_findings_and_rings(both):
    spark, embedded = load_findings(both.spark_ws), load_findings(both.embedded_ws)
    assert len(embedded) > 200
    assert set(embedded["rule"]) >= {"DUP_DISPENSE", "RESURFACE", "NO_PROVENANCE"}
    assert_frame_equal(spark, embedded)
    assert len(load_rings(both.embedded_ws)) >= 3
    assert_frame_equal(load_rings(both.spark_ws), load_rings(both.embedded_ws))


def test_the_added_csv_and_nhsa_messages_are_judged(both):
    """The CSV fixture's findings and the NHSA messages' one resale are among Spark's."""
    found = set(load_findings(both.spark_ws)["finding_id"])
    assert ADDED <= found
    assert both.printed["stats"]["findings"] == len(found)


def test_the_options_given_reach_spark(both, city):
    """The thresholds given on the command line are the analysis's, and they change the city's findings
    (found with the default options in tests/conftest.py), the same way on both engines (above)."""
    assert AnalysisOptions.from_dict(load_analysis(both.spark_ws)["options"]) == both.options
    city_found = set(load_findings(both.spark_ws)["finding_id"]) - ADDED
    assert city_found != set(city.result.findings["finding_id"])


def test_city_stats_and_analysis_json(both):
    meta, embedded = load_analysis(both.spark_ws), load_analysis(both.embedded_ws)
    assert meta["engine"] == "spark" and embedded["engine"] == "embedded"
    assert meta["spark"]["master"].startswith("local")
    assert meta["options"] == embedded["options"] == both.options.to_dict()
    for key in ("events_read", "events_used", "findings", "findings_by_rule", "rings"):
        assert meta["stats"][key] == embedded["stats"][key], key
        assert both.printed["stats"][key] == embedded["stats"][key], key


def test_report_commands_read_the_spark_workspace(both):
    out = both.spark_ws
    runner = CliRunner()
    listed = runner.invoke(cli, ["rings", "-w", str(out), "--json"])
    assert listed.exit_code == 0, listed.output
    rings = json.loads(listed.output)
    assert [r["ring_id"] for r in rings] == list(load_rings(both.embedded_ws)["ring_id"])
    first = load_findings(both.embedded_ws).iloc[0]
    shown = runner.invoke(cli, ["findings", "-w", str(out), "--code", first["trace_codes"][0], "--json"])
    assert shown.exit_code == 0, shown.output
    assert first["finding_id"] in [f["finding_id"] for f in json.loads(shown.output)]


def test_results_to_a_uri_are_spark_datasets(spark, both, tmp_path):
    """A URI output (file:// here, s3a:// or hdfs:// on a cluster) gets Spark-written datasets."""
    from rxring.backends.spark.engine import write_remote

    expected, expected_rings = load_findings(both.spark_ws), load_rings(both.spark_ws)
    out = f"file://{tmp_path}/results"
    write_remote(spark, out, AnalysisResult(findings=expected, rings=expected_rings, meta={"engine": "spark"}))
    findings = pq.read_table(tmp_path / "results" / "findings.parquet").to_pandas()
    assert sorted(findings["finding_id"]) == sorted(expected["finding_id"])
    assert list(findings.columns) == list(expected.columns)
    rings = pq.read_table(tmp_path / "results" / "rings.parquet").to_pandas()
    assert sorted(rings["ring_id"]) == sorted(expected_rings["ring_id"])
    meta = [p for p in (tmp_path / "results" / "analysis.json").iterdir() if p.name.startswith("part-")]
    assert json.loads(meta[0].read_text().strip()) == {"engine": "spark"}
