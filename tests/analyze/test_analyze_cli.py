"""End to end: the session's generated city (tests/conftest.py ``city``) through `rxring analyze` and the listing
commands."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from rxring.analysis import analyze
from rxring.results import load_analysis, load_findings, load_rings
from rxring.cli import cli
from rxring.options import AnalysisOptions
from rxring.schema import FINDING_COLUMNS, RING_COLUMNS
from rxring.synth.ring_match import observed_actor_ids

@pytest.fixture(scope="module")
def analysed(city, tmp_path_factory):
    """The session city's inputs analysed by `rxring analyze` with its defaults, in a workspace of this module."""
    ws = tmp_path_factory.mktemp("analyze-cli") / "ws"
    result = CliRunner().invoke(cli, ["analyze", str(city.inputs), "-w", str(ws), "--no-progress"])
    assert result.exit_code == 0, result.output
    return {"inputs": city.inputs, "ws": ws, "truth": city.truth, "output": result.output}


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_analyze_writes_results_and_prints_ranked_rings(analysed):
    assert "R001" in analysed["output"] and "laundering sites" in analysed["output"]
    findings, rings = load_findings(analysed["ws"]), load_rings(analysed["ws"])
    assert tuple(findings.columns) == FINDING_COLUMNS and tuple(rings.columns) == RING_COLUMNS
    assert list(rings["rank"]) == list(range(1, len(rings) + 1))
    assert list(rings["score"]) == sorted(rings["score"], reverse=True)
    meta = load_analysis(analysed["ws"])
    assert meta["options"]["seed"] == 0 and meta["stats"]["findings"] == len(findings)
    assert meta["stats"]["events_used"] > 5000 and meta["version"]


def test_findings_match_ground_truth(analysed):
    expected = {(f["rule"], f["trace_code"]) for f in analysed["truth"]["expected_findings"]}
    found = {(r, c[0]) for r, c in zip(*[load_findings(analysed["ws"])[k] for k in ("rule", "trace_codes")])}
    assert len(found & expected) / len(found) >= 0.95
    assert len(found & expected) / len(expected) >= 0.95
    trap_codes = {c for trap in analysed["truth"]["traps"] for c in trap["trace_codes"]}
    expected_codes = {c for _, c in expected}
    assert not {c for _, c in found} & (trap_codes - expected_codes)


def test_planted_rings_are_found(analysed):
    """Most planted rings come out whole (member Jaccard >= 0.8).

    In a small city planted rings may share
    laundering pharmacies and doctors and then are honestly one component; the
    full measurement on realistic cities is bench/quality.py.
    """
    rings = load_rings(analysed["ws"]).to_dict("records")
    roles = ("source_patients", "prescribers", "source_sites", "laundering_sites")
    found = 0
    for planted in analysed["truth"]["rings"]:
        want = {m for role in roles for m in planted["members"][role]}
        best = max(len(want & {m for role in roles for m in r[role]}) / len(want | {m for role in roles for m in r[role]})
                   for r in rings)
        found += best >= 0.8
    assert found >= 0.75 * len(analysed["truth"]["rings"])
    # and every ring names at least one laundering site and comes from real findings
    assert all(r["laundering_sites"] and r["finding_ids"] for r in rings)


def test_listings_mask_people_unless_revealed(analysed):
    ws = analysed["ws"]
    masked = json.loads(_run("rings", "-w", ws, "--json").output)
    revealed = json.loads(_run("rings", "-w", ws, "--json", "--reveal-pii").output)
    patients = [p for r in masked for p in r["source_patients"]]
    assert patients and all("*" in p for p in patients)
    real = {p for r in analysed["truth"]["rings"] for p in r["members"]["source_patients"]}
    assert {p for r in revealed for p in r["source_patients"]} & real
    table = _run("rings", "-w", ws).output
    assert not any(p in table for p in real)


def test_ring_findings_box_site_patient(analysed):
    ws = analysed["ws"]
    ring = _run("ring", "R001", "-w", ws)
    assert ring.exit_code == 0 and "Laundering sites" in ring.output and "finding" in ring.output
    resurfaced = json.loads(_run("findings", "-w", ws, "--rule", "resurface", "--json").output)
    assert resurfaced and {f["rule"] for f in resurfaced} == {"RESURFACE"}
    code = resurfaced[0]["trace_codes"][0]
    box = json.loads(_run("box", code, "-w", ws, "--json").output)
    assert len(box["events"]) >= 2 and all(e["source_file"] and e["source_line"] for e in box["events"])
    assert any(f["rule"] == "RESURFACE" for f in box["findings"])
    assert "nhsa-" in _run("box", code, "-w", ws).output
    spaced = json.loads(_run("box", f"{code[:4]} {code[4:12]} {code[12:]}", "-w", ws, "--json").output)
    assert spaced["trace_code"] == code and len(spaced["events"]) == len(box["events"])
    site = resurfaced[0]["laundering_sites"][0]
    by_site = json.loads(_run("site", site, "-w", ws, "--json").output)
    assert by_site["findings"] and by_site["rings"]
    patient = json.loads(_run("rings", "-w", ws, "--json", "--reveal-pii").output)[0]["source_patients"][0]
    by_patient = _run("patient", patient, "-w", ws)
    assert by_patient.exit_code == 0 and patient not in by_patient.output and "R0" in by_patient.output
    only_site = json.loads(_run("findings", "-w", ws, "--site", site, "--json").output)
    assert only_site and all(site in f["sites"] for f in only_site)


def test_user_errors_are_one_line(analysed, tmp_path):
    for args in (["ring", "R999", "-w", analysed["ws"]], ["box", "00000000000000000000", "-w", analysed["ws"]],
                 ["rings", "-w", tmp_path / "missing"], ["analyze", "-w", tmp_path / "empty"]):
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("rxring: error:") and result.output.count("\n") == 1
    assert _run("analyze", "-w", analysed["ws"], "--provenance-min-coverage", "2").exit_code == 2


def test_deterministic(analysed, tmp_path):
    options = AnalysisOptions()
    first = analyze(tmp_path / "again", "embedded", options, inputs=[analysed["inputs"]])
    pd.testing.assert_frame_equal(first.findings, load_findings(analysed["ws"]))
    pd.testing.assert_frame_equal(first.rings, load_rings(analysed["ws"]))
    second = analyze(tmp_path / "again", "embedded", options)
    pd.testing.assert_frame_equal(first.findings, second.findings)
    pd.testing.assert_frame_equal(first.rings, second.rings)


def test_help_lists_thresholds_with_defaults():
    text = _run("analyze", "--help").output
    for option in ("--double-scan-minutes", "--provenance-grace-days", "--provenance-min-coverage", "--seed",
                   "--split-above", "--merge-share", "--conflict-min-share"):
        assert option in text
    assert "default: 30.0" in text


def test_quality_bench_scores_a_city(analysed):
    """bench/quality.py's scoring on the test city (the bench itself uses other seeds)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "quality.py"
    spec = importlib.util.spec_from_file_location("rxring_bench_quality", path)
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    scored = quality.score_city(analysed["truth"], load_findings(analysed["ws"]), load_rings(analysed["ws"]),
                                observed_actor_ids(analysed["ws"]))
    rows, rings = quality.summarise([scored])
    overall = rows[-1]
    assert overall["rule"] == "all" and overall["precision"] >= 0.95 and overall["recall"] >= 0.95
    assert rings["planted"] == len(analysed["truth"]["rings"]) and rings["trap_only"] == 0
    assert "| DUP_DISPENSE |" in quality.markdown(rows, rings, "header")
