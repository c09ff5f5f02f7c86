"""Bad input never traces back: a clear status per file, or quarantine rows."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest

from rxring.errors import RxringError
from rxring.ingest import ingest
from rxring.ingest.sniff import sniff


@pytest.mark.parametrize(
    "content, fmt, reason",
    [
        (b"", "empty", "empty"),
        (b"  \n\n", "empty", "empty"),
        (bytes(range(256)) * 40, "unknown", "binary"),
        (b"\x1f\x8b\x08\x00broken", "unknown", "gzip"),
        (b"PK\x03\x04" + b"\x00" * 40, "unknown", "ZIP"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "unknown", ".xls"),
    ],
)
def test_sniff_rejects_what_it_cannot_read(tmp_path, content, fmt, reason):
    path = tmp_path / "input.dat"
    path.write_bytes(content)
    s = sniff(path)
    assert s.format == fmt
    assert reason.lower() in (s.reason or "").lower()


def test_undecodable_text_is_unknown_encoding(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n" + bytes([0x81, 0x20, 0xFF, 0xFE, 0x80, 0x21]) * 50)
    s = sniff(path)
    assert s.format in ("unknown", "csv")
    if s.format == "unknown":
        assert "encoding" in s.reason


def test_zip_that_is_not_a_workbook(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", "x,y\n")
    path = tmp_path / "bundle.zip"
    path.write_bytes(buf.getvalue())
    assert "not an XLSX" in sniff(path).reason


def test_missing_required_column_is_one_clear_error(tmp_path):
    path = tmp_path / "nosite.csv"
    path.write_text("追溯码,业务类型,业务时间\n81151257914085623274,销售,2026-01-01\n", encoding="utf-8")
    report = ingest([path], tmp_path / "ws", progress=False)
    f = report.files[0]
    assert f.status == "error"
    assert "missing required column site_id" in f.message and "机构编码" in f.message
    assert (f.read, f.accepted, f.quarantined) == (0, 0, 0)
    assert not report.usable


def test_no_event_type_and_no_sale_columns_is_an_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("追溯码,机构编码,时间\n81151257914085623274,P1,2026-01-01\n", encoding="utf-8")
    f = ingest([path], tmp_path / "ws", progress=False).files[0]
    assert f.status == "error" and "event_type" in f.message


def test_header_only_file_reads_nothing_but_balances(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("追溯码,机构编码,业务类型,业务时间\n", encoding="utf-8")
    report = ingest([path], tmp_path / "ws", progress=False)
    assert report.files[0].status == "ingested" and report.read == 0 and report.balanced


def test_truncated_gzip_midway_is_an_error_not_a_traceback(tmp_path):
    rows = "".join(f"8115125791408{i:07d},P1,销售,2026-01-01 10:00:00\n" for i in range(20000))
    data = gzip.compress(("追溯码,机构编码,业务类型,业务时间\n" + rows).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    report = ingest([path], tmp_path / "ws", progress=False)
    f = report.files[0]
    assert f.status in ("error", "unknown format")
    assert f.message


def test_invalid_json_document_is_an_error(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('{\n  "infno": "3505",\n  "msgid": ', encoding="utf-8")
    f = ingest([path], tmp_path / "ws", progress=False).files[0]
    assert f.status == "error" and "invalid JSON at line 3" in f.message


def test_truncated_json_array_keeps_the_good_items_and_quarantines_the_tail(tmp_path):
    good = {"infno": "3505", "msgid": "A", "fixmedins_code": "P1", "sel_retn_time": "2026-01-01 10:00:00",
            "drug_trac_codg": "81151257914085620001"}
    text = "[\n" + json.dumps(good) + ",\n" + json.dumps(dict(good, msgid="B"))[:-30]
    path = tmp_path / "cut.json"
    path.write_text(text, encoding="utf-8")
    report = ingest([path], tmp_path / "ws", progress=False)
    f = report.files[0]
    assert (f.status, f.read, f.accepted, f.quarantined) == ("ingested", 2, 1, 1)
    quarantine = (tmp_path / "ws" / "quarantine.csv").read_text(encoding="utf-8")
    assert "invalid JSON in item 2" in quarantine


def test_missing_input_path_is_a_user_error(tmp_path):
    with pytest.raises(RxringError, match="does not exist"):
        ingest([tmp_path / "nope.csv"], tmp_path / "ws", progress=False)
    with pytest.raises(RxringError, match="no input"):
        ingest([], tmp_path / "ws", progress=False)


def test_workspace_inside_input_folder_is_not_ingested(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_text("追溯码,机构编码,业务类型,业务时间\n81151257914085623274,P1,销售,2026-01-01\n", encoding="utf-8")
    ingest([folder], folder / "ws", progress=False)
    report = ingest([folder], folder / "ws", progress=False)
    assert [f.path.rsplit("/", 1)[-1] for f in report.files] == ["a.csv"]


def test_a_stray_bad_byte_quarantines_its_row_only(tmp_path):
    head = "机构编码,追溯码,业务类型,业务时间\n".encode("gbk")
    good = "P1,81151257914085623274,销售,2026-01-01 10:00:00\n".encode("gbk")
    bad = b"P1,8115125791408562\xff\xff75,\xc4\xe3,2026-01-01 10:00:00\n"
    path = tmp_path / "x.csv"
    path.write_bytes(head + good * 3 + bad + good.replace(b"74", b"76"))
    report = ingest([path], tmp_path / "ws", progress=False)
    f = report.files[0]
    assert f.status == "ingested"
    assert (f.read, f.accepted, f.quarantined) == (5, 4, 1)
    assert any("U+FFFD" in n for n in f.notes)


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 1 << 20])
@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_recoder_repairs_bad_bytes_across_block_boundaries(block, encoding):
    from rxring.ingest.sniff import Utf8Recoder

    text = "机构编码,追溯码\n" * 50
    src = text.encode(encoding) + b"\xff" + "药".encode(encoding)
    recoder = Utf8Recoder(io.BytesIO(src), encoding, block=block)
    out = recoder.read().decode("utf-8")
    assert out == src.decode(encoding, errors="replace")
    assert recoder.replaced == 1


def test_the_workspace_itself_is_not_an_input(tmp_path):
    ws = tmp_path / "ws"
    path = tmp_path / "a.csv"
    path.write_text("追溯码,机构编码,业务类型,业务时间\n81151257914085623274,P1,销售,2026-01-01\n", encoding="utf-8")
    ingest([path], ws, progress=False)
    with pytest.raises(RxringError, match="inside the workspace"):
        ingest([ws], ws, progress=False)


def test_unreadable_file_is_reported_not_raised(tmp_path, monkeypatch):
    import rxring.ingest.pipeline as pipeline

    path = tmp_path / "locked.csv"
    path.write_text("追溯码,机构编码,业务类型,业务时间\n", encoding="utf-8")

    def denied(p, sm3=True):
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(pipeline, "file_digests", denied)   # the read that hashes it (SHA-256 and SM3)
    report = ingest([path], tmp_path / "ws", progress=False)
    assert report.files[0].status == "error" and "Permission denied" in report.files[0].message


def test_workspace_that_is_a_file_is_a_user_error(tmp_path, fixtures):
    target = tmp_path / "ws"
    target.write_text("not a folder", encoding="utf-8")
    with pytest.raises(RxringError, match="is a file"):
        ingest([fixtures / "sales_gbk.csv"], target, progress=False)


def test_a_second_ingest_into_a_busy_workspace_is_refused(tmp_path, fixtures):
    import fcntl

    ws = tmp_path / "ws"
    ws.mkdir()
    with open(ws / ".ingest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(RxringError, match="another rxring ingest"):
            ingest([fixtures / "sales_gbk.csv"], ws, progress=False)
    assert ingest([fixtures / "sales_gbk.csv"], ws, progress=False).files[0].accepted == 4


def test_damaged_xlsx_is_an_error(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("xl/workbook.xml", "<not really a workbook")
    path = tmp_path / "broken.xlsx"
    path.write_bytes(buf.getvalue())
    f = ingest([path], tmp_path / "ws", progress=False).files[0]
    assert (f.format, f.status) == ("xlsx", "error")
    assert "XLSX" in f.message
