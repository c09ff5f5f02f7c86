"""Explained findings feed back (rxring.cases.exceptions, issue 17 item 4).

An approved exception sets a finding aside: the next analysis still lists it, as
explained, and no ring counts it (members, boxes, fund at risk, score); it stays so
through later analyses until revoked or expired, and the reports say how many were
set aside and why.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from rxring.analysis import analyze
from rxring.cases.exceptions import (active_exceptions, approve_exception, list_exceptions, record_exception,
                                     revoke_exception, set_aside_line)
from rxring.cases.identity import findings_with_status
from rxring.errors import RxringError
from rxring.report import build_report
from rxring.results import load_analysis, load_findings, load_rings
from tests.cases import planted

#: Box 2 of ring A: patient A1's second pack (ring A keeps A1 and A2 without it).
CODE = "81000010000000000002"
FINDINGS = [f"DUP_DISPENSE:{CODE}", f"RESURFACE:{CODE}"]


@pytest.fixture
def ws(tmp_path):
    return planted.two_rings(tmp_path / "ws")


def _ring_a(ws) -> dict:
    (ring,) = [r for r in load_rings(ws).to_dict("records") if "A1" in r["source_patients"]]
    return ring


def _explain_box(ws, until=None) -> list:
    out = []
    for finding_id in FINDINGS:
        exception = record_exception(ws.root, finding_id, "retransmission", "the pharmacy re-sent the sale; "
                                     "delivery note 2025-117 shows one pack", "investigator1", until=until)
        out.append(approve_exception(ws.root, exception.id, "supervisor1"))
    return out


def test_an_explained_finding_stays_listed_and_leaves_the_ring_scores(ws):
    before = _ring_a(ws)
    assert set(FINDINGS) <= set(before["finding_ids"]) and before["boxes"] == 3
    _explain_box(ws)
    analyze(ws.root, "embedded")
    after = _ring_a(ws)
    assert after["ring_id"] == before["ring_id"]
    assert not set(FINDINGS) & set(after["finding_ids"])
    assert after["boxes"] == 2 and after["fund_at_risk"] == pytest.approx(before["fund_at_risk"] - 40.0)   # both sales of the box
    assert after["score"] < before["score"]
    assert not any(set(FINDINGS) & set(r["finding_ids"]) for r in load_rings(ws).to_dict("records"))
    status = findings_with_status(ws).set_index("finding_id")
    assert set(FINDINGS) <= set(load_findings(ws)["finding_id"])   # listed, not deleted
    for finding_id in FINDINGS:
        row = status.loc[finding_id]
        assert row["status"] == "explained" and row["reason_kind"] == "retransmission"
        assert row["recorded_by"] == "investigator1" and row["approved_by"] == "supervisor1"
    assert (status.drop(index=FINDINGS)["status"] == "open").all()
    assert load_analysis(ws)["stats"]["findings_set_aside"] == {"retransmission": 2}

    # a later analysis (another month of data) keeps it explained
    planted.add_part(ws, "february", planted.box(40, "A2", "DA", "L1", month=2))
    analyze(ws.root, "embedded")
    again = _ring_a(ws)
    assert again["ring_id"] == before["ring_id"] and again["boxes"] == 3
    assert not set(FINDINGS) & set(again["finding_ids"])
    status = findings_with_status(ws).set_index("finding_id")
    assert (status.loc[FINDINGS, "status"] == "explained").all()


def test_the_reports_say_how_many_were_set_aside_and_why(ws, tmp_path):
    _explain_box(ws)
    analyze(ws.root, "embedded")
    index = build_report(ws.root, "html", lang="zh", output=tmp_path / "html")[0]
    text = index.read_text(encoding="utf-8")
    assert "已排除 2 条经核实有合理解释的线索（重复上传 2）" in text
    markdown = build_report(ws.root, "md", lang="en", output=tmp_path / "r.md")[0]
    assert "2 findings set aside as explained (retransmission 2)" in markdown.read_text(encoding="utf-8")


def test_only_approved_unrevoked_unexpired_exceptions_are_honoured(ws):
    first = record_exception(ws.root, FINDINGS[0], "data_entry", "typo in the code", "investigator1")
    assert active_exceptions(ws.root) == {}   # not approved yet
    approve_exception(ws.root, first.id, "supervisor1")
    assert set(active_exceptions(ws.root)) == {FINDINGS[0]}
    yesterday = dt.date.today() - dt.timedelta(days=1)
    old = record_exception(ws.root, FINDINGS[1], "transfer", "chain transfer", "investigator1", until=yesterday,
                           approved_by="supervisor1")
    assert old.until == yesterday.isoformat()
    assert set(active_exceptions(ws.root)) == {FINDINGS[0]}
    assert set(active_exceptions(ws.root, day=yesterday)) == set(FINDINGS)
    revoke_exception(ws.root, first.id, "supervisor2", "the delivery note was forged")
    assert active_exceptions(ws.root) == {}
    table = list_exceptions(ws.root)
    assert list(table["id"]) == [first.id, old.id]   # nothing deleted
    assert table.loc[0, "revoked_by"] == "supervisor2" and table.loc[0, "revoke_reason"]
    # revoked: the next analysis counts the finding again
    analyze(ws.root, "embedded")
    assert FINDINGS[0] in _ring_a(ws)["finding_ids"]
    assert "findings_set_aside" not in load_analysis(ws)["stats"]


@pytest.mark.parametrize("call, message", [
    (lambda ws: record_exception(ws, "RESURFACE:81000010000000000999", "other", "x", "a"), "is not among the findings"),
    (lambda ws: record_exception(ws, FINDINGS[0], "because", "x", "a"), "unknown reason kind"),
    (lambda ws: record_exception(ws, FINDINGS[0], "other", "  ", "a"), "needs a reason"),
    (lambda ws: record_exception(ws, FINDINGS[0], "other", "x", "a", until="next week"), "is not a date"),
    (lambda ws: record_exception(ws, FINDINGS[0], "other", "x", "a", approved_by="a"), "someone other"),
    (lambda ws: approve_exception(ws, 99, "b"), "no exception 99"),
])
def test_bad_exceptions_are_one_clear_error(ws, call, message):
    with pytest.raises(RxringError, match=message):
        call(ws.root)


def test_approval_is_once_and_by_someone_else(ws):
    exception = record_exception(ws.root, FINDINGS[0], "other", "x", "investigator1")
    with pytest.raises(RxringError, match="someone other"):
        approve_exception(ws.root, exception.id, "investigator1")
    approve_exception(ws.root, exception.id, "supervisor1")
    with pytest.raises(RxringError, match="already approved by supervisor1"):
        approve_exception(ws.root, exception.id, "supervisor2")


def test_an_analysis_without_exceptions_creates_no_cases_database(ws):
    assert not (ws.root / "cases").exists()
    assert list_exceptions(ws.root).empty and isinstance(list_exceptions(ws.root), pd.DataFrame)


def test_the_set_aside_line_in_both_languages():
    counts = {"transfer": 1, "refund_unreported": 3}
    assert set_aside_line(counts, "zh") == "已排除 4 条经核实有合理解释的线索（合规调拨 1、退货未上报 3）"
    assert set_aside_line(counts, "en") == "4 findings set aside as explained (legitimate transfer 1, refund not reported 3)"
    assert set_aside_line({"other": 1}, "en") == "1 finding set aside as explained (other 1)"


def test_the_cli_records_approves_and_lists_and_the_analysis_honours_it(ws):
    from click.testing import CliRunner

    from rxring.cli import cli

    def run(*args, code=0):
        result = CliRunner().invoke(cli, [str(a) for a in args])
        assert result.exit_code == code, result.output
        return result

    added = run("exceptions", "add", FINDINGS[0], "-w", ws.root, "--kind", "refund_unreported",
                "--reason", "refund slip found", "--operator", "li")
    assert "exception 1: " in added.output and "awaiting approval" in added.output
    refused = run("exceptions", "approve", "1", "-w", ws.root, "--operator", "li", code=2)
    assert "rxring: error: an exception is approved by someone other than who recorded it" in refused.output
    assert "approved by zhang" in run("exceptions", "approve", "1", "-w", ws.root, "--operator", "zhang").output
    listed = run("exceptions", "list", "-w", ws.root, "--json").output
    assert '"finding_id": "' + FINDINGS[0] + '"' in listed and '"approved_by": "zhang"' in listed
    run("exceptions", "revoke", "1", "-w", ws.root, "--reason", "slip was for another pack", "--operator", "zhang")
    from rxring import audit

    lines = audit.read(ws.root, "exception")   # every decision from the CLI is attributable in the audit log
    assert [(line["user"], line["details"]["change"]) for line in lines] == [
        ("li", "recorded"), ("zhang", "approved"), ("zhang", "revoked")]
    assert audit.verify(ws.root).ok
    run("exceptions", "approve", "1", "-w", ws.root, "--operator", "wang", code=2)   # revoked: stays revoked
    run("exceptions", "add", FINDINGS[0], "-w", ws.root, "--kind", "refund_unreported",
        "--reason", "refund slip found", "--operator", "li", "--approved-by", "zhang")
    run("analyze", "-w", ws.root, "--no-progress")
    assert load_analysis(ws)["stats"]["findings_set_aside"] == {"refund_unreported": 1}
    bad = run("exceptions", "add", "NO:SUCH", "-w", ws.root, "--kind", "other", "--reason", "x", code=2)
    assert bad.output.count("\n") == 1 and "is not among the findings" in bad.output
    triage = run("triage", CODE, "-w", ws.root).output
    assert f"疑点 findings: {FINDINGS[0]}, {FINDINGS[1]}" in triage and "counted sales" in triage
