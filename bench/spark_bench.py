"""Measure the Spark engine: events per executor-core-hour, and the embedded engine beside it.

Usage (the numbers in docs/spark.md came from this)::

    rxring synth --events 1000000 --format parquet --out /tmp/city1m
    rxring ingest /tmp/city1m/inputs --workspace /tmp/city1m/ws
    python bench/spark_bench.py /tmp/city1m/ws --master 'local[2]'

Prints one JSON object: events, findings, wall seconds of each engine, the CPU
seconds Spark used (its JVM, which runs the driver and, in local mode, every
executor, plus the Python driver), and from them events per CPU-core-hour
(events / CPU hours) — the figure that holds on a shared machine, where wall time
also counts other people's work — and events per core-hour of wall time.
Findings and rings of both engines are compared (they must be equal).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

__all__ = ["measure", "jvm_cpu_seconds", "main"]


def jvm_cpu_seconds(spark) -> float | None:
    """CPU seconds the session's JVM has used so far (all its threads: in local mode,
    the driver and every executor task), from ``/proc``; None when not measurable
    (not Linux, or the JVM was not started by this Python process)."""
    import os

    proc = getattr(getattr(spark.sparkContext, "_gateway", None), "proc", None)
    if proc is None:
        return None
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks   # utime + stime


def _cores(master: str) -> int:
    import os

    match = re.fullmatch(r"local\[(\d+|\*)\]", master)
    if match:
        return os.cpu_count() or 1 if match.group(1) == "*" else int(match.group(1))
    return 1 if master == "local" else 0


def measure(workspace, master: str = "local[2]", embedded: bool = True) -> dict:
    """Run the Spark engine (and the embedded one) on a workspace; return timings.

    Parameters
    ----------
    workspace : path
        An ingested workspace (not modified: results go to a temporary folder).
    master : str
        Spark master; events per core-hour is only computed for ``local[N]``.
    embedded : bool
        Also time the embedded engine and check that the findings are equal.
    """
    from pandas.testing import assert_frame_equal

    from rxring.analysis import analyze
    from rxring.backends.spark import run_spark_analysis, spark_session
    from rxring.options import AnalysisOptions

    options = AnalysisOptions()
    began = time.perf_counter()
    spark = spark_session(master)
    startup = time.perf_counter() - began
    with tempfile.TemporaryDirectory(prefix="rxring-bench-") as tmp:
        began, jvm_began, py_began = time.perf_counter(), jvm_cpu_seconds(spark), time.process_time()
        result = run_spark_analysis(workspace, tmp, options, spark=spark)
        spark_seconds = time.perf_counter() - began
        jvm_ended = jvm_cpu_seconds(spark)
        cpu_seconds = None if jvm_began is None or jvm_ended is None else \
            (jvm_ended - jvm_began) + (time.process_time() - py_began)
    cores = _cores(spark.sparkContext.master)
    out = {
        "master": spark.sparkContext.master,
        "spark": spark.version,
        "cores": cores,
        "events": result.stats["events_read"],
        "findings": result.stats["findings"],
        "rings": result.stats["rings"],
        "spark_startup_seconds": round(startup, 1),
        "spark_seconds": round(spark_seconds, 1),
        "spark_cpu_seconds": round(cpu_seconds, 1) if cpu_seconds else None,
        "events_per_cpu_core_hour": round(result.stats["events_read"] / (cpu_seconds / 3600)) if cpu_seconds else None,
        "shuffle_partitions": int(spark.conf.get("spark.sql.shuffle.partitions")),
        "events_per_core_hour": round(result.stats["events_read"] / (spark_seconds / 3600 * cores)) if cores else None,
    }
    if embedded:
        with tempfile.TemporaryDirectory(prefix="rxring-bench-") as tmp:
            import shutil

            shutil.copytree(workspace, tmp, dirs_exist_ok=True)
            began, py_began = time.perf_counter(), time.process_time()
            reference = analyze(tmp, "embedded", options)
            out["embedded_seconds"] = round(time.perf_counter() - began, 1)
            out["embedded_cpu_seconds"] = round(time.process_time() - py_began, 1)
        assert_frame_equal(result.findings, reference.findings)
        assert_frame_equal(result.rings, reference.rings)
        out["same_findings_and_rings"] = True
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--no-embedded", action="store_true", help="Skip the embedded engine.")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.workspace, args.master, embedded=not args.no_embedded), indent=2))


if __name__ == "__main__":
    main()
