"""Benchmark rxring end to end against a bare DuckDB anchor, at several city sizes.

Usage::

    python bench/run.py                                   # 1M, 3M and 10M events, Parquet and NHSA JSONL
    python bench/run.py --events 1M,3M --out /tmp/rxring-bench   # keep the cities; reruns reuse them
    python bench/run.py --events 100000 --formats parquet --skip-neo4j --results /tmp/R.md

For each size N and format the script

1. generates a synthetic city (:func:`rxring.synth.generate`, streamed to disk), or
   reuses the one already in ``--out`` (same seed, size and format);
2. ingests it into a fresh workspace (:func:`rxring.ingest.ingest`) and reports
   rows/s (``read`` rows, i.e. code-level records, per wall second and per CPU second);
3. on the first format's workspace, runs the full embedded analysis
   (:func:`rxring.analysis.analyze` on the embedded backend: five rules and rings) and the
   **anchor**: one bare DuckDB query over the same canonical Parquet
   (``events/*.parquet``) that counts dispenses per trace code and keeps codes
   with more than one — the least work any duplicate detector must do;
4. on the same workspace, makes the investigator outputs (issue 20): the whole HTML
   report (``rxring.build_report``), and the visualisation and the evidence package of
   the first ring (``rxring.write_viz``, ``rxring.build_evidence``); ``--workspace
   SIZE=PATH`` measures them on an analysed workspace that is already there (no
   generation, ingest or analysis);
5. with a Neo4j server (``NEO4J_URI``, ``--neo4j-instance NAME`` for a running
   ``rxring neo4j start`` instance, or ``--start-neo4j`` for a private one) loads
   the smallest city whole (load rate) and the largest with ``--suspicious-only``.

Every measured step runs in its own child process, so its peak RSS (``VmHWM``) and CPU
time are its own.  The table is printed and written to ``bench/RESULTS.md`` (or
``--results``) with the machine's cores, memory, load average and library versions,
the ratio analyze/anchor, the growth of analyze time with size, and the targets of
issues 8 and 20 marked met or not met.  Text below the ``NOTES_MARKER`` line of an existing
results file (hand-written profile notes) is kept when the file is rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = [
    "parse_sizes",
    "size_label",
    "Measurement",
    "evaluate_targets",
    "growth",
    "render_markdown",
    "render_table",
    "main",
]

HERE = Path(__file__).resolve().parent
DEFAULT_RESULTS = HERE / "RESULTS.md"
NOTES_MARKER = "<!-- notes: text below this line is kept when bench/run.py rewrites the file -->"
RESULT_PREFIX = "BENCH-RESULT "
GIB = 1024 ** 3

# Targets of issue 8 (2-core, 24 GiB machine).
ANCHOR_RATIO_TARGET = 3.0
ANCHOR_RATIO_STRETCH = 2.0
RSS_TARGET_MB = 6 * 1000  # "under 6 GB"
INGEST_TARGETS = {"parquet": 1_000_000, "csv": 300_000}
GROWTH_TOLERANCE = 0.30
SUSPICIOUS_LOAD_TARGET_S = 120.0
BOLT_LOAD_TARGET = 50_000  # events/s, the Neo4j issue's full load through Bolt

# Targets of issue 20 at 10M events: (seconds, peak RSS MB) per output.
OUTPUT_TARGETS = {"report": (20.0, 1500), "viz": (3.0, 1000), "evidence": (3.0, 1000)}
OUTPUT_TARGET_EVENTS = 10_000_000
OUTPUT_NAMES = {"report": "HTML report (every ring)", "viz": "viz of one ring", "evidence": "evidence of one ring"}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_sizes(text: str) -> list[int]:
    """Parse a list of event counts such as ``"1M,3M,10M"`` or ``"100000,250k"``.

    Examples
    --------
    >>> parse_sizes("1M, 3M,250k,100000")
    [1000000, 3000000, 250000, 100000]
    """
    sizes = []
    for piece in text.split(","):
        if not piece.strip():
            continue
        match = _SIZE.match(piece)
        if not match:
            raise ValueError(f"--events: {piece.strip()!r} is not a count like 100000, 250k or 3M")
        value = float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
        if value < 10_000:
            raise ValueError(f"--events: {piece.strip()} is too small; a synthetic city needs at least 10000 events")
        sizes.append(int(value))
    if not sizes:
        raise ValueError("--events: give at least one size")
    return sizes


def size_label(n: int) -> str:
    """Short label of an event count.

    Examples
    --------
    >>> size_label(1_000_000), size_label(3_500_000), size_label(100_000), size_label(12_345)
    ('1M', '3.5M', '100k', '12345')
    """
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


# --------------------------------------------------------------------------- child tasks
#
# Each task runs in a fresh interpreter (``run.py --child NAME JSON``) and returns a dict;
# the child adds its own peak RSS and CPU seconds.


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: reset at exec, unlike ru_maxrss)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    import resource

    # The task's own CPU plus that of the worker processes it has waited for (the
    # NHSA reader parses large files in two worker processes).
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def task_generate(out: str, seed: int, events: int, fmt: str) -> dict:
    from rxring.synth import generate

    summary = generate(out, seed=seed, events=events, fmt=fmt)
    return {"events": summary.events, "seconds": summary.seconds, "files": len(summary.files)}


def task_ingest(inputs: str, workspace: str) -> dict:
    from rxring.ingest import ingest

    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    report = ingest([inputs], workspace, progress=False)
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    if not report.balanced:
        raise RuntimeError(f"ingest broke its invariant: {report.invariant_line()}")
    import resource

    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the NHSA worker processes
    return {"read": report.read, "events": report.events, "quarantined": report.quarantined,
            "seconds": seconds, "task_cpu": cpu, "workers_peak_rss_mb": round(workers_rss, 1)}


def task_analyze(workspace: str, profile: str | None = None) -> dict:
    from rxring.analysis import analyze

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.01)
        profiler.start()
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    result = analyze(workspace, "embedded", progress=False)
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8")
    return {"seconds": seconds, "task_cpu": cpu, "events_used": result.stats.get("events_used"),
            "findings": int(len(result.findings)), "rings": int(len(result.rings)),
            "findings_by_rule": result.stats.get("findings_by_rule", {}),
            "codes": result.stats.get("codes"), "candidate_codes": result.stats.get("candidate_codes"),
            "candidate_events": result.stats.get("candidate_events"),
            "cpu_by_step": result.stats.get("cpu_seconds_by_step", {})}


def task_output(workspace: str, output: str, folder: str) -> dict:
    """Make one investigator output of *workspace* into *folder*: ``report`` (HTML, every ring), ``viz`` or
    ``evidence`` (the first ring by rank)."""
    from rxring.report.build import build_report
    from rxring.report.evidence import build_evidence
    from rxring.report.viz import write_viz
    from rxring.results import load_rings

    rings = load_rings(workspace)
    ring = str(rings["ring_id"].iloc[0])
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    if output == "report":
        build_report(workspace, "html", output=Path(folder) / "report")
    elif output == "viz":
        write_viz(workspace, [ring], Path(folder) / f"viz-{ring}.html")
    else:
        build_evidence(workspace, ring, Path(folder) / f"{ring}.zip", command_line="bench/run.py")
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return {"seconds": seconds, "task_cpu": cpu, "ring": ring if output != "report" else f"{len(rings)} rings"}


ANCHOR_SQL = (
    "SELECT trace_code, count(*) AS dispenses FROM read_parquet($parts) "
    "WHERE event_type = 'dispense' GROUP BY trace_code HAVING count(*) > 1"
)


def task_anchor(workspace: str, repeat: int = 3) -> dict:
    import duckdb

    parts = sorted(str(p) for p in (Path(workspace) / "events").glob("*.parquet"))
    times, codes = [], 0
    cpu0 = _cpu_seconds()
    for _ in range(max(1, repeat)):
        con = duckdb.connect()
        # the same thread budget as rxring.backends.duckdb.connect uses
        con.execute(f"SET threads = {max(1, min(os.cpu_count() or 1, 4))}")
        t0 = time.perf_counter()
        result = con.execute(ANCHOR_SQL, {"parts": parts})
        fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table  # duckdb >= 1.4 / older
        codes = fetch().num_rows
        times.append(time.perf_counter() - t0)
        con.close()
    return {"seconds": statistics.median(times), "best": min(times), "runs": times, "codes": codes,
            "task_cpu": (_cpu_seconds() - cpu0) / len(times)}


def task_neo4j(workspace: str, uri: str, user: str, database: str | None, suspicious_only: bool, clear: bool) -> dict:
    from rxring.backends.neo4j.connect import Neo4jConfig, connect
    from rxring.backends.neo4j.load import clear_graph, load_workspace

    # the password comes through the environment, never the command line (visible in ps)
    config = Neo4jConfig(uri=uri, user=user, password=os.environ.get(_PASSWORD_ENV, ""), database=database)
    if clear:
        with connect(config) as driver:
            clear_graph(driver, database)
    t0 = time.perf_counter()
    report = load_workspace(config, workspace, suspicious_only=suspicious_only, progress=False)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "events": report.events, "load_seconds": report.seconds,
            "events_per_second": report.events_per_second}


TASKS = {"generate": task_generate, "ingest": task_ingest, "analyze": task_analyze,
         "anchor": task_anchor, "neo4j": task_neo4j, "output": task_output}


def _child_main(name: str, payload: str) -> int:
    wall0 = time.perf_counter()
    result = TASKS[name](**json.loads(payload))
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    result["process_cpu"] = round(_cpu_seconds(), 2)
    result["process_wall"] = round(time.perf_counter() - wall0, 2)
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
    return 0


class BenchError(Exception):
    """A measured step failed; the message carries the tail of its stderr."""


_PASSWORD_ENV = "RXRING_BENCH_NEO4J_PASSWORD"


def run_child(name: str, env_extra: dict | None = None, **kwargs) -> dict:
    """Run one task in a fresh interpreter and return its result dict."""
    env = dict(os.environ, PYTHONHASHSEED="0", **(env_extra or {}))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", name, json.dumps(kwargs)],
                          capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
        raise BenchError(f"{name} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


# --------------------------------------------------------------------------- measurements


@dataclass
class Measurement:
    """One city size: generation, ingest per format, analysis and anchor."""

    events: int                       # requested size
    generated: dict = field(default_factory=dict)   # fmt -> {events, seconds, reused}
    ingest: dict = field(default_factory=dict)      # fmt -> {read, seconds, rows_per_s, ...}
    analyze: dict = field(default_factory=dict)
    anchor: dict = field(default_factory=dict)
    load_avg: list = field(default_factory=list)    # 1-min load average before and after
    analysis_format: str = ""
    outputs: dict = field(default_factory=dict)     # report/viz/evidence -> {seconds, task_cpu, peak_rss_mb, ...}
    workspace: str = ""                              # measured on this existing workspace (--workspace)

    @property
    def actual_events(self) -> int:
        if self.analysis_format and self.ingest.get(self.analysis_format):
            return int(self.ingest[self.analysis_format].get("events") or self.events)
        return self.events

    @property
    def ratio(self) -> float | None:
        """analyze wall time / anchor wall time."""
        if self.analyze.get("seconds") and self.anchor.get("seconds"):
            return self.analyze["seconds"] / self.anchor["seconds"]
        return None

    @property
    def cpu_ratio(self) -> float | None:
        """analyze CPU seconds / anchor CPU seconds (steadier on a busy machine)."""
        if self.analyze.get("task_cpu") and self.anchor.get("task_cpu"):
            return self.analyze["task_cpu"] / self.anchor["task_cpu"]
        return None


def growth(smaller: Measurement, larger: Measurement, key: str = "seconds") -> dict | None:
    """Growth of analyze time between two sizes, relative to the growth in events.

    ``factor`` is time(larger) / time(smaller); ``linear`` the events ratio;
    ``relative`` = factor / linear (1.0 is exactly linear).

    Examples
    --------
    >>> a, b = Measurement(10), Measurement(100)
    >>> a.analyze, b.analyze = {"seconds": 2.0}, {"seconds": 24.0}
    >>> g = growth(a, b)
    >>> round(g["factor"], 1), round(g["relative"], 2), g["met"]
    (12.0, 1.2, True)
    """
    t_small, t_large = smaller.analyze.get(key), larger.analyze.get(key)
    if not t_small or not t_large or larger.actual_events <= smaller.actual_events:
        return None
    factor = t_large / t_small
    linear = larger.actual_events / smaller.actual_events
    relative = factor / linear
    return {"from": size_label(smaller.events), "to": size_label(larger.events), "factor": factor,
            "linear": linear, "relative": relative, "met": relative <= 1 + GROWTH_TOLERANCE}


def evaluate_targets(measurements: list[Measurement], neo4j: dict | None = None) -> list[dict]:
    """The targets of issue 8 with the measured value and met / not met (None: not measured).

    Ratios and RSS are judged on the largest size measured; ingest rates on the
    largest size of each format.
    """
    rows: list[dict] = []
    done = [m for m in measurements if m.analyze.get("seconds")]
    largest = max(done, key=lambda m: m.events) if done else None
    label = f" ({size_label(largest.events)})" if largest else ""

    def add(target: str, value: str, met):
        rows.append({"target": target, "value": value, "met": met})

    if largest and largest.ratio is not None:
        add(f"analyze ≤ {ANCHOR_RATIO_TARGET:g}× DuckDB anchor{label}", f"{largest.ratio:.1f}×",
            largest.ratio <= ANCHOR_RATIO_TARGET)
        add(f"stretch: analyze ≤ {ANCHOR_RATIO_STRETCH:g}× anchor{label}", f"{largest.ratio:.1f}×",
            largest.ratio <= ANCHOR_RATIO_STRETCH)
    else:
        add(f"analyze ≤ {ANCHOR_RATIO_TARGET:g}× DuckDB anchor", "not measured", None)
    if largest:
        rss = largest.analyze.get("peak_rss_mb")
        add(f"analyze peak RSS < {RSS_TARGET_MB / 1000:g} GB{label}", f"{rss / 1000:.2f} GB",
            rss < RSS_TARGET_MB)
    for fmt, target in INGEST_TARGETS.items():
        sized = [m for m in measurements if m.ingest.get(fmt, {}).get("rows_per_s")]
        if not sized:
            add(f"ingest {fmt} ≥ {target:,} rows/s", "not measured", None)
            continue
        m = max(sized, key=lambda x: x.events)
        rate = m.ingest[fmt]["rows_per_s"]
        add(f"ingest {fmt} ≥ {target:,} rows/s ({size_label(m.events)})", f"{rate:,.0f} rows/s", rate >= target)
    if len(done) >= 2:
        # judged on CPU seconds when both sizes have them: wall time on a shared machine
        # follows the load average more than the size
        ordered = sorted(done, key=lambda m: m.events)
        g_cpu, g_wall = growth(ordered[0], ordered[-1], key="task_cpu"), growth(ordered[0], ordered[-1])
        g = g_cpu or g_wall
        if g:
            what = "CPU time" if g_cpu else "wall time"
            value = f"{what} ×{g['factor']:.1f} for ×{g['linear']:.1f} events ({g['relative']:.2f} of linear)"
            if g_cpu and g_wall:
                value += f"; wall ×{g_wall['factor']:.1f}"
            add(f"growth {g['from']}→{g['to']} within linear +{GROWTH_TOLERANCE:.0%}", value, g["met"])
    else:
        add("growth no worse than linear (needs two sizes)", "not measured", None)
    rows += output_targets(measurements)
    if neo4j and neo4j.get("full"):
        f = neo4j["full"]
        add(f"Neo4j full load ≥ {BOLT_LOAD_TARGET:,} events/s through Bolt ({f['size']})",
            f"{f['events_per_second']:,.0f} events/s", f["events_per_second"] >= BOLT_LOAD_TARGET)
    else:
        add(f"Neo4j full load ≥ {BOLT_LOAD_TARGET:,} events/s through Bolt", "skipped", None)
    if neo4j and neo4j.get("suspicious"):
        s = neo4j["suspicious"]
        add(f"Neo4j --suspicious-only load < {SUSPICIOUS_LOAD_TARGET_S:g} s ({s['size']})", f"{s['seconds']:.0f} s",
            s["seconds"] < SUSPICIOUS_LOAD_TARGET_S)
    else:
        add(f"Neo4j --suspicious-only load < {SUSPICIOUS_LOAD_TARGET_S:g} s", "skipped (no server)", None)
    return rows


def output_targets(measurements: list[Measurement]) -> list[dict]:
    """The targets of issue 20 (investigator outputs at 10M events), judged on the largest size measured.

    Examples
    --------
    >>> m = Measurement(10_000_000)
    >>> m.outputs = {"report": {"seconds": 12.0, "peak_rss_mb": 400.0}, "viz": {"seconds": 4.0, "peak_rss_mb": 300.0}}
    >>> [(t["target"].split(" <")[0], t["met"]) for t in output_targets([m])]
    [('HTML report (every ring)', True), ('viz of one ring', False), ('evidence of one ring', None)]
    """
    done = [m for m in measurements if m.outputs]
    largest = max(done, key=lambda m: m.events) if done else None
    rows = []
    for name, (seconds, rss) in OUTPUT_TARGETS.items():
        target = f"{OUTPUT_NAMES[name]} < {seconds:g} s and < {rss / 1000:g} GB at {size_label(OUTPUT_TARGET_EVENTS)}"
        got = largest.outputs.get(name) if largest else None
        if not got:
            rows.append({"target": target, "value": "not measured", "met": None})
            continue
        value = (f"{got['seconds']:.1f} s ({got.get('task_cpu', 0):.1f} CPU-s), {got['peak_rss_mb']:,.0f} MB "
                 f"at {size_label(largest.events)}")
        met = got["seconds"] < seconds and got["peak_rss_mb"] < rss
        rows.append({"target": target, "value": value,
                     "met": met if largest.events >= OUTPUT_TARGET_EVENTS or not met else None})
    return rows


def render_outputs(measurements: list[Measurement]) -> list[str]:
    """Markdown lines: time, CPU and peak RSS of each investigator output per size."""
    done = [m for m in sorted(measurements, key=lambda m: m.events) if m.outputs]
    if not done:
        return []
    lines = ["## Investigator outputs (issue 20)", "",
             "Each output made in its own process: seconds of the call (imports excluded), its CPU seconds, and "
             "the peak RSS of the whole process (VmHWM). viz and evidence are of the first ring by rank. "
             f"Targets at {size_label(OUTPUT_TARGET_EVENTS)}: "
             + "; ".join(f"{OUTPUT_NAMES[n]} < {s:g} s, < {r / 1000:g} GB" for n, (s, r) in OUTPUT_TARGETS.items())
             + ".", "",
             "| size | events | " + " | ".join(f"{n} s | {n} CPU s | {n} RSS MB" for n in OUTPUT_TARGETS)
             + " | load avg |",
             "|---|---|" + "---|" * (3 * len(OUTPUT_TARGETS) + 1)]
    for m in done:
        cells = []
        for name in OUTPUT_TARGETS:
            got = m.outputs.get(name) or {}
            cells += [_fmt_s(got.get("seconds")), _fmt_s(got.get("task_cpu")),
                      f"{got['peak_rss_mb']:,.0f}" if got.get("peak_rss_mb") else "—"]
        events = f"{m.actual_events:,}" if not m.workspace else f"{m.outputs.get('events', m.events):,}"
        lines.append(f"| {size_label(m.events)} | {events} | " + " | ".join(cells)
                     + f" | {' → '.join(f'{x:.1f}' for x in m.load_avg) or '—'} |")
    notes = [f"- {size_label(m.events)} (`{m.workspace}`): "
             + ("with" if m.outputs["lookup_copies"] else "without") + " its look-up copies; its manifest "
             + ("holds" if m.outputs["inputs_sm3"] else "lacks (ingested before issue 20: each evidence package hashes "
                "the inputs again)") + " the inputs' SM3"
             for m in done if m.workspace and "lookup_copies" in m.outputs]
    return lines + ([""] + notes if notes else []) + [""]


# --------------------------------------------------------------------------- reporting


def _fmt_s(value) -> str:
    return "—" if value is None else (f"{value:.2f}" if value < 10 else f"{value:.1f}")


def _table_rows(measurements: list[Measurement], formats: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["size", "events"]
    for fmt in formats:
        header += [f"gen {fmt} s", f"ingest {fmt} s", f"{fmt} rows/s", f"{fmt} rows/CPU-s", f"{fmt} RSS MB"]
    header += ["analyze s", "analyze CPU s", "analyze RSS MB", "anchor s", "anchor CPU s", "analyze/anchor",
               "CPU ratio", "findings", "load avg"]
    rows = []
    for m in measurements:
        row = [size_label(m.events), f"{m.actual_events:,}"]
        for fmt in formats:
            g, i = m.generated.get(fmt, {}), m.ingest.get(fmt, {})
            gen = "reused" if g.get("reused") else _fmt_s(g.get("seconds"))
            row += [gen, _fmt_s(i.get("seconds")),
                    f"{i['rows_per_s']:,.0f}" if i.get("rows_per_s") else "—",
                    f"{i['rows_per_cpu_s']:,.0f}" if i.get("rows_per_cpu_s") else "—",
                    f"{i['peak_rss_mb']:,.0f}" if i.get("peak_rss_mb") else "—"]
        a, b = m.analyze, m.anchor
        row += [_fmt_s(a.get("seconds")), _fmt_s(a.get("task_cpu")),
                f"{a['peak_rss_mb']:,.0f}" if a.get("peak_rss_mb") else "—",
                _fmt_s(b.get("seconds")), _fmt_s(b.get("task_cpu")),
                f"{m.ratio:.1f}×" if m.ratio else "—",
                f"{m.cpu_ratio:.1f}×" if m.cpu_ratio else "—",
                f"{a['findings']:,}" if a.get("findings") is not None else "—",
                " → ".join(f"{x:.1f}" for x in m.load_avg) or "—"]
        rows.append(row)
    return header, rows


def render_table(measurements: list[Measurement], formats: list[str]) -> str:
    """A plain-text table for the terminal (one line per size)."""
    header, rows = _table_rows(measurements, formats)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def machine_info() -> dict:
    """Cores, memory, CPU model, load average and library versions of this machine."""
    info = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    info["memory_gib"] = round(int(line.split()[1]) * 1024 / GIB, 1)
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for package in ("rxring", "duckdb", "pandas", "pyarrow", "networkx", "numpy", "neo4j"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _mark(met) -> str:
    return "—" if met is None else ("met" if met else "**not met**")


def render_markdown(measurements: list[Measurement], formats: list[str], machine: dict, command: str,
                    neo4j: dict | None = None, notes: str = "") -> str:
    """The results file: machine, measured table, growth, targets, Neo4j, and kept notes."""
    header, rows = _table_rows(measurements, formats)
    lines = [
        "# rxring benchmark results",
        "",
        f"Written by `bench/run.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; command: `{command}`.",
        "",
        "## Machine",
        "",
        f"- cores: {machine.get('cores')}, memory: {machine.get('memory_gib', '?')} GiB, CPU: {machine.get('cpu', '?')}",
        f"- load average (1, 5, 15 min) when this file was written: {', '.join(str(x) for x in machine.get('load_avg', []))}"
        " — the machine is shared; the per-size column `load avg` is the 1-min load before → after that size.",
        f"- python {machine.get('python')}, duckdb {machine.get('duckdb')}, pandas {machine.get('pandas')}, "
        f"pyarrow {machine.get('pyarrow')}, networkx {machine.get('networkx')}, numpy {machine.get('numpy')}, "
        f"rxring {machine.get('rxring')}",
        f"- {machine.get('platform')}",
        "",
        "## Measurements",
        "",
        "Seconds are wall-clock seconds of the step itself (interpreter start and imports excluded); "
        "`rows/CPU-s` divides by the child's CPU seconds, steadier than wall time on a busy machine. "
        "`RSS` is the peak resident set of the child process (VmHWM). `analyze` is "
        "`rxring.analysis.analyze` on the embedded backend (five rules, rings, writing results) on the "
        f"`{measurements[0].analysis_format if measurements else ''}` workspace; the anchor is the median of 3 runs of",
        "",
        f"```sql\n{ANCHOR_SQL.replace('$parts', '[events/*.parquet]')}\n```",
        "",
        "on the same canonical Parquet, with the same DuckDB thread count. `CPU ratio` is analyze CPU seconds over "
        "anchor CPU seconds: on a shared machine it moves less than the wall-clock ratio.",
        "",
        _markdown_table(header, rows),
        "",
    ]
    done = sorted((m for m in measurements if m.analyze.get("seconds")), key=lambda m: m.events)
    if len(done) >= 2:
        lines += ["## Growth of analyze time", ""]
        pairs = list(zip(done, done[1:])) + ([(done[0], done[-1])] if len(done) > 2 else [])
        for a, b in pairs:
            g, c = growth(a, b), growth(a, b, key="task_cpu")
            if g:
                line = (f"- {g['from']} → {g['to']}: wall time ×{g['factor']:.2f} for events ×{g['linear']:.2f} "
                        f"({g['relative']:.2f} of linear)")
                if c:
                    line += f"; CPU time ×{c['factor']:.2f} ({c['relative']:.2f} of linear)"
                lines.append(line)
        lines.append("")
    rules = [m for m in measurements if m.analyze.get("findings_by_rule")]
    if rules:
        lines += ["## Findings per rule", "", "| size | " + " | ".join(rules[0].analyze["findings_by_rule"]) + " | rings |",
                  "|---|" + "---|" * (len(rules[0].analyze["findings_by_rule"]) + 1)]
        for m in rules:
            counts = m.analyze["findings_by_rule"]
            lines.append(f"| {size_label(m.events)} | " + " | ".join(f"{v:,}" for v in counts.values())
                         + f" | {m.analyze.get('rings', 0):,} |")
        lines.append("")
    lines += render_steps(measurements)
    lines += render_outputs(measurements)
    lines += ["## Targets (issues 8 and 20)", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} | {_mark(t['met'])} |" for t in evaluate_targets(measurements, neo4j)]
    lines += ["", "## Neo4j", ""]
    if not neo4j or neo4j.get("skipped"):
        lines.append(f"skipped ({(neo4j or {}).get('skipped', 'no server')})")
    else:
        if neo4j.get("full"):
            f = neo4j["full"]
            lines.append(f"- full load of the {f['size']} city: {f['events']:,} events in {f['seconds']:.1f} s "
                         f"({f['events_per_second']:,.0f} events/s)")
        if neo4j.get("suspicious"):
            s = neo4j["suspicious"]
            lines.append(f"- `--suspicious-only` load of the {s['size']} city: {s['events']:,} events in "
                         f"{s['seconds']:.1f} s")
        for problem in neo4j.get("errors", []):
            lines.append(f"- error: {problem}")
    lines += ["", NOTES_MARKER, ""]
    text = "\n".join(lines)
    if notes.strip():
        text += notes.lstrip("\n")
        if not text.endswith("\n"):
            text += "\n"
    return text


def render_steps(measurements: list[Measurement]) -> list[str]:
    """Markdown lines: CPU seconds of each analyze step per size, with the anchor for scale.

    Steps are the SQL stages of :mod:`rxring.backends.duckdb` (``scan`` … ``pd``), the
    rules, the evidence join, the assembly of findings and the rings, as measured by
    :func:`rxring.analysis.analyze` (``stats.cpu_seconds_by_step``).
    """
    done = [m for m in sorted(measurements, key=lambda m: m.events) if m.analyze.get("cpu_by_step")]
    if not done:
        return []
    steps = list(dict.fromkeys(step for m in done for step in m.analyze["cpu_by_step"]))
    lines = ["## Where analyze spends its CPU", "",
             "CPU seconds of the analyze process per step (all DuckDB threads). Candidate codes are those "
             "stage `cand` keeps for the wide stages (the rest end after the whole-city aggregations).", "",
             "| size | codes | candidate codes | candidate events | " + " | ".join(steps) + " | anchor CPU s |",
             "|---|---|---|---|" + "---|" * (len(steps) + 1)]
    for m in done:
        by_step = m.analyze["cpu_by_step"]
        cells = [f"{by_step[s]:.2f}" if s in by_step else "" for s in steps]
        lines.append(f"| {size_label(m.events)} | {m.analyze.get('codes') or 0:,} | "
                     f"{m.analyze.get('candidate_codes') or 0:,} | {m.analyze.get('candidate_events') or 0:,} | "
                     + " | ".join(cells) + f" | {_fmt_s(m.anchor.get('task_cpu'))} |")
    return lines + [""]


def save_measurements(path: Path, measurements: list[Measurement], neo4j: dict, formats: list[str]) -> None:
    """Write the raw measurements as JSON (``--previous`` reads them back)."""
    payload = {"formats": formats, "neo4j": neo4j, "measurements": [asdict(m) for m in measurements]}
    path.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")


def load_measurements(path: Path) -> tuple[list[Measurement], dict, list[str]]:
    """Measurements, Neo4j results and formats saved by :func:`save_measurements`."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return ([Measurement(**m) for m in payload.get("measurements", [])], payload.get("neo4j") or {},
            list(payload.get("formats") or []))


