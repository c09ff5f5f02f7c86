"""The shipped Cypher files (``rxring/queries/*.cypher``): read, split, describe.

Each file is plain Cypher an investigator can paste into Neo4j Browser; ``//`` lines
at the top are its header (the rule's sentence and its parameters).
"""

from __future__ import annotations

import re
from importlib import resources

from ..errors import RxringError

__all__ = ["query_text", "query_header", "statements", "query_names", "run_query", "WRITE_QUERIES"]

#: Shipped files that write (schema, derived properties); :func:`run_query` refuses them.
WRITE_QUERIES = ("schema", "prepare")


def query_names() -> list[str]:
    """Names of the shipped ``.cypher`` files, without the extension."""
    root = resources.files("rxring.queries")
    return sorted(p.name[: -len(".cypher")] for p in root.iterdir() if p.name.endswith(".cypher"))


def query_text(name: str) -> str:
    """The text of ``rxring/queries/<name>.cypher``."""
    path = resources.files("rxring.queries") / f"{name}.cypher"
    if not path.is_file():
        raise RxringError(f"no shipped query {name!r}; known: {', '.join(query_names())}")
    return path.read_text(encoding="utf-8")


def query_header(name: str) -> str:
    """The leading ``//`` comment block of a query file, without the slashes."""
    lines = []
    for line in query_text(name).splitlines():
        if not line.startswith("//"):
            break
        lines.append(line[2:].strip())
    return "\n".join(lines).strip()


def statements(name: str) -> list[str]:
    """The ``;``-separated statements of a query file, comments removed."""
    body = "\n".join(line for line in query_text(name).splitlines() if not line.lstrip().startswith("//"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def run_query(driver, name: str, params: dict | None = None, database: str | None = None):
    """Run one shipped read query (a rule file, ``rings``, ``ring_boxes``) and return its rows.

    Parameters
    ----------
    driver : neo4j.Driver
        An open driver.
    name : str
        A name of :func:`query_names` other than :data:`WRITE_QUERIES`.
    params : dict, optional
        Values of the query's ``$names``; only those the query uses are sent.
    database : str, optional
        Database name.

    Returns
    -------
    pandas.DataFrame
        One row per record, columns as the query's RETURN names them.

    Raises
    ------
    RxringError
        For an unknown or writing query, or a ``$name`` without a value.
    """
    import pandas as pd

    if name in WRITE_QUERIES:
        raise RxringError(f"{name}.cypher writes to the graph; `rxring load` and `rxring analyze --backend neo4j` "
                          f"run it, `rxring neo4j run` only runs read queries")
    params = params or {}
    (query,) = statements(name)
    wanted = sorted(set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", query)))
    missing = [k for k in wanted if k not in params]
    if missing:
        raise RxringError(f"{name}.cypher needs {', '.join('$' + k for k in missing)}: give "
                          + " ".join(f"--param {k}=VALUE" for k in missing))
    used = {k: params[k] for k in wanted}

    def native(value):
        if isinstance(value, list):
            return [native(v) for v in value]
        return value.to_native() if hasattr(value, "to_native") else value

    def read(tx):
        result = tx.run(query, used)
        return result.keys(), [[native(v) for v in record.values()] for record in result]

    with driver.session(database=database) as session:
        keys, rows = session.execute_read(read)
    return pd.DataFrame(rows, columns=keys)
