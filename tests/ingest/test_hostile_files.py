"""Hostile files: bounded memory, no traceback, every row accounted for, neighbours still read.

The corpus is generated here, small on disk: a 100,000-deep JSON array, a gzip with
one flipped byte, a line longer than the line limit, gzip and XLSX bombs (hundreds
of MiB inflated from a few hundred KB), mixed encodings, an unterminated quote.
The ingest runs in a subprocess (the real CLI) that reports its peak RSS (VmHWM).
A kill between the quarantine append and the manifest write (``RXRING_FAULT_AT``)
leaves quarantine.csv consistent with the manifest after a rerun.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rxring.ingest.formats.jsonfmt import bounded_lines, too_deep
from rxring.ingest.formats.tabular import _resync
from rxring.ingest.sniff import InputLimit, Limits, limits, open_binary, sniff

HEADER = "机构编码,追溯码,业务类型,业务时间\n"
CODE_STEM = "8115125791408562"  # + 4 digits
PEAK_RSS_LIMIT_MB = 600  # the interpreter with pyarrow, pandas and openpyxl is about 160 MB


def _row(i: int) -> str:
    return f"P1,{CODE_STEM}{i:04d},销售,2026-01-01 10:00:00"


def _message(i: int) -> str:
    return json.dumps({"infno": "3505", "msgid": f"M{i}", "fixmedins_code": "P1",
                       "sel_retn_time": "2026-01-01 10:00:00", "drug_trac_codg": f"{CODE_STEM}{i:04d}"})


def _gzip_repeated(prefix: bytes, block: bytes, times: int, suffix: bytes = b"") -> bytes:
    """A multi-member gzip inflating to prefix + block * times + suffix, compressing block once."""
    member = gzip.compress(block, compresslevel=9)
    return gzip.compress(prefix) + member * times + (gzip.compress(suffix) if suffix else b"")


def _xlsx_bomb() -> bytes:
    """A workbook whose sheet XML is a 128 MiB inline string (about 130 KB on disk)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        zf.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    '<sheets><sheet name="s" sheetId="1" r:id="rId1" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"/></sheets></workbook>')
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(b'<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
            chunk = b"A" * (1 << 20)
            for _ in range(128):
                fh.write(chunk)
            fh.write(b"</t></is></c></row></sheetData></worksheet>")
    return buf.getvalue()


def _corpus(folder: Path) -> dict[str, tuple]:
    """Write the hostile corpus; returns name -> (status, read, accepted, quarantined) expected."""
    folder.mkdir(parents=True)
    expect = {}
    # good neighbours, sorted before, between and after the hostile files
    (folder / "a_good.csv").write_text(HEADER + "\n".join(_row(i) for i in range(5)) + "\n", encoding="utf-8")
    expect["a_good.csv"] = ("ingested", 5, 5, 0)
    (folder / "m_good.jsonl").write_text("\n".join(_message(i) for i in range(10, 13)) + "\n", encoding="utf-8")
    expect["m_good.jsonl"] = ("ingested", 3, 3, 0)
    (folder / "z_good.csv").write_text(HEADER + _row(20) + "\n", encoding="utf-8")
    expect["z_good.csv"] = ("ingested", 1, 1, 0)

    # 100,000 nested brackets: a document and a line of JSON Lines
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    expect["deep.json"] = ("ingested", 1, 0, 1)
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    (folder / "deep.jsonl").write_text(f"{_message(30)}\n{deep}\n{_message(31)}\n", encoding="utf-8")
    expect["deep.jsonl"] = ("ingested", 3, 2, 1)

    # a gzip with one flipped byte in the middle: the file is an error, nothing kept
    rows = "".join(_row(i % 10000) + "\n" for i in range(40_000))
    data = bytearray(gzip.compress((HEADER + rows).encode(), compresslevel=1))
    data[len(data) // 2] ^= 0x55
    (folder / "flipped.csv.gz").write_bytes(bytes(data))
    expect["flipped.csv.gz"] = ("error", 0, 0, 0)

    # a line longer than the 16 MiB line limit between two good lines: one quarantined record
    with open(folder / "longline.jsonl", "w", encoding="utf-8") as fh:
        fh.write(_message(40) + "\n" + '{"x": "' + "a" * (20 << 20) + '"}\n' + _message(41) + "\n")
    expect["longline.jsonl"] = ("ingested", 3, 2, 1)

    # 256 MiB without a newline (gzip, 4 KB): its header is longer than the line limit
    (folder / "nonewline.csv.gz").write_bytes(_gzip_repeated(b"", b"a" * (16 << 20), 16))
    expect["nonewline.csv.gz"] = ("error", 0, 0, 0)

    # gzip bomb: one 1 GiB JSON line from 70 KB, stopped by the ratio limit
    prefix = (_message(50) + "\n" + '{"x": "').encode()
    (folder / "bomb.jsonl.gz").write_bytes(_gzip_repeated(prefix, b"a" * (16 << 20), 64, b'"}\n'))
    expect["bomb.jsonl.gz"] = ("error", 0, 0, 0)

    # XLSX bomb
    (folder / "bomb.xlsx").write_bytes(_xlsx_bomb())
    expect["bomb.xlsx"] = ("error", 0, 0, 0)

    # mixed encodings: UTF-8 with a GBK row; a BOM followed by GBK text with one undecodable row
    mixed = (HEADER + _row(60) + "\n").encode() + (_row(61) + "\n").encode("gbk") + (_row(62) + "\n").encode()
    (folder / "mixed.csv").write_bytes(mixed)
    expect["mixed.csv"] = ("ingested", 3, 3, 0)
    bom = b"\xef\xbb\xbf" + (HEADER + _row(70) + "\n" + _row(71) + "\n").encode("gbk")
    (folder / "bom_gbk.csv").write_bytes(bom + b"P1,81151257914085629999,\xff\xfe,2026-01-01 10:00:00\n")
    expect["bom_gbk.csv"] = ("ingested", 3, 2, 1)

    # an unterminated quote: only the broken record is quarantined
    quoted = [_row(80 + i) for i in range(5)]
    quoted[1] = 'P1,"81151257914085620081,销售,2026-01-01 10:00:00'
    (folder / "quote.csv").write_text(HEADER + "\n".join(quoted) + "\n", encoding="utf-8")
    expect["quote.csv"] = ("ingested", 5, 4, 1)
    return expect


_RUNNER = r"""
import runpy, sys
code = 0
try:
    runpy.run_module("rxring", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
peak = None
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1])
except OSError:
    pass
if peak is None:
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write(f"\nPEAK_RSS_KB {peak}\n")
sys.exit(code)
"""


def _cli(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, RXRING_INGEST_WORKERS="1", **(env or {}))
    environment.pop("RXRING_FAULT_AT", None) if not env or "RXRING_FAULT_AT" not in env else None
    return subprocess.run([sys.executable, "-c", _RUNNER, *args], capture_output=True, text=True, env=environment,
                          timeout=120)


def _cli_here(*args) -> subprocess.CompletedProcess:
    """The CLI run in this process, as :func:`_cli` reports it: for the runs that need no process of their own
    (neither killed nor measured)."""
    from click.testing import CliRunner

    from rxring.cli import cli

    result = CliRunner().invoke(cli, list(args), env={"RXRING_INGEST_WORKERS": "1", "RXRING_FAULT_AT": None})
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def _quarantine_rows(ws: Path) -> list[dict]:
    path = ws / "quarantine.csv"
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_hostile_corpus_bounded_total_and_neighbours_read(tmp_path):
    folder, ws = tmp_path / "in", tmp_path / "ws"
    expect = _corpus(folder)
    done = _cli("ingest", str(folder), "-w", str(ws), "--json", "--no-progress")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0]) / 1024
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"

    report = json.loads(done.stdout)
    got = {Path(f["path"]).name: f for f in report["files"]}
    assert set(got) == set(expect)
    for name, (status, read, accepted, quarantined) in expect.items():
        f = got[name]
        assert (f["status"], f["read"], f["accepted"], f["quarantined"]) == (status, read, accepted, quarantined), (name, f)
        assert f["read"] == f["accepted"] + f["quarantined"]
        if status == "error":
            assert f["message"]
    assert "inflates more than 200 times" in got["bomb.jsonl.gz"]["message"]
    assert "XLSX member xl/worksheets/sheet1.xml inflates" in got["bomb.xlsx"]["message"]
    assert "header" in got["nonewline.csv.gz"]["message"] and "RXRING_MAX_LINE_BYTES" in got["nonewline.csv.gz"]["message"]
    assert "corrupt gzip" in got["flipped.csv.gz"]["message"] or "CRC" in got["flipped.csv.gz"]["message"]

    quarantine = _quarantine_rows(ws)
    by_file = {}
    for row in quarantine:
        by_file.setdefault(Path(row["source_file"]).name, []).append(row)
    assert "nested deeper than" in by_file["deep.json"][0]["reason"]
    assert [r["source_line"] for r in by_file["deep.jsonl"]] == ["2"]
    assert "longer than the limit" in by_file["longline.jsonl"][0]["reason"]
    assert len(by_file["longline.jsonl"][0]["raw"]) <= 4000
    assert [(r["source_line"], r["reason"][:19]) for r in by_file["quote.csv"]] == [("3", "unterminated quote:")]

    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["totals"]["quarantined"] == len(quarantine) == report["totals"]["quarantined"]
    rejected = {Path(r["path"]).name: r for r in manifest["rejected"]}
    assert set(rejected) == {name for name, e in expect.items() if e[0] == "error"}
    assert all(r["reason"] and r["sha256"] for r in rejected.values())



