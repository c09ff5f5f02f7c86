"""Bulk first loads: neo4j-admin import files give the same graph as the Bolt loader."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.backends.neo4j.bulk import write_import_files

from .graph_data import graph_dump, make_workspace, tiny_city, tiny_products, tiny_sites


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


def test_bulk_import_gives_the_bolt_graph(tmp_path, unavailable):
    """Import a small synthetic city into a private instance with neo4j-admin; a Bolt load of the
    same workspace into that instance (emptied) gives the same graph: every node and relationship
    with every property and its type (the findings on a Bolt-loaded graph are the embedded engine's:
    tests/neo4j/test_city.py, test_differential.py).  (A small city: the JVM starts dominate.)  The instance is stopped by
    `rxring neo4j stop --delete-data`, and `rxring neo4j status` then says it is not running."""
    from rxring.backends.neo4j.bulk import bulk_load_instance
    from rxring.backends.neo4j.connect import Neo4jConfig, connect
    from rxring.backends.neo4j.load import clear_graph, graph_counts, load_workspace
    from rxring.backends.neo4j.server import read_state
    from rxring.ingest import ingest
    from rxring.synth import generate

    summary = generate(tmp_path / "gen", seed=11, fmt="nhsa", patients=300, days=40)
    ingest([summary.inputs_dir], tmp_path / "ws")
    name = f"pytest-bulk-{os.getpid()}"
    try:
        try:
            report = bulk_load_instance(tmp_path / "ws", name)
        except RxringError as exc:
            unavailable(f"no Neo4j for the bulk import: {exc}")
        state = read_state(name)
        config = Neo4jConfig(uri=state.uri, user=state.user, password=state.password)
        with connect(config) as driver:
            bulk_counts, bulk_graph = graph_counts(driver), graph_dump(driver)
            clear_graph(driver)
            load_workspace(config, tmp_path / "ws")
            bolt_counts, bolt_graph = graph_counts(driver), graph_dump(driver)
    finally:
        stopped = CliRunner().invoke(cli, ["neo4j", "stop", "--local", "--instance", name, "--delete-data"])
    assert stopped.exit_code == 0 and "stopped (data deleted)" in stopped.output, stopped.output
    status = CliRunner().invoke(cli, ["neo4j", "status", "--local", "--instance", name])
    assert status.exit_code == 1 and "running: False" in status.output
    assert (report.nodes, report.relationships) == bulk_counts == bolt_counts
    assert bulk_counts[0]["Event"] > 3000 and bulk_counts[1]["NEXT"] > 1000
    assert bulk_graph == bolt_graph
