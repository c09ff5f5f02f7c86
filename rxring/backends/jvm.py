"""What every Java process rxring starts shares: extra JVM options from the environment."""

from __future__ import annotations

import os
import shlex

__all__ = ["java_options"]


def java_options(text: str | None = None) -> list[str]:
    """Extra JVM options for the Java processes rxring starts, from *text* (default ``$RXRING_JAVA_OPTIONS``).

    They go to the local Neo4j server, ``neo4j-admin import`` and the local Spark
    driver, after rxring's own (so they win).  The test suite sets
    ``-XX:TieredStopAtLevel=1``: its JVMs live for seconds on tiny data and spend
    less CPU with the quick compiler only.

    >>> java_options("-Xss8m  -Dx='a b'")
    ['-Xss8m', '-Dx=a b']
    >>> java_options("")
    []
    """
    return shlex.split(os.environ.get("RXRING_JAVA_OPTIONS", "") if text is None else text)
