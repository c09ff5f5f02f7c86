"""Where the Neo4j server is, how to log in, and one clear error when that fails.

Resolution order for each setting: the explicit argument (CLI option), then the
environment (``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``),
then the server started by ``rxring neo4j start`` (its state file).

Every failure to connect — unreachable server, wrong password, unknown database, a
server older than 5.0 — becomes one :class:`~rxring.errors.RxringError` that names the
URI and never the password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ...errors import RxringError

__all__ = ["Neo4jConfig", "resolve_config", "connect", "MIN_SERVER_VERSION"]

#: Oldest Neo4j release whose Cypher the shipped queries use (scoped subqueries ``CALL (x) { ... }``).
MIN_SERVER_VERSION = (5, 23)

_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


@dataclass(frozen=True)
class Neo4jConfig:
    """How to reach one Neo4j database."""

    uri: str
    user: str = "neo4j"
    password: str = field(default="", repr=False)
    database: str | None = None

    def describe(self) -> str:
        """``uri`` plus the database, for messages (never the password)."""
        return f"{self.uri}" + (f" (database {self.database!r})" if self.database else "")


def resolve_config(uri: str | None = None, user: str | None = None, password: str | None = None,
                   database: str | None = None, instance: str = "default") -> Neo4jConfig:
    """A :class:`Neo4jConfig` from arguments, the environment, or the local rxring server.

    Raises
    ------
    RxringError
        When no server is named anywhere.
    """
    env = os.environ
    uri = uri or env.get("NEO4J_URI")
    user = user or env.get("NEO4J_USER") or env.get("NEO4J_USERNAME")
    password = password if password is not None else env.get("NEO4J_PASSWORD")
    database = database or env.get("NEO4J_DATABASE") or None
    if not uri:
        from .server import read_state

        state = read_state(instance)
        if state is None:
            raise RxringError("no Neo4j server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD), "
                              "pass --neo4j URI, or run `rxring neo4j start`")
        uri, user = state.uri, user or state.user
        if password is None:
            password = state.password
    return Neo4jConfig(uri=uri, user=user or "neo4j", password=password or "", database=database)


def _version_tuple(agent: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)", agent or "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def connect(config: Neo4jConfig):
    """Open a verified ``neo4j.Driver`` for ``config``.

    Checks that the server answers, accepts the credentials, has the database and
    is at least :data:`MIN_SERVER_VERSION`.  The caller closes the driver (it is a
    context manager).

    Raises
    ------
    RxringError
        One line naming the URI, for every connection problem a user can fix.
    """
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError, ClientError, ConfigurationError, Neo4jError, ServiceUnavailable

    where = config.describe()
    scheme = config.uri.split("://", 1)[0].lower() if "://" in config.uri else ""
    if scheme not in _SCHEMES:
        raise RxringError(f"bad Neo4j URI {config.uri!r}: rxring speaks Bolt "
                          "(expected e.g. bolt://localhost:7687 or neo4j://host:7687)")
    try:
        driver = GraphDatabase.driver(config.uri, auth=(config.user, config.password), connection_timeout=15,
                                      notifications_min_severity="OFF")
    except (ConfigurationError, ValueError) as exc:
        raise RxringError(f"bad Neo4j URI {config.uri!r}: {exc} (expected e.g. bolt://localhost:7687 or neo4j://host:7687)") from None
    try:
        driver.verify_connectivity()
        agent = driver.get_server_info().agent
        if _version_tuple(agent) < MIN_SERVER_VERSION:
            raise RxringError(f"Neo4j at {config.uri} is {agent}; rxring needs Neo4j "
                              f"{MIN_SERVER_VERSION[0]}.{MIN_SERVER_VERSION[1]} or newer")
        # The default database answers verify_connectivity even if `database` does not exist.
        driver.execute_query("RETURN 1", database_=config.database)
    except RxringError:
        driver.close()
        raise
    except AuthError:
        driver.close()
        raise RxringError(f"Neo4j at {config.uri} refused user {config.user!r}: wrong user or password "
                          "(check NEO4J_USER / NEO4J_PASSWORD)") from None
    except ServiceUnavailable as exc:
        driver.close()
        raise RxringError(f"cannot reach Neo4j at {config.uri}: {_short(exc)} "
                          "(is the server running? `rxring neo4j status`)") from None
    except ClientError as exc:
        driver.close()
        if "DatabaseNotFound" in (exc.code or ""):
            raise RxringError(f"Neo4j at {config.uri} has no database {config.database!r} "
                              "(check NEO4J_DATABASE; Community edition has only 'neo4j')") from None
        raise RxringError(f"Neo4j at {where} rejected the connection: {_short(exc)}") from None
    except (Neo4jError, OSError) as exc:
        driver.close()
        raise RxringError(f"Neo4j at {where} failed: {_short(exc)}") from None
    return driver


def _short(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())[:300]
