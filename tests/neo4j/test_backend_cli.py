"""`rxring analyze --backend neo4j` gives the embedded engine's findings and rings, and the
listing commands read them the same way."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from click.testing import CliRunner
from pandas.testing import assert_frame_equal

from rxring.cli import cli


def test_analyze_backend_neo4j_matches_embedded(tmp_path, empty_neo4j, neo4j_config, monkeypatch):
    from rxring.synth import generate

    generate(tmp_path / "city", seed=5, patients=300, days=40)
    inputs = tmp_path / "city" / "inputs"
    runner = CliRunner()
    embedded = runner.invoke(cli, ["analyze", str(inputs), "-w", str(tmp_path / "ws_e"), "--no-progress"])
    assert embedded.exit_code == 0, embedded.output

    monkeypatch.setenv("NEO4J_URI", neo4j_config.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_config.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_config.password)
    if neo4j_config.database:
        monkeypatch.setenv("NEO4J_DATABASE", neo4j_config.database)
    # NEO4J_URI set: neo4j is the default backend (DESIGN §5)
    graph = runner.invoke(cli, ["analyze", str(inputs), "-w", str(tmp_path / "ws_n"), "--no-progress"])
    assert graph.exit_code == 0, graph.output
    assert neo4j_config.password not in graph.output or not neo4j_config.password

    meta = json.loads((tmp_path / "ws_n" / "analysis.json").read_text(encoding="utf-8"))
    assert meta["engine"] == "neo4j"
    for table in ("findings", "rings"):
        a = pd.read_parquet(tmp_path / "ws_e" / f"{table}.parquet")
        b = pd.read_parquet(tmp_path / "ws_n" / f"{table}.parquet")
        assert len(a) > 0
        assert_frame_equal(a, b)
    # the printed ring tables are the same too (after the timing line)
    assert embedded.output.splitlines()[1:-1] == graph.output.splitlines()[1:-1]

    listed = runner.invoke(cli, ["rings", "-w", str(tmp_path / "ws_n"), "--json"])
    assert listed.exit_code == 0
    assert [r["ring_id"] for r in json.loads(listed.output)] == list(pd.read_parquet(tmp_path / "ws_e" / "rings.parquet")["ring_id"])


def test_analyze_backend_neo4j_unreachable_is_one_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(__file__.replace("test_backend_cli.py", "../fixtures/ingest/mixed_good_bad.csv"), src / "a.csv")
    result = CliRunner().invoke(cli, ["analyze", str(src), "-w", str(tmp_path / "ws"), "--no-progress",
                                      "--backend", "neo4j", "--neo4j", "bolt://127.0.0.1:9"],
                                env={"NEO4J_PASSWORD": "s3cret-pw"})
    assert result.exit_code == 2
    assert "bolt://127.0.0.1:9" in result.output and "s3cret-pw" not in result.output
    assert "Traceback" not in result.output
