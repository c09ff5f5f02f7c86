"""NHSA 进销存 messages (all body shapes, 3501-3507) and GS1 EPCIS documents."""

from __future__ import annotations

import json

import pandas as pd

from rxring.ingest.formats.nhsa import message_records
from rxring.workspace import Workspace

from tests.ingest.helpers import rows

T = pd.Timestamp


def test_nhsa_messages_every_body_shape(run_ingest, copy_fixture):
    report, events, quarantine = run_ingest(copy_fixture("nhsa_messages.jsonl"))
    f = report.files[0]
    assert (f.format, f.read, f.accepted, f.quarantined) == ("nhsa-jsonl", 14, 14, 0)
    assert quarantine.empty
    got = rows(events, ["event_id", "trace_code", "event_type", "event_time", "site_id", "quantity", "split_sale",
                        "total_amount", "fund_amount", "patient_id", "prescriber_id", "settlement_id", "counterparty",
                        "record_no", "source_line"])
    assert got == [
        # 3503, fields at top level
        ("M3503A:0:0", "81151257914085620001", "inbound", T("2025-09-15 14:02:49"), "P100000000001", 1.0, False, 15.4, None,
         None, None, None, "国药控股北京有限公司", "B1", 1),
        # 3503, input.purcinfo object, 3 codes: price 10 x cnt 3 shared over 3 codes
        ("M3503B:0:0", "86243404501030440001", "inbound", T("2026-02-10 08:00:00"), "P100000000001", 1.0, False, 10.0, None,
         None, None, None, "上海医药分销", "B2", 2),
        ("M3503B:0:1", "86243404501030440002", "inbound", T("2026-02-10 08:00:00"), "P100000000001", 1.0, False, 10.0, None,
         None, None, None, "上海医药分销", "B2", 2),
        ("M3503B:0:2", "86243404501030440003", "inbound", T("2026-02-10 08:00:00"), "P100000000001", 1.0, False, 10.0, None,
         None, None, None, "上海医药分销", "B2", 2),
        # 3505, input.selinfo list: whole-pack line with 2 codes (fund 30 shared), then a 拆零 line
        ("M3505A:0:0", "86243404501030440001", "dispense", T("2026-03-01 14:31:55"), "P100000000001", 1.0, False, 20.0, 15.0,
         "PSN001", "D001", "S001", None, "B3", 3),
        ("M3505A:0:1", "86243404501030440002", "dispense", T("2026-03-01 14:31:55"), "P100000000001", 1.0, False, 20.0, 15.0,
         "PSN001", "D001", "S001", None, "B3", 3),
        ("M3505A:1:0", "82105488001170060001", "dispense", T("2026-03-01 14:31:55"), "P100000000001", 7.0, True, 10.5, None,
         "PSN001", "D001", "S001", None, "B4", 3),
        # 3505, top-level fields with drugtracinfo; prescriber known only by name
        ("M3505B:0:0", "86243404501030440003", "dispense", T("2026-03-05 09:00:00"), "P200000000002", 1.0, False, 20.0, None,
         "PSN002", "医师2", "S002", None, "B5", 4),
        # 3506 under input.data; record_no from medins_prod_sel_no
        ("M3506A:0:0", "86243404501030440002", "refund", T("2026-03-02 10:00:00"), "P100000000001", 1.0, False, 20.0, None,
         "PSN001", None, "S001", None, "M1", 5),
        # 3502: 102 -> transfer_out, 101 -> transfer_in, 103 -> adjust
        ("M3502A:0:0", "84918236846903400001", "transfer_out", T("2026-03-05 18:44:03"), "P100000000001", 1.0, False, 49.5, None,
         None, None, None, None, "B6", 6),
        ("M3502B:0:0", "84918236846903400001", "transfer_in", T("2026-03-06 00:44:03"), "P300000000003", 1.0, False, 49.5, None,
         None, None, None, None, "B7", 7),
        ("M3502C:0:0", "84918236846903400002", "adjust", T("2026-03-07 12:00:00"), "P300000000003", 1.0, False, 49.5, None,
         None, None, None, None, "B8", 8),
        # 3501 inventory (invdate)
        ("M3501A:0:0", "84918236846903400001", "inventory", T("2026-03-31 00:00:00"), "P300000000003", 1.0, False, None, None,
         None, None, None, None, "B9", 9),
        # 3504 purchase return to the supplier
        ("M3504A:0:0", "81151257914085620001", "purchase_return", T("2026-03-13 16:49:47"), "P100000000001", 1.0, False, 15.4,
         None, None, None, None, "国药控股北京有限公司", "B10", 10),
    ]


def test_same_message_in_overlapping_exports_is_one_event(run_ingest, copy_fixture):
    report, events, _ = run_ingest(copy_fixture("nhsa_messages.jsonl"), copy_fixture("nhsa_overlap.json"))
    assert report.files[1].format == "nhsa-json"
    assert report.files[1].read == 4  # M3505A again (3 codes) + M3505C
    assert events["event_id"].is_unique
    assert len(events) == 14 + 1
    again = events[events["event_id"].str.startswith("M3505A")]
    assert again["source_file"].str.endswith("nhsa_messages.jsonl").all()  # the first ingested copy is kept
    raw = Workspace(report.workspace).read_events()
    assert len(raw) == 18  # the parts keep both copies; the reader drops the duplicates


