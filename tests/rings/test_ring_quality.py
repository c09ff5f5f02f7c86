"""Ring quality: schemes of one site kept apart, rings cut at a shared laundering site.

Each test is a tiny city written by hand with the rings an investigator expects.
"""

import random
import time

import networkx as nx
import pandas as pd
import pytest

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from rxring.rings import _cut_sites, build_rings, resale_graph
from tests.rules.fixtures import PRODUCTS, ev, frame

PRODUCT_A, PRODUCT_B = PRODUCTS["product_code"]


def _ring(tag: str, prescriber: str, patients: int, outlets: list[str], boxes: int = 2,
          hospital: str = "H1", start_day: int = 1) -> list[dict]:
    """Events of one resale group: each patient gets *boxes* packs at *hospital* from
    *prescriber*; the packs resurface at the *outlets* in turn (round robin over all boxes)."""
    rows, k = [], 0
    for i in range(patients):
        for b in range(boxes):
            code = f"86{tag}{i:03d}{b:02d}".ljust(20, "0")
            day = start_day + (i + b) % 20
            rows.append(ev(f"{tag}in{i}.{b}", "inbound", f"2025-01-{day:02d} 08:00", hospital, code))
            rows.append(ev(f"{tag}d{i}.{b}", "dispense", f"2025-01-{day:02d} 10:00", hospital, code,
                           patient_id=f"{tag}P{i:02d}", prescriber_id=prescriber, settlement_id=f"{tag}S{i}.{b}",
                           fund_amount=100.0))
            rows.append(ev(f"{tag}x{i}.{b}", "dispense", f"2025-02-{day:02d} 15:00", outlets[k % len(outlets)], code,
                           patient_id=f"buyer{tag}{i}.{b}", settlement_id=f"{tag}T{i}.{b}", fund_amount=100.0))
            k += 1
    return rows


def _split_over_limit(site: str, code: str) -> list[dict]:
    """拆零 of one 14-tablet box at *site*: 7 + 7 + 1 tablets, one tablet too many."""
    return [ev(f"sp-in-{code}", "inbound", "2025-01-02 08:00", site, code, product_code=PRODUCT_A)] + [
        ev(f"sp{n}-{code}", "dispense", f"2025-01-{10 + n:02d} 10:00", site, code, patient_id=f"Q{n}",
           prescriber_id=f"DQ{n}", product_code=PRODUCT_A, split_sale=True, quantity=q, settlement_id=f"SQ{n}{code}",
           fund_amount=5.0)
        for n, q in enumerate((7, 7, 1))]


def _swap(site: str, code: str, patient: str, prescriber: str) -> list[dict]:
    """串换: a box received as product A is sold and billed as product B."""
    return [ev(f"sw-in-{code}", "inbound", "2025-01-02 08:00", site, code, product_code=PRODUCT_A),
            ev(f"sw-{code}", "dispense", "2025-01-20 10:00", site, code, patient_id=patient, prescriber_id=prescriber,
               product_code=PRODUCT_B, settlement_id=f"SW{code}", fund_amount=80.0)]


def _rings(rows: list[dict], products=None, **options) -> list[dict]:
    findings = run_rules(frame(*rows), AnalysisOptions(), products=products)
    return build_rings(findings, AnalysisOptions(**options)).to_dict("records")


def _by_patient_tag(rings: list[dict]) -> dict[str, dict]:
    out = {}
    for ring in rings:
        tags = sorted({p[:2] for p in ring["source_patients"]})
        out["+".join(tags)] = ring
    return out


def test_same_site_split_finding_is_a_laundering_site_of_its_own_ring():
    # LA launders ring 11's packs and also oversells one box in split sales (拆零)
    rows = _ring("11", "DA", 3, ["LA"]) + _split_over_limit("LA", "83000000000000000001")
    findings = run_rules(frame(*rows), AnalysisOptions(), products=PRODUCTS)
    split = findings[findings["trace_codes"].map(lambda c: "83000000000000000001" in c)]
    assert sorted(split["rule"]) == ["DUP_DISPENSE", "RESURFACE"]
    assert all(list(s) == ["LA"] for s in split["source_sites"])          # the rules' view: LA is both
    graph = resale_graph(findings, AnalysisOptions())
    assert ("site:SPLIT", "LA") in graph and ("site", "LA") in graph
    assert not nx.has_path(graph, ("site:SPLIT", "LA"), ("site", "LA"))
    rings = build_rings(findings, AnalysisOptions()).to_dict("records")
    assert len(rings) == 2
    resale = next(r for r in rings if r["source_patients"])
    assert resale["source_sites"] == ["H1"] and resale["laundering_sites"] == ["LA"]
    assert resale["boxes"] == 6 and not any("83000000000000000001" in f for f in resale["finding_ids"])
    oversold = next(r for r in rings if not r["source_patients"])
    assert oversold["source_sites"] == [] and oversold["laundering_sites"] == ["LA"]
    assert oversold["prescribers"] == [] and oversold["boxes"] == 1
    assert sorted(oversold["rules"]) == ["DUP_DISPENSE", "RESURFACE"]


