"""Resale graph and rings: hubs, roles, attachment, splitting, determinism."""

import pandas as pd
import pytest

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from rxring.rings import build_rings, resale_graph, ring_score
from rxring.schema import RING_COLUMNS
from tests.rules.fixtures import ev, frame


def _ring_events(tag: str, hub: str, laundering: str, patients: int, prescriber: str, start_day: int = 1,
                 days_later: int = 5) -> list[dict]:
    """A ring: *patients* patients get packs at *hub* from *prescriber*; they resurface at *laundering*."""
    rows = []
    for i in range(patients):
        code = f"86{tag}{i:016d}"[:20]
        day = start_day + i
        rows.append(ev(f"{tag}in{i}", "inbound", f"2025-01-{day:02d} 08:00", hub, code))
        rows.append(ev(f"{tag}d{i}", "dispense", f"2025-01-{day:02d} 10:00", hub, code,
                       patient_id=f"{tag}P{i}", prescriber_id=prescriber, settlement_id=f"{tag}S{i}", fund_amount=100.0))
        rows.append(ev(f"{tag}x{i}", "dispense", f"2025-01-{day + days_later:02d} 15:00", laundering, code,
                       patient_id=f"buyer{tag}{i}", settlement_id=f"{tag}T{i}", fund_amount=100.0))
    return rows


def _two_rings_sharing_a_hospital():
    return frame(*_ring_events("11", "H1", "LA", 4, "DA"), *_ring_events("22", "H1", "LB", 3, "DB", days_later=20))


def test_hub_hospital_shared_by_two_rings_stays_two_rings():
    findings = run_rules(_two_rings_sharing_a_hospital(), AnalysisOptions())
    rings = build_rings(findings, AnalysisOptions())
    assert list(rings.columns) == list(RING_COLUMNS)
    assert len(rings) == 2
    by_site = {tuple(r["laundering_sites"]): r for r in rings.to_dict("records")}
    ring_a, ring_b = by_site[("LA",)], by_site[("LB",)]
    assert ring_a["source_sites"] == ["H1"] and ring_b["source_sites"] == ["H1"]   # hub listed in both
    assert ring_a["source_patients"] == [f"11P{i}" for i in range(4)]
    assert ring_a["prescribers"] == ["DA"] and ring_b["prescribers"] == ["DB"]
    assert ring_a["boxes"] == 4 and ring_b["boxes"] == 3
    assert ring_a["fund_at_risk"] == pytest.approx(800.0)    # 4 boxes x (source + resale)
    assert not any("buyer" in p for r in rings.to_dict("records") for p in r["source_patients"])
    assert list(rings["ring_id"]) == ["R001", "R002"] and list(rings["rank"]) == [1, 2]
    assert rings.iloc[0]["score"] >= rings.iloc[1]["score"]
    assert ring_a["rules"] == ["DUP_DISPENSE", "RESURFACE"]
    assert ring_a["events"] == 8


def test_shared_prescriber_joins_rings_but_large_components_split():
    # 3 rings of 6 patients, each with its own laundering site and prescriber, and two
    # stray edges (a patient of ring A also sold to ring B's site; ring B's doctor also
    # wrote for a patient of ring C): one component of 3 x (6 + 1 + 1) nodes.  Ring A
    # is cut off at the shared laundering site LB whatever the size; B and C, glued by
    # a prescriber, are split by Louvain only above split_above.
    rows = _ring_events("33", "H1", "LA", 6, "DA") + _ring_events("44", "H1", "LB", 6, "DB") \
        + _ring_events("55", "H2", "LC", 6, "DC")
    rows += [ev("stray-in", "inbound", "2025-01-01 08:00", "H1", "86990000000000000001"),
             ev("stray-d", "dispense", "2025-01-02 10:00", "H1", "86990000000000000001", patient_id="33P0",
                prescriber_id="DA"),
             ev("stray-x", "dispense", "2025-01-09 10:00", "LB", "86990000000000000001", patient_id="zz")]
    rows += [ev("link-in", "inbound", "2025-01-01 08:00", "H2", "86990000000000000002"),
             ev("link-d", "dispense", "2025-01-02 10:00", "H2", "86990000000000000002", patient_id="55P0",
                prescriber_id="DB"),
             ev("link-x", "dispense", "2025-01-09 10:00", "LC", "86990000000000000002", patient_id="zy")]
    findings = run_rules(frame(*rows), AnalysisOptions())
    graph = resale_graph(findings, AnalysisOptions())
    assert not any(kind == "site" and name in {"H1", "H2"} for kind, name in graph.nodes)   # hubs are not nodes
    two = build_rings(findings, AnalysisOptions(split_above=100))
    assert sorted(sorted({p[:2] for p in r}) for r in two["source_patients"]) == [["33"], ["44", "55"]]
    split = build_rings(findings, AnalysisOptions(split_above=12))
    assert len(split) == 3
    by_patient = {r["source_patients"][0][:2]: r for r in split.to_dict("records")}
    # members come from each ring's own findings: patient 33P0's stray box resurfaced
    # at LB, so ring 33 lists LB too (a laundering site may serve two rings)
    assert by_patient["33"]["laundering_sites"] == ["LA", "LB"]
    assert by_patient["33"]["source_patients"] == [f"33P{i}" for i in range(6)]
    assert by_patient["44"]["laundering_sites"] == ["LB"] and by_patient["44"]["prescribers"] == ["DB"]
    assert by_patient["55"]["prescribers"] == ["DB", "DC"]


