"""The threaded Parquet path (dictionary pass-through, background part writer,
deferred commits) gives the same workspace as the plain serial path, and a failing
writer thread surfaces as a clear error instead of a hang."""

from __future__ import annotations

import datetime as dt
import json
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import rxring.ingest.formats.tabular as tabular
import rxring.ingest.pipeline as pipeline
import rxring.ingest.store as store
from rxring.errors import RxringError
from rxring.ingest import ingest
from rxring.ingest.normalise import FileContext, explode_codes, normalise
from rxring.ingest.partwriter import PartJob, PartWriterThread
from rxring.schema import EVENT_SCHEMA
from rxring.workspace import Workspace

TYPES = ["dispense", "inbound", "refund", "transfer_out"]


def _canonical(n: int, seed: int, dirty: bool) -> pa.Table:
    """Canonical events; with ``dirty``, rows a normaliser must fix or quarantine."""
    rng = np.random.default_rng(seed)
    serial = rng.integers(0, 10**13, n)
    codes = np.array([f"8115125{s:013d}" for s in serial], dtype=object)
    sites = np.array([f"P{i:03d}" for i in rng.integers(0, 40, n)], dtype=object)
    names = np.array(["阿莫西林胶囊", "布洛芬缓释胶囊", "二甲双胍片"], dtype=object)[rng.integers(0, 3, n)]
    etypes = np.array(TYPES, dtype=object)[rng.integers(0, len(TYPES), n)]
    qty = rng.integers(1, 4, n).astype(float)
    if dirty:
        sites[1::97] = " " + sites[1::97] + "\t"       # trimmed, in a dictionary: duplicates -> decoded
        sites[2::89] = ""                              # empty -> missing site_id
        names[3::83] = "\u3000" + names[3::83]         # ideographic space
        etypes[4::79] = "teleport"
        etypes[5::73] = "DISPENSE"
        codes[6::71] = codes[6::71] + " "
        codes[7::67] = "8115125791408562327"           # 19 digits
        qty[8::61] = -2.0
    base = pa.table({
        "event_id": [f"E{seed}-{i}" for i in range(n)],
        "trace_code": pa.array(codes, type=pa.string()),
        "event_type": pa.array(etypes, type=pa.string()),
        "event_time": pa.array(np.datetime64("2025-03-01T08:00:00") + rng.integers(0, 10**7, n).astype("timedelta64[s]"),
                               type=pa.timestamp("us")),
        "site_id": pa.array(sites, type=pa.string()),
        "product_name": pa.array(names, type=pa.string()),
        "batch": [f"B{i % 50}" for i in range(n)],
        "quantity": qty,
        "split_sale": pa.array(np.zeros(n, dtype=bool)),
        "total_amount": rng.random(n) * 100,
    })
    return pa.table({f.name: base.column(f.name) if f.name in base.column_names else pa.nulls(n, f.type)
                     for f in EVENT_SCHEMA}, schema=EVENT_SCHEMA)


@pytest.fixture
def parquet_inputs(tmp_path, monkeypatch):
    """Three canonical files (one dirty), small row groups, chunks smaller than a file."""
    monkeypatch.setattr(tabular, "PARQUET_BATCH", 3000)
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 3000)
    folder = tmp_path / "in"
    folder.mkdir()
    for i, (n, dirty) in enumerate([(7000, False), (5000, True), (2500, False)]):
        pq.write_table(_canonical(n, i, dirty), folder / f"events-{i}.parquet", row_group_size=1000)
    return folder


def _reference(path, display: str, sha16: str) -> tuple[pa.Table, list]:
    """The events and quarantine lines of one file by the plain path: whole file, no dictionaries."""
    table = pq.read_table(path)
    records = table.append_column("_line", pa.array(np.arange(1, table.num_rows + 1), type=pa.int64()))
    events, quarantine = normalise(explode_codes(records), FileContext(source_file=display, sha16=sha16))
    return events, sorted(zip(quarantine["source_line"], quarantine["reason"]))


