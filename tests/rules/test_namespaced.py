"""The combined table of every rule fixture (tests/rules/namespaced.py) stands for the fixtures one by one.

The candidate-filter test here, the Spark and the Neo4j differential tests run the
engines once on the combined table instead of once per fixture; that compares them
on every fixture only if no fixture changes another's findings.  Checked here with
the embedded engine: each fixture's slice of the combined run, namespace taken out,
is exactly that fixture's own run.
"""

from __future__ import annotations

from pandas.testing import assert_frame_equal

from tests.rules.namespaced import combined_findings, prefix, subset, unprefixed
from tests.rules.fixtures import FIXTURES


def test_fixtures_are_isolated_in_the_combined_table(fixture_findings):
    together = combined_findings()
    assert len(together) == sum(len(fixture.expected) for fixture in FIXTURES.values())
    for number, name in enumerate(sorted(FIXTURES)):
        pre = prefix(number)
        alone = fixture_findings(name)
        # dtypes aside: an empty result has object columns, a slice keeps the whole run's
        assert_frame_equal(unprefixed(subset(together, pre), pre), alone.reset_index(drop=True), check_dtype=False,
                           obj=name)
