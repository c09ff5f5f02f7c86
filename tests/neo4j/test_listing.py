"""`rxring box|site|patient --backend neo4j` query the graph; rings/ring/findings check where results come from."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.backends.neo4j.listing import box_chain, patient_events, site_events
from rxring.backends.neo4j.load import load_events

from .graph_data import CODE_A, CODE_B, event_frame


def _city():
    # Rows deliberately out of time order: the chain must come back in custody order.
    return event_frame([
        dict(trace_code=CODE_A, event_type="dispense", event_time="2025-03-10 12:00", site_id="S2",
             product_code="P1", patient_id="PAT2000001", settlement_id="SET2", fund_amount=31.0),
        dict(trace_code=CODE_A, event_type="inbound", event_time="2025-03-01 09:00", site_id="S1", product_code="P1"),
        dict(trace_code=CODE_A, event_type="dispense", event_time="2025-03-02 10:00", site_id="S1",
             product_code="P1", patient_id="PAT1000001", prescriber_id="DR1", settlement_id="SET1", fund_amount=30.0),
        dict(trace_code=CODE_A, event_type="inbound", event_time="2025-03-09 11:00", site_id="S2", product_code="P1"),
        dict(trace_code=CODE_B, event_type="inbound", event_time="2025-03-01 09:00", site_id="S1", product_code="P2"),
        dict(trace_code=CODE_B, event_type="dispense", event_time="2025-03-04 09:00", site_id="S1",
             product_code="P2", patient_id="PAT1000001", settlement_id="SET3", fund_amount=12.5),
    ])


@pytest.fixture
def city_graph(empty_neo4j, neo4j_config):
    load_events(empty_neo4j, _city(), database=neo4j_config.database, batch_size=2)
    return empty_neo4j


@pytest.fixture
def graph_env(neo4j_config, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", neo4j_config.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_config.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_config.password)
    if neo4j_config.database:
        monkeypatch.setenv("NEO4J_DATABASE", neo4j_config.database)
    monkeypatch.delenv("RXRING_WORKSPACE", raising=False)


def test_box_chain_follows_next_in_custody_order(city_graph, neo4j_config):
    chain = box_chain(city_graph, CODE_A, neo4j_config.database)
    assert list(chain["event_id"]) == ["e0002", "e0003", "e0004", "e0001"]
    assert list(chain["site_id"]) == ["S1", "S1", "S2", "S2"]
    assert list(chain["patient_id"].fillna("")) == ["", "PAT1000001", "", "PAT2000001"]
    assert chain.loc[1, "prescriber_id"] == "DR1" and chain.loc[3, "fund_amount"] == 31.0
    assert (chain.loc[0, "source_file"], chain.loc[0, "source_line"]) == ("test.csv", 2)
    assert chain["event_time"].is_monotonic_increasing


def test_unknown_box_site_patient_are_clear_errors(city_graph, neo4j_config):
    db = neo4j_config.database
    with pytest.raises(RxringError, match="trace code 8999 is not in the Neo4j graph"):
        box_chain(city_graph, "8999", db)
    with pytest.raises(RxringError, match="site NOPE is not in the Neo4j graph"):
        site_events(city_graph, "NOPE", db)
    with pytest.raises(RxringError, match=r"patient PAT\*+ is not in the Neo4j graph"):
        patient_events(city_graph, "PAT-unknown", db, shown_id="PAT*****")


def test_site_and_patient_events(city_graph, neo4j_config):
    db = neo4j_config.database
    summary, events = site_events(city_graph, "S1", db, limit=2)
    assert summary["events"] == 4 and summary["event_types"] == ["dispense", "inbound"]
    assert list(events["event_id"]) == ["e0003", "e0006"]  # the latest two, in time order
    _, every = site_events(city_graph, "S1", db, limit=0)
    assert len(every) == 4
    mine = patient_events(city_graph, "PAT1000001", db)
    assert list(mine["event_id"]) == ["e0003", "e0006"]
    assert list(mine["trace_code"]) == [CODE_A, CODE_B]


def test_box_cli_backend_neo4j_without_workspace(city_graph, graph_env):
    result = CliRunner().invoke(cli, ["box", CODE_A, "--json"])  # NEO4J_URI set: neo4j is the default
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["backend"] == "neo4j"
    assert [e["event_id"] for e in payload["events"]] == ["e0002", "e0003", "e0004", "e0001"]
    assert "PAT1000001" not in result.output  # masked by default
    shown = CliRunner().invoke(cli, ["box", CODE_A, "--backend", "neo4j", "--reveal-pii"])
    assert shown.exit_code == 0, shown.output
    assert "chain of custody in Neo4j" in shown.output and "PAT1000001" in shown.output
    assert "test.csv:2" in shown.output


def test_run_box_chain_takes_a_trace_code_as_text(city_graph, graph_env):
    """`rxring neo4j run box_chain` runs the listing's own file; 20 digits are a code, not a number."""
    result = CliRunner().invoke(cli, ["neo4j", "run", "box_chain", "--param", f"code={CODE_A}", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["event_id"] for row in json.loads(result.output)] == ["e0002", "e0003", "e0004", "e0001"]
    assert "PAT1000001" not in result.output  # masked by default


def test_site_and_patient_cli_backend_neo4j(city_graph, graph_env):
    runner = CliRunner()
    site = runner.invoke(cli, ["site", "S2", "--backend", "neo4j"])
    assert site.exit_code == 0, site.output
    assert "2 events" in site.output and "PAT20" not in site.output
    patient = runner.invoke(cli, ["patient", "PAT1000001", "--json"])
    assert patient.exit_code == 0, patient.output
    payload = json.loads(patient.output)
    assert payload["patient"] != "PAT1000001" and len(payload["events"]) == 2
    missing = runner.invoke(cli, ["patient", "PAT9999999"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output
    assert "PAT9999999" not in missing.output  # masked in the error too


def test_embedded_listing_still_needs_a_workspace(monkeypatch):
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.delenv("RXRING_WORKSPACE", raising=False)
    result = CliRunner().invoke(cli, ["box", CODE_A])
    assert result.exit_code != 0 and "--workspace" in result.output and "Traceback" not in result.output


def test_results_backend_must_match_the_analysis(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "analysis.json").write_text(json.dumps({"engine": "embedded"}), encoding="utf-8")
    for command in (["rings"], ["findings"], ["ring", "R001"]):
        result = CliRunner().invoke(cli, [*command, "-w", str(ws), "--backend", "neo4j"])
        assert result.exit_code != 0
        assert "come from the embedded backend" in result.output and "rxring analyze --backend neo4j" in result.output
