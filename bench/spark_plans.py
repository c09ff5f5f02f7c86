"""Shuffles per stage and rule of the Spark backend, on a workspace (a developer tool).

Usage::

    python bench/spark_plans.py WORKSPACE --master 'local[2]'     # a table
    python bench/spark_plans.py WORKSPACE --json                  # for scripts
    python bench/spark_plans.py WORKSPACE --plans                 # and each physical plan

The reading of the plans is :mod:`rxring.backends.spark.plans`; ``docs/spark.md``
shows this tool's output.
"""

from __future__ import annotations

import argparse
import json

from rxring.backends.spark.engine import SparkBackend
from rxring.backends.spark.plans import PlanLog, no_automatic_broadcast, over_budget
from rxring.backends.spark.session import spark_session
from rxring.errors import RxringError
from rxring.options import AnalysisOptions


def workspace_report(location, master: str = "local[2]", options: AnalysisOptions | None = None) -> list:
    """The plans of each step of the Spark engine's analysis of a workspace or Parquet events
    location, read as it runs and as on big data (starts a session; the results are not written)."""
    log = PlanLog()
    backend = SparkBackend(spark_session(master), inspect=log)
    with no_automatic_broadcast(backend.spark):
        backend.evidence_at(str(location), options or AnalysisOptions())
    return log.plans


def _format(plans) -> str:
    lines = [f"{'query':<16} {'layout':>6} {'shuffles':>8}  exchanges beyond the layout (keys; agg = partial aggregates)"]
    for plan in plans:
        shown = ", ".join(("+".join(s.keys) or s.partitioning) + (" agg" if s.aggregate else "") for s in plan.extra)
        lines.append(f"{plan.name:<16} {plan.layout:>6} {len(plan.extra):>8}  {shown or '-'}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Shuffles per stage and rule of the Spark engine.")
    parser.add_argument("events", help="a workspace folder or canonical Parquet events")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plans", action="store_true", help="also print each physical plan")
    args = parser.parse_args(argv)
    try:
        plans = workspace_report(args.events, args.master)
    except RxringError as exc:
        parser.exit(2, f"error: {exc}\n")
    if args.json:
        print(json.dumps([p.summary() for p in plans], indent=2))
    else:
        print(_format(plans))
        if args.plans:
            for plan in plans:
                print(f"\n== {plan.name}\n{plan.text}")
    bad = over_budget(plans)
    if bad:
        print(f"over budget: {', '.join(bad)}")


if __name__ == "__main__":
    main()
