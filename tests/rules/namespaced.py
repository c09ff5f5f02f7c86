"""All rule fixtures in one event table, each in its own namespace.

Running an engine once per fixture costs a whole analysis per fixture (a Spark job
chain is some 20 s on a small machine, a Neo4j load and Cypher run a few seconds,
the embedded engine a few tenths); instead every fixture's ids (codes, product
parts, sites, people, products, records) get the prefix ``F<nn>-`` so fixtures
cannot interact, and one table holds them all.  tests/rules/test_namespaced.py
checks that claim with the embedded engine: each fixture alone gives exactly its
slice of the combined run.  :func:`prefixed` and :func:`subset` do the same for
any event table (tests/spark/test_edges.py); :func:`combined_findings` is the
embedded engine's run of the combined table, once per session and options.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions

from tests.rules.fixtures import FIXTURES

_ID_COLUMNS = ("event_id", "trace_code", "site_id", "product_code", "patient_id", "prescriber_id", "settlement_id",
               "counterparty", "record_no", "code_product", "message_id")


def prefix(number: int) -> str:
    return f"F{number:02d}-"


def _tag(value, pre: str):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return value
    return pre + str(value)


def prefixed(events: pd.DataFrame, pre: str, keep: tuple = ()) -> pd.DataFrame:
    """A copy of *events* with every id column (but those in *keep*) prefixed with *pre*."""
    events = events.copy()
    for column in _ID_COLUMNS:
        if column in events and column not in keep:
            events[column] = events[column].map(lambda v: _tag(v, pre)).astype("object")
    return events


def subset(findings: pd.DataFrame, pre: str) -> pd.DataFrame:
    """The findings of the namespace *pre* (their first trace code carries it)."""
    mask = findings["trace_codes"].map(lambda codes: codes[0].startswith(pre))
    return findings[mask].reset_index(drop=True)


def unprefixed(findings: pd.DataFrame, pre: str) -> pd.DataFrame:
    """*findings* with the namespace *pre* taken out of every text and list of texts (ids, explanations)."""
    def strip(value):
        if isinstance(value, str):
            return value.replace(pre, "")
        if isinstance(value, (list, tuple)):
            return type(value)(strip(v) for v in value)
        if hasattr(value, "tolist") and not isinstance(value, (int, float)):
            return strip(value.tolist())
        return value

    out = findings.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(strip)
    return out


def namespaced(number: int, name: str):
    """(events, products, deletions) of one fixture with every id prefixed."""
    fixture, pre = FIXTURES[name], prefix(number)
    events = prefixed(fixture.events, pre)
    products = None
    if fixture.products is not None:
        products = fixture.products.assign(product_code=fixture.products["product_code"].map(lambda v: _tag(v, pre)))
    deletions = None
    if fixture.deletions is not None:
        deletions = fixture.deletions.copy()
        for column in ("record_no", "site_id", "settlement_id", "undone_msgid", "msgid"):
            if column in deletions:
                deletions[column] = deletions[column].map(lambda v: _tag(v, pre))
    return events, products, deletions


def expected_ids(number: int, name: str) -> list[str]:
    """The fixture's expected finding ids, in the namespace."""
    pre = prefix(number)
    out = []
    for finding_id in FIXTURES[name].expected:
        rule, *rest = finding_id.split(":")
        out.append(":".join([rule] + [pre + part for part in rest]))
    return sorted(out)


def combined():
    """(events, products, deletions, names) of every fixture at once."""
    names = sorted(FIXTURES)
    frames, products, deletions = [], [], []
    for number, name in enumerate(names):
        events, prod, dele = namespaced(number, name)
        frames.append(events)
        if prod is not None:
            products.append(prod)
        if dele is not None:
            deletions.append(dele)
    events = pd.concat(frames, ignore_index=True)
    masters = pd.concat(products, ignore_index=True) if products else None
    gone = pd.concat(deletions, ignore_index=True) if deletions else None
    return events, masters, gone, names


@lru_cache(maxsize=None)
def _combined_findings(options: AnalysisOptions, prune: bool) -> pd.DataFrame:
    events, products, deletions, _ = combined()
    return run_rules(events, options, products, deletions, backend="embedded", prune=prune)


def combined_findings(options: AnalysisOptions | None = None, prune: bool = True) -> pd.DataFrame:
    """The embedded engine's findings on :func:`combined` (computed once per session per options; a copy)."""
    return _combined_findings(options or AnalysisOptions(), prune).copy()


def assert_expectations_hold(got: pd.DataFrame, name: str) -> None:
    """The fixture *name*'s slice of a combined run holds exactly its expected finding ids."""
    number = sorted(FIXTURES).index(name)
    assert sorted(subset(got, prefix(number))["finding_id"]) == expected_ids(number, name), FIXTURES[name].note


def assert_same_rings(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """The rings of two engines' combined findings are equal (and there are some)."""
    from rxring.rings import build_rings

    options = AnalysisOptions()
    rings = build_rings(got, options)
    assert len(rings) >= 3
    pd.testing.assert_frame_equal(rings, build_rings(expected, options))


def differing_fixtures(one: pd.DataFrame, other: pd.DataFrame) -> list[str]:
    """The fixtures whose slices of two combined runs differ (for a failure message that names them)."""
    return [name for number, name in enumerate(sorted(FIXTURES))
            if not subset(one, prefix(number)).equals(subset(other, prefix(number)))]
