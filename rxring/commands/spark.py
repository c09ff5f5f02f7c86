"""Helpers for ``rxring analyze --engine spark [--spark-master URL]`` (no commands of its own).

The analyze command (rxring/commands/analyze.py) owns the options; it can apply
:func:`engine_options` and call :func:`analyze_with_engine` instead of
``analysis.analyze``::

    @engine_options
    def analyze_command(inputs, workspace, engine, spark_master, ...):
        result = analyze_with_engine(engine, list(inputs), workspace, options,
                                     master=spark_master, progress=progress)
"""

from __future__ import annotations

import click

from .. import analysis
from ..options import AnalysisOptions

__all__ = ["COMMANDS", "engine_options", "analyze_with_engine", "ENGINES"]

ENGINES = ("embedded", "spark")


def engine_options(func):
    """``--engine {embedded,spark}`` and ``--spark-master URL`` as click options."""
    func = click.option("--spark-master", default="local[*]", show_default=True, envvar="RXRING_SPARK_MASTER",
                        help="Spark master URL for --engine spark (local[*], spark://host:7077, yarn, k8s://...) "
                             "[env RXRING_SPARK_MASTER].")(func)
    func = click.option("--engine", type=click.Choice(ENGINES), default="embedded", show_default=True,
                        help="embedded: DuckDB on this machine; spark: the same SQL rules on Apache Spark "
                             "(pip install 'rxring[spark]', Java 17+).")(func)
    return func


def analyze_with_engine(engine: str, inputs, workspace, options: AnalysisOptions,
                        master: str = "local[*]", progress: bool = True) -> analysis.AnalysisResult:
    """Ingest *inputs* (if any) into *workspace*, then analyse it with *engine*.

    Same result and files as :func:`rxring.analysis.analyze`; with ``spark`` the
    workspace's events are read by Spark and ``analysis.json`` records
    ``"engine": "spark"`` and the master.
    """
    if engine != "spark":
        return analysis.analyze(inputs, workspace, options, progress=progress)
    from ..spark import run_spark_analysis

    report = None
    if inputs:
        from ..ingest import ingest

        report = ingest(inputs, workspace, progress=progress)
    result = run_spark_analysis(workspace, workspace, options, master=master, progress=progress)
    result.ingest_report = report
    return result


#: No commands: the options live on ``rxring analyze``.
COMMANDS: list = []
