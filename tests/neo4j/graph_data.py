"""Small graph inputs for the Neo4j tests: canonical event tables (rxring.schema.EVENT_SCHEMA),
workspaces holding them, and one tiny city with its masters that several test files load."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from rxring.schema import EVENT_SCHEMA

#: The mark of a database the tests may empty (see conftest.py).
SCRATCH = "MERGE (:RxringTestScratch {id: 1})"


def event_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows given as dicts of some canonical columns; the rest are filled with nulls.

    ``event_time`` may be a string ("2025-03-01 10:00"); ``event_id`` defaults to
    ``e<n>``; ``source_file``/``source_line`` default to ``test.csv`` and n.
    """
    filled = []
    for n, row in enumerate(rows, start=1):
        row = dict(row)
        row.setdefault("event_id", f"e{n:04d}")
        row.setdefault("source_file", "test.csv")
        row.setdefault("source_line", n)
        row.setdefault("quantity", 1.0)
        row.setdefault("split_sale", False)
        row["event_time"] = pd.Timestamp(row["event_time"]).to_pydatetime()
        for name in ("expiry", "code_expiry"):
            if row.get(name) is not None:
                row[name] = pd.Timestamp(row[name]).date()
        filled.append({name: row.get(name) for name in EVENT_SCHEMA.names})
    return pa.Table.from_pylist(filled, schema=EVENT_SCHEMA).to_pandas()


def graph_dump(driver, database=None) -> tuple[list, list]:
    """Every node (labels, properties) and relationship (type, end ids, properties) of the graph, sorted:
    two graphs are the same when their dumps are equal.  The Bolt loader's own bookkeeping
    (``LoadState`` nodes) and the scratch mark are left out; values compare as Neo4j returns them
    (a localdatetime stays a time, a long an int)."""
    def props(values: dict) -> list:
        return sorted((key, repr(value)) for key, value in values.items())

    nodes, _, _ = driver.execute_query(
        "MATCH (n) WHERE NOT n:LoadState AND NOT n:RxringTestScratch RETURN labels(n) AS l, properties(n) AS p",
        database_=database)
    rels, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS t, a.id AS a, b.id AS b, properties(r) AS p", database_=database)
    return (sorted((sorted(r["l"]), props(r["p"])) for r in nodes),
            sorted((r["t"], r["a"], r["b"], props(r["p"])) for r in rels))


def make_workspace(root, events: pd.DataFrame, products: pd.DataFrame | None = None,
                   sites: pd.DataFrame | None = None):
    """A workspace folder holding ``events`` as one part (and the given masters)."""
    from rxring.backends.duckdb import events_table
    from rxring.workspace import Workspace

    ws = Workspace(root, create=True)
    table = events_table(events)
    table = table.select(list(EVENT_SCHEMA.names))  # without the engine's row_key
    ws.write_event_part("test", table)
    for name, frame in (("products", products), ("sites", sites)):
        if frame is not None:
            frame.to_parquet(ws.masters_dir / f"{name}.parquet", index=False)
    return ws


def reset_graph(driver, database=None) -> None:
    """Empty the test database and mark it as scratch (see conftest.py)."""
    from rxring.backends.neo4j.load import clear_graph

    clear_graph(driver, database)
    driver.execute_query(SCRATCH, database_=database)

CODE_A = "81234560000000000011"
CODE_B = "81234560000000000028"


def tiny_city() -> pd.DataFrame:
    """Five events: box A received at S1, sold to PAT1 (by DR1), received at S2 and sold
    to PAT2 there; box B received at S1.  Events e0001..e0005 in time order per box."""
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


def tiny_sites() -> pd.DataFrame:
    """Sites master of :func:`tiny_city` (and S9, which has no events)."""
    return pd.DataFrame({"site_id": ["S1", "S2", "S9"], "name": ["一号药房", "二号药房", "九号"],
                         "kind": ["pharmacy", "pharmacy", "clinic"], "chain": ["C", None, None],
                         "region": ["R1", "R1", "R2"]})


def tiny_products() -> pd.DataFrame:
    """Products master of :func:`tiny_city` (P1 only)."""
    return pd.DataFrame({"product_code": ["P1"], "name": ["阿托伐他汀钙片 20mg"], "pack_units": [28], "price": [40.0]})
