"""Planted resale rings (回流药): who takes part and how the packs travel.

Styles (``Ring.style``):

``broker_no_inbound``
    Source patients get expensive drugs on insurance from a cooperating doctor at
    a hospital; a broker collects the packs; a pharmacy that uploads inbound
    scans for its other stock sells them again with no inbound record.
``recycler_inbound``
    As above, but the pharmacy books the packs as an inbound (3503) from a
    personal recycler (``个人回收``, ``个人(张**)``) at a fraction of the price.
``same_site_relaunder``
    A pharmacy takes back packs it sold on insurance (no refund) and sells them
    again to someone else.
``cash_resale``
    Resold without a second settlement (cash, no setl_id), sometimes at a
    pharmacy that uploads no inbound scans at all.
``big_collection``
    20+ source patients, several doctors and hospitals, several laundering
    pharmacies (one in a neighbouring city when there is one), slow (months).
``ghost_stock``
    A pharmacy sells packs it never received and that were never dispensed in
    the data (collected outside the region).
``code_swap``
    串换: a pharmacy dispenses packs of a cheap drug but reports them, and
    settles them, as an expensive one.
``pair``
    The smallest ring: two patients, one doctor, one laundering pharmacy, days.
``repeat_settlement``
    A pharmacy settles a code it already sold to a patient once more to the same
    patient a few weeks later (a fake refill, 空刷): sold twice, never resurfacing.

Recycler-inbound rings also sell some packs off the books (no dispense scan), so
those codes only resurface as an inbound or a stock-taking scan.

Laundered packs wait in the laundering site's back room (they are scanned at
stock-taking like the shelf) and are sold one or two at a time to that site's
ordinary customers, at ordinary times, prices and quantities, within a few days
of arriving; what happens to each pack is recorded in its history, and the
ground truth is derived from those histories (:mod:`rxring.synth.truth`), never
assumed.
"""

from __future__ import annotations

import random
from collections import deque
from datetime import date
from dataclasses import dataclass, field

import numpy as np

from .catalog import RECYCLER_NAMES
from .city import City
from .model import Line, Pack, Visit

__all__ = ["Ring", "RingBook", "STYLES"]

STYLES = (
    "broker_no_inbound", "recycler_inbound", "same_site_relaunder", "cash_resale",
    "big_collection", "ghost_stock", "code_swap", "pair", "repeat_settlement",
)

# Relative pharmacy sales by weekday (Monday first), as the legitimate life produces them.
_PHARMACY_DOW = (1.0, 0.98, 1.0, 1.0, 1.0, 1.25, 1.35)

_TEMPLATES = {
    # style: (patients, prescribers, source sites, source kind, laundering sites, speed, geography, inbound, settle)
    "broker_no_inbound": ((4, 8), (1, 2), (1, 1), "hospital", (1, 2), "days", "same_district", 0.0, 1.0),
    "recycler_inbound": ((3, 6), (1, 1), (1, 1), "hospital", (1, 1), "months", "other_district", 1.0, 0.7),
    "same_site_relaunder": ((2, 4), (1, 1), (1, 1), "pharmacy", (0, 0), "days", "same_site", 0.0, 1.0),
    "cash_resale": ((3, 6), (1, 2), (1, 1), "hospital", (1, 1), "days", "other_district", 0.0, 0.0),
    "big_collection": ((20, 26), (2, 3), (2, 3), "hospital", (3, 4), "months", "other_city", 0.5, 0.6),
    "ghost_stock": ((0, 0), (0, 0), (0, 0), "", (1, 1), "days", "", 0.0, 0.8),
    "code_swap": ((0, 0), (0, 0), (0, 0), "", (1, 1), "days", "", 0.0, 1.0),
    "pair": ((2, 2), (1, 1), (1, 1), "any", (1, 1), "days", "same_district", 0.0, 1.0),
    "repeat_settlement": ((2, 5), (1, 1), (1, 1), "pharmacy", (0, 0), "weeks", "same_site", 0.0, 1.0),
}


