"""A small synthetic city, ingested like real input: both engines give the same findings and rings."""

from __future__ import annotations

import pytest
from pandas.testing import assert_frame_equal

from rxring.analysis import analyze
from rxring.backends.neo4j.load import load_workspace
from rxring.backends.neo4j.rules import find_rings
from rxring.options import AnalysisOptions

from ._events import reset_graph


@pytest.fixture(scope="module")
def city_workspace(tmp_path_factory):
    from rxring.ingest import ingest
    from rxring.synth import generate

    root = tmp_path_factory.mktemp("city")
    generate(root / "city", seed=7, patients=400, days=45)
    ingest([root / "city" / "inputs"], root / "ws", progress=False)
    return root / "ws"


def test_city_same_findings_and_rings(city_workspace, neo4j_driver, neo4j_config):
    options = AnalysisOptions()
    embedded = analyze(city_workspace, "embedded", options)
    assert len(embedded.findings) > 0 and len(embedded.rings) > 0

    reset_graph(neo4j_driver, neo4j_config.database)
    report = load_workspace(neo4j_config, city_workspace, batch_size=2000)
    assert report.nodes["Event"] == embedded.stats["events_used"]
    findings, rings = find_rings(neo4j_driver, options, neo4j_config.database)

    assert_frame_equal(findings.reset_index(drop=True), embedded.findings.reset_index(drop=True))
    assert_frame_equal(rings.reset_index(drop=True), embedded.rings.reset_index(drop=True))
    _check_rings_written_back(neo4j_driver, neo4j_config, findings, rings)


def _check_rings_written_back(driver, config, findings, rings):
    """The shipped rings.cypher and ring_boxes.cypher read the rings back from the graph."""
    from rxring.backends.neo4j.queries import run_query

    listed = run_query(driver, "rings", {"limit": 1000}, config.database)
    assert list(listed["ring"]) == list(rings["ring_id"])
    assert list(listed["rank"]) == list(rings["rank"])
    assert list(listed["boxes"]) == list(rings["boxes"])
    assert list(listed["score"]) == list(rings["score"])
    assert list(listed["fund_at_risk"]) == list(rings["fund_at_risk"])
    for column in ("source_patients", "prescribers", "source_sites", "laundering_sites"):
        assert [sorted(v) for v in listed[column]] == [sorted(v) for v in rings[column]], column
    first = rings.iloc[0]
    codes = {c for f in findings[findings["finding_id"].isin(first["finding_ids"])]["trace_codes"] for c in f}
    chains = run_query(driver, "ring_boxes", {"ring": first["ring_id"]}, config.database)
    assert set(chains["trace_code"]) == codes
    assert chains.groupby("trace_code")["step"].apply(lambda s: list(s) == list(range(1, len(s) + 1))).all()


def test_city_options_variant(city_workspace, neo4j_driver, neo4j_config):
    """Thresholds travel to the Cypher as parameters (graph from the previous test or reloaded)."""
    from rxring.analysis import run_rules as embedded_rules
    from rxring.backends.neo4j.load import workspace_events
    from rxring.backends.neo4j.rules import run_rules
    from rxring.workspace import Workspace

    options = AnalysisOptions(double_scan_minutes=1, provenance_grace_days=3, provenance_min_coverage=0.2,
                              conflict_min_support=2, conflict_min_share=0.6)
    reset_graph(neo4j_driver, neo4j_config.database)
    load_workspace(neo4j_config, city_workspace, batch_size=5000)
    ws = Workspace(city_workspace)
    expected = embedded_rules(workspace_events(ws), options, products=ws.master("products"))
    got = run_rules(neo4j_driver, options, neo4j_config.database)
    assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
