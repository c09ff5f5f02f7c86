"""The columnar fast paths of normalise give the same answers as the general ones."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rxring.ingest import ingest
from rxring.ingest.normalise import FileContext, normalise
from rxring.schema import EVENT_SCHEMA

CODE = "81151257914085623274"


def _records(**columns) -> pa.Table:
    n = len(next(iter(columns.values())))
    base = {
        "trace_code": [CODE] * n,
        "event_type": ["dispense"] * n,
        "event_time": ["2025-03-01 10:00:00"] * n,
        "site_id": ["P1"] * n,
    }
    base.update(columns)
    table = pa.table(base)
    return table.append_column("_line", pa.array(range(2, n + 2), type=pa.int64()))


def _normalise(table: pa.Table):
    return normalise(table, FileContext(source_file="in.csv", sha16="0" * 16))


def test_impossible_calendar_dates_are_quarantined_not_rolled_over():
    times = ["2025-02-30 10:00:00", "2025-04-31T08:00:00", "2024-02-29 23:59:59", "2025-03-01 00:00:00"]
    events, quarantine = _normalise(_records(event_time=times, trace_code=[CODE[:-1] + str(i) for i in range(4)]))
    assert sorted(quarantine["source_line"]) == [2, 3]
    assert all(r.startswith("unparseable event time") for r in quarantine["reason"])
    assert events.column("event_time").to_pylist() == [dt.datetime(2024, 2, 29, 23, 59, 59), dt.datetime(2025, 3, 1)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-11", dt.date(2026, 12, 11)),
        ("2026-2-3", dt.date(2026, 2, 3)),
        ("20261211", dt.date(2026, 12, 11)),
        ("2026年12月11日", dt.date(2026, 12, 11)),
        ("2026-02-30", None),
        ("soon", None),
    ],
)
def test_expiry_dates_in_every_spelling(text, expected):
    events, quarantine = _normalise(_records(expiry=[text]))
    assert quarantine.empty
    assert events.column("expiry").to_pylist() == [expected]


def test_trimming_ascii_and_unicode_columns():
    events, quarantine = _normalise(_records(
        site_id=["\tP1 ", "P2"],
        product_name=["\u3000阿莫西林\u00a0", "  "],
        patient_id=["PSN1", ""],
    ))
    assert quarantine.empty
    assert events.column("site_id").to_pylist() == ["P1", "P2"]
    assert events.column("product_name").to_pylist() == ["阿莫西林", None]
    assert events.column("patient_id").to_pylist() == ["PSN1", None]


def test_typed_canonical_parquet_keeps_split_flags_and_times(tmp_path):
    rows = {
        "event_id": ["e1", "e2", "e3"],
        "trace_code": [CODE, CODE, "81151257914085623275"],
        "event_type": ["dispense", "dispense", "inbound"],
        "event_time": [dt.datetime(2025, 3, 1, 9), dt.datetime(2025, 3, 1, 10), None],
        "site_id": ["P1", "P1", "P1"],
        "quantity": [3.0, 4.0, 1.0],
        "split_sale": [True, None, False],
    }
    table = pa.table({name: pa.array(values, type=EVENT_SCHEMA.field(name).type) for name, values in rows.items()})
    pq.write_table(table, tmp_path / "events.parquet")
    report = ingest([tmp_path / "events.parquet"], tmp_path / "ws", progress=False)
    assert (report.read, report.accepted, report.quarantined) == (3, 2, 1)
    events = pq.read_table(next((tmp_path / "ws" / "events").glob("*.parquet"))).to_pydict()
    assert events["split_sale"] == [True, False]
    assert events["event_time"] == [dt.datetime(2025, 3, 1, 9), dt.datetime(2025, 3, 1, 10)]
    quarantine = (tmp_path / "ws" / "quarantine.csv").read_text(encoding="utf-8")
    assert "missing event time" in quarantine