def _kept_notes(path: Path) -> str:
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    return text.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in text else ""


# --------------------------------------------------------------------------- driver


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _city(out: Path, fmt: str, n: int, seed: int) -> tuple[Path, dict]:
    """Generate the city (fmt, n, seed) under ``out`` unless an identical one is there."""
    city = out / f"city-{fmt}-{n}"
    truth = city / "ground_truth.json"
    if truth.exists() and (city / "inputs").is_dir():
        try:
            meta = json.loads(truth.read_text(encoding="utf-8"))
            params = meta.get("params", {})
            if params.get("events") == n and params.get("fmt") == fmt and meta.get("seed", params.get("seed")) == seed:
                return city, {"events": meta.get("counts", {}).get("events"), "reused": True}
        except (OSError, ValueError):
            pass
    _log(f"generating {size_label(n)} {fmt} city in {city}")
    result = run_child("generate", out=str(city), seed=seed, events=n, fmt=fmt)
    return city, result


def _neo4j_target(args) -> tuple[dict | None, str | None, str]:
    """(connection kwargs, private instance name, reason when skipped)."""
    if args.skip_neo4j:
        return None, None, "--skip-neo4j"
    if os.environ.get("NEO4J_URI"):
        return ({"uri": os.environ["NEO4J_URI"], "user": os.environ.get("NEO4J_USER", "neo4j"),
                 "password": os.environ.get("NEO4J_PASSWORD", ""), "database": os.environ.get("NEO4J_DATABASE")},
                None, "")
    try:
        from rxring.backends.neo4j.server import read_state, start_server
    except ImportError:
        return None, None, "no server"
    if args.neo4j_instance:
        state = read_state(args.neo4j_instance)
        if state is None:
            return None, None, f"no server: instance {args.neo4j_instance!r} is not running"
        return {"uri": state.uri, "user": state.user, "password": state.password, "database": None}, None, ""
    if args.start_neo4j:
        name = f"bench-{os.getpid()}"
        try:
            state = start_server(name, http=False, heap_mb=1024, pagecache_mb=1024,
                                 log=lambda line: print(line, file=sys.stderr))
        except Exception as exc:  # noqa: BLE001 - no Java, no download: report and go on
            return None, None, f"no server: could not start one ({exc})"
        return {"uri": state.uri, "user": state.user, "password": state.password, "database": None}, name, ""
    return None, None, "no server"


