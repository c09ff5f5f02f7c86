"""An independent synthetic city for checking rxring's detection quality.

Written only from DESIGN.md §2-§4 and the example NHSA messages, without reading
rxring's own generator or rules.  The city simulates stock, sales (whole packs, several
codes a line, 拆零), refunds, chain transfers, purchase returns, opening and quarterly
stock-takes and 13 planted resale rings (R1-R7 hand-made, X1-X6 drawn at random) at 21
sites over the second half of 2025.  It renders them the way sites really send them:
NHSA 3501-3506 messages in the three body shapes, monthly regional exports that overlap by
three days, retransmissions under a new msgid, one hospital's quarterly JSON arrays, a
pharmacy chain's two overlapping GBK CSV sales exports with Chinese headers (Excel-style
times, YYYYMMDD expiry, returns as negative rows, a 合计 totals line), an EPCIS 2.0 file for
its imported deliveries, GS1 codes as raw GS strings, bracketed strings and SGTIN URIs.
The ground truth is a small reference reading of DESIGN §3 on the simulated history (not
on the rendered files); every pack carries tags saying what happened to it, so a
disagreement can be traced to the habit that caused it.

Run ``python bench/independent/city.py --out DIR --seed 1`` to write ``DIR/inputs/`` and
``DIR/truth.json``.

Judgement calls (also written into truth.json ``notes``):

* Opening stock listed by a 3501 stock-take on a site's first reporting day counts as
  received (no NO_PROVENANCE), also for a site that joins reporting mid-window.
* A refund puts the pack back at the site; a refund counts as provenance for a resale.
* 拆零: split sales of one code at one site are one sale while the summed *net* units
  (sales minus split refunds) stay within pack_units; above it the code is DUP_DISPENSE.
  Whether the over-limit split is also RESURFACE is left open (ambiguous, not scored).
* Two scans of one code in one settlement (or, without settlement, by one patient at one
  site within 10 minutes) are one sale.
* EXPIRED compares the sale's calendar date with expy_end: a sale ON the expiry date is
  not expired.
* A code sold under another product's med_list_codg (串换) is CODE_CONFLICT, whether or
  not another event carries the right product.
* Ring members are the source patients and their prescribers, the source site and the
  laundering sites; buyers of laundered packs and the prescribers on resale lines are
  not members.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

__all__ = ["generate_city", "Product", "Site", "City", "gs1_check_digit", "canonical_gs1"]

START = datetime(2025, 7, 1)
END = datetime(2026, 1, 1)  # exclusive
DAYS = (END - START).days


# ----------------------------------------------------------------------------- model
@dataclass
class Product:
    code: str            # med_list_codg
    name: str
    pack_units: int
    price: float
    weight: float        # demand weight
    prefix: str = ""     # cn20: leading 7 digits
    gtin: str = ""       # gs1: GTIN-14

    @property
    def kind(self) -> str:
        return "gs1" if self.gtin else "cn20"

    @property
    def product_part(self) -> str:
        return self.gtin or self.prefix


@dataclass
class Pack:
    code: str            # canonical code
    product: Product
    batch: str
    expiry: date
    units_left: int
    serial: str = ""     # gs1 only

    def raw(self, habit: str) -> str:
        """The code as a site's scanner/software writes it."""
        if self.product.kind == "cn20":
            return self.code
        yymmdd = self.expiry.strftime("%y%m%d")
        if habit == "sgtin":
            gtin = self.product.gtin  # company prefix of 7 digits; indicator digit leads the item reference
            return f"urn:epc:id:sgtin:{gtin[1:8]}.{gtin[0]}{gtin[8:13]}.{self.serial}"
        if habit == "bracket":
            return f"(01){self.product.gtin}(21){self.serial}(17){yymmdd}(10){self.batch}"
        # raw DataMatrix content with a GS after the variable-length lot
        return f"01{self.product.gtin}17{yymmdd}10{self.batch}\x1d21{self.serial}"


@dataclass
class Doctor:
    certno: str
    name: str


@dataclass
class Site:
    site_id: str
    name: str
    kind: str
    chain: str
    region: str
    reports_inbound: bool
    output: str          # "monthly" | "h1" | "chain"
    shape: str           # NHSA body shape: "object" | "list" | "top"
    rate: float          # sale visits per business day
    first_day: int = 0   # day index when the site starts reporting
    gs1_habit: str = "gs"
    habits: set = field(default_factory=set)  # software quirks: str_numbers, iso_tz, retransmit
    pharmacists: list = field(default_factory=list)
    stock: dict = field(default_factory=dict)      # product code -> list[Pack]
    opened: dict = field(default_factory=dict)     # product code -> Pack (拆零 in progress)


@dataclass
class Line:
    """One line of a message: one event type at one site, one or more codes."""

    kind: str
    time: datetime
    site: Site
    product: Product
    packs: list
    qty: float = 1
    split: bool = False
    patient: str = ""
    doctor: Doctor | None = None
    dr_name_only: bool = False
    pharmacist: str = ""
    setl_id: str = ""
    supplier: str = ""
    invoice: str = ""
    price: float = 0.0   # per pack (or per unit when split)
    reported_product: Product | None = None
    group: str = ""      # lines sharing a group go into one list-body message
    inv_chg_type: str = ""
    record_no: str = ""


