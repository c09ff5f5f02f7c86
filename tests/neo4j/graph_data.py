"""Build small canonical event tables (rxring.schema.EVENT_SCHEMA) for the Neo4j tests."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from rxring.schema import EVENT_SCHEMA


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
    driver.execute_query("MERGE (:RxringTestScratch {id: 1})", database_=database)