def _kill_corpus(folder: Path) -> None:
    folder.mkdir()
    for k in range(3):
        rows = [_row(100 * k + i) for i in range(6)]
        rows[2] = rows[2].replace("销售", "teleport")
        rows[4] = rows[4].replace("2026-01-01", "yesterday")
        (folder / f"f{k}.csv").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    deletion = {"infno": "3507", "msgid": "D1", "fixmedins_code": "P1",
                "input": {"data": {"fixmedins_bchno": "B1", "inv_data_type": "3"}}}
    (folder / "g_deletions.jsonl").write_text(json.dumps(deletion) + "\n", encoding="utf-8")


def _check_consistent(ws: Path) -> None:
    import pyarrow.parquet as pq

    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    quarantine = _quarantine_rows(ws)
    assert manifest["totals"]["quarantined"] == len(quarantine) == 6
    assert len({(r["source_file"], r["source_line"]) for r in quarantine}) == 6
    deletions = pq.read_table(ws / "deletions.parquet").to_pylist()
    assert len(deletions) == manifest["deletions_rows"] and len({d["record_no"] for d in deletions}) == 1


def test_kill_after_the_quarantine_append_leaves_no_duplicates(tmp_path):
    """The real thing: the CLI is killed (SIGKILL) after its first quarantine append; a rerun repairs."""
    folder, ws = tmp_path / "in", tmp_path / "ws"
    _kill_corpus(folder)
    killed = _cli("ingest", str(folder), "-w", str(ws), "--no-progress", env={"RXRING_FAULT_AT": "ingest-after-quarantine"})
    assert killed.returncode != 0  # killed at the first commit
    assert len(_quarantine_rows(ws)) == 2 and not (ws / "manifest.json").exists()
    done = _cli_here("ingest", str(folder), "-w", str(ws), "--no-progress")
    assert done.returncode == 0 and "[OK]" in done.stdout, done.stdout + done.stderr
    _check_consistent(ws)


