"""One ring's outputs cost the memory of that ring, not of the city (issue 20).

The small hostile ring of the report fixture (tests/report/conftest.py) is buried in
a city of filler events, at two sizes; its evidence package and its visualisation
are made in a fresh process each, which reports its own peak RSS.  The peak must
stay under a bound, and must not grow with the city: the events are read with the
filter in the Parquet scan (rxring.results.events_of), never loaded whole.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rxring.ingest.store import ROW_GROUP_ROWS

from rxring.schema import EVENT_SCHEMA
from rxring.workspace import Workspace
from tests.report.conftest import build_workspace

#: Filler events of the two cities.
SIZES = (250_000, 2_000_000)
#: Peak RSS of one ring's package (MB): Python, pandas, pyarrow, DuckDB and the ring, whatever the city.
BOUND_MB = 700
#: How much more the larger city may cost (MB): buffers of the scan, not the events.
GROWTH_MB = 120

_CHILD = """
import json, re, sys
from rxring.report.evidence import build_evidence
from rxring.report.viz import write_viz
workspace, out = sys.argv[1], sys.argv[2]
build_evidence(workspace, "R001", out + "/R001.zip", command_line="rxring evidence R001")
write_viz(workspace, ["R001"], out + "/R001.html")
# VmHWM: this program's peak (ru_maxrss would count the test process it was forked from)
with open("/proc/self/status", encoding="ascii") as status:
    print(json.dumps({"peak_mb": int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) / 1024}))
"""


def _filler(n: int) -> pa.Table:
    """*n* dispenses of packs that belong to no ring, every column the outputs read filled."""
    rows = pa.array(range(n), pa.int64())
    text = pc.cast(rows, pa.string())
    codes = pc.binary_join_element_wise("9", pc.utf8_lpad(pc.cast(pc.multiply(rows, 7919), pa.string()), 19, "0"), "")
    columns = {
        "event_id": pc.binary_join_element_wise("H116638884962025040106", pc.utf8_lpad(text, 12, "0"), ":0:0", ""),
        "trace_code": codes,
        "event_type": pa.repeat("dispense", n),
        "event_time": pc.add(pa.scalar(1_772_000_000_000_000, pa.timestamp("us")),
                             pc.cast(pc.multiply(rows, 60_000_000), pa.duration("us"))),
        "site_id": pc.binary_join_element_wise("S-", pc.cast(pc.bit_wise_and(rows, 511), pa.string()), ""),
        "product_code": pa.repeat("XB8244A6760756012761", n),
        "product_name": pa.repeat("奥美拉唑肠溶胶囊 20mg*14粒", n),
        "quantity": pa.repeat(1.0, n),
        "patient_id": pc.binary_join_element_wise("110105", pc.utf8_lpad(pc.cast(pc.multiply(rows, 31), pa.string()), 12, "0"), ""),
        "settlement_id": pc.binary_join_element_wise("SETL", text, ""),
        "fund_amount": pa.repeat(12.5, n),
        "total_amount": pa.repeat(15.0, n),
        "record_no": pc.binary_join_element_wise("B", pc.cast(pc.multiply(rows, 13), pa.string()), ""),
        "batch": pc.binary_join_element_wise("L", pc.cast(pc.bit_wise_and(rows, 4095), pa.string()), ""),
        "source_file": pa.repeat("filler.jsonl", n),
        "source_line": rows,
    }
    return pa.table([columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in EVENT_SCHEMA],
                    schema=EVENT_SCHEMA)


def _peak_mb(workspace, out) -> float:
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", _CHILD, str(workspace), str(out)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]


@pytest.mark.slow
def test_one_ring_memory_does_not_grow_with_the_city(tmp_path):
    peaks = []
    for n in SIZES:
        case = build_workspace(tmp_path / f"city-{n}", big=False)
        # an event part as ingest writes one (zstd, its row groups)
        pq.write_table(_filler(n), Workspace(case.root).part_path("filler"), compression="zstd",
                       row_group_size=ROW_GROUP_ROWS)
        peaks.append(_peak_mb(case.root, tmp_path / f"out-{n}"))
    small, large = peaks
    assert large < BOUND_MB, f"one ring's package and viz peaked at {large:.0f} MB in a city of {SIZES[1]:,} events"
    assert large - small < GROWTH_MB, f"peak grew from {small:.0f} MB to {large:.0f} MB with the city"
