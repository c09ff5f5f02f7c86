"""The one Spark job chain the rule fixtures and the engine's edge cases share.

A Spark job chain costs some 20 CPU-seconds whatever the data (tests/rules/namespaced.py),
so every rule fixture (namespace ``F<nn>-``) and every edge case compared with the embedded
engine (namespace ``E-<case>-``) is judged by Spark in one table.  The table is canonical
Parquet as other tools write it: an extra column, and ``source_line`` as int64 (row
numbers, in row order: the order the rules' tie-breaks see is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rxring.analysis import run_rules
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
    """The table Spark judged, its findings, and the edge cases (namespaced) that are in it."""

    table: pd.DataFrame
    findings: pd.DataFrame
    cases: dict

    def fixture_findings(self) -> pd.DataFrame:
        """The findings of the rule fixtures' namespaces (what a run of :func:`combined` alone gives)."""
        mask = self.findings["trace_codes"].map(lambda codes: not codes[0].startswith("E-"))
        return self.findings[mask].reset_index(drop=True)

    def case(self, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(the embedded engine's findings of the case alone, Spark's findings of its namespace)."""
        return (run_rules(self.cases[name], AnalysisOptions(), backend="embedded"),
                subset(self.findings, edge_prefix(name)))


def judge_together(spark) -> Together:
    events, products, deletions, _ = combined()
    cases = {name: prefixed(frame, edge_prefix(name)) for name, frame in edge_cases().items()}
    table = pd.concat([events, *cases.values()], ignore_index=True)
    table = table.assign(extra_column="x", source_line=pd.Series(range(len(table)), dtype="int64"))
    findings = run_rules(table, AnalysisOptions(), products, deletions, backend="spark", spark=spark)
    return Together(table=table, findings=findings, cases=cases)
