"""Load a workspace's events into Neo4j: the graph model of DESIGN §4.

::

    (:Box {code, product_code, code_product})-[:IS]->(:Product {code, name, pack_units, price})
    (:Event {id, type, time, ...})-[:OF]->(:Box)   -[:AT]->(:Site)
                                  -[:TO]->(:Patient) -[:BY]->(:Prescriber)
    (:Event)-[:NEXT]->(:Event)     chain of custody of one box, in time order

``Box.product_code`` is the first product code (time order) the code's events carry,
``Box.code_product`` the product part of the code (cn20 prefix or GTIN); Product
codes are trimmed and upper-cased.

The load creates constraints and indexes first (``rxring/queries/schema.cypher``),
then writes sites, products, patients and prescribers (``UNWIND ... MERGE`` on ids),
then the events:

* a **first load** (no Box or Event in the database) writes batches of whole boxes,
  each in one query (``_CHAINS_NEW``) that creates the boxes, their events, all their
  relationships and the NEXT chain, resolving actors once per batch; up to
  ``writers`` batches run at once (they touch disjoint boxes);
* a **later load** merges boxes and events on their ids and redraws the custody
  chain of every box it touches,

so loading the same workspace twice leaves identical counts.  After every batch a
``(:LoadState {key})`` node records how far each stage got, in the same transaction
(one node per batch of a first load); an interrupted load run again with the same
workspace and batch size skips the batches already written.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ...errors import RxringError
from ...workspace import Workspace, as_workspace
from ...rules.render import cypher_statements
from ..duckdb import counted_events

__all__ = ["LoadReport", "load_workspace", "load_events", "suspicious_codes", "ensure_schema", "graph_counts",
           "clear_graph", "workspace_events", "canonical_events", "box_columns", "site_rows", "product_rows",
           "LABELS", "RELATIONSHIP_TYPES", "EVENT_PROPERTIES"]

LABELS = ("Box", "Site", "Patient", "Prescriber", "Product", "Event")
RELATIONSHIP_TYPES = ("OF", "AT", "TO", "BY", "NEXT", "IS")

#: Event columns stored as properties of (:Event) (the ids of related nodes become relationships).
EVENT_PROPERTIES = {
    "event_type": "type", "event_time": "time", "quantity": "quantity", "fund_amount": "fund_amount",
    "total_amount": "total_amount", "settlement_id": "settlement_id", "source_file": "source_file",
    "source_line": "source_line", "product_code": "product_code", "product_name": "product_name",
    "batch": "batch", "expiry": "expiry", "split_sale": "split_sale", "pharmacist_id": "pharmacist_id",
    "counterparty": "counterparty", "record_no": "record_no", "code_kind": "code_kind",
    "code_product": "code_product", "code_serial": "code_serial", "code_expiry": "code_expiry",
    "code_lot": "code_lot",
}

_SITES = """
UNWIND $rows AS r
MERGE (s:Site {id: r.id})
SET s += r.props
"""

_PRODUCTS = """
UNWIND $rows AS r
MERGE (p:Product {code: r.code})
SET p += r.props
"""

_BOXES = """
UNWIND range(0, size($code) - 1) AS i
MERGE (b:Box {code: $code[i]})
SET b.product_code = $product_code[i], b.code_product = $code_product[i]
WITH b, $product_code[i] AS product
OPTIONAL MATCH (b)-[old:IS]->(p:Product)
WHERE product IS NULL OR p.code <> product
DELETE old
WITH DISTINCT b, product
OPTIONAL MATCH (p:Product {code: product})
FOREACH (x IN CASE WHEN p IS NULL THEN [] ELSE [p] END | MERGE (b)-[:IS]->(x))
"""

_PATIENTS = "UNWIND $ids AS id MERGE (:Patient {id: id})"
_PRESCRIBERS = "UNWIND $ids AS id MERGE (:Prescriber {id: id})"

# Columnar parameters ($id, $code, ... one list per column) pack several times faster
# than a list of maps; times travel as ISO text (the driver's datetime conversion is slow).
_EVENT_SET = ",\n    ".join(
    f"e.{prop} = " + (f"localdatetime(${prop}[i])" if prop == "time" else
                      f"date(${prop}[i])" if prop in ("expiry", "code_expiry") else f"${prop}[i]")
    for prop in EVENT_PROPERTIES.values())

_EVENTS = f"""
UNWIND range(0, size($id) - 1) AS i
MATCH (b:Box {{code: $code[i]}})
MATCH (s:Site {{id: $site[i]}})
MERGE (e:Event {{id: $id[i]}})
SET {_EVENT_SET}
MERGE (e)-[:OF]->(b)
MERGE (e)-[:AT]->(s)
WITH e, i
OPTIONAL MATCH (p:Patient {{id: $patient[i]}})
OPTIONAL MATCH (d:Prescriber {{id: $prescriber[i]}})
FOREACH (x IN CASE WHEN p IS NULL THEN [] ELSE [p] END | MERGE (e)-[:TO]->(x))
FOREACH (x IN CASE WHEN d IS NULL THEN [] ELSE [d] END | MERGE (e)-[:BY]->(x))
"""

# Re-draw the custody chain of each box in the batch: drop its old NEXT links (a
# re-load with more events may have put new events between two old ones), then link.
_NEXT_CLEAR = """
UNWIND $codes AS code
MATCH (:Box {code: code})<-[:OF]-(:Event)-[n:NEXT]->()
DELETE n
"""

_NEXT = """
UNWIND range(0, size($a) - 1) AS i
MATCH (a:Event {id: $a[i]}), (b:Event {id: $b[i]})
MERGE (a)-[:NEXT]->(b)
"""

# A first load (no Box or Event in the database yet): boxes, their events, every
# relationship of those events and their custody chains in one query per batch of
# whole boxes.  Sites, products, patients and prescribers (created by the earlier
# stages) are looked up once per batch — the events refer to them by their position
# in the batch's small lists ($site_ids, ...; -1 for none) — and the NEXT chain links
# the events just created, in time order, without looking any of them up again.
# CREATE is safe: the batch commits with its progress record, so a resumed load
# never writes it twice, and the uniqueness constraints stop anything that would.
_EVENT_CREATE = ",\n    ".join(
    f"{prop}: " + (f"localdatetime(${prop}[i])" if prop == "time" else
                   f"date(${prop}[i])" if prop in ("expiry", "code_expiry") else f"${prop}[i]")
    for prop in EVENT_PROPERTIES.values())

# The batch's actors, looked up once: `collect` in the order of their id list.
_BATCH_NODES = "\n".join(
    f"""CALL () {{
  UNWIND range(0, size(${param}) - 1) AS k MATCH (n:{label} {{{key}: ${param}[k]}})
  WITH k, n ORDER BY k RETURN collect(n) AS {name}
}}""" for name, param, label, key in (("sites", "site_ids", "Site", "id"),
                                       ("products", "product_ids", "Product", "code"),
                                       ("patients", "patient_ids", "Patient", "id"),
                                       ("prescribers", "prescriber_ids", "Prescriber", "id")))

_CHAINS_NEW = f"""
{_BATCH_NODES}
WITH sites, products, patients, prescribers
WHERE size(sites) = size($site_ids) AND size(products) = size($product_ids)
  AND size(patients) = size($patient_ids) AND size(prescribers) = size($prescriber_ids)
