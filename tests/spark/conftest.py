"""One local SparkSession for the whole Spark test session.

When pyspark is missing or Spark (Java) cannot start, the Spark tests fail in CI and
are skipped elsewhere (the ``unavailable`` fixture of tests/conftest.py, which also
marks every test here ``spark``).
"""

from __future__ import annotations

import pytest

from tests.early_start import EarlyStart


#: Tiny tables: Janino compiling generated code costs far more than it saves, so the
#: tests run Spark's interpreted expressions (the code path differs, the plans and
#: results do not); two partitions still exercise the shuffle by trace code.
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


def _start_session():
    """The test SparkSession, or None without pyspark (the ``spark`` fixture says so)."""
    from rxring.backends.spark import pyspark_available, spark_session

    return spark_session("local[2]", app_name="rxring-tests", conf=TEST_CONF) if pyspark_available() else None


#: The session boots while the tests before tests/spark run (tests/early_start.py); the ``spark`` fixture
#: waits for it, then takes the same session by ``getOrCreate`` (or reports why it could not start).
_EARLY = EarlyStart("spark", _start_session)


def pytest_collection_finish(session):
    _EARLY.begin_for(session, "spark")


def pytest_sessionfinish(session):
    """Stop a session started early that no test asked for (the ``spark`` fixture stops the one it used)."""
    if _EARLY.thread is not None and _EARLY.started and _EARLY.outcome["value"] is not None:
        from rxring.backends.spark import stop_spark_session

        stop_spark_session()


@pytest.fixture(scope="session")
def spark(unavailable):
    """A local[2] SparkSession with test-sized settings, stopped at the end."""
    from rxring.errors import RxringError
    from rxring.backends.spark import pyspark_available, spark_session, stop_spark_session

    _EARLY.wait()
    if not pyspark_available():
        unavailable("pyspark is not installed (pip install -e '.[spark]')")
    try:
        session = spark_session("local[2]", app_name="rxring-tests", conf=TEST_CONF)
    except RxringError as exc:
        unavailable(str(exc))
    yield session
    stop_spark_session()


@pytest.fixture(scope="session")
def together(spark, tmp_path_factory):
    """The rule fixtures and the edge cases judged by Spark in one job chain, its plans read as it
    ran (tests/spark/together.py)."""
    from .together import judge_together

    return judge_together(spark, tmp_path_factory.mktemp("together"))
