"""Every workbench endpoint through Starlette's TestClient, over the hostile report fixture.

Masking by default, pagination and filters, 404 pages, CSV export, reveals recorded
with their reason, and the injection payloads shown as text on every page.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest

from rxring.pii import mask_id
from rxring.reveal import read_reveals
from rxring.serve.app import CSP

XSS_SCRIPT = "<script>alert(1)</script>"     # as in tests/report/conftest.py
XSS_IMG = '"><img src=x onerror=alert(1)>'

SMALL_PATIENTS = ["11010519900101123X", "110105198512125678"]
NAMES = ["张三丰", "李四"]


def pages(app, case) -> list[str]:
    bench = app.state.bench
    patient = bench.ref("patient", SMALL_PATIENTS[0])
    prescriber = bench.ref("prescriber", "DR-" + XSS_SCRIPT)
    return [
        "/", "/rings", "/findings", "/findings?site=S-XSS1", "/ring/R001", "/ring/R002",
        f"/box/{case.small_ring_codes[0]}", "/site/S-XSS1", "/site/S-XSS2", "/site/H-001",
        f"/patient/{patient}", f"/prescriber/{prescriber}", "/settlement/SETL000002", "/search?q=S-XSS",
        "/search?q=%3Cscript", "/reveal?next=/ring/R001",
    ]


def apis(app) -> list[str]:
    bench = app.state.bench
    patient = bench.ref("patient", SMALL_PATIENTS[0])
    return ["/api/ring/R001/graph", "/api/ring/R002/graph", "/api/ring/R001/expand?node=site:H-001",
            f"/api/ring/R001/node?node=patient:{patient}", "/api/ring/R001/node?node=site:S-XSS1",
            f"/api/ring/R001/expand?node=patient:{patient}"]


def test_a_session_needs_the_start_token(app):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as anonymous:
        assert anonymous.get("/").status_code == 401
        assert anonymous.get("/api/ring/R001/graph").status_code == 401
        assert anonymous.get("/login?token=wrong").status_code == 401
        assert anonymous.get("/static/app.css").status_code == 200   # assets hold no data
        response = anonymous.get(f"/login?token={app.state.store.token}&next=//evil.example", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert anonymous.get("/").status_code == 200


def test_every_page_is_masked_escaped_and_locked_down(client, app, serve_case):
    for url in pages(app, serve_case):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        html = response.text
        for raw in SMALL_PATIENTS + NAMES + ["P00001", "P00117"]:
            assert raw not in html, (url, raw)
        # the payloads never reach the page as markup
        assert "<script>alert" not in html and "<img src=x" not in html and "onerror=alert(1)>" not in html, url
        # every script is a static file of ours or inert JSON; nothing names another origin
        for tag in re.findall(r"<script[^>]*>", html):
            assert re.fullmatch(r'<script src="/static/[\w./-]+">', tag) or \
                'type="application/json"' in tag, (url, tag)
        assert not re.search(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", html), url
        assert " style=" not in html, url   # the CSP allows no inline style
    overview = client.get("/").text
    assert "S-XSS1 &lt;script&gt;alert(1)&lt;/script&gt;大药房" in overview
    assert "S-XSS2 &#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in overview
    box = client.get(f"/box/{serve_case.small_ring_codes[0]}").text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;胶囊" in box   # the product name, as text
    ring = client.get("/ring/R001").text
    config = re.search(r'<script type="application/json" id="ring-config">(.*?)</script>', ring, re.S).group(1)
    assert "<" not in config and json.loads(config)["ring"] == "R001"


def test_json_endpoints_mask_and_carry_payloads_as_plain_strings(client, app):
    for url in apis(app):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("application/json")
        text = response.text
        for raw in SMALL_PATIENTS + NAMES:
            assert raw not in text, (url, raw)
    graph = client.get("/api/ring/R001/graph").json()
    labels = {n["label"] for n in graph["nodes"]}
    assert "S-XSS1 " + XSS_SCRIPT + "大药房" in labels and "S-XSS2 " + XSS_IMG in labels
    assert mask_id(SMALL_PATIENTS[0]) in labels
    roles = {n["role"] for n in graph["nodes"]}
    assert roles == {"prescriber", "patient", "source_site", "laundering_site"}
    assert all(e["times"] and e["boxes"] >= 1 for e in graph["edges"])
    assert not graph["grouped"] and not graph["revealed"]
    big = client.get("/api/ring/R002/graph").json()
    assert big["grouped"] and any(n["role"] == "patient_group" for n in big["nodes"])
    assert len(big["nodes"]) < 20
    expanded = client.get("/api/ring/R001/expand?node=site:H-001").json()
    assert {n["id"] for n in expanded["nodes"]} >= {"site:S-XSS1", "site:S-XSS2"}
    assert all(n["inRing"] for n in expanded["nodes"])
    detail = client.get("/api/ring/R001/node?node=site:S-XSS1").json()
    assert detail["findingsTotal"] == 2 and detail["rings"][0]["id"] == "R001"


def test_not_found_is_a_clear_404(client, serve_case):
    for url, what in [("/ring/R999", "R999"), ("/box/80000000000000099999", "80000000000000099999"),
                      ("/site/NOPE", "NOPE"), ("/patient/0123456789abcdef0123", "参保人"),
                      ("/settlement/NONE", "NONE"), ("/no/such/page", "/no/such/page")]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "未找到" in response.text and what in response.text, url
    assert client.get("/api/ring/R999/graph").status_code == 404
    assert client.get("/api/ring/R001/expand?node=patient:unknown").status_code == 404
    assert client.get("/findings?rule=NOPE").status_code == 400


def _rows(html: str) -> int:
    body = re.search(r'<table class="data findings">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return body.count("<tr>")


def test_findings_list_filters_sorts_and_pages(client):
    first = client.get("/findings?per=50").text
    assert _rows(first) == 50 and "第 1 / 5 页，共 214 条" in first
    last = client.get("/findings?per=50&page=5").text
    assert _rows(last) == 14
    assert "第 5 / 5 页" in client.get("/findings?per=50&page=999").text
    assert "共 210 条" in client.get("/findings?site=S-BIG").text
    assert "共 4 条" in client.get("/findings?ring=R001").text
    code = "8000 0000 0000 0000 1000"   # spaced: canonicalised
    assert "共 1 条" in client.get("/findings", params={"code": code}).text
    cheap = client.get("/findings?sort=fund_amount&order=asc&per=1").text
    assert "40.00" in cheap
    rings = client.get("/rings?min_fund=1000").text
    assert "R002" in rings and "/ring/R001" not in rings
    assert "/ring/R001" in client.get("/rings?sort=fund_at_risk&order=asc").text


def test_csv_export_is_what_is_listed_and_masked(client):
    response = client.get("/findings?site=S-XSS1&format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert len(rows) == 2 and {r["rule"] for r in rows} == {"RESURFACE"}
    for raw in SMALL_PATIENTS + NAMES:
        assert raw not in response.text
    assert mask_id(SMALL_PATIENTS[0]) in response.text
    rings = list(csv.DictReader(io.StringIO(client.get("/rings?format=csv").text.lstrip("\ufeff"))))
    assert [r["ring_id"] for r in rings] == ["R001", "R002"]


def test_csv_cells_never_start_a_formula():
    from rxring.serve.app import _csv_cell  # noqa: PLC2701 - the unit under test

    assert _csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _csv_cell(["a", "b"]) == "a;b"


def test_search_jumps_or_lists(client, app, serve_case):
    def jump(q):
        response = client.get("/search", params={"q": q}, follow_redirects=False)
        return response.headers.get("location") if response.status_code == 303 else None

    code = serve_case.small_ring_codes[0]
    assert jump(" ".join(code[i:i + 4] for i in range(0, 20, 4))) == f"/box/{code}"
    assert jump("r001") == "/ring/R001"
    assert jump("S-BIG") == "/site/S-BIG"
    assert jump("SETL000002") == "/settlement/SETL000002"
    assert jump(SMALL_PATIENTS[0]) == f"/patient/{app.state.bench.ref('patient', SMALL_PATIENTS[0])}"
    assert jump("DOC1") == f"/prescriber/{app.state.bench.ref('prescriber', 'DOC1')}"
    listed = client.get("/search", params={"q": "S-XSS"}).text
    assert listed.count("/site/S-XSS") >= 2
    by_name = client.get("/search", params={"q": "惠民"}).text
    assert "/site/S-BIG" in by_name
    partial = client.get("/search", params={"q": "1101051"}).text   # patients: listed masked
    assert mask_id(SMALL_PATIENTS[0]) in partial and SMALL_PATIENTS[0] not in partial
    assert "没有匹配的结果" in client.get("/search", params={"q": "zzzz-nothing"}).text


def test_reveal_asks_a_reason_and_is_recorded(client, app, serve_case):
    ref = app.state.bench.ref("patient", SMALL_PATIENTS[0])
    page = f"/patient/{ref}"
    before = len(read_reveals(serve_case.root))
    assert SMALL_PATIENTS[0] not in client.get(page).text
    form = client.get(f"/reveal?next={page}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    assert client.post("/reveal", data={"next": page, "reason": "x", "csrf": "forged"}).status_code == 403
    assert client.post("/reveal", data={"next": page, "reason": " ", "csrf": csrf}).status_code == 400
    assert len(read_reveals(serve_case.root)) == before
    response = client.post("/reveal", data={"next": page, "reason": "案件 2026-17 核查", "csrf": csrf},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == page
    shown = client.get(page).text
    assert SMALL_PATIENTS[0] in shown and "案件 2026-17 核查" in shown
    record = read_reveals(serve_case.root)[-1]
    assert record["reason"] == "案件 2026-17 核查" and record["user"] == "tester"
    assert record["command"] == "rxring serve" and record["what"]["page"] == page
    assert SMALL_PATIENTS[0] not in json.dumps(record, ensure_ascii=False)
    assert read_reveals(serve_case.root, person=SMALL_PATIENTS[0])
    # the reveal is this page's only: the ring page stays masked, and masking again ends it
    assert SMALL_PATIENTS[0] not in client.get("/ring/R001").text
    client.post("/reveal", data={"next": page, "csrf": csrf, "action": "mask"})
    assert SMALL_PATIENTS[0] not in client.get(page).text


def test_the_ring_graph_is_revealed_only_with_its_page(client, app, serve_case):
    form = client.get("/reveal?next=/ring/R001").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    client.post("/reveal", data={"next": "/ring/R001", "reason": "ring review", "csrf": csrf})
    graph = client.get("/api/ring/R001/graph").json()
    assert graph["revealed"] and SMALL_PATIENTS[0] in {n["label"] for n in graph["nodes"]}
    assert read_reveals(serve_case.root)[-1]["reason"] == "ring review"
    assert SMALL_PATIENTS[0] not in client.get("/api/ring/R002/graph").text


def test_english_switch(client):
    response = client.get("/lang/en?next=/rings")
    assert response.url.path == "/rings" and "Rings" in response.text and 'lang="en"' in response.text
    assert "Overview" in client.get("/").text


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("192.168.1.5", False)])
def test_loopback_is_told_apart(host, loopback):
    from rxring.serve import is_loopback

    assert is_loopback(host) is loopback


def test_serve_command_says_it_binds_loopback(serve_case, monkeypatch, tmp_path):
    import shutil

    from click.testing import CliRunner

    from rxring.cli import cli
    import rxring.serve.server as server

    workspace = tmp_path / "ws"
    shutil.copytree(serve_case.root, workspace)
    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: seen.update(kw))
    result = CliRunner().invoke(cli, ["serve", "-w", str(workspace), "--port", "8799"])
    assert result.exit_code == 0, result.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8799
    assert "loopback only" in result.output and "http://127.0.0.1:8799/login?token=" in result.output
    assert "look-up copies" in result.output and (workspace / "cache").is_dir()
    assert server.LOOPBACK == "127.0.0.1"


def test_xlsx_export_is_masked_and_never_a_formula(client):
    from openpyxl import load_workbook

    response = client.get("/findings?site=S-XSS1&format=xlsx")
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "finding_id" and len(rows) == 3
    text = json.dumps(rows, ensure_ascii=False, default=str)
    for raw in SMALL_PATIENTS + NAMES:
        assert raw not in text
    assert all(not str(v).startswith("=") for row in rows for v in row if v is not None)


def test_a_workspace_without_findings_still_serves(serve_case, tmp_path):
    import shutil

    import pandas as pd
    from starlette.testclient import TestClient

    from rxring.serve import create_app
    from rxring.workspace import Workspace

    root = tmp_path / "empty"
    shutil.copytree(serve_case.root, root)
    ws = Workspace(root)
    pd.read_parquet(ws.findings_path).head(0).to_parquet(ws.findings_path)
    pd.read_parquet(ws.rings_path).head(0).to_parquet(ws.rings_path)
    empty = create_app(root)
    with TestClient(empty, base_url="http://127.0.0.1") as c:
        c.get(f"/login?token={empty.state.store.token}")
        for url in ["/", "/rings", "/findings", "/findings?format=csv", "/site/S-XSS1", "/search?q=S-"]:
            assert c.get(url).status_code == 200, url
        assert c.get("/ring/R001").status_code == 404


def test_overview_counts_a_finding_once_per_region(app):
    regions = {r["region"]: r for r in app.state.bench.overview()["regions"]}
    assert regions["朝阳区"]["findings"] == 4 and regions["朝阳区"]["sites"] == 3
    assert regions["朝阳区"]["fund"] == 354.0
    assert regions["昌平区"]["findings"] == 210   # H-003's 105 and S-BIG's 210 overlap


def test_results_older_than_the_data_are_flagged(serve_case, tmp_path):
    import shutil

    from starlette.testclient import TestClient

    from rxring.serve import create_app
    from rxring.workspace import Workspace

    root = tmp_path / "stale"
    shutil.copytree(serve_case.root, root)
    ws = Workspace(root)
    meta = json.loads(ws.analysis_path.read_text(encoding="utf-8"))
    ws.analysis_path.write_text(json.dumps({**meta, "ingest_state": "an older ingest"}), encoding="utf-8")
    stale = create_app(root)
    with TestClient(stale, base_url="http://127.0.0.1") as c:
        c.get(f"/login?token={stale.state.store.token}")
        assert 'id="stale-banner"' in c.get("/").text


def test_current_results_carry_no_stale_banner(client):
    assert "stale-banner" not in client.get("/").text


def test_what_happened_in_a_chosen_month(client, app):
    """The overview lists each month with the findings and rings active in it, linked to the lists
    filtered to that month; the lists take any window (a finding counts when its period overlaps it)."""
    months = app.state.bench.overview()["months"]
    assert [(m["month"], m["since"], m["until"], m["findings"], m["rings"]) for m in months] == \
        [("2026-02", "2026-02-01", "2026-02-28", 0, 0), ("2026-03", "2026-03-01", "2026-03-31", 214, 2)]
    overview = client.get("/").text
    assert 'href="/findings?since=2026-03-01&amp;until=2026-03-31">214</a>' in overview
    assert 'href="/rings?since=2026-03-01&amp;until=2026-03-31">2</a>' in overview
    assert "共 214 条" in client.get("/findings?since=2026-03-01&until=2026-03-31").text
    # R001's findings run 03-01..03-04, 03-02..03-05, 03-03..03-06, 03-04..03-07
    one_day = client.get("/findings?ring=R001&since=2026-03-06&until=2026-03-06").text
    assert "共 2 条" in one_day and 'name="since" value="2026-03-06"' in one_day
    assert "共 0 条" in client.get("/findings?ring=R001&since=2026-03-08").text
    later = client.get("/rings?since=2026-03-08").text
    assert "/ring/R002" in later and "/ring/R001" not in later
    rows = list(csv.DictReader(io.StringIO(
        client.get("/findings?ring=R001&until=2026-03-01&format=csv").text.lstrip("\ufeff"))))
    assert [r["finding_id"] for r in rows] == ["RESURFACE:80000000000000001000:1"]
    for url in ("/findings?since=2026-13-01", "/rings?until=yesterday", "/findings?since=2026-03-05&until=2026-03-01"):
        response = client.get(url)
        assert response.status_code == 400 and ("is not a date" in response.text or "is before" in response.text), url


def test_the_activity_chart_counts_every_event_not_only_those_listed(client, app, serve_case):
    """A busy site lists its latest 200 events, but its events per week count all of them."""
    from rxring.workspace import Workspace

    times = Workspace(serve_case.root).events_dataset().to_table(columns=["site_id", "event_time"]).to_pandas()
    times = times.loc[times["site_id"] == "S-BIG", "event_time"]
    assert len(times) > 200
    expected = (times - pd.to_timedelta(times.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d").value_counts()
    site = app.state.bench.actor("site", "S-BIG")
    assert len(site["events"]) == 200
    assert site["weekly"] == {week: int(n) for week, n in sorted(expected.items())}
    page = client.get("/site/S-BIG").text
    assert all(f"{week} events: {n}</title>" in page for week, n in site["weekly"].items())


def test_a_site_page_shows_its_counterparties_before_its_findings(client):
    """Who else a pharmacy deals with is read near the top, not under a hundred findings; a chart of
    one or two weeks keeps narrow bars."""
    page = client.get("/site/S-BIG").text
    assert page.index('id="counterparties"') < page.index('class="data findings"') < page.index('class="data events"')
    assert page.index('svg class="chart"') < page.index('class="data findings"')
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', page)]
    assert widths and max(widths) <= 48


def test_the_time_bar_sees_a_pack_move_when_it_resurfaced(client):
    """An edge into a laundering site carries the time the pack turned up there (the finding's last
    time); the steps up to the source site carry the sale — so a window after the sales still shows
    where the packs went."""
    def epochs(*stamps):
        return [int(pd.Timestamp(s).timestamp()) for s in stamps]

    edges = {e["id"]: e for e in client.get("/api/ring/R001/graph").json()["edges"]}
    # R001: packs 1001 and 1003 sold at H-001 on 03-02 and 03-04, resurfaced at S-XSS2 on 03-05 and 03-07
    assert edges["site:H-001>site:S-XSS2"]["times"] == epochs("2026-03-05 09:00", "2026-03-07 09:00")
    assert edges["site:H-001>site:S-XSS1"]["times"] == epochs("2026-03-04 09:00", "2026-03-06 09:00")
    into_source = [e["times"] for e in edges.values() if e["target"] == "site:H-001"]
    assert sorted(t for times in into_source for t in times) == epochs(
        "2026-03-01 09:00", "2026-03-02 09:00", "2026-03-03 09:00", "2026-03-04 09:00")


def test_a_change_under_the_running_workbench_is_flagged(city, tmp_path, monkeypatch):
    """The pages say so when, after the workbench started, a newer analysis is published (restart it) or
    the data changes (analyse again); in Chinese first."""
    import shutil

    from starlette.testclient import TestClient

    import rxring.serve.data as data
    from rxring.serve import create_app
    from rxring.workspace import Workspace

    monkeypatch.setattr(data, "CHECK_SECONDS", 0.0)
    root = tmp_path / "ws"
    shutil.copytree(city.workspace, root)
    ws = Workspace(root)
    running = create_app(root)
    with TestClient(running, base_url="http://127.0.0.1") as c:
        c.get(f"/login?token={running.state.store.token}")
        assert "stale-banner" not in c.get("/").text
        newer = ws.generations_dir / "gen-999999"           # what `rxring analyze` publishes
        shutil.copytree(ws.current_generation(), newer)
        ws.current_pointer.write_text(newer.name, encoding="utf-8")
        page = c.get("/rings").text
        assert 'id="stale-banner"' in page and "请重启 rxring serve" in page
        products = next(ws.masters_dir.glob("*.parquet"))
        products.write_bytes(products.read_bytes() + b"\0")    # the data changed: another size
        page = c.get("/").text
        assert "数据在这些结果计算之后有变动" in page and f"rxring analyze -w {root}" in page


def test_counterparties_say_how_many_there_are(client):
    """Each relation of a site's counterparties is headed by its number, and says when only the first
    15 of them are listed (S-BIG: 210 source patients, 2 source sites)."""
    page = client.get("/site/S-BIG").text
    headings = re.findall(r'<tr class="relation"><th colspan="5">([^<]*)</th></tr>', page)
    assert headings == ["药品来源参保人 · 显示前 15 个，共 210 个", "药品来源机构 · 2"]
    english = client.get("/lang/en?next=/site/S-BIG").text
    assert "· the first 15 of 210</th>" in english
    client.get("/lang/zh")


def test_the_readme_line_starts_the_workbench_on_the_demo_city(city, tmp_path, monkeypatch):
    """README's one line (`rxring demo && rxring serve -w rxring-demo/workspace`) names the demo's
    workspace, and `rxring serve` on a demo city prints a URL that opens its overview."""
    import shutil
    from pathlib import Path

    from click.testing import CliRunner
    from starlette.testclient import TestClient

    from rxring.cli import cli

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    line = re.search(r"^rxring demo && rxring serve -w (\S+)", readme, re.M)
    out = next(p.default for p in cli.get_command(None, "demo").params if p.name == "out_dir")
    assert line and line.group(1) == f"{out}/workspace"
    monkeypatch.chdir(tmp_path)
    shutil.copytree(city.workspace, Path(out) / "workspace")
    served = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.update(app=app, **kw))
    result = CliRunner().invoke(cli, ["serve", "-w", line.group(1)])
    assert result.exit_code == 0, result.output
    url = re.search(r"open: (http://127\.0\.0\.1:8765/login\?token=\S+)", result.output).group(1)
    with TestClient(served["app"], base_url="http://127.0.0.1:8765") as browser:
        page = browser.get(url)
        assert page.status_code == 200 and "<h1>概览</h1>" in page.text and "/ring/R001" in page.text
