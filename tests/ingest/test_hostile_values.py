"""Non-finite or absurd quantities and money, and implausible event times, are quarantined.

Every rejected row lands in quarantine.csv with its file, line and reason, the
accounting stays balanced (read = accepted + quarantined), and JSON output is
always valid JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.commands.output import dumps, jsonable
from rxring.errors import RxringError
from rxring.ingest.normalise import (MAX_AMOUNT, MAX_QUANTITY, TIME_WINDOW_ENV, FileContext, normalise,
                                     parse_time_window, time_window)

CODE = "8115125791408562"  # + 4 digits per row
HEADER = "trace_code,event_type,event_time,site_id,quantity,total_amount,fund_amount,expiry\n"


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity (which are not JSON)."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def balanced(report) -> None:
    for f in report.files:
        assert f.read == f.accepted + f.quarantined, f
    assert report.read == report.accepted + report.quarantined


def reasons_by_line(quarantine: pd.DataFrame, name: str) -> dict[int, str]:
    rows = quarantine[quarantine["source_file"].str.endswith(name)]
    return dict(zip(rows["source_line"], rows["reason"]))


# (quantity, total, fund, event time, expected reason start or None when accepted)
CSV_CASES = [
    ("1", "20", "15", "2025-03-01 10:00:00", None),
    ("inf", "20", "", "2025-03-01 10:00:00", "quantity inf is not a finite number"),
    ("-inf", "20", "", "2025-03-01 10:00:00", "quantity -inf is not a finite number"),
    ("NaN", "20", "", "2025-03-01 10:00:00", "quantity 'NaN' is not a number"),
    ("1e308", "20", "", "2025-03-01 10:00:00", "quantity 1e+308 is absurd"),
    ("2000000", "20", "", "2025-03-01 10:00:00", "quantity 2000000 is absurd"),
    ("1", "inf", "", "2025-03-01 10:00:00", "total amount inf is not a finite number"),
    ("1", "NaN", "", "2025-03-01 10:00:00", "total amount 'NaN' is not a number"),
    ("1", "20", "1e308", "2025-03-01 10:00:00", "fund amount 1e+308 is absurd"),
    ("1", "-1e9", "", "2025-03-01 10:00:00", "total amount -1000000000 is absurd"),
    ("1", "lots", "", "2025-03-01 10:00:00", "total amount 'lots' is not a number"),
    ("1", "20", "", "9999-01-01 00:00:00", "event time '9999-01-01 00:00:00' is outside the plausible window"),
    ("1", "20", "", "1677-01-01", "event time '1677-01-01' is outside the plausible window"),
    ("1", "20", "", "-1", "event time '-1' is outside the plausible window"),
    ("1", "20", "", "1999-12-31 23:59:59", "event time '1999-12-31 23:59:59' is outside"),
    ("1", "20", "", "2000-01-01 00:00:00", None),
    ("1", "999999", "", "2025-03-01 10:00:00", None),
    ("1000000", "20", "", "2025-03-01 10:00:00", None),
]


def test_hostile_csv_values_are_quarantined_with_reasons(tmp_path, run_ingest):
    path = tmp_path / "in" / "hostile.csv"
    path.parent.mkdir()
    lines = [f"{CODE}{i:04d},dispense,{when},S1,{q},{total},{fund},\n" for i, (q, total, fund, when, _) in enumerate(CSV_CASES)]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    report, events, quarantine = run_ingest(path)
    balanced(report)
    got = reasons_by_line(quarantine, "hostile.csv")
    expected = {i + 2: why for i, (*_, why) in enumerate(CSV_CASES) if why}
    assert sorted(got) == sorted(expected)
    for line, why in expected.items():
        assert got[line].startswith(why), (line, got.get(line))
    assert len(events) + len(got) == len(CSV_CASES)
    for column in ("quantity", "total_amount", "fund_amount"):
        values = events[column].dropna()
        assert np.isfinite(values).all()
    assert events["event_time"].min() >= pd.Timestamp("2000-01-01")


def test_hostile_nhsa_values_are_quarantined(tmp_path, run_ingest):
    """JSON's NaN / Infinity literals and 1e308 in NHSA messages (count, price, fund, time)."""
    def message(i, **fields):
        base = {"infno": "3505", "msgid": f"M{i}", "fixmedins_code": "S1", "psn_no": "P1", "setl_id": f"T{i}",
                "finl_trns_pric": 20.0, "sel_retn_cnt": 1, "sel_retn_time": "2025-03-01 10:00:00", "trdn_flag": "0",
                "fixmedins_bchno": f"B{i}", "drug_trac_codg": f"{CODE}{i:04d}"}
        base.update(fields)
        return json.dumps(base)  # allow_nan: writes NaN / Infinity as real exports sometimes do

    cases = [
        ({}, None),
        ({"finl_trns_pric": float("inf")}, "total amount inf"),
        ({"finl_trns_pric": float("nan")}, "total amount nan"),
        ({"finl_trns_pric": 1e308, "sel_retn_cnt": 10}, "total amount"),
        ({"fund_pay_sumamt": 1e308}, "fund amount 1e+308 is absurd"),
        ({"fund_pay_sumamt": float("-inf")}, "fund amount -inf is not a finite number"),
        ({"trdn_flag": "1", "sel_retn_cnt": 1e308}, "quantity 1e+308 is absurd"),
        ({"trdn_flag": "1", "sel_retn_cnt": float("inf")}, "quantity inf is not a finite number"),
        ({"sel_retn_time": "-1"}, "event time '-1' is outside"),
        ({"sel_retn_time": "9999-12-31 23:59:59"}, "event time '9999-12-31 23:59:59' is outside"),
        ({"sel_retn_time": "1677-09-21 00:12:44"}, "event time '1677-09-21 00:12:44' is outside"),
    ]
    path = tmp_path / "in" / "hostile.jsonl"
    path.parent.mkdir()
    path.write_text("".join(message(i, **fields) + "\n" for i, (fields, _) in enumerate(cases)), encoding="utf-8")
    report, events, quarantine = run_ingest(path)
    balanced(report)
    got = reasons_by_line(quarantine, "hostile.jsonl")
    expected = {i + 1: why for i, (_, why) in enumerate(cases) if why}
    assert sorted(got) == sorted(expected)
    for line, why in expected.items():
        assert got[line].startswith(why), (line, got[line])
    assert len(events) == 1