def test_one_ring_feeding_several_pharmacies_stays_whole():
    # one doctor, ten patients, their packs spread over three pharmacies: one ring
    rows = []
    for i in range(10):
        code = f"8688{i:016d}"
        rows.append(ev(f"d{i}", "dispense", f"2025-01-{i + 1:02d} 10:00", "H1", code, patient_id=f"P{i}", prescriber_id="D1"))
        rows.append(ev(f"x{i}", "dispense", f"2025-01-{i + 8:02d} 10:00", f"L{i % 3}", code, patient_id=f"B{i}"))
        code2 = f"8689{i:016d}"
        rows.append(ev(f"e{i}", "dispense", f"2025-01-{i + 1:02d} 11:00", "H1", code2, patient_id=f"P{i}", prescriber_id="D1"))
        rows.append(ev(f"y{i}", "dispense", f"2025-01-{i + 9:02d} 10:00", f"L{(i + 1) % 3}", code2, patient_id=f"C{i}"))
    findings = run_rules(frame(*rows), AnalysisOptions())
    rings = build_rings(findings, AnalysisOptions())
    assert len(rings) == 1
    assert rings.iloc[0]["laundering_sites"] == ["L0", "L1", "L2"] and len(rings.iloc[0]["source_patients"]) == 10


def test_expired_findings_attach_to_rings_but_do_not_form_them():
    rows = _ring_events("66", "H1", "LA", 2, "DA")
    rows[2]["expiry"] = pd.Timestamp("2025-01-03").date()      # resale of the first box after its expiry
    rows += [ev("lone-in", "inbound", "2025-01-01 08:00", "S9", "86770000000000000001"),
             ev("lone-d", "dispense", "2025-02-01 10:00", "S9", "86770000000000000001", patient_id="Q",
                expiry=pd.Timestamp("2025-01-15").date())]
    findings = run_rules(frame(*rows), AnalysisOptions())
    assert sorted(findings["rule"]) == ["DUP_DISPENSE", "DUP_DISPENSE", "EXPIRED", "EXPIRED", "RESURFACE", "RESURFACE"]
    rings = build_rings(findings, AnalysisOptions())
    assert len(rings) == 1
    assert "EXPIRED" in rings.iloc[0]["rules"]
    assert not any("86770000000000000001" in fid for fid in rings.iloc[0]["finding_ids"])


def test_rings_are_deterministic_and_independent_of_row_order():
    findings = run_rules(_two_rings_sharing_a_hospital(), AnalysisOptions())
    a = build_rings(findings, AnalysisOptions(seed=7, split_above=3))
    b = build_rings(findings.sample(frac=1.0, random_state=3).reset_index(drop=True), AnalysisOptions(seed=7, split_above=3))
    pd.testing.assert_frame_equal(a, b)


def test_no_findings_no_rings():
    empty = run_rules(frame(ev("a", "inbound", "01-01 09:00", "S1")), AnalysisOptions())
    rings = build_rings(empty, AnalysisOptions())
    assert rings.empty and list(rings.columns) == list(RING_COLUMNS)


def test_score_grows_with_boxes_money_patients_and_speed():
    base = ring_score(2, 100.0, 2, 1, 30.0)
    assert ring_score(4, 100.0, 2, 1, 30.0) > base
    assert ring_score(2, 1000.0, 2, 1, 30.0) > base
    assert ring_score(2, 100.0, 6, 1, 30.0) > base
    assert ring_score(2, 100.0, 2, 1, 3.0) > base
