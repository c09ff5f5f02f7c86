"""One hand-written fixture per format, with the exact canonical rows expected."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rxring.schema import EVENT_SCHEMA

from tests.ingest.helpers import rows

T = pd.Timestamp
D = dt.date
CORE = ["trace_code", "event_type", "event_time", "site_id", "quantity", "split_sale", "total_amount", "fund_amount"]


def test_gbk_sales_export_infers_dispense_and_splits_code_cells(run_ingest, copy_fixture):
    path = copy_fixture("sales_gbk.csv")
    report, events, quarantine = run_ingest(path)
    f = report.files[0]
    assert (f.format, f.encoding, f.read, f.accepted, f.quarantined) == ("csv", "gbk", 4, 4, 0)
    assert any("dispense" in n for n in f.notes)
    assert rows(events, CORE + ["product_name", "batch", "expiry", "patient_id", "prescriber_id", "settlement_id", "source_line"]) == [
        ("81151257914085623274", "dispense", T("2026-03-01 09:15:00"), "P110581609017", 1.0, False, 38.5, 30.8,
         "阿托伐他汀钙片 20mg*7片", "L001", D(2027, 6, 30), "110101199001011234", "D001", "S001", 2),
        ("81151257914085623275", "dispense", T("2026-03-01 10:00:00"), "P110581609017", 1.0, False, 38.5, 30.8,
         "阿托伐他汀钙片 20mg*7片", "L001", D(2027, 6, 30), "110101199001011235", "D002", "S002", 3),
        ("81151257914085623276", "dispense", T("2026-03-01 10:00:00"), "P110581609017", 1.0, False, 38.5, 30.8,
         "阿托伐他汀钙片 20mg*7片", "L001", D(2027, 6, 30), "110101199001011235", "D002", "S002", 3),
        ("82105488001170061166", "dispense", T("2026-03-02 11:09:39"), "P110581609017", 7.0, True, 32.5, None,
         "达格列净片 10mg*14片", "L846246", D(2028, 1, 26), "114770244821828799", "D003", "S003", 4),
    ]
    assert events["event_id"].is_unique
    assert events["source_file"].str.endswith("sales_gbk.csv").all()


def test_gb18030_text_is_read(run_ingest, tmp_path):
    text = "机构编码,追溯码,业务类型,业务时间\nP1,81151257914085623274,销售,2026-03-01 10:00:00\n"
    path = tmp_path / "gb18030.csv"
    path.write_bytes(text.encode("gb18030") + "P2,81151257914085623275,销售,2026-03-01 10:00:00,\n".encode("gb18030")[:0])
    report, events, _ = run_ingest(path)
    assert report.files[0].encoding in ("gbk", "gb18030")
    assert rows(events, ["trace_code", "event_type", "site_id"]) == [("81151257914085623274", "dispense", "P1")]


def test_utf8_bom_stock_movements_map_chinese_event_types(run_ingest, copy_fixture):
    report, events, _ = run_ingest(copy_fixture("stock_utf8bom.csv"))
    assert report.files[0].encoding == "utf-8-sig"
    code = "86243404501030440470"
    assert rows(events, ["trace_code", "event_type", "event_time", "site_id", "counterparty", "batch"]) == [
        (code, "inbound", T("2026-02-10 08:00:00"), "P110623843176", "上海医药分销", "L365949"),
        (code, "transfer_out", T("2026-02-11 09:00:00"), "P110623843176", None, "L365949"),
        (code, "transfer_in", T("2026-02-11 15:30:00"), "P111166992568", None, "L365949"),
        (code, "inventory", T("2026-02-28 00:00:00"), "P111166992568", None, "L365949"),
        (code, "refund", T("2026-03-01 10:00:00"), "P111166992568", None, "L365949"),
    ]


EXPECTED_CANONICAL = [
    ("E1", "010950600013435221SN0001", "dispense", T("2026-03-01 10:00:00"), "P110581609017", 1.0, False, 38.5, 30.8,
     "gs1", "09506000134352", "SN0001", D(2027, 1, 31), "LOT7", D(2027, 1, 31), "PSN1", "D001", "PH1", "S100", None, "R1"),
    ("E2", "81151257914085623274", "inbound", T("2026-02-01 08:00:00"), "P110581609017", 1.0, False, 20.0, None,
     "cn20", "8115125", "7914085623274", None, None, D(2027, 6, 30), None, None, None, None, "国药控股北京有限公司", "R2"),
]
CANONICAL_COLUMNS = ["event_id", *CORE, "code_kind", "code_product", "code_serial", "code_expiry", "code_lot", "expiry",
                     "patient_id", "prescriber_id", "pharmacist_id", "settlement_id", "counterparty", "record_no"]


def test_canonical_csv(run_ingest, copy_fixture):
    report, events, _ = run_ingest(copy_fixture("canonical.csv"))
    assert (report.files[0].read, report.files[0].accepted) == (2, 2)
    assert rows(events, CANONICAL_COLUMNS) == EXPECTED_CANONICAL


def test_canonical_parquet_with_typed_columns(run_ingest, fixtures, tmp_path):
    frame = pd.read_csv(fixtures / "canonical.csv", dtype=str)
    frame["quantity"] = frame["quantity"].astype(float)
    frame["fund_amount"] = pd.to_numeric(frame["fund_amount"])
    frame["total_amount"] = pd.to_numeric(frame["total_amount"])
    frame["split_sale"] = frame["split_sale"].map({"false": False, "0": False})
    path = tmp_path / "canonical.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    report, events, _ = run_ingest(path)
    assert report.files[0].format == "parquet"
    assert rows(events, CANONICAL_COLUMNS) == EXPECTED_CANONICAL
    assert rows(events, ["source_line"]) == [(1,), (2,)]


def test_parquet_written_by_rxring_reingests_identically(run_ingest, copy_fixture, tmp_path):
    _, events, _ = run_ingest(copy_fixture("canonical.csv"), workspace=tmp_path / "a")
    path = tmp_path / "export.parquet"
    pq.write_table(pa.Table.from_pandas(events, schema=EVENT_SCHEMA, preserve_index=False), path)
    _, again, _ = run_ingest(path, workspace=tmp_path / "b")
    keep = [c for c in EVENT_SCHEMA.names if c not in ("source_file", "source_line")]
    pd.testing.assert_frame_equal(events[keep], again[keep])


def test_xlsx_with_chinese_headers_title_row_and_numeric_code(run_ingest, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "销售明细"
    ws.append(["某某大药房销售明细"])  # a title row above the header
    ws.append(["机构编码", "药品追溯码", "业务类型", "销售时间", "数量", "拆零标志", "人员编号", "基金支付", "金额"])
    ws.append(["P1", "81151257914085623274", "销售", dt.datetime(2026, 3, 1, 9, 30), 1, 0, "PSN1", 10.5, 12])
    ws.append(["P1", "81151257914085623275,81151257914085623276", "销售", "2026-03-01 10:00", 2, "否", "PSN2", None, 24])
    ws.append([None, None, None, None])
    ws.append(["P1", 81151257914085623277, "销售", "2026-03-01 11:00", 1, 0, "PSN3", None, 12])  # code stored as a number
    path = tmp_path / "sales.xlsx"
    wb.save(path)
    report, events, quarantine = run_ingest(path)
    f = report.files[0]
    assert (f.format, f.read, f.accepted, f.quarantined, f.blank) == ("xlsx", 4, 3, 1, 1)
    assert rows(events, ["trace_code", "event_time", "quantity", "fund_amount", "total_amount", "patient_id", "source_line"]) == [
        ("81151257914085623274", T("2026-03-01 09:30:00"), 1.0, 10.5, 12.0, "PSN1", 3),
        ("81151257914085623275", T("2026-03-01 10:00:00"), 1.0, None, 12.0, "PSN2", 4),
        ("81151257914085623276", T("2026-03-01 10:00:00"), 1.0, None, 12.0, "PSN2", 4),
    ]
    assert quarantine["source_line"].tolist() == [6]
    assert "lost digits" in quarantine["reason"].iloc[0]


def test_gzipped_input_is_read_like_the_plain_one(run_ingest, fixtures, tmp_path):
    path = tmp_path / "sales.csv.gz"
    with open(fixtures / "sales_gbk.csv", "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    report, events, _ = run_ingest(path)
    assert report.files[0].accepted == 4 and len(events) == 4


def test_tsv_and_semicolon_delimiters(run_ingest, tmp_path):
    (tmp_path / "a.tsv").write_text("追溯码\t机构编码\t业务类型\t业务时间\n81151257914085623274\tP1\t采购入库\t2026-01-01\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("追溯码;机构编码;业务类型;业务时间\n81151257914085623275;P1;采购入库;2026-01-02\n", encoding="utf-8")
    report, events, _ = run_ingest(tmp_path / "a.tsv", tmp_path / "b.txt")
    assert [f.format for f in report.files] == ["tsv", "csv"]
    assert sorted(events["trace_code"]) == ["81151257914085623274", "81151257914085623275"]


def test_master_tables_go_to_masters(run_ingest, fixtures, tmp_path):
    (tmp_path / "patients.csv").write_text("人员编号,姓名\nPSN1,张三\n,无编号\n", encoding="utf-8")
    report, events, quarantine = run_ingest(fixtures / "examples" / "sites.csv", fixtures / "examples" / "products.csv",
                                            tmp_path / "patients.csv")
    assert [f.table for f in report.files] == ["masters/sites", "masters/products", "masters/patients"]
    assert events.empty
    from rxring.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    sites = ws.master("sites")
    assert list(sites.columns[:5]) == ["site_id", "name", "kind", "chain", "region"]
    assert sites.set_index("site_id").loc["P110623843176", "chain"] == "嘉事堂"
    products = ws.master("products")
    row = products.set_index("product_code").loc["XJ6238A2042574571355"]
    assert (row["name"], row["pack_units"], row["price"]) == ("阿托伐他汀钙片 20mg*7片", 7, 38.5)
    assert ws.master("patients")["patient_id"].tolist() == ["PSN1"]
    assert quarantine["reason"].tolist() == ["missing patient_id"]
    assert report.files[2].read == 2 and report.files[2].balanced


def test_quoted_cell_with_one_code_per_line(run_ingest, tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text(
        '机构编码,追溯码,业务类型,业务时间,数量\n'
        'P1,"81151257914085623274\n81151257914085623275",采购入库,2026-01-01 08:00:00,2\n'
        'P1,81151257914085623276 81151257914085623277,采购入库,2026-01-01 09:00:00,2\n',
        encoding="utf-8",
    )
    report, events, _ = run_ingest(path)
    assert (report.files[0].read, report.files[0].accepted) == (4, 4)
    assert rows(events, ["trace_code", "quantity", "source_line"]) == [
        ("81151257914085623274", 1.0, 2), ("81151257914085623275", 1.0, 2),
        ("81151257914085623276", 1.0, 4), ("81151257914085623277", 1.0, 4),   # physical line: row 1 spans 2-3
    ]


def test_source_line_is_the_physical_line_after_multi_line_quoted_values(run_ingest, tmp_path):
    """Line breaks inside quoted values (LF or CRLF) push later rows down, as an editor shows them."""
    path = tmp_path / "notes.csv"
    path.write_bytes(
        "追溯码,机构编码,业务类型,业务时间,备注\n"
        "81151257914085623274,P1,采购入库,2026-01-01 08:00:00,\"line one\nline two\"\n"
        "81151257914085623275,P1,采购入库,2026-01-01 09:00:00,plain\n"
        "81151257914085623276,P1,采购入库,2026-01-01 10:00:00,\"a\r\nb\nc\"\n"
        "81151257914085623277,P1,采购入库,2026-01-01 11:00:00,end\n".encode("utf-8"))
    report, events, _ = run_ingest(path)
    assert report.files[0].balanced
    physical = path.read_bytes().split(b"\n")
    got = dict(rows(events, ["trace_code", "source_line"]))
    assert got == {"81151257914085623274": 2, "81151257914085623275": 4,
                   "81151257914085623276": 5, "81151257914085623277": 8}
    for code, line in got.items():
        assert physical[line - 1].startswith(code.encode())


def test_xlsx_workbook_with_events_and_master_sheets(run_ingest, tmp_path):
    wb = openpyxl.Workbook()
    sales = wb.active
    sales.title = "sales"
    sales.append(["fixmedins_code", "drug_trac_codg", "infno", "sel_retn_time", "psn_no"])
    sales.append(["P1", "81151257914085623274", "3505", "2026-03-01 10:00:00", "PSN1"])
    sites = wb.create_sheet("sites")
    sites.append(["site_id", "name", "kind"])
    sites.append(["P1", "仁心药店", "pharmacy"])
    wb.create_sheet("notes").append(["这一页只是说明"])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    report, events, _ = run_ingest(path)
    f = report.files[0]
    assert (f.read, f.accepted, f.quarantined) == (2, 2, 0)
    assert rows(events, ["trace_code", "event_type", "patient_id", "source_file", "source_line"]) == [
        ("81151257914085623274", "dispense", "PSN1", f"{path.as_posix()}#sales", 2)
    ]
    from rxring.workspace import Workspace

    assert Workspace(tmp_path / "ws").master("sites")["name"].tolist() == ["仁心药店"]


def test_flat_json_records(run_ingest, tmp_path):
    records = [
        {"追溯码": "81151257914085623274", "机构编码": "P1", "业务类型": "调拨出库", "业务时间": "2026-03-01 10:00", "数量": 1},
        {"追溯码": "81151257914085623275", "机构编码": "P1", "业务类型": "调拨出库", "业务时间": "2026-03-01 10:00", "数量": "abc"},
        {"name": "no code here"},
    ]
    path = tmp_path / "records.json"
    path.write_text(__import__("json").dumps(records, ensure_ascii=False), encoding="utf-8")
    report, events, quarantine = run_ingest(path)
    f = report.files[0]
    assert (f.format, f.read, f.accepted, f.quarantined) == ("records-json", 3, 1, 2)
    assert rows(events, ["trace_code", "event_type", "source_line"]) == [("81151257914085623274", "transfer_out", 1)]
    assert sorted(quarantine["source_line"]) == [2, 3]


def test_no_progress_output_when_not_a_terminal(run_ingest, copy_fixture, capsys):
    run_ingest(copy_fixture("sales_gbk.csv"))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_parquet_with_utc_timestamps_and_integer_quantity(run_ingest, tmp_path):
    table = pa.table({
        "trace_code": ["81151257914085623274"],
        "event_type": ["dispense"],
        "event_time": pa.array([pd.Timestamp("2026-03-01 02:00:00", tz="UTC")], type=pa.timestamp("us", tz="UTC")),
        "site_id": ["P1"],
        "quantity": pa.array([3], type=pa.int32()),
    })
    path = tmp_path / "utc.parquet"
    pq.write_table(table, path)
    _, events, _ = run_ingest(path)
    assert rows(events, ["event_time", "quantity"]) == [(T("2026-03-01 10:00:00"), 3.0)]
