"""NHSA batch twins (3501A-3506A), the settlement channel (2204/2207, 2301/2304, 2208, 2305, 2601),
request/response logs, and interfaces without trace codes (skipped, counted by infno).

Events are read from the parts as written (``EVENT_SCHEMA`` + ``EVENT_ORIGIN_SCHEMA``), so
the origin columns (message_id, visit_id, channel) are checked along with the event columns.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.ingest import ingest
from rxring.ingest.feedetails import FEE_DETAIL_SCHEMA, fee_details_path, read_fee_details
from rxring.ingest.store import DELETION_SCHEMA, committed_sizes, restore_committed
from rxring.schema import EVENT_ORIGIN_COLUMNS, EVENT_SCHEMA
from rxring.workspace import Workspace

from .helpers import rows

SITE = "P110105123450"
HOSP = "H110106987650"
CODE1, CODE2, CODE3 = "81092461234567890012", "81092461234567890013", "81356780000012345678"


def write_jsonl(path, messages):
    path.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages), encoding="utf-8")
    return path


def parts(ws) -> pd.DataFrame:
    """Every event row as written, origin columns included, in file and line order."""
    tables = [pq.read_table(p) for p in Workspace(ws).event_parts()]
    frame = pd.concat([t.to_pandas() for t in tables], ignore_index=True) if tables else pd.DataFrame()
    return frame.sort_values(["source_file", "source_line", "event_id"]).reset_index(drop=True) if len(frame) else frame


def run(tmp_path, *files, ws_name="ws"):
    ws = tmp_path / ws_name
    report = ingest([str(f) for f in files], ws, progress=False)
    qpath = ws / "quarantine.csv"
    quarantine = pd.read_csv(qpath, dtype=str, keep_default_na=False) if qpath.exists() else pd.DataFrame(
        columns=["source_file", "source_line", "reason", "raw"])
    return report, parts(ws), quarantine, Workspace(ws)


# ----------------------------------------------------------------------------- batch twins

# one row's fields per interface (single-row body key, batch rows key, its fields)
TWINS = {
    "3501": ("invinfo", "invinfoDetail", {"med_list_codg": "XB01", "fixmedins_hilist_name": "阿司匹林肠溶片",
                                          "manu_lotnum": "L1", "expy_end": "2027-01-31", "invdate": "2026-04-01",
                                          "inv_cnt": "2", "fixmedins_bchno": "INV1"}),
    "3502": ("invinfo", "invinfoDetail", {"med_list_codg": "XB02", "inv_chg_type": "102", "cnt": "2", "pric": "10",
                                          "inv_chg_time": "2026-04-02 10:00:00", "fixmedins_bchno": "CHG1"}),
    "3503": ("purcinfo", "purcinfoDetail", {"med_list_codg": "XB03", "spler_name": "国药控股", "purc_retn_cnt": "2",
                                            "finl_trns_pric": "30", "purc_retn_stoin_time": "2026-04-03 09:00:00",
                                            "fixmedins_bchno": "PUR1"}),
    "3504": ("purcinfo", "purcinfoDetail", {"med_list_codg": "XB04", "spler_name": "国药控股", "purc_retn_cnt": "2",
                                            "finl_trns_pric": "30", "purc_retn_stoin_time": "2026-04-04 09:00:00",
                                            "fixmedins_bchno": "RET1"}),
    "3505": ("selinfo", "selinfoDetail", {"med_list_codg": "XB05", "fixmedins_hilist_name": "缬沙坦胶囊",
                                          "psn_no": "PSN1", "prsc_dr_certno": "DR1", "phar_certno": "PH1",
                                          "setl_id": "S1", "mdtrt_sn": "M1", "mdtrt_setl_type": "1",
                                          "hi_feesetl_type": "1", "sel_retn_cnt": "2", "finl_trns_pric": "49.5",
                                          "sel_retn_time": "2026-04-05 10:15:32", "trdn_flag": "0",
                                          "fixmedins_bchno": "B1"}),
    "3506": ("selinfo", "selinfoDetail", {"med_list_codg": "XB06", "psn_no": "PSN1", "setl_id": "S1",
                                          "sel_retn_cnt": "2", "finl_trns_pric": "49.5",
                                          "sel_retn_time": "2026-04-06 10:00:00", "trdn_flag": "0",
                                          "medins_prod_sel_no": "M9"}),
}
EXPECTED_TYPE = {"3501": "inventory", "3502": "transfer_out", "3503": "inbound", "3504": "purchase_return",
                 "3505": "dispense", "3506": "refund"}
EVENT_COLUMNS = [c for c in EVENT_SCHEMA.names if c not in ("event_id", "source_file", "source_line")]


@pytest.mark.parametrize("infno", sorted(TWINS))
def test_batch_row_gives_the_events_of_its_single_row_twin(tmp_path, infno):
    body, detail, fields = TWINS[infno]
    codes = {"drugtracinfo": [{"drug_trac_codg": CODE1}, {"drug_trac_codg": CODE2}]}
    single = {"infno": infno, "msgid": "MSG-S", "fixmedins_code": SITE, "input": {body: {**fields, **codes}}}
    other = {**fields, "fixmedins_bchno": "OTHER", "medins_prod_sel_no": "OTHER",
             "drugtracinfo": [{"drug_trac_codg": CODE3}]}
    batch = {"infno": infno + "A", "msgid": "MSG-B", "fixmedins_code": SITE,
             "input": {detail: [{**fields, **codes}, other]}}
    _, single_events, q1, _ = run(tmp_path, write_jsonl(tmp_path / "single.jsonl", [single]), ws_name="ws1")
    report, batch_events, q2, _ = run(tmp_path, write_jsonl(tmp_path / "batch.jsonl", [batch]), ws_name="ws2")
    assert q1.empty and q2.empty and report.balanced
    assert (report.files[0].read, report.files[0].accepted) == (3, 3)
    assert batch_events["event_id"].tolist() == ["MSG-B:0:0", "MSG-B:0:1", "MSG-B:1:0"]
    # the first row: exactly the events of the single-row message
    assert rows(batch_events.iloc[:2], EVENT_COLUMNS) == rows(single_events, EVENT_COLUMNS)
    assert (batch_events["event_type"] == EXPECTED_TYPE[infno]).all()
    assert batch_events["channel"].tolist() == [infno + "A"] * 3 and single_events["channel"].tolist() == [infno] * 2
    assert batch_events["message_id"].tolist() == ["MSG-B"] * 3
    assert batch_events["trace_code"].tolist() == [CODE1, CODE2, CODE3]


def test_3505A_exact_events(tmp_path, fixtures):
    """The shared example's 3505A: an insured row listing two codes, a self-pay row with one."""
    report, events, quarantine, _ = run(tmp_path, fixtures / "nhsa_channels.jsonl")
    sale = events[events["channel"] == "3505A"]
    columns = ["event_id", "trace_code", "event_type", "event_time", "site_id", "product_code", "product_name",
               "batch", "expiry", "quantity", "split_sale", "patient_id", "prescriber_id", "settlement_id",
               "fund_amount", "total_amount", "record_no", "message_id", "visit_id", "channel", "source_line"]
    msg = "P11010512345202605011000010001"
    t1, t2 = pd.Timestamp("2026-05-01 10:15:32"), pd.Timestamp("2026-05-01 10:18:05")
    e1, e2 = datetime(2027, 2, 28).date(), datetime(2027, 11, 1).date()
    assert rows(sale, columns) == [
        (f"{msg}:0:0", CODE1, "dispense", t1, SITE, "XC09CAL048A001010101234", "缬沙坦胶囊 80mg*28粒", "L250301", e1,
         1.0, False, "110105196501013456", "D110105198001010011", "S110105000000123", None, 49.5, "B20260501001",
         msg, "M110105000000123", "3505A", 1),
        (f"{msg}:0:1", CODE2, "dispense", t1, SITE, "XC09CAL048A001010101234", "缬沙坦胶囊 80mg*28粒", "L250301", e1,
         1.0, False, "110105196501013456", "D110105198001010011", "S110105000000123", None, 49.5, "B20260501001",
         msg, "M110105000000123", "3505A", 1),
        # self-pay: no psn_no, no setl_id; the prescriber by name as for 3505
        (f"{msg}:1:0", CODE3, "dispense", t2, SITE, "XA10BAM055A001010101111", "二甲双胍缓释片 0.5g*30片", "L251102",
         e2, 1.0, False, None, "王**", None, None, 25.8, "B20260501002", msg, "OP20260501007", "3505A", 1),
    ]


