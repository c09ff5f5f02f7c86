"""The CLI twins over the shared city: users, cases, leads import (row accounting), ledger export, audit verify."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from rxring import audit
from rxring.cases import leads as lead_lists
from rxring.cases import store
from rxring.cli import cli
from rxring.results import load_findings, load_rings


def run(*args, ok=True, **kwargs):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def ws(city_copy):
    return city_copy


def _codes(ws):
    """A ring's code, a code with findings outside rings or any finding code, a code no rule fired on."""
    findings, rings = load_findings(ws), load_rings(ws)
    ring = rings.iloc[0]
    ring_code = findings[findings["finding_id"] == ring["finding_ids"][0]]["trace_codes"].iloc[0][0]
    flagged = {c for codes in findings["trace_codes"] for c in codes}
    from rxring.workspace import Workspace

    events = Workspace(ws).events_dataset().to_table(columns=["trace_code", "settlement_id"]).to_pandas()
    quiet = events[~events["trace_code"].isin(flagged)]
    quiet_code = quiet["trace_code"].value_counts().index[0]
    setl = events.dropna(subset=["settlement_id"])["settlement_id"].iloc[0]
    return ring["ring_id"], ring_code, quiet_code, setl


def test_a_lead_list_is_imported_with_every_row_accounted_for(ws, tmp_path):
    ring_id, ring_code, quiet_code, setl = _codes(ws)
    path = tmp_path / "线索.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["序号", "追溯码", "结算ID", "疑点原因"])
        writer.writerow([1, ring_code, "", "多次结算"])
        writer.writerow([2, quiet_code, "", "重复结算"])
        writer.writerow([3, "", setl, "结算异常"])
        writer.writerow([4, "99999999999999999999", "", "不存在"])
        writer.writerow([5, "", "", "没有码"])
        writer.writerow([6, ring_code, "", "重复行"])
    result = run("leads", "import", path, "-w", ws, "--operator", "wang", "--json")
    out = json.loads(result.stdout)
    assert (out["read"], out["matched"], out["unmatched"], out["rejected"]) == (6, 3, 1, 2)
    assert out["read"] == out["matched"] + out["unmatched"] + out["rejected"]
    problems = {p["line"]: p["reason"] for p in out["problems"]}
    assert set(problems) == {5, 6, 7}
    assert "not in the workspace" in problems[5] and "no code" in problems[6] and "repeats line 2" in problems[7]
    assert [problems[n].split("·")[0].strip() for n in (5, 6, 7)] == [
        "99999999999999999999：工作区中没有此追溯码的记录（未匹配）", "此行既无追溯码也无结算ID", "与第 2 行重复"]
    rows = {r["source_line"]: r for r in lead_lists.list_leads(ws)}
    assert rows[2]["ring_id"] == ring_id and rows[2]["rules"] and rows[2]["case_id"]
    assert store.get_case(ws, rows[2]["case_id"])["ring_id"] == ring_id
    assert rows[3]["rules"] is None and rows[3]["case_id"] and rows[3]["reason"] == "重复结算"
    assert rows[5]["matched"] == 0 and rows[5]["case_id"] is None
    assert rows[4]["key_kind"] == "setl_id" and rows[4]["matched"] == 1
    [batch] = lead_lists.list_batches(ws)
    assert (batch["rows_read"], batch["rows_matched"], batch["rows_unmatched"], batch["rows_rejected"]) == (6, 3, 1, 2)
    [line] = audit.read(ws, "leads_import")
    assert line["user"] == "wang" and line["details"]["matched"] == 3


def test_a_quiet_code_gets_the_triage_explanation(ws, tmp_path):
    from rxring.cases.triage import explain

    _, _, quiet_code, _ = _codes(ws)
    triage = explain(ws, quiet_code)
    assert triage.explanations, "the most repeated code without findings has an innocent cause"
    path = tmp_path / "leads.xlsx"
    pd.DataFrame({"trace_code": [quiet_code], "reason": ["settled twice"]}).to_excel(path, index=False)
    run("leads", "import", path, "-w", ws)
    [lead] = lead_lists.list_leads(ws)
    assert lead["explanation"] == triage.bilingual() and lead["rules"] is None


