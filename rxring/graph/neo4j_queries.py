"""The shipped Cypher files (``rxring/queries/*.cypher``): read, split, describe.

Each file is plain Cypher an investigator can paste into Neo4j Browser; ``//`` lines
at the top are its header (the rule's sentence and its parameters).
"""

from __future__ import annotations

import re
from importlib import resources

from ..errors import RxringError

__all__ = ["query_text", "query_header", "statements", "query_names"]


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
