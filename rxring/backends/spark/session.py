"""Starting (or reusing) the SparkSession the Spark engine runs on.

Local mode (``local[*]``) is for tests and for one big machine; on a cluster the
session is usually created by ``spark-submit`` / Databricks / EMR and rxring
reuses it (:func:`spark_session` returns the active session when there is one).
"""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from ...errors import RxringError
from ...schema import LOCAL_TZ
from ..jvm import java_options

__all__ = ["DEFAULT_MASTER", "LOCAL_CONF", "spark_session", "stop_spark_session", "pyspark_available"]

#: Master used when none is given: every core of this machine.
DEFAULT_MASTER = "local[*]"

#: Settings every rxring session gets (a cluster's own settings win where it sets them).
#: Times in the canonical table are naive Asia/Shanghai local time; Spark reads them
#: as TIMESTAMP_NTZ, and the session time zone keeps any TIMESTAMP conversion local too.
BASE_CONF = {
    "spark.sql.session.timeZone": LOCAL_TZ,
    # naive Parquet timestamps (pyarrow timestamp[us]) read as TIMESTAMP_NTZ: wall clock kept
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    # a join on (trace_code, site_id, ...) may reuse a partitioning by trace_code alone
    "spark.sql.requireAllClusterKeysForCoPartition": "false",
    # ... and so may a window or aggregate on (trace_code, ...) (Spark's default, made explicit)
    "spark.sql.requireAllClusterKeysForDistribution": "false",
    # a UNION ALL of branches laid out alike stays laid out (stages dr, netd, pd are unions)
    "spark.sql.unionOutputPartitioning": "true",
    # stages are tables bucketed by trace code: always read them as bucketed (partitioned)
    "spark.sql.sources.bucketing.enabled": "true",
    "spark.sql.sources.bucketing.autoBucketedScan.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.ansi.enabled": "false",
}

#: Extra settings for local mode: small memory and few partitions (a shared laptop or CI box).
LOCAL_CONF = {
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -Xss4m",
    # no spark-warehouse/ folder in the caller's working directory
    "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "rxring-spark-warehouse"),
}


def pyspark_available() -> bool:
    """True when the ``pyspark`` package can be imported (the ``spark`` extra)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def spark_session(master: str | None = DEFAULT_MASTER, app_name: str = "rxring", conf: dict | None = None):
    """The SparkSession to run the rules on (the active one, or a new one).

    Parameters
    ----------
    master : str or None
        Spark master URL (``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``,
        ``k8s://...``).  None keeps whatever ``spark-submit`` configured.
    app_name : str
        Application name shown in the Spark UI.
    conf : dict, optional
        Extra Spark settings (override rxring's defaults).

    Returns
    -------
    pyspark.sql.SparkSession

    Raises
    ------
    RxringError
        pyspark is not installed, or Spark (Java) cannot start.

    Notes
    -----
    An already active session is reused as it is (its master cannot change, and its
    own tuning such as shuffle partitions stays), but rxring's SQL settings (time
    zone, NTZ timestamps, bucketing; :data:`BASE_CONF`) and *conf* are applied to it.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RxringError("the Spark engine needs pyspark: pip install 'rxring[spark]' (and Java 17+)") from exc
    active = SparkSession.getActiveSession()
    if active is not None:   # its own tuning (partitions, adaptive execution) stays; rxring's SQL semantics apply
        for key, value in {**BASE_CONF, **(conf or {})}.items():
            if key.startswith("spark.sql.") and active.conf.isModifiable(key):
                active.conf.set(key, value)
        return active
    settings = dict(BASE_CONF)
    if master and master.startswith("local"):
        settings.update(LOCAL_CONF)
    settings.update(conf or {})
    extra = java_options()
    if extra:   # $RXRING_JAVA_OPTIONS after rxring's (and the caller's) driver options
        settings["spark.driver.extraJavaOptions"] = " ".join(
            [settings.get("spark.driver.extraJavaOptions", ""), *map(shlex.quote, extra)]).strip()
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing, bad master URL, port clash: one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RxringError(f"cannot start Spark (master {master!r}): {first}") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


def stop_spark_session() -> None:
    """Stop the active SparkSession, if any (frees the JVM's memory)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