def _measure_neo4j(args, measurements: list[Measurement], workspaces: dict[int, Path]) -> dict:
    conn, instance, reason = _neo4j_target(args)
    if conn is None:
        return {"skipped": reason}
    secret = {_PASSWORD_ENV: conn.pop("password")}
    clear = bool(instance) or args.neo4j_clear
    result: dict = {"errors": []}
    try:
        smallest, largest = min(workspaces), max(workspaces)
        loads = [] if args.neo4j_skip_full else [("full", "full load", smallest, False)]
        loads.append(("suspicious", "--suspicious-only load", largest, True))
        for key, what, size, suspicious_only in loads:
            try:
                _log(f"neo4j: {what} of {size_label(size)}")
                r = run_child("neo4j", env_extra=secret, workspace=str(workspaces[size]),
                              suspicious_only=suspicious_only, clear=clear, **conn)
                result[key] = dict(r, size=size_label(size))
            except BenchError as exc:
                result["errors"].append(str(exc).splitlines()[-1])
    finally:
        if instance:
            from rxring.backends.neo4j.server import stop_server

            stop_server(instance, delete_data=True)
    return result


def measure_outputs(workspace: Path, folder: Path) -> dict:
    """Time and peak RSS of the HTML report, one ring's viz and one ring's evidence, each in its own process."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    found = {}
    for output in OUTPUT_TARGETS:
        _log(f"{output} of {workspace}")
        found[output] = run_child("output", workspace=str(workspace), output=output, folder=str(folder))
        _log(f"  {found[output]['seconds']:.1f} s, {found[output]['task_cpu']:.1f} CPU-s, "
             f"peak RSS {found[output]['peak_rss_mb']:,.0f} MB")
    return found


def workspace_facts(workspace: Path) -> dict:
    """What of a given workspace moves the outputs' figures: are its look-up copies written (``rxring serve``),
    does its manifest hold the inputs' SM3 (ingest since issue 20; else each evidence package hashes them)."""
    from rxring.results import lookup_dir
    from rxring.workspace import Workspace

    inputs = Workspace(workspace).manifest().get("inputs") or []
    return {"lookup_copies": (lookup_dir(workspace) / "done").exists(),
            "inputs_sm3": bool(inputs) and all(isinstance(i, dict) and i.get("sm3") for i in inputs)}