class _Killed(BaseException):
    pass


@pytest.mark.parametrize("step", ["ingest-after-part", "ingest-after-quarantine", "ingest-after-deletions",
                                  "ingest-before-manifest"])
@pytest.mark.parametrize("at_file", [0, 2])
def test_a_stop_at_any_commit_step_leaves_quarantine_consistent(tmp_path, monkeypatch, step, at_file):
    """In process: the fault hook raises at ``step`` of the ``at_file``-th commit (what a kill leaves behind)."""
    from rxring.ingest import ingest, pipeline, store

    folder, ws = tmp_path / "in", tmp_path / "ws"
    _kill_corpus(folder)
    seen = []

    def fault(name):
        if name == step:
            seen.append(name)
            if len(seen) > at_file:
                raise _Killed(name)

    monkeypatch.setattr(store, "fault_point", fault)
    monkeypatch.setattr(pipeline, "fault_point", fault)
    with pytest.raises(_Killed):
        ingest([folder], ws, progress=False)
    monkeypatch.undo()
    report = ingest([folder], ws, progress=False)
    assert report.balanced
    _check_consistent(ws)


def test_files_rejected_whole_are_in_the_manifest_and_read_again(tmp_path):
    from rxring.ingest import ingest

    bad = tmp_path / "in" / "notes.csv"
    bad.parent.mkdir()
    bad.write_text("just some text without any delimiter\n", encoding="utf-8")
    (tmp_path / "in" / "good.csv").write_text(HEADER + _row(1) + "\n", encoding="utf-8")
    for _ in range(2):
        report = ingest([tmp_path / "in"], tmp_path / "ws", progress=False)
        assert {Path(f.path).name: f.status for f in report.files}["notes.csv"] == "unknown format"
    manifest = json.loads((tmp_path / "ws" / "manifest.json").read_text(encoding="utf-8"))
    assert [(Path(r["path"]).name, r["status"]) for r in manifest["rejected"]] == [("notes.csv", "unknown format")]
    assert "not a table" in manifest["rejected"][0]["reason"]
    assert [Path(e["path"]).name for e in manifest["inputs"]] == ["good.csv"]


