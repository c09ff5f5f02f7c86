"""Scale-out: the five rules on Apache Spark (PySpark), same SQL as the embedded engine.

``pip install 'rxring[spark]'`` (Java 17+).  See ``docs/spark.md`` for clusters
(spark-submit, Databricks, EMR) and sizing.
"""

from .engine import read_events, register_inputs, run_flat_rules, run_rules_spark, run_spark_analysis
from .session import DEFAULT_MASTER, pyspark_available, spark_session, stop_spark_session

__all__ = [
    "DEFAULT_MASTER",
    "pyspark_available",
    "spark_session",
    "stop_spark_session",
    "read_events",
    "register_inputs",
    "run_flat_rules",
    "run_rules_spark",
    "run_spark_analysis",
]
