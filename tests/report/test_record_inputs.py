"""The 提取笔录 lists the inputs with the SHA-256 and SM3 ingest recorded: a file is read again only
when its size or modification time changed, and a file changed or gone since ingest is said so."""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from pypdf import PdfReader

import rxring.report.sources as sources
from rxring.digests import sm3_hex
from rxring.report.evidence import build_evidence
from rxring.report.extraction import RECORD_NAMES, record_inputs
from rxring.report.verify import verify_evidence
from rxring.workspace import Workspace


def _record_digests(case, sm3: str | None = None) -> dict:
    """Give the fixture's manifest what ingest now records: SM3, size, mtime (``sm3`` to plant a marker)."""
    ws = Workspace(case.root)
    manifest = ws.manifest()
    status = case.input_path.stat()
    manifest["inputs"][0].update(sm3=sm3 or sm3_hex(case.input_path.read_bytes()), size=status.st_size,
                                 mtime_ns=status.st_mtime_ns)
    ws.write_manifest(manifest)
    return manifest


def _text(path, name: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode("utf-8")


def test_recorded_digests_are_used_without_reading_the_file(make_case, monkeypatch):
    case = make_case()
    manifest = _record_digests(case, sm3="ab" * 32)   # not the file's SM3: shows it was not computed again
    monkeypatch.setattr(sources, "file_digests", lambda *a, **k: pytest.fail("the input was read again"))
    (entry,) = record_inputs(manifest)
    assert (entry["state"], entry["sm3"], entry["size"]) == ("unchanged", "ab" * 32, case.input_path.stat().st_size)


def test_a_touched_file_is_read_again(make_case):
    case = make_case()
    manifest = _record_digests(case, sm3="ab" * 32)
    status = case.input_path.stat()
    os.utime(case.input_path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))   # same bytes, a new time
    (entry,) = record_inputs(manifest)
    assert (entry["state"], entry["sm3"]) == ("unchanged", sm3_hex(case.input_path.read_bytes()))


def test_a_workspace_without_recorded_sm3_computes_it(make_case):
    case = make_case()
    (entry,) = record_inputs(Workspace(case.root).manifest())
    assert (entry["state"], entry["sm3"]) == ("unchanged", sm3_hex(case.input_path.read_bytes()))


def test_the_record_says_when_an_input_changed_or_vanished_since_ingest(make_case, tmp_path):
    case = make_case()
    ingested = case.input_path.read_bytes()
    _record_digests(case)
    case.input_path.write_bytes(ingested + b"\n")
    pkg = build_evidence(case.root, "R001", tmp_path / "changed.zip")
    zh, en = (_text(pkg.path, RECORD_NAMES[lang]) for lang in ("zh", "en"))
    # the values listed are those of the bytes ingested, and the record says the file differs now
    assert sm3_hex(ingested) in zh and sm3_hex(ingested + b"\n") not in zh
    assert f"`{case.input_path.name}`: 原始文件在导入后已被修改" in zh
    assert f"`{case.input_path.name}`: the original file changed since ingest" in en
    with zipfile.ZipFile(pkg.path) as archive:   # the PDF dossier prints the note too
        pdf = " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(archive.read("summary.en.pdf"))).pages)
    assert "the original file changed since ingest" in " ".join(pdf.split())
    case.input_path.unlink()
    pkg = build_evidence(case.root, "R001", tmp_path / "gone.zip")
    en = _text(pkg.path, RECORD_NAMES["en"])
    assert sm3_hex(ingested) in en and "the original file is no longer here or cannot be read" in en
    assert verify_evidence(pkg.path).ok


def test_an_unchanged_input_has_no_note(make_case, tmp_path):
    case = make_case()
    _record_digests(case)
    pkg = build_evidence(case.root, "R001", tmp_path / "same.zip")
    en = _text(pkg.path, RECORD_NAMES["en"])
    assert sm3_hex(case.input_path.read_bytes()) in en
    assert "since ingest" not in en and "no longer here" not in en


def test_the_record_names_the_interfaces_the_rings_events_came_through(city_copy, tmp_path):
    """An NHSA city: the 提取笔录's interfaces are the messages (infno) of the ring's own events."""
    import duckdb

    from rxring.results import load_findings, load_rings

    ws = Workspace(city_copy)
    ring = load_rings(ws.root).iloc[0]
    findings = load_findings(ws.root)
    codes = sorted({c for codes in findings[findings["finding_id"].isin(list(ring["finding_ids"]))]["trace_codes"]
                    for c in codes})
    parts = [str(p) for p in ws.event_parts()]
    expected = sorted(r[0] for r in duckdb.execute(
        "SELECT DISTINCT channel FROM read_parquet(?, union_by_name = true) "
        "WHERE channel IS NOT NULL AND trace_code IN (SELECT unnest(?))", [parts, codes]).fetchall())
    assert expected and set(expected) <= {"3501", "3502", "3503", "3504", "3505", "3506", "3501A", "3502A", "3503A",
                                          "3504A", "3505A", "3506A", "2207", "2304"}
    package = build_evidence(ws.root, str(ring["ring_id"]), tmp_path / "case.zip", command_line="rxring x")
    record = _text(package.path, RECORD_NAMES["en"])
    line = next(line for line in record.splitlines() if "interface" in line.lower())
    assert all(infno in line for infno in expected), line


def test_events_without_an_interface_leave_the_line_empty_never_nan(make_case, tmp_path):
    """Events of inputs that name no NHSA interface (CSV, Parquet, a part without the origin columns)."""
    case = make_case(big=False)
    package = build_evidence(case.root, "R001", tmp_path / "case.zip", command_line="rxring x")
    for lang, empty in (("zh", "无"), ("en", "none")):
        line = next(line for line in _text(package.path, RECORD_NAMES[lang]).splitlines()
                    if "接口" in line or "interface" in line.lower())
        assert "nan" not in line.lower() and f"`{empty}`" in line, line
