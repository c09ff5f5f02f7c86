"""rxring.results.events_of: a ring's events read with the filter in the Parquet scan (issue 20)."""

from __future__ import annotations

import duckdb
import pyarrow.dataset as ds

from rxring.report.data import load_case, load_events, read_ring_events, ring_findings
from rxring.results import _events_sql, _project, _scan_sql, build_lookup, events_of
from rxring.workspace import Workspace


def _reference(ws: Workspace, codes, ids):
    """The same rows through pyarrow's dataset filter (what the outputs read before)."""
    condition = ds.field("trace_code").isin(sorted(codes))
    if ids:
        condition = condition | ds.field("event_id").isin(sorted(ids))
    return ws.events_dataset().to_table(filter=condition)


def _rows(table) -> list[tuple]:
    return sorted(tuple(str(v) for v in row.values()) for row in table.to_pylist())


def test_codes_and_ids_with_and_without_the_look_up_copy(make_case):
    case = make_case(big=True)
    ws = Workspace(case.root)
    data = load_case(ws)
    small, big = data.rings[0], data.rings[1]
    codes = {c for f in ring_findings(data, small) for c in f["trace_codes"]}
    ids = {e for f in ring_findings(data, big) for e in f["event_ids"]}
    expected = _rows(_reference(ws, codes, ids))
    assert len(expected) > len(codes)          # both kinds of rows are there
    scanned = events_of(ws, codes, ids)
    assert scanned.schema.names == ws.events_dataset().schema.names
    assert _rows(scanned) == expected
    build_lookup(ws)
    assert _rows(events_of(ws, codes, ids)) == expected          # the code-sorted copy, then the ids left
    assert _rows(events_of(ws, codes, ())) == _rows(_reference(ws, codes, ()))
    assert events_of(ws, (), ()).num_rows == 0
    assert events_of(ws, {"no-such-code"}, {"no-such-id"}).num_rows == 0


def test_the_code_filter_is_in_the_parquet_scan(make_case):
    case = make_case(big=False)
    sql, params = _scan_sql(_events_sql(Workspace(case.root)), case.small_ring_codes[:2], [])
    plan = duckdb.connect().execute("EXPLAIN " + sql, params).fetchall()[0][1]
    scan = plan[plan.index("READ_PARQUET"):]
    assert "Filters:" in scan and f"trace_code IN ('{sorted(case.small_ring_codes[:2])[0]}'" in scan, plan


def test_events_read_ahead_answer_as_a_fresh_read(make_case):
    ws = Workspace(make_case(big=True).root)
    data = load_case(ws)
    rings = data.rings
    codes = {c for f in ring_findings(data, rings[1]) for c in f["trace_codes"]}
    ids = {e for f in ring_findings(data, rings[0]) for e in f["event_ids"]}
    fresh = [load_events(data, trace_codes=codes), load_events(data, event_ids=ids, within_codes=codes)]
    read_ring_events(data, rings)
    assert data.event_cache is not None
    again = [load_events(data, trace_codes=codes), load_events(data, event_ids=ids, within_codes=codes)]
    for a, b in zip(fresh, again):
        assert len(a) > 0 and a.equals(b)


def test_only_the_columns_asked_for_are_read(make_case):
    case = make_case(big=False)
    ws = Workspace(case.root)
    codes = set(case.small_ring_codes)
    full = events_of(ws, codes, ())
    for copies in (False, True):
        if copies:
            build_lookup(ws)
        some = events_of(ws, codes, (), ["event_time", "site_id", "no_such_column"])
        assert some.schema.names == ["event_id", "trace_code", "event_time", "site_id"]   # schema order
        assert _rows(some) == _rows(full.select(["event_id", "trace_code", "event_time", "site_id"]))
    sql, params = _scan_sql(_project(_events_sql(ws, "trace_code"), ["event_id", "trace_code"]), sorted(codes)[:2], [])
    plan = duckdb.connect().execute("EXPLAIN " + sql, params).fetchall()[0][1]
    scan = plan[plan.index("READ_PARQUET"):]
    assert "Filters:" in scan and "trace_code IN (" in scan and "site_id" not in scan, plan