@dataclass
class City:
    seed: int
    rng: random.Random
    products: list
    sites: dict
    doctors: dict        # site_id -> list[Doctor]
    patients: list
    lines: list = field(default_factory=list)
    history: dict = field(default_factory=dict)    # code -> list[dict]
    tags: dict = field(default_factory=dict)       # code -> set[str]
    rings: list = field(default_factory=list)
    seq: dict = field(default_factory=dict)
    plans: dict = field(default_factory=dict)      # day -> list[callable]
    laundering: list = field(default_factory=list)
    disabled: frozenset = frozenset()                # quirks switched off (see QUIRKS)

    # ------------------------------------------------------------------ ids
    def next_id(self, kind: str, width: int = 10) -> str:
        self.seq[kind] = self.seq.get(kind, 0) + 1
        return f"{self.seq[kind] * 7919 + 1000000:0{width}d}"[-width:]

    def tag(self, pack_or_code, tag: str) -> None:
        code = pack_or_code if isinstance(pack_or_code, str) else pack_or_code.code
        self.tags.setdefault(code, set()).add(tag)

    def emit(self, line: Line) -> Line:
        self.lines.append(line)
        for pack in line.packs:
            self.history.setdefault(pack.code, []).append(
                {
                    "kind": line.kind,
                    "time": line.time,
                    "site": line.site.site_id,
                    "patient": line.patient,
                    "qty": line.qty,
                    "split": line.split,
                    "setl_id": line.setl_id,
                    "product": (line.reported_product or line.product).code,
                    "true_product": pack.product.code,
                    "expiry": pack.expiry,
                    "reports_inbound": line.site.reports_inbound,
                    "site_first_day": line.site.first_day,
                }
            )
        return line


