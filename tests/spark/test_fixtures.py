"""Differential tests: every rule fixture gives the embedded engine's findings and rings on Spark.

All fixtures run in one Spark job chain (see tests/rules/namespaced.py; that the
combined table stands for each fixture is tests/rules/test_namespaced.py), with the
edge cases of test_edges.py (tests/spark/together.py); the
comparison is on whole frames: every column, every row, same order, same dtypes.  Every
threshold away from its default: the city, tests/spark/test_city.py.
"""

from __future__ import annotations

import pytest
from pandas.testing import assert_frame_equal

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from rxring.schema import FINDING_COLUMNS
from tests.rules.fixtures import FIXTURES
from tests.rules.namespaced import assert_expectations_hold, assert_same_rings, combined_findings


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


def test_empty_table_gives_empty_findings(spark):
    empty = FIXTURES["trap_purchase_return"].events.iloc[0:0]
    got = run_rules(empty, AnalysisOptions(), backend="spark", spark=spark)
    assert tuple(got.columns) == FINDING_COLUMNS
    assert got.empty
