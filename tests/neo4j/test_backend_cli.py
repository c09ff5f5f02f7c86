"""`rxring analyze --backend neo4j` gives the embedded engine's findings and rings on the
session's synthetic city, and the listing commands read them the same way."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from click.testing import CliRunner
from pandas.testing import assert_frame_equal

from rxring.cli import cli


def test_analyze_backend_neo4j_matches_embedded(city, tmp_path, empty_neo4j, neo4j_config, monkeypatch):
    for name in ("ws_e", "ws_n"):   # the city is ingested already: analyse two copies of it
        shutil.copytree(city.workspace, tmp_path / name)
    runner = CliRunner()
    embedded = runner.invoke(cli, ["analyze", "-w", str(tmp_path / "ws_e"), "--no-progress"])
    assert embedded.exit_code == 0, embedded.output

    monkeypatch.setenv("NEO4J_URI", neo4j_config.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_config.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_config.password)
    if neo4j_config.database:
        monkeypatch.setenv("NEO4J_DATABASE", neo4j_config.database)
    # NEO4J_URI set: neo4j is the default backend (DESIGN §5)
    graph = runner.invoke(cli, ["analyze", "-w", str(tmp_path / "ws_n"), "--no-progress"])
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

    listed = runner.invoke(cli, ["rings", "-w", str(tmp_path / "ws_n"), "--json", "--backend", "neo4j"])
    assert listed.exit_code == 0, listed.output
    assert [r["ring_id"] for r in json.loads(listed.output)] == list(pd.read_parquet(tmp_path / "ws_e" / "rings.parquet")["ring_id"])
    wrong = runner.invoke(cli, ["rings", "-w", str(tmp_path / "ws_e"), "--backend", "neo4j"])
    assert wrong.exit_code != 0 and "embedded backend" in wrong.output

    # a flagged box: the graph's chain of custody lists the same events as the embedded timeline
    code = pd.read_parquet(tmp_path / "ws_e" / "findings.parquet")["trace_codes"].iloc[0][0]
    from_graph = runner.invoke(cli, ["box", code, "-w", str(tmp_path / "ws_n"), "--json"])
    from_files = runner.invoke(cli, ["box", code, "-w", str(tmp_path / "ws_e"), "--json", "--backend", "embedded"])
    assert from_graph.exit_code == 0 and from_files.exit_code == 0, from_graph.output + from_files.output
    graph_events, file_events = json.loads(from_graph.output)["events"], json.loads(from_files.output)["events"]
    counted = [e for e in file_events if e["note"] not in ("deleted (NHSA 3507)", "duplicate event id")]
    assert [e["event_id"] for e in graph_events] == [e["event_id"] for e in counted]
    # notes of the rules' marks (the graph does not say which sale a refund cancels)
    assert [e["note"] for e in graph_events if e["event_type"] != "refund"] == \
        [e["note"] for e in counted if e["event_type"] != "refund"]
    assert json.loads(from_graph.output)["findings"] == json.loads(from_files.output)["findings"]


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
