"""The workbench in Debian's Chromium (Playwright through ``executable_path``), over the shared city.

Each test opens pages as an investigator would; the ``page`` fixture fails a test
whose page made a request anywhere but 127.0.0.1 or logged a console error.
Screenshots go to the pytest tmp folder and to $RXRING_TEST_ARTIFACTS (default
tests/artifacts/, git-ignored) so CI keeps them.
"""

from __future__ import annotations

import pytest

from rxring.pii import mask_id
from rxring.reveal import read_reveals
from rxring.serve.graph import EXPAND_PAGE, expand_node, ring_graph

from .conftest import XSS_IMG, XSS_SCRIPT, Watched, serving

pytestmark = pytest.mark.browser

#: Draws two different CJK characters in the page's font; tofu (a missing glyph) draws both as the same box.
CJK_DIFFERS = """() => {
  const font = getComputedStyle(document.body).fontFamily;
  const draw = (ch) => {
    const c = document.createElement('canvas'); c.width = 40; c.height = 40;
    const g = c.getContext('2d'); g.font = '32px ' + font; g.fillText(ch, 2, 32);
    return Array.from(g.getImageData(0, 0, 40, 40).data).join(',');
  };
  return draw('概') !== draw('览') && draw('药') !== draw('团');
}"""


def test_overview_renders_in_chinese(page, live, artifacts):
    tab = page.page
    assert tab.url.rstrip("/") == live.base
    assert tab.locator("h1").inner_text() == "概览"
    assert tab.locator("#counts .card").count() == 6
    assert tab.locator("svg.chart rect").count() > 0
    assert tab.evaluate(CJK_DIFFERS), "CJK text renders as tofu (install fonts-noto-cjk)"
    page.shot(artifacts, "overview")
    tab.click("#lang-switch")
    assert tab.locator("h1").inner_text() == "Overview"
    tab.click("#lang-switch")
    assert tab.locator("h1").inner_text() == "概览"


def test_search_a_code_lands_on_its_box(page, live, artifacts):
    bench = live.app.state.bench
    code = bench.findings[bench.findings["rule"] == "DUP_DISPENSE"].iloc[0]["trace_codes"][0]
    spaced = " ".join(code[i:i + 4] for i in range(0, len(code), 4))
    tab = page.page
    tab.fill("#q", spaced)
    tab.press("#q", "Enter")
    tab.wait_for_url(f"**/box/{code}")
    assert code in tab.locator("h1").inner_text()
    assert tab.locator("svg.lanes circle.dot").count() >= 2
    assert tab.locator("svg.lanes circle.offending").count() >= 1
    assert tab.locator("table.events tr.offending").count() >= 1
    assert ".jsonl:" in tab.locator("table.events").inner_text()   # each scan's source file and line
    page.shot(artifacts, "box")


def _expandable(live) -> tuple[str, str]:
    """(ring id, node id) of a node whose expansion brings nodes from outside the ring."""
    bench = live.app.state.bench
    for ring_id in bench.rings["ring_id"]:
        graph = ring_graph(bench, ring_id, "zh")
        if graph["grouped"]:
            continue
        for node in graph["nodes"]:
            if node["role"] in ("prescriber", "laundering_site", "source_site"):
                found = expand_node(bench, ring_id, node["id"], "zh")
                drawn = {n["id"] for n in graph["nodes"]}
                if any(n["id"] not in drawn for n in found["nodes"]):
                    return ring_id, node["id"]
    pytest.fail("no ring of the city has a node with neighbours outside it")


