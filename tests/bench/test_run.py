"""bench/run.py: the pieces (sizes, growth, targets, results file) and one end-to-end smoke run."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "run.py"


def _load():
    spec = importlib.util.spec_from_file_location("rxring_bench_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load()


def _measurement(events, analyze_s, anchor_s, rss_mb=500.0, ingest=None):
    m = bench.Measurement(events=events, analysis_format="parquet")
    m.analyze = {"seconds": analyze_s, "task_cpu": analyze_s, "peak_rss_mb": rss_mb, "findings": 10,
                 "rings": 2, "findings_by_rule": {"DUP_DISPENSE": 6, "RESURFACE": 4}}
    m.anchor = {"seconds": anchor_s, "task_cpu": anchor_s}
    m.ingest = ingest or {"parquet": {"read": events, "events": events, "seconds": 1.0, "rows_per_s": float(events),
                                      "rows_per_cpu_s": float(events), "peak_rss_mb": 100.0}}
    m.load_avg = [1.0, 1.5]
    return m


def test_parse_sizes_accepts_suffixes_and_rejects_nonsense():
    assert bench.parse_sizes("1M,3M,10M") == [1_000_000, 3_000_000, 10_000_000]
    assert bench.parse_sizes("100000, 2.5M ,250k") == [100_000, 2_500_000, 250_000]
    for bad in ("ten", "1G", "", "5000"):
        with pytest.raises(ValueError):
            bench.parse_sizes(bad)


def test_growth_is_relative_to_the_events_ratio():
    small, large = _measurement(1_000_000, 10.0, 2.0), _measurement(10_000_000, 140.0, 20.0)
    g = bench.growth(small, large)
    assert g["factor"] == pytest.approx(14.0)
    assert g["linear"] == pytest.approx(10.0)
    assert g["met"] is False  # 1.4 of linear is outside +30 %
    large.analyze["seconds"] = 95.0
    assert bench.growth(small, large)["met"] is True
    assert bench.growth(large, small) is None


def test_targets_judge_the_largest_size():
    small = _measurement(1_000_000, 30.0, 1.0)           # 30x the anchor, but not the largest
    large = _measurement(3_000_000, 50.0, 20.0, rss_mb=7000.0,
                         ingest={"parquet": {"rows_per_s": 1_200_000.0}, "csv": {"rows_per_s": 250_000.0}})
    rows = {r["target"].split(" (")[0]: r for r in bench.evaluate_targets([small, large])}
    assert rows["analyze ≤ 3× DuckDB anchor"]["met"] is True
    assert rows["analyze ≤ 3× DuckDB anchor"]["value"] == "2.5×"
    assert rows["stretch: analyze ≤ 2× anchor"]["met"] is False
    assert rows["analyze peak RSS < 6 GB"]["met"] is False
    assert rows["ingest parquet ≥ 1,000,000 rows/s"]["met"] is True
    assert rows["ingest csv ≥ 300,000 rows/s"]["met"] is False
    growth = next(r for t, r in rows.items() if t.startswith("growth"))
    assert growth["met"] is True  # x1.67 time for x3 events
    assert rows["Neo4j --suspicious-only load < 120 s"]["value"] == "skipped (no server)"


def test_results_file_keeps_hand_written_notes(tmp_path):
    results = tmp_path / "RESULTS.md"
    ms = [_measurement(1_000_000, 10.0, 2.0), _measurement(3_000_000, 33.0, 6.0)]
    machine = {"cores": 2, "memory_gib": 23.5, "python": "3.11", "duckdb": "1", "load_avg": [1, 2, 3]}
    text = bench.render_markdown(ms, ["parquet"], machine, "python bench/run.py")
    assert "| 1M |" in text and "| 3M |" in text and "5.0×" in text and "5.5×" in text
    assert "1M → 3M: wall time ×3.30" in text and "CPU time ×3.30" in text
    results.write_text(text + "## Profile\n\nrules dominate\n", encoding="utf-8")
    again = bench.render_markdown(ms, ["parquet"], machine, "python bench/run.py", notes=bench._kept_notes(results))
    assert again.count(bench.NOTES_MARKER) == 1
    assert again.endswith("## Profile\n\nrules dominate\n")


def test_an_identical_city_is_reused_and_a_different_one_is_not(tmp_path, monkeypatch):
    city = tmp_path / "city-parquet-200000"
    (city / "inputs").mkdir(parents=True)
    (city / "ground_truth.json").write_text(json.dumps(
        {"seed": 0, "params": {"events": 200_000, "fmt": "parquet"}, "counts": {"events": 201_000}}))
    calls = []
    monkeypatch.setattr(bench, "run_child", lambda name, **kw: calls.append((name, kw)) or {"events": 1})
    path, info = bench._city(tmp_path, "parquet", 200_000, seed=0)
    assert path == city and info == {"events": 201_000, "reused": True} and not calls
    bench._city(tmp_path, "parquet", 200_000, seed=1)
    assert calls and calls[0][0] == "generate" and calls[0][1]["seed"] == 1


def test_a_failing_child_reports_its_error(tmp_path):
    with pytest.raises(bench.BenchError, match="anchor failed"):
        bench.run_child("anchor", workspace=str(tmp_path / "nothing-here"), repeat=1)


def test_smoke_run_end_to_end(tmp_path):
    """`bench/run.py --events 30000` generates, ingests, analyses, anchors and writes RESULTS.md."""
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--events", "30000", "--out", str(tmp_path / "data"),
         "--results", str(results), "--skip-neo4j", "--anchor-repeat", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "neo4j: skipped" in proc.stdout
    text = results.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| 30k |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = next(line for line in text.splitlines() if line.startswith("| size |"))
    names = [c.strip() for c in header.strip("|").split("|")]
    values = dict(zip(names, cells))
    assert int(values["events"].replace(",", "")) > 20_000
    for column in ("parquet rows/s", "nhsa rows/s", "analyze s", "anchor s", "analyze RSS MB"):
        assert float(values[column].replace(",", "")) > 0, column
    assert re.fullmatch(r"\d+(\.\d)?×", values["analyze/anchor"])
    assert int(values["findings"].replace(",", "")) > 0
    assert "cores: " in text and "duckdb " in text and "| analyze ≤ 3× DuckDB anchor (30k) |" in text
    # the per-step CPU table: every SQL stage, the assembly and the rings, with candidate counts
    steps = next(line for line in text.splitlines() if line.startswith("| size | codes | candidate codes"))
    for step in ("scan", "code_site", "cand", "ev", "rules", "evidence", "assemble", "rings"):
        assert f" {step} |" in steps, step
    step_row = [c.strip() for c in text.split(steps, 1)[1].splitlines()[2].strip("|").split("|")]
    codes, candidates = (int(step_row[i].replace(",", "")) for i in (1, 2))
    assert 0 < candidates < codes
    # the cities are kept and a second run reuses them instead of generating again
    assert (tmp_path / "data" / "city-nhsa-30000" / "ground_truth.json").exists()
    # the investigator outputs of the analysed workspace (issue 20)
    outputs = next(line for line in text.splitlines() if line.startswith("| size | events | report s"))
    row = [c.strip() for c in text.split(outputs, 1)[1].splitlines()[2].strip("|").split("|")]
    values = dict(zip([c.strip() for c in outputs.strip("|").split("|")], row))
    for column in ("report s", "viz RSS MB", "evidence s", "evidence RSS MB"):
        assert float(values[column].replace(",", "")) > 0, column
    assert "| evidence of one ring < 3 s and < 1 GB at 10M |" in text


def test_outputs_of_an_existing_workspace(tmp_path):
    """`--workspace SIZE=PATH` measures only the report, viz and evidence of a workspace already analysed."""
    from tests.report.conftest import build_workspace

    workspace = build_workspace(tmp_path / "case", big=False).root
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--workspace", f"10k={workspace}", "--results",
                           str(results)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = results.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| 10k |"))
    assert "—" not in row.split("|")[3:-2], row  # every output measured
    assert "viz of one ring < 3 s and < 1 GB at 10M | not measured" not in text
    # the fixture's manifest is hand-made without SM3, and no look-up copies were written
    assert f"- 10k (`{workspace}`): without its look-up copies; its manifest lacks (ingested before" in text
    bad = subprocess.run([sys.executable, str(SCRIPT), "--workspace", f"10k={tmp_path / 'nothing'}", "--results",
                          str(tmp_path / "R2.md")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "analysed workspace" in bad.stderr


def test_measurements_round_trip_through_json(tmp_path):
    ms = [_measurement(1_000_000, 10.0, 2.0), _measurement(3_000_000, 33.0, 6.0)]
    path = tmp_path / "measurements.json"
    bench.save_measurements(path, ms, {"skipped": "no server"}, ["parquet"])
    again, neo4j, formats = bench.load_measurements(path)
    assert [m.events for m in again] == [1_000_000, 3_000_000]
    assert again[1].ratio == pytest.approx(5.5) and neo4j == {"skipped": "no server"} and formats == ["parquet"]
    assert again[0].analyze["findings_by_rule"] == {"DUP_DISPENSE": 6, "RESURFACE": 4}


def test_steps_table_lists_each_step_per_size():
    ms = [_measurement(1_000_000, 10.0, 2.0), _measurement(10_000_000, 33.0, 6.0)]
    ms[0].analyze.update(codes=500_000, candidate_codes=5_000, candidate_events=20_000,
                         cpu_by_step={"scan": 0.6, "code_site": 0.7, "rings": 0.3})
    ms[1].analyze.update(codes=5_000_000, candidate_codes=40_000, candidate_events=150_000,
                         cpu_by_step={"scan": 6.5, "code_site": 8.1, "rings": 0.6})
    lines = bench.render_steps(ms)
    assert lines[0] == "## Where analyze spends its CPU"
    header = next(line for line in lines if line.startswith("| size |"))
    assert header.endswith("| scan | code_site | rings | anchor CPU s |")
    assert "| 1M | 500,000 | 5,000 | 20,000 | 0.60 | 0.70 | 0.30 | 2.00 |" in lines
    assert "| 10M | 5,000,000 | 40,000 | 150,000 | 6.50 | 8.10 | 0.60 | 6.00 |" in lines
    assert bench.render_steps([_measurement(1_000_000, 10.0, 2.0)]) == []


def test_ingest_only_keeps_the_rest_of_an_earlier_measurement(tmp_path, monkeypatch):
    """`--ingest-only --previous`: this run's NHSA ingest joins the earlier 1M row; its Parquet ingest, analyze
    and anchor stay."""
    previous = tmp_path / "measurements.json"
    earlier = _measurement(1_000_000, 10.0, 2.0)
    earlier.ingest["csv"] = dict(earlier.ingest["parquet"])
    bench.save_measurements(previous, [earlier], {"skipped": "no server"}, ["parquet", "nhsa", "csv"])
    fresh = bench.Measurement(events=1_000_000, analysis_format="nhsa", load_avg=[3.0, 4.0])
    fresh.generated = {"nhsa": {"reused": True}}
    fresh.ingest = {"nhsa": {"read": 1_100_000, "seconds": 4.0, "rows_per_s": 275_000.0, "rows_per_cpu_s": 150_000.0,
                             "peak_rss_mb": 300.0}}

    def measured(args):
        assert args.ingest_only and args.formats == ["nhsa"]
        return [fresh], {"skipped": "--ingest-only"}

    monkeypatch.setattr(bench, "run_benchmark", measured)
    results = tmp_path / "RESULTS.md"
    assert bench.main(["--events", "1M", "--formats", "nhsa", "--ingest-only", "--previous", str(previous),
                       "--results", str(results)]) == 0
    lines = results.read_text(encoding="utf-8").splitlines()
    names = [c.strip() for c in next(x for x in lines if x.startswith("| size |")).strip("|").split("|")]
    assert [n[:-len(" rows/s")] for n in names if n.endswith(" rows/s")] == ["parquet", "nhsa", "csv"]  # as before
    values = dict(zip(names, [c.strip() for c in next(x for x in lines if x.startswith("| 1M |")).strip("|").split("|")]))
    assert (values["nhsa rows/s"], values["nhsa rows/CPU-s"], values["parquet rows/s"]) == (
        "275,000", "150,000", "1,000,000")
    assert (values["analyze s"], values["analyze/anchor"], values["load avg"]) == ("10.0", "5.0×", "1.0 → 1.5")
