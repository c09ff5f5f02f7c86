"""Time spellings of issue 19: Excel serial days in text, Chinese 年月日 时分秒, compact forms, map formats."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from rxring.ingest.normalise import FileContext, normalise
from rxring.ingest.times import parse_times


def _one(text: str):
    value = parse_times(pd.Series([text], dtype="object")).iloc[0]
    return None if pd.isna(value) else value.to_pydatetime()


@pytest.mark.parametrize("text, expected", [
    ("45780.4375", datetime(2025, 5, 3, 10, 30)),
    ("45780", datetime(2025, 5, 3)),
    ("2026年5月3日", datetime(2026, 5, 3)),
    ("2026年5月3日 10时", datetime(2026, 5, 3, 10)),
    ("2026年5月3日 10时30分", datetime(2026, 5, 3, 10, 30)),
    ("2026年5月3日 10时30分15秒", datetime(2026, 5, 3, 10, 30, 15)),
    ("2026年05月03日10时30分15秒", datetime(2026, 5, 3, 10, 30, 15)),
    ("20260503103015", datetime(2026, 5, 3, 10, 30, 15)),
    ("20260503", datetime(2026, 5, 3)),
    # what was read before reads the same
    ("2026-03-01 14:31:55", datetime(2026, 3, 1, 14, 31, 55)),
    ("2026-03-01T06:31:55Z", datetime(2026, 3, 1, 14, 31, 55)),
    ("2026/3/1 14:31", datetime(2026, 3, 1, 14, 31)),
    ("2026年5月3日10:30", datetime(2026, 5, 3, 10, 30)),
    ("2026.5.3", datetime(2026, 5, 3)),
])
def test_time_forms(text, expected):
    assert _one(text) == expected


@pytest.mark.parametrize("text", ["10时30分15秒", "2026年2月30日 10时", "2026年5月3日 25时", "19999.5", "123456",
                                  "yesterday", "2026年5月3日 10时61分"])
def test_not_times(text):
    assert _one(text) is None


def _events(times: list[str], formats=()):
    from rxring.ingest.columnmap import ColumnMap

    n = len(times)
    table = pa.table({"trace_code": ["81151257914085623274"] * n, "site_id": ["S1"] * n, "event_type": ["dispense"] * n,
                      "event_time": times, "_line": list(range(2, n + 2))})
    cmap = ColumnMap(path="m.toml", sha256="", text="", time_formats=tuple(formats)) if formats else None
    return normalise(table, FileContext(source_file="f.csv", sha16="0" * 16, column_map=cmap))


def test_map_formats_are_tried_and_named_when_nothing_matches():
    events, quarantine = _events(["03/05/2026 10:30", "31/02/2026 10:30", "下午三点"], ["%d/%m/%Y %H:%M"])
    assert [str(t) for t in events.column("event_time").to_pylist()] == ["2026-05-03 10:30:00"]
    reasons = list(quarantine["reason"])
    assert reasons[0].startswith("unparseable event time '31/02/2026 10:30' (formats tried: %d/%m/%Y %H:%M, ISO 8601")
    assert "'下午三点'" in reasons[1] and "YYYY年M月D日" in reasons[1]


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2030, 12, 31)),
       st.sampled_from(["chinese", "chinese_hour", "compact", "compact_day", "serial"]))
def test_round_trip(moment, form):
    moment = moment.replace(microsecond=0)
    if form == "chinese":
        text, want = f"{moment.year}年{moment.month}月{moment.day}日 {moment.hour}时{moment.minute}分{moment.second}秒", moment
    elif form == "chinese_hour":
        want = moment.replace(minute=0, second=0)
        text = f"{moment.year}年{moment.month:02d}月{moment.day:02d}日 {moment.hour}时"
    elif form == "compact":
        text, want = moment.strftime("%Y%m%d%H%M%S"), moment
    elif form == "compact_day":
        text, want = moment.strftime("%Y%m%d"), moment.replace(hour=0, minute=0, second=0)
    else:
        serial = (moment - datetime(1899, 12, 30)) / timedelta(days=1)
        text, want = repr(serial), moment
    assert _one(text) == want
