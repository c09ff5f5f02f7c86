"""``rxring analyze --backend spark``: a bad workspace is one line (the CLI ingesting and analysing
a workspace of mixed parts on Spark is tests/spark/test_city.py)."""

from __future__ import annotations

from click.testing import CliRunner

from rxring.cli import cli


def test_analyze_backend_spark_bad_events_is_one_line(spark, tmp_path):
    ws = tmp_path / "ws"
    (ws / "events").mkdir(parents=True)
    (ws / "events" / "part-x.parquet").write_text("not parquet", encoding="utf-8")
    run = CliRunner().invoke(cli, ["analyze", "-w", str(ws), "--backend", "spark", "--spark-master", "local[2]"])
    assert run.exit_code == 2
    assert "cannot read events" in run.output and "Traceback" not in run.output
