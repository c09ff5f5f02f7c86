"""Ingest records each input's SHA-256 and SM3 (one read) with the size and modification time it hashed."""

from __future__ import annotations

import hashlib
import json

from rxring.digests import sm3_hex


def test_manifest_records_sha256_sm3_size_and_mtime(run_ingest, copy_fixture, tmp_path):
    path = copy_fixture("mixed_good_bad.csv")
    before = path.stat()
    report, _, _ = run_ingest(path)
    data = path.read_bytes()
    entry = report.files[0]
    assert (entry.sha256, entry.sm3) == (hashlib.sha256(data).hexdigest(), sm3_hex(data))
    (recorded,) = json.loads((tmp_path / "ws" / "manifest.json").read_text(encoding="utf-8"))["inputs"]
    assert recorded["sha256"] == hashlib.sha256(data).hexdigest() and recorded["sm3"] == sm3_hex(data)
    assert (recorded["size"], recorded["mtime_ns"]) == (before.st_size, before.st_mtime_ns) == (len(data), path.stat().st_mtime_ns)