def test_3507_deletion_removes_the_earlier_record(run_ingest, copy_fixture):
    report, events, _ = run_ingest(copy_fixture("nhsa_overlap.json"), copy_fixture("nhsa_3507.jsonl"))
    f = report.files[1]
    assert (f.table, f.read, f.accepted, f.deletions, f.events) == ("deletions", 1, 1, 1, 0)
    assert "M3505C:0:0" not in set(events["event_id"])
    assert set(events["event_id"]) == {"M3505A:0:0", "M3505A:0:1", "M3505A:1:0"}
    deletions = pd.read_parquet(Workspace(report.workspace).deletions_path)
    assert rows(deletions.sort_values("event_type"), ["record_no", "event_type", "site_id"]) == [
        ("B11", "dispense", "P300000000003"),
        ("B11", "refund", "P300000000003"),
    ]


def test_message_problems_are_quarantined_not_lost():
    bad = [
        {"infno": "3505", "msgid": "X1", "fixmedins_code": "P1", "input": {"selinfo": {"sel_retn_time": "2026-01-01 10:00:00"}}},
        {"infno": "9001", "msgid": "X2"},
        {"msgid": "X3", "fixmedins_code": "P1"},
        {"infno": "3505", "msgid": "X4", "fixmedins_code": "P1", "sel_retn_cnt": "two", "drug_trac_codg": "81151257914085620001",
         "sel_retn_time": "2026-01-01 10:00:00"},
        {"infno": "3505", "msgid": "X5", "fixmedins_code": "P1", "sel_retn_cnt": -1, "drug_trac_codg": "81151257914085620001",
         "sel_retn_time": "2026-01-01 10:00:00"},
    ]
    reasons = [message_records(m, i, json.dumps(m), "sha", "f")[0][0].get("_reject") for i, m in enumerate(bad)]
    assert "no trace code" in reasons[0]
    assert "9001" in reasons[1]
    assert "no infno" in reasons[2]
    assert "'two' is not a number" in reasons[3]
    records, _ = message_records(bad[4], 5, "", "sha", "f")
    assert records[0]["quantity"] == -1.0  # the normaliser quarantines it as a negative quantity


def test_nhsa_file_with_bad_lines_accounts_for_every_line(run_ingest, tmp_path):
    good = {"infno": "3505", "msgid": "G1", "fixmedins_code": "P1", "sel_retn_time": "2026-01-01 10:00:00",
            "drugtracinfo": [{"drug_trac_codg": "81151257914085620001"}, {"drug_trac_codg": "81151257914085620002"}]}
    negative = dict(good, msgid="G2", sel_retn_cnt=-3, trdn_flag="1", drugtracinfo=[{"drug_trac_codg": "81151257914085620003"}])
    text = "\n".join([json.dumps(good), '{"infno": "3505", "msgid": "T1", "fixm', "[1, 2]", "", json.dumps(negative)]) + "\n"
    path = tmp_path / "msgs.jsonl"
    path.write_text(text, encoding="utf-8")
    report, events, quarantine = run_ingest(path)
    f = report.files[0]
    assert (f.read, f.accepted, f.quarantined) == (5, 2, 3)
    assert sorted(quarantine["source_line"]) == [2, 3, 5]
    reasons = dict(zip(quarantine["source_line"], quarantine["reason"]))
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "not a JSON object"
    assert reasons[5].startswith("negative quantity")
    assert quarantine.set_index("source_line").loc[2, "raw"].startswith('{"infno": "3505", "msgid": "T1"')


def test_epcis_document(run_ingest, copy_fixture):
    report, events, quarantine = run_ingest(copy_fixture("epcis_document.jsonld"))
    f = report.files[0]
    assert (f.format, f.read, f.accepted, f.quarantined) == ("epcis-json", 6, 4, 2)
    sha16 = f.sha256[:16]
    assert rows(events, ["event_id", "trace_code", "event_type", "event_time", "site_id", "counterparty", "code_product",
                         "code_serial", "source_line"]) == [
        ("ni:///sha-256;aaa:0", "0180614141123458216789", "inbound", T("2026-03-01 08:00:00"), "P100000000001",
         "urn:epc:id:pgln:0614141.00001", "80614141123458", "6789", 1),
        ("ni:///sha-256;aaa:1", "0180614141123458216790", "inbound", T("2026-03-01 08:00:00"), "P100000000001",
         "urn:epc:id:pgln:0614141.00001", "80614141123458", "6790", 1),
        (f"{sha16}:2:1:0", "0180614141123458216789", "dispense", T("2026-03-02 11:00:00"), "P100000000001", None,
         "80614141123458", "6789", 2),
        ("E-ship:0", "0180614141123458216790", "purchase_return", T("2026-03-03 10:00:00"), "P100000000001", "SUPPLIER-1",
         "80614141123458", "6790", 3),
    ]
    assert quarantine["source_line"].tolist() == [4, 5]
    assert "AggregationEvent" in quarantine["reason"].iloc[0]
    assert "commissioning" in quarantine["reason"].iloc[1]