def test_sibling_drugtracinfo_one_row_attached_two_rows_quarantined(tmp_path):
    row = TWINS["3505"][2]
    one = {"infno": "3505A", "msgid": "ONE", "fixmedins_code": SITE,
           "input": {"selinfoDetail": [row], "drugtracinfo": [{"drug_trac_codg": CODE1}, {"drug_trac_codg": CODE2}]}}
    top = {"infno": "3505A", "msgid": "TOP", "fixmedins_code": SITE, "input": {"selinfoDetail": [row]},
           "drugtracinfo": [{"drug_trac_codg": CODE3}]}
    two = {"infno": "3505A", "msgid": "TWO", "fixmedins_code": SITE,
           "input": {"selinfoDetail": [row, {**row, "fixmedins_bchno": "B2"},
                                       {**row, "fixmedins_bchno": "B3", "drugtracinfo": [{"drug_trac_codg": CODE3}]}],
                     "drugtracinfo": [{"drug_trac_codg": CODE1}, {"drug_trac_codg": CODE2}]}}
    report, events, quarantine, _ = run(tmp_path, write_jsonl(tmp_path / "sibling.jsonl", [one, top, two]))
    f = report.files[0]
    # ONE: 2 codes; TOP: 1 code; TWO: the two code-less rows quarantined (1 each), the row with its own code kept
    assert (f.read, f.accepted, f.quarantined, f.skipped) == (6, 4, 2, 0) and f.balanced
    assert rows(events, ["event_id", "trace_code", "record_no"]) == [
        ("ONE:0:0", CODE1, "B1"), ("ONE:0:1", CODE2, "B1"), ("TOP:0:0", CODE3, "B1"), ("TWO:2:0", CODE3, "B3")]
    assert quarantine["source_line"].tolist() == ["3", "3"]
    assert set(quarantine["reason"]) == {
        "3505A lists 3 rows and one drugtracinfo beside them, not inside the rows: "
        "which row its codes belong to cannot be told"}


