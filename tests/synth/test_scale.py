"""Scale smoke test: the generator streams a city to disk; its memory does not grow with the city.

Two cities, 50k and 250k events, each generated in its own process: holding the events in
memory would cost at least ~1 KB each (~200 MB more for the larger city); streaming costs a
few MB more (the ground truth grows with the planted rings).  bench/run.py generates the
1M and 10M cities and reports their time.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, resource, sys
from rxring.synth import generate
s = generate(sys.argv[1], seed=5, events=int(sys.argv[2]), days=int(sys.argv[3]))
print(json.dumps({"events": s.events, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _generate(folder, events: int, days: int) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(folder), str(events), str(days)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_generator_memory_does_not_grow_with_the_city(tmp_path):
    small = _generate(tmp_path / "small", 50_000, 30)
    large = _generate(tmp_path / "large", 250_000, 120)
    print(f"\n{small['events']:,} events: {small['rss_mb']:.0f} MB; {large['events']:,} events: {large['rss_mb']:.0f} MB")
    assert 200_000 <= large["events"] <= 300_000 and 40_000 <= small["events"] <= 60_000
    assert large["rss_mb"] - small["rss_mb"] < 80, (small, large)
    truth = json.loads((tmp_path / "large" / "ground_truth.json").read_text(encoding="utf-8"))
    assert len(truth["rings"]) >= 5 and truth["counts"]["events"] == large["events"]
