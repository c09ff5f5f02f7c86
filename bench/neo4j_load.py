"""Benchmark: events per second loaded into Neo4j through Bolt by `rxring load`'s loader.

Usage::

    python bench/neo4j_load.py                       # 1,000,000 synthetic events, batch 10,000
    python bench/neo4j_load.py -n 200000 --batch-size 20000 --writers 1
    python bench/neo4j_load.py --workspace /tmp/rxring-bench/ws-parquet-1000000

Besides wall time it prints CPU seconds of the client (this process) and, for a
private instance, of the server (from ``/proc/<pid>/stat``) per stage: on a shared
machine the wall rate says little, the CPU seconds per event say what bounds the load.

Uses the server of NEO4J_URI (NEO4J_USER / NEO4J_PASSWORD / NEO4J_DATABASE) when set,
else starts a private rxring-managed instance (`rxring neo4j start`) and deletes it
afterwards.  The database is emptied first.  Target: >= 50,000 events/s on a 2-core
machine.  Events are synthetic but shaped like a city's: packs received by a
pharmacy, most dispensed to a patient with a prescriber, a few refunded or moved.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd


def synthetic_events(n: int, seed: int = 0) -> pd.DataFrame:
    """About ``n`` canonical events: ~n/2.2 packs with 1-4 events each."""
    rng = np.random.default_rng(seed)
    n_boxes = max(1, int(n / 2.2))
    per_box = rng.choice([1, 2, 3, 4], size=n_boxes, p=[0.2, 0.5, 0.2, 0.1])
    while per_box.sum() < n:
        per_box[rng.integers(0, n_boxes)] += 1
    excess = per_box.sum() - n
    for i in np.flatnonzero(per_box > 1):
        if excess == 0:
            break
        per_box[i] -= 1
        excess -= 1
    box = np.repeat(np.arange(n_boxes), per_box)
    step = np.concatenate([np.arange(k) for k in per_box])
    codes = np.char.add("8123456", np.char.zfill(box.astype(str), 13))
    kinds = np.array(["inbound", "dispense", "refund", "inventory", "transfer_out"])
    event_type = np.where(step == 0, "inbound", np.where(step == 1, "dispense", kinds[rng.integers(1, 5, size=len(box))]))
    dispense = event_type == "dispense"
    base = pd.Timestamp("2025-01-01").value // 1000 + box.astype(np.int64) * 7_000
    times = pd.to_datetime((base + step * 86_400_000_000 // 3 + rng.integers(0, 3_600_000_000, len(box))) * 1000)
    sites = np.char.add("H", np.char.zfill((box % 300).astype(str), 5))
    patients = np.char.add("P", np.char.zfill(rng.integers(0, 60_000, len(box)).astype(str), 8))
    prescribers = np.char.add("D", np.char.zfill(rng.integers(0, 3_000, len(box)).astype(str), 6))
    products = np.char.add("XA", np.char.zfill((box % 500).astype(str), 18))
    return pd.DataFrame({
        "event_id": np.char.add("ev", np.arange(len(box)).astype(str)),
        "trace_code": codes,
        "event_type": event_type,
        "event_time": times,
        "site_id": sites,
        "product_code": products,
        "quantity": 1.0,
        "split_sale": False,
        "patient_id": np.where(dispense, patients, None),
        "prescriber_id": np.where(dispense, prescribers, None),
        "settlement_id": np.where(dispense, np.char.add("S", np.arange(len(box)).astype(str)), None),
        "fund_amount": np.where(dispense, 20.0, np.nan),
        "total_amount": np.where(dispense, 30.0, np.nan),
        "code_product": "8123456",
        "code_kind": "cn20",
        "source_file": "bench.csv",
        "source_line": np.arange(len(box)) + 1,
    })


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--events", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=2, help="concurrent write transactions (first load)")
    parser.add_argument("--workspace", help="load this workspace's events instead of synthetic ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules", action="store_true", help="also time the Cypher rules after the load")
    parser.add_argument("--bulk", action="store_true",
                        help="also time a bulk first load (CSV files + neo4j-admin import) into a private instance")
    parser.add_argument("--bulk-only", action="store_true", help="time only the bulk first load")
    args = parser.parse_args(argv)

    from rxring.backends.neo4j.connect import Neo4jConfig, connect, resolve_config
    from rxring.backends.neo4j.load import clear_graph, load_events
    from rxring.backends.neo4j.server import start_server, stop_server

    if args.bulk_only:
        if args.workspace:
            from rxring.backends.neo4j.load import workspace_events
            from rxring.workspace import Workspace

            events = workspace_events(Workspace(args.workspace))
        else:
            events = synthetic_events(args.events, args.seed)
        bench_bulk(events)
        return 0
    instance = state = None
    if os.environ.get("NEO4J_URI"):
        config = resolve_config()
    else:
        instance = f"bench-{os.getpid()}"
        state = start_server(instance, http=False, heap_mb=int(os.environ.get("RXRING_NEO4J_HEAP_MB", "2048")),
                             pagecache_mb=int(os.environ.get("RXRING_NEO4J_PAGECACHE_MB", "1024")),
                             log=lambda line: print(line, file=sys.stderr))
        config = Neo4jConfig(uri=state.uri, user=state.user, password=state.password)
    try:
        t0 = time.perf_counter()
        sites = products = None
        if args.workspace:
            from rxring.backends.neo4j.load import workspace_events
            from rxring.workspace import Workspace

            workspace = Workspace(args.workspace)
            events, sites, products = workspace_events(workspace), workspace.master("sites"), workspace.master("products")
            print(f"read {len(events):,} events of {args.workspace} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        else:
            events = synthetic_events(args.events, args.seed)
            print(f"generated {len(events):,} events ({events['trace_code'].nunique():,} packs) "
                  f"in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        server_pid = state.pid if instance else None
        with connect(config) as driver:
            clear_graph(driver, config.database)
            cpu = _CpuMeter(server_pid)
            report = load_events(driver, events, sites=sites, products=products, database=config.database,
                                 batch_size=args.batch_size, progress=sys.stderr.isatty(), normalise=False,
                                 writers=args.writers, on_stage=cpu.stage, prepared=bool(args.workspace))
            client, server = cpu.total()
            print(f"loaded {report.events:,} events in {report.seconds:.1f}s with batch size {args.batch_size:,} "
                  f"and {args.writers} writer(s): {report.events_per_second:,.0f} events/s")
            million = 1_000_000 / max(report.events, 1)
            print(f"CPU seconds: client {client:.1f}" + (f", server {server:.1f}" if server is not None else "")
                  + f"; per 1M events: client {client * million:.0f}"
                  + (f", server {server * million:.0f}, together {(client + server) * million:.0f}"
                     f" (= {2 * report.events / max(client + server, 1e-9):,.0f} events/s if both cores did"
                     f" nothing else)" if server is not None else ""))
            print("per stage (wall s / client CPU s / server CPU s): " + ", ".join(
                f"{k} {report.stage_seconds.get(k, 0)}/{c:.1f}/{'-' if s is None else f'{s:.1f}'}"
                for k, (c, s) in cpu.stages.items()))
            print("nodes: " + ", ".join(f"{k} {v:,}" for k, v in report.nodes.items()))
            print("relationships: " + ", ".join(f"{k} {v:,}" for k, v in report.relationships.items()))
            if args.rules:
                from rxring.backends.neo4j.rules import run_rules

                t1 = time.perf_counter()
                findings = run_rules(driver, database=config.database)
                print(f"rules: {len(findings):,} findings in {time.perf_counter() - t1:.1f}s")
    finally:
        if instance:
            stop_server(instance, delete_data=True)
    if args.bulk:
        bench_bulk(events)
    return 0


class _CpuMeter:
    """CPU seconds of this process and of the server process, split at each stage's end."""

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid
        self.start = self.last = self._now()
        self.stages: dict[str, tuple[float, float | None]] = {}

    def _now(self) -> tuple[float, float | None]:
        usage = os.times()
        client = usage.user + usage.system
        server = None
        if self.server_pid:
            try:
                with open(f"/proc/{self.server_pid}/stat", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                server = None
        return client, server

    def stage(self, name: str) -> None:
        now = self._now()
        server = None if now[1] is None or self.last[1] is None else now[1] - self.last[1]
        self.stages[name] = (now[0] - self.last[0], server)
        self.last = now

    def total(self) -> tuple[float, float | None]:
        now = self._now()
        server = None if now[1] is None or self.start[1] is None else now[1] - self.start[1]
        return now[0] - self.start[0], server


def bench_bulk(events: pd.DataFrame) -> None:
    """CSV files + neo4j-admin import into a fresh private instance (server start not counted)."""
    import tempfile

    from rxring.backends.neo4j.bulk import import_into_instance, write_import_files
    from rxring.backends.neo4j.server import stop_server

    name = f"bench-bulk-{os.getpid()}"
    try:
        with tempfile.TemporaryDirectory(prefix="rxring-bench-") as scratch:
            before = os.times()
            t0 = time.perf_counter()
            files = write_import_files(events, scratch, normalise=False)
            written = time.perf_counter() - t0
            middle = os.times()
            imported = import_into_instance(files, name)
            after = os.times()
        total = written + imported
        write_cpu = middle.user + middle.system - before.user - before.system
        import_cpu = after.children_user + after.children_system - middle.children_user - middle.children_system
        million = 1_000_000 / max(len(events), 1)
        print(f"bulk: wrote files in {written:.1f}s ({write_cpu:.1f} CPU s), neo4j-admin import {imported:.1f}s "
              f"({import_cpu:.1f} CPU s, JVM start included): {len(events) / total:,.0f} events/s; "
              f"CPU seconds per 1M events {(write_cpu + import_cpu) * million:.0f}")
    finally:
        stop_server(name, delete_data=True)


if __name__ == "__main__":
    sys.exit(main())