def test_threaded_dictionary_path_matches_the_plain_serial_path(parquet_inputs, tmp_path):
    ws = tmp_path / "ws"
    report = ingest([parquet_inputs], ws, progress=False)
    assert report.balanced and [f.status for f in report.files] == ["ingested"] * 3
    assert report.quarantined > 0
    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    assert [e["path"] for e in manifest["inputs"]] == [f.path for f in report.files]  # committed in input order
    quarantine_lines = (ws / "quarantine.csv").read_text(encoding="utf-8").splitlines()[1:]
    for entry in manifest["inputs"]:
        part = pq.read_table(ws / "events" / entry["part"])
        assert part.schema.equals(EVENT_SCHEMA), "dictionary columns read back as plain strings"
        # row groups of at least ROW_GROUP_ROWS (but the last), although the input's are smaller
        meta = pq.ParquetFile(ws / "events" / entry["part"]).metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        assert all(size >= 3000 for size in sizes[:-1]) and sum(sizes) == entry["events"]
        assert len(sizes) > 1 or entry["events"] < 6000
        expected, expected_q = _reference(entry["abs_path"], entry["path"], entry["sha256"][:16])
        assert part.num_rows == expected.num_rows == entry["events"]
        for name in EVENT_SCHEMA.names:
            assert part.column(name).equals(expected.column(name)), name
        mine = [line for line in quarantine_lines if line.startswith(entry["path"] + ",")]
        assert len(mine) == len(expected_q) == entry["quarantined"]


def test_dirty_dictionary_values_are_cleaned_like_plain_ones():
    values = pa.array(["P1", " P1", "P2 ", "", "\u3000P3"], type=pa.string())
    indices = pa.array([0, 1, 2, 3, 4, 0], type=pa.int32())
    records = pa.table({
        "trace_code": [f"8115125791408562{i:04d}" for i in range(6)],
        "event_type": pa.DictionaryArray.from_arrays(pa.array([0] * 6, type=pa.int32()), pa.array(["dispense"])),
        "event_time": pa.array([dt.datetime(2025, 1, 2, 3, 4, 5)] * 6, type=pa.timestamp("us")),
        "site_id": pa.DictionaryArray.from_arrays(indices, values),
        "_line": pa.array(range(1, 7), type=pa.int64()),
    })
    plain = records.set_column(3, "site_id", records.column("site_id").cast(pa.string()))
    plain = plain.set_column(1, "event_type", plain.column("event_type").cast(pa.string()))
    ctx = FileContext(source_file="f.parquet", sha16="0" * 16)
    kept, q1 = normalise(records, ctx, keep_dictionaries=True)
    flat, q2 = normalise(plain, ctx)
    assert kept.column("site_id").to_pylist() == flat.column("site_id").to_pylist() == ["P1", "P1", "P2", "P3", "P1"]
    assert kept.column("source_file").to_pylist() == ["f.parquet"] * 5
    assert pa.types.is_dictionary(kept.schema.field("source_file").type)
    assert not pa.types.is_dictionary(flat.schema.field("source_file").type)
    assert list(q1["reason"]) == list(q2["reason"]) == ["missing site_id (fixmedins_code / 机构编码)"]


