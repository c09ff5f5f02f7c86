"""The reveal record: made by the library call that unmasks (CLI and Python alike, exactly once),
kept in the workspace (graph look-ups included), and naming nobody in clear."""

from __future__ import annotations

import contextlib
import json
import stat

import pandas as pd
import pytest
from click.testing import CliRunner

from rxring import results
from rxring.backends.neo4j import listing
from rxring.cli import cli
from rxring.jsonout import dumps
from rxring.pii import mask_value
from rxring.report import build_evidence, build_report, write_viz
from rxring.reveal import (KEY_NAME, REVEALS_NAME, os_user, permit_reveal, person_digest, read_reveals,
                           reveal_session)

PATIENT = "11010519900101123X"  # a patient of the small ring R001 (conftest.build_workspace)


@pytest.fixture()
def ws(small_copy, monkeypatch):
    """A private copy of the small analysed workspace, with no RXRING_WORKSPACE or RXRING_OPERATOR around."""
    monkeypatch.delenv("RXRING_WORKSPACE", raising=False)
    monkeypatch.delenv("RXRING_OPERATOR", raising=False)
    assert not (small_copy / REVEALS_NAME).exists(), "a test revealed into the shared small_case workspace"
    return small_copy


def _log(ws) -> str:
    path = ws / REVEALS_NAME
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_the_record_says_who_when_what_without_the_personal_values(ws):
    with reveal_session("rxring patient", operator="审计员甲", argv=["patient", PATIENT, "-w", str(ws), "--reveal-pii"]):
        assert permit_reveal(True, ws, {"patient_id": PATIENT, "params": {"prescriber": "王医生"}, "ring_id": "R001"})
    (record,) = read_reveals(ws)
    assert record["user"] == "审计员甲" and record["os_user"] == os_user() and record["command"] == "rxring patient"
    assert record["time"].endswith("Z") and record["workspace"] == str(ws)
    what = record["what"]
    assert what["ring_id"] == "R001"  # not personal: kept
    assert what["patient_id"] == {"masked": mask_value(PATIENT), "hmac_sha256": person_digest(ws, PATIENT)}
    assert what["params"]["prescriber"]["masked"] == "王**"
    assert mask_value(PATIENT) in record["command_line"] and "--reveal-pii" in record["command_line"]
    text = _log(ws)
    assert PATIENT not in text and "王医生" not in text
    # an auditor with the workspace can match a known id; the key is the workspace's own, owner-only
    assert read_reveals(ws, person=PATIENT) == [record] and read_reveals(ws, person="110105198512125678") == []
    assert stat.S_IMODE((ws / KEY_NAME).stat().st_mode) == 0o600
    assert person_digest(ws, PATIENT) != person_digest(ws, "110105198512125678")


def test_nothing_asked_nothing_recorded(ws):
    assert permit_reveal(False, ws, {"patient_id": PATIENT}) is False
    assert not (ws / REVEALS_NAME).exists()


def _library_calls(ws, out, reveal):
    """Every library call that can show people, each with reveal_pii=reveal; (name, shown text)."""
    code = "80000000000000001000"
    shown = {
        "list_rings": dumps(results.list_rings(ws, reveal_pii=reveal)),
        "ring_report": dumps(results.ring_report(ws, "R001", reveal_pii=reveal).ring),
        "list_findings": dumps(results.list_findings(ws, reveal_pii=reveal)),
        "box_timeline": dumps(results.box_timeline(ws, code, reveal_pii=reveal)),
        "box_report": dumps(results.box_report(ws, code, reveal_pii=reveal).events),
        "entity_report": dumps(results.entity_report("patient", PATIENT, ws, reveal_pii=reveal).findings),
    }
    for fmt in ("html", "md"):  # html draws each ring's graph too: still one reveal
        build_report(ws, fmt, "en", out / f"report-{fmt}", reveal_pii=reveal)
        pages = sorted(p for p in (out / f"report-{fmt}").parent.rglob("*") if p.is_file() and f"report-{fmt}" in str(p))
        shown[f"build_report {fmt}"] = "".join(p.read_text(encoding="utf-8") for p in pages)
    shown["write_viz"] = write_viz(ws, ["R001"], out / "viz.html", reveal_pii=reveal).read_text(encoding="utf-8")
    package = build_evidence(ws, "R001", out / "e.zip", reveal_pii=reveal)
    shown["build_evidence"] = package.path.read_bytes().decode("latin-1")
    return shown


def test_library_calls_mask_by_default_and_record_each_reveal_exactly_once(ws, tmp_path):
    masked = _library_calls(ws, tmp_path / "masked", reveal=False)
    assert not (ws / REVEALS_NAME).exists()
    assert all(PATIENT not in text for name, text in masked.items() if name != "build_evidence"), \
        [name for name, text in masked.items() if PATIENT in text]

    revealed = _library_calls(ws, tmp_path / "revealed", reveal=True)
    assert all(PATIENT in text for name, text in revealed.items() if name != "build_evidence"), \
        [name for name, text in revealed.items() if PATIENT not in text]
    records = read_reveals(ws)
    assert [r["command"] for r in records] == [
        f"{api} (Python)" for api in (
            "rxring.results.list_rings", "rxring.results.ring_report", "rxring.results.list_findings",
            "rxring.results.box_timeline", "rxring.results.box_report", "rxring.results.entity_report",
            "rxring.build_report", "rxring.build_report", "rxring.write_viz", "rxring.build_evidence")]
    assert records[0]["user"] == os_user() and records[1]["what"] == {"ring_id": "R001"}
    assert records[5]["what"]["patient_id"]["hmac_sha256"] == person_digest(ws, PATIENT)
    assert PATIENT not in _log(ws)


