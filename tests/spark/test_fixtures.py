"""Differential tests: every rule fixture gives the embedded engine's findings and rings on Spark.

All fixtures run in one Spark job chain (see tests/rules/namespaced.py; that the
combined table stands for each fixture is tests/rules/test_namespaced.py), with the
edge cases of test_edges.py (tests/spark/together.py); the
comparison is on whole frames: every column, every row, same order, same dtypes.
"""

from __future__ import annotations

import pytest
from pandas.testing import assert_frame_equal

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from rxring.schema import FINDING_COLUMNS
from tests.rules.fixtures import FIXTURES
from tests.rules.namespaced import assert_expectations_hold, assert_same_rings, combined, combined_findings

#: Every threshold away from its default at once: the placeholders must reach Spark's SQL.
#: Every threshold of the rules away from its default, each to a value that changes some fixture's findings
#: (conflict_min_support 2 and conflict_min_share 0.5 changed none); the SQL text they give is DuckDB's
#: (one render, tests/rules/test_registry.py), so this holds Spark to running it alike.
OTHER_OPTIONS = AnalysisOptions(double_scan_minutes=1, provenance_min_coverage=0.9, provenance_grace_days=0,
                                opening_stocktake_days=0, provenance_types=("inbound",), conflict_min_support=6,
                                conflict_min_share=0.9)


@pytest.fixture(scope="module")
def all_fixtures():
    return combined()


@pytest.fixture(scope="module")
def default_run(together):
    """(the embedded engine's findings of the combined fixtures, Spark's of their namespaces): Spark
    judged them in one table with the edge cases of test_edges.py (tests/spark/together.py)."""
    return combined_findings(), together.fixture_findings()


def test_same_findings_all_columns(default_run):
    expected, got = default_run
    assert tuple(got.columns) == FINDING_COLUMNS
    assert len(got) == sum(len(fixture.expected) for fixture in FIXTURES.values())
    assert_frame_equal(got, expected, check_dtype=True)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_expectations_hold_on_spark(name, default_run):
    assert_expectations_hold(default_run[1], name)


def test_same_rings(default_run):
    assert_same_rings(*default_run)


def test_options_reach_the_spark_sql(spark, all_fixtures, default_run):
    events, products, deletions, _ = all_fixtures
    expected = combined_findings(OTHER_OPTIONS)
    got = run_rules(events, OTHER_OPTIONS, products, deletions, backend="spark", spark=spark)
    assert not expected.equals(default_run[0])   # the options change the findings ...
    assert_frame_equal(got, expected)            # ... the same way on both engines


def test_empty_table_gives_empty_findings(spark):
    empty = FIXTURES["trap_purchase_return"].events.iloc[0:0]
    got = run_rules(empty, AnalysisOptions(), backend="spark", spark=spark)
    assert tuple(got.columns) == FINDING_COLUMNS
    assert got.empty