# ----------------------------------------------------------------------------- settlement channel A

def fee_detail(infno, msgid, site, sn, cnt, pric, total, visit="MD1", psn="PSN9", product="XB01ACL090"):
    return {"infno": infno, "msgid": msgid, "fixmedins_code": site, "inf_time": "2026-05-02 09:41:10",
            "input": {"feedetail": [{"feedetl_sn": sn, "mdtrt_id": visit, "psn_no": psn, "rxno": "RX1",
                                     "fee_ocur_time": "2026-05-02 09:40:00", "med_list_codg": product,
                                     "medins_list_codg": "Y2201", "det_item_fee_sumamt": total, "cnt": cnt,
                                     "pric": pric, "bilg_dr_codg": "DR9", "bilg_dr_name": "赵**"}]}}


def settlement(infno, msgid, site, entries, output=None, visit="MD1", psn="PSN9"):
    message = {"infno": infno, "msgid": msgid, "fixmedins_code": site, "inf_time": "2026-05-02 09:42:30",
               "input": {"data": {"psn_no": psn, "mdtrt_id": visit, "medfee_sumamt": "236.00"},
                         "drug_trac_info": [{"feedetl_sn": sn, "drug_trac_codg": code, "trdn_flag": flag,
                                             "min_prcunt_type": "2"} for sn, code, flag in entries]}}
    if output is not None:
        message["output"] = output
    return message


SETL_OUT = {"setlinfo": {"setl_id": "S789", "setl_time": "2026-05-02 09:42:28", "medfee_sumamt": "236.00",
                         "fund_pay_sumamt": "165.20"}}
SETTLE_COLUMNS = ["event_id", "trace_code", "event_type", "event_time", "site_id", "product_code", "quantity",
                  "split_sale", "patient_id", "prescriber_id", "settlement_id", "fund_amount", "total_amount",
                  "record_no", "message_id", "visit_id", "channel"]