# ------------------------------------------------------------------ units (in process)

def test_corrupt_gzip_sample_is_unknown_not_a_traceback(tmp_path):
    data = bytearray(gzip.compress((HEADER + _row(1) + "\n").encode() * 50))
    data[20] ^= 0xFF
    path = tmp_path / "x.csv.gz"
    path.write_bytes(bytes(data))
    assert sniff(path).format == "unknown"


def test_gzip_ratio_and_size_limits(tmp_path, monkeypatch):
    path = tmp_path / "z.gz"
    path.write_bytes(_gzip_repeated(b"", b"\n" * (8 << 20), 8))  # 64 MiB
    with open_binary(path) as fh, pytest.raises(InputLimit, match="inflates more than"):
        while fh.read(1 << 20):
            pass
    with open_binary(path, Limits(max_ratio=1e9, max_decompressed=40 << 20)) as fh, pytest.raises(InputLimit, match="beyond"):
        while fh.read(1 << 20):
            pass
    monkeypatch.setenv("RXRING_MAX_RATIO", "1e9")
    monkeypatch.setenv("RXRING_MAX_LINE_BYTES", "32M")
    assert limits().max_ratio == 1e9 and limits().max_line == 32 << 20
    with open_binary(path) as fh:
        assert sum(iter(lambda: len(fh.read(1 << 20)), 0)) == 64 << 20
    monkeypatch.setenv("RXRING_MAX_JSON_DEPTH", "deep")
    from rxring.errors import RxringError

    with pytest.raises(RxringError, match="RXRING_MAX_JSON_DEPTH='deep' is not a positive number"):
        limits()


def test_bounded_lines_skip_a_long_line_without_holding_it():
    text = io.StringIO("ab\n" + "x" * 100 + "\r\ncd\r" + "y" * 10, newline="")
    assert list(bounded_lines(text, 8)) == [("ab\n", 0), ("x" * 8, 102), ("cd\r", 0), ("y" * 8, 10)]
    text = io.StringIO("x" * 15 + "\r\nab\n" + "y" * 7 + "\r\ncd\n", newline="")  # "\r" exactly at the limit
    assert list(bounded_lines(text, 8)) == [("x" * 8, 16), ("ab\n", 0), ("y" * 7 + "\r", 0), ("cd\n", 0)]


def test_too_deep_ignores_brackets_in_strings():
    assert not too_deep('{"a": "[[[[[[[[[["}', 3)
    assert too_deep('{"a": [[[1]]]}', 3)
    assert not too_deep('[{"a": 1}, {"b": 2}, {"c": 3}, {"d": 4}]', 3)


def test_resync_keeps_the_rows_after_an_unterminated_quote():
    text = 'P1,"811,销售,t1\nP1,812,销售,t2\n\nP1,813\nP1,814,销售,t4'
    rejects, rows, blank = _resync(text, 7, ",", 4)
    assert [r[:2] for r in rejects] == [(7, "unterminated quote: the record ends at the end of its line"),
                                        (10, "row has 2 fields, the header has 4")]
    assert _resync('P1,"811,a,b\nP1,812,a,b\nP1,"813', 7, ",", 4)[0][1][:2] == (9, "unbalanced quotes")
    assert rows == [(8, ["P1", "812", "销售", "t2"]), (11, ["P1", "814", "销售", "t4"])] and blank == 1
    assert _resync('P1,"a\nb",c', 3, ",", 4)[1] == []  # nothing parses after it: one broken record
    assert _resync("a,b\nc,d", 3, ",", 4) is None  # no open quote: not a resync case


