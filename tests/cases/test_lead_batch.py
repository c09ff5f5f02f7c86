"""Issue 17, done when: a bureau runs a whole lead batch through the CLI — import, triage, verify, decide,
refer, export the 台账 — every decision attributable, the audit log verifiable, and the rings and cases
survive the next month's data (a ring kept keeps its case; a planted merge flags the cases on it)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook

from rxring import audit
from rxring.analysis import analyze
from rxring.cases import store
from rxring.cli import cli
from tests.cases import planted


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def code(n: int) -> str:
    return f"810000100{n:011d}"     # box n of tests.cases.planted


def bureau_list(path):
    """A lead list shaped as a bureau sends it: a title row, 序号 … 疑点描述, a code typed as a number, a total."""
    book = Workbook()
    sheet = book.active
    sheet.title = "疑点线索"
    sheet.append(["某市医疗保障局 药品追溯码疑点线索清单（2026年第3批）"])
    sheet.append(["序号", "统筹区", "定点医药机构编码", "定点医药机构名称", "追溯码", "药品通用名", "结算次数", "疑点描述"])
    sheet.append([1, "市本级", "L1", "某某大药房", code(0), "阿托伐他汀钙片", 2, "同一追溯码多次结算"])
    sheet.append([2, "市本级", "L2", "某某药店", code(3), "阿托伐他汀钙片", 2, "同一追溯码多次结算"])
    sheet.append([3, "市本级", "L9", "某某诊所", "89999999999999999999", "阿托伐他汀钙片", 2, "追溯码重复上传"])
    sheet.append([4, "市本级", "L1", "某某大药房", int(code(1)), "阿托伐他汀钙片", 2, "同一追溯码多次结算"])
    sheet.append(["合计", None, None, None, None, None, 8, None])
    book.save(path)
    return path


@pytest.fixture
def ws(tmp_path):
    return planted.two_rings(tmp_path / "ws")


def test_a_bureau_lead_batch_from_import_to_the_ledger_survives_the_next_months(ws, tmp_path):
    root = ws.root
    rings = planted.ring_ids_by_patient(ws)
    ring_a, ring_b = rings["A1"], rings["B1"]

    # import: every row of the list accounted for, with its line
    out = json.loads(run("leads", "import", bureau_list(tmp_path / "线索.xlsx"), "-w", root, "--operator", "wang",
                         "--json").stdout)
    assert (out["read"], out["matched"], out["unmatched"], out["rejected"]) == (5, 2, 1, 2)
    assert {p["line"] for p in out["problems"]} == {5, 6, 7}
    case_of = {c["ring_id"]: c["id"] for c in store.list_cases(root)}
    assert set(case_of) == {ring_a, ring_b}

    # triage: each lead shows its ring and the rules that fired
    shown = json.loads(run("cases", "show", case_of[ring_a], "-w", root, "--json").stdout)
    [lead] = shown["leads"]
    assert (lead["key_value"], lead["ring_id"], lead["rules"]) == (code(0), ring_a, "DUP_DISPENSE,RESURFACE")

    # verify, decide, refer (ring A); verify and explain, then close (ring B)
    a, b = case_of[ring_a], case_of[ring_b]
    run("cases", "assign", a, "wang", "--due", "2026-12-31", "--version", 1, "-w", root, "--operator", "li")
    run("cases", "assign", b, "zhao", "--version", 1, "-w", root, "--operator", "li")
    run("cases", "state", a, "verifying", "--reason", "要求提供随货同行单", "-w", root, "--operator", "wang")
    scan = tmp_path / "随货同行单.pdf"
    scan.write_bytes(b"%PDF-1.4 scanned delivery note")
    run("cases", "attach", a, scan, "-w", root, "--operator", "wang")
    run("cases", "comment", a, "机构无法提供进货票据", "-w", root, "--operator", "wang")
    run("cases", "state", a, "confirmed", "--reason", "查实倒卖回流药", "--recovered", 120, "--fined", 240,
        "-w", root, "--operator", "li")
    run("cases", "state", a, "referred", "--reason", "移送公安", "--referral-no", "GA-2026-0017", "-w", root,
        "--operator", "li")
    run("cases", "state", b, "verifying", "--reason", "核对调拨单", "-w", root, "--operator", "zhao")
    run("cases", "state", b, "explained", "--reason", "合规调拨", "-w", root, "--operator", "li")
    run("cases", "state", b, "closed", "--reason", "结案", "-w", root, "--operator", "li")

    ledger = tmp_path / "台账.xlsx"
    run("cases", "export", "-o", ledger, "-w", root, "--operator", "li")
    sheet = load_workbook(ledger).worksheets[0]
    header = [c.value for c in sheet[1]]
    rows = {r["团伙 (ring)"]: r
            for r in (dict(zip(header, [c.value for c in row])) for row in sheet.iter_rows(min_row=2))}
    assert rows[ring_a]["状态 (state)"] == "已移送 referred" and rows[ring_a]["移送编号 (referral no.)"] == "GA-2026-0017"
    assert (rows[ring_a]["追回金额(元) (recovered (CNY))"], rows[ring_a]["罚款金额(元) (fined (CNY))"]) == (120, 240)
    assert rows[ring_b]["状态 (state)"] == "已结案 closed" and rows[ring_a]["线索数 (leads)"] == 1

    # every decision attributable
    moves = [(h["actor"], h["new_value"], h["reason"]) for h in store.history(root, a) if h["field"] == "state"]
    assert moves == [("wang", "new", "lead list 线索.xlsx"), ("li", "assigned", None),
                     ("wang", "verifying", "要求提供随货同行单"), ("li", "confirmed", "查实倒卖回流药"),
                     ("li", "referred", "移送公安")]
    logged = [(r["event"], r["user"]) for r in audit.read(root)]
    assert ("leads_import", "wang") in logged and ("case_attach", "wang") in logged and ("export", "li") in logged
    assert sum(1 for event, _ in logged if event == "case_state") == 6

    # the next month: ring A gains a box, both cases keep their rings
    planted.add_part(ws, "february", planted.box(40, "A2", "DA", "L1", month=2))
    analyze(root, "embedded")
    assert planted.ring_ids_by_patient(ws) == rings
    assert store.ring_fates(root, store.list_cases(root)) == {}
    assert {f["status"] for f in store.case_findings(root, store.get_case(root, a))} == {"open"}
    assert "in the latest analysis" not in run("cases", "show", a, "-w", root).output

    # March: B's patients also get prescriptions from A's doctor, the two rings merge: both cases are flagged
    planted.add_part(ws, "march",
                     planted.box(50, "B1", "DA", "L2", month=3) + planted.box(51, "B2", "DA", "L2", month=3))
    analyze(root, "embedded")
    [merged] = set(planted.ring_ids_by_patient(ws).values())
    assert store.ring_fates(root, store.list_cases(root)) == {a: {"kind": "merged", "ring_ids": [merged]},
                                                              b: {"kind": "merged", "ring_ids": [merged]}}
    flagged = run("cases", "show", b, "-w", root).output
    assert f"团伙 ring {ring_b} 在最新分析中已合并 → {merged} · in the latest analysis: merged → {merged}" in flagged
    assert store.get_case(root, a)["ring_id"] == ring_a            # never silently detached
    assert "chain intact" in run("audit", "verify", "-w", root).output


def _headers(output: str) -> list[str]:
    """The column titles of every plain-text table in *output* (the line above a line of dashes)."""
    import re

    lines = output.splitlines()
    return [title for above, below in zip(lines, lines[1:]) if below.startswith("---")
            for title in re.split(r"\s{2,}", above.strip())]


def test_cli_listings_and_messages_are_chinese_first_with_english_beside(ws, tmp_path):
    import re

    root = ws.root
    run("leads", "import", bureau_list(tmp_path / "线索.xlsx"), "-w", root)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 scan")
    password = tmp_path / "pw"
    password.write_text("a-long-password\n", encoding="utf-8")
    said = [run("cases", "attach", 1, scan, "-w", root).output, run("cases", "comment", 1, "已核查", "-w", root).output,
            run("cases", "export", "-o", tmp_path / "l.csv", "-w", root).output,
            run("users", "add", "wang", "--role", "viewer", "--password-file", password, "-w", root).output,
            run("users", "role", "wang", "investigator", "-w", root).output,
            run("users", "passwd", "wang", "--password-file", password, "-w", root).output,
            run("users", "disable", "wang", "-w", root).output, run("audit", "verify", "-w", root).output]
    for line in said:
        message = line.split("：", 1)[1] if "：" in line else line        # after the file it names
        assert re.search(r"[A-Za-z\u4e00-\u9fff]", message).group()[0] >= "\u4e00", line   # Chinese first
        assert re.search(r"\s?· .*[A-Za-z]{3}", message), line                                  # English beside
    listed = "\n".join(run(*command, "-w", root).output for command in (
        ("cases", "list"), ("cases", "show", 1), ("leads", "list"), ("users", "list"), ("audit", "show")))
    titles = _headers(listed)
    assert len(titles) > 25
    for title in titles:
        assert title == "#" or re.fullmatch(r"[\u4e00-\u9fff]\S* [A-Za-z][A-Za-z0-9 ./\-]*", title), title
    assert "版本 version 1" in listed and "解释 explanation" in listed
    assert re.search(r"状态 state +新建 new", listed) and re.search(r"附件 attachment +scan.pdf", listed)  # history