UNWIND range(0, size($box_code) - 1) AS j
CREATE (b:Box {{code: $box_code[j], product_code: $box_product[j], code_product: $box_code_product[j]}})
FOREACH (p IN CASE WHEN $box_product_ix[j] < 0 THEN [] ELSE [products[$box_product_ix[j]]] END |
  CREATE (b)-[:IS]->(p))
WITH sites, patients, prescribers, b, j
UNWIND range($box_first[j], $box_first[j + 1] - 1) AS i
CREATE (e:Event {{
    id: $id[i],
    {_EVENT_CREATE}
}})-[:OF]->(b)
WITH patients, prescribers, b, e, i, sites[$site_ix[i]] AS s
CREATE (e)-[:AT]->(s)
FOREACH (p IN CASE WHEN $patient_ix[i] < 0 THEN [] ELSE [patients[$patient_ix[i]]] END | CREATE (e)-[:TO]->(p))
FOREACH (d IN CASE WHEN $prescriber_ix[i] < 0 THEN [] ELSE [prescribers[$prescriber_ix[i]]] END |
  CREATE (e)-[:BY]->(d))
WITH b, e ORDER BY i
WITH b, collect(e) AS chain
UNWIND range(0, size(chain) - 2) AS k
WITH chain[k] AS earlier, chain[k + 1] AS later
CREATE (earlier)-[:NEXT]->(later)
"""

_PROGRESS = """
MERGE (l:LoadState {key: $key})
SET l += $progress, l.updated = datetime()
"""

_STAGES = ("sites", "products", "boxes", "patients", "prescribers", "events", "next")


@dataclass
class LoadReport:
    """What a load wrote, and how fast."""

    uri: str
    events: int
    batches: int
    skipped_batches: int
    seconds: float
    nodes: dict = field(default_factory=dict)
    relationships: dict = field(default_factory=dict)
    suspicious_only: bool = False
    stage_seconds: dict = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def _blank_to_none(series: pd.Series) -> pd.Series:
    """Trim text; empty or missing becomes None (SQL: NULLIF(TRIM(x), ''))."""
    values = np.full(len(series), None, dtype=object)
    present = series.notna().to_numpy()
    if present.any():
        text = series[present].astype(str).str.strip().to_numpy(dtype=object)
        text[text == ""] = None
        values[present] = text
    return pd.Series(values, index=series.index, dtype=object)


def canonical_events(events: pd.DataFrame, deletions: pd.DataFrame | None = None,
                     normalise: bool = True) -> pd.DataFrame:
    """The events every rule judges (:mod:`rxring.rules.events`), ready for the graph.

    The events that count — NHSA 3507 deletions, repeated event ids and incomplete
    rows dropped, by the one definition every backend uses
    (:func:`rxring.backends.duckdb.counted_events`) — in input order; then patient,
    prescriber, settlement, record_no, code_product and counterparty are trimmed (empty becomes
    missing).  ``normalise`` is accepted for compatibility: a hand-made frame is
    always coerced to :data:`~rxring.schema.EVENT_SCHEMA` first.
    """
    return _graph_ready(counted_events(events, deletions).to_pandas())


def _graph_ready(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("patient_id", "prescriber_id", "settlement_id", "record_no", "code_product", "counterparty"):
        frame[column] = _blank_to_none(frame[column])
    frame["event_time"] = pd.to_datetime(frame["event_time"])
    return frame.reset_index(drop=True)


def workspace_events(workspace: Workspace) -> pd.DataFrame:
    """The workspace's events as the rules see them (:func:`canonical_events`)."""
    return _graph_ready(counted_events(workspace).to_pandas())


