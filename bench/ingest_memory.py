"""Ingest throughput and peak memory on a large generated CSV (and canonical Parquet).

Usage::

    python bench/ingest_memory.py --rows 2000000            # CSV with Chinese headers
    python bench/ingest_memory.py --rows 10000000 --keep DIR
    python bench/ingest_memory.py --rows 2000000 --parquet  # also canonical Parquet

The input is generated first (not timed); each ingest then runs in a fresh child
process so its peak RSS (``ru_maxrss``) is its own.  Prints rows/s (wall clock, and
per CPU-second, which is steadier on a shared machine) and peak RSS;
the target is >= 300k rows/s from CSV, >= 1M rows/s from canonical Parquet and
< 3 GB RSS for 10M CSV rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HEADERS = ["机构编码", "追溯码", "业务类型", "销售时间", "数量", "人员编号", "医保编码", "批号", "金额", "结算ID"]
TYPES = np.array(["销售", "采购入库", "退货", "调拨出库", "调拨入库", "盘点"])


def _batch(start: int, n: int, rng: np.random.Generator) -> pa.Table:
    i = np.arange(start, start + n)
    codes = pa.array(np.char.add("8115125", np.char.zfill(i.astype(str), 13)))
    seconds = rng.integers(0, 180 * 86400, n)
    times = (np.datetime64("2026-01-01T00:00:00") + seconds.astype("timedelta64[s]")).astype(str)
    times = np.char.replace(times, "T", " ")
    return pa.table(
        {
            "机构编码": pa.array(np.char.add("P11", np.char.zfill(rng.integers(0, 5000, n).astype(str), 10))),
            "追溯码": codes,
            "业务类型": pa.array(TYPES[rng.integers(0, len(TYPES), n)]),
            "销售时间": pa.array(times),
            "数量": pa.array(np.ones(n, dtype=np.int64)),
            "人员编号": pa.array(np.char.add("PSN", rng.integers(0, 10**8, n).astype(str))),
            "医保编码": pa.array(np.char.add("XJ6238A", rng.integers(10**12, 10**13, n).astype(str))),
            "批号": pa.array(np.char.add("L", rng.integers(0, 999999, n).astype(str))),
            "金额": pa.array(np.round(rng.uniform(5, 500, n), 2)),
            "结算ID": pa.array(np.char.add("S", i.astype(str))),
        }
    )


def generate_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    step = 500_000
    with pacsv.CSVWriter(str(path), _batch(0, 1, rng).schema) as writer:
        for start in range(0, rows, step):
            writer.write_table(_batch(start, min(step, rows - start), rng))


def generate_parquet(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    step = 1_000_000
    names = {"机构编码": "site_id", "追溯码": "trace_code", "业务类型": "event_type", "销售时间": "event_time",
             "数量": "quantity", "人员编号": "patient_id", "医保编码": "product_code", "批号": "batch",
             "金额": "total_amount", "结算ID": "settlement_id"}
    mapping = {"销售": "dispense", "采购入库": "inbound", "退货": "refund", "调拨出库": "transfer_out",
               "调拨入库": "transfer_in", "盘点": "inventory"}
    writer = None
    for start in range(0, rows, step):
        t = _batch(start, min(step, rows - start), rng).rename_columns([names[c] for c in HEADERS])
        t = t.set_column(t.column_names.index("event_type"), "event_type",
                         pa.array([mapping[v] for v in t.column("event_type").to_pylist()]))
        t = t.set_column(t.column_names.index("event_time"), "event_time",
                         pa.compute.strptime(t.column("event_time"), format="%Y-%m-%d %H:%M:%S", unit="us"))
        if writer is None:
            writer = pq.ParquetWriter(str(path), t.schema, compression="zstd")
        writer.write_table(t)
    writer.close()


_CHILD = """
import json, resource, sys, time
from rxring.ingest import ingest
t = time.perf_counter()
r = ingest([sys.argv[1]], sys.argv[2], progress=False)
dt = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": dt, "read": r.read, "accepted": r.accepted, "quarantined": r.quarantined,
                  "balanced": r.balanced, "peak_rss_mb": u.ru_maxrss / 1024, "cpu_seconds": u.ru_utime + u.ru_stime}))
"""


def measure(path: Path, workspace: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(workspace)], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rows_per_s"] = result["read"] / result["seconds"] if result["seconds"] else 0.0
    result["rows_per_cpu_s"] = result["read"] / result["cpu_seconds"] if result["cpu_seconds"] else 0.0
    result["input_mb"] = path.stat().st_size / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--parquet", action="store_true", help="also measure a canonical Parquet input")
    parser.add_argument("--keep", type=Path, help="folder to keep the generated files and workspaces in")
    parser.add_argument("--max-rss-mb", type=float, default=3000,
                        help="fail (exit 1) when an ingest's peak RSS exceeds this (default 3000 MB: the 10M-row bound)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="rxring-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    csv_path = base / f"scans-{args.rows}.csv"
    t = time.perf_counter()
    generate_csv(csv_path, args.rows)
    print(f"generated {csv_path} ({csv_path.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - t:.1f}s")
    results = {"csv": measure(csv_path, base / "ws-csv")}
    if args.parquet:
        pq_path = base / f"scans-{args.rows}.parquet"
        generate_parquet(pq_path, args.rows)
        results["parquet"] = measure(pq_path, base / "ws-parquet")
    for name, r in results.items():
        print(f"{name:8s} rows={r['read']:,} accepted={r['accepted']:,} quarantined={r['quarantined']:,} "
              f"balanced={r['balanced']}  {r['seconds']:.1f}s  {r['rows_per_s']:,.0f} rows/s "
              f"({r['rows_per_cpu_s']:,.0f} rows per CPU-s)  "
              f"peak RSS {r['peak_rss_mb']:,.0f} MB  (input {r['input_mb']:,.0f} MB)")
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    over = {name: r["peak_rss_mb"] for name, r in results.items() if r["peak_rss_mb"] > args.max_rss_mb}
    unbalanced = [name for name, r in results.items() if not r["balanced"]]
    if over or unbalanced:
        for name, rss in over.items():
            print(f"FAIL {name}: peak RSS {rss:,.0f} MB > {args.max_rss_mb:,.0f} MB")
        for name in unbalanced:
            print(f"FAIL {name}: read != accepted + quarantined")
        sys.exit(1)
    print(f"ok: peak RSS within {args.max_rss_mb:,.0f} MB, every row accounted for")


if __name__ == "__main__":
    main()
