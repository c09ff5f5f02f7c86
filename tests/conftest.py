"""What every test folder shares: the markers, the one CI rule, and one synthetic city.

The CI rule: a test that needs something outside Python (a Neo4j server, Spark
and Java, headless Chromium) and cannot get it **fails** when the environment
variable ``CI`` is ``1``, ``true`` or ``yes`` (any case), and is skipped with the
reason elsewhere.  Every folder calls :func:`unavailable` through the fixture of
the same name; no folder decides this on its own.

Markers are given by folder (``tests/neo4j`` -> ``neo4j``, ``tests/spark`` ->
``spark``) and by fixture (a test using ``chromium`` is ``browser``), so ``-m "not
neo4j"`` and friends select as expected.

``city`` is one synthetic city (NHSA JSON Lines, with products and sites
masters), generated, ingested and analysed once per session on the embedded
backend; tests that only read it share it instead of each area building its own.
Tests that change a workspace copy it first (``city_copy``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The JVMs the tests start (Neo4j, neo4j-admin, the Spark driver) live for seconds on tiny data: with the quick
#: compiler only they use about a quarter less CPU (measured on tests/spark/test_fixtures.py: 25.0 -> 17.7 CPU-s
#: for one job chain), and without verifying the bytecode of the jars they load (the JDK's own classes are
#: not verified either) a Neo4j boot takes 12.7 CPU-s instead of 14.3.  Set before any test (or the early
#: Neo4j and Spark starts) launches a JVM.
os.environ.setdefault("RXRING_JAVA_OPTIONS",
                      "-XX:TieredStopAtLevel=1 -XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote")

#: The tests' Neo4j server plans each Cypher text once: every test loads a new small graph, and with Neo4j's
#: defaults a plan is made again when the graph's counts have moved since (checked 10 s after it was made) and
#: for every other size class of a list parameter.  That planning was 46 of the server's 103 CPU-s over
#: tests/neo4j; with these two settings 31 of 88 (db.stats QUERIES, two runs each).  Answers never depend on
#: the plan; an analysis of 1,000 events or more still replans (rules.refresh_plans).
os.environ.setdefault("RXRING_NEO4J_SETTINGS",
                      "dbms.cypher.min_replan_interval=1h; internal.cypher.use_parameter_size=false")

#: Markers per top-level test folder.
FOLDER_MARKERS = {"neo4j": "neo4j", "spark": "spark"}

#: The folders whose tests share one JVM (a Neo4j server, a SparkSession), longest first: under xdist each
#: is one unit of work, handed out first.
JVM_GROUPS = ("spark", "neo4j")

#: Markers per fixture a test uses.
FIXTURE_MARKERS = {"chromium": "browser", "spark": "spark", "neo4j_config": "neo4j", "neo4j_driver": "neo4j"}

#: The shared city: seed and size (about 20k events; all planted ring styles appear).
CITY_SEED = 5
CITY_SIZE = dict(patients=1500, days=60)


def in_ci() -> bool:
    """True when the CI rule applies (``CI`` is 1, true or yes)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable_now(reason: str):
    """Fail (in CI) or skip (elsewhere) the current test: a server, Spark or a browser is missing."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def unavailable():
    """The CI rule as a fixture: ``unavailable("no Neo4j server: ...")`` fails in CI, skips elsewhere."""
    return unavailable_now


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent
    for item in items:
        try:
            folder = Path(str(item.fspath)).resolve().relative_to(root).parts[0]
        except ValueError:
            folder = ""
        marker = FOLDER_MARKERS.get(folder)
        if marker:
            item.add_marker(getattr(pytest.mark, marker))
        for fixture, mark in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, mark))
    if hasattr(config, "workerinput"):
        # In an xdist worker: the two JVM folders are the longest units of work (work_unit below), handed out
        # first, each to its own worker, while the other folders fill in around them (a serial run keeps the
        # folder order, in which the JVMs boot early in a thread beside the Python tests: tests/early_start.py).
        items.sort(key=lambda item: next((i for i, m in enumerate(JVM_GROUPS) if work_unit(item.nodeid) == m),
                                         len(JVM_GROUPS)))


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to under xdist: its folder of tests/, else its file.

    One folder on one worker: its session- and module-scoped fixtures are built once, and the Neo4j
    (or Spark) tests share one server (one SparkSession).  ``tests/neo4j/test_city.py::test_x`` is in
    ``neo4j``; a doctest ``rxring/pii.py::rxring.pii.mask_id`` is in ``rxring/pii.py``
    (tests/test_package_layout.py).  No doctest here: collecting this file as a doctest module registers
    its fixtures a second time, and the autouse ones then run twice on a worker.
    """
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return parts[1] if parts[0] == "tests" and len(parts) > 2 else path


