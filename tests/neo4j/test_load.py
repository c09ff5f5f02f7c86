"""The loader writes DESIGN §4's model, idempotently and resumably."""

from __future__ import annotations

import pandas as pd
import pytest

from rxring.graph.neo4j_loader import graph_counts, load_events

from ._events import event_frame

CODE_A = "81234560000000000011"
CODE_B = "81234560000000000028"


def _city() -> pd.DataFrame:
    return event_frame([
        dict(trace_code=CODE_A, event_type="inbound", event_time="2025-03-01 09:00", site_id="S1",
             product_code="P1", product_name="阿托伐他汀钙片", counterparty="SUPPLIER"),
        dict(trace_code=CODE_A, event_type="dispense", event_time="2025-03-02 10:00", site_id="S1",
             product_code="P1", patient_id="PAT1", prescriber_id="DR1", settlement_id="SET1",
             fund_amount=30.0, total_amount=40.0),
        dict(trace_code=CODE_A, event_type="inbound", event_time="2025-03-09 11:00", site_id="S2",
             product_code="P1"),
        dict(trace_code=CODE_A, event_type="dispense", event_time="2025-03-10 12:00", site_id="S2",
             product_code="P1", patient_id="PAT2", settlement_id="SET2", fund_amount=31.0, total_amount=41.0,
             expiry="2026-01-31"),
        dict(trace_code=CODE_B, event_type="inbound", event_time="2025-03-01 09:00", site_id="S1",
             product_code="P2"),
    ])


def _sites() -> pd.DataFrame:
    return pd.DataFrame({"site_id": ["S1", "S2", "S9"], "name": ["一号药房", "二号药房", "九号"],
                         "kind": ["pharmacy", "pharmacy", "clinic"], "chain": ["C", None, None],
                         "region": ["R1", "R1", "R2"]})


def _products() -> pd.DataFrame:
    return pd.DataFrame({"product_code": ["P1"], "name": ["阿托伐他汀钙片 20mg"], "pack_units": [28], "price": [40.0]})


def test_model_of_design_section_4(empty_neo4j, neo4j_config):
    db = neo4j_config.database
    report = load_events(empty_neo4j, _city(), sites=_sites(), products=_products(), database=db, batch_size=2)
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
    first = load_events(empty_neo4j, _city(), sites=_sites(), database=db, batch_size=3)
    second = load_events(empty_neo4j, _city(), sites=_sites(), database=db, batch_size=3, load_key="another-run")
    assert first.nodes == second.nodes
    assert first.relationships == second.relationships


def test_reload_with_more_events_redraws_the_custody_chain(empty_neo4j, neo4j_config):
    db = neo4j_config.database
    city = _city()
    load_events(empty_neo4j, city.drop(index=[1]), database=db)  # without the first dispense
    load_events(empty_neo4j, city, database=db)
    nodes, rels = graph_counts(empty_neo4j, db)
    assert rels["NEXT"] == 3
    rec, _, _ = empty_neo4j.execute_query(
        "MATCH (:Event {id: 'e0001'})-[:NEXT]->(n) RETURN collect(n.id) AS ids", database_=db)
    assert rec[0]["ids"] == ["e0002"]


def test_interrupted_load_resumes_where_it_stopped(empty_neo4j, neo4j_config, monkeypatch):
    db = neo4j_config.database
    import rxring.graph.neo4j_loader as loader

    real = loader._event_columns
    calls = {"n": 0}

    def failing(frame):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated interruption")
        return real(frame)

    monkeypatch.setattr(loader, "_event_columns", failing)
    with pytest.raises(KeyboardInterrupt):
        load_events(empty_neo4j, _city(), database=db, batch_size=1, load_key="resume-test")
    partial, _ = graph_counts(empty_neo4j, db)
    assert partial["Event"] == 2

    monkeypatch.setattr(loader, "_event_columns", real)
    report = load_events(empty_neo4j, _city(), database=db, batch_size=1, load_key="resume-test")
    # sites S1 S2, products P1 P2, boxes A B, patients, prescriber, and the 2 event batches were done
    assert report.skipped_batches == 2 + 2 + 2 + 2 + 1 + 2
    assert report.nodes["Event"] == 5
    assert report.relationships["NEXT"] == 3