@dataclass
class Ring:
    """One planted ring and its plan (the ground truth reports members from the data)."""

    idx: int
    ring_id: str
    style: str
    speed: str
    geography: str
    sources: list[tuple[int, int]]          # (source site, prescriber) pairs
    source_patients: list[int]
    laundering_sites: list[int]
    brokers: list[str]
    products: list[int]
    start: int
    end: int
    delay: tuple[int, int]
    inbound_prob: float
    settle_prob: float
    collect_prob: float = 0.85
    swap: tuple[int, int] | None = None     # (stock product, reported product)
    injected: dict[int, int] = field(default_factory=dict)

    def plan(self, city: City) -> dict:
        """The plan as recorded in ground_truth.json (ring["plan"])."""
        return {
            "speed": self.speed, "geography": self.geography, "start_day": self.start, "end_day": self.end,
            "delay_days": list(self.delay), "recycler_inbound_share": self.inbound_prob,
            "second_settlement_share": self.settle_prob,
            "source_regions": sorted({city.sites[s].region for s, _ in self.sources}),
            "laundering_regions": sorted({city.sites[s].region for s in self.laundering_sites}),
        }


class RingBook:
    """Plans the rings of a city and plays them inside :class:`rxring.synth.life.Engine`.

    Parameters
    ----------
    engine : Engine
        The running city (stock, emission, budgets).
    n_rings : int
        How many rings to plant (the first eight cover every style once).
    seed : int
    """

    def __init__(self, engine, n_rings: int, seed: int, skip_styles: tuple[str, ...] = ()):
        self.e = engine
        self.city: City = engine.city
        self.rng = random.Random(seed * 7919 + 17)
        self.np = np.random.default_rng([seed, 0xF4A0D])
        self.rings: list[Ring] = []
        self.source_due: dict[int, list[tuple[Ring, int]]] = {}
        self.inject_due: dict[int, list[tuple[Ring, int, Pack, int]]] = {}
        self.push_due: dict[int, list[tuple[Ring, int, int, int, int]]] = {}
        self.swap_due: dict[int, list[Ring]] = {}
        self.ghost_due: dict[int, list[Ring]] = {}
        self.pending: list[Pack] = []
        self.offbook_due: dict[int, list[tuple[int, Pack]]] = {}
        self._used_patients: set[int] = set()
        self._used_doctors: set[int] = set()
        self._used_laundering: set[int] = set()
        self._pools: dict[int, list[int]] = {}
        self.skip_styles = skip_styles
        self._plan(n_rings)
        engine.rings = self

    # ------------------------------------------------------------------ planning
    def _weighted(self, candidates: list[int]) -> int:
        w = np.asarray([self.city.sites[i].size for i in candidates])
        return candidates[int(self.np.choice(len(candidates), p=w / w.sum()))]

    def _laundering(self, src_district: int | None, geography: str, need_reporting: bool, exclude: set[int]) -> int | None:
        c = self.city
        base = [s.idx for s in c.sites if s.is_pharmacy and s.idx not in exclude
                and (s.reports_inbound or not need_reporting)]
        if geography == "same_district" and src_district is not None:
            pick = [i for i in base if c.sites[i].district == src_district]
        elif geography == "other_city":
            pick = [i for i in base if c.sites[i].district in c.other_city]
        elif geography == "other_district" and src_district is not None:
            pick = [i for i in base if c.sites[i].district != src_district and c.sites[i].district not in c.other_city]
        else:
            pick = base
        fresh = [i for i in pick if i not in self._used_laundering]
        relaxed = []
        if not pick and need_reporting and geography == "other_city":   # keep the geography, lose NO_PROVENANCE
            relaxed = [s.idx for s in c.sites if s.is_pharmacy and s.idx not in exclude and s.district in c.other_city]
        for group in (fresh, pick, relaxed, [i for i in base if i not in self._used_laundering], base):
            if group:
                site = self._weighted(group)
                self._used_laundering.add(site)
                return site
        return None

    def _patients_near(self, districts: set[int], n: int) -> list[int]:
        c = self.city
        near = [p for p in np.flatnonzero(np.isin(c.patient_district, list(districts))).tolist()
                if p not in self._used_patients]
        if len(near) < n:
            near += [p for p in range(c.n_patients) if p not in self._used_patients and p not in set(near)][: n * 3]
        chosen = self.rng.sample(near, min(n, len(near)))
        self._used_patients.update(chosen)
        return chosen

    def _doctor(self, site: int) -> int:
        c = self.city
        docs = c.sites[site].doctors
        if not docs:  # a pharmacy: external prescriptions from a doctor of the district
            docs = [d for h in c.hospitals_by_district.get(c.sites[site].district, []) for d in c.sites[h].doctors]
        if not docs:
            docs = list(range(len(c.prescriber_ids)))
        free = [d for d in docs if d not in self._used_doctors] or docs
        doc = free[self.rng.randrange(len(free))]
        self._used_doctors.add(doc)
        return doc

    def _first_month_end(self) -> int:
        """Day index of the last day of the first calendar month (the first stock-take)."""
        d = self.e.start
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        return (nxt - d).days - 1

    def _plan(self, n_rings: int) -> None:
        c, days = self.city, self.e.days
        valuable = [p.idx for p in c.products if p.drug.resale_value] or [max(c.products, key=lambda p: p.price).idx]
        cheap = [p.idx for p in c.products if p.price < 60 and p.drug.chronic] or [min(c.products, key=lambda p: p.price).idx]
        order = [s for s in STYLES if s not in self.skip_styles]
        extra = [s for s in ("broker_no_inbound", "recycler_inbound", "same_site_relaunder", "cash_resale", "pair",
                             "big_collection", "ghost_stock", "code_swap", "repeat_settlement")
                 if s not in self.skip_styles]
        while len(order) < n_rings:
            order.append(extra[self.rng.randrange(len(extra))])
        for k, style in enumerate(order[:n_rings]):
            n_pat, n_doc, n_src, src_kind, n_laund, speed, geo, inbound, settle = _TEMPLATES[style]
            if k >= len(STYLES) and style not in ("ghost_stock", "code_swap", "same_site_relaunder", "repeat_settlement"):
                speed = self.rng.choice(["days", "months"])
                geo = self.rng.choice(["same_district", "other_district", "other_city"])
                inbound = self.rng.choice([0.0, 0.0, 0.5, 1.0]) if style != "recycler_inbound" else 1.0
                settle = self.rng.choice([1.0, 0.7, 0.0]) if style != "cash_resale" else 0.0
            start = self.rng.randint(int(days * 0.08), max(int(days * 0.3), int(days * 0.08) + 1))
            if days >= 75:   # after the first month-end stock-take (an opening stock-take lists old stock)
                start = max(start, self._first_month_end() + 1)
            end = min(days - 2, start + self.rng.randint(int(days * 0.35), max(int(days * 0.65), int(days * 0.35) + 1)))
            if speed == "days":
                delay = (1, 7)
            elif speed == "weeks":
                delay = (12, 24)
            else:
                hi = max(10, min(75, int(days * 0.35)))
                delay = (max(5, min(25, hi // 2)), hi)
            prods = self.rng.sample(valuable, min(len(valuable), self.rng.randint(1, 3)))
            ring = Ring(k, f"GT{k + 1:02d}", style, speed, geo, [], [], [], [], prods, start, end, delay,
                        inbound, settle)
            if style in ("ghost_stock", "code_swap"):
                site = self._laundering(None, "any", True, set())
                if site is None:
                    continue
                ring.laundering_sites = [site]
                if style == "code_swap":
                    x = cheap[self.rng.randrange(len(cheap))]
                    y = prods[0]
                    ring.swap = (x, y)
                    ring.products = [y]
                    # a handful of regulars whose insurance cards carry the swapped sales
                    pool = [p for p in self._pool(site) if p not in self._used_patients]
                    ring.source_patients = self.rng.sample(pool, min(len(pool), self.rng.randint(3, 8)))
                    self._used_patients.update(ring.source_patients)
                    d = start
                    while d <= end:
                        self.swap_due.setdefault(d, []).append(ring)
                        d += self.rng.randint(2, 6)
                else:
                    d = start
                    while d <= end:
                        self.ghost_due.setdefault(d, []).append(ring)
                        d += self.rng.randint(3, 9)
                self.rings.append(ring)
                continue
            # source sites and their cooperating doctors
            kinds = {"hospital": ("hospital", "clinic"), "pharmacy": ("pharmacy",), "any": ("hospital", "clinic", "pharmacy")}[src_kind]
            same_site = style in ("same_site_relaunder", "repeat_settlement")
            allowed = [s.idx for s in c.sites if s.kind in kinds and (not same_site or s.reports_inbound)]
            cands = [i for i in allowed if i not in self._used_laundering] or (allowed if same_site else [])
            if same_site:
                cands = [i for i in cands if c.sites[i].district not in c.other_city] or cands
            if not cands:
                continue
            src_sites: list[int] = []
            for _ in range(self.rng.randint(*n_src)):
                site = self._weighted(cands)
                if site not in src_sites:
                    src_sites.append(site)
            n_docs = max(self.rng.randint(*n_doc), len(src_sites))
            ring.sources = [(src_sites[i % len(src_sites)], self._doctor(src_sites[i % len(src_sites)])) for i in range(n_docs)]
            districts = {c.sites[s].district for s in src_sites}
            ring.source_patients = self._patients_near(districts, self.rng.randint(*n_pat))
            if same_site:
                ring.laundering_sites = [src_sites[0]]
                self._used_laundering.add(src_sites[0])
            else:
                need_reporting = style in ("broker_no_inbound", "big_collection", "pair") or inbound > 0
                exclude = set(src_sites)
                for j in range(self.rng.randint(*n_laund)):
                    g = geo if (geo != "other_city" or j == 0) else self.rng.choice(["same_district", "other_district"])
                    site = self._laundering(c.sites[src_sites[0]].district, g, need_reporting, exclude)
                    if site is not None and site not in ring.laundering_sites:
                        ring.laundering_sites.append(site)
                        exclude.add(site)
                if not ring.laundering_sites:
                    continue
            if inbound > 0:
                ring.brokers = [RECYCLER_NAMES[(k + j) % len(RECYCLER_NAMES)] for j in range(1 + (style == "big_collection"))]
            for p in ring.source_patients:
                d = start + self.rng.randint(0, 10)
                while d <= end:
                    self.source_due.setdefault(d, []).append((ring, p))
                    d += self.rng.randint(6, 18)
            self.rings.append(ring)
        for i, ring in enumerate(self.rings):  # number the rings that could be planted
            ring.idx, ring.ring_id = i, f"GT{i + 1:02d}"
        self.rings_by_idx = {r.idx: r for r in self.rings}

    # ------------------------------------------------------------------ playing
    def _pool(self, site: int) -> list[int]:
        pool = self._pools.get(site)
        if pool is None:
            c = self.city
            pool = [p for p in np.flatnonzero(c.patient_pharmacy == site).tolist() if p not in self._used_patients]
            if len(pool) < 5:
                pool = [p for p in np.flatnonzero(c.patient_district == c.sites[site].district).tolist()
                        if p not in self._used_patients] or list(range(c.n_patients))
            self._pools[site] = pool
        return pool

    def _budget_ok(self, ring: Ring, site: int) -> bool:
        used = self.e.site_injected.get(site, 0)
        return used + 1 <= 0.15 * int(self.e.site_legit_packs[site]) + 2

    def morning(self, day: int) -> None:
        """Packs arriving at laundering sites before opening (with a recycler inbound or silently)."""
        e = self.e
        arrivals: dict[tuple[int, int, int], list[Pack]] = {}
        buyers: dict[int, int] = {}
        for ring, site, pack, patient in self.inject_due.pop(day, ()):
            arrivals.setdefault((ring.idx, site, pack.prod), []).append(pack)
            buyers[id(pack)] = patient
        for ring in self.ghost_due.pop(day, ()):
            site = ring.laundering_sites[0]
            if not self._budget_ok(ring, site):
                continue
            prod = ring.products[self.rng.randrange(len(ring.products))]
            n = self.rng.randint(1, 2)
            packs = e.new_packs(prod, n, e.new_batch(day))
            for pack in packs:
                pack.taint = ring.idx
            e.site_injected[site] = e.site_injected.get(site, 0) + n
            arrivals.setdefault((ring.idx, site, prod), []).extend(packs)
        for (ring_idx, site, prod) in sorted(arrivals):
            ring = self.rings_by_idx[ring_idx]
            packs = arrivals[(ring_idx, site, prod)]
            if ring.brokers and self.rng.random() < ring.inbound_prob:
                broker = ring.brokers[self.rng.randrange(len(ring.brokers))]
                t = e.early_time(day)
                price = round(self.city.products[prod].price * 0.3, 2)
                by_batch: dict[int, list[Pack]] = {}
                for pack in packs:
                    by_batch.setdefault(id(pack.batch), []).append(pack)
                for group in by_batch.values():
                    e.emit(Line("inbound", t, site, prod, group, group[0].batch, len(group), price,
                                counterparty=broker, invoice=""))
                    t += self.rng.randint(1, 40)
            if ring.style == "repeat_settlement":   # the same patient is settled again, same day
                for pack in packs:   # the pack never left the patient: keyed by them, not on any shelf
                    e.backroom.setdefault((site, prod, buyers[id(pack)]), deque()).append(pack)
                    self.push_due.setdefault(day, []).append((ring, site, prod, 1, buyers[id(pack)]))
                continue
            if ring.inbound_prob > 0 and ring.brokers:
                kept = []
                for pack in packs:   # some recycled packs leave off the books (no dispense scan)
                    if self.rng.random() < 0.2:
                        e.offbook.setdefault((site, prod), []).append(pack)
                        self.offbook_due.setdefault(day + self.rng.randint(1, 20), []).append((site, pack))
                    else:
                        kept.append(pack)
                packs = kept
            e.backroom.setdefault((site, prod), deque()).extend(packs)
            n = len(packs)
            while n > 0:
                k = min(n, self.rng.choice([1, 1, 1, 2]))
                self.push_due.setdefault(self._sale_day(day), []).append((ring, site, prod, k, -1))
                n -= k

    def _sale_day(self, day: int) -> int:
        """A day within the next five, weighted like pharmacy trade (busier at weekends)."""
        days = list(range(day, day + 5))
        weights = [_PHARMACY_DOW[self.e.weekday(d)] for d in days]
        return self.rng.choices(days, weights)[0]

    def _quiet_holiday(self, day: int) -> None:
        """Rings slow down over the Spring Festival like everyone else: most of their
        visits that fall in the holiday week move to the first day after it."""
        e = self.e
        if day not in e.holiday:
            return
        after = day
        while after in e.holiday:
            after += 1
        for due in (self.source_due, self.push_due, self.swap_due):
            keep, move = [], []
            for item in due.pop(day, ()):
                (move if self.rng.random() < 0.75 else keep).append(item)
            if keep:
                due[day] = keep
            if move:
                due.setdefault(after, []).extend(move)

    def visits(self, day: int) -> list[Visit]:
        e, c = self.e, self.city
        self._quiet_holiday(day)
        out: list[Visit] = []
        for ring, patient in self.source_due.pop(day, ()):
            site, doctor = ring.sources[self.rng.randrange(len(ring.sources))]
            items = []
            for prod in self.rng.sample(ring.products, self.rng.randint(1, len(ring.products))):
                n = max(1, min(4, c.products[prod].drug.packs_per_month + self.rng.randint(0, 1)))
                items.append((prod, prod, n, 0))
            out.append(Visit(e.sale_time(day, c.sites[site].kind), site, patient, doctor, items, True,
                             tag="ring_source", ring=ring))
        for site, pack in self.offbook_due.pop(day, ()):
            e.offbook[(site, pack.prod)].remove(pack)   # sold for cash, never scanned
            e.finish(pack)
        for ring, site, prod, n, buyer in self.push_due.pop(day, ()):
            if buyer < 0:
                pool = self._pool(site)
                buyer = pool[self.rng.randrange(len(pool))]
            out.append(Visit(e.sale_time(day, c.sites[site].kind), site, buyer, int(c.patient_doctor[buyer]),
                             [(prod, prod, n, 0)], self.rng.random() < ring.settle_prob, tag="ring_push", ring=ring))
        for ring in self.swap_due.pop(day, ()):
            site = ring.laundering_sites[0]
            if not self._budget_ok(ring, site):
                continue
            e.site_injected[site] = e.site_injected.get(site, 0) + 1
            pool = ring.source_patients or self._pool(site)
            buyer = pool[self.rng.randrange(len(pool))]
            x, y = ring.swap
            out.append(Visit(e.sale_time(day, c.sites[site].kind), site, buyer, int(c.patient_doctor[buyer]),
                             [(y, x, 1, 0)], True, tag="ring_swap", ring=ring))
        return out

    def served(self, v: Visit, served: list, day: int) -> None:
        """After a ring visit: collect the source patient's packs, or close the resold ones."""
        e = self.e
        ring: Ring = v.ring
        for line, packs in served:
            for pack in packs:
                if v.tag == "ring_source" and pack.taint < 0 and self.rng.random() < ring.collect_prob:
                    site = ring.laundering_sites[self.rng.randrange(len(ring.laundering_sites))]
                    if self._budget_ok(ring, site):
                        e.site_injected[site] = e.site_injected.get(site, 0) + 1
                        pack.taint = ring.idx
                        when = day + self.rng.randint(*ring.delay)
                        if when < e.days:
                            self.inject_due.setdefault(when, []).append((ring, site, pack, v.patient))
                        else:
                            self.pending.append(pack)
                        continue
                if v.tag == "ring_swap":
                    pack.taint = ring.idx
                e.finish(pack)

    def finish_all(self) -> None:
        for pack in self.pending:
            self.e.finish(pack)
        for lst in self.inject_due.values():
            for _ring, _site, pack, _patient in lst:
                self.e.finish(pack)
        for lst in self.offbook_due.values():
            for _site, pack in lst:
                self.e.finish(pack)
