"""The loader writes DESIGN §4's model, idempotently and resumably."""

from __future__ import annotations

import pandas as pd
import pytest

from rxring.backends.neo4j.load import graph_counts, load_events

from .graph_data import CODE_A, tiny_city, tiny_products, tiny_sites


def test_model_of_design_section_4(empty_neo4j, neo4j_config):
    db = neo4j_config.database
    report = load_events(empty_neo4j, tiny_city(), sites=tiny_sites(), products=tiny_products(), database=db, batch_size=2)
    assert report.nodes == {"Box": 2, "Site": 3, "Patient": 2, "Prescriber": 1, "Product": 2, "Event": 5}
    assert report.relationships == {"OF": 5, "AT": 5, "TO": 2, "BY": 1, "NEXT": 3, "IS": 2}

    chain, _, _ = empty_neo4j.execute_query(
        "MATCH (b:Box {code: $code})<-[:OF]-(first:Event) WHERE NOT ()-[:NEXT]->(first) "
        "MATCH path = (first)-[:NEXT*0..]->(last) WHERE NOT (last)-[:NEXT]->() "
        "RETURN [e IN nodes(path) | e.id] AS ids", code=CODE_A, database_=db)
    assert chain[0]["ids"] == ["e0001", "e0002", "e0003", "e0004"]

    rec, _, _ = empty_neo4j.execute_query(
        "MATCH (e:Event {id: 'e0004'})-[:AT]->(s:Site), (e)-[:TO]->(p:Patient), (e)-[:OF]->(b:Box)-[:IS]->(pr:Product) "
        "RETURN e.type AS type, e.time AS time, e.fund_amount AS fund, e.expiry AS expiry, e.settlement_id AS setl, "
        "e.source_file AS file, e.source_line AS line, s.name AS site, s.kind AS kind, p.id AS patient, "
        "b.product_code AS product, pr.pack_units AS units, pr.name AS pname", database_=db)
    row = rec[0]
    assert (row["type"], row["fund"], row["setl"], row["site"], row["kind"], row["patient"]) == \
        ("dispense", 31.0, "SET2", "二号药房", "pharmacy", "PAT2")
    assert row["time"].to_native() == pd.Timestamp("2025-03-10 12:00").to_pydatetime()
    assert str(row["expiry"]) == "2026-01-31"
    assert (row["file"], row["line"], row["product"], row["units"], row["pname"]) == \
        ("test.csv", 4, "P1", 28, "阿托伐他汀钙片 20mg")


def test_loading_twice_gives_identical_counts(empty_neo4j, neo4j_config):
    db = neo4j_config.database
    first = load_events(empty_neo4j, tiny_city(), sites=tiny_sites(), database=db, batch_size=3)
    second = load_events(empty_neo4j, tiny_city(), sites=tiny_sites(), database=db, batch_size=3, load_key="another-run")
    assert first.nodes == second.nodes
    assert first.relationships == second.relationships


def test_reload_with_more_events_redraws_the_custody_chain(empty_neo4j, neo4j_config):
    db = neo4j_config.database
    city = tiny_city()
    load_events(empty_neo4j, city.drop(index=[1]), database=db)  # without the first dispense
    load_events(empty_neo4j, city, database=db)
    nodes, rels = graph_counts(empty_neo4j, db)
    assert rels["NEXT"] == 3
    rec, _, _ = empty_neo4j.execute_query(
        "MATCH (:Event {id: 'e0001'})-[:NEXT]->(n) RETURN collect(n.id) AS ids", database_=db)
    assert rec[0]["ids"] == ["e0002"]


