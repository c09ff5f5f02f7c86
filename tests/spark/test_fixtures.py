"""Differential tests: every rule fixture gives the embedded engine's findings and rings on Spark.

All fixtures run in one Spark job chain (see ``namespaced``); the comparison is
on whole frames: every column, every row, same order, same dtypes.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from rxring.rings import build_rings
from rxring.schema import FINDING_COLUMNS
from tests.rules.fixtures import FIXTURES
from tests.spark.namespaced import combined, expected_ids, namespaced, prefix, subset

#: Every threshold away from its default at once: the placeholders must reach Spark's SQL.
OTHER_OPTIONS = AnalysisOptions(double_scan_minutes=1, provenance_min_coverage=0.9, provenance_grace_days=0,
                                provenance_types=("inbound",), conflict_min_support=2, conflict_min_share=0.5)


@pytest.fixture(scope="module")
def all_fixtures():
    return combined()


@pytest.fixture(scope="module")
def default_run(spark, all_fixtures):
    events, products, deletions, _ = all_fixtures
    options = AnalysisOptions()
    expected = run_rules(events, options, products, deletions, backend="embedded")
    got = run_rules(events, options, products, deletions, backend="spark", spark=spark)
    return expected, got


def _subset(findings: pd.DataFrame, number: int) -> pd.DataFrame:
    return subset(findings, prefix(number))


def test_fixtures_are_isolated_in_the_combined_table(all_fixtures):
    """Each fixture alone gives exactly its slice of the combined run (embedded engine),
    so comparing the engines on the combined table compares them on every fixture."""
    events, products, deletions, names = all_fixtures
    together = run_rules(events, AnalysisOptions(), products, deletions, backend="embedded")
    for number, name in enumerate(names):
        events, products, deletions = namespaced(number, name)
        alone = run_rules(events, AnalysisOptions(), products, deletions, backend="embedded")
        # dtypes aside: an empty result has object columns, a slice keeps the whole run's
        assert_frame_equal(_subset(together, number), alone.reset_index(drop=True), check_dtype=False, obj=name)


def test_same_findings_all_columns(default_run):
    expected, got = default_run
    assert tuple(got.columns) == FINDING_COLUMNS
    assert len(got) == sum(len(fixture.expected) for fixture in FIXTURES.values())
    assert_frame_equal(got, expected, check_dtype=True)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_expectations_hold_on_spark(name, default_run):
    _, got = default_run
    number = sorted(FIXTURES).index(name)
    assert sorted(_subset(got, number)["finding_id"]) == expected_ids(number, name), FIXTURES[name].note


def test_same_rings(default_run):
    expected, got = default_run
    options = AnalysisOptions()
    rings = build_rings(got, options)
    assert len(rings) >= 3
    assert_frame_equal(rings, build_rings(expected, options))


def test_options_reach_the_spark_sql(spark, all_fixtures, default_run):
    events, products, deletions, _ = all_fixtures
    expected = run_rules(events, OTHER_OPTIONS, products, deletions, backend="embedded")
    got = run_rules(events, OTHER_OPTIONS, products, deletions, backend="spark", spark=spark)
    assert not expected.equals(default_run[0])   # the options change the findings ...
    assert_frame_equal(got, expected)            # ... the same way on both engines


def test_empty_table_gives_empty_findings(spark):
    empty = FIXTURES["trap_purchase_return"].events.iloc[0:0]
    got = run_rules(empty, AnalysisOptions(), backend="spark", spark=spark)
    assert tuple(got.columns) == FINDING_COLUMNS
    assert got.empty
