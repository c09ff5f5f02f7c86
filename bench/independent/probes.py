"""Small probes of judgement calls that the independent city does not score.

Each probe writes a handful of NHSA messages (plus the context a site needs), runs
``rxring analyze`` and prints which rules fired on the probe's code and what DESIGN §3
says.  ``python bench/independent/probes.py`` runs them all (a few seconds each).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["PROBES", "run_probe"]

PRODUCT = ("XB2183A7784666819038", "氨氯地平片 5mg*28片", 28, 42.0)
CODE = "86421570000000010001"
H, A, B = "H110000000001", "P110000000002", "P110000000003"
C2, C3 = "P110000000012", "P110000000013"


def _msg(infno: str, site: str, time: str, code: str = CODE, **fields) -> dict:
    body = {"med_list_codg": PRODUCT[0], "fixmedins_hilist_name": PRODUCT[1], "manu_lotnum": "L1",
            "expy_end": fields.pop("expy_end", "2027-06-30"), "drug_trac_codg": code}
    key = {"3501": "invdate", "3502": "inv_chg_time", "3503": "purc_retn_stoin_time",
           "3504": "purc_retn_stoin_time"}.get(infno, "sel_retn_time")
    body[key] = time
    if infno in ("3505", "3506"):
        body.update({"sel_retn_cnt": 1, "trdn_flag": "0", "finl_trns_pric": PRODUCT[3]})
    if infno == "3503":
        body.update({"spler_name": "国药控股北京有限公司", "purc_retn_cnt": 1})
    body.update(fields)
    return {"infno": infno, "fixmedins_code": site, "msgid": f"{site}{time}{infno}{code[-4:]}", **body}


def _inbound(site: str, code: str = CODE, time: str = "2025-07-01 07:30:00") -> dict:
    return _msg("3503", site, time, code)


def _sale(site, time, patient, setl, code=CODE, **kw):
    return _msg("3505", site, time, code, psn_no=patient, setl_id=setl, prsc_dr_certno="D10000000000000001", **kw)


PROBES = {
    "chain_cross_store_refund": (
        "bought at chain store C2, returned at store C3 (通退通换), resold at C3. DESIGN: refund+resale at the "
        "SAME site is not a finding; a return at another store is not covered (judgement).",
        [_inbound(C2), _sale(C2, "2025-08-01 10:00:00", "110000000000000001", "S1"),
         _msg("3506", C3, "2025-08-02 11:00:00", psn_no="110000000000000001", setl_id="S1"),
         _sale(C3, "2025-08-05 15:00:00", "110000000000000002", "S2")]),
    "resettled_without_refund": (
        "settlement failed and was redone 25 minutes later for the same patient, no 3506 in between. "
        "DESIGN: two net dispenses = DUP_DISPENSE by the words; the double-scan exemption speaks of ONE settlement.",
        [_inbound(A), _sale(A, "2025-08-01 10:00:00", "110000000000000001", "S1"),
         _sale(A, "2025-08-01 10:25:00", "110000000000000001", "S2")]),
    "expired_utc_timestamp": (
        "sale time given in UTC (2025-09-30T16:30:00Z = 2025-10-01 00:30 Shanghai) of a pack expiring "
        "2025-09-30: EXPIRED in local time.",
        [_inbound(A), _sale(A, "2025-09-30T16:30:00Z", "110000000000000001", "S1", expy_end="2025-09-30")]),
    "inventory_elsewhere_only": (
        "dispensed at hospital H, later listed in pharmacy B's stock-take (3501) and never sold there. "
        "DESIGN: RESURFACE (any later event at another site, inventory named).",
        [_inbound(H), _sale(H, "2025-08-01 10:00:00", "110000000000000001", "S1"),
         _inbound(B, "86421570000000010099"),
         _msg("3501", B, "2025-09-01", code=CODE, inv_cnt=1)]),
    "reporting_site_partial_inbound": (
        "pharmacy A scans 3503 for one product line only (5 codes), sells 20 other codes it never scanned in. "
        "DESIGN: NO_PROVENANCE is judged for every site that reports inbound at all (judgement: coverage).",
        [_inbound(A, f"8642157000000002{i:04d}") for i in range(5)]
        + [_sale(A, f"2025-08-{1 + i:02d} 10:00:00", f"1100000000000001{i:02d}", f"S{i}",
                 code=f"8642157000000003{i:04d}") for i in range(20)]),
    "refund_then_transfer_then_sale": (
        "sold at chain store C2, refunded at C2, moved to store C3 (3502 102 -> 101), sold at C3. DESIGN: refund "
        "cancels the net dispense; transfer then sale is legit. Expected: nothing.",
        [_inbound(C2), _sale(C2, "2025-08-01 10:00:00", "110000000000000001", "S1"),
         _msg("3506", C2, "2025-08-01 15:00:00", psn_no="110000000000000001", setl_id="S1"),
         _msg("3502", C2, "2025-08-03 08:00:00", inv_chg_type="102", cnt=1),
         _msg("3502", C3, "2025-08-03 09:00:00", inv_chg_type="101", cnt=1),
         _sale(C3, "2025-08-04 10:00:00", "110000000000000002", "S2")]),
    "split_partial_refund_within_units": (
        "拆零: 14 units to patient 1, 7 of them returned, then 14 to patient 2 and 7 to patient 3 (net 28 of 28). "
        "Expected: nothing.",
        [_inbound(A), _sale(A, "2025-08-01 10:00:00", "110000000000000001", "S1", trdn_flag="1", sel_retn_cnt=14),
         _msg("3506", A, "2025-08-01 12:00:00", psn_no="110000000000000001", setl_id="S1", trdn_flag="1",
              sel_retn_cnt=7),
         _sale(A, "2025-08-02 10:00:00", "110000000000000002", "S2", trdn_flag="1", sel_retn_cnt=14),
         _sale(A, "2025-08-03 10:00:00", "110000000000000003", "S3", trdn_flag="1", sel_retn_cnt=7)]),
    "inbound_at_two_sites_no_sale": (
        "the distributor's scan put one code on two deliveries (A and B), neither sold. Expected: nothing.",
        [_inbound(A), _inbound(B, time="2025-07-05 08:00:00")]),
    "stale_stocktake_same_site": (
        "sold at A, then still listed in A's own 3501 stock-take (stale stock record). DESIGN: RESURFACE needs "
        "another site. Expected: nothing.",
        [_inbound(A), _sale(A, "2025-08-01 10:00:00", "110000000000000001", "S1"),
         _msg("3501", A, "2025-10-08", inv_cnt=1)]),
    "anonymous_cash_resale": (
        "dispensed at hospital H (settled), resold 4 days later at pharmacy B to a walk-in cash buyer: 3505 "
        "without psn_no and setl_id. DESIGN lists the patient as required for a dispense, but the resale is the "
        "evidence. Expected by the rule's words: RESURFACE and DUP_DISPENSE.",
        [_inbound(H), _sale(H, "2025-08-01 10:00:00", "110000000000000001", "S1"),
         _msg("3505", B, "2025-08-05 19:00:00", psn_no="", setl_id="", mdtrt_setl_type="2")]),
    "old_stock_without_opening_stocktake": (
        "pharmacy A reports 3503 for its deliveries (10 codes, sold) but uploaded no opening 3501; on day 50 "
        "of the data it sells 3 packs bought before the window. DESIGN's words: NO_PROVENANCE; a domain "
        "reading: old stock, not evidence (judgement).",
        [_inbound(A, f"8642157000000004{i:04d}") for i in range(10)]
        + [_sale(A, f"2025-07-{2 + i:02d} 10:00:00", f"1100000000000002{i:02d}", f"T{i}",
                 code=f"8642157000000004{i:04d}") for i in range(10)]
        + [_sale(A, f"2025-08-{20 + i:02d} 10:00:00", f"1100000000000003{i:02d}", f"U{i}",
                 code=f"8642157000000005{i:04d}") for i in range(3)]),
}


def run_probe(name: str) -> dict:
    """Run one probe; return {rule: [codes]} of rxring's findings."""
    _, messages = PROBES[name]
    with tempfile.TemporaryDirectory(prefix="rxring-probe-") as tmp:
        path = Path(tmp) / "probe.jsonl"
        path.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in messages) + "\n", encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "rxring", "analyze", str(path), "-w", f"{tmp}/ws",
                               "--no-progress"], capture_output=True, text=True)
        if done.returncode != 0:
            return {"error": done.stderr.strip()[-400:]}
        found = subprocess.run([sys.executable, "-m", "rxring", "findings", "-w", f"{tmp}/ws", "--json",
                                "--limit", "0", "--reveal-pii"], capture_output=True, text=True)
        fired: dict = {}
        for f in json.loads(found.stdout or "[]"):
            fired.setdefault(f["rule"], []).extend(f["trace_codes"])
        q = Path(tmp) / "ws" / "quarantine.csv"
        quarantined = max(0, len(q.read_text(encoding="utf-8").splitlines()) - 1) if q.exists() else 0
        return {"fired": {r: len(set(c)) for r, c in fired.items()}, "quarantined": quarantined}


if __name__ == "__main__":
    for name, (why, _) in PROBES.items():
        print(f"{name}: {run_probe(name)}\n    {why}")
