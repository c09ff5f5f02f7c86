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


class _EarlyStart:
    """The session's SparkSession, started in a thread as soon as collection finds Spark tests.

    Starting the JVM and SparkContext takes many seconds; begun at collection it
    overlaps with the tests that run before tests/spark, and the ``spark`` fixture
    only waits for what is left (then takes the same session by ``getOrCreate``).
    """

    thread = None
    outcome: dict = {}

    @classmethod
    def begin(cls) -> None:
        if cls.thread is not None:
            return
        import threading

        def run():
            from rxring.backends.spark import pyspark_available, spark_session

            try:
                if pyspark_available():
                    cls.outcome["session"] = spark_session("local[2]", app_name="rxring-tests", conf=TEST_CONF)
            except BaseException as exc:  # noqa: BLE001 - the fixture tries again and reports
                cls.outcome["error"] = exc

        cls.thread = threading.Thread(target=run, name="spark-early-start", daemon=True)
        cls.thread.start()

    @classmethod
    def wait(cls) -> None:
        if cls.thread is not None:
            cls.thread.join()


def pytest_collection_finish(session):
    if hasattr(session.config, "workerinput"):  # an xdist worker: it may never get these tests
        return
    if any(item.get_closest_marker("spark") for item in session.items):
        _EarlyStart.begin()


def pytest_sessionfinish(session):
    """Stop a session started early that no test asked for (the ``spark`` fixture stops the one it used)."""
    if _EarlyStart.thread is not None and "session" in _EarlyStart.outcome:
        from rxring.backends.spark import stop_spark_session

        _EarlyStart.thread.join()
        stop_spark_session()


@pytest.fixture(scope="session")
def spark(unavailable):
    """A local[2] SparkSession with test-sized settings, stopped at the end."""
    from rxring.errors import RxringError
    from rxring.backends.spark import pyspark_available, spark_session, stop_spark_session

    _EarlyStart.wait()
    if not pyspark_available():
        unavailable("pyspark is not installed (pip install -e '.[spark]')")
    try:
        session = spark_session("local[2]", app_name="rxring-tests", conf=TEST_CONF)
    except RxringError as exc:
        unavailable(str(exc))
    yield session
    stop_spark_session()
