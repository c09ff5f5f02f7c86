"""`rxring synth` is a thin shell over rxring.synth.generate."""

from __future__ import annotations

import json

from click.testing import CliRunner

from rxring.cli import cli


def test_synth_writes_inputs_and_ground_truth(tmp_path):
    out = tmp_path / "city"
    result = CliRunner().invoke(cli, ["synth", "--out", str(out), "--seed", "4", "--patients", "400", "--days", "30",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "planted" in result.output and "ground truth:" in result.output
    assert f"rxring analyze {out / 'inputs'}" in result.output
    truth = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 4 and truth["params"]["days"] == 30 and truth["params"]["fmt"] == "nhsa"
    assert f"wrote {truth['counts']['events']:,} events" in result.output
    assert (out / "inputs" / "sites.csv").exists() and (out / "inputs" / "products.csv").exists()
    assert list((out / "inputs").glob("nhsa-*.jsonl"))


def test_synth_events_target_sizes_the_city(tmp_path):
    result = CliRunner().invoke(cli, ["synth", "--out", str(tmp_path), "--events", "20000", "--days", "30",
                                      "--format", "parquet", "--no-progress"])
    assert result.exit_code == 0, result.output
    events = json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))["counts"]["events"]
    assert 14000 <= events <= 26000


def test_bad_options_are_one_line_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["synth", "--out", str(tmp_path), "--days", "5"])
    assert result.exit_code == 2 and "rxring: error: --days must be at least 14" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["synth", "--out", str(tmp_path), "--patients", "50"])
    assert result.exit_code == 2 and "at least 300 patients" in result.output
    result = runner.invoke(cli, ["synth", "--out", str(tmp_path), "--format", "xml"])
    assert result.exit_code == 2 and "xml" in result.output
    (tmp_path / "file").write_text("x")
    result = runner.invoke(cli, ["synth", "--out", str(tmp_path / "file")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = runner.invoke(cli, ["synth", "--out", str(tmp_path / "x"), "--start", "2025-13-01"])
    assert result.exit_code == 2 and "--start" in result.output