def test_the_cli_records_once_per_command_through_the_library(ws):
    runner = CliRunner()
    for args in (["ring", "R001"], ["report", "--format", "html", "-o", str(ws / "out")], ["patient", PATIENT]):
        result = runner.invoke(cli, [*args, "-w", str(ws), "--reveal-pii", "--operator", "审计员乙"])
        assert result.exit_code == 0, result.output
    records = read_reveals(ws)
    assert [r["command"] for r in records] == ["rxring ring", "rxring report", "rxring patient"]
    assert {r["user"] for r in records} == {"审计员乙"}
    assert PATIENT not in _log(ws)  # neither in what nor in the command line
    # a reveal of nothing (an unknown ring) is no reveal
    assert runner.invoke(cli, ["ring", "R999", "-w", str(ws), "--reveal-pii"]).exit_code == 2
    assert len(read_reveals(ws)) == 3


@pytest.fixture()
def fake_graph(monkeypatch):
    """box --backend neo4j without a server: the graph's chain of custody of every code is one dispense."""
    class Config:
        database = None

        def describe(self):
            return "bolt://graph:7687"

    def chain(driver, code, database=None, where=""):
        return pd.DataFrame([{"event_id": "e1", "event_type": "dispense", "event_time": pd.Timestamp("2026-03-01"),
                              "trace_code": code, "site_id": "H-001", "patient_id": PATIENT, "quantity": 1.0,
                              "source_file": "graph", "source_line": 1}], columns=list(listing.TIMELINE_COLUMNS))

    monkeypatch.setattr(results, "_graph", lambda neo4j: (Config(), contextlib.nullcontext()))
    monkeypatch.setattr(listing, "box_chain", chain)


def test_graph_look_ups_record_in_the_workspace_whenever_one_is_known(ws, fake_graph, reveal_log, monkeypatch):
    user_log = reveal_log.read_text(encoding="utf-8") if reveal_log.exists() else ""
    code = "80000000000000001000"
    runner = CliRunner()
    masked = runner.invoke(cli, ["box", code, "--backend", "neo4j", "--json"])
    assert masked.exit_code == 0 and PATIENT not in masked.stdout
    shown = runner.invoke(cli, ["box", code, "--backend", "neo4j", "-w", str(ws), "--reveal-pii", "--json"])
    assert shown.exit_code == 0 and PATIENT in shown.stdout
    monkeypatch.setenv("RXRING_WORKSPACE", str(ws))  # the workspace named by the environment counts too
    assert runner.invoke(cli, ["box", code, "--backend", "neo4j", "--reveal-pii"]).exit_code == 0
    assert [r["command"] for r in read_reveals(ws)] == ["rxring box", "rxring box"]
    assert (reveal_log.read_text(encoding="utf-8") if reveal_log.exists() else "") == user_log
    # no workspace at all: the user's own record, and a warning saying where
    monkeypatch.delenv("RXRING_WORKSPACE")
    alone = runner.invoke(cli, ["box", code, "--backend", "neo4j", "--reveal-pii", "--json"])
    assert alone.exit_code == 0 and json.loads(alone.stdout)["events"][0]["patient_id"] == PATIENT
    assert f"this reveal is recorded in {reveal_log}" in alone.stderr
    assert read_reveals(None)[-1]["command"] == "rxring box" and read_reveals(None)[-1]["workspace"] is None
    assert len(read_reveals(ws)) == 2


def test_ingest_reveal_is_recorded_by_the_library_once(tmp_path, monkeypatch):
    """Unmasked quarantine rows: `rxring.ingest(..., reveal_pii=True)` from Python records itself;
    `rxring ingest --reveal-pii` records once, as the command."""
    from rxring import ingest

    monkeypatch.delenv("RXRING_WORKSPACE", raising=False)
    bad = tmp_path / "sales.csv"
    bad.write_text("追溯码,业务类型,发生时间,机构编码,人员编号\n81000000000000001000,销售,not a time,S1,"
                   f"{PATIENT}\n", encoding="utf-8")
    python_ws, cli_ws = tmp_path / "py", tmp_path / "cli"
    ingest([bad], python_ws, progress=False)
    assert not (python_ws / REVEALS_NAME).exists()                    # asked nothing, recorded nothing
    assert PATIENT not in (python_ws / "quarantine.csv").read_text(encoding="utf-8")
    ingest([bad], tmp_path / "py2", progress=False, reveal_pii=True)
    (record,) = read_reveals(tmp_path / "py2")
    assert record["command"] == "rxring.ingest (Python)" and record["what"]["quarantine"] == "unmasked"
    assert PATIENT in (tmp_path / "py2" / "quarantine.csv").read_text(encoding="utf-8")
    result = CliRunner().invoke(cli, ["ingest", str(bad), "-w", str(cli_ws), "--reveal-pii"])
    assert result.exit_code in (0, 2), result.output
    assert [r["command"] for r in read_reveals(cli_ws)] == ["rxring ingest"]