def test_typed_parquet_values_take_the_same_rules(tmp_path, run_ingest):
    """The columnar path: typed floats and timestamps (no text) are checked the same way."""
    n = 7
    table = pa.table({
        "event_id": [f"e{i}" for i in range(n)],
        "trace_code": [f"{CODE}{i:04d}" for i in range(n)],
        "event_type": ["dispense"] * n,
        "event_time": pa.array([dt.datetime(2025, 3, 1), dt.datetime(2025, 3, 1), dt.datetime(2025, 3, 1),
                                dt.datetime(2025, 3, 1), dt.datetime(9999, 1, 1), dt.datetime(1677, 1, 1),
                                dt.datetime(2025, 3, 1)], type=pa.timestamp("us")),
        "site_id": ["S1"] * n,
        "quantity": [1.0, math.inf, math.nan, 1.0, 1.0, 1.0, 1.0],
        "total_amount": [20.0, 20.0, 20.0, 1e300, 20.0, 20.0, None],
        "fund_amount": pa.array([15, 15, 15, 15, 15, 15, 10**12], type=pa.int64()),
    })
    path = tmp_path / "in" / "typed.parquet"
    path.parent.mkdir()
    pq.write_table(table, path)
    report, events, quarantine = run_ingest(path)
    balanced(report)
    got = reasons_by_line(quarantine, "typed.parquet")
    assert got[2].startswith("quantity inf is not a finite number")
    assert got[3].startswith("quantity nan is not a finite number")
    assert got[4].startswith("total amount 1e+300 is absurd")
    assert got[5].startswith("event time '9999-01-01 00:00:00") and "plausible window" in got[5]
    assert got[6].startswith("event time '1677-01-01 00:00:00") and "plausible window" in got[6]
    assert got[7].startswith("fund amount 1e+12 is absurd")
    assert list(events["event_id"]) == ["e0"]


def test_the_window_ends_a_year_after_the_ingest_time(monkeypatch):
    monkeypatch.delenv(TIME_WINDOW_ENV, raising=False)
    now = dt.datetime(2026, 3, 1, 12)
    earliest, latest = time_window(now)
    assert earliest == dt.datetime(2000, 1, 1)
    assert dt.datetime(2027, 3, 1, 12) <= latest <= dt.datetime(2027, 3, 3)
    soon = (pd.Timestamp.now() + pd.Timedelta(days=180)).strftime("%Y-%m-%d %H:%M:%S")
    later = (pd.Timestamp.now() + pd.Timedelta(days=800)).strftime("%Y-%m-%d %H:%M:%S")
    table = pa.table({"trace_code": [f"{CODE}0001", f"{CODE}0002"], "event_type": ["dispense"] * 2,
                      "event_time": [soon, later], "site_id": ["S1"] * 2, "_line": pa.array([2, 3], pa.int64())})
    events, quarantine = normalise(table, FileContext(source_file="in.csv", sha16="0" * 16))
    assert events.num_rows == 1 and list(quarantine["source_line"]) == [3]
    assert "plausible window" in quarantine["reason"][0] and TIME_WINDOW_ENV in quarantine["reason"][0]


