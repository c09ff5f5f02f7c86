"""A large JSON Lines file parsed by byte range in worker processes gives exactly
the workspace of reading it in one go (line numbers, ids, quarantine, deletions)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import rxring.ingest.parallel as parallel
from rxring.ingest import ingest
from rxring.ingest.sniff import sniff

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


def _jsonl(path, copies: int) -> None:
    """NHSA messages with distinct msgids, broken lines, blank lines, CRLF and a lone CR."""
    messages = [json.loads(line) for line in (FIXTURES / "nhsa_messages.jsonl").read_text(encoding="utf-8").splitlines()]
    messages += [json.loads(line) for line in (FIXTURES / "nhsa_3507.jsonl").read_text(encoding="utf-8").splitlines()]
    lines = []
    for c in range(copies):
        for m in messages:
            lines.append(json.dumps(dict(m, msgid=f"{m['msgid']}-{c}"), ensure_ascii=False))
        if c % 7 == 0:
            lines.append('{"infno": "3505", "msgid": broken')
        if c % 5 == 0:
            lines.append("")
        if c % 11 == 0:
            lines.append(json.dumps({"trace_code": f"8115125791408562{c:04d}", "site_id": "P1",
                                     "event_type": "dispense", "event_time": "2026-01-01 10:00:00"}))
    text = ""
    for i, line in enumerate(lines):
        text += line + ("\r\n" if i % 3 == 0 else "\r" if i % 97 == 50 else "\n")
    path.write_bytes(text.encode("utf-8"))


def _workspace_content(ws):
    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["inputs"][0]
    events = pq.read_table(ws / "events" / entry["part"]).to_pylist()
    keys = ("format", "read", "accepted", "quarantined", "events", "deletions", "blank")
    return ({k: entry[k] for k in keys}, events, (ws / "quarantine.csv").read_text(encoding="utf-8"),
            pq.read_table(ws / "deletions.parquet").to_pylist())


def test_byte_ranges_end_after_line_breaks_and_count_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"a\r\nbb\rccc\n\ndddd\r\neeeee")
    pieces = list(parallel.byte_ranges(path, piece_bytes=4))
    data = path.read_bytes()
    assert pieces[0][0] == 0 and pieces[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert all(data[end - 1 : end] == b"\n" for _, end, _ in pieces[:-1])
    # first_line agrees with a text file opened with newline=""
    with open(path, encoding="utf-8", newline="") as fh:
        starts, position = {}, 0
        for number, line in enumerate(fh, start=1):
            starts[position] = number
            position += len(line.encode("utf-8"))
    assert [(start, first) for start, _, first in pieces] == [(start, starts[start]) for start, _, _ in pieces]


def test_worth_it_only_for_large_plain_jsonl(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    _jsonl(path, 3)
    assert not parallel.worth_it(path, sniff(path))  # below PARALLEL_MIN_BYTES
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    assert parallel.worth_it(path, sniff(path))
    assert not parallel.worth_it(path, sniff(path), parallel.PiecePool(workers=1))
    assert not parallel.worth_it(FIXTURES / "sales_gbk.csv", sniff(FIXTURES / "sales_gbk.csv"))
    monkeypatch.setenv("RXRING_INGEST_WORKERS", "1")
    assert not parallel.worth_it(path, sniff(path), parallel.PiecePool())


def test_workers_give_the_same_workspace_as_one_reader(tmp_path, monkeypatch):
    path = tmp_path / "in" / "nhsa.jsonl"
    path.parent.mkdir()
    _jsonl(path, 60)
    serial_ws, parallel_ws = tmp_path / "serial", tmp_path / "parallel"
    monkeypatch.setattr(parallel, "worth_it", lambda *a, **k: False)
    ingest([path], serial_ws, progress=False)
    monkeypatch.undo()
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "PIECE_BYTES", 5000)  # many pieces, more than WINDOW
    assert len(list(parallel.byte_ranges(path))) > 2 * parallel.WINDOW
    calls = []
    real = parallel.prepared_pieces
    monkeypatch.setattr(parallel, "prepared_pieces", lambda *a, **k: calls.append(1) or real(*a, **k))
    report = ingest([path], parallel_ws, progress=False)
    assert calls, "the parallel path was not taken"
    assert report.balanced and report.quarantined > 0 and report.files[0].deletions > 0
    assert _workspace_content(parallel_ws) == _workspace_content(serial_ws)


def test_a_dead_worker_is_a_clear_error(tmp_path, monkeypatch):
    from rxring.errors import RxringError

    path = tmp_path / "nhsa.jsonl"
    _jsonl(path, 20)
    monkeypatch.setattr(parallel, "PIECE_BYTES", 2000)
    pool = parallel.PiecePool(workers=2)
    try:
        victim = pool.processes()[1].proc
        victim.kill()
        victim.wait()
        with pytest.raises(RxringError, match="worker process stopped unexpectedly"):
            list(parallel.prepared_pieces(pool, path, "utf-8", "0" * 16, "nhsa.jsonl"))
        assert pool._procs == []  # stopped, so the next file starts fresh workers
        assert sum(p.records for p in parallel.prepared_pieces(pool, path, "utf-8", "0" * 16, "nhsa.jsonl")) > 0
    finally:
        pool.close()


def test_workers_that_cannot_start_mean_reading_in_process(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel.sys, "executable", "/bin/false")  # not a Python at all
    pool = parallel.PiecePool(workers=2)
    try:
        assert not pool.available()
        assert pool.workers == 1 and pool._procs == []
    finally:
        pool.close()
    path = tmp_path / "in" / "nhsa.jsonl"
    path.parent.mkdir()
    _jsonl(path, 10)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    report = ingest([path], tmp_path / "ws", progress=False)
    assert report.balanced and report.files[0].status == "ingested"