def test_split_findings_at_one_pharmacy_form_one_ring():
    rows = _split_over_limit("LS", "83000000000000000001") + _split_over_limit("LS", "83000000000000000002")
    rings = _rings(rows, products=PRODUCTS)
    assert len(rings) == 1
    assert rings[0]["laundering_sites"] == ["LS"] and rings[0]["source_sites"] == [] and rings[0]["boxes"] == 2


def test_code_swap_on_a_ring_patient_does_not_pull_the_swap_pharmacy_in():
    # patient 11P00 sells packs to ring 11's broker (outlet LA) and, elsewhere, is one
    # of the cards a swap pharmacy SW bills product B on (with an unrelated doctor DX)
    rows = _ring("11", "DA", 4, ["LA"])
    rows += _swap("SW", "84000000000000000001", "11P00", "DX") + _swap("SW", "84000000000000000002", "Z1", "DY")
    rings = _rings(rows)
    assert len(rings) == 2
    resale = next(r for r in rings if "RESURFACE" in r["rules"])
    assert resale["laundering_sites"] == ["LA"] and resale["prescribers"] == ["DA"]
    assert resale["source_sites"] == ["H1"] and len(resale["source_patients"]) == 4
    assert "CODE_CONFLICT" not in resale["rules"]
    swap = next(r for r in rings if r["rules"] == ["CODE_CONFLICT"])
    assert swap["laundering_sites"] == ["SW"] and swap["source_patients"] == ["11P00", "Z1"]
    assert swap["prescribers"] == ["DX", "DY"] and swap["boxes"] == 2


def test_code_swap_prescriber_of_a_ring_does_not_glue_rings():
    # the swap is billed on a prescription of ring 22's doctor: still two rings
    rows = _ring("22", "DB", 3, ["LB"]) + _swap("SW", "84000000000000000003", "Z2", "DB")
    rings = _rings(rows)
    assert sorted(r["laundering_sites"][0] for r in rings) == ["LB", "SW"]


def test_code_swap_on_a_resold_box_joins_its_ring_without_members():
    rows = _ring("33", "DC", 2, ["LC"], boxes=1)
    code = rows[0]["trace_code"]
    rows[0]["product_code"] = PRODUCT_A                   # received as A at the hospital
    rows[2].update(product_code=PRODUCT_B, prescriber_id="DZ")   # resold at LC billed as B
    rings = _rings(rows)
    assert len(rings) == 1
    assert "CODE_CONFLICT" in rings[0]["rules"] and f"CODE_CONFLICT:{code}" in rings[0]["finding_ids"]
    assert rings[0]["prescribers"] == ["DC"] and rings[0]["laundering_sites"] == ["LC"]


def test_rings_sharing_only_a_laundering_site_come_apart():
    # ring 11 sells to LA and the shared pharmacy L; ring 22 to LB and L; the pair 33
    # only to L.  One component of 16 nodes, glued by L alone.
    rows = _ring("11", "DA", 5, ["LA", "L"]) + _ring("22", "DB", 4, ["LB", "L"], hospital="H2") \
        + _ring("33", "DC", 2, ["L"], hospital="H3")
    for split_above in (8, 100):
        rings = _by_patient_tag(_rings(rows, split_above=split_above))
        assert sorted(rings) == ["11", "22", "33"]
        assert rings["11"]["laundering_sites"] == ["L", "LA"] and rings["11"]["prescribers"] == ["DA"]
        assert rings["22"]["laundering_sites"] == ["L", "LB"] and rings["22"]["source_sites"] == ["H2"]
        assert rings["33"]["laundering_sites"] == ["L"] and rings["33"]["prescribers"] == ["DC"]
        assert rings["33"]["source_patients"] == ["33P00", "33P01"] and rings["33"]["boxes"] == 4


def test_one_pharmacy_fed_by_two_doctors_patients_stays_one_ring():
    # 22 patients of two doctors at two hospitals, all resold at one pharmacy P7: the
    # doctors' groups share nothing but P7, and no other outlet tells them apart
    rows = _ring("44", "D1", 11, ["P7"], hospital="H1") + _ring("55", "D2", 11, ["P7"], hospital="H2")
    rings = _rings(rows)
    assert len(rings) == 1
    assert rings[0]["prescribers"] == ["D1", "D2"] and rings[0]["source_sites"] == ["H1", "H2"]
    assert len(rings[0]["source_patients"]) == 22


