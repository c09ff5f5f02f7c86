"""Edge cases of the Spark engine: errors a user can cause, sub-second times, masters.

The cases compared with the embedded engine run on Spark together, in one table
(each in its own namespace, see tests/rules/namespaced.py), with the rule fixtures:
one Spark job chain (tests/spark/together.py).
"""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from rxring.analysis import run_rules
from rxring.errors import RxringError
from rxring.options import AnalysisOptions
from rxring.backends.spark import read_events, run_spark_analysis, spark_session
from tests.rules.fixtures import FIXTURES


@pytest.fixture(scope="module")
def judged(together):
    """(the folder of Parquet parts Spark judged, {case: (embedded findings of the case alone, Spark's
    findings of it)}).  The parts are canonical Parquet as other tools write it: an extra column,
    other integer and timestamp widths (tests/spark/together.py; the rule fixtures are in it too)."""
    return together.events, {name: together.case(name) for name in together.cases}


def test_double_scan_window_whole_seconds(judged):
    for case, rules in (("at_the_window", []), ("past_the_window", ["DUP_DISPENSE"])):
        expected, got = judged[1][case]
        assert list(expected["rule"]) == rules
        assert_frame_equal(got, expected, check_dtype=False)


def test_double_scan_window_sub_second(judged):
    expected, got = judged[1]["sub_second"]
    assert list(expected["rule"]) == ["DUP_DISPENSE"]
    assert_frame_equal(got, expected)


def test_missing_required_column_is_a_user_error(spark):
    events = FIXTURES["resold_at_another_site"].events.drop(columns=["site_id"])
    with pytest.raises(RxringError, match="site_id"):
        run_rules(events, AnalysisOptions(), backend="spark", spark=spark)


def test_parquet_without_required_columns(spark, tmp_path):
    path = tmp_path / "not-events.parquet"
    pd.DataFrame({"trace_code": ["X"], "when": ["2025-01-01"]}).to_parquet(path)
    with pytest.raises(RxringError, match=r"missing required columns \['event_type', 'event_time', 'site_id'\]"):
        read_events(spark, str(path))


def test_missing_events_path(spark, tmp_path):
    with pytest.raises(RxringError, match="no such file or folder"):
        run_spark_analysis(tmp_path / "nowhere", tmp_path / "out", spark=spark)


def test_workspace_without_events(spark, tmp_path):
    (tmp_path / "ws" / "events").mkdir(parents=True)
    with pytest.raises(RxringError, match="holds no events"):
        run_spark_analysis(tmp_path / "ws", tmp_path / "ws", spark=spark)


def test_not_parquet_is_a_user_error(spark, tmp_path):
    path = tmp_path / "events.parquet"
    path.write_text("trace_code,event_type\n", encoding="utf-8")
    with pytest.raises(RxringError, match="cannot read events"):
        read_events(spark, str(path))


def test_extra_and_differently_typed_columns(judged):
    """Canonical Parquet written by other tools: extra columns ignored, ints cast."""
    import pyarrow.parquet as pq

    from .together import FOREIGN_TYPES, PARTS

    folder, cases = judged
    parts = sorted(folder.glob("*.parquet"))
    assert len(parts) == PARTS
    for part in parts:
        schema = pq.read_schema(part)
        assert "extra_column" in schema.names
        assert all(schema.field(name).type == kind for name, kind in FOREIGN_TYPES.items())
    expected, got = cases["resold"]
    assert_frame_equal(got, expected)


def test_without_pyspark_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(RxringError, match=r"pip install 'rxring\[spark\]'"):
        spark_session("local[1]")