def test_epcis_json_lines_of_events(run_ingest, tmp_path):
    event = {"type": "ObjectEvent", "bizStep": "dispensing", "eventTime": "2026-03-02T12:00:00+09:00",
             "eventTimeZoneOffset": "+09:00", "epcList": ["(01)09506000134352(21)A1"], "readPoint": {"id": "P9"}}
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n", encoding="utf-8")
    report, events, _ = run_ingest(path)
    assert report.files[0].format == "epcis-jsonl"
    assert rows(events, ["trace_code", "event_type", "event_time", "site_id"]) == [
        ("010950600013435221A1", "dispense", T("2026-03-02 11:00:00"), "P9")
    ]


def test_epcis_receiving_from_a_location_is_a_transfer_in(run_ingest, tmp_path):
    def receiving(source_type, disposition="in_progress"):
        return {"type": "ObjectEvent", "bizStep": "receiving", "disposition": disposition,
                "eventTime": "2026-03-02T12:00:00+08:00", "epcList": ["urn:epc:id:sgtin:0614141.812345.1"],
                "bizLocation": {"id": "P2"}, "sourceList": [{"type": source_type, "source": "P1"}]}

    doc = {"type": "EPCISDocument", "epcisBody": {"eventList": [
        receiving("owning_party"),
        receiving("urn:epcglobal:cbv:sdt:location"),
        receiving("https://ref.gs1.org/cbv/SDT-possessing_party"),
        receiving("owning_party", "returned"),
    ]}}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    _, events, _ = run_ingest(path)
    assert rows(events, ["event_type", "counterparty"]) == [
        ("inbound", "P1"), ("transfer_in", "P1"), ("transfer_in", "P1"), ("refund", "P1")]


def test_deletion_matching_by_site_and_type(run_ingest, tmp_path):
    def sale(msgid, site, record, code, infno="3505"):
        return {"infno": infno, "msgid": msgid, "fixmedins_code": site, "sel_retn_time": "2026-01-01 10:00:00",
                "fixmedins_bchno": record, "drug_trac_codg": code}

    messages = [
        sale("S1", "P1", "B1", "81151257914085620001"),
        sale("S2", "P2", "B1", "81151257914085620002"),           # same record_no at another site
        sale("S3", "P1", "B2", "81151257914085620003", "3506"),   # a refund with record B2
        sale("S4", "P1", "B3", "81151257914085620004"),
        {"infno": "3507", "msgid": "D1", "fixmedins_code": "P1", "input": {"data": [
            {"fixmedins_bchno": "B1", "inv_data_type": "4"},         # sales data at P1 only
            {"fixmedins_bchno": "B2", "inv_data_type": "3"},         # purchase data: does not touch the refund
            {"fixmedins_bchno": "B3"},                               # no type: any event type
        ]}},
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in messages) + "\n", encoding="utf-8")
    report, events, _ = run_ingest(path)
    assert report.files[0].deletions == 3
    assert sorted(events["event_id"]) == ["S2:0:0", "S3:0:0"]


def test_large_json_array_and_epcis_document_are_streamed(run_ingest, tmp_path):
    messages = [
        {"infno": "3505", "msgid": f"M{i}", "fixmedins_code": "P1", "sel_retn_time": "2026-01-01 10:00:00",
         "fixmedins_hilist_name": "阿托伐他汀钙片" * 10, "drug_trac_codg": f"8115125{i:013d}"}
        for i in range(12000)
    ]
    array = tmp_path / "big.json"
    array.write_text(json.dumps(messages, ensure_ascii=False, indent=1), encoding="utf-8")
    assert array.stat().st_size > 3 * (1 << 20)
    events = [
        {"type": "ObjectEvent", "bizStep": "retail_selling", "eventTime": "2026-03-02T12:00:00+08:00",
         "epcList": [f"urn:epc:id:sgtin:0614141.812345.{i}"], "bizLocation": {"id": "P9"}, "note": "x" * 200}
        for i in range(12000)
    ]
    doc = tmp_path / "big.jsonld"
    doc.write_text(json.dumps({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                               "type": "EPCISDocument", "epcisBody": {"eventList": events}}), encoding="utf-8")
    report, got, quarantine = run_ingest(array, doc)
    assert [(f.format, f.read, f.accepted) for f in report.files] == [("nhsa-json", 12000, 12000), ("epcis-json", 12000, 12000)]
    assert quarantine.empty
    nhsa = got[got["site_id"] == "P1"]
    assert nhsa["source_line"].tolist() == list(range(1, 12001))
    assert nhsa["event_id"].iloc[-1] == "M11999:0:0"
    epcis = got[got["site_id"] == "P9"]
    assert epcis["code_serial"].iloc[-1] == "11999" and epcis["source_line"].iloc[-1] == 12000
