"""One local SparkSession for the whole Spark test session.

In CI (``CI=true``) the Spark tests fail when pyspark is missing or Spark (Java)
cannot start; on a developer machine they are skipped with the reason.
"""

from __future__ import annotations

import os

import pytest


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Spark tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark():
    """A local[2] SparkSession with test-sized settings, stopped at the end."""
    from rxring.errors import RxringError
    from rxring.spark import pyspark_available, spark_session, stop_spark_session

    if not pyspark_available():
        _unavailable("pyspark is not installed (pip install -e '.[spark]')")
    try:
        session = spark_session("local[2]", app_name="rxring-tests",
                                conf={"spark.sql.shuffle.partitions": "2", "spark.sql.adaptive.enabled": "false"})
    except RxringError as exc:
        _unavailable(str(exc))
    yield session
    stop_spark_session()
