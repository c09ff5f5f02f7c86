"""The reference reading of DESIGN §3 that derives expected_findings, on hand-written cases."""

from __future__ import annotations

import pandas as pd
import pytest

from rxring.options import AnalysisOptions
from rxring.synth import reference_findings

CODE = "81234560000000000001"
PART = CODE[:7]
OTHER = "89999990000000000009"   # B's own stock, received and sold: B reports inbound
UNITS = {"XA": 28, "XB": 14}


def _events(*rows):
    """rows: (type, 'MM-DD HH:MM', site, patient, extra dict)."""
    out = []
    for i, (typ, when, site, patient, *extra) in enumerate(rows):
        row = {"trace_code": CODE, "event_type": typ, "event_time": pd.Timestamp(f"2025-{when}"), "site_id": site,
               "patient_id": patient, "prescriber_id": "D1" if typ == "dispense" else None, "product_code": "XA",
               "code_product": PART, "quantity": 1.0, "split_sale": False, "settlement_id": None,
               "expiry": "2026-01-01", "order": i}
        row.update(extra[0] if extra else {})
        out.append(row)
    return pd.DataFrame(out)


NO_GRACE = AnalysisOptions(provenance_grace_days=0)


def _rules(events, **kw):
    return sorted(f["rule"] for f in reference_findings(events, UNITS, NO_GRACE, **kw))


def test_refund_then_resale_at_the_same_site_is_clean():
    ev = _events(("inbound", "03-01 07:00", "A", None), ("dispense", "03-02 10:00", "A", "p1", {"settlement_id": "S1"}),
                 ("refund", "03-03 10:00", "A", "p1", {"settlement_id": "S1"}), ("dispense", "03-05 10:00", "A", "p2"))
    assert _rules(ev) == []


def test_resale_at_another_site_without_inbound():
    ev = _events(("inbound", "03-01 07:00", "A", None), ("dispense", "03-02 10:00", "A", "p1"),
                 ("inbound", "03-01 07:00", "B", None, {"trace_code": OTHER, "code_product": OTHER[:7]}),
                 ("dispense", "03-03 10:00", "B", "p3", {"trace_code": OTHER, "code_product": OTHER[:7]}),
                 ("dispense", "03-09 10:00", "B", "p2"))
    found = {f["rule"]: f for f in reference_findings(ev, UNITS, NO_GRACE) if f["trace_code"] == CODE}
    grace = {f["rule"] for f in reference_findings(ev, UNITS, AnalysisOptions(provenance_grace_days=30))}
    assert "NO_PROVENANCE" not in grace   # within the grace period after B's first event
    assert sorted(found) == ["DUP_DISPENSE", "NO_PROVENANCE", "RESURFACE"]
    assert found["RESURFACE"]["source_sites"] == ["A"] and found["RESURFACE"]["laundering_sites"] == ["B"]
    assert found["RESURFACE"]["source_patients"] == ["p1"] and found["RESURFACE"]["prescribers"] == ["D1"]


def test_same_site_to_someone_else_vs_the_same_patient():
    again = _events(("inbound", "03-01 07:00", "A", None), ("dispense", "03-02 10:00", "A", "p1"),
                    ("dispense", "03-20 10:00", "A", "p1"))
    other = _events(("inbound", "03-01 07:00", "A", None), ("dispense", "03-02 10:00", "A", "p1"),
                    ("dispense", "03-20 10:00", "A", "p2"))
    assert _rules(again) == ["DUP_DISPENSE"]
    assert _rules(other) == ["DUP_DISPENSE", "RESURFACE"]


@pytest.mark.parametrize("second,flag", [(14, []), (15, ["DUP_DISPENSE", "RESURFACE"])])
def test_split_sales_within_and_beyond_the_pack(second, flag):
    ev = _events(("inbound", "03-01 07:00", "A", None),
                 ("dispense", "03-02 10:00", "A", "p1", {"split_sale": True, "quantity": 14.0}),
                 ("dispense", "03-04 10:00", "A", "p2", {"split_sale": True, "quantity": float(second)}))
    assert _rules(ev) == flag


def test_double_scan_within_minutes_in_one_settlement():
    base = [("inbound", "03-01 07:00", "A", None),
            ("dispense", "03-02 10:00", "A", "p1", {"settlement_id": "S1"})]
    near = _events(*base, ("dispense", "03-02 10:06", "A", "p1", {"settlement_id": "S1"}))
    far = _events(*base, ("dispense", "03-02 10:16", "A", "p1", {"settlement_id": "S1"}))
    assert _rules(near) == []
    assert _rules(far) == ["DUP_DISPENSE"]


def test_transfer_then_sale_and_inventory_before_sale_are_clean():
    ev = _events(("inbound", "03-01 07:00", "A", None), ("inventory", "03-01 22:30", "A", None),
                 ("transfer_out", "03-02 06:10", "A", None), ("transfer_in", "03-02 07:00", "B", None),
                 ("dispense", "03-02 10:00", "B", "p1"))
    assert _rules(ev) == []


def test_expiry_day_is_fine_the_day_after_is_not():
    ok = _events(("inbound", "03-01 07:00", "A", None), ("dispense", "03-05 21:00", "A", "p1", {"expiry": "2025-03-05"}))
    late = _events(("inbound", "03-01 07:00", "A", None), ("dispense", "03-06 08:00", "A", "p1", {"expiry": "2025-03-05"}))
    assert _rules(ok) == []
    assert _rules(late) == ["EXPIRED"]


def test_code_reported_under_another_product():
    ev = _events(("inbound", "03-01 07:00", "A", None), ("dispense", "03-02 10:00", "A", "p1", {"product_code": "XB"}))
    found = reference_findings(ev, UNITS, product_of_part={PART: "XA"})
    assert [f["rule"] for f in found] == ["CODE_CONFLICT"] and found[0]["patients"] == ["p1"]


def test_no_provenance_only_at_sites_that_report_inbound():
    ev = _events(("dispense", "03-02 10:00", "C", "p1"))
    assert _rules(ev, site_stats={"C": (0.0, None)}) == []
    assert _rules(ev, site_stats={"C": (0.9, 0)}) == ["NO_PROVENANCE"]
