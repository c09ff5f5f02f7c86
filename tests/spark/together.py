"""The one Spark job chain the rule fixtures, the engine's edge cases and the plan report share.

A Spark job chain costs some 20 CPU-seconds whatever the data (tests/rules/namespaced.py),
so every rule fixture (namespace ``F<nn>-``) and every edge case compared with the embedded
engine (namespace ``E-<case>-``) is judged by Spark in one table, as a cluster job reads its
events: :func:`rxring.backends.spark.run_spark_analysis` on a plain folder of Parquet parts
(not a workspace; as on HDFS or S3) written as other tools write them (with a column rxring
does not know), the masters passed explicitly, the results written to a local folder.
While it runs, each step's plan is read as on big data (:class:`rxring.backends.spark.plans.PlanLog`
under ``no_automatic_broadcast``): tests/spark/test_plans.py checks the shuffles of this very job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rxring.analysis import AnalysisResult, run_rules
from rxring.backends.duckdb import events_table
from rxring.backends.spark import run_spark_analysis
from rxring.backends.spark.plans import PlanLog, QueryPlan, no_automatic_broadcast
from rxring.options import AnalysisOptions
from tests.rules.fixtures import FIXTURES, ev
from tests.rules.namespaced import combined, prefixed, subset


def _two_sales(first: str, second: str) -> pd.DataFrame:
    """Two dispenses of one code to one patient, no settlement id: a double scan
    when at most ``double_scan_minutes`` apart, else two sales (DUP_DISPENSE)."""
    return pd.DataFrame([
        ev("in1", "inbound", "01-02 09:00", "S1"),
        ev("d1", "dispense", first, "S1", patient_id="P1", total_amount=30.0),
        ev("d2", "dispense", second, "S1", patient_id="P1", total_amount=30.0),
    ])


def edge_cases() -> dict[str, pd.DataFrame]:
    """The events of each edge case compared with the embedded engine."""
    return {
        "at_the_window": _two_sales("2025-01-10 10:00:00", "2025-01-10 10:10:00"),
        "past_the_window": _two_sales("2025-01-10 10:00:00", "2025-01-10 10:10:01"),
        "sub_second": _two_sales("2025-01-10 10:00:00.600", "2025-01-10 10:10:00.900"),
        "resold": FIXTURES["resold_at_another_site"].events,
    }


def edge_prefix(case: str) -> str:
    return f"E-{case}-"


@dataclass
class Together:
    """The table Spark judged, its result, the edge cases (namespaced) in it and the job's plans."""

    table: pd.DataFrame
    result: AnalysisResult
    cases: dict
    plans: dict[str, QueryPlan]
    events: Path
    out: Path

    @property
    def findings(self) -> pd.DataFrame:
        return self.result.findings

    def fixture_findings(self) -> pd.DataFrame:
        """The findings of the rule fixtures' namespaces (what a run of :func:`combined` alone gives)."""
        mask = self.findings["trace_codes"].map(lambda codes: not codes[0].startswith("E-"))
        return self.findings[mask].reset_index(drop=True)

    def case(self, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(the embedded engine's findings of the case alone, Spark's findings of its namespace)."""
        return (run_rules(self.cases[name], AnalysisOptions(), backend="embedded"),
                subset(self.findings, edge_prefix(name)))


#: Parts of the events folder: the table split in row order (part names sort in that order, so the
#: order the rules' tie-breaks see, by file then row, is the table's).
PARTS = 2


#: How the parts differ from rxring's own: other integer and timestamp widths (Spark casts them).
FOREIGN_TYPES = {"source_line": pa.int32(), "event_time": pa.timestamp("ms")}


def write_parts(table: pd.DataFrame, folder: Path) -> Path:
    """*table* as a plain folder of Parquet parts as another tool writes them: the canonical
    columns, some in other types (:data:`FOREIGN_TYPES`), and one more (``extra_column``)."""
    folder.mkdir(parents=True)
    arrow = events_table(table).drop_columns(["row_key"])
    for name, kind in FOREIGN_TYPES.items():
        arrow = arrow.set_column(arrow.schema.get_field_index(name), name, arrow.column(name).cast(kind))
    arrow = arrow.append_column("extra_column", arrow.column("event_id"))
    step = -(-arrow.num_rows // PARTS)
    for number in range(PARTS):
        pq.write_table(arrow.slice(number * step, step), folder / f"part-{number:05d}.parquet")
    return folder


def judge_together(spark, out: Path) -> Together:
    events, products, deletions, _ = combined()
    cases = {name: prefixed(frame, edge_prefix(name)) for name, frame in edge_cases().items()}
    table = pd.concat([events, *cases.values()], ignore_index=True)
    folder = write_parts(table, out / "events")
    log = PlanLog()
    with no_automatic_broadcast(spark):
        result = run_spark_analysis(str(folder), out / "results", AnalysisOptions(), products=products,
                                    deletions=deletions, spark=spark, inspect=log)
    return Together(table=table, result=result, cases=cases, plans={plan.name: plan for plan in log.plans},
                    events=folder, out=out / "results")
