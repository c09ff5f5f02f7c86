"""`rxring ingest` and `rxring code` through click's CliRunner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from rxring.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_ingest_prints_table_and_invariant(fixtures, tmp_path):
    ws = tmp_path / "ws"
    result = invoke("ingest", str(fixtures / "mixed_good_bad.csv"), str(fixtures / "sales_gbk.csv"), "--workspace", str(ws), "--no-progress")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "file" in out and "read" in out and "accepted" in out and "quarantined" in out
    assert "mixed_good_bad.csv" in out and "csv/gbk" in out
    assert "read 16 = accepted 8 + quarantined 8  [OK]" in out
    assert "rows read as dispense" in out
    assert "quarantine.csv" in out
    assert (ws / "manifest.json").exists()


def test_reingest_says_nothing_added(fixtures, tmp_path):
    ws = str(tmp_path / "ws")
    invoke("ingest", str(fixtures / "sales_gbk.csv"), "-w", ws, "--no-progress")
    result = invoke("ingest", str(fixtures / "sales_gbk.csv"), "-w", ws, "--no-progress")
    assert result.exit_code == 0
    assert "already ingested (same SHA-256), nothing added" in result.output
    assert "read 0 = accepted 0 + quarantined 0" in result.output


def test_ingest_json_report(fixtures, tmp_path):
    result = invoke("ingest", str(fixtures / "nhsa_messages.jsonl"), "-w", str(tmp_path / "ws"), "--json")
    data = json.loads(result.output)
    assert data["totals"]["read"] == data["totals"]["accepted"] == 14
    assert data["files"][0]["format"] == "nhsa-jsonl"


def test_junk_only_exits_nonzero_without_traceback(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    result = CliRunner().invoke(cli, ["ingest", str(junk), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "unknown format" in result.output
    assert "nothing usable was read" in result.output


def test_missing_input_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / "nope.csv"), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"rxring: error: input {tmp_path / 'nope.csv'} does not exist"]


def test_ingest_without_workspace_is_misuse(fixtures):
    result = CliRunner().invoke(cli, ["ingest", str(fixtures / "sales_gbk.csv")], env={"RXRING_WORKSPACE": None})
    assert result.exit_code == 2 and "--workspace" in result.output


def test_code_command_gs1_and_json():
    result = invoke("code", "]d2010950600013435221ABC123<GS>1727013110L1")
    assert result.exit_code == 0
    assert "010950600013435221ABC123" in result.output
    assert "09506000134352" in result.output and "2027-01-31" in result.output and "L1" in result.output
    data = json.loads(invoke("code", "--json", "81151257914085623274").output)
    assert data == {"canonical": "81151257914085623274", "kind": "cn20", "product": "8115125",
                    "serial": "7914085623274", "expiry": None, "lot": None}


def test_code_command_rejects_bad_code():
    result = CliRunner().invoke(cli, ["code", "(01)09506000134353(21)X"])
    assert result.exit_code == 2
    assert "check digit" in result.output and "Traceback" not in result.output


def test_progress_bar_on_a_terminal(fixtures, tmp_path, monkeypatch):
    import io
    import sys

    import rxring.ingest.pipeline as pipeline
    from rxring.ingest import ingest

    class FakeTerminal(io.StringIO):
        def isatty(self):
            return True

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(pipeline._Progress, "MIN_BYTES", 0)
    ingest([fixtures / "sales_gbk.csv"], tmp_path / "ws", progress=True)
    assert "sales_gbk.csv" in terminal.getvalue()
    quiet = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    ingest([fixtures / "stock_utf8bom.csv"], tmp_path / "ws", progress=False)
    assert quiet.getvalue() == ""


def test_quarantine_masks_personal_fields_unless_revealed(tmp_path):
    """quarantine.csv masks ids like every output; `ingest --reveal-pii` keeps them and records the reveal."""
    import json

    from click.testing import CliRunner

    from rxring.cli import cli

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bad.csv").write_text("trace_code,event_type,event_time,site_id,patient_id\n"
                                    "8100000000000000000X,dispense,2025-01-01,S1,110105199001011234\n",
                                    encoding="utf-8")
    runner = CliRunner()
    masked, revealed = tmp_path / "masked", tmp_path / "revealed"
    assert runner.invoke(cli, ["ingest", str(folder), "-w", str(masked), "--no-progress"]).exit_code == 2
    text = (masked / "quarantine.csv").read_text(encoding="utf-8")
    assert "110105199001011234" not in text and "110*************34" in text
    assert not (masked / "reveals.jsonl").exists()
    result = runner.invoke(cli, ["ingest", str(folder), "-w", str(revealed), "--no-progress", "--reveal-pii",
                                 "--operator", "inspector-1"])
    assert result.exit_code == 2
    assert "110105199001011234" in (revealed / "quarantine.csv").read_text(encoding="utf-8")
    (record,) = [json.loads(line) for line in (revealed / "reveals.jsonl").read_text(encoding="utf-8").splitlines()]
    assert record["user"] == "inspector-1" and record["command"] == "rxring ingest"


def test_a_jsonl_line_nested_deeper_than_python_parses_is_one_quarantined_row(tmp_path):
    """A 5,000-deep line (past json's own recursion limit) costs that line only, also when its raw text is masked."""
    import json

    from rxring.ingest import ingest

    good = {"infno": "3505", "fixmedins_code": "P1", "input": {"selinfo": {
        "drug_trac_codg": "81000000000000000001", "sel_retn_time": "2025-01-02 10:00:00", "psn_no": "X1"}}}
    second = json.loads(json.dumps(good))
    second["input"]["selinfo"]["drug_trac_codg"] = "81000000000000000002"
    path = tmp_path / "n.jsonl"
    path.write_text("\n".join([json.dumps(good), '{"psn_no": ' + "[" * 5000 + "]" * 5000 + "}", json.dumps(second)])
                    + "\n", encoding="utf-8")
    report = ingest([path], tmp_path / "ws", progress=False)
    assert (report.read, report.events, report.quarantined) == (3, 2, 1)
