"""The Spark backend: the five rules on Apache Spark (PySpark), the same SQL as the embedded backend.

``pip install 'rxring[spark]'`` (Java 17+).  Use it through
``rxring.analyze(ws, backend="spark")``; :func:`run_spark_analysis` reads and
writes anywhere Spark does (HDFS, S3, ADLS).  See ``docs/spark.md`` for
clusters (spark-submit, Databricks, EMR) and sizing.
"""

from .engine import SparkBackend, read_events, register_inputs, run_flat_rules, run_spark_analysis
from .session import DEFAULT_MASTER, pyspark_available, spark_session, stop_spark_session

__all__ = [
    "SparkBackend",
    "DEFAULT_MASTER",
    "pyspark_available",
    "spark_session",
    "stop_spark_session",
    "read_events",
    "register_inputs",
    "run_flat_rules",
    "run_spark_analysis",
]
