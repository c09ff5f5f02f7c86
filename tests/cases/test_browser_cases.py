"""A lead batch worked in Debian's Chromium (Playwright through ``executable_path``) with accounts and roles.

Sign in, import a lead list, open its case, assign, verify, attach a scan, confirm, refer, export
the 台账 — each step as the role that may do it — and a viewer who cannot reveal or change a
state even by posting the form itself (the server refuses).  Uses the shared ``browser`` fixture
(tests/conftest.py: the CI rule, fails under CI=true when Chromium cannot start, never skips there).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from rxring import audit
from rxring.cases import leads as lead_lists
from rxring.cases import store
from rxring.cases.users import ROLES, add_user

pytestmark = pytest.mark.browser

SERVE_CONFTEST = Path(__file__).resolve().parents[1] / "serve" / "conftest.py"
PASSWORD = "browser-pass-0123"


def _serve_fixtures():
    spec = importlib.util.spec_from_file_location("rxring_tests_serve_fixtures", SERVE_CONFTEST)
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


_SERVE = _serve_fixtures()
artifacts = _SERVE.artifacts   # the workbench tests' screenshot folders (``browser`` is tests/conftest.py's)


@pytest.fixture(scope="module")
def server(city, tmp_path_factory):
    """The workbench with one account per role over a copy of the city, on a free loopback port."""
    from rxring.results import build_lookup
    from rxring.serve import create_app

    ws = tmp_path_factory.mktemp("cases-browser") / "ws"
    shutil.copytree(city.workspace, ws)
    build_lookup(ws)
    for role in ROLES:
        add_user(ws, role, role, PASSWORD)
    with _SERVE.serving(create_app(ws)) as base:
        yield base, ws


class Signed:
    """One browser context signed in as *role*; records console errors and requests leaving 127.0.0.1."""

    def __init__(self, browser, base: str, role: str):
        self.context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN",
                                           accept_downloads=True)
        self.tab = self.context.new_page()
        self.errors, self.outside = [], []
        self.tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.tab.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.tab.on("request", lambda r: self.outside.append(r.url) if not r.url.startswith(base + "/") else None)
        self.tab.goto(base + "/cases")
        assert "/login" in self.tab.url          # no session: the sign-in form
        self.tab.fill("#name", role)
        self.tab.fill("#password", PASSWORD)
        self.tab.click("#login-submit")
        self.tab.wait_for_url("**/cases")
        assert f"({role})" in self.tab.locator("span.user").inner_text()

    def close(self):
        self.context.close()
        assert not self.outside, self.outside
        assert not [e for e in self.errors if "403" not in e], self.errors   # the viewer's refused posts log 403s


def _lead_list(ws: Path, folder: Path) -> tuple[Path, str, str]:
    """A lead list as a bureau sends it (XLSX, a title row, 序号 … 疑点描述): a code of the first ring, the most
    repeated code no rule fired on (triage explains it), a code not in the workspace, a row without a code."""
    from openpyxl import Workbook

    from rxring.results import load_findings, load_rings
    from rxring.workspace import Workspace

    rings, findings = load_rings(ws), load_findings(ws)
    ring = rings.iloc[0]
    code = findings[findings["finding_id"] == ring["finding_ids"][0]]["trace_codes"].iloc[0][0]
    flagged = {c for codes in findings["trace_codes"] for c in codes}
    events = Workspace(ws).events_dataset().to_table(columns=["trace_code"]).to_pandas()
    quiet = events[~events["trace_code"].isin(flagged)]["trace_code"].value_counts().index[0]
    book = Workbook()
    sheet = book.active
    sheet.append(["某市医疗保障局 药品追溯码疑点线索清单（2026年第3批）"])
    sheet.append(["序号", "定点医药机构名称", "追溯码", "结算次数", "疑点描述"])
    sheet.append([1, "某某大药房", code, 3, "同一追溯码多次结算"])
    sheet.append([2, "某某药店", quiet, 2, "追溯码重复上传"])
    sheet.append([3, "某某诊所", "00000000000000000000", 2, "不存在"])
    sheet.append([4, "某某诊所", "", 1, "空行"])
    path = folder / "医保局线索.xlsx"
    book.save(path)
    return path, ring["ring_id"], quiet


def test_a_lead_batch_from_import_to_referral_and_export(browser, server, artifacts, tmp_path):
    base, ws = server
    leads_file, ring_id, quiet = _lead_list(ws, tmp_path)

    worker = Signed(browser, base, "investigator")
    tab = worker.tab
    tab.click("#nav-leads")
    tab.set_input_files("#leads-file", str(leads_file))
    tab.click("#leads-submit")
    summary = tab.locator("#import-summary").inner_text()
    assert "4 rows read" in summary and "2 matched" in summary and "1 not in the workspace" in summary
    assert "1 rejected" in summary
    assert tab.locator("#import-problems tr").count() == 3        # header + two rows with their line
    assert ring_id in tab.locator("#leads-table").inner_text()
    triaged = tab.locator("#leads-table tr", has_text=quiet).inner_text()   # no rule fired: what explains it
    [lead] = [lead for lead in lead_lists.list_leads(ws) if lead["key_value"] == quiet]
    assert lead["rules"] is None and lead["explanation"] and lead["explanation"][:30] in triaged
    _SERVE.Watched(tab, [], []).shot(artifacts, "cases-leads")
    tab.locator("#leads-table a[href^='/case/']").first.click()
    case_id = int(tab.url.rsplit("/", 1)[1])
    assert tab.locator("#case-state").inner_text().endswith("new")
    assert tab.locator("#case-leads a[href^='/box/']").count() == 1   # the lead's chain of custody
    assert tab.locator("#assign-form").count() == 0                  # an investigator does not assign
    worker.close()

    boss = Signed(browser, base, "supervisor")
    boss.tab.goto(f"{base}/case/{case_id}")
    boss.tab.fill("#assignee", "investigator")
    boss.tab.fill("#due_date", "2026-12-31")
    boss.tab.click("#assign-submit")
    assert boss.tab.locator("#case-assignee").inner_text() == "investigator"

    worker = Signed(browser, base, "investigator")
    tab = worker.tab
    tab.goto(f"{base}/case/{case_id}")
    tab.fill("#reason", "已要求机构提供随货同行单")
    tab.click("#move-verifying")
    assert tab.locator("#case-state").inner_text().endswith("verifying")
    scan = tmp_path / "随货同行单.pdf"
    scan.write_bytes(b"%PDF-1.4 scanned delivery note")
    tab.set_input_files("#attach-file", str(scan))
    tab.click("#attach-submit")
    assert "随货同行单.pdf" in tab.locator("#attachments").inner_text()
    tab.fill("#comment-body", "机构无法提供发票")
    tab.click("#comment-submit")
    assert "机构无法提供发票" in tab.locator("#comments").inner_text()
    assert tab.locator("#move-confirmed").count() == 0                # confirming is the supervisor's
    worker.close()

    boss.tab.goto(f"{base}/case/{case_id}")
    boss.tab.fill("#reason", "无票据，查实")
    boss.tab.fill("#amount_recovered", "1500")
    boss.tab.fill("#amount_fined", "3000")
    boss.tab.click("#move-confirmed")
    assert boss.tab.locator("#case-state").inner_text().endswith("confirmed")
    boss.tab.fill("#reason", "移送公安")
    boss.tab.fill("#referral_no", "GA-2026-0017")
    boss.tab.click("#move-referred")
    assert boss.tab.locator("#case-referral").inner_text() == "GA-2026-0017"
    assert boss.tab.locator("#history").inner_text().count("supervisor") >= 4
    _SERVE.Watched(boss.tab, [], []).shot(artifacts, "cases-case")
    boss.tab.goto(f"{base}/cases")
    with boss.tab.expect_download() as download:
        boss.tab.click("#ledger-xlsx")
    saved = tmp_path / "ledger.xlsx"
    download.value.save_as(saved)
    from openpyxl import load_workbook

    sheet = load_workbook(saved).worksheets[0]
    header = [c.value for c in sheet[1]]
    [row] = [r for r in (dict(zip(header, [c.value for c in line])) for line in sheet.iter_rows(min_row=2))
             if r["案件编号 (case)"] == case_id]
    assert row["状态 (state)"] == "已移送 referred" and row["移送编号 (referral no.)"] == "GA-2026-0017"
    boss.close()

    case = store.get_case(ws, case_id)
    assert (case["state"], case["amount_recovered"], case["amount_fined"]) == ("referred", 1500.0, 3000.0)
    assert [h["actor"] for h in store.history(ws, case_id) if h["field"] == "state"] == [
        "investigator", "supervisor", "investigator", "supervisor", "supervisor"]
    assert lead_lists.list_batches(ws)[0]["rows_read"] == 4
    assert audit.verify(ws).ok


def test_a_viewer_cannot_reveal_or_change_a_state(browser, server):
    base, ws = server
    from rxring.cases.users import Actor

    case = store.open_case(ws, Actor("supervisor", "supervisor"), "findings", "viewer test")
    viewer = Signed(browser, base, "viewer")
    tab = viewer.tab
    tab.goto(f"{base}/case/{case['id']}")
    assert tab.locator("#state-form").count() == 0 and tab.locator("#comment-form").count() == 0
    tab.goto(f"{base}/rings")
    tab.locator("table.rings a[href^='/ring/']").first.click()
    assert tab.locator("#reveal-link").count() == 0
    # the page offers nothing; post the forms anyway with the viewer's own valid CSRF token
    statuses = tab.evaluate("""async (caseId) => {
        const csrf = document.querySelector('#logout-form input[name=csrf]').value;
        const post = async (url, fields) => (await fetch(url, {method: 'POST', body: new URLSearchParams({csrf, ...fields})})).status;
        return [await post('/case/' + caseId + '/state', {to: 'assigned', reason: 'try', version: '1'}),
                await post('/reveal', {next: '/rings', reason: 'curious'}),
                await post('/case/' + caseId + '/comment', {body: 'hi'})];
    }""", case["id"])
    assert statuses == [403, 403, 403]
    assert store.get_case(ws, case["id"])["state"] == "new" and not store.comments(ws, case["id"])
    viewer.close()
