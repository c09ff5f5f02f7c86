"""Rings must not be separable by an artifact of the generator: resold ring packs look like
the laundering site's ordinary sales (time of day, weekday, quantities, prices, ids, shapes)."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic."""
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.abs(fa - fb).max())


@pytest.fixture(scope="module")
def split(make_city):
    """Dispense lines at laundering sites: those reselling ring packs vs the ordinary ones."""
    city = make_city("parquet", seed=21, patients=3000, days=90)
    ev = city.events()
    rings = city.truth["rings"]
    ring_codes = {c for r in rings for c in r["trace_codes"] if r["style"] != "code_swap"}
    laundering = {s for r in rings for s in r["members"]["laundering_sites"]}
    sales = ev[(ev.event_type == "dispense") & ev.site_id.isin(laundering)].copy()
    sales["line"] = sales.event_id.str.rsplit(":", n=2).str[0]
    first_sale = ev[ev.event_type == "dispense"].groupby("trace_code").event_time.min()
    sales["resold"] = sales.trace_code.isin(ring_codes) & (sales.event_time > sales.trace_code.map(first_sale))
    lines = sales.groupby("line").agg(resold=("resold", "max"), n=("trace_code", "size"), t=("event_time", "first"),
                                      split=("split_sale", "first"), site=("site_id", "first"),
                                      product=("product_code", "first"), settled=("settlement_id", "first"),
                                      total=("total_amount", "sum"), pharmacist=("pharmacist_id", "first"))
    ring, legit = lines[lines.resold], lines[~lines.resold]
    assert len(ring) >= 100 and len(legit) >= 1000
    return city, ring, legit


def test_time_of_day_matches(split):
    _city, ring, legit = split
    sec = lambda x: (x.t.dt.hour * 3600 + x.t.dt.minute * 60 + x.t.dt.second).to_numpy()  # noqa: E731
    assert _ks(sec(ring), sec(legit)) < 0.12


def test_weekday_matches(split):
    _city, ring, legit = split
    share_r = ring.t.dt.day_of_week.value_counts(normalize=True).sort_index()
    share_l = legit.t.dt.day_of_week.value_counts(normalize=True).sort_index()
    assert (share_r - share_l).abs().max() < 0.08


def test_quantities_prices_and_ids_look_ordinary(split):
    city, ring, legit = split
    whole_ring, whole_legit = ring[~ring.split], legit[~legit.split]
    assert set(whole_ring.n) <= set(whole_legit.n)
    assert (whole_legit.n <= 2).mean() > 0.5          # most ordinary lines are one or two packs too
    price = dict(zip(city.products.product_code, city.products.price))
    for frame in (whole_ring, whole_legit):
        assert np.allclose(frame.total, frame.n * frame["product"].map(price))
    pattern = re.compile(r"S\d{12}")
    assert ring.settled.dropna().map(lambda s: bool(pattern.fullmatch(s))).all()
    staff = legit.groupby("site").pharmacist.agg(set)
    assert all(p in staff[s] for s, p in zip(ring.site, ring.pharmacist))


def test_settlement_ids_interleave_with_ordinary_ones(split):
    _city, ring, legit = split
    r = ring.settled.dropna().str[1:].astype(int)
    lg = legit.settled.dropna().str[1:].astype(int)
    assert lg.min() < r.median() < lg.max()
    # ids follow time, whoever is served
    both = pd.concat([ring[["t", "settled"]], legit[["t", "settled"]]]).dropna().sort_values("t")
    ids = both.settled.str[1:].astype(int).to_numpy()
    assert (np.diff(ids) >= 0).mean() > 0.99


def test_nhsa_message_shape_is_the_sites_own(make_city):
    city = make_city("nhsa", nhsa_style="single")   # the single-row body shapes (object, list, top)
    ring_codes = {c for r in city.truth["rings"] for c in r["trace_codes"]}
    shapes = defaultdict(set)
    for path in sorted(city.inputs.glob("nhsa-*.jsonl")):
        for text in path.read_text(encoding="utf-8").splitlines():
            m = json.loads(text)
            shape = "top" if "input" not in m else ("list" if isinstance(next(iter(m["input"].values())), list) else "object")
            shapes[m["fixmedins_code"]].add(shape)
    assert all(len(s) == 1 for s in shapes.values())   # one software, one shape, ring or not
    assert ring_codes