@pytest.hookimpl(optionalhook=True)   # a pytest-xdist hook: ignored without it
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadscope`` with folders of tests/ as the scopes (:func:`work_unit`), in collection order."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FolderScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False   # keep the JVM folders first (pytest_collection_modifyitems)
    return FolderScheduling(config, log)


@pytest.fixture(autouse=True, scope="session")
def reveal_log(tmp_path_factory):
    """Reveals made without a workspace (graph-only commands) go to a temporary record, not the user's home."""
    path = tmp_path_factory.mktemp("reveals") / "reveals.jsonl"
    before = os.environ.get("RXRING_REVEAL_LOG")
    os.environ["RXRING_REVEAL_LOG"] = str(path)
    yield path
    if before is None:
        os.environ.pop("RXRING_REVEAL_LOG", None)
    else:
        os.environ["RXRING_REVEAL_LOG"] = before


@dataclass
class City:
    """The session's synthetic city: its generator summary, inputs, analysed workspace and truth."""

    root: Path
    summary: object
    inputs: Path
    workspace: Path
    result: object

    @property
    def truth(self) -> dict:
        import json

        return json.loads(self.summary.ground_truth.read_text(encoding="utf-8"))


def _build_city(root: Path) -> City:
    from rxring.analysis import analyze
    from rxring.options import AnalysisOptions
    from rxring.synth import generate

    summary = generate(root / "gen", seed=CITY_SEED, fmt="nhsa", **CITY_SIZE)
    workspace = root / "ws"
    result = analyze(workspace, "embedded", AnalysisOptions(seed=CITY_SEED), inputs=[summary.inputs_dir])
    return City(root=root, summary=summary, inputs=Path(summary.inputs_dir), workspace=workspace, result=result)


@pytest.fixture(scope="session")
def city(tmp_path_factory) -> City:
    """One NHSA city, ingested and analysed (embedded backend, seed ``CITY_SEED``); do not modify it.

    Under xdist the workers share one: the first to ask builds it in the run's common temporary folder
    (under a lock), the others read its pickled description."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _build_city(tmp_path_factory.mktemp("city"))
    import fcntl
    import pickle

    root = tmp_path_factory.getbasetemp().parent / "shared-city"
    root.mkdir(exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        described = root / "city.pickle"
        if described.exists():
            return pickle.loads(described.read_bytes())
        built = _build_city(root)
        described.write_bytes(pickle.dumps(built))
        return built


@pytest.fixture
def city_copy(city, tmp_path) -> Path:
    """A copy of the shared city's workspace that a test may change."""
    target = tmp_path / "ws"
    shutil.copytree(city.workspace, target)
    return target


# --------------------------------------------------------------------------- one browser for every folder


def _chromium_binary() -> str | None:
    for candidate in (os.environ.get("RXRING_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser(unavailable):
    """Debian's Chromium under Playwright (``executable_path``); the CI rule when it cannot start.

    One per session for every folder (tests/serve, tests/cases): Playwright's sync API runs one
    instance per thread."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    binary = _chromium_binary()
    if binary is None:
        unavailable("Chromium not found (run scripts/install-browser.sh)")
    manager = sync_playwright().start()
    try:
        launched = manager.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"])
    except Error as exc:
        manager.stop()
        unavailable(f"Chromium did not start under Playwright: {exc}")
    yield launched
    launched.close()
    manager.stop()
