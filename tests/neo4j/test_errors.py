"""Connection problems become one RxringError naming the URI, never the password."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.backends.neo4j.connect import Neo4jConfig, connect, resolve_config

from .graph_data import event_frame, make_workspace


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_names_the_uri():
    uri = f"bolt://127.0.0.1:{_closed_port()}"
    with pytest.raises(RxringError, match="cannot reach Neo4j at " + uri) as info:
        connect(Neo4jConfig(uri=uri, password="s3cret-unreachable"))
    assert "s3cret-unreachable" not in str(info.value)


def test_bad_uri_scheme():
    with pytest.raises(RxringError, match="bad Neo4j URI 'http://localhost:7474'"):
        connect(Neo4jConfig(uri="http://localhost:7474", password="x"))


def test_wrong_password(neo4j_config):
    wrong = Neo4jConfig(uri=neo4j_config.uri, user=neo4j_config.user, password="not-the-password-42")
    with pytest.raises(RxringError, match="refused user 'neo4j': wrong user or password") as info:
        connect(wrong)
    assert neo4j_config.uri in str(info.value)
    assert "not-the-password-42" not in str(info.value)


def test_wrong_database(neo4j_config):
    config = Neo4jConfig(uri=neo4j_config.uri, user=neo4j_config.user, password=neo4j_config.password,
                         database="no_such_db")
    with pytest.raises(RxringError, match="has no database 'no_such_db'") as info:
        connect(config)
    assert neo4j_config.uri in str(info.value)


def test_server_too_old(neo4j_config, monkeypatch):
    from neo4j import Driver

    real = Driver.get_server_info

    def old_server(self):
        info = real(self)
        info._metadata["server"] = "Neo4j/4.4.26"
        return info

    monkeypatch.setattr(Driver, "get_server_info", old_server)
    with pytest.raises(RxringError, match=r"Neo4j at .* is Neo4j/4\.4\.26; rxring needs Neo4j 5\.23 or newer"):
        connect(neo4j_config)


def test_no_server_named_anywhere(monkeypatch, tmp_path):
    for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RXRING_CACHE", str(tmp_path))
    with pytest.raises(RxringError, match="no Neo4j server: set NEO4J_URI"):
        resolve_config()


def test_cli_prints_one_line_not_a_traceback(tmp_path):
    uri = f"bolt://127.0.0.1:{_closed_port()}"
    make_workspace(tmp_path / "ws", event_frame([dict(trace_code="81234560000000000011", event_type="inbound",
                                                      event_time="2025-03-01 09:00", site_id="S1")]))
    result = CliRunner().invoke(cli, ["load", "--neo4j", uri, "--workspace", str(tmp_path / "ws")],
                                env={"NEO4J_PASSWORD": "pw-in-env-77"})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rxring: error: cannot reach Neo4j at {uri}")
    assert "pw-in-env-77" not in result.output and "Traceback" not in result.output
