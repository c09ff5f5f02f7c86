"""The workbench in Chinese: its zh pages over the shared city hold no English sentence.

Same checker as the report's zh outputs (tests/report/test_zh_outputs.py): ids,
codes, numbers and data values aside, every heading, column, explanation and
chain-of-custody note of a page is Chinese; the box page of a pack scanned twice
in one sale says so in Chinese.
"""

from __future__ import annotations

import json

import pytest

from rxring.report.i18n import TIMELINE_NOTES
from rxring.workspace import Workspace
from tests.report.test_zh_outputs import html_text, latin_only


@pytest.fixture
def city_client(city_copy):
    from starlette.testclient import TestClient

    from rxring.serve import create_app

    app = create_app(city_copy, user="tester")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get(f"/login?token={app.state.store.token}", follow_redirects=False).status_code == 303
        yield client


def _rescanned_code(workspace) -> str:
    """A trace code of the city with a re-scan (the same sale reported twice), from its analysis."""
    from rxring.backends.duckdb import code_timeline
    from rxring.options import AnalysisOptions
    from rxring.results import load_findings

    ws = Workspace(workspace)
    options = AnalysisOptions.from_dict(json.loads(ws.analysis_path.read_text(encoding="utf-8"))["options"])
    for codes in load_findings(workspace)["trace_codes"]:
        notes = code_timeline(ws, codes[0], options)["note"]
        if (notes == "same sale reported again (counted once)").any():
            return codes[0]
    pytest.fail("the city has no re-scanned pack among its findings")


def test_workbench_pages_in_chinese(city_client, city_copy):
    code = _rescanned_code(city_copy)
    pages = ["/", "/findings", "/rings", "/ring/R001", f"/box/{code}", "/findings?rule=RESURFACE"]
    data = {"tester", "nhsa-jsonl", "csv", "English"}   # "English": the link to the English pages
    for url in pages:
        response = city_client.get(url)
        assert response.status_code == 200, url
        text = html_text(response.text)
        assert latin_only(text, data) == [], (url, sorted(set(latin_only(text, data)))[:8])
        if url.startswith("/box/"):
            assert TIMELINE_NOTES["same sale reported again (counted once)"] in text
