"""Issue 19: exports with headers rxring does not know -- a column map, suggestions and a dry run."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.ingest import ingest, read_events
from rxring.ingest.columnmap import load_column_map
from rxring.ingest.dryrun import dry_run
from rxring.ingest.suggest import suggest_columns, suggest_event_types

from .helpers import rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPORT = FIXTURES / "unknown_export" / "sales_unknown_gbk.csv"
MAP = FIXTURES / "unknown_export.columns.toml"


@pytest.fixture
def export(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return Path(shutil.copy(EXPORT, folder / EXPORT.name))


def _tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- ingest with and without a map

def test_unknown_headers_ingest_exactly_with_the_map(export, tmp_path):
    ws = tmp_path / "ws"
    report = ingest([export], ws, progress=False, column_map=MAP)
    f = report.files[0]
    assert (f.status, f.read, f.accepted, f.quarantined) == ("ingested", 8, 6, 2)
    events = read_events(ws).sort_values("source_line")
    assert rows(events, ["source_line", "event_type", "event_time", "site_id", "trace_code", "product_code",
                         "quantity", "patient_id", "settlement_id"]) == [
        (2, "dispense", pd.Timestamp("2025-05-03 10:30:00"), "MD001", "81151257914085623274", "XJ6238A2042574571355",
         1.0, "PSN001", "JS0001"),
        (3, "dispense", pd.Timestamp("2026-05-03 10:00:00"), "MD001", "81151257914085623275", "XJ6238A2042574571355",
         2.0, "PSN002", "JS0002"),
        (4, "transfer_in", pd.Timestamp("2026-05-03 10:30:15"), "MD002", "81151257914085623276",
         "XJ6238A2042574571355", 1.0, None, None),
        (5, "adjust", pd.Timestamp("2026-05-04 00:00:00"), "MD002", "81151257914085623277", "XJ6238A2042574571355",
         1.0, None, None),
        (6, "dispense", pd.Timestamp("2026-05-03 10:30:15"), "MD001", "81151257914085623278", "XJ6238A2042574571355",
         1.0, "PSN003", "JS0003"),
        (7, "dispense", pd.Timestamp("2026-05-05 09:00:00"), "MD001", "81151257914085623279", "XJ6238A2042574571355",
         1.0, "PSN004", "JS0004"),
    ]
    quarantine = pd.read_csv(ws / "quarantine.csv", dtype=str, keep_default_na=False)
    reasons = dict(zip(quarantine["source_line"].astype(int), quarantine["reason"]))
    assert reasons[8].startswith("unparseable event time '昨天下午' (formats tried: ISO 8601")
    assert reasons[9] == "unknown event type '赠送'"
    # personal ids under a header only the map names are masked in quarantine.csv too
    assert "PSN005" not in quarantine["raw"][quarantine["source_line"] == "8"].iloc[0]


def test_without_a_map_the_error_ends_with_the_suggestions(export, tmp_path):
    report = ingest([export], tmp_path / "ws", progress=False)
    f = report.files[0]
    assert f.status == "unknown format" and f.read == 0
    assert "nearest columns: 追溯码号 -> trace_code, 开票日期 -> event_time, 门店编号 -> site_id, " in f.message
    assert "参保人员编号 -> patient_id, 医保结算号 -> settlement_id" in f.message
    assert f.message.endswith(f"rxring ingest --dry-run {export.as_posix()}")
    result = CliRunner().invoke(cli, ["ingest", str(export), "-w", str(tmp_path / "ws2"), "--no-progress"])
    assert result.exit_code == 2
    assert "nearest columns: 追溯码号 -> trace_code" in result.output


def test_map_recorded_in_the_manifest_and_a_changed_map_is_stated(export, tmp_path):
    ws = tmp_path / "ws"
    ingest([export], ws, progress=False, column_map=MAP)
    manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["inputs"][0]
    assert entry["read"] == entry["accepted"] + entry["quarantined"] + entry["skipped"]
    assert entry["column_map"]["sha256"] == hashlib.sha256(MAP.read_bytes()).hexdigest()
    assert entry["column_map"]["content"] == MAP.read_text(encoding="utf-8")
    changed = tmp_path / "changed.toml"
    changed.write_text(MAP.read_text(encoding="utf-8") + '"赠送" = "dispense"\n', encoding="utf-8")
    before = _tree(ws)
    again = ingest([export], ws, progress=False, column_map=changed).files[0]
    assert again.status == "already ingested"
    assert "a different reading of the same file: nothing added" in again.message
    assert again.column_map["sha256"] == entry["column_map"]["sha256"]
    after = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
    assert after["inputs"] == manifest["inputs"]
    # (the lock file names the last writer and the second it ran: a second ingest rewrites it)
    assert {k: v for k, v in _tree(ws).items() if k not in ("manifest.json", ".ingest.lock")} == {
        k: v for k, v in before.items() if k not in ("manifest.json", ".ingest.lock")}
    same = ingest([export], ws, progress=False, column_map=MAP).files[0]
    assert same.status == "already ingested" and same.message == ""


def test_analyze_takes_the_map(export, tmp_path):
    result = CliRunner().invoke(cli, ["analyze", str(export), "-w", str(tmp_path / "ws"), "--columns", str(MAP),
                                      "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ingest"]["files"][0]["accepted"] == 6
    assert payload["ingest"]["files"][0]["column_map"]["path"] == str(MAP)


def test_default_site_and_untyped_sales(tmp_path):
    data = tmp_path / "store.csv"
    data.write_text("码,时间点,件数\n81151257914085623274,03/05/2026 10:30,1\n", encoding="utf-8")
    cmap = tmp_path / "m.toml"
    cmap.write_text('[columns]\n"码" = "trace_code"\n"时间点" = "event_time"\n"件数" = "quantity"\n'
                    '[times]\nformats = ["%d/%m/%Y %H:%M"]\n[file]\ndefault_site_id = "S9"\nuntyped_are_sales = true\n',
                    encoding="utf-8")
    report = ingest([data], tmp_path / "ws", progress=False, column_map=cmap)
    assert report.files[0].accepted == 1, report.files[0].message
    events = read_events(tmp_path / "ws")
    assert rows(events, ["event_type", "event_time", "site_id"]) == [
        ("dispense", pd.Timestamp("2026-05-03 10:30:00"), "S9")]
    assert any("default_site_id" in n for n in report.files[0].notes)


# ---------------------------------------------------------------- dry run

def test_dry_run_writes_nothing_and_matches_the_ingest(export, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "keep.txt").write_text("x", encoding="utf-8")
    inputs_before, ws_before = _tree(export.parent), _tree(ws)
    result = CliRunner().invoke(cli, ["ingest", str(export), "-w", str(ws), "--columns", str(MAP), "--dry-run",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert _tree(ws) == ws_before and _tree(export.parent) == inputs_before
    f = json.loads(result.output)["files"][0]
    mapping = {m["header"]: (m["column"], m["source"]) for m in f["tables"][0]["mapping"]}
    assert mapping["追溯码号"] == ("trace_code", "map") and mapping["数量"] == ("quantity", "alias")
    assert {v["value"]: v["event_type"] for v in f["event_types"]} == {
        "零售出库": "dispense", "门店调入": "transfer_in", "报废": "adjust", "赠送": None}
    assert len(f["samples"]) == 5 and f["samples"][0]["patient_id"] != "PSN001"  # masked
    report = ingest([export], tmp_path / "real", progress=False, column_map=MAP).files[0]
    assert (f["read"], f["accepted"], f["quarantined"]) == (report.read, report.accepted, report.quarantined)
    quarantine = pd.read_csv(tmp_path / "real" / "quarantine.csv", dtype=str, keep_default_na=False)
    assert sorted(q["reason"] for q in f["quarantine"]) == sorted(quarantine["reason"])
    events = read_events(tmp_path / "real").sort_values("source_line").head(5)
    assert [s["event_type"] for s in f["samples"]] == list(events["event_type"])
    assert [s["event_time"] for s in f["samples"]] == [str(t) for t in events["event_time"]]


def test_dry_run_without_a_map_suggests_one_that_works(export, tmp_path):
    result = CliRunner().invoke(cli, ["ingest", str(export), "--dry-run"])
    assert result.exit_code == 2
    out = result.output
    assert "格式 format: csv/gbk" in out and "未写入任何内容 nothing was written" in out
    assert "追溯码号: trace_code" in out
    files = dry_run([export])
    snippet = files[0]["suggested_map"]
    assert '"零售出库" = "dispense"' in snippet and '"门店调入" = "transfer_in"' in snippet
    assert '"报废" = "adjust"' in snippet
    suggested = tmp_path / "suggested.toml"
    suggested.write_text(snippet, encoding="utf-8")
    f = ingest([export], tmp_path / "ws", progress=False, column_map=suggested).files[0]
    # the suggestions are those of the hand-written map: every row in or accounted for
    assert (f.read, f.accepted, f.quarantined) == (8, 6, 2)
    assert not (tmp_path / "ws2").exists()


# ---------------------------------------------------------------- bad maps

@pytest.mark.parametrize("text, message", [
    ("[columns\n", "(file): not valid TOML"),
    ('[columns]\n"追溯码号" = "tracecode"\n', "columns.'追溯码号': unknown column 'tracecode'"),
    ('[columns]\n"a" = "trace_code"\n"b" = "trace_code"\n', "column trace_code is already mapped from 'a'"),
    ('[event_types]\n"零售出库" = "sale"\n', "event_types.'零售出库': unknown event type 'sale'"),
    ('[times]\nformats = ["%H:%M"]\n', "times.formats: '%H:%M' is no date format"),
    ('[times]\nformats = 3\n', "times.formats: must be a list"),
    ('[times]\nformats = ["%Y-%m-%d %Q"]\n', "times.formats: '%Y-%m-%d %Q' cannot read a time it writes"),
    ('[file]\nuntyped_are_sales = "yes"\n', "file.untyped_are_sales: must be true or false"),
    ('[file]\nsite = "x"\n', "file.site: unknown key"),
    ('[colums]\n', "colums: unknown section"),
])
def test_bad_maps_give_one_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RxringError) as info:
        load_column_map(path)
    assert str(info.value).startswith(f"column map {path}: ")
    assert message in str(info.value) and "\n" not in str(info.value)
    result = CliRunner().invoke(cli, ["ingest", str(EXPORT), "--columns", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and message in result.output


def test_missing_map_file_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["ingest", str(EXPORT), "-w", str(tmp_path / "ws"), "--columns",
                                      str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "cannot read it" in result.output
    assert not (tmp_path / "ws").exists()


# ---------------------------------------------------------------- suggestions

@pytest.mark.parametrize("header, column", [
    ("追溯码号", "trace_code"), ("参保人员编号", "patient_id"), ("开票日期", "event_time"), ("门店编号", "site_id"),
    ("医保结算号", "settlement_id"), ("医保目录编号", "product_code"),
])
def test_header_suggestions(header, column):
    assert suggest_columns(header)[0][0] == column


@pytest.mark.parametrize("value, etype", [("零售出库", "dispense"), ("门店调入", "transfer_in"), ("报废", "adjust")])
def test_value_suggestions(value, etype):
    assert suggest_event_types(value)[0][0] == etype


def test_suggestions_are_never_applied(export, tmp_path):
    assert ingest([export], tmp_path / "ws", progress=False).files[0].accepted == 0


def test_evidence_source_rows_know_the_map(export, tmp_path):
    """Evidence masks a source row by column: with the manifest's map, the user's headers are known."""
    from rxring.report.sources import read_source_lines
    from rxring.workspace import Workspace

    ws = tmp_path / "ws"
    ingest([export], ws, progress=False, column_map=MAP)
    manifest = Workspace(ws).manifest()
    found = read_source_lines({export.as_posix(): {2}}, manifest, ws)[(export.as_posix(), 2)]
    assert found.status == "ok"
    assert found.header.split(",")[:3] == ["trace_code", "event_time", "site_id"]
    assert "patient_id" in found.header.split(",")


def test_dry_run_counts_match_the_ingest_on_every_fixture_format(tmp_path):
    """NHSA JSON/JSONL, EPCIS, CSV (GBK, BOM), canonical: the dry run counts what the ingest then counts."""
    folder = FIXTURES / "ingest"
    looked = {f["path"]: f for f in dry_run([folder])}
    report = ingest([folder], tmp_path / "ws", progress=False)
    assert len(looked) == len(report.files)
    for f in report.files:
        seen = looked[f.path]
        assert (seen["read"], seen["accepted"], seen["quarantined"], seen["skipped"]) == (
            f.read, f.accepted, f.quarantined, f.skipped), f.path
        assert sum(q["count"] for q in seen["quarantine"]) == f.quarantined, f.path


def test_dry_run_with_a_workspace_tells_what_it_holds(export, tmp_path):
    ws = tmp_path / "ws"
    ingest([export], ws, progress=False, column_map=MAP)
    before = _tree(ws)
    changed = tmp_path / "changed.toml"
    changed.write_text(MAP.read_text(encoding="utf-8") + '"赠送" = "dispense"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["ingest", str(export), "-w", str(ws), "--columns", str(changed), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "already ingested" in result.output and "a different reading of the same file" in result.output
    assert _tree(ws) == before
