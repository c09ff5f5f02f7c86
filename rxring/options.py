"""Analysis parameters shared by every engine (embedded, Neo4j, Spark).

One options object instead of many keyword arguments; the CLI exposes each field
as an option and records the values used in the workspace's analysis.json and in
evidence packages.  Every engine must give the same findings for the same
options: the exact meaning of each field is written beside it and in the rule
files (``rxring/queries/<RULE>.sql``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .errors import RxringError

__all__ = ["AnalysisOptions", "PROVENANCE_TYPES_DEFAULT"]

#: Event types that show a site held a pack before dispensing it (NO_PROVENANCE).
PROVENANCE_TYPES_DEFAULT = ("inbound", "transfer_in", "refund")


@dataclass(frozen=True)
class AnalysisOptions:
    """Thresholds of the rules and of the ring detection.

    Attributes
    ----------
    double_scan_minutes
        Two dispense (or two refund) scans of one code at one site with the same
        settlement id are one sale, however far apart (one pack cannot be sold
        twice in one settlement: a hospital stay settles days of dispensing at
        discharge).  Without a settlement id on either, they are one sale when
        within this many minutes and their patients are equal or either unknown.
        Two different settlement ids are always two sales.
    provenance_min_coverage
        NO_PROVENANCE is judged only at sites whose share of dispensed codes that
        have an ``inbound`` or ``transfer_in`` record at the site (at any time)
        reaches this fraction: "sites that report inbound scans at all".  Kept
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

    double_scan_minutes: float = 10.0
    provenance_min_coverage: float = 0.3
    provenance_grace_days: float = 30.0
    opening_stocktake_days: float = 2.0
    provenance_types: tuple[str, ...] = PROVENANCE_TYPES_DEFAULT
    conflict_min_support: int = 5
    conflict_min_share: float = 0.8
    seed: int = 0
    split_above: int = 8
    min_modularity: float = 0.0
    merge_share: float = 0.3
    louvain_resolution: float = 1.0
    ring_rules: tuple[str, ...] = ("DUP_DISPENSE", "RESURFACE", "NO_PROVENANCE", "CODE_CONFLICT")

    def __post_init__(self):
        from .schema import EVENT_TYPES, RULES

        checks = [
            (self.double_scan_minutes >= 0, "double_scan_minutes must be >= 0"),
            (0 <= self.provenance_min_coverage <= 1, "provenance_min_coverage must be between 0 and 1"),
            (self.provenance_grace_days >= 0, "provenance_grace_days must be >= 0"),
            (self.opening_stocktake_days >= 0, "opening_stocktake_days must be >= 0"),
            (self.conflict_min_support >= 1, "conflict_min_support must be >= 1"),
            (0 < self.conflict_min_share <= 1, "conflict_min_share must be in (0, 1]"),
            (self.split_above >= 2, "split_above must be >= 2"),
            (self.louvain_resolution > 0, "louvain_resolution must be > 0"),
            (-0.5 <= self.min_modularity <= 1, "min_modularity must be between -0.5 and 1"),
            (0 < self.merge_share <= 1, "merge_share must be in (0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise RxringError(f"bad analysis option: {message}")
        bad = [t for t in self.provenance_types if t not in EVENT_TYPES]
        if bad:
            raise RxringError(f"bad analysis option: provenance_types has unknown event types {bad}; known: {list(EVENT_TYPES)}")
        bad = [r for r in self.ring_rules if r not in RULES]
        if bad:
            raise RxringError(f"bad analysis option: ring_rules has unknown rules {bad}; known: {list(RULES)}")
        # tuples even when given lists (JSON round trip), so the object stays hashable
        object.__setattr__(self, "provenance_types", tuple(self.provenance_types))
        object.__setattr__(self, "ring_rules", tuple(self.ring_rules))

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
