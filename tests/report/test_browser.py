"""The outputs in a real browser: headless Chromium opens them from file://.

Checks that the network graph drew (canvas present, node count, painted pixels),
that no request left the file (Chromium's net log, with a positive control proving
the detector sees requests), that hostile names stay text, that the sortable table
sorts, and that Chinese renders with real glyphs (not tofu).  Screenshots go to
``$RXRING_SCREENSHOTS`` when set (for a person to look at), else to tmp.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from rxring.report import build_report, write_viz
from rxring.report.htmlkit import FONT_STACK

pytestmark = pytest.mark.browser


def _shots(tmp_path) -> Path:
    folder = Path(os.environ.get("RXRING_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _body_attrs(dom: str) -> dict:
    match = re.search(r"<body([^>]*)>", dom)
    assert match, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))


def _assert_png(path: Path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, path


def test_netlog_detector_sees_a_page_request(chromium, tmp_path):
    """Positive control: a page that does fetch something is caught by page_requests()."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/x.png"></body></html>', encoding="utf-8")
    run = chromium.open(page.as_uri(), budget_ms=2000)
    assert "http://127.0.0.1:9/x.png" in run.page_requests


def test_ring_visualisation_draws_offline(chromium, small_case, tmp_path):
    path = write_viz(small_case.root, ["R001"], tmp_path / "ring.html", lang="en")
    shot = _shots(tmp_path) / "viz-R001-en.png"
    run = chromium.open(path.as_uri() + "#node=site:S-XSS1", screenshot=shot)
    attrs = _body_attrs(run.dom)
    assert attrs["data-node-count"] == "6" and attrs["data-edge-count"] == "6"
    assert attrs["data-drawn"] == "1" and attrs["data-stabilized"] == "1"
    assert float(attrs["data-ink"]) > 0.005  # the canvas is really painted
    assert "<canvas" in run.dom
    assert run.page_requests == []
    # the clicked node's panel lists its events; hostile names are text, not elements
    assert attrs["data-selected"] == "site:S-XSS1"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;大药房 (S-XSS1)" in run.dom
    assert "<img src=" not in run.dom and "onerror=alert(1)>" not in run.dom.replace("onerror=alert(1)&gt;", "")
    _assert_png(run.screenshot)


def test_large_ring_visualisation_is_aggregated_and_stabilised(chromium, fixture_case, tmp_path):
    path = write_viz(fixture_case.root, ["R002"], tmp_path / "big.html", lang="zh")
    shot = _shots(tmp_path) / "viz-R002-zh.png"
    run = chromium.open(path.as_uri(), budget_ms=15000, screenshot=shot)
    attrs = _body_attrs(run.dom)
    assert attrs["data-node-count"] == "10"
    assert attrs["data-stabilized"] == "1" and float(attrs["data-ink"]) > 0.005
    assert run.page_requests == []
    _assert_png(run.screenshot)


def test_evidence_visualisation_opens_offline(chromium, small_case, tmp_path):
    import zipfile

    from rxring.report import build_evidence

    package = build_evidence(small_case.root, "R001", tmp_path / "case.zip")
    page = tmp_path / "ring.html"
    with zipfile.ZipFile(package.path) as archive:
        page.write_bytes(archive.read("ring.html"))
    run = chromium.open(page.as_uri())
    attrs = _body_attrs(run.dom)
    assert attrs["data-node-count"] == "6" and attrs["data-stabilized"] == "1"
    assert run.page_requests == []


def test_html_report_opens_offline_and_escapes(chromium, fixture_case, tmp_path):
    (index,) = build_report(fixture_case.root, "html", "zh", tmp_path / "report")
    shot = _shots(tmp_path) / "report-index-zh.png"
    run = chromium.open(index.as_uri(), budget_ms=3000, screenshot=shot, window=(1400, 500))
    assert 'data-sortable-ready="1"' in run.dom and run.page_requests == []
    _assert_png(run.screenshot)
    ring = index.parent / "ring-R001.html"
    run = chromium.open(ring.as_uri(), budget_ms=3000, screenshot=_shots(tmp_path) / "report-ring-zh.png")
    assert run.page_requests == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in run.dom
    assert "<img" not in run.dom


def test_sortable_table_sorts_numbers(chromium, fixture_case, tmp_path):
    """Click the score header twice (ascending, then descending) and read the row order."""
    (index,) = build_report(fixture_case.root, "html", "en", tmp_path / "report")
    page = index.read_text(encoding="utf-8")
    # The page's CSP only allows its own scripts; the test copy drops it to add a clicker.
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    clicker = (
        "<script>var th=document.querySelectorAll('table.sortable thead th')[2];th.click();"
        "var a=[].map.call(document.querySelectorAll('tbody tr'),function(r){return r.cells[1].textContent});"
        "th.click();var d=[].map.call(document.querySelectorAll('tbody tr'),function(r){return r.cells[1].textContent});"
        "document.body.setAttribute('data-asc',a.join(','));document.body.setAttribute('data-desc',d.join(','));</script>"
    )
    test_page = index.parent / "sort-test.html"
    test_page.write_text(page.replace("</body>", clicker + "</body>"), encoding="utf-8")
    attrs = _body_attrs(chromium.open(test_page.as_uri(), budget_ms=2000).dom)
    assert attrs["data-asc"] == "R002,R001" and attrs["data-desc"] == "R001,R002"


def test_chinese_text_renders_with_glyphs_not_tofu(chromium, tmp_path):
    """Draw Chinese characters and an unassigned code point in the report's font stack.

    With a CJK font, different characters give different pixels; without one, all of
    them are the same empty box (tofu), identical to the private-use character.
    """
    page = tmp_path / "cjk.html"
    page.write_text(
        "<html><head><meta charset='utf-8'></head><body><script>"
        "function px(t){var c=document.createElement('canvas');c.width=60;c.height=60;var x=c.getContext('2d');"
        f"x.font='40px {FONT_STACK.replace(chr(39), '')}';x.fillText(t,5,45);"
        "return Array.prototype.join.call(x.getImageData(0,0,60,60).data,'');}"
        "var a=px('回'),b=px('流'),tofu=px('\\uE000'),tofu2=px('\\uE001');"
        "document.body.setAttribute('data-distinct',String(a!==b));"
        "document.body.setAttribute('data-not-tofu',String(a!==tofu&&b!==tofu));"
        "document.body.setAttribute('data-control',String(tofu===tofu2));"
        "</script></body></html>",
        encoding="utf-8",
    )
    attrs = _body_attrs(chromium.open(page.as_uri(), budget_ms=2000).dom)
    assert attrs["data-control"] == "true"  # the detector: unassigned code points all look alike
    assert attrs["data-distinct"] == "true" and attrs["data-not-tofu"] == "true", (
        "Chinese renders as tofu: install fonts-noto-cjk (scripts/install-browser.sh)"
    )


def test_screenshots_are_kept_when_asked(tmp_path, monkeypatch):
    """The screenshot folder helper honours RXRING_SCREENSHOTS (used to look at the pages)."""
    monkeypatch.setenv("RXRING_SCREENSHOTS", str(tmp_path / "keep"))
    assert _shots(tmp_path) == tmp_path / "keep" and (tmp_path / "keep").is_dir()
    shutil.rmtree(tmp_path / "keep")