def test_2204_2207_request_response_in_one_line(tmp_path, fixtures):
    report, events, quarantine, ws = run(tmp_path, fixtures / "nhsa_channels.jsonl")
    t = pd.Timestamp("2026-05-02 09:42:28")
    msg = "H11010698765202605021000000002"
    assert rows(events[events["channel"] == "2207"], SETTLE_COLUMNS) == [
        (f"{msg}:0:0", "81234560000000100001", "dispense", t, HOSP, "XB01ACL090A001010100999", 1.0, False,
         "110106197203034567", "D110106198505050022", "S110106000000789", 82.6, 118.0, "P20260502000017", msg,
         "MD110106000000456", "2207"),
        (f"{msg}:1:0", "81234560000000100002", "dispense", t, HOSP, "XB01ACL090A001010100999", 1.0, False,
         "110106197203034567", "D110106198505050022", "S110106000000789", 82.6, 118.0, "P20260502000017", msg,
         "MD110106000000456", "2207"),
    ]
    fees = read_fee_details(ws).to_pylist()
    assert fees == [{
        "site_id": HOSP, "feedetl_sn": "P20260502000017", "visit_id": "MD110106000000456",
        "patient_id": "110106197203034567", "product_code": "XB01ACL090A001010100999", "medins_list_codg": "Y2201",
        "product_name": None, "quantity": 2.0, "price": 118.0, "total_amount": 236.0,
        "fee_time": "2026-05-02 09:40:00", "prescriber_id": "D110106198505050022", "prescriber_name": "赵**",
        "rxno": "RX20260502017", "infno": "2204", "msgid": "H11010698765202605021000000001",
        "source_file": str(fixtures / "nhsa_channels.jsonl"), "source_line": 2}]
    deletions = ws.deletions()
    assert rows(deletions, ["key_kind", "settlement_id", "event_type", "site_id", "record_no", "infno", "msgid",
                            "patient_id", "visit_id", "source_line"]) == [
        ("settlement_id", "S110106000000789", "dispense", HOSP, None, "2208", "H11010698765202605031000000003",
         "110106197203034567", "MD110106000000456", 4)]
    f = report.files[0]
    # 3 codes of 3505A + 2 of 2207 + 1 fee line + 1 cancellation + 1 sign-in (skipped)
    assert (f.read, f.accepted, f.quarantined, f.skipped, f.skipped_infno) == (8, 7, 0, 1, {"9001": 1})
    assert (f.events, f.fee_details, f.deletions) == (5, 1, 1) and quarantine.empty and not f.notes


def test_fee_details_from_an_earlier_file_and_an_earlier_ingest(tmp_path):
    fee = fee_detail("2204", "F1", HOSP, "SN1", "2", "118", "236")
    settle = settlement("2207", "S-MSG", HOSP, [("SN1", CODE1, "0"), ("SN1", CODE2, "0")], SETL_OUT)
    a = write_jsonl(tmp_path / "a_fees.jsonl", [fee])
    b = write_jsonl(tmp_path / "b_settle.jsonl", [settle])
    _, same_run, _, _ = run(tmp_path, a, b, ws_name="one")
    report_fees, _, _, ws = run(tmp_path, a, ws_name="two")
    assert report_fees.files[0].table == "fee_details" and report_fees.files[0].fee_details == 1
    report, later, _, _ = run(tmp_path, b, ws_name="two")
    columns = ["trace_code", "product_code", "prescriber_id", "total_amount", "fund_amount", "settlement_id"]
    expected = [(CODE1, "XB01ACL090", "DR9", 118.0, 82.6, "S789"), (CODE2, "XB01ACL090", "DR9", 118.0, 82.6, "S789")]
    assert rows(same_run, columns) == rows(later, columns) == expected
    assert not report.files[0].notes


def test_2301_2304_inpatient_split_sale_and_missing_fee_detail(tmp_path):
    fee = fee_detail("2301", "F2", HOSP, "IN1", "14", "3.5", "49", visit="ZY1")
    settle = settlement("2304", "IN-MSG", HOSP, [("IN1", CODE1, "1"), ("NOPE", CODE2, "0")], visit="ZY1")
    report, events, quarantine, ws = run(tmp_path, write_jsonl(tmp_path / "inpatient.jsonl", [fee, settle]))
    # no response: time from the fee line (fee_ocur_time), else the upload time; no setl_id, no fund
    assert rows(events, SETTLE_COLUMNS) == [
        ("IN-MSG:0:0", CODE1, "dispense", pd.Timestamp("2026-05-02 09:40:00"), HOSP, "XB01ACL090", 14.0, True,
         "PSN9", "DR9", None, None, 49.0, "IN1", "IN-MSG", "ZY1", "2304"),
        ("IN-MSG:1:0", CODE2, "dispense", pd.Timestamp("2026-05-02 09:42:30"), HOSP, None, 1.0, False,
         "PSN9", None, None, None, None, "NOPE", "IN-MSG", "ZY1", "2304"),
    ]
    assert events["code_product"].tolist() == [CODE1[:7], CODE2[:7]]  # the product part of the code stays known
    f = report.files[0]
    assert quarantine.empty and (f.read, f.accepted, f.quarantined) == (3, 3, 0)
    note = ("data quality: 1 settlement trace code(s) name a fee detail (feedetl_sn) not read before them (in this "
            "file, an earlier file or the workspace): dispensed without the product, price and prescriber it gives "
            "(first: line 2, feedetl_sn NOPE)")
    assert f.notes == [note]
    manifest = ws.manifest()
    assert manifest["inputs"][0]["notes"] == [note] and manifest["fee_details_rows"] == 1