def test_ring_graph_expand_and_time_bar(page, live, artifacts):
    ring_id, node_id = _expandable(live)
    tab = page.page
    tab.goto(f"{live.base}/ring/{ring_id}")
    tab.wait_for_selector("body[data-graph-ready='1']", timeout=15_000)
    before = tab.evaluate("() => window.rxringCy.nodes().length")
    edges = tab.evaluate("() => window.rxringCy.edges().length")
    assert before > 3 and edges > 3
    page.shot(artifacts, "ring")
    with tab.expect_download() as download:
        tab.click("#export-png")
    png = download.value.path().read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and download.value.suggested_filename == f"{ring_id}.png"

    # click the node on the canvas: the side panel opens with its findings and an expand button
    box = tab.locator("#cy").bounding_box()
    point = tab.evaluate("(id) => window.rxringCy.getElementById(id).renderedPosition()", node_id)
    tab.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    tab.wait_for_selector("#panel h4")
    assert tab.locator("#panel h4").last.inner_text() == "最近事件"    # a list of events, not a count
    # the legend draws each role in its graph shape (prescriber triangle, laundering star)
    shapes = tab.evaluate("""() => ['prescriber', 'patient', 'source', 'laundering'].map(r =>
        getComputedStyle(document.querySelector('.lg-' + r), '::before').clipPath)""")
    assert shapes[0].startswith("polygon") and shapes[3].startswith("polygon")
    tab.click("#expand-node")
    tab.wait_for_function(f"() => window.rxringCy.nodes().length > {before}", timeout=10_000)
    outside = tab.evaluate("() => window.rxringCy.nodes('.outside').length")
    assert outside > 0
    unseen = tab.evaluate("""() => { const v = window.rxringCy.extent();
        return window.rxringCy.nodes().filter(n => { const b = n.boundingBox();
            return b.x1 < v.x1 || b.x2 > v.x2 || b.y1 < v.y1 || b.y2 > v.y2; }).map(n => n.id()); }""")
    assert not unseen, f"expanded nodes drawn outside the view: {unseen}"
    page.shot(artifacts, "ring-expanded")

    # the time bar: a narrow window at the start hides the edges of later movements
    visible = tab.evaluate("() => window.rxringCy.edges(':visible').length")
    tab.focus("#t-to")
    for _ in range(3):
        tab.keyboard.press("PageDown")
    tab.keyboard.press("Home")
    tab.wait_for_function(f"() => window.rxringCy.edges(':visible').length < {visible}", timeout=5_000)
    page.shot(artifacts, "ring-time-window")
    tab.keyboard.press("End")
    tab.wait_for_function(f"() => window.rxringCy.edges(':visible').length === {visible}", timeout=5_000)


def test_reveal_a_patient_with_a_reason(page, live, artifacts):
    bench = live.app.state.bench
    patient = bench.rings.iloc[0]["source_patients"][0]
    tab = page.page
    tab.goto(f"{live.base}/patient/{bench.ref('patient', patient)}")
    assert mask_id(patient) in tab.locator("h1").inner_text()
    assert patient not in tab.content()
    tab.click("#reveal-link")
    tab.fill("#reason", "核查团伙 R001 来源参保人")
    tab.click("#reveal-submit")
    tab.wait_for_selector("#revealed-banner")
    assert patient in tab.locator("h1").inner_text()
    page.shot(artifacts, "patient-revealed")
    record = read_reveals(live.workspace)[-1]
    assert record["reason"] == "核查团伙 R001 来源参保人" and record["user"] == "browser-tester"


def test_a_group_node_shows_its_count_and_expands(page, live, artifacts, monkeypatch):
    """Over the node budget a ring's patients come as group nodes; expanding one brings its patients in,
    inside the ring's outline, and the group shows what is left of it (or goes)."""
    bench = live.app.state.bench
    ring_id = bench.rings.iloc[0]["ring_id"]
    monkeypatch.setattr(bench, "max_nodes", 4)
    graph = ring_graph(bench, ring_id, "zh")
    group = max((n for n in graph["nodes"] if n["role"] == "patient_group"), key=lambda n: n["count"])
    tab = page.page
    tab.goto(f"{live.base}/ring/{ring_id}")
    tab.wait_for_selector("body[data-graph-ready='1']", timeout=15_000)
    shown = tab.evaluate("(id) => window.rxringCy.getElementById(id).data('label')", group["id"])
    assert shown == group["label"] and str(group["count"]) in shown
    before = tab.evaluate("() => window.rxringCy.nodes('.member').length")
    page.shot(artifacts, "ring-grouped")

    box = tab.locator("#cy").bounding_box()
    point = tab.evaluate("(id) => window.rxringCy.getElementById(id).renderedPosition()", group["id"])
    tab.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    tab.wait_for_selector("#panel h4")
    tab.click("#expand-node")
    added = min(group["count"], EXPAND_PAGE)
    tab.wait_for_function(f"() => window.rxringCy.nodes('.member').length === {before + added - (added == group['count'])}",
                          timeout=10_000)
    patients = tab.evaluate("() => window.rxringCy.nodes('[role = \"patient\"]').map(n => n.parent().id())")
    assert len(patients) == added and set(patients) == {"ring-outline"}
    left = tab.evaluate("(id) => window.rxringCy.getElementById(id).empty() ? null : window.rxringCy.getElementById(id).data('label')",
                        group["id"])
    if group["count"] > EXPAND_PAGE:
        assert str(group["count"] - EXPAND_PAGE) in left
    else:
        assert left is None
    page.shot(artifacts, "ring-group-expanded")