def test_analyze_prints_the_ingest_accounting(tmp_path):
    from click.testing import CliRunner

    from rxring.cli import cli

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(HEADER + _row(1) + "\n" + _row(2).replace("销售", "teleport") + "\n", encoding="utf-8")
    (folder / "b.csv").write_text("追溯码,业务类型,业务时间\n81151257914085623274,销售,2026-01-01\n", encoding="utf-8")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(cli, ["analyze", str(folder), "-w", str(ws), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 unreadable; 1 row(s) quarantined" in result.output
    assert "read 2 = accepted 1 + quarantined 1  [OK]" in result.output
    assert f"rxring: error: {folder / 'b.csv'}: missing required column site_id" in result.output
    clean = tmp_path / "clean.csv"
    clean.write_text(HEADER + _row(3) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["analyze", str(clean), "-w", str(ws), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "ingest: 1 file(s), read 1 = accepted 1 + quarantined 0  [OK]" in result.output
    assert "TOTAL" not in result.output


def test_a_quote_never_closed_past_the_parse_block_reads_the_rest_line_by_line(tmp_path, monkeypatch, run_ingest):
    from rxring.ingest.formats import tabular

    monkeypatch.setattr(tabular, "CSV_BLOCK", 1 << 16)  # the quote swallows more than a block
    rows = [_row(i) for i in range(3000)]
    rows[100] = rows[100].replace("P1,", 'P1,"', 1)
    rows[2600] = 'P1,"81151257914085622600",销售,"2026-01-01\n10:00:00"'  # a value over two lines, read whole
    rows[2700] = "P1,8115125791408562"
    path = tmp_path / "in" / "q.csv"
    path.parent.mkdir()
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    report, events, quarantine = run_ingest(path)
    f = report.files[0]
    assert (f.status, f.read, f.accepted, f.quarantined) == ("ingested", 3000, 2998, 2)
    assert any("read line by line" in n for n in f.notes)
    assert quarantine[["source_line", "reason"]].values.tolist() == [
        [102, "unterminated quote: the record ends at the end of its line"],
        [2703, "row has 2 fields, the header has 4"]]
    line = dict(zip(events["trace_code"], events["source_line"]))
    assert (line["81151257914085620101"], line["81151257914085622600"], line["81151257914085622601"]) == (103, 2602, 2604)


def test_a_gzipped_workbook_is_still_read(tmp_path, run_ingest):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["机构编码", "追溯码", "业务类型", "业务时间"])
    wb.active.append(["P1", "81151257914085620001", "销售", "2026-01-01 10:00:00"])
    buf = io.BytesIO()
    wb.save(buf)
    path = tmp_path / "in" / "w.xlsx.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(buf.getvalue()))
    report, _, _ = run_ingest(path)
    f = report.files[0]
    assert (f.format, f.status, f.read, f.accepted) == ("xlsx", "ingested", 1, 1)


def test_a_parquet_bomb_is_stopped_by_its_declared_sizes(tmp_path, run_ingest):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 40_000  # a constant 1 KB string, plain-encoded: 40 MB that zstd packs into a few KB
    table = pa.table({"trace_code": pa.array(["81151257914085620001"] * n), "site_id": pa.array(["P1"] * n),
                      "event_type": pa.array(["dispense"] * n), "event_time": pa.array(["2026-01-01 10:00:00"] * n),
                      "product_name": pa.array(["x" * 1024] * n)})
    path = tmp_path / "in" / "bomb.parquet"
    path.parent.mkdir()
    pq.write_table(table, path, use_dictionary=False, compression="zstd")
    assert path.stat().st_size < 1 << 20
    report, _, _ = run_ingest(path)
    f = report.files[0]
    assert f.status == "error" and "Parquet column product_name (row group 0) inflates" in f.message


# ------------------------------------------------------------------ quarantine memory

_BOUNDED_RUNNER = r"""
import json, sys
from rxring.ingest import ingest
from rxring.ingest.formats import tabular
tabular.CSV_BLOCK = 1 << 20  # so that a small file has an unterminated quote over several parse blocks
def peak():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
ingest([sys.argv[2]], sys.argv[1], progress=False, reveal_pii=True)
baseline = peak()
report = ingest(sys.argv[4:], sys.argv[3], progress=False, reveal_pii=True)
print(json.dumps({"baseline_kb": baseline, "peak_kb": peak(), "files": [f.to_dict() for f in report.files]}))
"""


def _peak_and_report(baseline: tuple[Path, Path], ws: Path, *paths: Path) -> tuple[float, float, dict]:
    """One process ingests *baseline* (workspace, file), then *paths* into *ws*: its peak RSS (MB) after the first,
    its peak after both, and the second's files by name."""
    done = subprocess.run([sys.executable, "-c", _BOUNDED_RUNNER, *map(str, baseline), str(ws), *map(str, paths)],
                          capture_output=True, text=True, env=dict(os.environ, RXRING_INGEST_WORKERS="1"), timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    result = json.loads(done.stdout)
    return result["baseline_kb"] / 1024, result["peak_kb"] / 1024, {Path(f["path"]).name: f for f in result["files"]}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc")
def test_quarantine_memory_does_not_grow_with_the_bad_lines_of_a_file(tmp_path):
    """100,000 broken lines in each of three files: peak RSS stays near an ingest of one good row (the peak
    of the same process after it has ingested one good row first).

    Before, every rejected line of a file stayed in memory until the file's end (about 0.5 KB
    each; 1.6 million broken lines took 945 MB; here about 120 MB more than one good row):
    broken JSON Lines, CSV rows with the wrong number of fields (past MAX_BAD_ROWS_PER_BLOCK in
    one parse block) and the lines after a quote never closed (past the parse block: the
    line-by-line reader).  Now they go to disk in chunks: about 35 MB more, whatever the count.
    Personal-data masking is left out (``reveal_pii``): it costs time per row, not memory.
    300,000 lines held in memory would take some 150 MB, well past the bound of 64 MB.
    """
    n = 100_000
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.csv").write_text(HEADER + _row(1) + "\n", encoding="utf-8")

    hostile = tmp_path / "hostile"
    hostile.mkdir()
    broken = "{" + "x" * 60 + "\n"
    (hostile / "broken.jsonl").write_text(_message(2) + "\n" + broken * n + _message(3) + "\n", encoding="utf-8")
    (hostile / "fields.csv").write_text(HEADER + _row(4) + "\n" + "x\n" * n + _row(5) + "\n", encoding="utf-8")
    quote = 'P1,"81151257914085620006,销售,2026-01-01 10:00:00\n'
    (hostile / "quote.csv").write_text(HEADER + _row(7) + "\n" + quote + ("x" * 60 + "\n") * n + _row(8) + "\n",
                                       encoding="utf-8")
    ws = tmp_path / "ws"
    baseline, peak, files = _peak_and_report((tmp_path / "ws0", folder / "good.csv"), ws, hostile)
    assert peak - baseline < 64, f"peak RSS {peak:.0f} MB, {peak - baseline:.0f} MB above one good row"

    expect = {"broken.jsonl": (n + 2, 2, n), "fields.csv": (n + 2, 2, n), "quote.csv": (n + 3, 2, n + 1)}
    assert {name: (f["read"], f["accepted"], f["quarantined"]) for name, f in files.items()} == expect
    assert any("read line by line" in note for note in files["fields.csv"]["notes"])
    assert any("read line by line" in note for note in files["quote.csv"]["notes"])
    with open(ws / "quarantine.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(q for _, _, q in expect.values())
    lines = {}
    for row in rows:
        lines.setdefault(row["source_file"].rsplit("/", 1)[-1], []).append(int(row["source_line"]))
    assert lines["broken.jsonl"] == list(range(2, n + 2))
    assert lines["fields.csv"] == list(range(3, n + 3))
    assert lines["quote.csv"] == list(range(3, n + 4))
    from rxring.ingest import read_events

    events = read_events(ws)
    where = dict(zip(events["trace_code"], events["source_line"]))
    assert (where[f"{CODE_STEM}0003"], where[f"{CODE_STEM}0005"], where[f"{CODE_STEM}0008"]) == (n + 2, n + 3, n + 4)


# ------------------------------------------------------------------ files that are not read

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks")
def test_fifos_broken_symlinks_and_duplicates_are_listed_never_silently_skipped(tmp_path):
    """A FIFO is never opened (an ingest would wait for a writer for ever); it, a broken symlink,
    a symlink to a folder and a second copy of a file all appear in the table and the manifest."""
    folder, ws = tmp_path / "in", tmp_path / "ws"
    folder.mkdir()
    (folder / "a.csv").write_text(HEADER + _row(1) + "\n", encoding="utf-8")
    (folder / "b_copy.csv").write_bytes((folder / "a.csv").read_bytes())
    os.mkfifo(folder / "c.fifo")
    (folder / "d_dangling.csv").symlink_to(tmp_path / "gone.csv")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "e.csv").write_text(HEADER + _row(2) + "\n", encoding="utf-8")
    (folder / "e_folder").symlink_to(tmp_path / "other", target_is_directory=True)
    for run in range(2):
        done = _cli("ingest", str(folder), "-w", str(ws), "--no-progress", "--json")
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        files = {Path(f["path"]).name: f for f in json.loads(done.stdout)["files"]}
        assert set(files) == {"a.csv", "b_copy.csv", "c.fifo", "d_dangling.csv", "e_folder"}
        assert files["a.csv"]["status"] == ("ingested" if run == 0 else "already ingested")
        assert files["b_copy.csv"]["status"] == "already ingested"
        assert files["b_copy.csv"]["message"] == f"skipped as a duplicate of {folder.as_posix()}/a.csv (same content, SHA-256)"
        assert (files["c.fifo"]["status"], files["c.fifo"]["message"]) == (
            "error", "not a regular file (a FIFO (named pipe)); not opened")
        assert files["d_dangling.csv"]["status"] == "error" and files["d_dangling.csv"]["message"].startswith(
            "broken symlink")
        assert files["e_folder"]["status"] == "error" and "symlink to a folder" in files["e_folder"]["message"]

        manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
        assert [Path(e["path"]).name for e in manifest["inputs"]] == ["a.csv"]
        rejected = {Path(r["path"]).name: r for r in manifest["rejected"]}
        assert len(manifest["rejected"]) == 3  # one record per file, however many runs
        assert rejected["c.fifo"]["reason"].startswith("not a regular file")
        assert rejected["d_dangling.csv"]["reason"].startswith("broken symlink")
        assert "symlink to a folder" in rejected["e_folder"]["reason"]
        assert [(Path(d["path"]).name, Path(d["duplicate_of"]).name) for d in manifest["duplicates"]] == [
            ("b_copy.csv", "a.csv")]
        assert manifest["duplicates"][0]["sha256"] == manifest["inputs"][0]["sha256"]


def test_a_part_renamed_before_the_kill_is_not_read_and_the_next_ingest_removes_it(tmp_path):
    """Killed (SIGKILL) after an input's event part was renamed into place, before the manifest
    recorded the input: readers use only the parts the manifest names, the next ingest deletes
    the orphan, and the input is read again when it is given again."""
    from rxring.workspace import Workspace

    folder, ws = tmp_path / "in", tmp_path / "ws"
    folder.mkdir()
    for k, rows in enumerate((3, 5, 7)):
        (folder / f"f{k}.csv").write_text(HEADER + "".join(_row(10 * k + i) + "\n" for i in range(rows)),
                                          encoding="utf-8")
    assert _cli_here("ingest", str(folder / "f0.csv"), "-w", str(ws), "--no-progress").returncode == 0
    killed = _cli("ingest", str(folder / "f1.csv"), "-w", str(ws), "--no-progress",
                  env={"RXRING_FAULT_AT": "ingest-after-part"})
    assert killed.returncode != 0
    workspace = Workspace(ws)
    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    committed = [entry["part"] for entry in manifest["inputs"]]
    on_disk = sorted(p.name for p in (ws / "events").glob("*.parquet"))
    assert len(committed) == 1 and len(on_disk) == 2  # f1's part is in place, the manifest does not know it
    assert [p.name for p in workspace.event_parts()] == committed
    assert [p.name for p in workspace.orphan_parts()] == sorted(set(on_disk) - set(committed))
    assert len(workspace.read_events()) == 3

    analysed = _cli_here("analyze", "-w", str(ws), "--no-progress", "--json")
    assert analysed.returncode == 0, analysed.stderr
    assert json.loads(analysed.stdout)["stats"]["events_read"] == 3  # not 3 + 5

    assert _cli_here("ingest", str(folder / "f2.csv"), "-w", str(ws), "--no-progress").returncode == 0
    assert workspace.orphan_parts() == []
    assert len(list((ws / "events").glob("*.parquet"))) == 2 and len(workspace.read_events()) == 3 + 7
    again = _cli_here("ingest", str(folder / "f1.csv"), "-w", str(ws), "--no-progress", "--json")
    assert json.loads(again.stdout)["files"][0]["status"] == "ingested"
    assert len(workspace.read_events()) == 3 + 5 + 7


def test_write_event_part_refuses_an_ingest_part_name(tmp_path):
    from rxring.schema import EVENT_SCHEMA
    from rxring.workspace import Workspace

    with pytest.raises(ValueError, match="reserved for ingest"):
        Workspace(tmp_path, create=True).write_event_part("0123456789abcdef", EVENT_SCHEMA.empty_table())
    assert not list((tmp_path / "events").glob("*"))  # nothing written


# ------------------------------------------------------------------ a ZIP whose headers lie

def _zip_declaring(member: str, declared: int, inflated: int) -> bytes:
    """A workbook-shaped ZIP whose ``member`` inflates to ``inflated`` bytes of "A" while its local
    and central headers declare ``declared`` bytes (the header bytes patched after writing)."""
    import struct

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open(member, "w") as fh:
            block = b"A" * (1 << 20)
            for _ in range(inflated >> 20):
                fh.write(block)
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo(member)
    struct.pack_into("<L", data, info.header_offset + 22, declared)  # local header: uncompressed size
    at = data.find(b"PK\x01\x02")
    while at >= 0:  # central directory entries: uncompressed size at 24, name length at 28, name at 46
        length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46:at + 46 + length]) == member.encode():
            struct.pack_into("<L", data, at + 24, declared)
        at = data.find(b"PK\x01\x02", at + 4)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        assert zf.getinfo(member).file_size == declared  # what the archive claims
    return bytes(data)


def test_a_zip_header_that_lies_about_the_size_is_stopped_by_the_bytes_counted(tmp_path, monkeypatch, run_ingest):
    """The sheet declares 1 KB (so the declared-size checks pass) and inflates to 256 MiB."""
    path = tmp_path / "in" / "liar.xlsx"
    path.parent.mkdir()
    path.write_bytes(_zip_declaring("xl/worksheets/sheet1.xml", 1024, 256 << 20))
    assert path.stat().st_size < 1 << 20
    report, events, _ = run_ingest(path)
    f = report.files[0]
    assert (f.status, f.read, f.accepted, f.quarantined) == ("error", 0, 0, 0)
    assert "XLSX member xl/worksheets/sheet1.xml inflates more than 200 times" in f.message
    assert "though its header declares 1,024" in f.message and "RXRING_MAX_RATIO" in f.message
    assert events.empty

    # the ratio raised: the total counted stops it at RXRING_MAX_DECOMPRESSED
    monkeypatch.setenv("RXRING_MAX_RATIO", "1e9")
    monkeypatch.setenv("RXRING_MAX_DECOMPRESSED", "64M")
    report, _, _ = run_ingest(path, workspace=tmp_path / "ws2")
    f = report.files[0]
    assert f.status == "error" and "the XLSX inflates to more than 67,108,864 bytes (counted while inflating" in f.message


def test_check_zip_inflation_counts_a_truthful_archive_too(tmp_path):
    from rxring.ingest.sniff import check_zip_inflation

    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("small.xml", "<a/>" * 1000)
        zf.writestr("stored.bin", b"x" * 5000, compress_type=zipfile.ZIP_STORED)
    check_zip_inflation(path, Limits(max_decompressed=9000))  # 4000 + 5000 bytes: within
    with pytest.raises(InputLimit, match="inflates to more than 8,999 bytes"):
        check_zip_inflation(path, Limits(max_decompressed=8999))
