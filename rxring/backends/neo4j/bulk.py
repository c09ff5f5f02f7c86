"""Bulk first loads: CSV files for ``neo4j-admin database import full``.

Loading through Bolt (:mod:`rxring.backends.neo4j.load`) is transactional,
idempotent and resumable, but every event costs a few MERGEs.  For a first load of
a large city into an empty database, ``neo4j-admin database import`` writes the
store files directly and is one to two orders of magnitude faster.  This module
writes the same graph (DESIGN §4: the same labels, relationship types and
properties as the Bolt loader) as CSV files with typed headers, and can run the
import into an rxring-managed server (the import tool ships in the same jars).

Files written into ``out_dir``::

    Box.csv Site.csv Patient.csv Prescriber.csv Product.csv Event.csv      nodes
    OF.csv AT.csv TO.csv BY.csv NEXT.csv IS.csv                              relationships
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import RxringError
from ..jvm import java_options
from ...workspace import as_workspace
from .load import (EVENT_PROPERTIES, box_columns, product_rows, site_rows, canonical_events,
                           suspicious_codes, workspace_events)

__all__ = ["ImportFiles", "BulkReport", "write_import_files", "write_workspace_import_files", "import_into_instance",
           "bulk_load_instance"]

# Neo4j import types of the Event properties (the rest are strings).
_EVENT_TYPES = {"time": "localdatetime", "quantity": "double", "fund_amount": "double", "total_amount": "double",
                "source_line": "long", "expiry": "date", "code_expiry": "date", "split_sale": "boolean"}


@dataclass
class ImportFiles:
    """The files written and the ``neo4j-admin`` arguments that import them."""

    out_dir: Path
    nodes: dict
    relationships: dict
    events: int

    def admin_args(self, database: str = "neo4j") -> list[str]:
        """Arguments after ``neo4j-admin``: ``database import full <database> --nodes=...``."""
        # The database name goes first: after a --nodes/--relationships option it would
        # be read as one more file of that option.
        args = ["database", "import", "full", database, "--overwrite-destination=true", "--id-type=string"]
        args += [f"--nodes={label}={path}" for label, path in self.nodes.items()]
        args += [f"--relationships={rel}={path}" for rel, path in self.relationships.items()]
        return args

    def command(self, database: str = "neo4j") -> str:
        """A shell command line to run with the server stopped."""
        return "neo4j-admin " + " ".join(shlex.quote(a) for a in self.admin_args(database))


def _write(frame: pd.DataFrame, path: Path) -> None:
    """CSV for the import tool: UTF-8, quotes only where needed, missing values as empty fields."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.Table.from_pandas(frame, preserve_index=False)
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed", batch_size=65536))


def _iso_times(series: pd.Series) -> pd.Series:
    values = series.to_numpy(dtype="datetime64[us]")
    text = np.datetime_as_string(values, unit="us").astype(object)
    text[np.isnat(values)] = None
    return pd.Series(text, index=series.index)


def _iso_dates(series: pd.Series) -> pd.Series:
    values = pd.to_datetime(series, errors="coerce").to_numpy(dtype="datetime64[D]")
    text = np.datetime_as_string(values, unit="D").astype(object)
    text[np.isnat(values)] = None
    return pd.Series(text, index=series.index)


