"""Stable identity across re-analysis (rxring.cases.identity, issue 17 item 3).

A synthetic city analysed on two months, then again with a third month: the planted
rings keep their ids, findings keep theirs, the new ones are marked new.  A hand-made
workspace plants a merge (a month in which two rings' patients share a prescriber)
and then a split (those sales deleted by NHSA 3507): both are recorded in the lineage,
and the ring that went away takes its id back when it is found again.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rxring.analysis import analyze
from rxring.cases.identity import (LINEAGE_FILE, STATUS_FILE, findings_with_status, load_lineage, ring_fate,
                                   ring_members)
from rxring.errors import RxringError
from rxring.ingest import ingest
from rxring.results import load_findings, load_rings
from rxring.rings import build_rings
from rxring.synth import generate
from rxring.workspace import Workspace
from tests.cases import planted
from tests.cases.planted import add_part, box, ring_ids_by_patient


def _by_previous(lineage: dict) -> dict:
    return {r["previous_id"]: r for r in lineage["rings"] if r["previous_id"]}


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    """A city of three months: results after January-February, then after March is added."""
    root = tmp_path_factory.mktemp("months")
    city = generate(root / "gen", seed=3, fmt="parquet", patients=600, days=90)
    files = {p.name: p for p in city.files}
    first = [files["events-2025-01.parquet"], files["events-2025-02.parquet"], files["sites.csv"], files["products.csv"]]
    ws = root / "ws"
    analyze(ws, "embedded", inputs=first)
    before = {"rings": load_rings(ws), "findings": load_findings(ws), "lineage": load_lineage(ws)}
    ingest([files["events-2025-03.parquet"]], ws)
    analyze(ws, "embedded")
    after = {"rings": load_rings(ws), "findings": load_findings(ws), "lineage": load_lineage(ws)}
    truth = json.loads(city.ground_truth.read_text(encoding="utf-8"))
    return ws, before, after, truth


def _ring_of(rings: pd.DataFrame, patients: set) -> str | None:
    """The ring holding most of a planted ring's source patients."""
    best = max(rings.to_dict("records"), key=lambda r: (len(patients & set(r["source_patients"])), r["ring_id"]))
    return best["ring_id"] if patients & set(best["source_patients"]) else None


def test_a_first_analysis_numbers_rings_by_rank_as_before(months):
    _, before, _, _ = months
    rings = before["rings"]
    assert list(rings["ring_id"]) == [f"R{i:03d}" for i in range(1, len(rings) + 1)]
    assert before["lineage"]["previous_generation"] is None
    assert [r["kind"] for r in before["lineage"]["rings"]] == ["new"] * len(rings)


def test_an_extra_month_keeps_the_planted_rings_ids(months):
    _, before, after, truth = months
    kept = 0
    for planted in truth["rings"]:
        patients = set(planted["members"]["source_patients"])
        old, new = _ring_of(before["rings"], patients), _ring_of(after["rings"], patients)
        if old is None:
            continue   # planted ring that starts in March
        assert new == old, planted["ring_id"]
        kept += 1
    assert kept >= 5
    # the ranks moved (more data), the ids did not follow them
    assert list(after["rings"]["ring_id"]) != [f"R{i:03d}" for i in range(1, len(after["rings"]) + 1)]


def test_lineage_accounts_for_every_previous_ring_and_new_ids_are_fresh(months):
    _, before, after, _ = months
    lineage = after["lineage"]
    previous = _by_previous(lineage)
    assert set(before["rings"]["ring_id"]) <= set(previous)
    assert lineage["previous_generation"].startswith("gen-")
    for ring in before["rings"].to_dict("records"):
        record = previous[ring["ring_id"]]
        if record["kind"] == "kept":
            (now,) = after["rings"][after["rings"]["ring_id"] == ring["ring_id"]].to_dict("records")
            assert ring_members(ring) & ring_members(now)
    old_numbers = {int(r[1:]) for r in before["rings"]["ring_id"]}
    for ring_id in set(after["rings"]["ring_id"]) - set(before["rings"]["ring_id"]):
        assert int(ring_id[1:]) > max(old_numbers)   # never an id used before
    assert after["rings"]["ring_id"].is_unique
    assert lineage["last_ring_number"] >= max(int(r[1:]) for r in after["rings"]["ring_id"])


def test_findings_keep_their_ids_and_the_new_ones_are_marked(months):
    ws, before, after, _ = months
    status = findings_with_status(ws)
    old_ids = set(before["findings"]["finding_id"])
    assert set(status.loc[status["new"], "finding_id"]) == set(after["findings"]["finding_id"]) - old_ids
    assert set(status.loc[~status["new"], "finding_id"]) == set(after["findings"]["finding_id"]) & old_ids
    assert (status["status"] == "open").all()
    assert sorted(after["lineage"]["findings_gone"]) == sorted(old_ids - set(after["findings"]["finding_id"]))
    folder = Workspace(ws).current_generation()
    assert (folder / LINEAGE_FILE).is_file() and (folder / STATUS_FILE).is_file()