def test_min_prcunt_type_marks_a_split_sale_when_trdn_flag_is_absent(tmp_path):
    """min_prcunt_type 2 (sold in the smallest unit) is 拆零 when the entry has no trdn_flag; trdn_flag decides when given."""
    fee = fee_detail("2301", "F2", HOSP, "IN1", "14", "3.5", "49", visit="ZY1")
    settle = settlement("2304", "IN-MSG", HOSP, [("IN1", CODE1, "0"), ("IN1", CODE2, "0"), ("IN1", CODE3, "0")])
    info = settle["input"]["drug_trac_info"]
    for entry, (flag, unit) in zip(info, [(None, "2"), ("", "1"), ("0", "2")]):
        entry["min_prcunt_type"] = unit
        if flag is None:
            del entry["trdn_flag"]
        else:
            entry["trdn_flag"] = flag
    report, events, _, _ = run(tmp_path, write_jsonl(tmp_path / "units.jsonl", [fee, settle]))
    # the line's 14 units over the 3 codes naming it for the split one; one pack each for the others
    assert events[["trace_code", "split_sale", "quantity"]].values.tolist() == [
        [CODE1, True, 14 / 3], [CODE2, False, 1.0], [CODE3, False, 1.0]]


def test_2305_and_2601_are_stored_as_deletions(tmp_path):
    cancel = {"infno": "2305", "msgid": "C1", "fixmedins_code": HOSP,
              "input": {"data": {"setl_id": "S789", "mdtrt_id": "ZY1", "psn_no": "PSN9"}}}
    undo_setl = {"infno": "2601", "msgid": "R1", "fixmedins_code": HOSP,
                 "input": {"data": {"psn_no": "PSN9", "omsgid": "IN-MSG", "oinfno": "2304"}}}
    undo_sale = {"infno": "2601", "msgid": "R2", "fixmedins_code": SITE,
                 "input": {"data": {"omsgid": "SALE-MSG", "oinfno": "3505"}}}
    undo_cancel = {"infno": "2601", "msgid": "R3", "fixmedins_code": HOSP, "input": {"data": {"omsgid": "C1"}}}
    no_key = {"infno": "2601", "msgid": "R4", "fixmedins_code": HOSP, "input": {"data": {"psn_no": "PSN9"}}}
    report, events, quarantine, ws = run(
        tmp_path, write_jsonl(tmp_path / "undo.jsonl", [cancel, undo_setl, undo_sale, undo_cancel, no_key]))
    stored = pq.read_table(Workspace(ws).deletions_path)
    assert stored.schema.names == DELETION_SCHEMA.names
    assert rows(stored.to_pandas(), ["key_kind", "settlement_id", "undone_msgid", "event_type", "inv_data_type",
                                     "site_id", "infno", "msgid", "record_no", "source_line"]) == [
        ("settlement_id", "S789", None, "dispense", None, HOSP, "2305", "C1", None, 1),
        ("message_id", None, "IN-MSG", "dispense", "2304", HOSP, "2601", "R1", None, 2),
        ("message_id", None, "SALE-MSG", "dispense", "3505", SITE, "2601", "R2", None, 3),
        ("message_id", None, "C1", None, None, HOSP, "2601", "R3", None, 4),
    ]
    f = report.files[0]
    assert (f.read, f.accepted, f.quarantined, f.deletions, f.table) == (5, 4, 1, 4, "deletions")
    assert quarantine["reason"].tolist() == ["2601 reversal without omsgid (the message it undoes)"]


