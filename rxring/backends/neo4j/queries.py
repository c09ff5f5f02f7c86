"""Run a shipped read query (``rxring/rules/cypher/*.cypher``) against a Neo4j server.

Each file is plain Cypher an investigator can paste into Neo4j Browser; ``//`` lines
at the top are its header (the rule's sentence and its parameters).  The files are
read by :mod:`rxring.rules.render`; ``rxring neo4j queries`` lists them and
``rxring neo4j run NAME`` runs one through :func:`run_query`.
"""

from __future__ import annotations

import re

from ...errors import RxringError
from ...rules.render import CYPHER_WRITE_QUERIES, cypher_statements

__all__ = ["run_query"]


def run_query(driver, name: str, params: dict | None = None, database: str | None = None):
    """Run one shipped read query (a rule file, ``rings``, ``ring_boxes``, ``box_chain``...); return its rows.

    Parameters
    ----------
    driver : neo4j.Driver
        An open driver.
    name : str
        A name of :func:`rxring.rules.render.cypher_names` other than
        :data:`rxring.rules.render.CYPHER_WRITE_QUERIES`.
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

    if name in CYPHER_WRITE_QUERIES:
        raise RxringError(f"{name}.cypher writes to the graph; `rxring load` and `rxring analyze --backend neo4j` "
                          f"run it, `rxring neo4j run` only runs read queries")
    params = params or {}
    statements = cypher_statements(name)
    if len(statements) != 1:
        raise RxringError(f"{name}.cypher holds {len(statements)} statements; `rxring neo4j run` runs one")
    (query,) = statements
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
