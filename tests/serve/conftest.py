"""Fixtures of the workbench tests: an app over the hostile report fixture, a live server over the city, Chromium.

* ``serve_case``: tests/report's hand-made analysed workspace (hostile site names,
  Chinese names, a 210-patient ring), built once for this folder in its own tmp dir
  (the reveal tests write reveals.jsonl into it);
* ``app`` / ``client``: the Starlette app over it and a signed-in TestClient (a new
  session per test, so reveals granted in one test do not leak into another);
* ``live``: one uvicorn server per session over a copy of the shared ``city``, on a
  free loopback port in a thread;
* ``browser`` (tests/conftest.py, shared with tests/cases): Debian's Chromium driven by
  Playwright through ``executable_path`` (never a downloaded browser); when it cannot
  start, the CI rule applies (``unavailable``: fail under CI=true, skip elsewhere).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPORT_CONFTEST = Path(__file__).resolve().parents[1] / "report" / "conftest.py"


def _report_fixtures():
    spec = importlib.util.spec_from_file_location("rxring_tests_report_fixtures", REPORT_CONFTEST)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


REPORT = _report_fixtures()
XSS_SCRIPT, XSS_IMG = REPORT.XSS_SCRIPT, REPORT.XSS_IMG


@pytest.fixture(scope="session")
def serve_case(tmp_path_factory):
    """The report fixture workspace, private to the workbench tests; the small ring's packs carry a
    hostile product name (``XSS_IMG``) too."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from rxring.workspace import Workspace

    case = REPORT.build_workspace(tmp_path_factory.mktemp("serve-fixture"))
    ws = Workspace(case.root)
    table = ws.events_dataset().to_table()
    hostile = pc.is_in(table["trace_code"], value_set=pa.array(case.small_ring_codes))
    names = pc.if_else(hostile, pa.scalar(XSS_IMG + "胶囊"), table["product_name"])
    ws.write_event_part("fixture", table.set_column(table.schema.get_field_index("product_name"), "product_name", names))
    return case


@pytest.fixture(scope="session")
def app(serve_case):
    from rxring.serve import create_app

    return create_app(serve_case.root, user="tester")


@pytest.fixture
def client(app):
    """A TestClient signed in (its own session)."""
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        response = test_client.get(f"/login?token={app.state.store.token}", follow_redirects=False)
        assert response.status_code == 303
        yield test_client


# --------------------------------------------------------------------------- live server and browser


@dataclass
class Live:
    base: str
    app: object
    workspace: Path

    @property
    def login(self) -> str:
        return f"{self.base}/login?token={self.app.state.store.token}"


@contextlib.contextmanager
def serving(application):
    """Serve *application* with uvicorn on a free 127.0.0.1 port in a thread; yields the base URL."""
    import uvicorn

    from rxring.serve.server import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                          access_log=False))
    thread = threading.Thread(target=server.run, name="rxring-serve-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the workbench server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live(city, tmp_path_factory):
    """The workbench over a copy of the shared city, served on 127.0.0.1 in a thread."""
    from rxring.results import build_lookup
    from rxring.serve import create_app

    workspace = tmp_path_factory.mktemp("serve-city") / "ws"
    shutil.copytree(city.workspace, workspace)
    build_lookup(workspace)          # as `rxring serve` does: the pages read the sorted look-up copies
    application = create_app(workspace, user="browser-tester")
    with serving(application) as base:
        yield Live(base=base, app=application, workspace=workspace)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> tuple[Path, Path]:
    """(pytest tmp folder, $RXRING_TEST_ARTIFACTS or tests/artifacts) for screenshots."""
    kept = Path(os.environ.get("RXRING_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")
    kept.mkdir(parents=True, exist_ok=True)
    return tmp_path_factory.mktemp("screenshots"), kept


@dataclass
class Watched:
    page: object
    requests: list
    errors: list

    def shot(self, artifacts, name: str) -> Path:
        tmp, kept = artifacts
        path = tmp / f"serve-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        shutil.copy(path, kept / path.name)
        return path


@pytest.fixture
def page(browser, live):
    """A signed-in page that records every request and every console error / page error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    tab = context.new_page()
    watched = Watched(page=tab, requests=[], errors=[])
    tab.on("request", lambda request: watched.requests.append(request.url))
    tab.on("console", lambda msg: watched.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: watched.errors.append(f"page error: {exc}"))
    tab.goto(live.login)
    yield watched
    context.close()
    outside = [u for u in watched.requests if not u.startswith(live.base + "/") and not u.startswith(("data:", "blob:"))]
    assert not outside, f"requests left 127.0.0.1: {outside}"
    assert not watched.errors, watched.errors
