"""The engines that run the rules: each implements only what differs (:mod:`rxring.backends.base`).

* ``embedded`` — :mod:`rxring.backends.duckdb`: DuckDB over the workspace's Parquet,
  in this process; the default, nothing to install.
* ``spark`` — :mod:`rxring.backends.spark`: the same SQL files on Apache Spark.
* ``neo4j`` — :mod:`rxring.backends.neo4j`: the workspace loaded into a Neo4j
  graph (DESIGN §4), the rules as Cypher files; also the local server, bulk
  import and graph look-ups.

Callers do not pick a module: :func:`rxring.analysis.analyze` and
:func:`rxring.analysis.run_rules` take ``backend="embedded" | "spark" | "neo4j"``
(:func:`open_backend`).
"""

from __future__ import annotations

import os

from ..errors import RxringError
from .base import Backend

__all__ = ["BACKENDS", "default_backend", "open_backend", "Backend"]

#: The backend names, as ``--backend`` takes them.
BACKENDS = ("embedded", "neo4j", "spark")


def default_backend() -> str:
    """``neo4j`` when NEO4J_URI is set (DESIGN §5), else ``embedded``.

    Examples
    --------
    >>> import os
    >>> default_backend() == ("neo4j" if os.environ.get("NEO4J_URI") else "embedded")
    True
    """
    return "neo4j" if os.environ.get("NEO4J_URI") else "embedded"


def open_backend(backend=None, **options) -> Backend:
    """A :class:`Backend` for a name (or the backend itself, as it is).

    Parameters
    ----------
    backend : str, Backend or None
        ``embedded``, ``spark``, ``neo4j``; None: :func:`default_backend`.
    **options
        ``prune`` (embedded); ``spark`` (a SparkSession) or ``spark_master``
        (spark); ``neo4j`` (a Neo4jConfig, a URI or an open driver) and
        ``database`` (neo4j).  Options of other backends are refused.
    """
    if isinstance(backend, Backend):
        if options:
            raise RxringError(f"options {sorted(options)} given with a ready backend")
        return backend
    name = backend or default_backend()
    accepted = {"embedded": {"prune"}, "spark": {"spark", "spark_master"}, "neo4j": {"neo4j", "database"}}
    if name not in accepted:
        raise RxringError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - accepted[name])
    if extra:
        raise RxringError(f"backend {name} takes no option {', '.join(extra)}")
    if name == "embedded":
        from .duckdb import DuckDBBackend

        return DuckDBBackend(**given)
    if name == "spark":
        from .spark.engine import SparkBackend

        return SparkBackend(session=given.get("spark"), master=given.get("spark_master"))
    from .neo4j.rules import Neo4jBackend

    return Neo4jBackend(given.get("neo4j"), database=given.get("database"))