def ensure_schema(driver, database: str | None = None) -> None:
    """Create rxring's constraints and indexes (idempotent) and wait until they are online."""
    for statement in cypher_statements("schema"):
        driver.execute_query(statement, database_=database)
    driver.execute_query("CALL db.awaitIndexes(300)", database_=database)


def clear_graph(driver, database: str | None = None, batch: int = 10000) -> None:
    """Delete every node and relationship (the schema stays), in batches."""
    # Relationships first, then nodes: a batched DETACH DELETE is planned eagerly and
    # can exhaust the transaction memory pool on a large graph.
    with driver.session(database=database) as session:
        session.run(f"MATCH ()-[r]->() CALL (r) {{ DELETE r }} IN TRANSACTIONS OF {int(batch)} ROWS").consume()
        session.run(f"MATCH (n) CALL (n) {{ DELETE n }} IN TRANSACTIONS OF {int(batch)} ROWS").consume()


def graph_counts(driver, database: str | None = None) -> tuple[dict, dict]:
    """Node counts per label of the model and relationship counts per type."""
    nodes, rels = {}, {}
    for label in LABELS:
        records, _, _ = driver.execute_query(f"MATCH (n:`{label}`) RETURN count(n) AS n", database_=database)
        nodes[label] = records[0]["n"]
    for rel in RELATIONSHIP_TYPES:
        records, _, _ = driver.execute_query(f"MATCH ()-[r:`{rel}`]->() RETURN count(r) AS n", database_=database)
        rels[rel] = records[0]["n"]
    return nodes, rels


