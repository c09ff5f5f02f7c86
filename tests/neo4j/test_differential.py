"""Differential tests: the Cypher rules give exactly the embedded engine's findings and rings.

Every hand-written fixture of tests/rules/fixtures.py is loaded into a real Neo4j
server, all at once in their namespaces (tests/rules/namespaced.py: one load and
one Cypher run instead of one per fixture), and judged by both engines; the
findings tables must be equal column for column.  Each option of the rules runs on a
fixture whose findings it changes.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from tests.rules.fixtures import FIXTURES
from tests.rules.namespaced import (assert_expectations_hold, assert_same_rings, combined, combined_findings,
                                    differing_fixtures)

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


@pytest.fixture(scope="module")
def default_run(neo4j_driver, neo4j_config):
    """Every fixture at once, namespaced apart (tests/rules/namespaced.py): (embedded, Neo4j) findings."""
    events, products, deletions, _ = combined()
    reset_graph(neo4j_driver, neo4j_config.database)
    got = run_rules(events, AnalysisOptions(), products, deletions, backend="neo4j", neo4j=neo4j_driver,
                    database=neo4j_config.database)
    return combined_findings(), got


def test_same_findings_all_columns(default_run):
    expected, got = default_run
    differ = differing_fixtures(expected, got)
    assert not differ, f"Neo4j and the embedded engine differ on {differ}"
    assert_same_findings(expected, got)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_expectations_hold_on_neo4j(name, default_run):
    assert_expectations_hold(default_run[1], name)


def test_same_rings(default_run):
    assert_same_rings(*default_run)


#: Each option with a fixture whose findings it changes (asserted), so that an option the Cypher
#: ignored would show.
OPTION_CASES = [
    ("trap_double_scan_no_settlement", AnalysisOptions(double_scan_minutes=1)),
    ("trap_no_provenance_in_grace_period", AnalysisOptions(provenance_grace_days=0)),
    ("no_provenance", AnalysisOptions(provenance_min_coverage=0.9)),
    ("trap_no_provenance_opening_stocktake", AnalysisOptions(opening_stocktake_days=0)),
    ("trap_provenance_by_transfer_and_refund", AnalysisOptions(provenance_types=("inbound",))),
    ("code_conflict_product_part", AnalysisOptions(conflict_min_support=6)),
    ("code_conflict_product_part", AnalysisOptions(conflict_min_share=0.95)),
]


def test_every_option_has_a_case():
    """Every parameter the Cypher rules take (rxring.rules.render.cypher_parameters) is changed by a case."""
    from rxring.rules.render import cypher_parameters

    default = cypher_parameters(AnalysisOptions())
    changed = {key for _, options in OPTION_CASES for key, value in cypher_parameters(options).items()
               if value != default[key]}
    assert changed == set(default)


@pytest.mark.parametrize("name, options", OPTION_CASES)
def test_options_reach_the_cypher(name, options, neo4j_driver, neo4j_config):
    fixture = FIXTURES[name]
    expected, got = _both(neo4j_driver, neo4j_config.database, fixture.events, options,
                          fixture.products, fixture.deletions)
    default = run_rules(fixture.events, AnalysisOptions(), fixture.products, fixture.deletions, backend="embedded")
    assert sorted(expected["finding_id"]) != sorted(default["finding_id"]), "the option changes nothing here"
    assert_same_findings(expected, got)


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