def write_import_files(events: pd.DataFrame, out_dir, *, sites: pd.DataFrame | None = None,
                       products: pd.DataFrame | None = None, deletions: pd.DataFrame | None = None,
                       normalise: bool = True) -> ImportFiles:
    """Write the graph of ``events`` as neo4j-admin import CSV files.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical events (cleaned by :func:`~rxring.backends.neo4j.load.canonical_events`).
    out_dir : path
        Folder for the files (created).
    sites, products, deletions : pandas.DataFrame, optional
        Master tables and NHSA 3507 deletions, as for the Bolt loader.

    Returns
    -------
    ImportFiles
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    events = canonical_events(events, deletions, normalise=normalise)
    nodes, rels = {}, {}

    boxes = box_columns(events)
    _write(pd.DataFrame({"code:ID(Box)": boxes["code"], "product_code": boxes["product_code"],
                         "code_product": boxes["code_product"]}), out / "Box.csv")
    nodes["Box"] = out / "Box.csv"

    site_frame = pd.DataFrame([{"id:ID(Site)": r["id"], **r["props"]} for r in site_rows(events, sites)],
                              columns=["id:ID(Site)", "name", "kind", "chain", "region"])
    _write(site_frame, out / "Site.csv")
    nodes["Site"] = out / "Site.csv"

    product_frame = pd.DataFrame([{"code:ID(Product)": r["code"], **r["props"]} for r in product_rows(events, products)],
                                 columns=["code:ID(Product)", "name", "pack_units", "price"])
    units = pd.to_numeric(product_frame["pack_units"], errors="coerce")
    integral = bool(((units.dropna() % 1) == 0).all())
    product_frame["pack_units"] = units.astype("Int64") if integral else units
    product_frame = product_frame.rename(columns={"pack_units": "pack_units:long" if integral else "pack_units:double",
                                                  "price": "price:double"})
    _write(product_frame, out / "Product.csv")
    nodes["Product"] = out / "Product.csv"

    for label, column in (("Patient", "patient_id"), ("Prescriber", "prescriber_id")):
        ids = sorted(set(events[column].dropna()))
        _write(pd.DataFrame({f"id:ID({label})": ids}), out / f"{label}.csv")
        nodes[label] = out / f"{label}.csv"

    frame = pd.DataFrame({"id:ID(Event)": events["event_id"]})
    for column, prop in EVENT_PROPERTIES.items():
        kind = _EVENT_TYPES.get(prop)
        values = events[column]
        if kind == "localdatetime":
            values = _iso_times(values)
        elif kind == "date":
            values = _iso_dates(values)
        elif kind == "long":
            values = pd.to_numeric(values, errors="coerce").astype("Int64")
        elif kind == "boolean":
            values = pd.Series([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else bool(v)
                                for v in values], index=values.index, dtype=object)
        frame[f"{prop}:{kind}" if kind else prop] = values.values
    _write(frame, out / "Event.csv")
    nodes["Event"] = out / "Event.csv"

    def rel(name: str, start: str, end: str, starts, ends) -> None:
        def values(x):
            return x.to_numpy(dtype=object) if isinstance(x, pd.Series) else np.asarray(x, dtype=object)
        _write(pd.DataFrame({f":START_ID({start})": values(starts), f":END_ID({end})": values(ends)}),
               out / f"{name}.csv")
        rels[name] = out / f"{name}.csv"

    rel("OF", "Event", "Box", events["event_id"], events["trace_code"])
    rel("AT", "Event", "Site", events["event_id"], events["site_id"])
    for name, label, column in (("TO", "Patient", "patient_id"), ("BY", "Prescriber", "prescriber_id")):
        known = events[events[column].notna()]
        rel(name, "Event", label, known["event_id"], known[column])
    ordered = events.sort_values(["trace_code", "event_time", "event_id"], kind="stable")
    codes = ordered["trace_code"].to_numpy(dtype=object)
    ids = ordered["event_id"].to_numpy(dtype=object)
    same_box = codes[1:] == codes[:-1]          # consecutive events of one box: a NEXT link
    rel("NEXT", "Event", "Event", ids[:-1][same_box], ids[1:][same_box])
    with_product = [(c, p) for c, p in zip(boxes["code"], boxes["product_code"]) if p is not None]
    rel("IS", "Box", "Product", [c for c, _ in with_product], [p for _, p in with_product])
    return ImportFiles(out_dir=out, nodes=nodes, relationships=rels, events=len(events))


def write_workspace_import_files(workspace, out_dir, *, suspicious_only: bool = False) -> ImportFiles:
    """:func:`write_import_files` for a workspace (deletions honoured, masters as properties)."""
    ws = as_workspace(workspace)
    ws.events_dataset()
    events = workspace_events(ws)
    if suspicious_only:
        events = events[events["trace_code"].isin(suspicious_codes(ws))].reset_index(drop=True)
    return write_import_files(events, out_dir, sites=ws.master("sites"), products=ws.master("products"),
                              normalise=False)


def import_into_instance(files: ImportFiles, name: str = "default", *, log=None) -> float:
    """Run ``neo4j-admin database import full`` into the (stopped) rxring-managed instance ``name``.

    Replaces its ``neo4j`` database.  Start the instance afterwards
    (:func:`~rxring.backends.neo4j.server.start_server`) and create the schema
    (:func:`~rxring.backends.neo4j.load.ensure_schema`).

    Returns
    -------
    float
        Seconds the import took.
    """
    from .server import instance_home, jdk_tool, ensure_distribution, read_state

    if read_state(name) is not None:
        raise RxringError(f"Neo4j instance {name!r} is running; stop it first (`rxring neo4j stop --instance {name}`)")
    dist = ensure_distribution(log=log)
    home = instance_home(name)
    conf = home / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "neo4j.conf").write_text(f"server.directories.data={home / 'data'}\n", encoding="utf-8")
    env = dict(os.environ, NEO4J_HOME=str(home), NEO4J_CONF=str(conf))
    cmd = [jdk_tool("java"), "-Xmx1g", *java_options(), "-cp", f"{dist / 'lib'}/*", "org.neo4j.cli.AdminTool", *files.admin_args()]
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=home)
    (home / "import.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        tail = " ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise RxringError(f"neo4j-admin import into instance {name!r} failed (see {home / 'import.log'}): {tail}")
    return time.perf_counter() - began


@dataclass
class BulkReport:
    """What :func:`bulk_load_instance` did."""

    uri: str
    events: int
    write_seconds: float
    import_seconds: float
    nodes: dict
    relationships: dict

    @property
    def events_per_second(self) -> float:
        total = self.write_seconds + self.import_seconds
        return self.events / total if total > 0 else float("inf")


def bulk_load_instance(workspace, name: str = "default", *, out_dir=None, suspicious_only: bool = False,
                       log=None) -> BulkReport:
    """First load of a workspace into the local instance ``name`` with neo4j-admin import.

    Stops the instance if it runs, replaces its ``neo4j`` database with the
    workspace's graph, starts it again and creates rxring's constraints and indexes.
    """
    import tempfile

    from .connect import Neo4jConfig, connect
    from .load import ensure_schema, graph_counts
    from .server import start_server, stop_server

    with tempfile.TemporaryDirectory(prefix="rxring-import-") as scratch:
        began = time.perf_counter()
        files = write_workspace_import_files(workspace, out_dir or scratch, suspicious_only=suspicious_only)
        written = time.perf_counter() - began
        if stop_server(name) and log:
            log(f"stopped Neo4j instance {name!r} for the import")
        seconds = import_into_instance(files, name, log=log)
    state = start_server(name, log=log)
    config = Neo4jConfig(uri=state.uri, user=state.user, password=state.password)
    with connect(config) as driver:
        ensure_schema(driver)
        nodes, rels = graph_counts(driver)
    return BulkReport(uri=state.uri, events=files.events, write_seconds=written, import_seconds=seconds,
                      nodes=nodes, relationships=rels)
