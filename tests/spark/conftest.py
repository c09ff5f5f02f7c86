"""One local SparkSession for the whole Spark test session.

When pyspark is missing or Spark (Java) cannot start, the Spark tests fail in CI and
are skipped elsewhere (the ``unavailable`` fixture of tests/conftest.py, which also
marks every test here ``spark``).
"""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def spark(unavailable):
    """A local[2] SparkSession with test-sized settings, stopped at the end."""
    from rxring.errors import RxringError
    from rxring.backends.spark import pyspark_available, spark_session, stop_spark_session

    if not pyspark_available():
        unavailable("pyspark is not installed (pip install -e '.[spark]')")
    try:
        session = spark_session("local[2]", app_name="rxring-tests", conf=TEST_CONF)
    except RxringError as exc:
        unavailable(str(exc))
    yield session
    stop_spark_session()
