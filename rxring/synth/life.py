"""The legitimate life of packs, simulated day by day.

Supplier → inbound (3503) at a pharmacy or hospital → maybe a chain transfer
(3502 102/101) → dispense (3505) to a patient with a prescriber and a settlement
→ sometimes a refund (3506) and a resale, a purchase return (3504), monthly
stock-taking scans (3501) of what is on the shelf, 拆零 split sales of one pack
to several patients, a duplicate scan within minutes in one settlement, and
rare short-dated lots that end up dispensed after expiry.

Each day: ring hooks inject packs and add visits, stock is replenished in the
early morning (06:00-07:29) for the day's demand, visits are served in time
order (07:30-21:55), refunds are processed, and on the last day of a month the
stock-taking sites scan their shelves (22:05-23:55).  Lines of a day are handed
to the writer sorted by time and then forgotten, so memory stays bounded by
the stock on the shelves.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from datetime import date, timedelta

import numpy as np

from .catalog import SUPPLIERS
from .city import City
from .model import DAY, Batch, Line, Pack, Visit

__all__ = ["Engine", "TRAP_KINDS"]

TRAP_KINDS = (
    "refund_resale",
    "chain_transfer_sale",
    "purchase_return",
    "double_scan",
    "split_within_pack",
    "inventory_before_dispense",
    "expiry_day_dispense",
    "no_inbound_reporting_site",
)

OPEN, CLOSE = int(7.5 * 3600), int(21 * 3600 + 55 * 60)

# Relative sales by hour of day (07:30-21:55), per kind of site.
_HOURS = {
    "hospital": {7: 0.5, 8: 1.6, 9: 2.0, 10: 1.8, 11: 1.2, 12: 0.5, 13: 0.9, 14: 1.3, 15: 1.2, 16: 0.9,
                 17: 0.4, 18: 0.2, 19: 0.15, 20: 0.12, 21: 0.1},
    "pharmacy": {7: 0.2, 8: 0.8, 9: 1.3, 10: 1.4, 11: 1.2, 12: 0.9, 13: 0.8, 14: 0.9, 15: 1.0, 16: 1.1,
                 17: 1.3, 18: 1.4, 19: 1.2, 20: 0.8, 21: 0.5},
}
_HOURS["clinic"] = _HOURS["hospital"]
_DOW = (1.08, 1.02, 1.0, 1.0, 1.05, 0.95, 0.88)   # Monday first
# Spring Festival (春节): chronic patients stock up in the days before, clinics are quiet for a week.
_SPRING_FESTIVAL = (date(2024, 2, 10), date(2025, 1, 29), date(2026, 2, 17), date(2027, 2, 6),
                    date(2028, 1, 26), date(2029, 2, 13), date(2030, 2, 3))


def _hour_table(weights: dict[int, float]) -> tuple[list[float], list[tuple[int, int]]]:
    spans = []
    for hour, w in sorted(weights.items()):
        lo = max(hour * 3600, OPEN)
        hi = min((hour + 1) * 3600, CLOSE)
        if hi > lo:
            spans.append((lo, hi, w * (hi - lo) / 3600))
    total = sum(s[2] for s in spans)
    cum, acc = [], 0.0
    for s in spans:
        acc += s[2] / total
        cum.append(acc)
    cum[-1] = 1.0
    return cum, [(s[0], s[1]) for s in spans]


_TIME_TABLES = {k: _hour_table(v) for k, v in _HOURS.items()}


class Engine:
    """Runs the city for ``days`` days and hands each day's lines to ``sink``.

    Parameters
    ----------
    city : City
    days : int
    start : datetime.date
    seed : int
        Seeds the engine's own streams (the writers have theirs).
    sink : callable
        ``sink(day, lines)`` receives each day's lines sorted by time.
    acute_rate : float
        Acute visits per patient per day (before seasonality).
    trap_cap : int
        At most this many codes per trap kind are kept for the ground truth.
    """

    def __init__(self, city: City, days: int, start: date, seed: int, sink, acute_rate: float = 0.0045,
                 trap_cap: int = 2000, short_lots: int = 3, allow_split: bool = True):
        self.city = city
        self.days = days
        self.start = start
        self.sink = sink
        ss = np.random.SeedSequence([seed, 0x5EED])
        self.np = np.random.default_rng(ss.spawn(1)[0])
        self.rng = random.Random(int(ss.generate_state(1)[0]))
        self.rand = self.rng.random
        self.acute_rate = acute_rate
        self.allow_split = allow_split
        self.trap_cap = trap_cap
        n_sites, n_prod = len(city.sites), len(city.products)
        self.stock: list[list[deque]] = [[deque() for _ in range(n_prod)] for _ in range(n_sites)]
        self.opened: list[list[Pack | None]] = [[None] * n_prod for _ in range(n_sites)]
        # laundered packs wait here for the ring's own sales (never sold to the shop's regulars)
        self.backroom: dict[tuple[int, int], deque] = {}
        self.offbook: dict[tuple[int, int], list] = {}   # recycled packs that will leave unscanned
        self.rate = np.zeros((n_sites, n_prod))          # smoothed daily demand, for order sizes
        self.day_lines: list[Line] = []
        self.seq = 0
        self.setl_counter = int(self.np.integers(10_000, 90_000))
        self.refunds: dict[int, list] = {}
        self.refill: dict[int, list[int]] = {}
        self.supplier_pool: dict[tuple[int, int], deque] = {}
        self._invoices: dict[tuple[int, int, int], str] = {}
        # accounting for NO_PROVENANCE coverage and the ground truth
        self.site_disp = np.zeros(n_sites, dtype=np.int64)       # distinct codes dispensed
        self.site_disp_prov = np.zeros(n_sites, dtype=np.int64)  # ... with inbound/transfer_in before
        self.site_legit_packs = np.zeros(n_sites, dtype=np.int64)
        self.site_first_event: list[int | None] = [None] * n_sites
        self.site_injected: dict[int, int] = {}
        self.kept: dict[str, Pack] = {}                 # code -> pack kept for the ground truth
        self.trap_codes: dict[str, list[str]] = {k: [] for k in TRAP_KINDS}
        self.counts: dict[str, int] = {}
        self.rings = None                                # set by fraud.RingBook
        self.holiday: set[int] = set()
        self.holiday_start: dict[int, int] = {}
        for festival in _SPRING_FESTIVAL:
            first = (festival - start).days - 1
            for d in range(first, first + 8):
                if 0 <= d < days:
                    self.holiday.add(d)
                    self.holiday_start[d] = first
        self._weekdays = [(start + timedelta(days=d)).weekday() for d in range(days + 120)]
        self._init_refills()
        self._plan_short_lots(short_lots)
        self._chain_sites: dict[str, list[int]] = {}
        for s in city.sites:
            if s.chain:
                self._chain_sites.setdefault(s.chain, []).append(s.idx)

    # ------------------------------------------------------------------ helpers
    def weekday(self, day: int) -> int:
        """Monday = 0 (cached: asked for every visit)."""
        if day < len(self._weekdays):
            return self._weekdays[day]
        return (self.start + timedelta(days=day)).weekday()

    def between(self, lo: int, hi: int) -> int:
        """A uniform integer in [lo, hi) (faster than random.randrange)."""
        return lo + int(self.rand() * (hi - lo))

    def sale_time(self, day: int, kind: str) -> int:
        cum, spans = _TIME_TABLES[kind]
        lo, hi = spans[bisect.bisect_left(cum, self.rand())]
        return day * DAY + self.between(lo, hi)

    def early_time(self, day: int, lo_h: float = 6.0, hi_h: float = 7.49) -> int:
        return day * DAY + self.between(int(lo_h * 3600), int(hi_h * 3600))

    def emit(self, line: Line) -> None:
        """Record a line: give it a sequence number and append it to each pack's history."""
        self.seq += 1
        line.seq = self.seq
        if not self.city.sites[line.site].reports_inbound and line.etype not in ("dispense", "refund"):
            return  # this site does not upload stock scans at all
        entry_base = (line.t, line.etype, line.site, line.patient, line.qty if line.split else 1.0,
                      line.split, line.setl, line.prod, line.seq, line.prescriber)
        for pack in line.packs:
            pack.hist.append(entry_base)
        self.day_lines.append(line)
        self.counts[line.etype] = self.counts.get(line.etype, 0) + len(line.packs)
        first = self.site_first_event[line.site]
        if first is None or line.t < first:
            self.site_first_event[line.site] = line.t

    def add_trap(self, kind: str, pack: Pack) -> None:
        if pack.watch is None and len(self.trap_codes[kind]) < self.trap_cap:
            pack.watch = kind
            self.trap_codes[kind].append(pack.code)

    def finish(self, pack: Pack) -> None:
        """The pack's life in the data is over: keep it if the ground truth needs it."""
        if pack.taint >= 0 or pack.watch is not None or pack.batch.short:
            self.kept[pack.code] = pack

    def new_setl(self) -> str:
        self.setl_counter += 1 + (self.rand() < 0.3)
        return "S" + str(self.setl_counter).zfill(12)

    def digits(self, n: int) -> str:
        return str(self.between(10 ** (n - 1), 10**n))

    def fund_ratio(self, patient: int, site: int) -> float:
        employee = bool(self.city.patient_employee[patient])
        if self.city.sites[site].kind == "pharmacy":
            return 0.7 if employee else 0.5
        return 0.85 if employee else 0.6

    def new_batch(self, day: int, short: bool = False) -> Batch:
        lot = "L" + str(self.between(0, 10**6)).zfill(6)
        if short:
            return Batch(lot, day + self.rng.randint(3, 12), short=True)
        # ordinary lots: 10-33 months of shelf life left, and never expiring inside the window
        return Batch(lot, max(day + self.rng.randint(300, 1000), self.days + self.rng.randint(30, 90)))

    def new_packs(self, prod: int, n: int, batch: Batch) -> list[Pack]:
        codes = self.city.products[prod].codes.issue(n)
        return [Pack(c, prod, batch) for c in codes]

    # ------------------------------------------------------------------ demand
    def _init_refills(self) -> None:
        for p, chronic in enumerate(self.city.patient_chronic):
            if chronic:
                self.refill.setdefault(self.rng.randrange(0, 30), []).append(p)

    def _plan_short_lots(self, n: int) -> None:
        """Rare short-dated lots: at a few sites, the first delivery of an everyday chronic
        drug after a given day is a lot that expires within days."""
        self.short_plan: dict[int, int] = {}
        self.short_lots: list[tuple[int, int, Batch]] = []
        self.short_products = {p.idx for p in self.city.products if p.drug.chronic and p.price < 90}
        sites = [s.idx for s in self.city.sites]
        w = np.asarray([self.city.sites[i].size for i in sites])
        for site in self.np.choice(len(sites), size=min(n, len(sites)), replace=False, p=w / w.sum()).tolist():
            self.short_plan[sites[site]] = self.rng.randint(int(self.days * 0.1), max(int(self.days * 0.6), 2))

    def _season(self, day: int) -> float:
        doy = (self.start + timedelta(days=day)).timetuple().tm_yday
        return math.cos(2 * math.pi * (doy - 20) / 365.25)

    def _pick_site(self, patient: int, day: int, acute: bool) -> int:
        c = self.city
        if self.rand() < 0.04:  # an errand elsewhere in the city
            return self.between(0, len(c.sites))
        share = float(c.patient_hospital_share[patient]) * (0.5 if acute else 1.0)
        if self.weekday(day) >= 5:
            share *= 0.5
        return int(c.patient_hospital[patient]) if self.rand() < share else int(c.patient_pharmacy[patient])

    def _prescriber_at(self, patient: int, site: int) -> int:
        c = self.city
        doctor = int(c.patient_doctor[patient])
        docs = c.sites[site].doctors
        if docs and int(c.prescriber_site[doctor]) != site:
            return docs[self.rng.randrange(len(docs))]
        return doctor

    def _split_units(self, prod: int, acute: bool) -> int:
        units = self.city.products[prod].pack_units
        if not self.allow_split or units < 10 or self.rng.random() > (0.12 if acute else 0.03):
            return 0
        choices = [u for u in (units // 4, units // 3, units // 2, 7, 10) if 0 < u < units]
        return self.rng.choice(choices) if choices else 0

    def legit_visits(self, day: int) -> list[Visit]:
        c = self.city
        visits: list[Visit] = []
        for p in self.refill.pop(day, ()):
            nxt = day + max(20, int(self.rng.gauss(30, 3)))
            if self.rng.random() < 0.06:
                nxt += self.rng.randint(20, 35)
            if nxt in self.holiday and self.rng.random() < 0.8:   # stock up before the festival
                nxt = max(day + 14, self.holiday_start[nxt] - self.rng.randint(1, 6))
            self.refill.setdefault(nxt, []).append(p)
            site = self._pick_site(p, day, acute=False)
            items = []
            for prod in c.patient_chronic[p]:
                if self.rng.random() < 0.92:
                    split = self._split_units(prod, acute=False) if c.sites[site].is_pharmacy else 0
                    n = max(1, c.products[prod].drug.packs_per_month + (self.rng.random() < 0.15) - (self.rng.random() < 0.15))
                    items.append((prod, prod, 0 if split else n, split))
            if items:
                kind = c.sites[site].kind
                visits.append(Visit(self.sale_time(day, kind), site, p, self._prescriber_at(p, site), items,
                                    settled=self.rng.random() < 0.95))
        season = self._season(day)
        lam = self.acute_rate * c.n_patients * _DOW[self.weekday(day)] * (1 + 0.25 * season)
        if day in self.holiday:
            lam *= 0.5
        n_acute = int(self.np.poisson(lam))
        if n_acute:
            acute = [pr.idx for pr in c.products if not pr.drug.chronic] or [pr.idx for pr in c.products]
            w = np.asarray([max(0.05, c.products[i].drug.weight * (1 + 0.6 * c.products[i].drug.season * season))
                            for i in acute])
            prods = self.np.choice(len(acute), size=n_acute, p=w / w.sum())
            patients = self.np.integers(0, c.n_patients, size=n_acute)
            for p, k in zip(patients.tolist(), prods.tolist()):
                prod = acute[k]
                site = self._pick_site(p, day, acute=True)
                split = self._split_units(prod, acute=True)
                n = 1 if self.rng.random() < 0.75 else 2
                settled = self.rng.random() < (0.9 if c.sites[site].kind != "pharmacy" else 0.72)
                visits.append(Visit(self.sale_time(day, c.sites[site].kind), site, p, self._prescriber_at(p, site),
                                    [(prod, prod, 0 if split else n, split)], settled))
        return visits

    # ------------------------------------------------------------------ stock
    def restock(self, day: int, demand: dict[tuple[int, int], int]) -> None:
        """Morning deliveries and chain transfers so that the day's demand can be served."""
        self.rate *= 0.9   # smoothed daily demand per (site, product)
        for (site, prod) in sorted(demand):
            need = demand[(site, prod)]
            stock = self.stock[site][prod]
            self.rate[site, prod] += 0.1 * need
            if len(stock) >= need:
                continue
            missing = need - len(stock)
            s = self.city.sites[site]
            if s.chain and missing <= 4 and self.rng.random() < 0.3 and self._transfer(day, site, prod, missing):
                continue
            price = self.city.products[prod].price
            minimum = 1 if price >= 500 else (2 if price >= 90 else 3)   # cheap drugs come by the box
            order = max(minimum, missing + int(math.ceil(self.rate[site, prod] * self.rng.uniform(4, 10))))
            self._deliver(day, site, prod, order)

    def _deliver(self, day: int, site: int, prod: int, n: int) -> None:
        s = self.city.sites[site]
        supplier = s.supplier if self.rng.random() < 0.8 else self.rng.randrange(len(SUPPLIERS))
        t = self.early_time(day)
        price = round(self.city.products[prod].price * 0.7, 2)
        key = (day, site, supplier)   # one delivery note per supplier and site a day
        invoice = self._invoices.get(key)
        if invoice is None:
            if self._invoices and next(iter(self._invoices))[0] != day:
                self._invoices.clear()
            invoice = self._invoices[key] = "INV" + self.digits(8)
        packs: list[Pack] = []
        pool = self.supplier_pool.get((supplier, prod))
        if pool and self.rng.random() < 0.6:
            while pool and len(packs) < n:
                packs.append(pool.popleft())
        fresh = n - len(packs)
        if fresh > 0:
            short_day = self.short_plan.get(site)
            short = (short_day is not None and day >= short_day and prod in self.short_products
                     and 0.3 <= self.rate[site, prod] <= 3.0)
            batch = self.new_batch(day, short)
            if short:  # a clearance lot: more than the shelf sells before it expires
                fresh = max(fresh, int(math.ceil(self.rate[site, prod] * (batch.expiry - day + 8))) + 2)
                n = len(packs) + fresh
                del self.short_plan[site]
                self.short_lots.append((site, prod, batch))
            packs.extend(self.new_packs(prod, fresh, batch))
        stock = self.stock[site][prod]
        by_batch: dict[int, list[Pack]] = {}
        for pack in packs:
            by_batch.setdefault(id(pack.batch), []).append(pack)
        for group in by_batch.values():
            self.emit(Line("inbound", t, site, prod, group, group[0].batch, len(group), price,
                           counterparty=SUPPLIERS[supplier], invoice=invoice))
            t += self.rng.randint(1, 40)
        stock.extend(packs)

    def _transfer(self, day: int, site: int, prod: int, n: int) -> bool:
        sisters = [x for x in self._chain_sites[self.city.sites[site].chain] if x != site]
        self.rng.shuffle(sisters)
        for other in sisters:
            src = self.stock[other][prod]
            spare = len(src) - 2 * int(math.ceil(self.rate[other, prod])) - 1
            if spare < n:
                continue
            moved: list[Pack] = []
            keep: list[Pack] = []
            while src and len(moved) < n:
                pack = src.pop()
                (moved if pack.taint < 0 and not pack.batch.short else keep).append(pack)
            src.extend(reversed(keep))
            if len(moved) < n:
                src.extend(reversed(moved))
                continue
            t_out = self.early_time(day, 6.0, 6.6)
            t_in = self.early_time(day, 6.75, 7.49)
            price = self.city.products[prod].price
            by_batch: dict[int, list[Pack]] = {}
            for pack in moved:
                by_batch.setdefault(id(pack.batch), []).append(pack)
            record = "B" + self.digits(10)
            for group in by_batch.values():
                out = Line("transfer_out", t_out, other, prod, group, group[0].batch, len(group), price,
                           counterparty=self.city.sites[site].site_id, peer=site)
                out.inv_chg_type = "102"
                out.invoice = record
                self.emit(out)
                inn = Line("transfer_in", t_in, site, prod, group, group[0].batch, len(group), price,
                           counterparty=self.city.sites[other].site_id, peer=other)
                inn.inv_chg_type = "101"
                inn.invoice = record
                self.emit(inn)
            for pack in moved:
                self.add_trap("chain_transfer_sale", pack)
            self.stock[site][prod].extend(moved)
            return True
        return False

    def purchase_returns(self, day: int) -> None:
        """Short-dated lots go back to the supplier two days before expiry (sometimes);
        mid-month some sites return overstock, which the supplier sells on to another site."""
        for site, prod, batch in [x for x in self.short_lots if x[2].expiry - day == 2]:
            stock = self.stock[site][prod]
            packs = [p for p in stock if p.batch is batch and p.taint < 0]
            if packs and self.rng.random() < 0.25:
                self._return(day, site, prod, packs, keep=False)
        for site, prod, batch in [x for x in self.short_lots if day - x[2].expiry == 8]:
            self._destroy(day, site, prod, batch)
        if (self.start + timedelta(days=day)).day != 15:
            return
        for site, s in enumerate(self.city.sites):
            if self.rng.random() >= 0.5:
                continue
            prod = max(range(len(self.city.products)), key=lambda i: (len(self.stock[site][i]), -i))
            stock = self.stock[site][prod]
            if len(stock) > 6:
                k = self.rng.randint(2, max(2, len(stock) // 3))
                picked = [p for p in list(stock)[-k:] if p.taint < 0 and not p.batch.short]
                if picked:
                    self._return(day, site, prod, picked, keep=True)

    def _destroy(self, day: int, site: int, prod: int, batch: Batch) -> None:
        """Expired packs found on the shelf are written off (3502 报损, an adjust event)."""
        stock = self.stock[site][prod]
        packs = [p for p in stock if p.batch is batch and p.taint < 0]
        if not packs:
            return
        keep = [p for p in stock if not (p.batch is batch and p.taint < 0)]
        stock.clear()
        stock.extend(keep)
        line = Line("adjust", self.early_time(day, 6.0, 7.2), site, prod, packs, batch, len(packs),
                    self.city.products[prod].price)
        line.inv_chg_type = "104"
        self.emit(line)
        for pack in packs:
            self.finish(pack)

    def _return(self, day: int, site: int, prod: int, packs: list[Pack], keep: bool) -> None:
        stock = self.stock[site][prod]
        gone = set(map(id, packs))
        remaining = [p for p in stock if id(p) not in gone]
        stock.clear()
        stock.extend(remaining)
        s = self.city.sites[site]
        t = self.early_time(day, 6.0, 7.2)
        price = round(self.city.products[prod].price * 0.7, 2)
        by_batch: dict[int, list[Pack]] = {}
        for pack in packs:
            by_batch.setdefault(id(pack.batch), []).append(pack)
        for group in by_batch.values():
            self.emit(Line("purchase_return", t, site, prod, group, group[0].batch, len(group), price,
                           counterparty=SUPPLIERS[s.supplier]))
            t += self.rng.randint(1, 30)
        for pack in packs:
            if s.reports_inbound:
                self.add_trap("purchase_return", pack)
            if keep:
                self.supplier_pool.setdefault((s.supplier, prod), deque()).append(pack)
            else:
                self.finish(pack)

    def stocktake(self, day: int) -> None:
        for site, s in enumerate(self.city.sites):
            if not (s.stocktake and s.reports_inbound):
                continue
            t = day * DAY + self.rng.randrange(22 * 3600 + 300, 23 * 3600 + 55 * 60 - 1200)
            price = 0.0
            for prod, shelf in enumerate(self.stock[site]):
                stock = list(shelf) + list(self.backroom.get((site, prod), ())) + self.offbook.get((site, prod), [])
                if not stock:
                    continue
                price = self.city.products[prod].price
                by_batch: dict[int, list[Pack]] = {}
                for pack in stock:
                    by_batch.setdefault(id(pack.batch), []).append(pack)
                for group in by_batch.values():
                    self.emit(Line("inventory", t, site, prod, group, group[0].batch, len(group), price))
                    t += self.rng.randint(2, 20)
                    for pack in group:
                        if pack.taint < 0 and self.rng.random() < 0.02:
                            self.add_trap("inventory_before_dispense", pack)

    # ------------------------------------------------------------------ selling
    def _take(self, site: int, prod: int, n: int, fresh_only: bool = False) -> list[Pack]:
        stock = self.stock[site][prod]
        out = []
        if fresh_only:  # a ring's source visit is served from packs never sold before
            skipped = []
            while stock and len(out) < n:
                pack = stock.popleft()
                (skipped if pack.dsites or pack.taint >= 0 else out).append(pack)
            stock.extendleft(reversed(skipped))
            return out
        while stock and len(out) < n:
            out.append(stock.popleft())
        return out

    def _dispensed(self, pack: Pack, site: int, t: int) -> None:
        if site not in pack.dsites:
            pack.dsites = pack.dsites + (site,)
            self.site_disp[site] += 1
            for entry in pack.hist:
                if entry[2] == site and entry[1] in ("inbound", "transfer_in") and entry[0] < t:
                    self.site_disp_prov[site] += 1
                    break
        if pack.batch.expiry == t // DAY:
            self.add_trap("expiry_day_dispense", pack)

    def serve(self, v: Visit) -> list[tuple[Line, list[Pack]]]:
        """Serve one visit: take packs, write the dispense lines, maybe a double scan or a refund."""
        c = self.city
        site = c.sites[v.site]
        setl = self.new_setl() if v.settled else None
        rxno = "RX" + self.digits(10)
        pharmacist = site.pharmacists[self.between(0, len(site.pharmacists))]
        ratio = self.fund_ratio(v.patient, v.site) if v.settled else 0.0
        t = v.t
        served: list[tuple[Line, list[Pack]]] = []
        for reported, stock_prod, n, split_units in v.items:
            product = c.products[reported]
            if split_units:
                pack = self.opened[v.site][stock_prod]
                if pack is None or pack.units_left < split_units:
                    if pack is not None:
                        self._close_opened(pack)
                    got = self._take(v.site, stock_prod, 1)
                    if not got:
                        continue
                    pack = got[0]
                    pack.units_left = c.products[stock_prod].pack_units
                    self.opened[v.site][stock_prod] = pack
                pack.units_left -= split_units
                price = round(product.price / product.pack_units, 4)
                line = Line("dispense", t, v.site, reported, [pack], pack.batch, split_units, price, split=True,
                            patient=v.patient, prescriber=v.prescriber, pharmacist=pharmacist, setl=setl,
                            rxno=rxno)
                line.fund = round(line.total * ratio, 2) if setl else 0.0
                self.emit(line)
                self._dispensed(pack, v.site, t)
                served.append((line, [pack]))
                if pack.units_left == 0:
                    self._close_opened(pack)
                    self.opened[v.site][stock_prod] = None
                t += self.between(1, 5)
                continue
            if v.tag == "ring_push":
                room = self.backroom.get((v.site, stock_prod, v.patient)) or self.backroom.get((v.site, stock_prod))
                packs = [room.popleft() for _ in range(min(n, len(room)))] if room else []
            else:
                packs = self._take(v.site, stock_prod, n, fresh_only=v.tag == "ring_source")
            if not packs:
                continue
            by_batch: dict[int, list[Pack]] = {}
            for pack in packs:
                by_batch.setdefault(id(pack.batch), []).append(pack)
            for group in by_batch.values():
                line = Line("dispense", t, v.site, reported, group, group[0].batch, len(group), product.price,
                            patient=v.patient, prescriber=v.prescriber, pharmacist=pharmacist, setl=setl,
                            rxno=rxno)
                line.fund = round(line.total * ratio, 2) if setl else 0.0
                self.emit(line)
                for pack in group:
                    self._dispensed(pack, v.site, t)
                served.append((line, group))
                t += self.between(1, 5)
        if v.tag == "legit":
            self._after_legit_sale(v, served)
        return served

    def _close_opened(self, pack: Pack) -> None:
        sales = sum(1 for e in pack.hist if e[1] == "dispense")
        if sales >= 2:
            self.add_trap("split_within_pack", pack)
        self.finish(pack)

    def _after_legit_sale(self, v: Visit, served: list[tuple[Line, list[Pack]]]) -> None:
        for _line, packs in served:
            self.site_legit_packs[v.site] += len(packs)
            for pack in packs:
                if id(pack) in self._refunded:
                    self._refunded.discard(id(pack))
                    self.add_trap("refund_resale", pack)
        # refunds and double scans only on ordinary packs (an expired pack refunded would be ambiguous)
        whole = [(line, packs) for line, packs in served
                 if not line.split and all(p.taint < 0 and len(p.dsites) == 1 and not p.batch.short for p in packs)]
        for line, packs in served:
            s = self.city.sites[v.site]
            if not s.reports_inbound:
                for pack in packs:
                    if len(self.trap_codes["no_inbound_reporting_site"]) < self.trap_cap and self.rng.random() < 0.05:
                        self.add_trap("no_inbound_reporting_site", pack)
        refund_line = None
        if whole and v.settled and self.rng.random() < 0.006:
            refund_line = whole[self.rng.randrange(len(whole))]
            day = v.t // DAY + self.rng.randint(1, 5)
            self.refunds.setdefault(day, []).append(refund_line)
        elif whole and v.settled and self.rng.random() < 0.005:
            line, packs = whole[self.rng.randrange(len(whole))]
            pack = packs[self.rng.randrange(len(packs))]
            dup = Line("dispense", line.t + self.rng.randint(20, 360), line.site, line.prod, [pack], pack.batch, 1,
                       line.price, patient=line.patient, prescriber=line.prescriber, pharmacist=line.pharmacist,
                       setl=line.setl, rxno=line.rxno)
            dup.fund = round(line.fund / len(packs), 2)
            self.emit(dup)
            self.add_trap("double_scan", pack)
        for line, packs in served:
            if line.split or (refund_line is not None and line is refund_line[0]):
                continue
            for pack in packs:
                self.finish(pack)

    def process_refunds(self, day: int) -> None:
        for line, packs in self.refunds.pop(day, ()):
            t = self.sale_time(day, self.city.sites[line.site].kind)
            ref = Line("refund", t, line.site, line.prod, packs, line.batch, len(packs), line.price,
                       patient=line.patient, setl=line.setl, fund=line.fund)
            self.emit(ref)
            stock = self.stock[line.site][line.prod]
            for pack in reversed(packs):
                stock.appendleft(pack)
                self._refunded.add(id(pack))

    # ------------------------------------------------------------------ the day loop
    def run(self) -> None:
        self._refunded: set[int] = set()
        for day in range(self.days):
            visits = self.legit_visits(day)
            if self.rings is not None:
                self.rings.morning(day)          # injections (maybe with a recycler inbound)
                visits.extend(self.rings.visits(day))
            demand: dict[tuple[int, int], int] = {}
            for v in visits:
                if v.tag == "ring_push":
                    continue
                for _rep, stock_prod, n, split in v.items:
                    need = n if not split else (0 if (self.opened[v.site][stock_prod] is not None) else 1)
                    key = (v.site, stock_prod)
                    demand[key] = demand.get(key, 0) + max(need, 1 if split else 0)
            self.purchase_returns(day)
            self.restock(day, demand)
            visits.sort(key=lambda x: x.t)
            for v in visits:
                served = self.serve(v)
                if v.tag != "legit" and self.rings is not None:
                    self.rings.served(v, served, day)
            self.process_refunds(day)
            if (self.start + timedelta(days=day + 1)).day == 1:
                self.stocktake(day)
            self.flush(day)
        self._finish_all()

    def flush(self, day: int) -> None:
        lines = self.day_lines
        lines.sort(key=lambda ln: (ln.t, ln.seq))
        self.sink(day, lines)
        self.day_lines = []

    def _finish_all(self) -> None:
        for site_stock in self.stock:
            for stock in site_stock:
                for pack in stock:
                    self.finish(pack)
        for room in self.backroom.values():
            for pack in room:
                self.finish(pack)
        for room in self.offbook.values():
            for pack in room:
                self.finish(pack)
        for row in self.opened:
            for pack in row:
                if pack is not None:
                    self._close_opened(pack)
        for lst in self.refunds.values():
            for _line, packs in lst:
                for pack in packs:
                    self.finish(pack)
        for pool in self.supplier_pool.values():
            for pack in pool:
                self.finish(pack)
        if self.rings is not None:
            self.rings.finish_all()