def _clean(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain Python dicts (datetime, date, None for missing) for Bolt."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return [{k: _clean(v) for k, v in row.items()} for row in table.to_pylist()]


def _product_norm(series: pd.Series) -> pd.Series:
    """Product codes trimmed and upper-cased; empty or missing becomes None."""
    values = _blank_to_none(series)
    present = values.notna().to_numpy()
    if present.any():
        out = values.to_numpy(dtype=object).copy()
        out[present] = values[present].astype(str).str.upper().to_numpy(dtype=object)
        values = pd.Series(out, index=series.index, dtype=object)
    return values


def _column(series: pd.Series) -> list:
    """A column as a list of Bolt-friendly values: None for missing, ISO text for times and dates."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.to_numpy(dtype="datetime64[us]")
        text = np.datetime_as_string(values, unit="us")
        return [None if missing else t for t, missing in zip(text.tolist(), np.isnat(values).tolist())]
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype="float64")
        return [None if missing else v for v, missing in zip(values.tolist(), np.isnan(values).tolist())]
    if pd.api.types.is_bool_dtype(series) and not series.hasnans:
        return series.tolist()
    out = []
    for value in series.tolist():
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        elif isinstance(value, (datetime.date, pd.Timestamp)):
            out.append(value.isoformat())
        elif isinstance(value, np.generic):
            out.append(value.item())
        else:
            out.append(value)
    return out


def box_columns(events: pd.DataFrame, presorted: bool = False) -> dict[str, list]:
    """Per code: its first known product (time order) and its product part (smallest).

    ``presorted``: the events are sorted by trace_code, event_time, event_id (as
    :func:`load_events` sorts them), so each code's first product is its group's first.
    """
    frame = pd.DataFrame({"code": events["trace_code"], "time": events["event_time"], "id": events["event_id"],
                          "product": _product_norm(events["product_code"]), "part": events["code_product"]})
    codes = pd.DataFrame({"code": sorted(frame["code"].unique())})
    known = frame.dropna(subset=["product"])
    if not presorted:
        known = known.sort_values(["time", "id"], kind="stable")
    first = known.drop_duplicates("code", keep="first").set_index("code")["product"]
    part = (frame.dropna(subset=["part"]).sort_values(["code", "part"], kind="stable")
            .drop_duplicates("code", keep="first").set_index("code")["part"])
    return {"code": codes["code"].tolist(),
            "product_code": _column(codes["code"].map(first).astype(object)),
            "code_product": _column(codes["code"].map(part).astype(object))}


def site_rows(events: pd.DataFrame, sites: pd.DataFrame | None) -> list[dict]:
    ids = set(events["site_id"].dropna())
    rows = []
    if sites is not None and len(sites):
        props = [c for c in ("name", "kind", "chain", "region") if c in sites.columns]
        for rec in _records(sites[["site_id", *props]].drop_duplicates("site_id")):
            rows.append({"id": rec["site_id"], "props": {k: rec[k] for k in props if rec[k] is not None}})
            ids.discard(rec["site_id"])
    rows.extend({"id": site, "props": {}} for site in sorted(ids))
    return rows


def product_rows(events: pd.DataFrame, products: pd.DataFrame | None) -> list[dict]:
    """Product nodes keyed by the normalised code (trimmed, upper case), master columns as properties."""
    named = pd.DataFrame({"code": _product_norm(events["product_code"]), "name": _blank_to_none(events["product_name"])})
    rows = {}
    for code, group in named.dropna(subset=["code"]).groupby("code", sort=True):
        names = group["name"].dropna()
        rows[code] = {"code": code, "props": {"name": names.value_counts().index[0]} if len(names) else {}}
    if products is not None and len(products) and "product_code" in products.columns:
        master = products.copy()
        master["code"] = _product_norm(master["product_code"])
        master = master.dropna(subset=["code"])
        if "pack_units" in master.columns:
            master["pack_units"] = pd.to_numeric(master["pack_units"], errors="coerce")
            units = master.groupby("code")["pack_units"].max()  # as the embedded engine: the largest
        else:
            units = pd.Series(dtype="float64")
        props = [c for c in ("name", "price") if c in master.columns]
        for rec in _records(master[["code", *props]].drop_duplicates("code")):
            row = rows.setdefault(rec["code"], {"code": rec["code"], "props": {}})
            row["props"].update({k: rec[k] for k in props if rec[k] is not None})
            value = units.get(rec["code"])
            if value is not None and not pd.isna(value):
                row["props"]["pack_units"] = int(value) if float(value).is_integer() else float(value)
    return [rows[k] for k in sorted(rows)]


def _event_columns(events: pd.DataFrame) -> dict[str, list]:
    """The parameters of one batch of the events query: one list per column."""
    columns = {"id": _column(events["event_id"]), "code": _column(events["trace_code"]),
               "site": _column(events["site_id"]), "patient": _column(events["patient_id"]),
               "prescriber": _column(events["prescriber_id"])}
    for column, prop in EVENT_PROPERTIES.items():
        columns[prop] = _column(events[column])
    return columns


def _local_index(codes: np.ndarray, uniques: np.ndarray) -> tuple[list, list[int]]:
    """A batch's distinct values (sorted) and each row's position among them (-1 for none).

    ``codes`` are the rows' positions in ``uniques`` (from :func:`pandas.factorize`).
    """
    present = np.unique(codes[codes >= 0])
    local = np.searchsorted(present, codes)
    local[codes < 0] = -1
    return uniques[present].tolist(), local.tolist()


@dataclass
class _ChainBatch:
    """One transaction of a first load: whole boxes with their events (see ``_CHAINS_NEW``)."""

    params: dict
    events: int
    nodes: int
    relationships: int


def _chain_batches(events: pd.DataFrame, boxes: dict[str, list], batch_size: int):
    """Cut ``events`` (sorted by trace_code, time, id) into batches of whole boxes.

    Yields
    ------
    _ChainBatch
        The parameters of ``_CHAINS_NEW`` and the nodes and relationships it must create.
    """
    codes = events["trace_code"].to_numpy(dtype=object)
    n = len(codes)
    starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1 if n else np.array([], dtype=np.int64)
    starts = np.concatenate([[0], starts, [n]]).astype(np.int64) if n else np.array([0], dtype=np.int64)
    n_boxes = len(starts) - 1
    if n_boxes != len(boxes["code"]):
        raise AssertionError("boxes and events out of step")  # a bug, not a user error
    site_codes, site_uniques = pd.factorize(events["site_id"])
    patient_codes, patient_uniques = pd.factorize(events["patient_id"])
    prescriber_codes, prescriber_uniques = pd.factorize(events["prescriber_id"])
    product_codes, product_uniques = pd.factorize(pd.Series(boxes["product_code"], dtype=object))
    site_uniques, patient_uniques = np.asarray(site_uniques, dtype=object), np.asarray(patient_uniques, dtype=object)
    prescriber_uniques = np.asarray(prescriber_uniques, dtype=object)
    product_uniques = np.asarray(product_uniques, dtype=object)
    first_box = 0
    while first_box < n_boxes:
        end_box = int(np.searchsorted(starts, starts[first_box] + batch_size, side="left"))
        end_box = min(max(end_box, first_box + 1), n_boxes)
        lo, hi = int(starts[first_box]), int(starts[end_box])
        frame = events.iloc[lo:hi]
        params = {"id": _column(frame["event_id"])}
        for column, prop in EVENT_PROPERTIES.items():
            params[prop] = _column(frame[column])
        params["site_ids"], params["site_ix"] = _local_index(site_codes[lo:hi], site_uniques)
        params["patient_ids"], params["patient_ix"] = _local_index(patient_codes[lo:hi], patient_uniques)
        params["prescriber_ids"], params["prescriber_ix"] = _local_index(prescriber_codes[lo:hi],
                                                                         prescriber_uniques)
        box_slice = slice(first_box, end_box)
        params["product_ids"], params["box_product_ix"] = _local_index(product_codes[box_slice], product_uniques)
        params["box_code"] = boxes["code"][box_slice]
        params["box_product"] = boxes["product_code"][box_slice]
        params["box_code_product"] = boxes["code_product"][box_slice]
        params["box_first"] = (starts[first_box:end_box + 1] - lo).tolist()
        n_events, n_box = hi - lo, end_box - first_box
        links = (2 * n_events + int((patient_codes[lo:hi] >= 0).sum()) + int((prescriber_codes[lo:hi] >= 0).sum())
                 + int((product_codes[box_slice] >= 0).sum()) + (n_events - n_box))
        yield _ChainBatch(params, n_events, n_events + n_box, links)
        first_box = end_box


def _custody_chains(events: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Per box, its event ids in time order (ties by id); each consecutive pair is a NEXT link."""
    ordered = events.sort_values(["trace_code", "event_time", "event_id"], kind="stable")
    codes = ordered["trace_code"].tolist()
    ids = ordered["event_id"].tolist()
    chains, start = [], 0
    for i in range(1, len(codes) + 1):
        if i == len(codes) or codes[i] != codes[start]:
            chains.append((codes[start], ids[start:i]))
            start = i
    return chains


def _fingerprint(workspace: Workspace | None, events: pd.DataFrame, batch_size: int, suspicious_only: bool) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"batch_size": batch_size, "suspicious_only": suspicious_only, "n": len(events)}).encode())
    if workspace is not None:
        paths = [*workspace.event_parts(), workspace.deletions_path, *sorted(workspace.masters_dir.glob("*.parquet"))]
        if suspicious_only:
            paths.append(workspace.findings_path)
        for path in paths:
            if Path(path).exists():
                stat = Path(path).stat()
                digest.update(f"{Path(path).name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    else:
        digest.update(pd.util.hash_pandas_object(events["event_id"], index=False).values.tobytes())
    return digest.hexdigest()[:32]


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="ev", desc="loading", leave=False, dynamic_ncols=True)