def test_big_collection_feeding_several_pharmacies_stays_whole():
    # 21 patients, 2 doctors, 4 pharmacies; one patient sold a single box to a fifth
    # pharmacy nobody else uses (a lone patient is no ring of its own)
    rows = _ring("66", "D1", 11, ["L1", "L2", "L3", "L4"], boxes=3) \
        + _ring("77", "D2", 10, ["L2", "L4", "L1", "L3"], boxes=3, hospital="H2")
    rows += [ev("stray-d", "dispense", "2025-01-05 10:00", "H1", "86990000000000000009", patient_id="66P00",
                prescriber_id="D1"),
             ev("stray-x", "dispense", "2025-02-05 10:00", "L5", "86990000000000000009", patient_id="zz")]
    rings = _rings(rows)
    assert len(rings) == 1
    assert rings[0]["laundering_sites"] == ["L1", "L2", "L3", "L4", "L5"]
    assert len(rings[0]["source_patients"]) == 21 and rings[0]["prescribers"] == ["D1", "D2"]


def test_cut_rings_are_deterministic():
    rows = _ring("11", "DA", 5, ["LA", "L"]) + _ring("22", "DB", 4, ["LB", "L"], hospital="H2") \
        + _ring("33", "DC", 2, ["L"], hospital="H3") + _split_over_limit("L", "83000000000000000001") \
        + _swap("L", "84000000000000000001", "11P00", "DX")
    findings = run_rules(frame(*rows), AnalysisOptions(), products=PRODUCTS)
    a = build_rings(findings, AnalysisOptions(seed=3))
    b = build_rings(findings.sample(frac=1.0, random_state=5).reset_index(drop=True), AnalysisOptions(seed=3))
    pd.testing.assert_frame_equal(a, b)
    assert list(a["ring_id"]) == [f"R{i:03d}" for i in range(1, 6)]
    assert a["score"].is_monotonic_decreasing
    assert sorted(tuple(s) for s in a["laundering_sites"]) == [("L",), ("L",), ("L",), ("L", "LA"), ("L", "LB")]


@pytest.mark.parametrize("missing", ["source_patients", "source_prescribers"])
def test_findings_without_role_columns_still_make_rings(missing):
    # engines that do not split people by role (no source_* columns) still get rings
    findings = run_rules(frame(*_ring("11", "DA", 3, ["LA"])), AnalysisOptions()).drop(columns=[missing])
    rings = build_rings(findings, AnalysisOptions())
    assert len(rings) == 1 and rings.iloc[0]["laundering_sites"] == ["LA"]


def _brute_cut_sites(graph) -> dict:
    """Reference for rings._cut_sites: remove each site and look at what is left."""
    out = {}
    for site in sorted(n for n in graph if n[0] == "site"):
        rest = graph.subgraph(n for n in graph if n != site)
        pieces = [set(p) for p in nx.connected_components(rest)]
        if len(pieces) < 2:
            continue
        own = [p for p in pieces if sum(n[0] == "patient" for n in p) >= 2 and any(n[0] == "site" for n in p)]
        hub_patients = sum(n[0] == "patient" for n in graph) - sum(sum(n[0] == "patient" for n in p) for p in own)
        if len(own) >= 2 or (own and hub_patients >= 2):
            out[site] = sorted(min(p) for p in pieces if p not in own)
    return out