@pytest.mark.parametrize("text, expected", [
    ("2015-01-01..2030-12-31", (dt.datetime(2015, 1, 1), dt.datetime(2030, 12, 31))),
    ("2015-01-01 08:00:00..", (dt.datetime(2015, 1, 1, 8), None)),
    ("..2030-12-31", (dt.datetime(2000, 1, 1), dt.datetime(2030, 12, 31))),
])
def test_time_window_spellings(text, expected):
    earliest, latest = parse_time_window(text, now=dt.datetime(2026, 1, 1))
    assert earliest == expected[0]
    assert latest == (expected[1] or dt.datetime(2026, 1, 1) + dt.timedelta(days=366))


@pytest.mark.parametrize("text", ["2015", "2030-01-01..2015-01-01", "soon..later", "2015-01-01T00:00+08:00.."])
def test_bad_time_windows_are_refused(text):
    with pytest.raises(RxringError):
        parse_time_window(text)


def test_window_from_the_environment_and_the_cli(tmp_path, monkeypatch):
    path = tmp_path / "in" / "old.csv"
    path.parent.mkdir()
    path.write_text(HEADER + f"{CODE}0001,dispense,1995-06-01 10:00:00,S1,1,,,\n"
                    + f"{CODE}0002,dispense,2025-06-01 10:00:00,S1,1,,,\n", encoding="utf-8")
    monkeypatch.setenv(TIME_WINDOW_ENV, "1990-01-01..2020-01-01")
    table = pa.table({"trace_code": [f"{CODE}0001"], "event_type": ["dispense"], "event_time": ["1995-06-01 10:00:00"],
                      "site_id": ["S1"], "_line": pa.array([2], pa.int64())})
    events, quarantine = normalise(table, FileContext(source_file="in.csv", sha16="0" * 16))
    assert events.num_rows == 1 and quarantine.empty
    monkeypatch.delenv(TIME_WINDOW_ENV)

    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(path), "-w", str(tmp_path / "ws"), "--no-progress", "--json",
                                 "--time-window", "1990-01-01..2020-01-01"])
    assert result.exit_code == 0, result.output
    report = strict_json(result.output)
    assert (report["totals"]["accepted"], report["totals"]["quarantined"]) == (1, 1)
    assert TIME_WINDOW_ENV not in os.environ  # the option does not outlive the command
    qrows = pd.read_csv(tmp_path / "ws" / "quarantine.csv")
    assert list(qrows["source_line"]) == [3] and "2020-01-01" in qrows["reason"][0]

    result = runner.invoke(cli, ["ingest", str(path), "-w", str(tmp_path / "ws2"), "--time-window", "2030..2020"])
    assert result.exit_code == 2 and "time window" in result.output
    assert not (tmp_path / "ws2").exists()


def test_implausible_expiry_dates_are_no_expiry():
    texts = ["9999-12-31", "-1", "1677-01-01", "2027-06-30"]
    n = len(texts)
    table = pa.table({"trace_code": [f"{CODE}{i:04d}" for i in range(n)], "event_type": ["dispense"] * n,
                      "event_time": ["2025-03-01 10:00:00"] * n, "site_id": ["S1"] * n, "expiry": texts,
                      "_line": pa.array(range(2, n + 2), pa.int64())})
    events, quarantine = normalise(table, FileContext(source_file="in.csv", sha16="0" * 16))
    assert quarantine.empty
    assert events.column("expiry").to_pylist() == [None, None, None, dt.date(2027, 6, 30)]


def test_bounds_are_the_documented_ones():
    assert MAX_QUANTITY == 1e6 and MAX_AMOUNT == 1e8


def test_json_output_is_always_valid_json():
    payload = {"stats": {"score": float("inf"), "fund": np.float64("nan"), "n": np.int64(3)},
               "rings": pd.DataFrame({"score": [math.inf, -math.inf, 1.5], "when": [pd.NaT, pd.Timestamp("2025-01-01"), None]}),
               "list": [np.float32("inf"), {"deep": [float("-inf")]}]}
    parsed = strict_json(dumps(payload))
    assert parsed["stats"] == {"score": None, "fund": None, "n": 3}
    assert [r["score"] for r in parsed["rings"]] == [None, None, 1.5]
    assert parsed["list"] == [None, {"deep": [None]}]
    assert jsonable(float("nan")) is None


