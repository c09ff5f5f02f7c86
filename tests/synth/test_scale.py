"""Scale smoke test: a 1M-event city streams to disk in bounded memory and reasonable time."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import pytest

SCRIPT = """
import json, resource, sys
from rxring.synth import generate
s = generate(sys.argv[1], seed=5, events=1_000_000, days=120)
print(json.dumps({"events": s.events, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.mark.slow
def test_one_million_events_in_bounded_memory(tmp_path):
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - began
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    peak_mb = max(result["rss_mb"], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print(f"\n{result['events']:,} events in {seconds:.0f}s, peak RSS {peak_mb:.0f} MB")
    assert 850_000 <= result["events"] <= 1_150_000
    assert peak_mb < 1024          # 10M events scale this by well under 4 GB
    assert seconds < 300
    truth = json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))
    assert len(truth["rings"]) >= 20 and truth["counts"]["events"] == result["events"]
