"""Analysis parameters shared by every engine (embedded, Neo4j, Spark).

One options object instead of many keyword arguments; the values used are recorded
in the workspace's analysis.json and in evidence packages.  Every engine must give
the same findings for the same options: the exact meaning of each field is written
in the class docstring and in the rule files (``rxring/rules/sql/<RULE>.sql``,
``rxring/rules/cypher/<RULE>.cypher``).

Each field also describes itself in its ``metadata`` (see :func:`_field`): a one-line
help, its range, its choices.  ``__post_init__`` checks the values against them, and
the CLI builds one option per field from them
(:func:`rxring.commands.options.analysis_options`), so a new field needs no CLI code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from .errors import RxringError
from .schema import EVENT_TYPES, RULES

__all__ = ["AnalysisOptions", "PROVENANCE_TYPES_DEFAULT"]

#: Event types that show a site held a pack before dispensing it (NO_PROVENANCE).
PROVENANCE_TYPES_DEFAULT = ("inbound", "transfer_in", "refund")


def _field(default, help: str, *, min=None, max=None, min_open: bool = False, choices=None, flag: str | None = None,
           noun: str | None = None):
    """A field that describes itself in ``metadata``, for checks here and for the CLI and the workbench.

    ``help``: one line for ``--help``; ``range``: ``{"min", "max", "min_open"}`` (a bound
    may be None; checked in ``__post_init__``, a ``click.FloatRange``/``IntRange`` on the
    command line); ``choices``: the allowed items of a tuple field (``noun`` names them
    in errors); ``flag``: the option's name when it is not the field's (tuple fields take
    one item per flag, so their flag is singular).
    """
    metadata = {"help": help}
    if min is not None or max is not None:
        metadata["range"] = {"min": min, "max": max, "min_open": min_open}
    if choices is not None:
        metadata.update(choices=tuple(choices), noun=noun or "values")
    if flag:
        metadata["flag"] = flag
    return field(default=default, metadata=metadata)


def _within(value, bounds: dict) -> bool:
    low, high = bounds["min"], bounds["max"]
    if low is not None and (value <= low if bounds["min_open"] else value < low):
        return False
    return high is None or value <= high


def _range_text(bounds: dict) -> str:
    """How a range reads in an error: ">= 0", "> 0", "between 0 and 1", "in (0, 1]"."""
    low, high = bounds["min"], bounds["max"]
    if high is None:
        return f"{'>' if bounds['min_open'] else '>='} {low}"
    if low is None:
        return f"<= {high}"
    return f"in ({low}, {high}]" if bounds["min_open"] else f"between {low} and {high}"


@dataclass(frozen=True)
class AnalysisOptions:
    """Thresholds of the rules and of the ring detection.

    Attributes
    ----------
    double_scan_minutes
        The time part of when two scans are one sale
        (:data:`rxring.rules.registry.SAME_SALE`): two dispense (or two refund)
        scans of one code at one site sharing a settlement id, or a record number
        (a retransmission), are one sale however far apart; otherwise, unless they
        carry two different settlement ids, they are one sale when within this many
        minutes and their patients are equal or either unknown.
    provenance_min_coverage
        NO_PROVENANCE is judged only at sites whose coverage reaches this fraction:
        the share of dispensed codes that have an ``inbound`` or ``transfer_in``
        record at the site, or a ``transfer_out`` naming it, at any time
        (:data:`rxring.rules.registry.NO_PROVENANCE_TERMS`): "sites that report
        inbound scans at all".  Kept
        low: a small pharmacy that launders much of what it sells has a lower
        share, while a site that does not scan its inbound is near zero.
    provenance_grace_days
        ... and, at sites without an opening stock-take, only for dispenses at
        least this many days after the site's first event in the data.  Real data
        windows start in the middle of a pack's life: stock received before the
        window has no inbound record and is sold in the window's first weeks.  A
        site that uploaded its opening stock-take (see below) needs no grace: its
        old stock is listed.
    opening_stocktake_days
        An inventory scan at a site within this many days of the site's first
        event is its opening stock-take (the 3501 盘存 a site uploads when it
        starts reporting, also when it joins mid-window): the packs it lists were
        received before the data, and the site gets no grace period.  Later
        stock-takes do not count as receipts (laundered packs sit on the shelf and
        are counted like any other).  0 disables it.
    provenance_types
        Event types at the dispensing site, at or before the dispense, that count
        as having received the pack (a refund puts a pack back into stock).
        Inventory scans do not: a laundering pharmacy counts laundered packs on
        its shelf like any other stock.
    conflict_min_support, conflict_min_share
        CODE_CONFLICT learns the usual product_code of each code product part
        (cn20 prefix or GTIN) from the data: the product_code carried by the most
        distinct codes with that product part, if it has at least
        ``conflict_min_support`` codes and at least ``conflict_min_share`` of them.
    seed
        Seed of the community detection (rings are reproducible for a seed).
    split_above
        Connected components of the resale graph with more nodes than this are
        candidates for a split into communities (seeded Louvain, networkx) ...
    min_modularity
        ... and the split (after ``merge_share``) is kept only when its modularity
        reaches this value (0: better than chance).  Modularity is low whenever one
        ring holds most of the weight, so it is a sanity floor, not the criterion.
    merge_share
        After the Louvain split, a community that sends at least this share of its
        resale box weight (edges to prescribers left out) to the other communities is merged into the one it trades most
        with (repeatedly): Louvain cuts one ring whose patients feed several
        pharmacies into pieces that send 40-70 % of their weight to each other,
        while rings glued by a shared member send a few percent.
    louvain_resolution
        Resolution of the Louvain split (higher gives smaller rings).
    ring_rules
        Rules whose findings build the resale graph; findings of other rules
        (EXPIRED) join a ring only when their trace code is already one of its boxes.
    """

    double_scan_minutes: float = _field(
        10.0, "Two scans of one code at one site within this many minutes (same or unknown patient, not two "
              "different settlement ids) are one sale; a shared settlement id or record number is one sale at "
              "any distance.",
        min=0)
    provenance_min_coverage: float = _field(
        0.3, "NO_PROVENANCE: judge only sites with receipt records (inbound, transfer-in, or a transfer-out naming "
        "them) for at least this share of sold codes.",
        min=0, max=1)
    provenance_grace_days: float = _field(
        30.0, "NO_PROVENANCE: without an opening stock-take, ignore sales within this many days of a site's "
              "first event (old stock).", min=0)
    opening_stocktake_days: float = _field(
        2.0, "NO_PROVENANCE: stock-takes this soon after a site's first event list old stock (0: off).", min=0)
    provenance_types: tuple[str, ...] = _field(
        PROVENANCE_TYPES_DEFAULT, "Event types at the site that show it received a pack (repeatable).",
        choices=EVENT_TYPES, flag="--provenance-type", noun="event types")
    conflict_min_support: int = _field(
        5, "CODE_CONFLICT: codes needed to learn a product part's usual product.", min=1)
    conflict_min_share: float = _field(
        0.8, "CODE_CONFLICT: share of codes the usual product must have.", min=0, max=1, min_open=True)
    seed: int = _field(0, "Seed of the ring community detection.")
    split_above: int = _field(8, "Split resale-graph components with more members than this (Louvain).", min=2)
    min_modularity: float = _field(
        0.0, "Split a large component only when the Louvain partition reaches this modularity.", min=-0.5, max=1)
    merge_share: float = _field(
        0.3, "Merge a split community that sends at least this share of its box weight to the others.",
        min=0, max=1, min_open=True)
    louvain_resolution: float = _field(1.0, "Louvain resolution (higher: smaller rings).", min=0, min_open=True)
    ring_rules: tuple[str, ...] = _field(
        ("DUP_DISPENSE", "RESURFACE", "NO_PROVENANCE", "CODE_CONFLICT"),
        "Rules whose findings build rings (repeatable).", choices=RULES, flag="--ring-rule", noun="rules")

    def __post_init__(self):
        # tuples even when given lists (JSON round trip), so the object stays hashable
        for f in fields(self):
            if isinstance(f.default, tuple):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        for f in fields(self):
            value, bounds, choices = getattr(self, f.name), f.metadata.get("range"), f.metadata.get("choices")
            if bounds and not _within(value, bounds):
                raise RxringError(f"bad analysis option: {f.name} must be {_range_text(bounds)}")
            if choices:
                bad = [v for v in value if v not in choices]
                if bad:
                    raise RxringError(f"bad analysis option: {f.name} has unknown {f.metadata['noun']} {bad}; "
                                      f"known: {list(choices)}")

    def to_dict(self) -> dict:
        """Plain dict (lists for tuples), as stored in analysis.json."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "AnalysisOptions":
        """Options from :meth:`to_dict` output; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_(self, **changes) -> "AnalysisOptions":
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
