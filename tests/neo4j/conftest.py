"""A real Neo4j server for the tests in this folder.

``NEO4J_URI`` set: use that server (with NEO4J_USER / NEO4J_PASSWORD / NEO4J_DATABASE).
Otherwise start a private rxring-managed instance (``rxring.backends.neo4j.server``)
once per test session and delete it at the end.  A test that cannot get a server
fails in CI and is skipped elsewhere (the ``unavailable`` fixture of tests/conftest.py,
which also marks every test here ``neo4j``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rxring.errors import RxringError
from rxring.backends.neo4j.connect import Neo4jConfig, connect, resolve_config
from rxring.backends.neo4j.server import read_state, stop_server

from tests.early_start import EarlyStart

from .graph_data import SCRATCH, reset_graph

_STARTED: dict = {}


#: What starts the session's server: the command a user types, in a process of its own (the server
#: outlives it, as it does for the user); tests/neo4j/test_cli.py reads what it printed.
START_ARGS = ("neo4j", "start", "--local", "--heap-mb", "768", "--pagecache-mb", "256")


@dataclass
class CliStart:
    """A local instance started by ``rxring neo4j start``: its name, state and what the command printed."""

    instance: str
    state: object
    output: str


def _start_instance() -> CliStart:
    """This session's private Neo4j server, started by ``python -m rxring neo4j start --local``."""
    name = f"pytest-{os.getpid()}"
    try:
        run = subprocess.run([sys.executable, "-m", "rxring", *START_ARGS, "--instance", name],
                             capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
        state = read_state(name)
        if run.returncode != 0 or state is None:
            said = (run.stderr + run.stdout).strip().splitlines()
            raise RxringError(f"`rxring neo4j start` exited {run.returncode}: {' / '.join(said[-5:])}")
        return CliStart(instance=name, state=state, output=run.stdout + run.stderr)
    except BaseException:
        stop_server(name, delete_data=True)
        raise


#: The server boots while the tests before tests/neo4j run (tests/early_start.py); not when NEO4J_URI names one.
_EARLY = EarlyStart("neo4j", _start_instance)


def pytest_collection_finish(session):
    if not os.environ.get("NEO4J_URI"):
        _EARLY.begin_for(session, "neo4j")


def pytest_collection_modifyitems(session, config, items):
    """The tests on the city analysed on Neo4j run one after another, last in this folder: the city is
    loaded once, after the tests that empty the database, and its graph (some 100,000 nodes and
    relationships) is never deleted."""
    here = Path(__file__).parent
    mine = [i for i, item in enumerate(items) if here in Path(str(item.path)).parents]
    if not mine:
        return

    def rank(item):
        return int("neo4j_city" in getattr(item, "fixturenames", ()))

    ordered = sorted((items[i] for i in mine), key=rank)   # stable: file order within each rank
    for i, item in zip(mine, ordered):
        items[i] = item


def pytest_sessionfinish(session):
    """Stop a server started early that no test asked for (``neo4j_config`` stops the one it used)."""
    if _EARLY.thread is not None and not _STARTED.get("stopped") and _EARLY.started:
        stop_server(_EARLY.outcome["value"].instance, delete_data=True)


@pytest.fixture(scope="session")
def neo4j_instance(neo4j_config):
    """Name of the rxring-managed instance this session started, or None (NEO4J_URI given)."""
    return _STARTED.get("instance")


@pytest.fixture(scope="session")
def neo4j_cli_start(neo4j_config):
    """The :class:`CliStart` of the session's server; with NEO4J_URI set (no server of ours), a private
    instance started here through the CLI (in this process) and deleted after."""
    if _STARTED.get("cli_start") is not None:
        yield _STARTED["cli_start"]
        return
    from click.testing import CliRunner

    from rxring.cli import cli

    name = f"pytest-cli-{os.getpid()}"
    try:
        run = CliRunner().invoke(cli, [*START_ARGS, "--instance", name])
        assert run.exit_code == 0, run.output
        yield CliStart(instance=name, state=read_state(name), output=run.output)
    finally:
        stop_server(name, delete_data=True)


@pytest.fixture(scope="session")
def neo4j_config(unavailable):
    """A :class:`Neo4jConfig` for a live server (started here unless NEO4J_URI is set)."""
    instance = None
    try:
        if os.environ.get("NEO4J_URI"):
            config = resolve_config()
        else:
            started = _EARLY.result()
            instance = started.instance
            _STARTED["instance"], _STARTED["cli_start"] = instance, started
            state = started.state
            config = Neo4jConfig(uri=state.uri, user=state.user, password=state.password)
        connect(config).close()
    except RxringError as exc:
        if instance:
            stop_server(instance, delete_data=True)
        unavailable(f"no Neo4j server: {exc}")
    yield config
    if instance:
        stop_server(instance, delete_data=True)
        _STARTED["stopped"] = True


# The tests empty the database again and again: they only do so in a database that
# was empty when the session found it (or that an earlier session marked as scratch).
@pytest.fixture(scope="session")
def neo4j_driver(neo4j_config):
    driver = connect(neo4j_config)
    db = neo4j_config.database
    records, _, _ = driver.execute_query(
        "MATCH (n) WITH count(n) AS nodes OPTIONAL MATCH (m:RxringTestScratch) RETURN nodes, count(m) AS marks",
        database_=db)
    if records[0]["nodes"] > 0 and records[0]["marks"] == 0:
        driver.close()
        pytest.fail(f"NEO4J_URI={neo4j_config.uri} holds {records[0]['nodes']:,} nodes; the Neo4j tests delete "
                    "everything in the database: point NEO4J_URI at an empty one (or unset it)", pytrace=False)
    driver.execute_query(SCRATCH, database_=db)
    yield driver
    driver.close()


@pytest.fixture
def empty_neo4j(neo4j_driver, neo4j_config):
    """The session's driver on an emptied database (nodes, relationships; schema kept)."""
    reset_graph(neo4j_driver, neo4j_config.database)
    return neo4j_driver


@dataclass
class Neo4jCity:
    """The session's synthetic city analysed on Neo4j: the workspace copy analysed, the
    options, what :func:`rxring.analysis.analyze` returned, and the graph's counts after it."""

    workspace: Path
    options: object
    result: object
    counts: tuple

    #: Set on the scratch node while the database holds this analysis (a reset removes it).
    MARK = "MATCH (m:RxringTestScratch) SET m.city = $token"
    HELD = "MATCH (m:RxringTestScratch) RETURN m.city AS token"


def _analyse_city(workspace, options, driver, config):
    from rxring.analysis import analyze
    from rxring.backends.neo4j.load import graph_counts

    reset_graph(driver, config.database)
    result = analyze(workspace, "neo4j", options, neo4j=config)
    driver.execute_query(Neo4jCity.MARK, token=str(workspace), database_=config.database)
    return result, graph_counts(driver, config.database)


@pytest.fixture(scope="session")
def _neo4j_city(city, tmp_path_factory, neo4j_driver, neo4j_config) -> Neo4jCity:
    from rxring.options import AnalysisOptions

    workspace = tmp_path_factory.mktemp("city-neo4j") / "ws"
    shutil.copytree(city.workspace, workspace)
    options = AnalysisOptions.from_dict(city.result.meta["options"])
    result, counts = _analyse_city(workspace, options, neo4j_driver, neo4j_config)
    return Neo4jCity(workspace=workspace, options=options, result=result, counts=counts)


@pytest.fixture
def neo4j_city(_neo4j_city, neo4j_driver, neo4j_config) -> Neo4jCity:
    """The session's city (tests/conftest.py) analysed once on Neo4j (``analyze(copy, "neo4j",
    options, neo4j=config)`` into the emptied database), with the database holding that
    analysis: when a test emptied it since, the city is loaded and analysed again."""
    records, _, _ = neo4j_driver.execute_query(Neo4jCity.HELD, database_=neo4j_config.database)
    if not records or records[0]["token"] != str(_neo4j_city.workspace):
        _analyse_city(_neo4j_city.workspace, _neo4j_city.options, neo4j_driver, neo4j_config)
    return _neo4j_city