def test_bad_lead_files_are_one_clear_error(ws, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,amount\nx,1\n", encoding="utf-8")
    result = run("leads", "import", path, "-w", ws, ok=False)
    assert result.exit_code == 2 and "line 1: 找不到追溯码或结算ID列" in result.output
    assert "no code or settlement-id column among name, amount" in result.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    result = run("leads", "import", broken, "-w", ws, ok=False)
    assert result.exit_code == 2 and "not a readable XLSX" in result.output


def test_a_case_through_the_cli_from_ring_to_ledger(ws, tmp_path):
    ring_id = load_rings(ws).iloc[0]["ring_id"]
    out = run("cases", "open", "--ring", ring_id, "-w", ws, "--operator", "li").output
    assert "案件 case 1" in out and ring_id in out
    run("cases", "assign", 1, "wang", "--due", "2026-12-31", "--version", 1, "-w", ws, "--operator", "li")
    run("cases", "state", 1, "verifying", "--reason", "要求提供随货同行单", "-w", ws, "--operator", "wang")
    scan = tmp_path / "随货同行单.pdf"
    scan.write_bytes(b"%PDF-1.4 scan")
    assert "attached to case 1" in run("cases", "attach", 1, scan, "-w", ws, "--operator", "wang").output
    run("cases", "comment", 1, "机构无法提供发票", "-w", ws, "--operator", "wang")
    stale = run("cases", "state", 1, "confirmed", "--reason", "x1", "--version", 1, "-w", ws, ok=False)
    assert stale.exit_code == 2 and "reload it and try again" in stale.output
    run("cases", "state", 1, "confirmed", "--reason", "查实", "--recovered", 1200, "--fined", 600, "-w", ws)
    bad = run("cases", "state", 1, "referred", "--reason", "移送", "-w", ws, ok=False)
    assert "referral needs its number" in bad.output
    run("cases", "state", 1, "referred", "--reason", "移送公安", "--referral-no", "GA-17", "-w", ws)
    shown = run("cases", "show", 1, "-w", ws, "--json").stdout
    data = json.loads(shown)
    assert data["case"]["state"] == "referred" and data["case"]["referral_no"] == "GA-17"
    assert [a["filename"] for a in data["attachments"]] == ["随货同行单.pdf"]
    assert [h["new_value"] for h in data["history"] if h["field"] == "state"] == [
        "new", "assigned", "verifying", "confirmed", "referred"]
    assert "历史 history" in run("cases", "show", 1, "-w", ws).output
    assert "referred" in run("cases", "list", "-w", ws).output
    ledger = tmp_path / "台账.xlsx"
    run("cases", "export", "-w", ws, "-o", ledger)
    frame = pd.read_excel(ledger)
    assert list(frame.columns[:3]) == ["案件编号 (case)", "类型 (kind)", "标题 (title)"]
    assert frame.iloc[0]["移送编号 (referral no.)"] == "GA-17" and frame.iloc[0]["追回金额(元) (recovered (CNY))"] == 1200
    assert "1 cases" in run("cases", "export", "-w", ws, "-o", tmp_path / "l.csv").output
    assert run("cases", "export", "-w", ws, "-o", tmp_path / "l.txt", ok=False).exit_code == 2
    verified = run("audit", "verify", "-w", ws).output
    last = audit.audit_path(ws).read_bytes().splitlines()[-1]
    assert "chain intact" in verified
    assert f"last line: {len(audit.read(ws))} sha256 {audit.line_hash(last)}" in verified   # to note elsewhere
    events = [r["event"] for r in audit.read(ws)]
    assert events.count("case_state") == 3 and events.count("export") == 2 and "case_attach" in events


def test_users_and_a_tampered_audit_log(ws, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("correct horse battery\n", encoding="utf-8")
    run("users", "add", "wang", "--role", "investigator", "--password-file", secret, "-w", ws)
    assert run("users", "add", "wang", "--role", "viewer", "--password-file", secret, "-w", ws, ok=False).exit_code == 2
    short = tmp_path / "short"
    short.write_text("abc\n", encoding="utf-8")
    assert "too short" in run("users", "add", "li", "--role", "admin", "--password-file", short, "-w", ws,
                              ok=False).output
    run("users", "add", "li", "--role", "supervisor", "-w", ws, input="another good pass\nanother good pass\n")
    run("users", "role", "wang", "viewer", "-w", ws)
    listed = run("users", "list", "-w", ws).output
    assert "wang" in listed and "viewer" in listed and "argon2" not in listed
    from rxring.cases.users import authenticate

    assert authenticate(ws, "li", "another good pass").role == "supervisor"
    assert authenticate(ws, "li", "wrong password!") is None
    text = audit.audit_path(ws).read_text(encoding="utf-8")
    assert "correct horse" not in text and "another good pass" not in text
    lines = text.splitlines()
    lines[0] = lines[0].replace('"added"', '"removed"')
    audit.audit_path(ws).write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("audit", "verify", "-w", ws, ok=False)
    assert result.exit_code == 1 and "line 1" in result.output


def test_a_case_evidence_package_is_the_rings_sealed_package_with_the_case_as_a_section(ws, tmp_path):
    import hashlib
    import zipfile

    ring_id = load_rings(ws).iloc[0]["ring_id"]
    run("cases", "open", "--ring", ring_id, "-w", ws, "--operator", "li")
    scan = tmp_path / "发票.pdf"
    scan.write_bytes(b"%PDF invoice")
    run("cases", "attach", 1, scan, "-w", ws)
    run("cases", "comment", 1, "=cmd|' /C calc'!A0", "-w", ws)
    out = run("cases", "evidence", 1, "-w", ws, "-o", tmp_path / "case.zip", "--operator", "li").output
    assert "MANIFEST.sha256" in out
    with zipfile.ZipFile(tmp_path / "case.zip") as archive:
        names = archive.namelist()
        manifest = archive.read("MANIFEST.sha256").decode()
        listed = {}
        for line in manifest.splitlines():
            digest, name = line.split("  ", 1)
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest
            listed[name] = digest
        record = json.loads(archive.read("case_record/case.json"))
        history_csv = archive.read("case_record/history.csv").decode("utf-8-sig")
        extraction = archive.read("extraction_record.zh.md").decode("utf-8")
    sha = hashlib.sha256(b"%PDF invoice").hexdigest()
    # the ring's sealed package with the case as its section: the manifest and the 提取笔录 cover the case files
    attachment = f"case_record/attachments/{sha}-发票.pdf"
    assert attachment in listed and "case_record/history.csv" in listed and "custody/timeline.md" in names
    assert "case_record/history.csv" in extraction and "案件记录" in extraction
    assert record["case"]["ring_id"] == ring_id and record["comments"][0]["body"].startswith("=cmd")
    assert history_csv.startswith("时间 at,人员 who") and "attachment" in history_csv
    verified = run("evidence", "verify", tmp_path / "case.zip")
    assert verified.exit_code == 0, verified.output
    assert audit.read(ws, "evidence")[-1]["details"]["case"] == 1


def test_cli_reveal_pii_and_ring_evidence_are_in_the_audit_log(ws, tmp_path):
    ring_id = load_rings(ws).iloc[0]["ring_id"]
    run("ring", ring_id, "-w", ws, "--reveal-pii", "--operator", "wang")
    [line] = audit.read(ws, "reveal")
    assert line["user"] == "wang" and line["details"]["command"] == "rxring ring"
    run("evidence", ring_id, "-w", ws, "-o", tmp_path / "r.zip")
    assert audit.read(ws, "evidence")[-1]["details"]["ring"] == ring_id
    assert audit.verify(ws).ok


def test_codes_stored_as_spreadsheet_numbers_are_rejected_not_mismatched(ws, tmp_path):
    from openpyxl import Workbook

    _, ring_code, _, _ = _codes(ws)
    book = Workbook()
    sheet = book.active
    sheet.append(["Trace_Code", "Reason"])
    sheet.append([int(ring_code), "typed as a number"])   # Excel keeps 15 significant digits
    sheet.cell(row=2, column=1).value = float(int(ring_code))
    sheet.append([ring_code, "as text"])
    book.save(tmp_path / "leads.xlsx")
    out = json.loads(run("leads", "import", tmp_path / "leads.xlsx", "-w", ws, "--json").stdout)
    assert (out["read"], out["matched"], out["rejected"]) == (2, 1, 1)
    assert out["problems"][0]["line"] == 2 and "stored as a number" in out["problems"][0]["reason"]



def test_a_report_is_an_export_in_the_audit_log(ws, tmp_path):
    run("report", "-w", ws, "--format", "csv", "-o", tmp_path / "rings.csv", "--reveal-pii", "--operator", "zhou")
    [line] = audit.read(ws, "export")
    assert line["user"] == "zhou" and line["details"]["what"] == "report" and line["details"]["reveal_pii"] is True
    assert audit.read(ws, "reveal")[-1]["user"] == "zhou"


def test_a_case_without_a_ring_is_sealed_as_every_package(ws, tmp_path):
    import zipfile

    from rxring.results import load_findings

    finding = load_findings(ws)["finding_id"].iloc[0]
    run("cases", "open", "--finding", finding, "-w", ws, "--operator", "li")
    run("cases", "evidence", 1, "-w", ws, "-o", tmp_path / "case.zip", "--operator", "li")
    with zipfile.ZipFile(tmp_path / "case.zip") as archive:
        names = set(archive.namelist())
    assert {"case_record/case.json", "case_record/history.csv", "MANIFEST.sha256"} <= names
    assert not any(name.startswith("custody/") for name in names)   # no ring: the case record alone
    verified = run("evidence", "verify", tmp_path / "case.zip")
    assert verified.exit_code == 0 and "integrity only" in verified.output, verified.output


def test_a_code_sent_again_in_a_later_list_joins_its_open_case(ws, tmp_path):
    """Bureaus send the next batch with codes they sent before: those leads join the open case, not a new one."""
    _, ring_code, quiet_code, _ = _codes(ws)
    first, again = tmp_path / "第1批.csv", tmp_path / "第2批.csv"
    first.write_text(f"追溯码,疑点原因\n{quiet_code},重复结算\n", encoding="utf-8-sig")
    again.write_text(f"追溯码,疑点原因\n{quiet_code},再次重复结算\n{ring_code},多次结算\n", encoding="utf-8-sig")
    opened = json.loads(run("leads", "import", first, "-w", ws, "--json").stdout)["cases_opened"]
    out = json.loads(run("leads", "import", again, "-w", ws, "--json").stdout)
    assert opened and out["cases_joined"] == opened and len(out["cases_opened"]) == 1   # the ring's case is new
    assert [lead["case_id"] for lead in lead_lists.list_leads(ws) if lead["key_value"] == quiet_code] == opened * 2
    from rxring.cases.users import Actor

    boss = Actor("li", "supervisor", "cli")
    store.assign(ws, boss, opened[0], "wang")
    for state in ("verifying", "explained", "closed"):
        store.transition(ws, boss, opened[0], state, "调拨单已核对")
    out = json.loads(run("leads", "import", first, "-w", ws, "--json").stdout)
    assert out["cases_joined"] == [] and len(out["cases_opened"]) == 1                  # a closed case stays closed
