"""What the Neo4j tests read off the shipped Cypher files (rxring/rules/cypher)."""

from __future__ import annotations

import re

from rxring.rules.render import CYPHER_WRITE_QUERIES, cypher_header, cypher_names, cypher_statements

#: The listing queries of rxring.backends.neo4j.listing, once inline Cypher.
LISTING_QUERIES = ("box_chain", "box_exists", "site_summary", "site_events", "patient_events", "patient_exists",
                   "graph_prepared", "prescriber_events", "neighbours")


def read_queries() -> list[str]:
    """Every shipped file that only reads (what `rxring neo4j run` accepts)."""
    return [name for name in cypher_names() if name not in CYPHER_WRITE_QUERIES]


def parameters(name: str) -> list[str]:
    """The ``$names`` the file's statements use."""
    return sorted(set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", "\n".join(cypher_statements(name)))))


def returned_columns(name: str) -> list[str] | None:
    """The columns the header promises (``Returns[ ...]: a, b, c.``), or None when it names none."""
    found = re.search(r"^Returns[^:]*:\s*(.*?)\.\s*$", cypher_header(name), re.S | re.M)
    if not found:
        return None
    return [c.strip() for c in found.group(1).replace("\n", " ").split(",")]
