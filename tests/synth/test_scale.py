"""Scale smoke test: the generator streams a city to disk; its memory does not grow with the city.

Two cities, 50k and then 250k events, generated one after the other in a process of their
own, which reports its peak RSS after each: holding the events in memory would cost at least
~1 KB each (~200 MB more for the larger city); streaming costs a few MB more (the ground truth
grows with the planted rings).  bench/run.py generates the 1M and 10M cities and reports their
time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, re, sys
from rxring.synth import generate
for folder, events, days in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    s = generate(folder, seed=5, events=int(events), days=int(days))
    # VmHWM: this program's peak (ru_maxrss would count the test process it was forked from)
    with open("/proc/self/status", encoding="ascii") as status:
        peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
    print(json.dumps({"events": s.events, "rss_mb": peak / 1024}))
"""


def _generate(*cities: tuple) -> list[dict]:
    """Generate each (folder, events, days) in turn in one new process: its events and peak RSS after each."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, *(str(value) for city in cities for value in city)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"events"')]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc")
def test_generator_memory_does_not_grow_with_the_city(tmp_path):
    small, large = _generate((tmp_path / "small", 50_000, 30), (tmp_path / "large", 250_000, 120))
    print(f"\n{small['events']:,} events: {small['rss_mb']:.0f} MB; {large['events']:,} events: {large['rss_mb']:.0f} MB")
    assert 200_000 <= large["events"] <= 300_000 and 40_000 <= small["events"] <= 60_000
    assert large["rss_mb"] - small["rss_mb"] < 80, (small, large)
    truth = json.loads((tmp_path / "large" / "ground_truth.json").read_text(encoding="utf-8"))
    assert len(truth["rings"]) >= 5 and truth["counts"]["events"] == large["events"]
