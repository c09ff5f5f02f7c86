"""`rxring load`, `rxring neo4j start|status|stop|queries` through click's CliRunner."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from rxring.analysis import analyze
from rxring.cli import cli
from rxring.backends.neo4j.connect import Neo4jConfig, connect
from rxring.backends.neo4j.load import graph_counts
from rxring.backends.neo4j.server import neo4j_settings, stop_server
from rxring.schema import RULES
from tests.rules.fixtures import FIXTURES

from .graph_data import make_workspace, tiny_city, tiny_products, tiny_sites


def _env(config) -> dict:
    env = {"NEO4J_URI": config.uri, "NEO4J_USER": config.user, "NEO4J_PASSWORD": config.password}
    if config.database:
        env["NEO4J_DATABASE"] = config.database
    return env


def test_load_twice_same_counts_and_resumes_nothing(tmp_path, empty_neo4j, neo4j_config):
    make_workspace(tmp_path / "ws", tiny_city(), products=tiny_products(), sites=tiny_sites())
    runner = CliRunner()
    first = runner.invoke(cli, ["load", "--workspace", str(tmp_path / "ws"), "--batch-size", "2"], env=_env(neo4j_config))
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"loaded 5 events into {neo4j_config.uri}")
    assert "nodes: Box 2, Site 3, Patient 2, Prescriber 1, Product 2, Event 5" in first.output
    assert "relationships: OF 5, AT 5, TO 2, BY 1, NEXT 3, IS 2" in first.output
    counts = graph_counts(empty_neo4j, neo4j_config.database)

    second = runner.invoke(cli, ["load", "--workspace", str(tmp_path / "ws"), "--batch-size", "2"], env=_env(neo4j_config))
    assert second.exit_code == 0, second.output
    assert "0 batches written" in second.output
    assert graph_counts(empty_neo4j, neo4j_config.database) == counts


def test_suspicious_only_loads_the_flagged_packs_with_whole_chains(tmp_path, empty_neo4j, neo4j_config):
    import pandas as pd

    fixture = FIXTURES["resold_at_another_site"]
    clean = FIXTURES["trap_chain_transfer_then_sale"].events.copy()
    clean["event_id"] = "clean-" + clean["event_id"].astype(str)
    clean["trace_code"] = "81999990000000000099"
    clean["code_product"] = "8199999"
    events = pd.concat([fixture.events, clean], ignore_index=True)
    ws = make_workspace(tmp_path / "ws", events, products=fixture.products)
    findings = analyze(ws, "embedded").findings
    flagged = {c for codes in findings["trace_codes"] for c in codes}
    assert flagged, "the fixture must flag something"

    result = CliRunner().invoke(cli, ["load", "-w", str(tmp_path / "ws"), "--suspicious-only"], env=_env(neo4j_config))
    assert result.exit_code == 0, result.output
    records, _, _ = empty_neo4j.execute_query("MATCH (b:Box) RETURN collect(b.code) AS codes",
                                              database_=neo4j_config.database)
    assert set(records[0]["codes"]) == flagged
    records, _, _ = empty_neo4j.execute_query("MATCH (e:Event) RETURN count(e) AS n", database_=neo4j_config.database)
    assert records[0]["n"] == int(events["trace_code"].isin(flagged).sum())


def test_suspicious_only_without_findings_is_a_clear_error(tmp_path, neo4j_config):
    make_workspace(tmp_path / "ws", tiny_city())
    result = CliRunner().invoke(cli, ["load", "-w", str(tmp_path / "ws"), "--suspicious-only"], env=_env(neo4j_config))
    assert result.exit_code == 2
    assert "--suspicious-only needs findings" in result.output


def test_queries_lists_and_prints_the_shipped_cypher():
    runner = CliRunner()
    listing = runner.invoke(cli, ["neo4j", "queries"])
    assert listing.exit_code == 0
    for name in (*RULES, "prepare", "schema"):
        assert name in listing.output
    one = runner.invoke(cli, ["neo4j", "queries", "RESURFACE"])
    assert one.output.startswith("// RESURFACE (回流)")
    assert "MATCH (b:Box)" in one.output
    bad = runner.invoke(cli, ["neo4j", "queries", "NOPE"])
    assert bad.exit_code == 2 and "no shipped query 'NOPE'" in bad.output


def test_start_reuses_a_running_server_and_status_hides_the_password(neo4j_instance):
    if neo4j_instance is None:
        pytest.skip("NEO4J_URI is set: no rxring-managed server in this session (test_server_start_from_scratch_and_status starts one)")
    from rxring.backends.neo4j.server import read_state

    state = read_state(neo4j_instance)
    runner = CliRunner()
    again = runner.invoke(cli, ["neo4j", "start", "--local", "--instance", neo4j_instance])
    assert again.exit_code == 0, again.output
    assert f"NEO4J_URI={state.uri}" in again.output and "already running" in again.output
    assert state.password not in again.output
    assert stat.S_IMODE(os.stat(state.state_path).st_mode) == 0o600
    status = runner.invoke(cli, ["neo4j", "status", "--local", "--instance", neo4j_instance])
    assert status.exit_code == 0
    assert "running: True" in status.output and "answering: True" in status.output
    assert f"password_file: {state.state_path}" in status.output and state.password not in status.output


def test_with_neo4j_uri_start_and_status_check_that_server_and_stop_refuses(neo4j_config):
    runner = CliRunner()
    env = _env(neo4j_config)
    for command in ("start", "status"):
        result = runner.invoke(cli, ["neo4j", command], env=env)
        assert result.exit_code == 0, result.output
        assert f"NEO4J_URI={neo4j_config.uri} is set: rxring uses that server (Neo4j/5." in result.output
    stop = runner.invoke(cli, ["neo4j", "stop"], env=env)
    assert stop.exit_code == 2 and "names a server rxring does not manage" in stop.output
    wrong = runner.invoke(cli, ["neo4j", "status"], env={**env, "NEO4J_PASSWORD": "wrong-pw-5"})
    assert wrong.exit_code == 2 and "wrong user or password" in wrong.output and "wrong-pw-5" not in wrong.output


def test_load_restart_writes_every_batch_again(tmp_path, empty_neo4j, neo4j_config):
    make_workspace(tmp_path / "ws", tiny_city())
    runner = CliRunner()
    first = runner.invoke(cli, ["load", "-w", str(tmp_path / "ws")], env=_env(neo4j_config))
    again = runner.invoke(cli, ["load", "-w", str(tmp_path / "ws"), "--restart"], env=_env(neo4j_config))
    assert again.exit_code == 0, again.output
    assert "0 already done" in again.output and "0 batches written" not in again.output
    assert first.output.splitlines()[1:] == again.output.splitlines()[1:]  # same counts


def test_status_of_a_stopped_instance_exits_1():
    result = CliRunner().invoke(cli, ["neo4j", "status", "--local", "--instance", f"never-started-{os.getpid()}"])
    assert result.exit_code == 1 and "running: False" in result.output


def test_bad_instance_name():
    result = CliRunner().invoke(cli, ["neo4j", "status", "--local", "--instance", "../etc"])
    assert result.exit_code == 2 and "bad Neo4j instance name" in result.output


def test_server_start_from_scratch_and_status(neo4j_cli_start):
    """A private instance from scratch: `rxring neo4j start` (the session's server was started so,
    tests/neo4j/conftest.py), then status; the password never printed.  `rxring neo4j stop` and the
    status after it: tests/neo4j/test_bulk.py (its instance)."""
    state = neo4j_cli_start.state
    assert "NEO4J_URI=bolt://127.0.0.1:" in neo4j_cli_start.output and "already running" not in neo4j_cli_start.output
    assert state is not None and state.password not in neo4j_cli_start.output
    assert json.loads(state.state_path.read_text())["pid"] == state.pid
    status = CliRunner().invoke(cli, ["neo4j", "status", "--local", "--instance", neo4j_cli_start.instance])
    assert status.exit_code == 0 and "answering: True" in status.output
    # it runs with the settings of $RXRING_NEO4J_SETTINGS (tests/conftest.py sets two), kept in the instance folder
    settings = neo4j_settings()
    assert "dbms.cypher.min_replan_interval=1h" in settings
    kept = Path(state.home) / "settings.conf"
    assert kept.read_text(encoding="utf-8").splitlines() == settings and stat.S_IMODE(kept.stat().st_mode) == 0o600
    with connect(Neo4jConfig(uri=state.uri, user=state.user, password=state.password)) as driver:
        records, _, _ = driver.execute_query(
            "SHOW SETTINGS YIELD name, value WHERE name = 'dbms.cypher.min_replan_interval' RETURN value")
    assert [r["value"] for r in records] == ["1h"]


def test_a_bad_neo4j_setting_stops_the_start_in_one_line(neo4j_cli_start, monkeypatch):
    """A setting the server does not have, or a value it cannot read, ends the start with the launcher's
    one line (the JVM exits before Neo4j starts); text that is not name=value stops it before any JVM.
    (``neo4j_cli_start``: a local server could be started, so the distribution and Java are here.)"""
    name = f"pytest-badsetting-{os.getpid()}"
    runner = CliRunner()
    try:
        for settings, said in (("no.such.setting=1", "has no setting named 'no.such.setting'"),
                               ("dbms.cypher.min_replan_interval=soon",
                                "bad value for Neo4j setting dbms.cypher.min_replan_interval"),
                               ("dbms.cypher.min_replan_interval", "'dbms.cypher.min_replan_interval' is not name=value")):
            monkeypatch.setenv("RXRING_NEO4J_SETTINGS", settings)
            result = runner.invoke(cli, ["neo4j", "start", "--local", "--instance", name])
            assert result.exit_code == 2, result.output
            error = [line for line in result.output.splitlines() if line.startswith("rxring: error:")]
            assert len(error) == 1 and said in error[0] and "Traceback" not in result.output, result.output
    finally:
        stop_server(name, delete_data=True)


def test_run_refuses_writing_queries_and_asks_for_parameters(empty_neo4j, neo4j_config):
    env = {"NEO4J_URI": neo4j_config.uri, "NEO4J_USER": neo4j_config.user, "NEO4J_PASSWORD": neo4j_config.password}
    runner = CliRunner()
    writing = runner.invoke(cli, ["neo4j", "run", "prepare"], env=env)
    assert writing.exit_code == 2 and "writes to the graph" in writing.output
    missing = runner.invoke(cli, ["neo4j", "run", "ring_boxes"], env=env)
    assert missing.exit_code == 2 and "--param ring=VALUE" in missing.output
    bad = runner.invoke(cli, ["neo4j", "run", "rings", "--param", "oops"], env=env)
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.output
    nothing = runner.invoke(cli, ["neo4j", "run", "rings"], env=env)
    assert nothing.exit_code == 0 and "(none)" in nothing.output


def test_run_rings_masks_people(empty_neo4j, neo4j_config):
    empty_neo4j.execute_query(
        "CREATE (:Patient {id: 'PSN1234567890', rings: ['R001'], ring_ranks: [1], ring_scores: [9.5], "
        "ring_boxes: [3], ring_funds: [120.0], ring_roles: ['R001:source_patient']}), "
        "(:Site {id: 'H001', rings: ['R001'], ring_ranks: [1], ring_scores: [9.5], ring_boxes: [3], "
        "ring_funds: [120.0], ring_roles: ['R001:source_site', 'R001:laundering_site']})",
        database_=neo4j_config.database)
    env = {"NEO4J_URI": neo4j_config.uri, "NEO4J_USER": neo4j_config.user, "NEO4J_PASSWORD": neo4j_config.password}
    runner = CliRunner()
    masked = runner.invoke(cli, ["neo4j", "run", "rings", "--json"], env=env)
    assert masked.exit_code == 0, masked.output
    (row,) = json.loads(masked.output)
    assert row["ring"] == "R001" and row["source_sites"] == ["H001"] and row["laundering_sites"] == ["H001"]
    assert row["source_patients"] and "PSN1234567890" not in masked.output
    shown = runner.invoke(cli, ["neo4j", "run", "rings", "--reveal-pii"], env=env)
    assert "PSN1234567890" in shown.output