def gs1_check_digit(body: str) -> str:
    """GS1 mod-10 check digit of the digits in ``body`` (GTIN without its check digit)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def canonical_gs1(gtin: str, serial: str) -> str:
    """Canonical form of a GS1 pack code: AI 01 + GTIN-14, AI 21 + serial."""
    return f"01{gtin}21{serial}"


# ----------------------------------------------------------------------------- setup
_PRODUCTS = [
    # code, name, pack_units, price, weight
    ("XJ6238A2042574571355", "阿托伐他汀钙片 20mg*7片", 7, 38.5, 9),
    ("XB2183A7784666819038", "氨氯地平片 5mg*28片", 28, 42.0, 10),
    ("XJ8696A7006974681812", "二甲双胍缓释片 0.5g*30片", 30, 25.8, 10),
    ("XJ9640A2217680759181", "瑞舒伐他汀钙片 10mg*28片", 28, 56.0, 6),
    ("XJ3483A1556729848709", "氯吡格雷片 75mg*7片", 7, 118.0, 5),
    ("XN8662A6933326338643", "缬沙坦胶囊 80mg*28粒", 28, 49.5, 6),
    ("XC6596A0439746995405", "恩替卡韦分散片 0.5mg*28片", 28, 198.0, 3),
    ("XJ3338A3712294844113", "甘精胰岛素注射液 3ml:300单位", 1, 176.0, 3),
    ("XL3245A6204515375577", "利伐沙班片 10mg*10片", 10, 152.0, 2),
    ("XB2634A7657695890372", "沙库巴曲缬沙坦钠片 100mg*14片", 14, 178.0, 2),
    ("XB8244A6760756012761", "奥美拉唑肠溶胶囊 20mg*14粒", 14, 22.0, 7),
    ("XA2804A4851799690550", "硝苯地平控释片 30mg*7片", 7, 31.0, 6),
    ("XJ1409A1469920545200", "阿卡波糖片 50mg*30片", 30, 46.0, 4),
    ("XJ5401A1396542962116", "达格列净片 10mg*14片", 14, 65.0, 3),
    ("XR0907A6555203074492", "替格瑞洛片 90mg*14片", 14, 98.0, 2),
    ("XL6620A8443280474243", "来那度胺胶囊 25mg*21粒", 21, 1980.0, 0.3),
]
_GS1_PRODUCTS = [
    ("XB0113A0012345678901", "阿哌沙班片 2.5mg*20片(进口)", 20, 96.0, 2, "400512345678"),
    ("XA1021A0098765432109", "西格列汀片 100mg*28片(进口)", 28, 132.0, 2, "761234560001"),
]
EXPENSIVE = ("XB0113A0012345678901", "XC6596A0439746995405", "XL3245A6204515375577", "XB2634A7657695890372",
             "XR0907A6555203074492", "XL6620A8443280474243", "XJ3338A3712294844113")
SUPPLIERS = ["国药控股北京有限公司", "华润医药商业集团", "上海医药分销", "九州通医药集团"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


def _build(seed: int, scale: float) -> City:
    rng = random.Random(seed)
    prefixes = set()
    products = []
    for code, name, units, price, weight in _PRODUCTS:
        while True:
            prefix = "8" + "".join(rng.choice("0123456789") for _ in range(6))
            if prefix not in prefixes:
                prefixes.add(prefix)
                break
        products.append(Product(code, name, units, price, weight, prefix=prefix))
    for code, name, units, price, weight, body in _GS1_PRODUCTS:
        gtin = "0" + body + gs1_check_digit("0" + body)
        products.append(Product(code, name, units, price, weight, gtin=gtin))

    def site_code(letter: str) -> str:
        return letter + "11" + "".join(rng.choice("0123456789") for _ in range(10))

    s = scale
    specs = [
        # key, name, kind, chain, region, reports_inbound, output, shape, rate
        ("H1", "市第一人民医院", "hospital", "", "东城区", True, "h1", "top", 60 * s),
        ("H2", "区中医医院", "hospital", "", "丰台区", False, "monthly", "object", 16 * s),
        ("P1", "康泰药店", "pharmacy", "", "朝阳区", True, "monthly", "list", 7 * s),
        ("P2", "益民药店", "pharmacy", "", "朝阳区", True, "monthly", "object", 7 * s),
        ("P3", "惠仁药房", "pharmacy", "", "海淀区", True, "monthly", "top", 6 * s),
        ("P4", "百草堂药店", "pharmacy", "", "西城区", True, "monthly", "list", 8 * s),
        ("P5", "安康药店", "pharmacy", "", "昌平区", False, "monthly", "object", 6 * s),
        ("P6", "德仁药店", "pharmacy", "", "丰台区", True, "monthly", "object", 6 * s),
        ("P7", "福瑞药店", "pharmacy", "", "大兴区", False, "monthly", "top", 6 * s),
        ("P8", "同心药房", "pharmacy", "", "通州区", False, "monthly", "list", 5 * s),
        ("P9", "仁济药店", "pharmacy", "", "海淀区", True, "monthly", "object", 6 * s),
        ("C1", "康济大药房(总店)", "pharmacy", "康济大药房", "朝阳区", True, "chain", "list", 8 * s),
        ("C2", "康济大药房(双井店)", "pharmacy", "康济大药房", "朝阳区", True, "chain", "list", 6 * s),
        ("C3", "康济大药房(望京店)", "pharmacy", "康济大药房", "朝阳区", True, "chain", "list", 6 * s),
        ("C4", "康济大药房(亦庄店)", "pharmacy", "康济大药房", "大兴区", True, "chain", "list", 5 * s),
    ]
    # small pharmacies that launder for the extra rings (one each), half of them report inbound
    for i, name in enumerate(["万家药房", "济生堂", "益寿药店", "长春药房", "华康药店", "永安堂"]):
        specs.append((f"P{10 + i}", name, "pharmacy", "", "昌平区", i % 2 == 0, "monthly",
                      ("object", "list", "top")[i % 3], 4 * s))
    sites = {}
    for key, name, kind, chain, region, rep, out, shape, rate in specs:
        site = Site(site_code("H" if kind == "hospital" else "P"), name, kind, chain, region,
                    rep, out, shape, rate)
        site.pharmacists = ["PH" + "".join(rng.choice("0123456789") for _ in range(8)) for _ in range(3)]
        site.gs1_habit = "bracket" if out == "chain" else "gs"
        sites[key] = site
    sites["P9"].first_day = 76  # joins traceability reporting on 2025-09-15
    sites["P3"].habits = {"str_numbers"}
    sites["P7"].habits = {"str_numbers", "iso_tz"}
    sites["H1"].habits = {"retransmit"}
    sites["P2"].habits = {"retransmit"}
    sites["P4"].habits = {"double_beep"}
    sites["P1"].habits = {"no_opening_stocktake"}  # reports 3503 but never uploaded a 3501
    sites["P8"].habits = {"pad_codes"}
    sites["H2"].habits = {"refund_no_psn", "refund_time_is_sale_time"}
    sites["P1"].gs1_habit = "sgtin"

    def doctor() -> Doctor:
        return Doctor("D" + "".join(rng.choice("0123456789") for _ in range(17)),
                      rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN))

    doctors = {"H1": [doctor() for _ in range(60)], "H2": [doctor() for _ in range(15)]}
    n_pat = max(800, int(5000 * scale))
    patients = sorted({"11" + "".join(rng.choice("0123456789") for _ in range(16)) for _ in range(n_pat)})
    return City(seed, rng, products, sites, doctors, patients)


# ----------------------------------------------------------------------------- helpers
def _in_hours(city: City, site: Site, day: date) -> datetime:
    rng = city.rng
    if site.kind == "hospital":
        if rng.random() < 0.6:
            minutes = rng.randint(8 * 60, 11 * 60 + 45)
        else:
            minutes = rng.randint(13 * 60 + 30, 17 * 60)
    else:
        minutes = rng.randint(8 * 60, 21 * 60 + 30)
    return datetime(day.year, day.month, day.day) + timedelta(minutes=minutes, seconds=rng.randint(0, 59))


def _day(i: int) -> date:
    return (START + timedelta(days=i)).date()


def _new_packs(city: City, product: Product, n: int, expiry: date, batch: str | None = None) -> list:
    rng = city.rng
    batch = batch or "L" + "".join(rng.choice("0123456789") for _ in range(6))
    packs = []
    if product.kind == "cn20":
        body = "".join(rng.choice("0123456789") for _ in range(9))
        start = rng.randint(0, 9999 - n - 1) if n < 9000 else 0
        for i in range(n):
            code = f"{product.prefix}{body}{start + i:04d}"
            if code in city.history or code in city.tags:
                body = "".join(rng.choice("0123456789") for _ in range(9))
                code = f"{product.prefix}{body}{start + i:04d}"
            city.tags.setdefault(code, set())
            packs.append(Pack(code, product, batch, expiry, product.pack_units))
    else:
        for _ in range(n):
            serial = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10))
            code = canonical_gs1(product.gtin, serial)
            city.tags.setdefault(code, {"gs1"})
            packs.append(Pack(code, product, batch, expiry, product.pack_units, serial=serial))
    return packs


def _catalog(site: Site, products: list) -> list:
    if site.kind == "hospital":
        return products
    return [p for p in products if p.code != "XL6620A8443280474243"]


def _inbound(city: City, site: Site, product: Product, n: int, when: datetime, *, report: bool = True,
             supplier: str | None = None) -> list:
    rng = city.rng
    expiry = (when + timedelta(days=rng.randint(300, 900))).date()
    packs = _new_packs(city, product, n, expiry)
    if site.reports_inbound and report and when.date() >= _day(site.first_day):
        city.emit(Line("inbound", when, site, product, packs, qty=n, supplier=supplier or rng.choice(SUPPLIERS),
                       invoice="INV" + city.next_id("inv", 8), price=round(product.price * 0.72, 2),
                       record_no="B" + city.next_id("bch")))
    site.stock.setdefault(product.code, []).extend(packs)
    return packs


# ----------------------------------------------------------------------------- legit life
def _opening_stock(city: City) -> None:
    rng = city.rng
    for key, site in city.sites.items():
        when = datetime.combine(_day(site.first_day), datetime.min.time())  # invdate: a date
        for product in _catalog(site, city.products):
            n = max(2, int(rng.gauss(site.rate * product.weight / 12, 2)))
            if product.weight < 1:
                n = 3
            if "no_opening_stocktake" in site.habits:
                n *= 4  # a well-stocked shop: old stock lasts into the second and third month
            expiry = (START + timedelta(days=rng.randint(200, 700))).date()
            packs = _new_packs(city, product, n, expiry)
            site.stock.setdefault(product.code, []).extend(packs)
            if site.reports_inbound and "no_opening_stocktake" in site.habits:
                for pack in packs:  # old stock that no record in the window shows arriving
                    city.tag(pack, "old_stock_no_stocktake")
            elif site.reports_inbound:
                for pack in packs:
                    city.tag(pack, "opening_stock")
                    if site.first_day:
                        city.tag(pack, "late_joiner_opening")
                city.emit(Line("inventory", when, site, product, packs, qty=len(packs)))


def _restock(city: City, key: str, site: Site, day_i: int) -> None:
    rng = city.rng
    day = _day(day_i)
    if day.weekday() == 6 and site.kind == "hospital":
        return
    for product in _catalog(site, city.products):
        have = len(site.stock.get(product.code, []))
        need = max(3, int(site.rate * product.weight / 20 * 7))
        if have >= need // 2:
            continue
        when = datetime.combine(day, datetime.min.time()) + timedelta(hours=7, minutes=rng.randint(0, 55))
        if site.chain and key != "C1" and len(city.sites["C1"].stock.get(product.code, [])) > need:
            # chain store: 调拨 from the central store (3502 102 at C1, 101 at the store)
            c1 = city.sites["C1"]
            moving = c1.stock[product.code][:need]
            del c1.stock[product.code][:need]
            out_t = when - timedelta(minutes=rng.randint(40, 90))  # picked at the central store at dawn
            bchno = "B" + city.next_id("bch")
            city.emit(Line("transfer_out", out_t, c1, product, moving, qty=len(moving), inv_chg_type="102",
                           price=product.price, record_no=bchno))
            city.emit(Line("transfer_in", when, site, product, moving, qty=len(moving), inv_chg_type="101",
                           price=product.price, record_no=bchno))
            for pack in moving:
                city.tag(pack, "transfer")
            site.stock.setdefault(product.code, []).extend(moving)
            continue
        n = need + rng.randint(0, need)
        if key == "C1":
            n *= 3
        packs = _inbound(city, site, product, n, when)
        # now and then part of a delivery is wrong and goes back to the supplier (3504);
        # the supplier later delivers those packs to another site
        if site.reports_inbound and rng.random() < 0.03 and n >= 4:
            back = packs[-2:]
            site.stock[product.code] = [p for p in site.stock[product.code] if p not in back]
            city.emit(Line("purchase_return", when + timedelta(days=rng.randint(1, 4)), site, product, back,
                           qty=len(back), supplier="", record_no="B" + city.next_id("bch")))
            for pack in back:
                city.tag(pack, "purchase_return")
            city.plans.setdefault(day_i + rng.randint(8, 25), []).append(("reship", back))


def _take(city: City, site: Site, product: Product, n: int, day_i: int) -> list:
    stock = site.stock.setdefault(product.code, [])
    if len(stock) < n:
        when = datetime.combine(_day(day_i), datetime.min.time()) + timedelta(hours=7, minutes=30)
        _inbound(city, site, product, n + 5, when)
    # earliest expiry first, but refunded packs (put at the front) go out first
    taken = stock[:n]
    del stock[:n]
    return taken


def _prescriber(city: City, site_key: str) -> Doctor:
    pool = city.doctors.get(site_key) or city.doctors["H1"] + city.doctors["H2"]
    return city.rng.choice(pool)


def _visit(city: City, key: str, site: Site, day_i: int) -> None:
    rng = city.rng
    day = _day(day_i)
    when = _in_hours(city, site, day)
    patient = rng.choice(city.patients)
    settled = rng.random() < (0.97 if site.kind == "hospital" else 0.8)
    setl_id = city.next_id("setl", 14) if settled else ""
    doctor = _prescriber(city, key)
    dr_name_only = site.kind == "pharmacy" and rng.random() < 0.1
    pharmacist = rng.choice(site.pharmacists)
    group = f"{site.site_id}:{day_i}:{city.next_id('grp')}"
    catalog = _catalog(site, city.products)
    weights = [p.weight for p in catalog]
    n_lines = rng.choice((1, 1, 1, 2, 2, 3))
    chosen = []
    for _ in range(n_lines):
        product = rng.choices(catalog, weights)[0]
        if product not in chosen:
            chosen.append(product)
    for j, product in enumerate(chosen):
        t = when + timedelta(seconds=20 * j)
        split_ok = product.pack_units >= 14 and (site.kind == "hospital" or key in ("P4", "P6", "C2", "H2"))
        if split_ok and rng.random() < 0.25:
            _split_sale(city, site, product, day_i, t, patient, doctor, pharmacist, setl_id, group, dr_name_only)
            continue
        k = rng.choice((1, 1, 1, 2, 2, 3, 4))
        packs = _take(city, site, product, k, day_i)
        line = city.emit(Line("dispense", t, site, product, packs, qty=k, patient=patient, doctor=doctor,
                              dr_name_only=dr_name_only, pharmacist=pharmacist, setl_id=setl_id,
                              price=product.price, group=group, record_no="B" + city.next_id("bch")))
        # a duplicate scan of one pack in the same settlement a few minutes later
        if rng.random() < 0.01:
            again = Line("dispense", t + timedelta(minutes=rng.randint(1, 4)), site, product, [packs[0]], qty=1,
                         patient=patient, doctor=doctor, dr_name_only=dr_name_only, pharmacist=pharmacist,
                         setl_id=setl_id, price=product.price, record_no="B" + city.next_id("bch"))
            city.emit(again)
            city.tag(packs[0], "dup_scan_cash" if not setl_id else "dup_scan")
        # a refund (退药) a few days later; the pack goes back on the shelf and is sold again
        if rng.random() < 0.025 and day_i + 3 < DAYS:
            city.plans.setdefault(day_i + rng.randint(0, 3), []).append(("refund", line))


def _split_sale(city, site, product, day_i, t, patient, doctor, pharmacist, setl_id, group, dr_name_only,
                units=None, tag="split") -> Line:
    rng = city.rng
    pack = site.opened.get(product.code)
    if pack is None or pack.units_left <= 0:
        pack = _take(city, site, product, 1, day_i)[0]
        site.opened[product.code] = pack
    if units is None:
        step = 7 if product.pack_units % 7 == 0 else max(1, product.pack_units // 4)
        units = min(pack.units_left, step * rng.choice((1, 1, 2)))
    pack.units_left -= units
    if pack.units_left <= 0:
        site.opened.pop(product.code, None)
    city.tag(pack, tag)
    return city.emit(Line("dispense", t, site, product, [pack], qty=units, split=True, patient=patient,
                          doctor=doctor, dr_name_only=dr_name_only, pharmacist=pharmacist, setl_id=setl_id,
                          price=round(product.price / product.pack_units, 4), group=group,
                          record_no="B" + city.next_id("bch")))


def _run_plans(city: City, day_i: int) -> None:
    rng = city.rng
    for plan in city.plans.pop(day_i, []):
        if callable(plan):
            plan(day_i)
            continue
        what, obj = plan
        if what == "refund":
            line: Line = obj
            pack = line.packs[-1]
            t = max(line.time + timedelta(hours=2), _in_hours(city, line.site, _day(day_i)))
            if "refund_time_is_sale_time" in line.site.habits:
                t = line.time  # this vendor stamps a refund with the original sale's time
                city.tag(pack, "refund_stamped_with_sale_time")
            if line.site.output == "chain" and "negative_refund_rows" not in city.disabled:
                city.tag(pack, "chain_negative_refund_row")
            city.emit(Line("refund", t, line.site, line.product, [pack], qty=1, patient=line.patient,
                           setl_id=line.setl_id, price=line.price, record_no="M" + city.next_id("sel")))
            if line.site.reports_inbound and rng.random() < 0.3:
                # the returned pack goes back to the supplier, who delivers it to another site later
                city.emit(Line("purchase_return", t + timedelta(days=rng.randint(1, 5)), line.site, line.product,
                               [pack], qty=1, record_no="B" + city.next_id("bch")))
                city.tag(pack, "refund_return_reship")
                city.plans.setdefault(day_i + rng.randint(10, 30), []).append(("reship", [pack]))
            else:
                line.site.stock.setdefault(line.product.code, []).insert(0, pack)
                city.tag(pack, "refund_resale")
        elif what == "reship":
            candidates = [k for k, s in city.sites.items() if s.reports_inbound and s.output != "h1"
                          and s.first_day <= day_i]
            key = rng.choice(candidates)
            site = city.sites[key]
            product = obj[0].product
            when = datetime.combine(_day(day_i), datetime.min.time()) + timedelta(hours=9)
            city.emit(Line("inbound", when, site, product, obj, qty=len(obj), supplier=rng.choice(SUPPLIERS),
                           invoice="INV" + city.next_id("inv", 8), price=round(product.price * 0.72, 2),
                           record_no="B" + city.next_id("bch")))
            for pack in obj:
                site.stock.setdefault(product.code, []).insert(0, pack)


def _stocktake(city: City, day_i: int) -> None:
    """Quarterly 3501 stock-take at the sites that report (after the National Day holiday)."""
    for site in city.sites.values():
        if not site.reports_inbound or site.first_day > day_i:
            continue
        when = datetime.combine(_day(day_i), datetime.min.time())  # 3501 carries only the date (invdate)
        for product in _catalog(site, city.products):
            packs = list(site.stock.get(product.code, []))
            if packs:
                city.emit(Line("inventory", when, site, product, packs, qty=len(packs)))


# ----------------------------------------------------------------------------- planted patterns
def _plant_traps_and_findings(city: City) -> None:
    rng = city.rng
    S = city.sites
    prod = {p.code: p for p in city.products}

    # 拆零 over the pack's units at P4 (a real DUP_DISPENSE), and a split refund re-split
    def over_split(day_i, product_code="XB2183A7784666819038", key="P4"):
        site, product = S[key], prod[product_code]
        pack = _take(city, site, product, 1, day_i)[0]
        site_opened = site.opened.pop(product.code, None)
        site.opened[product.code] = pack
        t = _in_hours(city, site, _day(day_i))
        for j, units in enumerate((14, 14, 7)):
            pack.units_left = product.pack_units  # the register never stops the overselling
            _split_sale(city, site, product, day_i, t + timedelta(days=j, minutes=j * 7), rng.choice(city.patients),
                        _prescriber(city, key), rng.choice(site.pharmacists), city.next_id("setl", 14), "",
                        False, units=units, tag="split_over_limit")
        site.opened.pop(product.code, None)
        if site_opened is not None:
            site.opened[product.code] = site_opened

    city.plans.setdefault(40, []).append(over_split)
    city.plans.setdefault(120, []).append(lambda d: over_split(d, "XN8662A6933326338643", "P6"))

    def split_refund_resplit(day_i, key="P6", product_code="XJ9640A2217680759181"):
        site, product = S[key], prod[product_code]
        pack = _take(city, site, product, 1, day_i)[0]
        t = _in_hours(city, site, _day(day_i))
        a = rng.choice(city.patients)
        setl = city.next_id("setl", 14)
        first = city.emit(Line("dispense", t, site, product, [pack], qty=14, split=True, patient=a,
                               doctor=_prescriber(city, key), pharmacist=site.pharmacists[0], setl_id=setl,
                               price=round(product.price / 28, 4), record_no="B" + city.next_id("bch")))
        city.emit(Line("refund", t + timedelta(hours=3), site, product, [pack], qty=14, split=True, patient=a,
                       setl_id=setl, price=first.price, record_no="M" + city.next_id("sel")))
        for j in (1, 2):
            city.emit(Line("dispense", t + timedelta(days=j), site, product, [pack], qty=14, split=True,
                           patient=rng.choice(city.patients), doctor=_prescriber(city, key),
                           pharmacist=site.pharmacists[1], setl_id=city.next_id("setl", 14),
                           price=first.price, record_no="B" + city.next_id("bch")))
        city.tag(pack, "split_refund_resplit")

    city.plans.setdefault(95, []).append(split_refund_resplit)

    def refund_then_split(day_i, key="P4", product_code="XB2183A7784666819038"):
        site, product = S[key], prod[product_code]
        pack = _take(city, site, product, 1, day_i)[0]
        t = _in_hours(city, site, _day(day_i))
        a, setl = rng.choice(city.patients), city.next_id("setl", 14)
        city.emit(Line("dispense", t, site, product, [pack], qty=1, patient=a, doctor=_prescriber(city, key),
                       pharmacist=site.pharmacists[0], setl_id=setl, price=product.price,
                       record_no="B" + city.next_id("bch")))
        city.emit(Line("refund", t + timedelta(hours=2), site, product, [pack], qty=1, patient=a, setl_id=setl,
                       price=product.price, record_no="M" + city.next_id("sel")))
        for j in (1, 2):
            city.emit(Line("dispense", t + timedelta(days=j), site, product, [pack], qty=14, split=True,
                           patient=rng.choice(city.patients), doctor=_prescriber(city, key),
                           pharmacist=site.pharmacists[1], setl_id=city.next_id("setl", 14),
                           price=round(product.price / product.pack_units, 4), record_no="B" + city.next_id("bch")))
        city.tag(pack, "refund_then_split")

    city.plans.setdefault(110, []).append(refund_then_split)
    city.plans.setdefault(140, []).append(lambda d: refund_then_split(d, "H1", "XJ9640A2217680759181"))

    # expired packs: a batch at P5 (no inbound reporting) expiring 2025-09-30, one sold ON that day;
    # a batch at H1 expiring 2025-11-15, and a GS1 pack at H1 sold after its AI 17 expiry
    def expired_batch(day_i, key, product_code, expiry, sale_days, on_day=True):
        site, product = S[key], prod[product_code]
        packs = _new_packs(city, product, len(sale_days) + (1 if on_day else 0), expiry)
        site_days = list(sale_days)
        if on_day:
            site_days.insert(0, (expiry - _day(0)).days)
        if site.reports_inbound:
            city.emit(Line("inbound", datetime.combine(_day(day_i), datetime.min.time()) + timedelta(hours=9),
                           site, product, packs, qty=len(packs), supplier=SUPPLIERS[0],
                           invoice="INV" + city.next_id("inv", 8), price=round(product.price * 0.72, 2)))
        for pack, d in zip(packs, site_days):
            def sell(di, pack=pack, site=site, product=product, key=key):
                t = _in_hours(city, site, _day(di))
                city.emit(Line("dispense", t, site, product, [pack], qty=1, patient=rng.choice(city.patients),
                               doctor=_prescriber(city, key), pharmacist=site.pharmacists[0],
                               setl_id=city.next_id("setl", 14), price=product.price,
                               record_no="B" + city.next_id("bch")))
                city.tag(pack, "expired" if t.date() > pack.expiry else "sold_on_expiry_day")
            city.plans.setdefault(d, []).append(sell)

    city.plans.setdefault(50, []).append(lambda d: expired_batch(d, "P5", "XJ6238A2042574571355", date(2025, 9, 30),
                                                                 [93, 97, 104, 110]))
    city.plans.setdefault(60, []).append(lambda d: expired_batch(d, "H1", "XA2804A4851799690550", date(2025, 11, 15),
                                                                 [141, 150]))
    city.plans.setdefault(70, []).append(lambda d: expired_batch(d, "H1", "XB0113A0012345678901", date(2025, 12, 1),
                                                                 [160], on_day=True))
    city.plans.setdefault(80, []).append(lambda d: expired_batch(d, "C3", "XB8244A6760756012761", date(2025, 11, 30),
                                                                 [160, 170], on_day=True))

    # 串换: cheap packs sold under an expensive product's med_list_codg
    def swap(day_i, key, true_code, reported_code, n):
        site, product, shown = S[key], prod[true_code], prod[reported_code]
        packs = _take(city, site, product, n, day_i)
        for pack in packs:
            t = _in_hours(city, site, _day(day_i))
            city.emit(Line("dispense", t, site, product, [pack], qty=1, patient=rng.choice(city.patients),
                           doctor=_prescriber(city, key), pharmacist=site.pharmacists[0],
                           setl_id=city.next_id("setl", 14), price=shown.price, reported_product=shown,
                           record_no="B" + city.next_id("bch")))
            city.tag(pack, "code_swap")

    city.plans.setdefault(88, []).append(lambda d: swap(d, "P6", "XJ8696A7006974681812", "XC6596A0439746995405", 3))
    city.plans.setdefault(130, []).append(lambda d: swap(d, "P7", "XB2183A7784666819038", "XN8662A6933326338643", 2))

    # a reporting pharmacy that forgot to scan one delivery (a true NO_PROVENANCE by the rule's words)
    def missed_inbound(day_i, key="P2", product_code="XB8244A6760756012761"):
        site, product = S[key], prod[product_code]
        when = datetime.combine(_day(day_i), datetime.min.time()) + timedelta(hours=9)
        packs = _inbound(city, site, product, 5, when, report=False)
        for pack in packs:
            city.tag(pack, "missed_inbound")
        site.stock[product.code] = packs + [p for p in site.stock[product.code] if p not in packs]

    city.plans.setdefault(100, []).append(missed_inbound)


# ----------------------------------------------------------------------------- rings
RING_SPECS = [
    # name, source key, doctors from, n doctors, n patients, laundering keys, mode, delay days, resale days, window
    dict(name="R1_broker_to_two_pharmacies", source="H1", dr_pool="H1", n_doctors=1, n_patients=4,
         laundering=["P1", "P2"], mode="inbound", suppliers=["个人回收", "鑫康医药有限公司"],
         delay=(5, 25), resale=(1, 20), window=(20, 150)),
    dict(name="R2_pharmacy_without_inbound", source="H2", dr_pool="H2", n_doctors=1, n_patients=5,
         laundering=["P3"], mode="no_inbound", delay=(7, 30), window=(2, 160)),
    dict(name="R3_fast_2_5_days", source="P4", dr_pool="H1", n_doctors=1, n_patients=3,
         laundering=["P5"], mode="no_inbound", delay=(2, 5), window=(30, 170)),
    dict(name="R4_slow_months", source="H2", dr_pool="H2", n_doctors=1, n_patients=3,
         laundering=["P6"], mode="inbound", suppliers=["康源医药"], delay=(60, 150), resale=(2, 25),
         window=(3, 60)),
    dict(name="R5_large_22_patients_two_hospitals", source=["H1", "H2"], dr_pool=["H1", "H2"], n_doctors=2,
         n_patients=22,
         laundering=["P7"], mode="no_inbound", delay=(5, 40), window=(10, 170)),
    dict(name="R7_hospital_resells_returned_packs", source="H2", dr_pool="H2", n_doctors=1, n_patients=3,
         laundering=["H2"], mode="same_site", delay=(3, 20), window=(20, 170)),
    dict(name="R6_cash_resale_no_second_settlement", source="H1", dr_pool="H1", n_doctors=1, n_patients=3,
         laundering=["P8"], mode="cash", delay=(4, 20), window=(30, 160)),
]


def _extra_ring_specs(rng: random.Random) -> list:
    """Six more rings of mixed kinds, each laundering through its own small pharmacy (P10-P15)."""
    specs = []
    for i in range(6):
        key = f"P{10 + i}"
        mode = ("inbound", "no_inbound", "cash")[i % 3] if i % 2 == 0 else ("no_inbound", "cash")[i % 2]
        source = rng.choice(["H1", "H2", "P4"])
        pool = source if source != "P4" else "H1"
        spec = dict(name=f"X{i + 1}_{mode}_{source}_to_{key}", source=source, dr_pool=pool,
                    n_doctors=rng.randint(1, 2), n_patients=rng.randint(3, 8), laundering=[key], mode=mode,
                    delay=(rng.randint(2, 10), rng.randint(15, 60)), resale=(1, 15), window=(5, 170),
                    suppliers=["个人回收", "诚信医药经营部"])
        specs.append(spec)
    return specs


def _plant_rings(city: City) -> None:
    rng = city.rng
    S = city.sites
    prod = {p.code: p for p in city.products}
    used_doctors = set()
    used_patients = set()
    for spec in RING_SPECS + _extra_ring_specs(rng):
        sources = spec["source"] if isinstance(spec["source"], list) else [spec["source"]]
        pools = spec["dr_pool"] if isinstance(spec["dr_pool"], list) else [spec["dr_pool"]]
        ring_doctors = []
        for i in range(spec["n_doctors"]):
            pool = [d for d in city.doctors[pools[i % len(pools)]] if d.certno not in used_doctors]
            doctor = rng.choice(pool)
            used_doctors.add(doctor.certno)
            ring_doctors.append((doctor, sources[i % len(sources)]))
        ring_patients = rng.sample([p for p in city.patients if p not in used_patients], spec["n_patients"])
        used_patients.update(ring_patients)
        ring = {"name": spec["name"], "spec": spec, "members": {"source_patients": set(), "prescribers": set(),
                                                               "source_sites": set(), "laundering_sites": set()}}
        city.rings.append(ring)
        lo, hi = spec["window"]
        for i, patient in enumerate(ring_patients):
            doctor, source_key = ring_doctors[i % len(ring_doctors)]
            source = S[source_key]
            n_visits = rng.randint(2, 4)
            for v in range(n_visits):
                day_i = rng.randint(lo, hi)
                if _day(day_i).weekday() == 6 and source.kind == "hospital":
                    day_i += 1
                # the first visit of each patient is guaranteed to feed the ring
                city.plans.setdefault(day_i, []).append(
                    lambda d, patient=patient, doctor=doctor, ring=ring, first=(v == 0), src=source_key:
                    _ring_visit(city, ring, src, d, patient, doctor, first))


def _ring_visit(city: City, ring: dict, source_key: str, day_i: int, patient: str, doctor: Doctor,
                first: bool) -> None:
    rng = city.rng
    site = city.sites[source_key]
    prod = {p.code: p for p in city.products}
    t = _in_hours(city, site, _day(day_i))
    setl_id = city.next_id("setl", 14)
    choices = [c for c in EXPENSIVE if c in {p.code for p in _catalog(site, city.products)}]
    for j, code in enumerate(rng.sample(choices, rng.randint(1, 2))):
        product = prod[code]
        k = rng.randint(1, 3) if product.price < 1000 else 1
        packs = _take(city, site, product, k, day_i)
        city.emit(Line("dispense", t + timedelta(seconds=30 * j), site, product, packs, qty=k, patient=patient,
                       doctor=doctor, pharmacist=rng.choice(site.pharmacists), setl_id=setl_id, price=product.price,
                       group=f"ring:{setl_id}", record_no="B" + city.next_id("bch")))
        for n, pack in enumerate(packs):
            if first and j == 0 and n == 0 or rng.random() < 0.8:
                city.laundering.append((ring, pack, t, patient, doctor, source_key))


def _launder(city: City) -> None:
    """Emit the resurfacing of collected packs (after the legit simulation)."""
    rng = city.rng
    S = city.sites
    inbound_batches: dict = {}
    for ring, pack, t0, patient, doctor, source_key in city.laundering:
        spec = ring["spec"]
        key = rng.choice(spec["laundering"])
        site = S[key]
        t1 = _in_hours(city, site, (t0 + timedelta(days=rng.randint(*spec["delay"]))).date())
        if t1 >= END:
            continue
        members = ring["members"]
        members["source_patients"].add(patient)
        members["prescribers"].add(doctor.certno)
        members["source_sites"].add(source_key)
        members["laundering_sites"].add(key)
        city.tag(pack, "ring:" + spec["name"])
        buyer = rng.choice(city.patients)
        if spec["mode"] == "inbound":
            t2 = t1 + timedelta(days=rng.randint(*spec["resale"]), hours=rng.randint(0, 5))
            if key == "P2" and rng.random() < 0.25:
                # sold the same morning, the 3503 scan-in is back-filled in the evening
                t2 = datetime.combine(t1.date(), datetime.min.time()) + timedelta(hours=9, minutes=rng.randint(0, 120))
                t1 = t2.replace(hour=20)
                city.tag(pack, "inbound_backfilled_after_sale")
            inbound_batches.setdefault((key, t1.date(), pack.product.code), []).append((pack, t1))
            if t2 < END and rng.random() < 0.9:
                city.emit(Line("dispense", t2, site, pack.product, [pack], qty=1, patient=buyer,
                               doctor=_prescriber(city, key), pharmacist=rng.choice(site.pharmacists),
                               setl_id=city.next_id("setl", 14), price=pack.product.price,
                               record_no="B" + city.next_id("bch")))
        else:
            cash = spec["mode"] == "cash"
            city.emit(Line("dispense", t1, site, pack.product, [pack], qty=1, patient=buyer,
                           doctor=_prescriber(city, key), pharmacist=rng.choice(site.pharmacists),
                           setl_id="" if cash else city.next_id("setl", 14), price=pack.product.price,
                           record_no="B" + city.next_id("bch")))
    for (key, day, code), items in sorted(inbound_batches.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        site = S[key]
        spec = next(r["spec"] for r in city.rings if key in r["spec"]["laundering"] and r["spec"]["mode"] == "inbound")
        supplier = rng.choice(spec["suppliers"])
        t = min(t for _, t in items)
        product = items[0][0].product
        city.emit(Line("inbound", t, site, product, [p for p, _ in items], qty=len(items), supplier=supplier,
                       invoice="" if supplier == "个人回收" else "INV" + city.next_id("inv", 8),
                       price=round(product.price * 0.35, 2), record_no="B" + city.next_id("bch")))


# ----------------------------------------------------------------------------- driver
QUIRKS = ("negative_refund_rows",)  # habits that can be switched off to measure their effect alone


def simulate(seed: int = 1, scale: float = 1.0, disable=()) -> City:
    """Simulate the city's half year; returns the City with its lines, history and rings."""
    unknown = set(disable) - set(QUIRKS)
    if unknown:
        raise ValueError(f"unknown quirks {sorted(unknown)}; known: {QUIRKS}")
    city = _build(seed, scale)
    city.disabled = frozenset(disable)
    rng = city.rng
    _opening_stock(city)
    _plant_traps_and_findings(city)
    _plant_rings(city)
    for day_i in range(DAYS):
        day = _day(day_i)
        if day_i == 99:  # 2025-10-08
            _stocktake(city, day_i)
        for key, site in city.sites.items():
            if day_i < site.first_day:
                continue
            _restock(city, key, site, day_i)
            factor = 1.0
            if site.kind == "hospital":
                factor = {5: 0.35, 6: 0.08}.get(day.weekday(), 1.0)
            elif day.weekday() >= 5:
                factor = 1.3
            n = int(rng.gauss(site.rate * factor, max(1.0, site.rate * factor * 0.2)))
            for _ in range(max(0, n)):
                _visit(city, key, site, day_i)
        _run_plans(city, day_i)
    _launder(city)
    city.lines.sort(key=lambda line: line.time)
    for hist in city.history.values():
        hist.sort(key=lambda e: e["time"])
    return city