def test_the_same_data_again_changes_no_id(months, tmp_path):
    ws, _, after, _ = months
    import shutil

    copy = tmp_path / "again"
    shutil.copytree(ws, copy)
    analyze(copy, "embedded")
    again = load_rings(copy)
    pd.testing.assert_frame_equal(again, after["rings"])
    assert {r["kind"] for r in load_lineage(copy)["rings"]} == {"kept"}
    assert not findings_with_status(copy)["new"].any()


# ---------------------------------------------------------------- a planted merge, then a split

@pytest.fixture
def two_rings(tmp_path):
    return planted.two_rings(tmp_path / "ws")


def test_a_planted_merge_then_split_is_recorded_and_the_ids_come_back(two_rings):
    ws = two_rings
    first = ring_ids_by_patient(ws)
    ring_a, ring_b = first["A1"], first["B1"]
    assert ring_a != ring_b and first["A2"] == ring_a and first["B2"] == ring_b

    # February: B's patients also get prescriptions from A's doctor -> one ring
    add_part(ws, "february", box(20, "B1", "DA", "L2", month=2) + box(21, "B2", "DA", "L2", month=2))
    analyze(ws.root, "embedded")
    merged = ring_ids_by_patient(ws)
    assert len(set(merged.values())) == 1
    lineage = _by_previous(load_lineage(ws))
    assert lineage[ring_a]["kind"] == lineage[ring_b]["kind"] == "merged"
    assert lineage[ring_a]["ring_ids"] == lineage[ring_b]["ring_ids"] == [merged["A1"]]
    assert merged["A1"] in (ring_a, ring_b)   # the merged ring keeps one of the two ids
    for ring_id in (ring_a, ring_b):   # a case on either ring is flagged, and told where its members are
        assert ring_fate(load_lineage(ws), ring_id) == {"kind": "merged", "ring_ids": [merged["A1"]]}

    # the February sales are deleted (NHSA 3507): the ring splits back into A and B
    pd.DataFrame({"record_no": ["B20", "B21"], "event_type": ["dispense", "dispense"]}).to_parquet(
        ws.deletions_path, index=False)
    analyze(ws.root, "embedded")
    split = ring_ids_by_patient(ws)
    assert split == first   # both ids back, the one merged away taken back from the retired rings
    lineage = load_lineage(ws)
    records = _by_previous(lineage)
    assert records[merged["A1"]]["kind"] == "split"
    assert sorted(records[merged["A1"]]["ring_ids"]) == sorted([ring_a, ring_b])
    gone = ring_b if merged["A1"] == ring_a else ring_a
    assert records[gone]["kind"] == "returned"
    assert ring_fate(lineage, gone) == {"kind": "returned", "ring_ids": [gone]}
    assert not lineage["retired"]


def test_a_vanished_ring_is_recorded_and_its_id_never_reused(two_rings):
    ws = two_rings
    first = ring_ids_by_patient(ws)
    # B's sales are deleted: ring B vanishes; a new ring C appears
    pd.DataFrame({"record_no": ["B3", "B4", "B5"], "event_type": ["dispense"] * 3}).to_parquet(
        ws.deletions_path, index=False)
    add_part(ws, "february", box(30, "C1", "DC", "L3", month=2) + box(31, "C2", "DC", "L3", month=2))
    analyze(ws.root, "embedded")
    now = ring_ids_by_patient(ws)
    lineage = load_lineage(ws)
    records = _by_previous(lineage)
    assert records[first["B1"]] == {"previous_id": first["B1"], "kind": "vanished", "ring_ids": [], "jaccard": None}
    assert now["A1"] == first["A1"]
    assert now["C1"] not in set(first.values())
    assert int(now["C1"][1:]) == 3
    assert [r["ring_id"] for r in lineage["retired"]] == [first["B1"]]
    assert ring_fate(lineage, first["B1"])["kind"] == "vanished"
    assert ring_fate(lineage, "R999")["kind"] == "unknown"
    assert {"previous_id": None, "kind": "new", "ring_ids": [now["C1"]], "jaccard": None} in lineage["rings"]


def test_a_first_analysis_gives_the_rings_build_rings_gives(two_rings):
    findings = load_findings(two_rings)
    expected = build_rings(findings)
    pd.testing.assert_frame_equal(load_rings(two_rings), expected, check_dtype=False)


def test_damaged_previous_results_are_one_clear_error(two_rings):
    (Workspace(two_rings.root).current_generation() / "rings.parquet").write_bytes(b"PAR1 damaged")
    with pytest.raises(RxringError, match="cannot read the previous results to carry ring ids over"):
        analyze(two_rings.root, "embedded")