def test_same_content_twice_in_a_row_is_already_ingested(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(_canonical(300, 1, False), folder / "a.parquet")
    (folder / "b.parquet").write_bytes((folder / "a.parquet").read_bytes())
    report = ingest([folder], tmp_path / "ws", progress=False)
    assert [f.status for f in report.files] == ["ingested", "already ingested"]
    assert report.files[1].message == f"skipped as a duplicate of {folder.as_posix()}/a.parquet (same content, SHA-256)"


def _run_with_deadline(fn, seconds: float = 60):
    """Run fn in a thread; fail (instead of hanging the suite) when it does not return."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - examined by the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "ingest hung"
    return outcome


def test_a_failing_part_writer_is_a_clear_error_not_a_hang(parquet_inputs, tmp_path, monkeypatch):
    real = pq.ParquetWriter.write_table
    calls = {"n": 0}

    def disk_full(self, table, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 4:  # the first file (3 chunks) fits, the second does not
            raise OSError(28, "No space left on device")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    ws = tmp_path / "ws"
    outcome = _run_with_deadline(lambda: ingest([parquet_inputs], ws, progress=False))
    error = outcome.get("error")
    assert isinstance(error, RxringError), outcome
    assert "cannot write the events part" in str(error) and "No space left on device" in str(error)
    # the first input was committed whole; nothing of the failed one is left behind
    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    assert [e["path"].rsplit("/", 1)[1] for e in manifest["inputs"]] == ["events-0.parquet"]
    assert [p.name for p in Workspace(ws).event_parts()] == [manifest["inputs"][0]["part"]]
    assert not list((ws / "events").glob("*.tmp")) and not list(ws.glob(".quarantine-*"))
    assert not [t for t in threading.enumerate() if t.name == "rxring-part-writer"]


def test_a_bug_in_the_writer_thread_is_raised_as_it_is(parquet_inputs, tmp_path, monkeypatch):
    def broken(self, table, *args, **kwargs):
        raise ValueError("broken encoder")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", broken)
    outcome = _run_with_deadline(lambda: ingest([parquet_inputs], tmp_path / "ws", progress=False))
    assert isinstance(outcome.get("error"), ValueError)
    assert not [t for t in threading.enumerate() if t.name == "rxring-part-writer"]


def test_interrupt_while_a_part_is_pending_leaves_nothing_half_done(parquet_inputs, tmp_path, monkeypatch):
    real = pipeline.normalise
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # first chunk of the second file: the first is still pending
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "normalise", interrupted)
    ws = tmp_path / "ws"
    outcome = _run_with_deadline(lambda: ingest([parquet_inputs], ws, progress=False))
    assert isinstance(outcome.get("error"), KeyboardInterrupt)
    # the input read before the interrupt is committed (as when inputs were read one by one), no other
    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    assert [e["path"].rsplit("/", 1)[1] for e in manifest["inputs"]] == ["events-0.parquet"]
    assert {p.name for p in Workspace(ws).event_parts()} == {manifest["inputs"][0]["part"]}
    assert not list((ws / "events").glob("*.tmp"))
    monkeypatch.setattr(pipeline, "normalise", real)
    report = ingest([parquet_inputs], ws, progress=False)
    assert report.balanced and len(Workspace(ws).event_parts()) == 3


def test_part_job_reports_its_error_on_the_next_submit_and_on_wait(tmp_path):
    writer = PartWriterThread(depth=1)
    try:
        job = PartJob(tmp_path / "missing-folder" / "part.parquet.tmp", EVENT_SCHEMA)
        table = EVENT_SCHEMA.empty_table()
        writer.submit(job, table)
        writer.close_async(job)
        with pytest.raises(RxringError, match="cannot write the events part part.parquet.tmp"):
            job.wait()
        with pytest.raises(RxringError):
            writer.submit(job, table)
        ok = PartJob(tmp_path / "ok.parquet", EVENT_SCHEMA)  # the thread goes on with other parts
        writer.submit(ok, table)
        writer.close_async(ok)
        ok.wait()
        assert pq.read_table(tmp_path / "ok.parquet").schema.equals(EVENT_SCHEMA)
    finally:
        writer.stop()
    assert not writer._thread.is_alive()


def test_small_chunks_are_gathered_into_row_groups(tmp_path, monkeypatch):
    import rxring.ingest.formats.jsonfmt as jsonfmt

    monkeypatch.setattr(jsonfmt, "BATCH_RECORDS", 2)  # a chunk per message or two
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 6)
    source = tmp_path / "nhsa.jsonl"
    fixture = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "ingest" / "nhsa_messages.jsonl"
    source.write_bytes(fixture.read_bytes())
    report = ingest([source], tmp_path / "ws", progress=False)
    part = tmp_path / "ws" / "events" / report.files[0].part
    meta = pq.ParquetFile(part).metadata
    sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    assert sum(sizes) == report.files[0].events > 6
    assert len(sizes) >= 2 and all(size >= 6 for size in sizes[:-1])
    monkeypatch.undo()
    plain = ingest([source], tmp_path / "ws2", progress=False)
    assert pq.read_table(part).equals(pq.read_table(tmp_path / "ws2" / "events" / plain.files[0].part))
