"""One local SparkSession for the whole Spark test session.

In CI (``CI=true``) the Spark tests fail when pyspark is missing or Spark (Java)
cannot start; on a developer machine they are skipped with the reason.
"""

from __future__ import annotations

import os

import pytest


#: Tiny tables: Janino compiling generated code costs far more than it saves, so the
#: tests run Spark's interpreted expressions (the code path differs, the plans and
#: results do not); two partitions still exercise the shuffle by trace code.
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


def pytest_collection_modifyitems(config, items):
    """Every test in tests/spark carries the ``spark`` marker (``-m "not spark"`` skips them)."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.spark)


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Spark tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark():
    """A local[2] SparkSession with test-sized settings, stopped at the end."""
    from rxring.errors import RxringError
    from rxring.backends.spark import pyspark_available, spark_session, stop_spark_session

    if not pyspark_available():
        _unavailable("pyspark is not installed (pip install -e '.[spark]')")
    try:
        session = spark_session("local[2]", app_name="rxring-tests", conf=TEST_CONF)
    except RxringError as exc:
        _unavailable(str(exc))
    yield session
    stop_spark_session()
