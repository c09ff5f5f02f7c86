"""`rxring analyze` on Neo4j gives the embedded engine's findings and rings, and the listing
commands read the graph the way they read the files (on the session's city analysed on
Neo4j once, the ``neo4j_city`` fixture)."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner
from pandas.testing import assert_frame_equal

from rxring.cli import cli
from rxring.results import load_analysis, load_findings, load_rings

from .graph_data import make_workspace, tiny_city, tiny_products, tiny_sites


def test_analyze_with_neo4j_uri_set_runs_on_the_graph(tmp_path, empty_neo4j, neo4j_config, monkeypatch):
    """NEO4J_URI set: `rxring analyze` defaults to the neo4j backend (DESIGN §5) and prints what
    the embedded backend prints for the same workspace."""
    for name in ("ws_e", "ws_n"):
        make_workspace(tmp_path / name, tiny_city(), products=tiny_products(), sites=tiny_sites())
    runner = CliRunner()
    embedded = runner.invoke(cli, ["analyze", "-w", str(tmp_path / "ws_e"), "--no-progress"])
    assert embedded.exit_code == 0, embedded.output

    monkeypatch.setenv("NEO4J_URI", neo4j_config.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_config.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_config.password)
    if neo4j_config.database:
        monkeypatch.setenv("NEO4J_DATABASE", neo4j_config.database)
    graph = runner.invoke(cli, ["analyze", "-w", str(tmp_path / "ws_n"), "--no-progress"])
    assert graph.exit_code == 0, graph.output
    assert neo4j_config.password not in graph.output or not neo4j_config.password

    assert load_analysis(tmp_path / "ws_n")["engine"] == "neo4j"
    assert load_analysis(tmp_path / "ws_e")["engine"] == "embedded"
    a, b = load_findings(tmp_path / "ws_e"), load_findings(tmp_path / "ws_n")
    assert len(a) > 0
    assert_frame_equal(a, b)
    assert_frame_equal(load_rings(tmp_path / "ws_e"), load_rings(tmp_path / "ws_n"))
    # the printed tables are the same too (after the timing line)
    assert embedded.output.splitlines()[1:-1] == graph.output.splitlines()[1:-1]


def test_listings_read_the_graph_like_the_files(city, neo4j_city):
    """The session's city analysed on Neo4j: `rings` and `box` from the graph say what the
    embedded workspace's files say."""
    runner = CliRunner()
    graph_ws, files_ws = neo4j_city.workspace, city.workspace
    listed = runner.invoke(cli, ["rings", "-w", str(graph_ws), "--json", "--backend", "neo4j"])
    assert listed.exit_code == 0, listed.output
    assert [r["ring_id"] for r in json.loads(listed.output)] == list(city.result.rings["ring_id"])
    wrong = runner.invoke(cli, ["rings", "-w", str(files_ws), "--backend", "neo4j"])
    assert wrong.exit_code != 0 and "embedded backend" in wrong.output

    # a flagged box: the graph's chain of custody lists the same events as the embedded timeline
    code = city.result.findings["trace_codes"].iloc[0][0]
    from_graph = runner.invoke(cli, ["box", code, "-w", str(graph_ws), "--json"])
    from_files = runner.invoke(cli, ["box", code, "-w", str(files_ws), "--json", "--backend", "embedded"])
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
