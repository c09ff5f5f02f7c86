"""A real Neo4j server for the tests in this folder.

``NEO4J_URI`` set: use that server (with NEO4J_USER / NEO4J_PASSWORD / NEO4J_DATABASE).
Otherwise start a private rxring-managed instance (``rxring.backends.neo4j.server``)
once per test session and delete it at the end.  A test that cannot get a server
fails in CI and is skipped elsewhere (the ``unavailable`` fixture of tests/conftest.py,
which also marks every test here ``neo4j``).
"""

from __future__ import annotations

import os

import pytest

from rxring.errors import RxringError
from rxring.backends.neo4j.connect import Neo4jConfig, connect, resolve_config
from rxring.backends.neo4j.server import start_server, stop_server

from .graph_data import SCRATCH, reset_graph

_STARTED: dict = {}


@pytest.fixture(scope="session")
def neo4j_instance(neo4j_config):
    """Name of the rxring-managed instance this session started, or None (NEO4J_URI given)."""
    return _STARTED.get("instance")


@pytest.fixture(scope="session")
def neo4j_config(unavailable):
    """A :class:`Neo4jConfig` for a live server (started here unless NEO4J_URI is set)."""
    instance = None
    try:
        if os.environ.get("NEO4J_URI"):
            config = resolve_config()
        else:
            instance = f"pytest-{os.getpid()}"
            state = start_server(instance, http=False)
            _STARTED["instance"] = instance
            config = Neo4jConfig(uri=state.uri, user=state.user, password=state.password)
        connect(config).close()
    except RxringError as exc:
        if instance:
            stop_server(instance, delete_data=True)
        unavailable(f"no Neo4j server: {exc}")
    yield config
    if instance:
        stop_server(instance, delete_data=True)


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
