"""Differential tests: the Cypher rules give exactly the embedded engine's findings and rings.

Every hand-written fixture of tests/rules/fixtures.py (and a few option variants) is
loaded into a real Neo4j server and judged by both engines; the findings tables
must be equal column for column.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from tests.rules.fixtures import FIXTURES

from .graph_data import reset_graph


def _both(driver, database, events, options, products=None, deletions=None):
    """(embedded findings, Neo4j findings): the one library call, two backends."""
    expected = run_rules(events, options, products, deletions, backend="embedded")
    reset_graph(driver, database)   # run_rules(backend="neo4j") loads the events into an empty database
    got = run_rules(events, options, products, deletions, backend="neo4j", neo4j=driver, database=database)
    return expected, got


def assert_same_findings(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=True)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_same_findings(name, neo4j_driver, neo4j_config):
    fixture = FIXTURES[name]
    expected, got = _both(neo4j_driver, neo4j_config.database, fixture.events, AnalysisOptions(),
                          fixture.products, fixture.deletions)
    assert sorted(got["finding_id"]) == sorted(fixture.expected), fixture.note
    assert_same_findings(expected, got)


@pytest.mark.parametrize("name, options", [
    ("trap_double_scan_one_settlement", AnalysisOptions(double_scan_minutes=1)),
    ("trap_no_provenance_in_grace_period", AnalysisOptions(provenance_grace_days=0)),
    ("no_provenance", AnalysisOptions(provenance_min_coverage=0.9)),
    ("no_provenance", AnalysisOptions(provenance_types=("inbound",))),
])
def test_options_reach_the_cypher(name, options, neo4j_driver, neo4j_config):
    fixture = FIXTURES[name]
    expected, got = _both(neo4j_driver, neo4j_config.database, fixture.events, options,
                          fixture.products, fixture.deletions)
    assert_same_findings(expected, got)


def test_all_fixtures_at_once_same_findings_and_rings(neo4j_driver, neo4j_config):
    """All fixtures in one graph (codes renamed apart): findings and rings agree."""
    from rxring.rings import build_rings

    frames, products = [], []
    for number, name in enumerate(sorted(FIXTURES)):
        fixture = FIXTURES[name]
        if fixture.deletions is not None:
            continue
        events = fixture.events.copy()
        events["event_id"] = f"{number}-" + events["event_id"].astype(str)
        events["trace_code"] = events["trace_code"].map(lambda c, n=number: f"{c[:-4]}{n:02d}{c[-2:]}" if isinstance(c, str) and len(c) == 20 else c)
        if "code_product" in events:
            events["code_product"] = events["trace_code"].map(lambda c: c[:7] if isinstance(c, str) else None)
        frames.append(events)
        if fixture.products is not None:
            products.append(fixture.products)
    events = pd.concat(frames, ignore_index=True)
    masters = pd.concat(products, ignore_index=True).drop_duplicates("product_code") if products else None
    options = AnalysisOptions()
    expected, got = _both(neo4j_driver, neo4j_config.database, events, options, masters)
    assert len(got) > 5
    assert_same_findings(expected, got)
    assert_frame_equal(build_rings(got, options), build_rings(expected, options))


def test_workspace_stats_count_the_rows_read(tmp_path, empty_neo4j, neo4j_config):
    from rxring.analysis import analyze

    from .graph_data import make_workspace

    fixture = FIXTURES["trap_deleted_sale"]   # a 3507 deletion that removes a row
    stats = {}
    for backend, options in (("embedded", {}), ("neo4j", {"neo4j": empty_neo4j, "database": neo4j_config.database})):
        ws = make_workspace(tmp_path / backend, fixture.events, products=fixture.products)
        fixture.deletions.to_parquet(ws.deletions_path, index=False)
        stats[backend] = analyze(ws.root, backend, **options).stats
    assert stats["embedded"]["events_read"] > stats["embedded"]["events_used"]   # a deleted row was read
    for key in ("events_used", "findings", "findings_by_rule", "rings"):
        assert stats["neo4j"][key] == stats["embedded"][key], key
    assert stats["neo4j"]["events_read"] == stats["embedded"]["events_read"]
