"""`rxring demo` end to end on a small city: files written, rings found, paths printed."""

import json
import re

import pandas as pd
from click.testing import CliRunner

from rxring.cli import cli
from rxring.synth.ring_match import match_planted_rings, observed_actor_ids


def test_demo_small_city(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--events", "20000", "--seed", "11",
                                      "--no-progress", "--lang", "en"])
    assert result.exit_code == 0, result.output
    truth = json.loads((out / "city" / "ground_truth.json").read_text(encoding="utf-8"))
    planted = len(truth["rings"])
    found = int(re.search(r"planted rings found: (\d+) of (\d+)", result.output).group(1))
    rings = pd.read_parquet(out / "workspace" / "rings.parquet")
    # The printed count is the one the files give; a tiny city merges some rings
    # that share pharmacies, so only most of them must be found here (bench/quality.py
    # measures the full-size figure).
    assert found == sum(m["found"] for m in match_planted_rings(truth, rings, observed_actor_ids(out / "workspace")))
    assert found >= planted // 2
    index = out / "workspace" / "report" / "index.html"
    viz = out / "rings.html"
    assert index.is_file() and viz.is_file()
    assert index.resolve().as_uri() in result.output
    assert f"rxring serve -w {out / 'workspace'}" in result.output   # the workbench, as README says
    assert "R001" in index.read_text(encoding="utf-8")
    # No external resource: licence comments of the vendored library may name URLs,
    # but no src/href/url() may point off the file.
    html = viz.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", html)


def test_demo_help_explains():
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "synthetic city" in result.output and "--events" in result.output
