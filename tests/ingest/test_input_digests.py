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


def test_ingesting_again_adds_sm3_to_an_older_manifest(run_ingest, copy_fixture, tmp_path):
    from rxring.workspace import Workspace

    path = copy_fixture("mixed_good_bad.csv")
    run_ingest(path)
    ws = Workspace(tmp_path / "ws")
    manifest = ws.manifest()
    for item in manifest["inputs"]:   # as an rxring before SM3 wrote it
        del item["sm3"], item["mtime_ns"]
    ws.write_manifest(manifest)
    state = ws.ingest_state()
    report, _, _ = run_ingest(path)
    assert report.files[0].status == "already ingested" and report.read == 0
    (recorded,) = ws.manifest()["inputs"]
    assert recorded["sm3"] == sm3_hex(path.read_bytes()) and recorded["mtime_ns"] == path.stat().st_mtime_ns
    assert ws.ingest_state() == state   # nothing else changed: the analysis and its look-up copies stay current
