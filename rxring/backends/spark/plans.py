"""Which shuffles each stage and rule costs on Spark: a reading of the physical plans.

Every rule is a statement about one pack, so once the events are hash-partitioned
by ``trace_code`` (the one-time layout, :func:`rxring.backends.spark.engine.layout_events`)
a per-code rule needs no further shuffle: every window ``PARTITION BY trace_code``
and every join ``ON a.trace_code = b.trace_code AND ...`` runs inside the
partitions.  This module reads Spark's physical plan of each stage and rule and
lists the shuffle exchanges in it, so that claim is checked, not assumed
(``tests/spark/test_plans.py``; ``docs/spark.md`` shows the output).

What counts
-----------
* A *shuffle* is a ``ShuffleExchangeExec`` node.  A ``ReusedExchange`` (the same
  shuffle output read a second time in one query) is not a new shuffle, and a
  ``BroadcastExchange`` (a small table copied to every executor) is not a shuffle.
* The *layout* is the one shuffle by ``trace_code`` of the event table
  (``REPARTITION_BY_NUM``), written as a table bucketed by trace code; it is paid
  once, in the ``layout`` step.
* Stages are written as tables bucketed by trace code too
  (:class:`rxring.backends.spark.engine.StageTables`), so each stage's and rule's plan
  starts from tables Spark knows are partitioned: what it shows is what that step
  itself adds.
* An *aggregate* shuffle moves partial aggregates (the node below the exchange is
  an aggregate: at most one row per group and partition, e.g. per site), not event
  rows.

Only explicitly hinted tables are broadcast while the plans are read
(:func:`no_automatic_broadcast`), as they would be on big data.  The plans are the
ones Spark prepares before running: with adaptive execution on,
the initial plan (adaptive execution may later drop a shuffle, e.g. by turning a
join into a broadcast join, but never adds one).

Examples
--------
From a shell, on an ingested workspace (or any canonical Parquet events), the
developer tool ``bench/spark_plans.py``::

    python bench/spark_plans.py WORKSPACE --master 'local[2]'          # a table
    python bench/spark_plans.py WORKSPACE --json                       # for scripts
    python bench/spark_plans.py WORKSPACE --plans                      # and each plan

From Python, the plans of an analysis as it runs::

    >>> from rxring.backends.spark import run_spark_analysis                        # doctest: +SKIP
    >>> from rxring.backends.spark.plans import PlanLog, no_automatic_broadcast, over_budget  # doctest: +SKIP
    >>> log = PlanLog()                                                              # doctest: +SKIP
    >>> with no_automatic_broadcast(spark):                                          # doctest: +SKIP
    ...     run_spark_analysis("ws", "ws", spark=spark, inspect=log)
    >>> sorted(over_budget(log.plans))                                               # doctest: +SKIP
    ['NO_PROVENANCE', 'stage usual']
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field


__all__ = [
    "LAYOUT_KEY",
    "SHUFFLE_BUDGET",
    "Shuffle",
    "QueryPlan",
    "physical_plan",
    "query_plan",
    "is_laid_out",
    "keeps_codes_together",
    "PlanLog",
    "no_automatic_broadcast",
    "over_budget",
]

#: The column the event table is laid out by.
LAYOUT_KEY = "trace_code"

#: Shuffles each step may add beyond the layout, and why it needs them (steps not
#: listed: none).  Every per-code stage and rule needs none: after the layout all
#: events of a pack sit in one partition.  The others genuinely group by something
#: else than the code:
#:
#: * stage scan: the event-id dedupe is global (an id may repeat across codes): the
#:   event ids by id (partial counts), the few rows whose id repeats by id, and the
#:   rows to drop back by code;
#: * stage keys: the dictionaries of product_code / code_product spellings (one
#:   aggregate per kind; tiny);
#: * stage sites: per-site facts (first event, opening stock-take; coverage bounds):
#:   two aggregates per site, of partial aggregates (rows: sites x partitions);
#: * NO_PROVENANCE: a site is judged by its coverage (one aggregate per site);
#: * stage usual (CODE_CONFLICT joins its result by broadcast): the usual product of a product part: the counts
#:   per (part, product) and the distinct codes per part (two exchanges), and the
#:   counts re-keyed by part for the ranking; all per part, of partial aggregates.
SHUFFLE_BUDGET = {
    "layout": 0,
    "stage scan": 3,
    "stage keys": 3,
    "stage sites": 2,
    "stage usual": 4,
    "DUP_DISPENSE": 0,
    "RESURFACE": 0,
    "NO_PROVENANCE": 1,
    "CODE_CONFLICT": 0,
    "EXPIRED": 0,
}

_ATTRIBUTE_ID = re.compile(r"#\d+L?")


@dataclass(frozen=True)
class Shuffle:
    """One shuffle exchange of a physical plan.

    Attributes
    ----------
    keys : tuple of str
        Columns of a hash partitioning (``("trace_code",)``), empty for other
        partitionings (range, single partition, round robin).
    partitioning : str
        Spark's partitioning text without attribute ids, e.g.
        ``hashpartitioning(site_id, 4)``.
    origin : str
        Why Spark put it there: ``ENSURE_REQUIREMENTS`` (a join, window or
        aggregate needs it) or ``REPARTITION_BY_NUM`` / ``REPARTITION_BY_COL``
        (asked for).
    aggregate : bool
        The exchange moves partial aggregates, not rows.
    """

    keys: tuple[str, ...]
    partitioning: str
    origin: str
    aggregate: bool

    @property
    def is_layout(self) -> bool:
        """The one-time layout: the events repartitioned by trace code."""
        return self.keys == (LAYOUT_KEY,) and self.origin.startswith("REPARTITION")


@dataclass(frozen=True)
class QueryPlan:
    """The exchanges of one stage or rule query."""

    name: str
    shuffles: tuple[Shuffle, ...]
    reused: int = 0
    broadcasts: int = 0
    text: str = field(default="", repr=False, compare=False)

    @property
    def extra(self) -> tuple[Shuffle, ...]:
        """The shuffles beyond the layout (in a stage, a repartition by trace code is one)."""
        return tuple(s for s in self.shuffles if not (s.is_layout and self.name == "layout"))

    @property
    def layout(self) -> int:
        """How many shuffles of the layout's kind (a repartition by trace code) the plan holds:
        1 for the layout step; a stage that holds one re-lays its output out."""
        return sum(s.is_layout for s in self.shuffles)

    def summary(self) -> dict:
        """A JSON-ready dict: name, layout, extra shuffles (keys, aggregate), reused, broadcasts."""
        return {
            "query": self.name,
            "layout": self.layout,
            "shuffles": len(self.extra),
            "exchanges": [{"keys": list(s.keys) or [s.partitioning], "aggregate": s.aggregate, "origin": s.origin}
                          for s in self.extra],
            "reused": self.reused,
            "broadcasts": self.broadcasts,
        }


# --------------------------------------------------------------------------- plan walking


def _seq(scala_seq) -> list:
    return [scala_seq.apply(i) for i in range(scala_seq.size())]


def _name(node) -> str:
    return node.getClass().getSimpleName()


def physical_plan(frame):
    """The physical plan (a py4j handle) Spark prepared for a DataFrame.

    With adaptive query execution this is the plan it starts from (its initial plan,
    exchanges included) until the query has run, then the final plan.
    """
    plan = frame._jdf.queryExecution().executedPlan()
    if _name(plan) == "AdaptiveSparkPlanExec":
        plan = plan.executedPlan()
    return plan


def _strip(text: str) -> str:
    return _ATTRIBUTE_ID.sub("", text)


def _hash_keys(partitioning) -> tuple[str, ...]:
    if _name(partitioning) not in ("HashPartitioning", "CoalescedHashPartitioning"):
        return ()
    if _name(partitioning) == "CoalescedHashPartitioning":
        partitioning = getattr(partitioning, "from")()
    keys = []
    for expression in _seq(partitioning.expressions()):
        keys.append(expression.name() if _name(expression) == "AttributeReference" else _strip(expression.toString()))
    return tuple(keys)


def _below_wrappers(node):
    """The first node under *node* that is not a codegen wrapper."""
    child = node.child()
    while _name(child) in ("WholeStageCodegenExec", "InputAdapter", "ColumnarToRowExec"):
        child = child.child()
    return child


def _children(node) -> list:
    kind = _name(node)
    if kind == "AdaptiveSparkPlanExec":
        return [node.executedPlan()]
    if kind.endswith("QueryStageExec"):
        return [node.plan()]
    out = _seq(node.children())
    try:
        out += _seq(node.subqueries())
    except Exception:  # pragma: no cover - plans without subquery support
        pass
    return out


def _walk(plan):
    stack = [plan]
    while stack:
        node = stack.pop()
        yield node
        if _name(node) != "ReusedExchangeExec":
            stack.extend(_children(node))


def query_plan(frame, name: str) -> QueryPlan:
    """List the exchanges of *frame*'s physical plan.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
    name : str
        A label (``"stage dr"``, ``"RESURFACE"``).

    Returns
    -------
    QueryPlan
    """
    plan = physical_plan(frame)
    shuffles, reused, broadcasts = [], 0, 0
    for node in _walk(plan):
        kind = _name(node)
        if kind == "ShuffleExchangeExec":
            partitioning = node.outputPartitioning()
            shuffles.append(Shuffle(
                keys=_hash_keys(partitioning),
                partitioning=_strip(partitioning.toString()),
                origin=node.shuffleOrigin().toString(),
                aggregate="Aggregate" in _name(_below_wrappers(node)),
            ))
        elif kind == "ReusedExchangeExec":
            reused += 1
        elif kind == "BroadcastExchangeExec":
            broadcasts += 1
    return QueryPlan(name=name, shuffles=tuple(shuffles), reused=reused, broadcasts=broadcasts,
                     text=_strip(plan.toString()))


def _laid_out(partitioning, partitions: int) -> bool:
    candidates = _seq(partitioning.partitionings()) if _name(partitioning) == "PartitioningCollection" else [partitioning]
    return any(_hash_keys(p) == (LAYOUT_KEY,) and p.numPartitions() == partitions for p in candidates)


def is_laid_out(frame, partitions: int) -> bool:
    """True when Spark knows *frame* is hash-partitioned by trace code into *partitions*.

    Then a later window or join keyed by (trace_code, ...) needs no shuffle.
    """
    return _laid_out(physical_plan(frame).outputPartitioning(), partitions)


_ROW_WISE = ("ProjectExec", "FilterExec", "WholeStageCodegenExec", "InputAdapter", "ColumnarToRowExec", "SortExec")


def _code_key_position(keys) -> int | None:
    names = [k.name() if _name(k) == "AttributeReference" else None for k in _seq(keys)]
    return names.index(LAYOUT_KEY) if LAYOUT_KEY in names else None


def keeps_codes_together(frame, partitions: int) -> bool:
    """True when each task of *frame* holds whole codes of one layout partition, although
    Spark reports no partitioning: the plan ends (under row-wise steps) in a UNION ALL
    of laid-out branches, or in a full outer join of laid-out sides on
    (trace_code, ...).

    Spark reports both as unpartitioned (a union concatenates its branches'
    partitions; a full outer join's keys may be NULL on either side), but every row
    stays in the partition of its trace code, so a bucketed write of it needs no
    shuffle.  (The table is correct either way: a bucketed write places each row by
    its own hash; this only saves the shuffle and keeps one file per task.)
    """
    node = physical_plan(frame)
    while _name(node) in _ROW_WISE:
        node = node.child()
    kind = _name(node)
    children = _seq(node.children())
    if not all(_laid_out(child.outputPartitioning(), partitions) for child in children) or not children:
        return False
    if kind == "UnionExec":
        return True
    if kind in ("SortMergeJoinExec", "ShuffledHashJoinExec") and node.joinType().toString() == "FullOuter":
        left, right = _code_key_position(node.leftKeys()), _code_key_position(node.rightKeys())
        return left is not None and left == right
    return False


# --------------------------------------------------------------------------- reports


class PlanLog:
    """The plans of the steps of a job chain, as it runs: pass it as ``inspect``.

    To :func:`rxring.backends.spark.engine.materialise_stages`, to
    :func:`~rxring.backends.spark.engine.run_flat_rules` or to
    :class:`~rxring.backends.spark.engine.SparkBackend`: each step's plan is read
    (:func:`query_plan`) before the step is written or run, so one analysis both
    judges its events and reports the shuffles of each step (``layout``, ``stage <name>``
    for each stage, then one per rule).  Read the plans under :func:`no_automatic_broadcast`
    to see them as on big data.
    """

    def __init__(self):
        self.plans: list[QueryPlan] = []

    def __call__(self, name: str, frame) -> None:
        self.plans.append(query_plan(frame, name))


@contextmanager
def no_automatic_broadcast(spark):
    """Plan as for big data: only explicitly hinted tables are broadcast.

    Small test tables would otherwise be broadcast by size and hide the shuffles a
    province's data would need (``spark.sql.autoBroadcastJoinThreshold=-1`` for the
    duration; the broadcast hints of the SQL and of the products and deletions
    tables still apply).
    """
    key = "spark.sql.autoBroadcastJoinThreshold"
    before = spark.conf.get(key)
    spark.conf.set(key, "-1")
    try:
        yield spark
    finally:
        spark.conf.set(key, before)


def over_budget(plans, budget: dict | None = None) -> dict[str, list[Shuffle]]:
    """The queries with more shuffles beyond the layout than :data:`SHUFFLE_BUDGET` allows.

    Also flags a ``layout`` step that is not exactly the one shuffle by trace code.
    Returns ``{name: extra shuffles}`` (empty when every query keeps its budget).
    """
    budget = SHUFFLE_BUDGET if budget is None else budget
    out = {}
    for plan in plans:
        allowed = budget.get(plan.name, 0)
        wrong_layout = plan.name == "layout" and plan.layout != 1
        if len(plan.extra) > allowed or wrong_layout:
            out[plan.name] = list(plan.extra)
    return out