def generate_city(out_dir: str | Path, seed: int = 1, scale: float = 1.0, disable=()) -> dict:
    """Simulate, render the inputs into ``out_dir/inputs`` and write ``out_dir/truth.json``.

    Parameters
    ----------
    out_dir : folder to write (created).
    seed : random seed of the city.
    scale : visits per day multiplier (0.3 gives roughly 50k scan events).
    disable : quirks (names in :data:`QUIRKS`) to leave out, e.g. ``("negative_refund_rows",)`` to send the
        chain's refunds as NHSA 3506 messages instead of negative rows in its CSV export.

    Returns
    -------
    dict
        The ground truth (also written to ``truth.json``).
    """
    from city_formats import render  # noqa: E402  (sibling module)
    from city_truth import ground_truth  # noqa: E402

    out = Path(out_dir)
    city = simulate(seed, scale, disable)
    stats = render(city, out / "inputs")
    truth = ground_truth(city)
    truth["render"] = stats
    truth["seed"] = seed
    truth["scale"] = scale
    truth["disabled"] = sorted(disable)
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return truth


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    truth = generate_city(args.out, args.seed, args.scale)
    print(json.dumps({"render": truth["render"], "expected": {r: len(v["expected"]) for r, v in truth["rules"].items()},
                      "rings": {r["name"]: sum(len(v) for k, v in r.items() if k != "name") for r in truth["rings"]}},
                     ensure_ascii=False, indent=1))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