def measure_workspaces(specs: list[str], out: Path) -> list[Measurement]:
    """``SIZE=PATH`` specs: the outputs of each analysed workspace that is already there."""
    measurements = []
    for spec in specs:
        size, _, path = spec.partition("=")
        workspace = Path(path)
        if not path or not (workspace / "events").is_dir():
            raise BenchError(f"--workspace {spec}: give SIZE=PATH of an analysed workspace")
        import pyarrow.parquet as pq

        m = Measurement(events=parse_sizes(size)[0], workspace=str(workspace), load_avg=[os.getloadavg()[0]])
        m.outputs = measure_outputs(workspace, out / f"outputs-{m.events}")
        m.outputs["events"] = sum(pq.ParquetFile(p).metadata.num_rows for p in (workspace / "events").glob("*.parquet"))
        m.outputs.update(workspace_facts(workspace))
        m.load_avg.append(os.getloadavg()[0])
        measurements.append(m)
    return measurements


def run_benchmark(args) -> tuple[list[Measurement], dict]:
    """Generate, ingest, analyse and anchor every size; return the measurements and Neo4j results."""
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rxring-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    measurements: list[Measurement] = []
    analysis_workspaces: dict[int, Path] = {}
    try:
        for n in args.sizes:
            m = Measurement(events=n, analysis_format=args.formats[0], load_avg=[os.getloadavg()[0]])
            measurements.append(m)
            for fmt in args.formats:
                city, generated = _city(out, fmt, n, args.seed)
                m.generated[fmt] = generated
                workspace = out / f"ws-{fmt}-{n}"
                shutil.rmtree(workspace, ignore_errors=True)
                _log(f"ingesting {size_label(n)} {fmt}")
                r = run_child("ingest", inputs=str(city / "inputs"), workspace=str(workspace))
                r["rows_per_s"] = r["read"] / r["seconds"] if r["seconds"] else None
                r["rows_per_cpu_s"] = r["read"] / r["task_cpu"] if r.get("task_cpu") else None
                m.ingest[fmt] = r
                _log(f"  {r['read']:,} rows in {r['seconds']:.1f} s: {r['rows_per_s']:,.0f} rows/s")
                if fmt == m.analysis_format:
                    analysis_workspaces[n] = workspace
            if args.ingest_only:
                m.load_avg.append(os.getloadavg()[0])
                continue
            workspace = analysis_workspaces[n]
            _log(f"analyze {size_label(n)}")
            profile = str(out / f"profile-analyze-{n}.txt") if args.profile else None
            m.analyze = run_child("analyze", workspace=str(workspace), profile=profile)
            _log(f"  {m.analyze['seconds']:.1f} s, peak RSS {m.analyze['peak_rss_mb']:,.0f} MB, "
                 f"{m.analyze['findings']:,} findings")
            _log(f"anchor {size_label(n)}")
            m.anchor = run_child("anchor", workspace=str(workspace), repeat=args.anchor_repeat)
            _log(f"  {m.anchor['seconds']:.2f} s ({m.anchor['codes']:,} codes dispensed more than once); "
                 f"analyze/anchor {m.ratio:.1f}×")
            m.outputs = measure_outputs(workspace, out / f"outputs-{n}")
            m.load_avg.append(os.getloadavg()[0])
        neo4j = {"skipped": "--ingest-only"} if args.ingest_only else _measure_neo4j(args, measurements,
                                                                                      analysis_workspaces)
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    return measurements, neo4j


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="1M,3M,10M",
                        help="comma-separated city sizes in events (100000, 250k, 3M); default 1M,3M,10M")
    parser.add_argument("--formats", default="parquet,nhsa",
                        help="input formats to generate and ingest (parquet, nhsa, csv, epcis); the first is "
                             "analysed; default parquet,nhsa")
    parser.add_argument("--out", help="keep cities and workspaces here (reused by later runs); default: a "
                                      "temporary folder removed at the end")
    parser.add_argument("--results", default=str(DEFAULT_RESULTS), help=f"results file (default {DEFAULT_RESULTS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--anchor-repeat", type=int, default=3, help="anchor runs (median reported)")
    parser.add_argument("--profile", action="store_true",
                        help="profile analyze with pyinstrument (a dev tool: pip install pyinstrument); the "
                             "text profile goes to OUT/profile-analyze-N.txt")
    parser.add_argument("--previous", help="measurements.json of an earlier run: its sizes not measured now are "
                                           "kept in the table (e.g. run 10M alone and keep 1M and 3M)")
    parser.add_argument("--ingest-only", action="store_true",
                        help="measure only the ingest of --formats (no analyze, anchor or Neo4j); with --previous, "
                             "a size measured before keeps its other formats, analyze and anchor")
    parser.add_argument("--workspace", action="append", default=[], metavar="SIZE=PATH",
                        help="measure only the investigator outputs (report, viz, evidence) of this analysed "
                             "workspace, e.g. 10M=/tmp/rxring-bench/ws-parquet-10000000 (repeatable); with "
                             "--previous its other measurements are kept")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: rewrite the results file from --previous")
    parser.add_argument("--skip-neo4j", action="store_true", help="do not measure Neo4j loading")
    parser.add_argument("--neo4j-instance", help="measure on this running `rxring neo4j start` instance")
    parser.add_argument("--start-neo4j", action="store_true",
                        help="start a private rxring-managed Neo4j for the run (deleted afterwards)")
    parser.add_argument("--neo4j-skip-full", action="store_true",
                        help="only the --suspicious-only load of the largest city (no full load of the smallest)")
    parser.add_argument("--neo4j-clear", action="store_true",
                        help="empty the NEO4J_URI / --neo4j-instance database before each load")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child_main(argv[1], argv[2])
    parser = build_parser()
    args = parser.parse_args(argv)
    # a terminated run still stops its private Neo4j and child process (finally blocks run)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        args.sizes = parse_sizes(args.events)
    except ValueError as exc:
        parser.error(str(exc))
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in args.formats if f not in ("parquet", "nhsa", "csv", "epcis")]
    if unknown or not args.formats:
        parser.error(f"--formats: unknown format(s) {', '.join(unknown) or '(none given)'}; "
                     "choose from parquet, nhsa, csv, epcis")
    if args.profile:
        try:
            import pyinstrument  # noqa: F401
        except ImportError:
            parser.error("--profile needs pyinstrument (pip install pyinstrument)")
    command = "python bench/run.py " + " ".join(argv)
    if args.render_only:
        if not args.previous:
            parser.error("--render-only needs --previous MEASUREMENTS.json")
        measurements, neo4j = [], {"skipped": "not measured in this run"}
    elif args.workspace:
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rxring-bench-"))
        try:
            measurements, neo4j = measure_workspaces(args.workspace, out), {"skipped": "not measured in this run"}
        except (BenchError, ValueError) as exc:
            print(f"bench/run.py: {exc}", file=sys.stderr)
            return 1
        finally:
            if not args.out:
                shutil.rmtree(out, ignore_errors=True)
    else:
        try:
            measurements, neo4j = run_benchmark(args)
        except BenchError as exc:
            print(f"bench/run.py: {exc}", file=sys.stderr)
            return 1
    if args.previous and not Path(args.previous).exists():
        _log(f"--previous {args.previous} does not exist; showing this run's sizes only")
    elif args.previous:
        previous, previous_neo4j, previous_formats = load_measurements(Path(args.previous))
        if args.ingest_only:  # the columns keep the earlier run's order
            args.formats = previous_formats + [f for f in args.formats if f not in previous_formats]
        args.formats += [f for f in previous_formats if f not in args.formats]
        if args.ingest_only:  # this run's ingest rows go into the earlier measurement of the same size
            earlier = {m.events: m for m in previous}
            for i, m in enumerate(measurements):
                if m.events in earlier:
                    old = earlier[m.events]
                    old.ingest.update(m.ingest)
                    old.generated.update(m.generated)
                    measurements[i] = old
        by_size = {m.events: m for m in previous}
        for m in measurements:  # outputs of an existing workspace join that size's earlier measurements
            if m.workspace and m.events in by_size:
                by_size[m.events].outputs, by_size[m.events].workspace = m.outputs, m.workspace
        measured = {m.events for m in measurements if not (m.workspace and m.events in by_size)}
        measurements = sorted([m for m in previous if m.events not in measured]
                              + [m for m in measurements if m.events in measured], key=lambda m: m.events)
        if previous_neo4j and not previous_neo4j.get("skipped"):
            if neo4j.get("skipped"):
                neo4j = previous_neo4j
            elif "full" not in neo4j and "full" in previous_neo4j:
                neo4j["full"] = previous_neo4j["full"]
    for m in measurements:  # every format some size was ingested in gets its columns
        args.formats += [f for f in m.ingest if f not in args.formats]
    if args.out:
        save_measurements(Path(args.out) / "measurements.json", measurements, neo4j, args.formats)
    print(render_table(measurements, args.formats))
    targets = evaluate_targets(measurements, neo4j)
    for t in targets:
        print(f"{_mark(t['met']).replace('**', ''):>8}  {t['target']}: {t['value']}")
    if neo4j.get("skipped"):
        print(f"neo4j: skipped ({neo4j['skipped']})")
    results = Path(args.results)
    text = render_markdown(measurements, args.formats, machine_info(), command, neo4j, _kept_notes(results))
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(text, encoding="utf-8")
    print(f"results written to {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