def load_events(driver, events: pd.DataFrame, *, sites: pd.DataFrame | None = None,
                products: pd.DataFrame | None = None, deletions: pd.DataFrame | None = None,
                database: str | None = None, batch_size: int = 10000, progress: bool = False,
                load_key: str | None = None, uri: str = "", normalise: bool = True,
                restart: bool = False, writers: int = 2, on_stage=None, prepared: bool = False) -> LoadReport:
    """Write canonical events (and master rows) into Neo4j, batched and idempotent.

    Parameters
    ----------
    driver : neo4j.Driver
        An open driver (see :func:`rxring.backends.neo4j.connect.connect`).
    events : pandas.DataFrame
        Rows of :data:`rxring.schema.EVENT_SCHEMA`; cleaned by :func:`canonical_events`
        (with ``deletions``) first, so the graph holds what the rules judge.
    sites, products : pandas.DataFrame, optional
        Master tables; their columns become node properties.
    database : str, optional
        Target database (default: the server's default).
    batch_size : int
        Events per transaction.
    progress : bool
        Show a progress bar on stderr.
    load_key : str, optional
        Identity of this load for resuming; batches already recorded under it are skipped.
    restart : bool
        Forget the progress recorded under ``load_key`` and write every batch again.
    writers : int
        Concurrent write transactions of a first load (batches of whole boxes are
        disjoint, so they can run side by side; the server then uses more than one core).
    on_stage : callable, optional
        Called with each stage's name when it ends ("prepare", "sites", ...; for measurements).
    prepared : bool
        ``events`` already are :func:`canonical_events` output (``deletions`` and
        ``normalise`` are then ignored), as :func:`workspace_events` returns them.

    Returns
    -------
    LoadReport
        Counts of nodes and relationships after the load, and the speed.
    """
    if batch_size < 1:
        raise RxringError(f"--batch-size must be at least 1, not {batch_size}")
    if writers < 1:
        raise RxringError(f"--writers must be at least 1, not {writers}")
    start = time.perf_counter()
    ensure_schema(driver, database)
    if not prepared:
        events = canonical_events(events, deletions, normalise=normalise)
    events = events.sort_values(["trace_code", "event_time", "event_id"], kind="stable").reset_index(drop=True)
    key = load_key or _fingerprint(None, events, batch_size, False)
    if restart:
        driver.execute_query("MATCH (l:LoadState) WHERE l.key = $key OR l.key STARTS WITH $key + '/' DELETE l",
                             key=key, database_=database)
    records, _, _ = driver.execute_query("MATCH (l:LoadState {key: $key}) RETURN properties(l) AS p",
                                         key=key, database_=database)
    done = records[0]["p"] if records else {}
    if "fresh" not in done:  # decided once per load, kept for a resumed run
        records, _, _ = driver.execute_query("RETURN EXISTS { (:Event) } OR EXISTS { (:Box) } AS any",
                                             database_=database)
        done["fresh"] = not records[0]["any"]
        driver.execute_query(_PROGRESS, key=key, progress={"fresh": done["fresh"]}, database_=database)
    fresh = bool(done["fresh"])

    # Small lists per stage; large ones are built lazily (one batch at a time).
    stage_rows = {
        "sites": site_rows(events, sites),
        "products": product_rows(events, products),
    }
    boxes = box_columns(events, presorted=True)
    patients = sorted(set(events["patient_id"].dropna()))
    prescribers = sorted(set(events["prescriber_id"].dropna()))
    bar = _progress_bar(len(events), progress)
    batches = skipped = 0
    stage_seconds: dict[str, float] = {"prepare": round(time.perf_counter() - start, 2)}
    if on_stage is not None:
        on_stage("prepare")

    def write_batch(stage: str, number: int, work_items, record_key: str, progress: dict) -> None:
        def work(tx):
            for query, params, *expected in work_items:
                counters = tx.run(query, **params).consume().counters
                if expected and (counters.nodes_created, counters.relationships_created) != expected[0]:
                    # Only if the database changed under the load (a site or patient
                    # deleted meanwhile): roll back rather than half-write.
                    raise RxringError(
                        f"batch {number} of the {stage} stage would create {counters.nodes_created} nodes "
                        f"and {counters.relationships_created} relationships instead of "
                        f"{expected[0][0]} and {expected[0][1]}; the database changed during the load — "
                        f"empty it and load again")
            tx.run(_PROGRESS, key=record_key, progress=progress).consume()

        with driver.session(database=database) as session:
            session.execute_write(work)

    def run_stage(stage: str, chunks, writers: int = 1) -> None:
        """Run each chunk — ([(query, params[, (nodes, relationships)]), ...], events it covers) — in one transaction.

        With ``writers`` > 1 the chunks must touch disjoint nodes (except shared actors);
        each then records its own ``(:LoadState {key: "<key>/<stage>/<number>"})`` and
        up to ``writers`` run at once.
        """
        nonlocal batches, skipped
        began = time.perf_counter()
        finished = bool(done.get(f"done_{stage}"))
        independent = writers > 1
        if independent and not finished:
            records, _, _ = driver.execute_query(
                "MATCH (l:LoadState) WHERE l.key STARTS WITH $prefix RETURN l.key AS key",
                prefix=f"{key}/{stage}/", database_=database)
            written = {int(r["key"].rsplit("/", 1)[1]) for r in records}
        pending: dict = {}  # future -> events it writes
        with ThreadPoolExecutor(max_workers=max(1, writers), thread_name_prefix="rxring-load") as pool:
            try:
                for number, (work_items, n_events) in enumerate(chunks, start=1):
                    if finished or (number in written if independent else number <= done.get(f"stage_{stage}", 0)):
                        skipped += 1
                        if bar is not None and n_events:
                            bar.update(n_events)
                        continue
                    if not independent:
                        write_batch(stage, number, work_items, key, {f"stage_{stage}": number})
                        batches += 1
                        if bar is not None and n_events:
                            bar.update(n_events)
                        continue
                    future = pool.submit(write_batch, stage, number, work_items, f"{key}/{stage}/{number}",
                                         {"stage": stage, "batch": number, "events": n_events})
                    pending[future] = n_events
                    while len(pending) >= 2 * writers:
                        finished_now, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for future in finished_now:
                            future.result()
                            batches += 1
                            if bar is not None and pending[future]:
                                bar.update(pending[future])
                            del pending[future]
                for future in list(pending):
                    future.result()
                    batches += 1
                    if bar is not None and pending[future]:
                        bar.update(pending[future])
            except BaseException:
                # Ctrl-C or a failed batch: drop the batches not started; those running
                # finish (each commits with its progress record, so a rerun skips them).
                for future in pending:
                    future.cancel()
                raise
        if not finished:
            driver.execute_query(_PROGRESS, key=key, progress={f"done_{stage}": True}, database_=database)
        stage_seconds[stage] = round(time.perf_counter() - began, 2)
        if on_stage is not None:
            on_stage(stage)

    def chunked(query, rows):
        for i in range(0, len(rows), batch_size):
            yield [(query, {"rows": rows[i:i + batch_size]})], 0

    run_stage("sites", chunked(_SITES, stage_rows["sites"]))
    run_stage("products", chunked(_PRODUCTS, stage_rows["products"]))
    if not fresh:
        run_stage("boxes", (([(_BOXES, {k: v[i:i + batch_size] for k, v in boxes.items()})], 0)
                            for i in range(0, len(boxes["code"]), batch_size)))
    run_stage("patients", (([(_PATIENTS, {"ids": patients[i:i + batch_size]})], 0)
                           for i in range(0, len(patients), batch_size)))
    run_stage("prescribers", (([(_PRESCRIBERS, {"ids": prescribers[i:i + batch_size]})], 0)
                              for i in range(0, len(prescribers), batch_size)))
    if bar is not None:
        bar.set_description("events")
    if fresh:
        run_stage("chains", (([(_CHAINS_NEW, batch.params, (batch.nodes, batch.relationships))], batch.events)
                             for batch in _chain_batches(events, boxes, batch_size)), writers=writers)
        if bar is not None:
            bar.close()
        return _report(driver, database, uri, events, batches, skipped, start, stage_seconds)
    run_stage("events", (([(_EVENTS, _event_columns(events.iloc[i:i + batch_size]))],
                          min(batch_size, len(events) - i)) for i in range(0, len(events), batch_size)))

    def chain_chunks():
        codes, first, then, n = [], [], [], 0
        for code, ids in _custody_chains(events):
            codes.append(code)
            first.extend(ids[:-1])
            then.extend(ids[1:])
            n += len(ids)
            if n >= batch_size:
                yield link(codes, first, then), n
                codes, first, then, n = [], [], [], 0
        if codes:
            yield link(codes, first, then), n

    def link(codes, first, then):
        return [(_NEXT_CLEAR, {"codes": codes}), (_NEXT, {"a": first, "b": then})]

    if bar is not None:
        bar.reset(total=len(events))
        bar.set_description("custody chains")
    run_stage("next", chain_chunks())
    if bar is not None:
        bar.close()
    return _report(driver, database, uri, events, batches, skipped, start, stage_seconds)


