"""Small records shared by the simulation and the writers: packs, batches, lines, visits.

Times are integer seconds since midnight of the first simulated day (naive
Asia/Shanghai local time), so day ``d`` covers ``[d*86400, (d+1)*86400)``.
"""

from __future__ import annotations

__all__ = ["Batch", "Pack", "Line", "Visit", "DAY"]

DAY = 86400


class Batch:
    """A production lot (manu_lotnum) with its expiry day (days since the start)."""

    __slots__ = ("lot", "expiry", "short")

    def __init__(self, lot: str, expiry: int, short: bool = False):
        self.lot = lot
        self.expiry = expiry
        self.short = short  # a rare short-dated lot (may end in an EXPIRED dispense)


class Pack:
    """One coded pack and the scans reported for it so far.

    ``hist`` holds tuples ``(time, event_type, site_idx, patient_idx, quantity,
    split, settlement_id, reported_product_idx, seq, prescriber_idx)``; only events that are
    written out are recorded.
    """

    __slots__ = ("code", "prod", "batch", "hist", "taint", "watch", "units_left", "dsites")

    def __init__(self, code: str, prod: int, batch: Batch):
        self.code = code
        self.prod = prod
        self.batch = batch
        self.hist: list[tuple] = []
        self.taint = -1          # ring index once a ring has it
        self.watch: str | None = None  # trap kind worth keeping in the ground truth
        self.units_left = 0      # for an opened (拆零) pack
        self.dsites: tuple = ()  # sites where it was dispensed


class Line:
    """One reported line: one product, one batch, one or more codes (an NHSA body entry)."""

    __slots__ = (
        "etype", "t", "site", "prod", "packs", "qty", "split", "price", "patient", "prescriber",
        "pharmacist", "setl", "fund", "counterparty", "rxno", "seq", "batch", "invoice", "peer", "inv_chg_type",
    )

    def __init__(self, etype: str, t: int, site: int, prod: int, packs: list, batch: Batch, qty: float,
                 price: float, split: bool = False, patient: int = -1, prescriber: int = -1,
                 pharmacist: str = "", setl: str | None = None, fund: float | None = None,
                 counterparty: str = "", rxno: str = "", invoice: str = "", peer: int = -1):
        self.etype = etype
        self.t = t
        self.site = site
        self.prod = prod          # product as REPORTED (differs from the packs' own for 串换)
        self.packs = packs
        self.batch = batch
        self.qty = qty            # sel_retn_cnt / purc_retn_cnt / cnt / inv_cnt
        self.price = price        # finl_trns_pric / pric
        self.split = split
        self.patient = patient
        self.prescriber = prescriber
        self.pharmacist = pharmacist
        self.setl = setl
        self.fund = fund
        self.counterparty = counterparty
        self.rxno = rxno
        self.invoice = invoice
        self.peer = peer          # other site of a transfer
        self.seq = 0
        self.inv_chg_type = ""

    @property
    def total(self) -> float:
        return round(self.price * self.qty, 2)


class Visit:
    """A patient at a counter: one settlement (or a cash sale) of one or more items.

    ``items`` are ``(reported_product, stock_product, packs, split_units)``; a
    split item (``split_units > 0``) sells that many smallest units from one pack.
    """

    __slots__ = ("t", "site", "patient", "prescriber", "items", "settled", "tag", "ring")

    def __init__(self, t: int, site: int, patient: int, prescriber: int, items: list,
                 settled: bool, tag: str = "legit", ring=None):
        self.t = t
        self.site = site
        self.patient = patient
        self.prescriber = prescriber
        self.items = items
        self.settled = settled
        self.tag = tag
        self.ring = ring