def test_decorated_and_unicode_numbers_are_read_and_nonsense_is_quarantined():
    quantities = ["٢", "１２", "3", "lots", "1"]
    totals = ["¥1,234.50", "12元", "RMB 7", "20", "1_000"]
    n = len(quantities)
    table = pa.table({"trace_code": [f"{CODE}{i:04d}" for i in range(n)], "event_type": ["dispense"] * n,
                      "event_time": ["2025-03-01 10:00:00"] * n, "site_id": ["S1"] * n, "split_sale": ["1"] * n,
                      "quantity": quantities, "total_amount": totals, "_line": pa.array(range(2, n + 2), pa.int64())})
    events, quarantine = normalise(table, FileContext(source_file="in.csv", sha16="0" * 16))
    assert events.column("quantity").to_pylist() == [2.0, 12.0, 3.0]
    assert events.column("total_amount").to_pylist() == [1234.5, 12.0, 7.0]
    assert dict(zip(quarantine["source_line"], quarantine["reason"])) == {
        5: "quantity 'lots' is not a number", 6: "total amount '1_000' is not a number"}


# Cell texts pyarrow's CSV reader took for missing values, in a number column: before, quantity
# "NaN" silently became the default quantity 1.  (quantity, total, expected reason or the quantity kept)
MISSING_TEXT_CASES = [
    ("", "", 1.0),  # a genuinely empty cell keeps the default
    ("NaN", "", "quantity 'NaN' is not a number"),
    ("nan", "", "quantity 'nan' is not a number"),
    ("NA", "", "quantity 'NA' is not a number"),
    ("N/A", "", "quantity 'N/A' is not a number"),
    ("null", "", "quantity 'null' is not a number"),
    ("NULL", "", "quantity 'NULL' is not a number"),
    ("None", "", "quantity 'None' is not a number"),
    ("#N/A", "", "quantity '#N/A' is not a number"),
    ("-NaN", "", "quantity '-NaN' is not a number"),
    ("inf", "", "quantity inf is not a finite number"),
    ("Infinity", "", "quantity inf is not a finite number"),
    ("1", "null", "total amount 'null' is not a number"),
    ("1", "NaN", "total amount 'NaN' is not a number"),
    ("1", "NA", "total amount 'NA' is not a number"),
    # effectively zero but not zero: nonsense for a count of packs or smallest units
    ("1e-320", "", "quantity 1e-320 is implausibly small (not zero, less than 0.001"),
    ("0.0000001", "", "quantity 1e-7 is implausibly small"),
    ("-1e-320", "", "quantity -1e-320 is implausibly small"),
    ("-0", "", 0.0),  # zero, as "0" is (and not a negative quantity, nor a refund)
    ("0", "", 0.0),
    ("0.5", "", 0.5),  # half a tablet (a split sale)
]


@pytest.mark.parametrize("reader", ["csv", "csv-line-by-line", "xlsx"])
def test_missing_value_texts_in_numbers_are_quarantined_not_defaulted(tmp_path, run_ingest, monkeypatch, reader):
    from rxring.ingest.formats import tabular

    header = ["trace_code", "event_type", "event_time", "site_id", "quantity", "total_amount", "split_sale",
              "patient_id"]
    rows = [[f"{CODE}{i:04d}", "dispense", "2025-03-01 10:00:00", "S1", q, total, "1", "NULL" if i % 2 else "P9"]
            for i, (q, total, _) in enumerate(MISSING_TEXT_CASES)]
    path = tmp_path / "in" / f"missing.{'xlsx' if reader == 'xlsx' else 'csv'}"
    path.parent.mkdir()
    if reader == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        book.active.append(header)
        for row in rows:
            book.active.append([v if v != "" else None for v in row])
        book.save(path)
    else:
        lines = [",".join(header)] + [",".join(row) for row in rows]
        if reader == "csv-line-by-line":  # a quote never closed, longer than the parse block, comes first
            monkeypatch.setattr(tabular, "CSV_BLOCK", 1 << 12)
            lines.insert(1, '"' + "x" * 20_000)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report, events, quarantine = run_ingest(path)
    balanced(report)
    assert any("line by line" in note for note in report.files[0].notes) == (reader == "csv-line-by-line")
    shift = 3 if reader == "csv-line-by-line" else 2
    got = reasons_by_line(quarantine, path.name)
    got.pop(2, None) if reader == "csv-line-by-line" else None  # the broken line itself
    expected = {i + shift: want for i, (_, _, want) in enumerate(MISSING_TEXT_CASES) if isinstance(want, str)}
    assert sorted(got) == sorted(expected)
    for line, want in expected.items():
        assert got[line].startswith(want), (line, got[line])
    kept = {int(line): qty for line, qty in zip(events["source_line"], events["quantity"])}
    assert kept == {i + shift: want for i, (_, _, want) in enumerate(MISSING_TEXT_CASES) if not isinstance(want, str)}
    assert all(str(q) != "-0.0" for q in events["quantity"])
    # in a text column the same words still mean missing (CSV), as before: no patient called "NULL"
    if reader != "xlsx":
        assert set(events["patient_id"].dropna()) == {"P9"}