def test_hostile_names_stay_text_in_the_browser_and_the_graph(browser, app, serve_case, artifacts):
    """Site and product names holding <script> / onerror= payloads (the report fixture) are shown as
    text on every page and as the graph's node labels and side panel: no dialog opens, no element
    comes of them."""
    with serving(app) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        tab = context.new_page()
        dialogs, errors = [], []
        tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(f"{base}/login?token={app.state.store.token}")
        shown = {"/site/S-XSS1": "S-XSS1 " + XSS_SCRIPT + "大药房", "/site/S-XSS2": "S-XSS2 " + XSS_IMG,
                 f"/box/{serve_case.small_ring_codes[0]}": XSS_IMG + "胶囊"}
        for url in ["/", "/rings", "/findings?site=S-XSS1", "/search?q=S-XSS", *shown, "/ring/R001"]:
            tab.goto(base + url)
            assert tab.locator("img").count() == 0, url
            assert tab.locator("script:not([src]):not([type='application/json'])").count() == 0, url
            if url in shown:
                assert shown[url] in tab.locator("main").inner_text(), url
        tab.wait_for_selector("body[data-graph-ready='1']", timeout=15_000)
        labels = tab.evaluate("() => window.rxringCy.nodes().map(n => n.data('label'))")
        assert "S-XSS1 " + XSS_SCRIPT + "大药房" in labels and "S-XSS2 " + XSS_IMG in labels
        box = tab.locator("#cy").bounding_box()
        point = tab.evaluate("() => window.rxringCy.getElementById('site:S-XSS2').renderedPosition()")
        tab.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        tab.wait_for_selector("#panel h4")
        assert tab.locator("#panel h3").inner_text() == "S-XSS2 " + XSS_IMG
        assert tab.locator("#panel img").count() == 0
        Watched(page=tab, requests=[], errors=[]).shot(artifacts, "ring-hostile-names")
        context.close()
    assert not dialogs and not errors, (dialogs, errors)


def test_ring_explorer_sizes_by_money_plays_through_time_and_keeps_its_layout(page, live, artifacts):
    """Node size follows fund at risk, edge width the boxes moved; *play* slides the time window
    through the ring's period; the same ring is drawn the same way on the next visit."""
    ring_id = live.app.state.bench.rings.iloc[0]["ring_id"]
    tab = page.page

    def drawn():
        tab.goto(f"{live.base}/ring/{ring_id}")
        tab.wait_for_selector("body[data-graph-ready='1']", timeout=15_000)
        return tab.evaluate("""() => ({
            nodes: window.rxringCy.nodes().not('.ring').map(n => [n.id(), n.data('fund'), n.width(), n.position()]),
            edges: window.rxringCy.edges().map(e => [e.data('boxes'), e.width()]) })""")

    first = drawn()
    by_fund = sorted((fund, size) for _, fund, size, _ in first["nodes"])
    assert all(a[1] <= b[1] + 1e-6 for a, b in zip(by_fund, by_fund[1:])) and by_fund[0][1] < by_fund[-1][1]
    by_boxes = sorted(first["edges"])
    assert all(a[1] <= b[1] + 1e-6 for a, b in zip(by_boxes, by_boxes[1:])) and by_boxes[0][1] < by_boxes[-1][1]

    edges = len(first["edges"])
    label = tab.locator("#t-label").inner_text()
    tab.click("#play")
    tab.wait_for_function("() => Number(document.getElementById('t-from').value) >= 100", timeout=10_000)
    moving = tab.locator("#t-label").inner_text()
    assert moving != label and tab.evaluate("() => window.rxringCy.edges(':visible').length") < edges
    tab.click("#play")    # stops it

    again = drawn()
    where = {node_id: pos for node_id, _, _, pos in first["nodes"]}
    moved = [node_id for node_id, _, _, pos in again["nodes"]
             if abs(pos["x"] - where[node_id]["x"]) > 0.5 or abs(pos["y"] - where[node_id]["y"]) > 0.5]
    assert not moved, f"the layout changed between visits: {moved[:5]}"