def test_3507_deletions_keep_their_rows_with_key_kind_record_no(tmp_path, fixtures):
    _, _, _, ws = run(tmp_path, fixtures / "nhsa_3507.jsonl")
    stored = ws.deletions()
    assert len(stored) and (stored["key_kind"] == "record_no").all() and stored["record_no"].notna().all()


def test_request_response_envelopes(tmp_path):
    fee = fee_detail("2204", "F1", HOSP, "SN1", "2", "118", "236")
    request = settlement("2207", "ENV1", HOSP, [("SN1", CODE1, "0"), ("SN1", CODE2, "0")])
    as_objects = {"request": request, "response": {"infcode": 0, "output": SETL_OUT}}
    as_strings = {"req": json.dumps({**request, "msgid": "ENV2"}, ensure_ascii=False),
                  "resp": json.dumps({"infcode": "0", "output": SETL_OUT})}
    failed = {"request": {**request, "msgid": "ENV3"}, "response": {"infcode": -1, "err_msg": "余额不足"}}
    sign_in = {"request": {"infno": "9001", "msgid": "X"}, "response": {"infcode": 0, "output": {"signinoutb": {}}}}
    report, events, quarantine, _ = run(
        tmp_path, write_jsonl(tmp_path / "log.jsonl", [fee, as_objects, as_strings, failed, sign_in]))
    assert rows(events, ["event_id", "settlement_id", "event_time", "fund_amount", "total_amount"]) == [
        ("ENV1:0:0", "S789", pd.Timestamp("2026-05-02 09:42:28"), 82.6, 118.0),
        ("ENV1:1:0", "S789", pd.Timestamp("2026-05-02 09:42:28"), 82.6, 118.0),
        ("ENV2:0:0", "S789", pd.Timestamp("2026-05-02 09:42:28"), 82.6, 118.0),
        ("ENV2:1:0", "S789", pd.Timestamp("2026-05-02 09:42:28"), 82.6, 118.0),
    ]
    # the failed settlement: each of its codes quarantined
    assert quarantine["reason"].tolist() == ["2207 settlement failed (infcode -1: 余额不足): its codes were not dispensed"] * 2
    f = report.files[0]
    assert (f.read, f.accepted, f.quarantined, f.skipped, f.skipped_infno) == (8, 5, 2, 1, {"9001": 1})
    assert f.format == "nhsa-jsonl"


def test_json_document_of_request_response_pairs(tmp_path):
    """A JSON array (not JSON Lines) of log entries, settlement before its fee detail's file."""
    request = settlement("2207", "DOC1", HOSP, [("SN1", CODE1, "0")])
    path = tmp_path / "log.json"
    path.write_text(json.dumps([fee_detail("2204", "F1", HOSP, "SN1", "1", "118", "118"),
                                {"request": request, "response": {"output": SETL_OUT}}], ensure_ascii=False),
                    encoding="utf-8")
    report, events, quarantine, _ = run(tmp_path, path)
    assert rows(events, ["trace_code", "product_code", "total_amount", "source_line", "channel"]) == [
        (CODE1, "XB01ACL090", 118.0, 2, "2207")]
    assert report.files[0].format == "nhsa-json" and quarantine.empty


# ----------------------------------------------------------------------------- accounting on a mixed folder

