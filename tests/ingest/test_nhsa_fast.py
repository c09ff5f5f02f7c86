"""The block reader of NHSA JSON Lines (orjson, plain 进销存 messages columnar: formats/nhsa_fast.py) gives
exactly what the line reader gives: the same chunks (records, rows, order, rejects, deletions, fee details,
skipped, raw text), and the same workspace (every event column, quarantine, manifest accounting)."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import rxring.ingest.formats.jsonfmt as jsonfmt
from rxring.ingest import ingest
from rxring.ingest.formats.jsonfmt import jsonl_block_chunks, jsonl_chunks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
CODE = "8115125791408562{:04d}"

# Messages of every shape and oddity: the plain ones are read columnar, the others line by line.
_ODD_LINES = [
    # plain shapes: fields at the top level, input itself, input.selinfo object / list
    {"infno": "3505", "msgid": "T1", "fixmedins_code": "P1", "med_list_codg": "X1", "sel_retn_cnt": 2,
     "finl_trns_pric": 10.5, "sel_retn_time": "2026-01-02 10:00:00", "psn_no": "A1",
     "drugtracinfo": [{"drug_trac_codg": CODE.format(1)}, {"drug_trac_codg": CODE.format(2)}]},
    {"infno": "3503", "msgid": "T2", "fixmedins_code": "P1", "input": {"med_list_codg": "X2", "purc_retn_cnt": "3",
     "finl_trns_pric": "7.25", "spler_name": " 上海医药　", "drug_trac_codg": CODE.format(3)}},
    {"infno": "3505", "msgid": "T3", "fixmedins_code": "P1", "psn_no": "TOP", "input": {"selinfo": [
        {"med_list_codg": "X3", "psn_no": "", "sel_retn_cnt": 4, "trdn_flag": "1", "fund_pay_sumamt": 3,
         "drugtracinfo": [{"drug_trac_codg": CODE.format(4)}]},
        {"med_list_codg": "X3", "psn_no": None, "fixmedins_code": "P2", "sel_retn_cnt": -1, "mdtrt_sn": "",
         "mdtrt_id": 99, "drugtracinfo": {"drug_trac_codg": CODE.format(5)}}]}},
    {"infno": "3502", "msgid": "T4", "fixmedins_code": "P1", "input": {"invinfo": {"inv_chg_type": "102", "cnt": 1,
     "inv_chg_time": "2026-01-03", "drug_trac_codg": CODE.format(6)}}},
    {"infno": "3501", "fixmedins_code": "P1", "invdate": "2026-01-04", "inv_cnt": 1.0, "trdn_flag": "TRUE",
     "drugtracinfo": [{"drug_trac_codg": CODE.format(7)}, {"other": 1}]},
    {"infno": "3506", "msgid": 12345, "fixmedins_code": "P1", "medins_prod_sel_no": "R9", "sel_retn_cnt": 1,
     "sel_retn_time": "2026-01-05", "prsc_dr_name": "医师 ", "drug_trac_codg": CODE.format(8)},
    {"infno": "3504", "msgid": "T6", "fixmedins_code": "P1", "input": {"purcinfo": {"purc_retn_cnt": 1,
     "spler_name": "S", "phar_certno": "\u2003PH\u00a0", "drugtracinfo": [{"drug_trac_codg": " " + CODE.format(9)}]}}},
    # batch twins: rows with their own codes, the only row with the list beside it, a batch infno with a plain body
    {"infno": "3505A", "msgid": "B1", "fixmedins_code": "P1", "input": {"selinfoDetail": [
        {"med_list_codg": "X5", "sel_retn_cnt": 2, "psn_no": "A5", "drugtracinfo": [
            {"drug_trac_codg": CODE.format(60)}, {"drug_trac_codg": CODE.format(61)}]},
        {"med_list_codg": "X6", "sel_retn_cnt": 1, "fixmedins_code": "P3", "drug_trac_codg": CODE.format(62)}]}},
    {"infno": "3503A", "msgid": "B2", "fixmedins_code": "P1", "input": {"purcinfoDetail": [
        {"med_list_codg": "X7", "purc_retn_cnt": 2, "spler_name": "S"}],
        "drugtracinfo": [{"drug_trac_codg": CODE.format(63)}, {"drug_trac_codg": CODE.format(64)}]}},
    {"infno": "3502A", "msgid": "B3", "fixmedins_code": "P1", "drugtracinfo": [{"drug_trac_codg": CODE.format(65)}],
     "input": {"invinfoDetail": {"inv_chg_type": "101", "cnt": 1}}},
    {"infno": "3501A", "msgid": "B4", "fixmedins_code": "P1", "input": {"invinfo": {"inv_cnt": 1,
     "drug_trac_codg": CODE.format(66)}}},
    # not plain: read the general way
    {"infno": "3505A", "msgid": "N20", "fixmedins_code": "P1", "input": {"selinfoDetail": [
        {"sel_retn_cnt": 1}, {"sel_retn_cnt": 1}], "drugtracinfo": [{"drug_trac_codg": CODE.format(67)}]}},
    {"infno": "3505A", "msgid": "N21", "fixmedins_code": "P1", "input": {"selinfoDetail": [
        {"sel_retn_cnt": 1}], "drugtracinfo": []}},
    {"infno": "3505", "msgid": "N1", "fixmedins_code": "P1", "sel_retn_cnt": "1,000", "drug_trac_codg": CODE.format(10)},
    {"infno": "3505", "msgid": "N2", "fixmedins_code": "P1", "sel_retn_cnt": "many", "drug_trac_codg": CODE.format(11)},
    {"infno": "3505", "msgid": "N3", "fixmedins_code": "P1", "sel_retn_cnt": True, "drug_trac_codg": CODE.format(12)},
    {"infno": "3505", "msgid": "N4", "fixmedins_code": "P1", "psn_no": 1.5, "drug_trac_codg": CODE.format(13)},
    {"infno": "3505", "msgid": "N5", "fixmedins_code": "P1"},
    {"infno": "3505", "msgid": "N6", "fixmedins_code": "P1", "drug_trac_codg": CODE.format(14) + "," + CODE.format(15)},
    {"infno": "3505", "msgid": "N7", "fixmedins_code": "P1", "input": {"selinfo": [1, {"drug_trac_codg": CODE.format(16)}]}},
    {"infno": "3505", "msgid": "N8", "fixmedins_code": "P1", "input": {"selinfo": []}},
    {"infno": "3505", "msgid": "N9", "fixmedins_code": "P1", "input": {"selinfo": None}},
    {"infno": "3505", "msgid": "N10", "fixmedins_code": "P1", "input": [{"drug_trac_codg": CODE.format(17)}]},
    {"infno": "3505", "msgid": "N11", "fixmedins_code": "P1", "data": {"drug_trac_codg": CODE.format(18)}},
    {"infno": "3505A", "msgid": "N12", "fixmedins_code": "P1", "input": {"selinfoDetail": []}},
    {"infno": "3507", "msgid": "N13", "fixmedins_code": "P1", "input": {"data": {"fixmedins_bchno": "B1"}}},
    {"infno": 3505, "msgid": "N14", "drug_trac_codg": CODE.format(20)},
    {"infno": "9001", "msgid": "N15"},
    {"request": {"infno": "3505", "msgid": "N16", "fixmedins_code": "P1", "drug_trac_codg": CODE.format(21)}},
    {"trace_code": CODE.format(22), "site_id": "P1", "event_type": "dispense", "event_time": "2026-01-01"},
]
_RAW_LINES = [
    '{"infno": "3505", "msgid": "D1", "psn_no": "first", "psn_no": "last", "drug_trac_codg": "%s"}' % CODE.format(30),
    '{"infno": "3505", "msgid": "D2", "sel_retn_cnt": NaN, "drug_trac_codg": "%s"}' % CODE.format(31),
    '{"infno": "3505", "msgid": "D3", "psn_no": 123456789012345678901234567890, "drug_trac_codg": "%s"}' % CODE.format(32),
    '{"infno": "3505", "msgid": "D4", "drug_trac_codg": 81151257914085623274}',
    '{"infno": "3505", "msgid": "D6", "psn_no": "\\u4e2d\\t", "drug_trac_codg": "%s"}' % CODE.format(34),
    '{"infno": "3505", "msgid": "D11", "psn_no": "\\ud800", "drug_trac_codg": "%s"}' % CODE.format(39),
    # settlement-channel lines are taken as orjson parsed them unless it read an integer beyond 64 bits as a float
    '{"infno": "2204", "msgid": "D13", "fixmedins_code": "H1", "input": {"feedetail": [{"feedetl_sn": '
    '123456789012345678901234567890, "cnt": 1, "pric": 2}]}}',
    '{"infno": "2207", "msgid": "D14", "fixmedins_code": "H1", "input": {"data": {"psn_no": 18446744073709551615}, '
    '"drug_trac_info": [{"feedetl_sn": 123456789012345678901234567890, "drug_trac_codg": "%s"}]}}' % CODE.format(41),
    '{"infno": "3505", "msgid": "D12", "psn_no": "\\ud83d\\ude00", "drug_trac_codg": "%s"}' % CODE.format(40),
    '{"infno": "3505", "msgid": "D7", "drug_trac_codg": "%s",}' % CODE.format(35),
    '  {"infno": "3505", "msgid": "D8", "drug_trac_codg": "%s"}  ' % CODE.format(36),
    '\ufeff{"infno": "3505", "msgid": "D9", "drug_trac_codg": "%s"}' % CODE.format(37),
    '{"infno": "3505", "msgid": broken',
    '[1, 2]',
    '',
    '   ',
    '{"infno": "3505", "msgid": "D10", "x": ' + "[" * 120 + "]" * 120 + ', "drug_trac_codg": "%s"}' % CODE.format(38),
]


def _odd_text(copies: int = 3, crlf: bool = True) -> str:
    lines = []
    for c in range(copies):
        for m in _ODD_LINES:
            m = dict(m, msgid=f"{m['msgid']}-{c}") if isinstance(m.get("msgid"), str) else m
            lines.append(json.dumps(m, ensure_ascii=c % 2 == 1))
        lines.extend(_RAW_LINES)
    for name in ("nhsa_messages.jsonl", "nhsa_3507.jsonl", "nhsa_channels.jsonl"):
        lines.extend((FIXTURES / name).read_text(encoding="utf-8").splitlines())
    return "".join(line + ("\r\n" if crlf and i % 3 == 0 else "\n") for i, line in enumerate(lines))


def _chunks(data: bytes, fast: bool, monkeypatch, first_line: int = 1):
    kinds: Counter = Counter()
    if fast:
        chunks = list(jsonl_block_chunks(io.BytesIO(data), first_line, "utf-8", "abcd", "f.jsonl", kinds))
    else:
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=jsonfmt.errors_for("utf-8"), newline="")
        chunks = list(jsonl_chunks(text, first_line, "abcd", "f.jsonl", kinds))
    out = []
    for chunk in chunks:
        records = chunk.records
        lines = records.column("_line").to_pylist() if records is not None else []
        out.append((records, chunk.rejects, chunk.deletions, chunk.fee_details, dict(chunk.skipped), chunk.missing_fee,
                    chunk.raw_lookup(lines) if lines else []))
    return out, kinds


def _assert_same(data: bytes, monkeypatch, first_line: int = 1):
    slow, slow_kinds = _chunks(data, False, monkeypatch, first_line)
    fast, fast_kinds = _chunks(data, True, monkeypatch, first_line)
    assert fast_kinds == slow_kinds
    # the block reader may hand on one more (empty) chunk at the end
    while len(fast) > len(slow) and fast[-1][0] is None and not any(fast[-1][1:]):
        fast.pop()
    assert len(fast) == len(slow)
    for a, b in zip(slow, fast):
        assert (a[0] is None) == (b[0] is None)
        if a[0] is not None:
            assert b[0].schema == a[0].schema
            for name in a[0].column_names:
                assert b[0].column(name).to_pylist() == a[0].column(name).to_pylist(), name
        assert b[1:] == a[1:]
    return fast


def test_block_reader_reads_every_shape_as_the_line_reader(monkeypatch):
    data = _odd_text().encode("utf-8")
    fast = _assert_same(data, monkeypatch)
    records = [r for chunk in fast if chunk[0] is not None for r in chunk[0].to_pylist()]
    assert {r["message_id"] for r in records} >= {"T1-0", "T3-2", "B1-1", "N20-1"}  # plain and general ones


def test_plain_messages_are_read_columnar(monkeypatch):
    """The plain messages do take the fast way (else this test would pass with the line reader alone)."""
    taken = []
    original = jsonfmt.fast_rows

    def spy(message, line, sha16, out):
        ok = original(message, line, sha16, out)
        taken.append((message.get("msgid"), ok))
        return ok

    monkeypatch.setattr(jsonfmt, "fast_rows", spy)
    list(jsonl_block_chunks(io.BytesIO(_odd_text(1).encode("utf-8")), 1, "utf-8", "abcd", "f.jsonl", Counter()))
    fast = {m for m, ok in taken if ok}
    # orjson keeps the last of a repeated key as json does (D1); codes in one cell are split alike (N6);
    # "1,000" is a number to both (N1); a float or an integer beyond 64 bits in a text field is text (N4, D3:
    # orjson reads that integer as a float, so the chunk's plain messages are read again with json)
    assert {"T1-0", "T2-0", "T3-0", "T4-0", "T6-0", None, 12345, "D1", "N6-0", "N1-0", "N4-0", "D3",
            "B1-0", "B2-0", "B3-0", "B4-0"} <= fast
    assert not fast & {"N2-0", "N3-0", "N5-0", "N7-0", "N8-0", "N9-0", "N10-0", "N11-0", "N12-0", "N20-0", "N21-0",
                       "D4"}


@pytest.mark.parametrize("block", [64, 1000, 1 << 20])
def test_block_boundaries_chunks_and_lone_cr(monkeypatch, block):
    """Blocks cut anywhere, chunks of a few records (cut where the line reader cuts), lone CRs, a first line number."""
    monkeypatch.setattr(jsonfmt, "BLOCK_BYTES", block)
    monkeypatch.setattr(jsonfmt, "BATCH_RECORDS", 7)
    text = _odd_text(2)
    text = text.replace('"T4-1"', '"T4-1"\r').replace("\r\n", "\r", 1)  # a lone CR inside a line, and one as a break
    _assert_same(text.encode("utf-8"), monkeypatch, first_line=41)


def test_long_lines_invalid_utf8_and_no_final_newline(monkeypatch):
    monkeypatch.setenv("RXRING_MAX_LINE_BYTES", "3000")
    monkeypatch.setattr(jsonfmt, "BLOCK_BYTES", 1024)
    head = _odd_text(1, crlf=False).encode("utf-8")
    long_line = json.dumps({"infno": "3505", "msgid": "L1", "x": "y" * 5000, "drug_trac_codg": CODE.format(50)})
    near = json.dumps({"infno": "3505", "msgid": "L2", "x": "中" * 990, "drug_trac_codg": CODE.format(51)},
                      ensure_ascii=False)  # over 3000 bytes, under 3000 characters
    gbk = '{"infno": "3505", "msgid": "G1", "psn_no": "张三", "drug_trac_codg": "%s"}' % CODE.format(52)
    data = (head + long_line.encode() + b"\n" + near.encode() + b"\n" + gbk.encode("gbk") + b"\n" + head
            + b'{"infno": "3505", "msgid": "E1", "drug_trac_codg": "' + CODE.format(53).encode() + b'"}')
    _assert_same(data, monkeypatch)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_lone_surrogate_quarantines_its_message_and_the_rest_is_read(tmp_path, suffix):
    """``\\ud800`` alone (Python's json reads it, no UTF-8 text holds it) used to stop the whole file."""
    lines = ['{"infno": "3505", "msgid": "S%d", "fixmedins_code": "P1", "sel_retn_time": "2026-01-02 10:00", '
             '"psn_no": "%s", "drug_trac_codg": "%s"}' % (i, psn, CODE.format(70 + i)) for i, psn in enumerate(["A", "\\ud800", "\\udfff\\ud800", "\\ud83d\\ude00"])]
    path = tmp_path / f"s{suffix}"
    path.write_text("\n".join(lines) + "\n" if suffix == ".jsonl" else "[" + ",\n".join(lines) + "]", encoding="utf-8")
    report = ingest([str(path)], tmp_path / "ws", progress=False)
    f = report.files[0]
    assert (f.read, f.accepted, f.quarantined) == (4, 2, 2) and report.balanced
    quarantine = (tmp_path / "ws" / "quarantine.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert [q.split(",")[1] for q in quarantine] == ["2", "3"]
    assert all(jsonfmt.LONE_SURROGATE in q for q in quarantine)
    events = pq.read_table(tmp_path / "ws" / "events").column("event_id").to_pylist()
    assert sorted(events) == ["S0:0:0", "S3:0:0"]  # a surrogate pair is one character: read


def _workspace(ws: Path):
    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    keys = ("format", "read", "accepted", "quarantined", "skipped", "skipped_infno", "events", "deletions",
            "fee_details", "blank", "part", "notes")
    entries = [{k: e.get(k) for k in keys} for e in manifest["inputs"]]
    parts = {e["part"]: pq.read_table(ws / "events" / e["part"]) for e in manifest["inputs"] if e.get("part")}
    quarantine = (ws / "quarantine.csv").read_text(encoding="utf-8") if (ws / "quarantine.csv").exists() else ""
    deletions = pq.read_table(ws / "deletions.parquet").to_pylist() if (ws / "deletions.parquet").exists() else []
    return entries, parts, quarantine, deletions


def _same_workspaces(inputs, tmp_path, monkeypatch):
    out = []
    for fast in ("0", "1"):
        monkeypatch.setenv("RXRING_NHSA_FAST", fast)
        ws = tmp_path / f"ws-{fast}"
        report = ingest([str(p) for p in inputs], ws, progress=False)
        assert report.balanced
        out.append(_workspace(ws))
    (e0, p0, q0, d0), (e1, p1, q1, d1) = out
    assert e1 == e0
    assert p1.keys() == p0.keys()
    for name, table in p0.items():
        assert p1[name].schema == table.schema
        assert p1[name].equals(table), name
    assert q1 == q0
    assert d1 == d0
    return out[0]


def test_workspace_identical_on_fixtures(tmp_path, monkeypatch):
    odd = tmp_path / "odd.jsonl"
    odd.write_bytes(_odd_text().encode("utf-8"))
    inputs = sorted(FIXTURES.glob("*.jsonl")) + [odd]
    entries, parts, quarantine, _ = _same_workspaces(inputs, tmp_path, monkeypatch)
    assert quarantine.count("\n") > 10 and sum(t.num_rows for t in parts.values()) > 50


def test_workspace_identical_on_a_generated_city(tmp_path, monkeypatch):
    from rxring.synth import generate

    generate(tmp_path / "city", seed=3, events=20_000, fmt="nhsa")
    inputs = sorted((tmp_path / "city" / "inputs").glob("*.jsonl"))
    assert inputs
    entries, parts, _, _ = _same_workspaces(inputs, tmp_path, monkeypatch)
    assert sum(e["events"] for e in entries) >= 15_000


def test_parallel_pieces_use_the_block_reader_and_agree(tmp_path, monkeypatch):
    """A large file split between worker processes: the same workspace with the block reader on and off."""
    import rxring.ingest.parallel as parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "PIECE_BYTES", 4096)
    monkeypatch.setenv("RXRING_INGEST_WORKERS", "2")
    big = tmp_path / "big.jsonl"
    big.write_bytes(_odd_text(8).encode("utf-8").replace(b'"drug_trac_info"', b'"drug_trac_inf0"'))
    _same_workspaces([big], tmp_path, monkeypatch)


def test_whitespace_is_what_str_strip_removes():
    import sys

    from rxring.ingest.formats.nhsa_fast import WHITESPACE

    assert WHITESPACE == "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