def test_interrupted_first_load_resumes_where_it_stopped(empty_neo4j, neo4j_config, monkeypatch):
    db = neo4j_config.database
    import rxring.backends.neo4j.load as loader

    real = loader._chain_batches

    def interrupted(*args):
        batches = real(*args)
        yield next(batches)  # box A, its 4 events and their links
        raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(loader, "_chain_batches", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_events(empty_neo4j, tiny_city(), database=db, batch_size=1, load_key="resume-test")
    partial, partial_rels = graph_counts(empty_neo4j, db)
    assert (partial["Box"], partial["Event"], partial_rels["NEXT"]) == (1, 4, 3)

    monkeypatch.setattr(loader, "_chain_batches", real)
    report = load_events(empty_neo4j, tiny_city(), database=db, batch_size=1, load_key="resume-test")
    # sites S1 S2, products P1 P2, patients PAT1 PAT2, prescriber DR1, and box A's batch were done
    assert report.skipped_batches == 2 + 2 + 2 + 1 + 1
    assert report.nodes == {"Box": 2, "Site": 2, "Patient": 2, "Prescriber": 1, "Product": 2, "Event": 5}
    assert report.relationships == {"OF": 5, "AT": 5, "TO": 2, "BY": 1, "NEXT": 3, "IS": 2}


def test_interrupted_reload_resumes_where_it_stopped(empty_neo4j, neo4j_config, monkeypatch):
    db = neo4j_config.database
    import rxring.backends.neo4j.load as loader

    load_events(empty_neo4j, tiny_city().iloc[[4]], database=db)  # box B only: the next load is not a first load
    real = loader._event_columns
    calls = {"n": 0}

    def failing(frame):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated interruption")
        return real(frame)

    monkeypatch.setattr(loader, "_event_columns", failing)
    with pytest.raises(KeyboardInterrupt):
        load_events(empty_neo4j, tiny_city(), database=db, batch_size=1, load_key="resume-test")
    partial, _ = graph_counts(empty_neo4j, db)
    assert partial["Event"] == 3  # box B's, and the first two events of box A

    monkeypatch.setattr(loader, "_event_columns", real)
    report = load_events(empty_neo4j, tiny_city(), database=db, batch_size=1, load_key="resume-test")
    # sites S1 S2, products P1 P2, boxes A B, patients, prescriber, and the 2 event batches were done
    assert report.skipped_batches == 2 + 2 + 2 + 2 + 1 + 2
    assert report.nodes["Event"] == 5
    assert report.relationships["NEXT"] == 3


def test_first_load_refuses_to_write_half_a_batch(empty_neo4j, neo4j_config, monkeypatch):
    """If an actor vanished between the stages, the batch rolls back with a clear error."""
    db = neo4j_config.database
    import rxring.backends.neo4j.load as loader
    from rxring.errors import RxringError

    real = loader._chain_batches

    def patient_deleted(*args):
        empty_neo4j.execute_query("MATCH (p:Patient {id: 'PAT2'}) DELETE p", database_=db)
        yield from real(*args)

    monkeypatch.setattr(loader, "_chain_batches", patient_deleted)
    with pytest.raises(RxringError, match="database changed during the load"):
        load_events(empty_neo4j, tiny_city(), database=db, batch_size=10)
    nodes, _ = graph_counts(empty_neo4j, db)
    assert nodes["Event"] == 0


def test_concurrent_writers_write_the_same_graph(empty_neo4j, neo4j_config):
    """Batches of whole boxes written side by side: the same counts and chains as one writer."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from neo4j_load import synthetic_events

    db = neo4j_config.database
    events = synthetic_events(3000, seed=3)
    boxes = events["trace_code"].nunique()
    counts = []
    for writers in (1, 3):
        empty_neo4j.execute_query("MATCH (n) DETACH DELETE n", database_=db)
        report = load_events(empty_neo4j, events, database=db, batch_size=200, writers=writers, normalise=False)
        assert report.batches >= 10
        chains, _, _ = empty_neo4j.execute_query(
            "MATCH (b:Box)<-[:OF]-(e:Event) WITH b, e ORDER BY e.time, e.id WITH b, collect(e.id) AS ids "
            "OPTIONAL MATCH (b)<-[:OF]-(x:Event)-[:NEXT]->(y:Event) "
            "WITH b, ids, collect(CASE WHEN x IS NULL THEN null ELSE [x.id, y.id] END) AS links RETURN b.code AS code, ids, links", database_=db)
        for row in chains:
            assert sorted(row["links"]) == sorted([a, b] for a, b in zip(row["ids"], row["ids"][1:])), row["code"]
        counts.append((report.nodes, report.relationships))
    assert counts[0] == counts[1]
    assert counts[0][0]["Event"] == 3000 and counts[0][0]["Box"] == boxes
    assert counts[0][1]["NEXT"] == 3000 - boxes
