"""Fixtures for the rule tests: the findings of each hand-written fixture, computed once per session."""

from __future__ import annotations

import pytest

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from tests.rules.fixtures import FIXTURES


@pytest.fixture(scope="session")
def fixture_findings():
    """``fixture_findings(name, options=None, prune=True)``: run_rules on ``FIXTURES[name]`` (embedded).

    Each (name, options, prune) runs once per session (test_rule_fixtures and
    test_candidates both judge the default run); every call returns a fresh copy.
    """
    cache = {}

    def findings(name: str, options: AnalysisOptions | None = None, prune: bool = True):
        options = options or AnalysisOptions()
        key = (name, options, prune)
        if key not in cache:
            fixture = FIXTURES[name]
            cache[key] = run_rules(fixture.events, options, products=fixture.products, deletions=fixture.deletions,
                                   prune=prune)
        return cache[key].copy()

    return findings