def test_mixed_folder_accounting(tmp_path, fixtures):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "channels.jsonl").write_text((fixtures / "nhsa_channels.jsonl").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    row = TWINS["3505"][2]
    write_jsonl(folder / "pharmacy.jsonl", [
        {"infno": "1101", "msgid": "Q1", "input": {"data": {"psn_no": "PSN1"}}},
        {"infno": "2201", "msgid": "Q2", "input": {"data": {"psn_no": "PSN1"}}},
        {"infno": "9001", "msgid": "Q3", "input": {"signIn": {}}},
        {"infno": "3505A", "msgid": "TWO", "fixmedins_code": SITE,
         "input": {"selinfoDetail": [row, {**row, "fixmedins_bchno": "B2"}],
                   "drugtracinfo": [{"drug_trac_codg": CODE1}]}},
        {"infno": "5301", "msgid": "Q4", "input": {"data": {"drug_trac_codg": CODE2}}},
        {"infno": "2207", "msgid": "Q5", "fixmedins_code": HOSP, "input": {"data": {"psn_no": "PSN1"}}},
        "not json",
    ])
    (folder / "pharmacy.jsonl").write_text((folder / "pharmacy.jsonl").read_text(encoding="utf-8")
                                           .replace('"not json"', '{broken'), encoding="utf-8")
    result = CliRunner().invoke(cli, ["ingest", str(folder), "-w", str(tmp_path / "ws"), "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    files = {f["path"].rsplit("/", 1)[-1]: f for f in out["files"]}
    pharmacy, channels = files["pharmacy.jsonl"], files["channels.jsonl"]
    # 3 skipped + 2207 without drug_trac_info (skipped) ; 2 unassignable rows + 5301 with a code + broken line
    assert (pharmacy["read"], pharmacy["accepted"], pharmacy["quarantined"], pharmacy["skipped"]) == (8, 0, 4, 4)
    assert pharmacy["skipped_infno"] == {"1101": 1, "2201": 1, "9001": 1, "2207": 1}
    assert (channels["read"], channels["accepted"], channels["quarantined"], channels["skipped"]) == (8, 7, 0, 1)
    assert out["totals"]["read"] == out["totals"]["accepted"] + out["totals"]["quarantined"] + out["totals"]["skipped"]
    assert (out["totals"]["skipped"], out["totals"]["fee_details"]) == (5, 1)
    manifest = Workspace(tmp_path / "ws").manifest()
    assert manifest["totals"]["skipped"] == 5 and manifest["totals"]["read"] == 16
    assert {e["path"].rsplit("/", 1)[-1]: e["skipped_infno"] for e in manifest["inputs"]}["pharmacy.jsonl"] == {
        "1101": 1, "2201": 1, "9001": 1, "2207": 1}
    quarantine = pd.read_csv(tmp_path / "ws" / "quarantine.csv", dtype=str)
    mine = quarantine[quarantine["source_file"].str.endswith("pharmacy.jsonl")]
    lines, reasons = zip(*sorted(zip(mine["source_line"].astype(int), mine["reason"])))
    assert lines == (4, 4, 5, 7)
    assert list(reasons[:2]) == ["3505A lists 2 rows and one drugtracinfo beside them, not inside the rows: which "
                                 "row its codes belong to cannot be told"] * 2
    assert reasons[2].startswith("infno 5301 is not an interface rxring reads") and "holds trace codes" in reasons[2]
    assert reasons[3].startswith("invalid JSON")
    text = CliRunner().invoke(cli, ["ingest", str(folder), "-w", str(tmp_path / "ws2"), "--no-progress"]).output
    assert "read 16 = accepted 7 + quarantined 4 + skipped 5  [OK]" in text
    assert "(skipped 1 x 1101, 1 x 2201, 1 x 2207, 1 x 9001)" in text


# ----------------------------------------------------------------------------- store and parallel details

def test_fee_details_cut_back_to_the_committed_rows(tmp_path):
    (tmp_path / "ws").mkdir()
    ws = Workspace(tmp_path / "ws")
    rows_ = [{"site_id": HOSP, "feedetl_sn": f"SN{i}"} for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows_, schema=FEE_DETAIL_SCHEMA), fee_details_path(ws))
    assert committed_sizes(ws)["fee_details_rows"] == 3
    restore_committed(ws, {"inputs": [{"path": "x"}], "fee_details_rows": 1})
    assert read_fee_details(ws).column("feedetl_sn").to_pylist() == ["SN0"]
    restore_committed(ws, {"inputs": [{"path": "x"}], "quarantine_bytes": 0})  # a manifest that committed none
    assert not fee_details_path(ws).exists()


def test_settlements_split_between_worker_processes_read_as_in_one_piece(tmp_path, monkeypatch):
    """Fee details in the same piece, an earlier piece, an earlier file, after the settlement or nowhere, and
    uploaded twice: the split file gives the serial reading's events, quarantine, fee details and counts."""
    import rxring.ingest.parallel as parallel

    messages = []
    for c in range(120):
        messages.append(fee_detail("2204", f"F{c}", HOSP, f"SN{c}", "2", "118", "236"))
        if c % 7 == 3:  # uploaded again with other money: the later line counts
            messages.append(fee_detail("2204", f"G{c}", HOSP, f"SN{c}", "4", "50", "200"))
        entries = [(f"SN{c}", f"8115125791408{c:07d}", "0"), (f"SN{c // 3}", f"8215125791408{c:07d}", "1")]
        if c % 10 == 0:
            entries.append((f"NONE{c}", f"8315125791408{c:07d}", "0"))  # never uploaded
        if c % 11 == 0:
            entries.append((f"SN{c + 1}", f"8415125791408{c:07d}", "0"))  # uploaded after the settlement
        messages.append(settlement("2207", f"S{c}", HOSP, entries, output=SETL_OUT if c % 2 else None))
    messages.append(settlement("2304", "S-old", HOSP, [("OLD1", "85151257914080000001", "0")]))
    messages.append({"infno": "2207", "msgid": "S-bad", "input": {"drug_trac_info": [1]}})
    earlier = write_jsonl(tmp_path / "a-earlier.jsonl", [fee_detail("2301", "E1", HOSP, "OLD1", "1", "9", "9")])
    path = write_jsonl(tmp_path / "b-settle.jsonl", messages)
    serial = run(tmp_path, earlier, path, ws_name="serial")
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "PIECE_BYTES", 4_000)
    monkeypatch.setenv("RXRING_INGEST_WORKERS", "2")
    deferred = []
    real = parallel.deferred_chunk
    monkeypatch.setattr(parallel, "deferred_chunk", lambda d, *a: deferred.extend(d) or real(d, *a))
    split = run(tmp_path, earlier, path, ws_name="split")
    assert len(deferred) > 20, "no settlement was left to the caller"
    for a, b in zip(serial[0].files, split[0].files):
        keys = ("read", "accepted", "quarantined", "skipped", "fee_details", "skipped_infno", "notes")
        assert {k: getattr(b, k) for k in keys} == {k: getattr(a, k) for k in keys}
    assert serial[0].files[1].notes and serial[0].files[1].fee_details == 137
    assert split[1].equals(serial[1]) and len(serial[1]) == 120 * 2 + 12 + 11 + 1
    old = serial[1][serial[1]["event_id"] == "S-old:0:0"]
    assert old["product_code"].tolist() == ["XB01ACL090"]  # its fee detail was in the earlier file
    order = ["source_file", "source_line", "reason"]
    assert split[2].sort_values(order).reset_index(drop=True).equals(serial[2].sort_values(order).reset_index(drop=True))
    assert read_fee_details(split[3]).equals(read_fee_details(serial[3]))


def test_origin_columns_only_in_nhsa_parts(tmp_path, fixtures):
    _, events, _, ws = run(tmp_path, fixtures / "canonical.csv", fixtures / "nhsa_messages.jsonl")
    schemas = {pq.read_schema(p).names[-1] for p in ws.event_parts()}
    assert schemas == {"source_line", "channel"}
    assert ws.read_events().columns.tolist() == list(EVENT_SCHEMA.names)  # readers see EVENT_SCHEMA alone
    nhsa = events[events["source_file"].str.endswith("nhsa_messages.jsonl")]
    assert nhsa["channel"].notna().all() and list(EVENT_ORIGIN_COLUMNS) == ["message_id", "visit_id", "channel"]


def test_worker_processes_carry_fee_details_and_skips(tmp_path, monkeypatch):
    import rxring.ingest.parallel as parallel
    from rxring.ingest.sniff import sniff

    row = TWINS["3505"][2]
    messages = []
    for c in range(150):
        messages += [fee_detail("2204", f"F{c}", HOSP, f"SN{c}", "2", "118", "236"),
                     {"infno": "9001", "msgid": f"Q{c}", "input": {"signIn": {}}},
                     {"infno": "3505A", "msgid": f"B{c}", "fixmedins_code": SITE,
                      "input": {"selinfoDetail": [{**row, "drugtracinfo": [{"drug_trac_codg": CODE1}]}]}}]
    path = write_jsonl(tmp_path / "fees.jsonl", messages)
    serial = run(tmp_path, path, ws_name="serial")
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "PIECE_BYTES", 20_000)
    assert parallel.worth_it(path, sniff(path))
    calls = []
    real = parallel.prepared_pieces
    monkeypatch.setattr(parallel, "prepared_pieces", lambda *a, **k: calls.append(1) or real(*a, **k))
    split = run(tmp_path, path, ws_name="split")
    assert calls, "the parallel path was not taken"
    for report, events, _, ws in (serial, split):
        f = report.files[0]
        assert (f.read, f.accepted, f.skipped, f.fee_details, f.skipped_infno) == (450, 300, 150, 150, {"9001": 150})
    assert split[1].equals(serial[1]) and read_fee_details(split[3]).equals(read_fee_details(serial[3]))
