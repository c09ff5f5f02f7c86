"""What every Java process rxring starts shares: extra JVM options from the environment."""

from __future__ import annotations

import os
import shlex

__all__ = ["java_options"]


def java_options() -> list[str]:
    """Extra JVM options for the Java processes rxring starts, from ``$RXRING_JAVA_OPTIONS``.

    They go to the local Neo4j server, ``neo4j-admin import`` and the local Spark
    driver, after rxring's own (so they win).  The test suite sets
    ``-XX:TieredStopAtLevel=1``: its JVMs live for seconds on tiny data and spend
    less CPU with the quick compiler only.

    >>> import os; os.environ["RXRING_JAVA_OPTIONS"] = "-Xss8m  -Dx='a b'"
    >>> java_options()
    ['-Xss8m', '-Dx=a b']
    >>> del os.environ["RXRING_JAVA_OPTIONS"]; java_options()
    []
    """
    return shlex.split(os.environ.get("RXRING_JAVA_OPTIONS", ""))