def _report(driver, database, uri, events, batches, skipped, start, stage_seconds) -> LoadReport:
    elapsed = time.perf_counter() - start
    nodes, rels = graph_counts(driver, database)
    return LoadReport(uri=uri, events=len(events), batches=batches, skipped_batches=skipped, seconds=elapsed,
                      nodes=nodes, relationships=rels, stage_seconds=stage_seconds)


def suspicious_codes(workspace: Workspace) -> set[str]:
    """Trace codes named by the workspace's findings (``findings.parquet``)."""
    if not workspace.findings_path.exists():
        raise RxringError(f"--suspicious-only needs findings: {workspace.findings_path} does not exist; "
                          f"run `rxring analyze --workspace {workspace.root}` first")
    findings = pd.read_parquet(workspace.findings_path, columns=["trace_codes"])
    return {code for codes in findings["trace_codes"] if codes is not None for code in codes}


def load_workspace(config, workspace: Workspace | str | Path, *, suspicious_only: bool = False,
                   batch_size: int = 10000, progress: bool = False, restart: bool = False,
                   writers: int = 2) -> LoadReport:
    """Load a workspace into the Neo4j server of ``config`` (idempotent, resumable).

    Parameters
    ----------
    config : rxring.backends.neo4j.connect.Neo4jConfig
        Where to load (see :func:`~rxring.backends.neo4j.connect.resolve_config`).
    workspace : Workspace or path
        An ingested workspace.
    suspicious_only : bool
        Load only the boxes named in ``findings.parquet``, with their whole custody
        chains and every actor of those events — for cities too large to load whole.
    batch_size : int
        Events per transaction.
    progress : bool
        Show a progress bar.
    restart : bool
        Ignore the progress a previous load of the same workspace recorded (write every
        batch again; still idempotent).
    writers : int
        Concurrent write transactions of a first load (see :func:`load_events`).

    Returns
    -------
    LoadReport

    Examples
    --------
    >>> from rxring.backends.neo4j.connect import resolve_config
    >>> report = load_workspace(resolve_config(), "ws")      # doctest: +SKIP
    >>> report.nodes["Event"]                                # doctest: +SKIP
    1200
    """
    from .connect import connect

    workspace = as_workspace(workspace)
    workspace.events_dataset()  # a clear error for an empty workspace, before connecting
    with connect(config) as driver:  # a clear error for a bad server, before reading every event
        events = workspace_events(workspace)
        if suspicious_only:
            codes = suspicious_codes(workspace)
            events = events[events["trace_code"].isin(codes)].reset_index(drop=True)
        key = _fingerprint(workspace, events, batch_size, suspicious_only)
        report = load_events(driver, events, sites=workspace.master("sites"), products=workspace.master("products"),
                             database=config.database, batch_size=batch_size, progress=progress, load_key=key,
                             uri=config.uri, normalise=False, restart=restart, writers=writers, prepared=True)
    report.suspicious_only = suspicious_only
    return report
