"""Negative lines in exports: a return booked as a negative sale is a refund, not junk."""

from __future__ import annotations


def test_negative_line_in_a_sales_export_is_a_refund(run_ingest, tmp_path):
    path = tmp_path / "销售明细.csv"
    path.write_text(
        "追溯码,销售时间,机构编码,数量,人员编号,结算ID,金额\n"
        "81151257914085623274,2026-03-01 10:00:00,P1,1,110000000000000001,S1,22.0\n"
        "81151257914085623274,2026-03-02 10:00:00,P1,-1,110000000000000001,S1,-22.0\n",
        encoding="gbk",
    )
    report, events, quarantine = run_ingest(path)
    assert (report.read, report.accepted, report.quarantined) == (2, 2, 0)
    rows = events.sort_values("event_time")[["event_type", "quantity", "total_amount"]].values.tolist()
    assert rows == [["dispense", 1.0, 22.0], ["refund", 1.0, 22.0]]


def test_typed_refund_with_a_sign_keeps_its_type(run_ingest, tmp_path):
    path = tmp_path / "moves.csv"
    path.write_text(
        "追溯码,业务类型,发生时间,机构编码,数量\n"
        "81151257914085623274,退货,2026-03-02 10:00:00,P1,-1\n"
        "81151257914085623275,盘点,2026-03-02 10:00:00,P1,-1\n"
        "81151257914085623276,销售,2026-03-02 10:00:00,P1,-1\n",
        encoding="utf-8",
    )
    report, events, quarantine = run_ingest(path)
    assert (report.read, report.accepted, report.quarantined) == (3, 1, 2)
    assert events[["trace_code", "event_type", "quantity"]].values.tolist() == [["81151257914085623274", "refund", 1.0]]
    # a typed sale or a stock count with a negative quantity is an error, kept with its reason
    assert sorted(quarantine["source_line"]) == [3, 4]
    assert all(r.startswith("negative quantity -1") for r in quarantine["reason"])
