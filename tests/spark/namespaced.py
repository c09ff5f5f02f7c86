"""All rule fixtures in one event table, each in its own namespace.

Running Spark once per fixture would cost a job chain per fixture (some 20 s each
on a small machine); instead every fixture's ids (codes, product parts, sites,
people, products, records) get the prefix ``F<nn>-`` so fixtures cannot interact,
and one table holds them all.  test_fixtures.py checks that claim with the
embedded engine.  :func:`prefixed` and :func:`subset` do the same for any event
table (test_edges.py).
"""

from __future__ import annotations

import pandas as pd

from tests.rules.fixtures import FIXTURES

_ID_COLUMNS = ("event_id", "trace_code", "site_id", "product_code", "patient_id", "prescriber_id", "settlement_id",
               "counterparty", "record_no", "code_product", "message_id")


def prefix(number: int) -> str:
    return f"F{number:02d}-"


def _tag(value, pre: str):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return value
    return pre + str(value)


def prefixed(events: pd.DataFrame, pre: str) -> pd.DataFrame:
    """A copy of *events* with every id column prefixed with *pre*."""
    events = events.copy()
    for column in _ID_COLUMNS:
        if column in events:
            events[column] = events[column].map(lambda v: _tag(v, pre)).astype("object")
    return events


def subset(findings: pd.DataFrame, pre: str) -> pd.DataFrame:
    """The findings of the namespace *pre* (their first trace code carries it)."""
    mask = findings["trace_codes"].map(lambda codes: codes[0].startswith(pre))
    return findings[mask].reset_index(drop=True)


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
