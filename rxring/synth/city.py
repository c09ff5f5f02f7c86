"""The actors of a synthetic city: products, sites, prescribers, patients.

Identifiers follow the NHSA shapes of ``/work/shared/examples``: site codes
``P``/``H`` + 12 digits (leading digits the province, 11 = Beijing), ``psn_no`` of
18 digits, prescriber certificate numbers ``D`` + 17 digits, pharmacist
``PH`` + 8 digits, insurance drug codes ``X`` + ATC letter + 4 digits + ``A`` +
12 digits.  Nothing here depends on whether an actor later joins a ring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .catalog import (
    CHAINS,
    DISTRICTS,
    DRUGS,
    HOSPITAL_NAMES,
    OTHER_CITY_DISTRICTS,
    STORE_WORDS,
    SUPPLIERS,
    Drug,
)
from .codes import CodeFactory

__all__ = ["Product", "Site", "City", "build_city"]

BODY_SHAPES = ("object", "list", "top")


@dataclass
class Product:
    """One coded drug product (a row of products.csv)."""

    idx: int
    code: str          # med_list_codg
    drug: Drug
    codes: CodeFactory

    @property
    def name(self) -> str:
        return self.drug.name

    @property
    def pack_units(self) -> int:
        return self.drug.pack_units

    @property
    def price(self) -> float:
        return self.drug.price

    @property
    def hilist_id(self) -> str:
        return self.code[-12:]


@dataclass
class Site:
    """A pharmacy, hospital or clinic (a row of sites.csv) and its habits."""

    idx: int
    site_id: str
    name: str
    kind: str              # pharmacy | hospital | clinic
    chain: str             # "" for single stores and hospitals
    region: str
    district: int          # index into City.regions
    size: float            # relative sales volume
    reports_inbound: bool  # uploads 3503/3504/3502/3501 at all
    stocktake: bool        # monthly 盘存 scans
    shape: str             # NHSA body shape used by its software: object | list | top
    upload_lag_h: float    # typical hours between the event and its upload
    supplier: int          # index into SUPPLIERS
    pharmacists: list[str] = field(default_factory=list)
    doctors: list[int] = field(default_factory=list)   # prescriber indices (hospitals, clinics)

    @property
    def is_pharmacy(self) -> bool:
        return self.kind == "pharmacy"


@dataclass
class City:
    """Everything that exists before the first day is simulated."""

    products: list[Product]
    sites: list[Site]
    regions: list[str]              # district names, other-city ones last
    other_city: set[int]            # district indices outside the home city
    prescriber_ids: list[str]
    prescriber_names: list[str]
    prescriber_site: np.ndarray     # hospital index of each prescriber
    psn_no: list[str]
    patient_district: np.ndarray
    patient_employee: np.ndarray    # True: 职工医保, False: 居民医保
    patient_pharmacy: np.ndarray    # preferred pharmacy (site index)
    patient_hospital: np.ndarray    # preferred hospital/clinic (site index)
    patient_doctor: np.ndarray      # usual prescriber index
    patient_hospital_share: np.ndarray
    patient_chronic: list[tuple[int, ...]]   # chronic product indices per patient
    pharmacies_by_district: dict[int, list[int]]
    hospitals_by_district: dict[int, list[int]]

    @property
    def n_patients(self) -> int:
        return len(self.psn_no)


def _unique_digits(rng: np.random.Generator, n: int, digits: int, prefix: str, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        draw = rng.integers(0, 10**min(digits, 18), size=(n - len(out)) * 2)
        for value in draw:
            text = prefix + str(int(value)).zfill(digits)[:digits]
            if text not in taken:
                taken.add(text)
                out.append(text)
                if len(out) == n:
                    break
    return out


def _long_digits(rng: np.random.Generator, n: int, digits: int, prefix: str, taken: set[str]) -> list[str]:
    """Like :func:`_unique_digits` for more than 18 digits (two draws glued)."""
    out: list[str] = []
    while len(out) < n:
        hi = rng.integers(0, 10**9, size=n)
        lo = rng.integers(0, 10**(digits - 9), size=n)
        for a, b in zip(hi, lo):
            text = prefix + str(int(a)).zfill(9) + str(int(b)).zfill(digits - 9)
            if text not in taken:
                taken.add(text)
                out.append(text)
                if len(out) == n:
                    break
    return out


def _psn_numbers(rng: np.random.Generator, p_district: np.ndarray, regions: list[str], other_city: set[int]) -> list[str]:
    """18-digit psn_no: 2-digit province then 16 digits, unique."""
    n = len(p_district)
    province = np.full(n, 11, dtype=np.int64)
    for d in other_city:
        province[p_district == d] = 12 if regions[d].startswith("天津") else 13
    body = rng.integers(0, 10**16, size=n, dtype=np.int64)
    numbers = province * 10**16 + body
    while True:  # redraw the rare duplicates
        _, first = np.unique(numbers, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        if not len(dup):
            break
        numbers[dup] = province[dup] * 10**16 + rng.integers(0, 10**16, size=len(dup), dtype=np.int64)
    return [str(x) for x in numbers.tolist()]


def _pick_by_size(rng: np.random.Generator, p_district: np.ndarray, by_district: dict[int, list[int]],
                  everywhere: list[int], sites: list, stay: float) -> np.ndarray:
    """For each patient a site of their district (probability ``stay``) or of the whole city, by size."""
    n = len(p_district)
    out = np.empty(n, dtype=np.int64)
    all_w = np.asarray([sites[i].size for i in everywhere])
    roam = rng.random(n) >= stay
    for d in np.unique(p_district).tolist():
        idx = np.flatnonzero((p_district == d) & ~roam if d in by_district else (p_district == d))
        lst = by_district.get(d, everywhere)
        w = np.asarray([sites[i].size for i in lst])
        out[idx] = np.asarray(lst)[rng.choice(len(lst), size=len(idx), p=w / w.sum())]
    idx = np.flatnonzero(roam & np.isin(p_district, list(by_district)))
    out[idx] = np.asarray(everywhere)[rng.choice(len(everywhere), size=len(idx), p=all_w / all_w.sum())]
    return out


def _products(rng: np.random.Generator, n: int, gs1: bool) -> list[Product]:
    prefixes = _unique_digits(rng, n, 6, "8", set())
    companies = _unique_digits(rng, n, 5, "69", set())
    taken: set[str] = set()
    products = []
    for i, drug in enumerate(DRUGS[:n]):
        while True:
            code = f"X{drug.atc}{int(rng.integers(1000, 10000))}A{int(rng.integers(0, 10**13)):013d}"
            if code not in taken:
                taken.add(code)
                break
        item_ref = str(int(rng.integers(0, 100000))).zfill(5)
        factory = CodeFactory(
            prefix7=prefixes[i],
            gs1_company=companies[i],
            gs1_item_ref=item_ref,
            gs1=gs1,
            key=int(rng.integers(1, 2**30)),
            run=int(rng.integers(0, 10000)),
        )
        products.append(Product(i, code, drug, factory))
    return products


def build_city(rng: np.random.Generator, n_sites: int, n_patients: int, n_prescribers: int,
               n_products: int, gs1: bool = False) -> City:
    """Draw the actors of one city.

    Parameters
    ----------
    rng : numpy.random.Generator
        The city's random stream (seeded by the caller).
    n_sites, n_patients, n_prescribers, n_products : int
        Sizes; ``n_products`` is capped by the catalogue.
    gs1 : bool
        Issue GS1 (GTIN + serial) codes instead of Chinese 20-digit codes.

    Returns
    -------
    City
    """
    products = _products(rng, min(n_products, len(DRUGS)), gs1)

    # Districts: the home city and (for cities of 10+ sites) a neighbouring one.
    regions = [d for d, _ in DISTRICTS]
    weights = [w for _, w in DISTRICTS]
    other_city: set[int] = set()
    if n_sites >= 10:
        for d, w in OTHER_CITY_DISTRICTS:
            other_city.add(len(regions))
            regions.append(d)
            weights.append(w)
    weights_arr = np.asarray(weights) / sum(weights)

    # Sites: every district gets at least one pharmacy when there are enough sites.
    n_hosp = max(1, round(n_sites * 0.14))
    n_clinic = max(0, round(n_sites * 0.08)) if n_sites >= 8 else 0
    n_pharm = max(1, n_sites - n_hosp - n_clinic)
    kinds = ["hospital"] * n_hosp + ["clinic"] * n_clinic + ["pharmacy"] * n_pharm
    district_of = rng.choice(len(regions), size=len(kinds), p=weights_arr)
    # spread the first sites of each kind over the biggest districts
    order = np.argsort(-weights_arr, kind="stable")
    for k, kind in enumerate(kinds):
        rank = k if kind == "hospital" else (k - n_hosp if kind == "clinic" else k - n_hosp - n_clinic)
        if rank < len(order) and (kind != "clinic"):
            district_of[k] = order[rank % len(order)]
    # a neighbouring city's pharmacy (cross-city purchases and rings) in every city of 10+ sites
    pharm_idx = [k for k, kind in enumerate(kinds) if kind == "pharmacy"]
    if other_city and len(pharm_idx) >= 4 and not any(int(district_of[k]) in other_city for k in pharm_idx):
        district_of[pharm_idx[-1]] = min(other_city)
    # small cities have fewer chains, so that every chain has several stores
    n_chains = max(1, min(len(CHAINS), n_pharm // 4))
    chain_names = [c for c, _ in CHAINS[:n_chains]]
    chain_w = np.asarray([w for _, w in CHAINS[:n_chains]]) / sum(w for _, w in CHAINS[:n_chains])
    taken_ids: set[str] = set()
    used_names: set[str] = set()
    sites: list[Site] = []
    for k, kind in enumerate(kinds):
        d = int(district_of[k])
        region = regions[d]
        province = "11" if d not in other_city else ("12" if region.startswith("天津") else "13")
        letter = "P" if kind == "pharmacy" else "H"
        site_id = _unique_digits(rng, 1, 10, letter + province, taken_ids)[0]
        word = STORE_WORDS[int(rng.integers(len(STORE_WORDS)))]
        short = region.replace("市", "").replace("区", "")[-2:] if d in other_city else region[:-1]
        chain = ""
        first_two = kind == "pharmacy" and k - n_hosp - n_clinic < 2   # guarantee one chain of 2+ stores
        if kind == "pharmacy" and (rng.random() < 0.55 or first_two) and d not in other_city:
            chain = chain_names[0] if first_two else chain_names[int(rng.choice(len(chain_names), p=chain_w))]
            base = f"{chain}{short}{word}店"
        elif kind == "pharmacy":
            base = f"{region}{word}药店"
        elif kind == "hospital":
            tpl = HOSPITAL_NAMES[int(rng.integers(len(HOSPITAL_NAMES)))]
            base = tpl.format(d=region, n="一二三四五六七八九"[int(rng.integers(9))], w=word)
        else:
            base = f"{region}{word}社区卫生服务中心"
        name, n = base, 1
        while name in used_names:
            n += 1
            name = f"{base}{n}" if kind != "pharmacy" or chain else f"{base}{n}"
        used_names.add(name)
        size = float(rng.lognormal(0.0, 0.5))
        if kind == "hospital":
            size *= 4.0
        elif kind == "clinic":
            size *= 0.8
        reports = True
        if not chain and kind == "pharmacy":
            reports = rng.random() < 0.85
        elif kind == "clinic":
            reports = rng.random() < 0.5
        sites.append(Site(
            idx=k, site_id=site_id, name=name, kind=kind, chain=chain, region=region, district=d,
            size=size, reports_inbound=bool(reports),
            stocktake=bool(chain != "" or kind == "hospital" or rng.random() < 0.3),
            shape=BODY_SHAPES[int(rng.choice(3, p=[0.5, 0.3, 0.2]))],
            upload_lag_h=float(rng.choice([0.2, 2.0, 14.0, 40.0], p=[0.3, 0.3, 0.3, 0.1])),
            supplier=int(rng.integers(len(SUPPLIERS))),
        ))
    # At least one site that reports no inbound at all (NO_PROVENANCE is not judged there).
    if n_sites >= 6 and all(s.reports_inbound for s in sites):
        single = [s for s in sites if s.kind == "pharmacy" and not s.chain] or [s for s in sites if s.kind == "clinic"]
        if single:
            single[-1].reports_inbound = False
    for s in sites:
        s.pharmacists = _unique_digits(rng, 1 + int(rng.integers(0, 3 if s.is_pharmacy else 5)), 8, "PH", taken_ids)

    hospitals = [s.idx for s in sites if s.kind != "pharmacy"]
    pharmacies = [s.idx for s in sites if s.kind == "pharmacy"]
    pharm_by_d: dict[int, list[int]] = {}
    hosp_by_d: dict[int, list[int]] = {}
    for s in sites:
        (pharm_by_d if s.is_pharmacy else hosp_by_d).setdefault(s.district, []).append(s.idx)

    # Prescribers work at hospitals and clinics, in proportion to size.
    h_w = np.asarray([sites[h].size for h in hospitals])
    presc_site = np.asarray(hospitals)[rng.choice(len(hospitals), size=n_prescribers, p=h_w / h_w.sum())]
    for i, h in enumerate(hospitals[: min(len(hospitals), n_prescribers)]):
        presc_site[i] = h  # every hospital has at least one doctor
    presc_ids = _long_digits(rng, n_prescribers, 17, "D", taken_ids)
    presc_names = [f"医师{pid[-3:]}" for pid in presc_ids]
    for i, h in enumerate(presc_site):
        sites[int(h)].doctors.append(i)

    # Patients: home district, insurance, where they usually go, their doctor and chronic drugs.
    p_district = rng.choice(len(regions), size=n_patients, p=weights_arr)
    psn = _psn_numbers(rng, p_district, regions, other_city)
    employee = rng.random(n_patients) < 0.68
    p_pharm = _pick_by_size(rng, p_district, pharm_by_d, pharmacies, sites, stay=0.93)
    p_hosp = _pick_by_size(rng, p_district, hosp_by_d, hospitals, sites, stay=0.9)
    # usual doctor: one of the preferred hospital's doctors
    doctors_of = [np.asarray(s.doctors if s.doctors else [0], dtype=np.int64) for s in sites]
    counts = np.asarray([len(d) for d in doctors_of])
    pick = (rng.random(n_patients) * counts[p_hosp]).astype(np.int64)
    p_doctor = np.fromiter((doctors_of[h][k] for h, k in zip(p_hosp.tolist(), pick.tolist())), dtype=np.int64,
                           count=n_patients)
    hosp_share = rng.beta(2.0, 3.0, size=n_patients)
    chronic_idx = [p.idx for p in products if p.drug.chronic]
    chronic_w = np.asarray([products[i].drug.weight for i in chronic_idx])
    chronic_w = chronic_w / chronic_w.sum()
    n_chronic = rng.choice([0, 1, 2, 3], size=n_patients, p=[0.38, 0.30, 0.22, 0.10])
    # k chronic drugs without replacement, weighted: the top k of log-weight + Gumbel noise
    keys = np.log(chronic_w)[None, :] + rng.gumbel(size=(n_patients, len(chronic_idx)))
    ranked = np.argsort(-keys, axis=1, kind="stable")[:, :3]
    chronic_arr = np.asarray(chronic_idx)
    p_chronic = [tuple(sorted(chronic_arr[row[:k]].tolist())) for row, k in zip(ranked, n_chronic.tolist())]
    return City(
        products=products, sites=sites, regions=regions, other_city=other_city,
        prescriber_ids=presc_ids, prescriber_names=presc_names, prescriber_site=presc_site,
        psn_no=psn, patient_district=p_district, patient_employee=employee,
        patient_pharmacy=p_pharm, patient_hospital=p_hosp, patient_doctor=p_doctor,
        patient_hospital_share=hosp_share, patient_chronic=p_chronic,
        pharmacies_by_district=pharm_by_d, hospitals_by_district=hosp_by_d,
    )
