"""One sale is one sale, end to end: NHSA messages as institutions send them -> ingest -> analyze.

The same sale reported through both channels (settlement 2207 and 进销存 3505),
a record retransmitted under a new msgid with its upload time, a settlement
cancelled (2208) or a message reversed (2601) before the pack is sold again: none
of these is a second sale (rxring.rules.registry.SAME_SALE, UNDONE).  One real
resale beside them is found, so the quiet is not an analysis that found nothing.
"""

from __future__ import annotations

import json

import pytest

from rxring import analyze, load_findings
from rxring.ingest import read_events
from rxring.workspace import Workspace

HOSPITAL, PHARMACY = "H110106987650", "P110105123450"
DRUG = "XB01ACL090A001010100999"
BOTH, RESENT, CANCELLED, REVERSED, RESOLD = (f"8123456000000010000{i}" for i in range(1, 6))


def _settled(n: int, code: str, when: str, patient: str) -> list[dict]:
    """2204 fee detail + 2207 settlement (request and response) of one pack at the hospital."""
    fee, setl = f"F{n:04d}", f"S{n:04d}"
    visit = f"MD{n:04d}"
    return [
        {"infno": "2204", "msgid": f"H2204{n:04d}", "fixmedins_code": HOSPITAL, "inf_time": when,
         "input": {"feedetail": [{"feedetl_sn": fee, "mdtrt_id": visit, "psn_no": patient, "fee_ocur_time": when,
                                  "med_list_codg": DRUG, "cnt": "1", "pric": "118.00",
                                  "det_item_fee_sumamt": "118.00", "bilg_dr_codg": "D0001", "bilg_dr_name": "赵**"}]}},
        {"infno": "2207", "msgid": f"H2207{n:04d}", "fixmedins_code": HOSPITAL, "inf_time": when,
         "input": {"data": {"psn_no": patient, "mdtrt_id": visit, "medfee_sumamt": "118.00"},
                   "drug_trac_info": [{"feedetl_sn": fee, "drug_trac_codg": code, "trdn_flag": "0"}]},
         "output": {"setlinfo": {"setl_id": setl, "mdtrt_id": visit, "psn_no": patient, "setl_time": when,
                                 "fund_pay_sumamt": "82.60"}}},
    ]


def _sold(msgid: str, code: str, when: str, patient: str, record: str, settlement: str = "",
          site: str = PHARMACY) -> dict:
    """A single-row 3505 sale."""
    return {"infno": "3505", "msgid": msgid, "fixmedins_code": site, "inf_time": when,
            "input": {"selinfo": {"med_list_codg": DRUG, "fixmedins_hilist_name": "氯吡格雷片", "psn_no": patient,
                                  "setl_id": settlement, "mdtrt_setl_type": "1" if settlement else "2",
                                  "finl_trns_pric": "118.00", "sel_retn_cnt": 1, "sel_retn_time": when,
                                  "trdn_flag": "0", "fixmedins_bchno": record,
                                  "drugtracinfo": [{"drug_trac_codg": code}]}}}


MESSAGES = [
    # 1. one sale through both channels: the settlement, and the hospital pharmacy's 3505 at day's end
    *_settled(1, BOTH, "2026-05-02 09:42:28", "P01"),
    _sold("H3505A", BOTH, "2026-05-02 18:30:00", "P01", "HB001", settlement="S0001", site=HOSPITAL),
    # 2. a cash sale retransmitted after a timeout under a new msgid, its time the upload time
    _sold("M100", RESENT, "2026-05-03 10:00:00", "P02", "B100"),
    _sold("M101", RESENT, "2026-05-04 02:15:00", "P02", "B100"),
    # 3. a settlement cancelled (2208), then the pack sold at the pharmacy
    *_settled(3, CANCELLED, "2026-05-05 09:00:00", "P03"),
    {"infno": "2208", "msgid": "H2208C", "fixmedins_code": HOSPITAL, "inf_time": "2026-05-05 11:00:00",
     "input": {"data": {"setl_id": "S0003", "mdtrt_id": "MD0003", "psn_no": "P03"}}},
    _sold("M300", CANCELLED, "2026-05-09 10:00:00", "P33", "B300"),
    # 4. a sale at the pharmacy whose message was reversed (2601 冲正)
    *_settled(4, REVERSED, "2026-05-06 09:00:00", "P04"),
    _sold("M400", REVERSED, "2026-05-10 10:00:00", "P44", "B400"),
    {"infno": "2601", "msgid": "P2601R", "fixmedins_code": PHARMACY, "inf_time": "2026-05-10 10:05:00",
     "input": {"data": {"omsgid": "M400", "oinfno": "3505", "psn_no": "P44"}}},
    # 5. a real resale: settled at the hospital, sold again at the pharmacy ten days later
    *_settled(5, RESOLD, "2026-05-07 09:00:00", "P05"),
    _sold("M500", RESOLD, "2026-05-17 10:00:00", "P55", "B500"),
]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-sale")
    inputs = root / "inputs"
    inputs.mkdir()
    (inputs / "his-2026-05.jsonl").write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in MESSAGES) + "\n",
                                              encoding="utf-8")
    ws = root / "ws"
    analyze(ws, "embedded", inputs=[inputs])
    return ws


def test_the_messages_are_read_whole(analysed):
    (entry,) = Workspace(analysed).manifest()["inputs"]
    assert entry["quarantined"] == 0, entry
    events = read_events(analysed)
    # counted: BOTH x2 (settlement + 3505), RESENT x2, CANCELLED x1 (the settlement is cancelled),
    # REVERSED x1 (the reversed 3505 does not count), RESOLD x2
    assert events.groupby("trace_code").size().to_dict() == {BOTH: 2, RESENT: 2, CANCELLED: 1, REVERSED: 1, RESOLD: 2}


def test_one_sale_reported_twice_or_undone_is_no_finding(analysed):
    findings = load_findings(analysed)
    assert sorted(findings["finding_id"]) == [f"DUP_DISPENSE:{RESOLD}", f"RESURFACE:{RESOLD}"]
    resale = findings.set_index("finding_id").loc[f"DUP_DISPENSE:{RESOLD}"]
    assert list(resale["sites"]) == sorted([HOSPITAL, PHARMACY])
    assert list(resale["source_sites"]) == [HOSPITAL] and list(resale["laundering_sites"]) == [PHARMACY]


def test_the_box_timeline_says_why_an_event_does_not_count(analysed):
    from rxring.results import box_timeline

    notes = {code: list(box_timeline(analysed, code)["note"]) for code in (BOTH, RESENT, CANCELLED, REVERSED)}
    assert notes[BOTH] == ["", "same sale reported again (counted once)"]
    assert notes[RESENT] == ["", "same sale reported again (counted once)"]
    assert notes[CANCELLED][0] == "settlement cancelled (NHSA 2208/2305)" and notes[CANCELLED][1] == ""
    assert notes[REVERSED][-1] == "message reversed (NHSA 2601)"
