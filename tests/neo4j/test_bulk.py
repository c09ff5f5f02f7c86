"""Bulk first loads: neo4j-admin import files give the same graph as the Bolt loader."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from click.testing import CliRunner
from pandas.testing import assert_frame_equal

from rxring.cli import cli
from rxring.backends.neo4j.bulk import write_import_files

from .graph_data import make_workspace, tiny_city, tiny_products, tiny_sites


def test_import_files_have_typed_headers_and_the_whole_model(tmp_path):
    files = write_import_files(tiny_city(), tmp_path, sites=tiny_sites(), products=tiny_products())
    assert set(files.nodes) == {"Box", "Site", "Patient", "Prescriber", "Product", "Event"}
    assert set(files.relationships) == {"OF", "AT", "TO", "BY", "NEXT", "IS"}
    events = pd.read_csv(files.nodes["Event"])
    assert "id:ID(Event)" in events.columns and "time:localdatetime" in events.columns
    assert "expiry:date" in events.columns and "source_line:long" in events.columns
    assert len(events) == 5
    row = events.set_index("id:ID(Event)").loc["e0004"]
    assert row["time:localdatetime"] == "2025-03-10T12:00:00.000000" and row["expiry:date"] == "2026-01-31"
    assert len(pd.read_csv(files.relationships["NEXT"])) == 3
    assert list(pd.read_csv(files.relationships["TO"]).columns) == [":START_ID(Event)", ":END_ID(Patient)"]
    products = pd.read_csv(files.nodes["Product"])
    assert "pack_units:long" in products.columns
    command = files.command()
    assert command.startswith("neo4j-admin database import full neo4j --overwrite-destination=true")
    assert f"--relationships=NEXT={files.relationships['NEXT']}" in command


def test_files_only_command(tmp_path):
    make_workspace(tmp_path / "ws", tiny_city(), products=tiny_products(), sites=tiny_sites())
    result = CliRunner().invoke(cli, ["neo4j", "import", "-w", str(tmp_path / "ws"), "--files-only",
                                      "--out", str(tmp_path / "csv")])
    assert result.exit_code == 0, result.output
    assert "neo4j-admin database import full neo4j" in result.output
    assert (tmp_path / "csv" / "Event.csv").exists()
    bad = CliRunner().invoke(cli, ["neo4j", "import", "-w", str(tmp_path / "ws"), "--files-only"])
    assert bad.exit_code == 2 and "--files-only needs --out" in bad.output


@pytest.mark.slow
def test_bulk_import_gives_the_bolt_graph_and_findings(neo4j_city, neo4j_driver, neo4j_config):
    """Import the session's synthetic city into a private instance; compare with the Bolt load of
    it (the ``neo4j_city`` fixture: its counts, and the findings of its analysis)."""
    from rxring.backends.neo4j.bulk import bulk_load_instance
    from rxring.backends.neo4j.connect import Neo4jConfig, connect
    from rxring.backends.neo4j.load import graph_counts
    from rxring.backends.neo4j.rules import graph_findings
    from rxring.backends.neo4j.server import read_state, stop_server

    name = f"pytest-bulk-{os.getpid()}"
    try:
        report = bulk_load_instance(neo4j_city.workspace, name)
        state = read_state(name)
        with connect(Neo4jConfig(uri=state.uri, user=state.user, password=state.password)) as driver:
            bulk_findings = graph_findings(driver, neo4j_city.options)
    finally:
        stop_server(name, delete_data=True)
    bolt_nodes, bolt_relationships = neo4j_city.counts
    assert (report.nodes, report.relationships) == (bolt_nodes, bolt_relationships)
    assert_frame_equal(bulk_findings, neo4j_city.result.findings)
    assert graph_counts(neo4j_driver, neo4j_config.database) == (bolt_nodes, bolt_relationships)
