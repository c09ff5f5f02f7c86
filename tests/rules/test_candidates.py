"""The candidate filter (stage cand) drops no finding, and every event join is keyed by trace code.

Stage ``cand`` keeps the codes some rule could report; the wide stages and the rules
run on those codes only.  Each condition of the filter is argued in
``rxring/rules/sql/stage_cand.sql``; here the argument is checked: the findings with
the filter equal the findings with every code kept (``prune=False``), on every
hand-written fixture and on random messy event tables that mix every event type,
repeated event ids, double scans, refunds, split sales, transfers, expiries and
product swaps.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from rxring.backends import duckdb as embedded
from rxring.rules.render import STAGES, rendered_queries
from rxring.schema import RULES
from tests.rules.fixtures import PRODUCTS
from tests.rules.namespaced import combined_findings, differing_fixtures, prefix, prefixed

SITES = ("S1", "S2", "S3", "S4")
CODES = tuple(f"8100001000000000{i:04d}" for i in range(6)) + ("81000020000000000001",)
TYPES = ("inbound", "dispense", "dispense", "refund", "transfer_in", "transfer_out", "inventory",
         "purchase_return", "adjust")
PRODUCT_CODES = (PRODUCTS.iloc[0]["product_code"], PRODUCTS.iloc[1]["product_code"], " xa0000a0000000000001 ", None)


def _both(events, options, products=PRODUCTS, deletions=None):
    pruned = run_rules(events, options, products=products, deletions=deletions)
    whole = run_rules(events, options, products=products, deletions=deletions, prune=False)
    return pruned, whole


@pytest.mark.parametrize("options", [
    AnalysisOptions(),
    AnalysisOptions(provenance_grace_days=0, conflict_min_support=1),
], ids=["default", "strict"])
def test_fixture_findings_do_not_depend_on_the_candidate_filter(options):
    """Every hand-written fixture at once (namespaced apart, see tests/rules/namespaced.py)."""
    pruned, whole = combined_findings(options), combined_findings(options, prune=False)
    differ = differing_fixtures(pruned, whole)
    assert not differ, f"the candidate filter changes the findings of {differ}"
    pd.testing.assert_frame_equal(pruned, whole)


@st.composite
def messy_events(draw):
    """Random events over a few codes, sites and days: any type in any order."""
    n = draw(st.integers(1, 40))
    start = pd.Timestamp("2025-01-01 08:00")
    rows = []
    for i in range(n):
        code = draw(st.sampled_from(CODES))
        kind = draw(st.sampled_from(TYPES))
        repeat = draw(st.integers(0, 9)) == 0                 # a repeated event id now and then
        row = {
            "event_id": f"e{i - 1 if repeat and i else i}",
            "trace_code": code,
            "event_type": kind,
            "event_time": start + pd.Timedelta(minutes=draw(st.integers(0, 60 * 24 * 90))),
            "site_id": draw(st.sampled_from(SITES)),
            "product_code": draw(st.sampled_from(PRODUCT_CODES)),
            "code_product": code[:7],
            "patient_id": draw(st.sampled_from(("P1", "P2", None))),
            "settlement_id": draw(st.sampled_from(("T1", "T2", None))),
            "counterparty": draw(st.sampled_from(SITES + (None,))),
            "expiry": draw(st.sampled_from((None, pd.Timestamp("2025-02-01"), pd.Timestamp("2025-03-15")))),
            "split_sale": draw(st.booleans()) if kind == "dispense" else None,
            "quantity": float(draw(st.integers(1, 14))),
            "fund_amount": 10.0 if kind == "dispense" else None,
            "record_no": f"R{i % 5}",
        }
        rows.append(row)
    return pd.DataFrame(rows)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(messy_events(), min_size=1, max_size=8), st.sampled_from([
    AnalysisOptions(),
    AnalysisOptions(provenance_grace_days=0, opening_stocktake_days=0, provenance_min_coverage=0.0,
                    conflict_min_support=1, conflict_min_share=0.5),
]), st.booleans())
def test_random_events_give_the_same_findings_with_and_without_the_filter(tables, options, delete):
    """Up to eight random tables per example, each in its own namespace (tests/rules/namespaced.py; product
    codes kept, so the master's and the untrimmed ones still apply): two runs judge them all."""
    events = pd.concat([prefixed(table, prefix(number), keep=("product_code",)) for number, table in enumerate(tables)],
                       ignore_index=True)
    deletions = None
    if delete:
        deletions = pd.DataFrame({"record_no": [prefix(number) + "R1" for number in range(len(tables))],
                                  "event_type": "dispense"})
    pruned, whole = _both(events, options, deletions=deletions)
    pd.testing.assert_frame_equal(pruned, whole)


def test_the_filter_drops_plain_lives():
    """A city of plain lives (inbound, then one sale at the same site) has no candidate code."""
    import duckdb

    rows = []
    for i in range(50):
        code = f"8100001000000{i:07d}"
        rows.append({"event_id": f"i{i}", "trace_code": code, "event_type": "inbound",
                     "event_time": pd.Timestamp("2025-01-01") + pd.Timedelta(hours=i), "site_id": "S1",
                     "product_code": PRODUCTS.iloc[0]["product_code"], "code_product": "8100001"})
        rows.append({"event_id": f"d{i}", "trace_code": code, "event_type": "dispense",
                     "event_time": pd.Timestamp("2025-03-01") + pd.Timedelta(hours=i), "site_id": "S1",
                     "product_code": PRODUCTS.iloc[0]["product_code"], "code_product": "8100001",
                     "patient_id": f"P{i}"})
    con = duckdb.connect()
    embedded.register_inputs(con, embedded.events_table(pd.DataFrame(rows)))   # no products, no deletions
    flat = embedded.run_sql_rules(con, AnalysisOptions(), RULES)
    assert flat.empty
    assert con.execute("SELECT COUNT(*) FROM scan").fetchone()[0] == 100
    assert con.execute("SELECT COUNT(*) FROM codes").fetchone()[0] == 50
    assert con.execute("SELECT COUNT(*) FROM cand").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM ev").fetchone()[0] == 0


# Tables with one row per event (or per code and site) and what each join of two of
# them must be keyed by, so that with the events partitioned by trace code no join
# moves rows between partitions (issue 9).  Joins with per-site or per-product-part
# tables (coverage, site_first, usual, ...) and the one grouping by event_id in
# stage scan (repeated ids can span codes) are the exceptions, named here.
_EVENT_TABLES = {"counted", "scan", "code_site", "codes", "cand", "ev", "dr", "netd", "pd", "events_raw"}
_PER_SITE_OR_SMALL = {"deletions", "products", "keys", "product_names", "sites", "multi_coverage", "dispensing", "transferred_to", "site_start", "site_first", "site_bounds", "coverage", "usual",
                      "product_parts", "repeated_ids", "totals", "code_product"}


def _joins(sql: str):
    """(joined table, ON condition) pairs of a SQL text, comments removed."""
    text = "\n".join(line.split("--")[0] for line in sql.splitlines())
    pattern = re.compile(r"\bJOIN\s+(\w+)(?:\s+\w+)?\s+ON\s+(.*?)(?=\bJOIN\b|\bWHERE\b|\bGROUP\b|\)|\bUNION\b|$)",
                         re.S | re.I)
    return [(m.group(1), " ".join(m.group(2).split())) for m in pattern.finditer(text)]


@pytest.mark.parametrize("name", ["counted.sql"] + [f"stage_{s}.sql" for s in STAGES] + [f"{r}.sql" for r in RULES])
def test_event_joins_are_keyed_by_trace_code(name):
    sql = rendered_queries(AnalysisOptions())[name]
    joins = _joins(sql)
    code = "\n".join(line.split("--")[0] for line in sql.splitlines())
    assert len(joins) == len(re.findall(r"\bJOIN\b", code, re.I)), f"{name}: a JOIN was not parsed"
    for table, condition in joins:
        if table.lower() in _PER_SITE_OR_SMALL:
            continue
        assert "trace_code" in condition, f"{name}: JOIN {table} ON {condition} is not keyed by trace_code"