def test_cut_sites_from_the_block_cut_tree_match_removing_each_site():
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        kinds = ["patient"] * rng.randint(2, 12) + ["prescriber"] * rng.randint(0, 3) + ["site"] * rng.randint(1, 6)
        nodes = [(kind, f"{kind[0]}{i}") for i, kind in enumerate(kinds)]
        graph = nx.Graph()
        graph.add_nodes_from(nodes)
        order = nodes[:]
        rng.shuffle(order)
        for i in range(1, len(order)):     # a random tree keeps the graph connected ...
            graph.add_edge(order[i], order[rng.randrange(i)], weight=1.0)
        for _ in range(rng.randint(0, len(nodes) // 2)):   # ... plus a few cycles
            a, b = rng.sample(nodes, 2)
            graph.add_edge(a, b, weight=1.0)
        hub_blocks, block_of_edge = _cut_sites(graph)
        got = {}
        for site, hubs in hub_blocks.items():
            rest = graph.subgraph(n for n in graph if n != site)
            pieces = [set(p) for p in nx.connected_components(rest)]
            got[site] = sorted(min(p) for p in pieces
                               if any(block_of_edge[tuple(sorted((site, v)))] in hubs for v in graph[site] if v in p))
        assert got == _brute_cut_sites(graph)
        checked += bool(got)
    assert checked > 20     # the random graphs did exercise cuts


def test_rings_of_a_long_chain_of_shared_sites_are_cut_fast():
    # 400 rings, each with its own outlet, each sharing one outlet with its neighbour
    rows = []
    for r in range(400):
        for p in range(3):
            for b in range(2):
                code = f"{r:04d}{p}{b}".ljust(20, "7")
                outlet = [f"L{r:03d}", f"S{r // 2:03d}", f"T{(r + 1) // 2:03d}"][(p + b) % 3]
                rows += [{"finding_id": f"{rule}:{code}", "rule": rule, "trace_codes": [code],
                          "source_patients": [f"P{r}-{p}"], "source_prescribers": [f"D{r}"], "source_sites": ["H1"],
                          "laundering_sites": [outlet], "fund_amount": 10.0, "total_amount": 12.0,
                          "event_ids": [f"e{code}"], "first_time": pd.Timestamp("2025-01-01"),
                          "last_time": pd.Timestamp("2025-01-06")} for rule in ("DUP_DISPENSE", "RESURFACE")]
    began = time.perf_counter()
    rings = build_rings(pd.DataFrame(rows), AnalysisOptions())
    assert time.perf_counter() - began < 20
    assert len(rings) == 400 and all(len(p) == 3 for p in rings["source_patients"])


def test_same_patient_refill_at_a_laundering_pharmacy_is_a_ring_of_its_own():
    # LA launders ring 11's packs; it also settles boxes twice to its own regulars
    # (空刷, the pack never left them): two schemes, two rings, nobody shared
    rows = _ring("11", "DA", 3, ["LA"])
    for i in range(2):
        code = f"8500000000000000000{i}"
        rows += [ev(f"rf-in{i}", "inbound", "2025-01-02 08:00", "LA", code),
                 ev(f"rf-a{i}", "dispense", "2025-01-05 10:00", "LA", code, patient_id=f"R{i}", prescriber_id="DR",
                    settlement_id=f"RA{i}", fund_amount=50.0),
                 ev(f"rf-b{i}", "dispense", "2025-02-05 10:00", "LA", code, patient_id=f"R{i}", prescriber_id="DR",
                    settlement_id=f"RB{i}", fund_amount=50.0)]
    rows += _swap("SW", "84000000000000000001", "R0", "DX")     # a regular's card also carries a swap elsewhere
    findings = run_rules(frame(*rows), AnalysisOptions())
    refills = findings[findings["trace_codes"].map(lambda c: c[0].startswith("85"))]
    assert list(refills["rule"]) == ["DUP_DISPENSE", "DUP_DISPENSE"]     # same patient: no RESURFACE
    graph = resale_graph(findings, AnalysisOptions())
    assert ("patient:REFILL", "R0") in graph and ("site:REFILL", "LA") in graph
    rings = build_rings(findings, AnalysisOptions()).to_dict("records")
    assert sorted(tuple(r["laundering_sites"]) for r in rings) == [("LA",), ("LA",), ("SW",)]
    resale = next(r for r in rings if "RESURFACE" in r["rules"])
    assert resale["prescribers"] == ["DA"] and len(resale["source_patients"]) == 3
    refill = next(r for r in rings if r["source_patients"] == ["R0", "R1"])
    assert refill["rules"] == ["DUP_DISPENSE"] and refill["source_sites"] == ["LA"] and refill["prescribers"] == ["DR"]
    assert refill["boxes"] == 2 and refill["fund_at_risk"] == pytest.approx(200.0)


def test_resale_to_another_patient_at_the_same_site_stays_a_resale_ring():
    # the pharmacy takes back a box it sold and sells it again to someone else: a
    # resale (RESURFACE), linked to the patients who sold the boxes back
    rows = []
    for i in range(3):
        code = f"8700000000000000000{i}"
        rows += [ev(f"ss-in{i}", "inbound", "2025-01-02 08:00", "PX", code),
                 ev(f"ss-a{i}", "dispense", "2025-01-05 10:00", "PX", code, patient_id=f"S{i}", prescriber_id="DS",
                    settlement_id=f"SA{i}", fund_amount=50.0),
                 ev(f"ss-b{i}", "dispense", "2025-02-05 10:00", "PX", code, patient_id=f"T{i}",
                    settlement_id=f"SB{i}", fund_amount=50.0)]
    findings = run_rules(frame(*rows), AnalysisOptions())
    assert ("patient", "S0") in resale_graph(findings, AnalysisOptions())
    rings = _rings(rows)
    assert len(rings) == 1 and rings[0]["source_patients"] == ["S0", "S1", "S2"]
    assert rings[0]["source_sites"] == ["PX"] and rings[0]["laundering_sites"] == ["PX"]
