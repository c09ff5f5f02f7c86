"""The ground truth agrees with the generated events, checked on the events themselves."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest

from rxring.schema import RULES
from rxring.synth import reference_findings
from rxring.synth.fraud import STYLES
from rxring.synth.truth import site_provenance_stats


@pytest.fixture(scope="module")
def city(parquet_city):
    return parquet_city


@pytest.fixture(scope="module")
def events(city):
    return city.events()


class _ByCode:
    """Events of one trace code in time order, looked up lazily."""

    def __init__(self, events):
        self.events = events.sort_values(["trace_code", "event_time", "order"], kind="stable").reset_index(drop=True)
        codes = self.events["trace_code"].to_numpy()
        starts = {}
        for i, code in enumerate(codes):
            starts.setdefault(code, [i, i])[1] = i
        self.spans = starts

    def __getitem__(self, code):
        lo, hi = self.spans[code]
        return self.events.iloc[lo:hi + 1]

    def items(self):
        for code in self.spans:
            yield code, self[code]


@pytest.fixture(scope="module")
def by_code(events):
    return _ByCode(events)


@pytest.fixture(scope="module")
def oracle(city, events):
    return reference_findings(events, city.pack_units)


def test_shape_of_the_contract(city):
    t = city.truth
    assert set(t) == {"seed", "params", "counts", "rings", "expected_findings", "traps"}
    assert t["seed"] == 11 and t["params"]["patients"] == 1500
    assert t["counts"]["events"] == len(city.events())
    for ring in t["rings"]:
        assert ring["ring_id"].startswith("GT") and ring["style"] in STYLES
        assert set(ring["members"]) == {"source_patients", "prescribers", "source_sites", "laundering_sites", "brokers"}
        assert ring["trace_codes"] == sorted(set(ring["trace_codes"]))
    for f in t["expected_findings"]:
        assert set(f) == {"rule", "trace_code", "ring_id"} and f["rule"] in RULES
    assert [(f["rule"], f["trace_code"]) for f in t["expected_findings"]] == \
        sorted((f["rule"], f["trace_code"]) for f in t["expected_findings"])


def test_expected_findings_are_exactly_what_the_rules_find_on_all_events(city, oracle):
    """Every (rule, code) a literal reading of DESIGN §3 finds on ALL events is expected, and nothing else."""
    expected = {(f["rule"], f["trace_code"]) for f in city.truth["expected_findings"]}
    found = {(f["rule"], f["trace_code"]) for f in oracle}
    assert found == expected
    assert {r for r, _ in expected} == set(RULES)  # every rule is exercised


def test_every_style_is_planted_with_codes(city):
    styles = {r["style"] for r in city.truth["rings"]}
    assert styles == set(STYLES)
    assert all(r["trace_codes"] for r in city.truth["rings"])
    sizes = sorted(len(r["members"]["source_patients"]) for r in city.truth["rings"] if r["style"] != "code_swap")
    assert sizes[-1] >= 20   # a big ring
    assert 2 in sizes         # and a pair


def test_ring_codes_carry_their_findings(city):
    ring_of = {f["trace_code"]: f["ring_id"] for f in city.truth["expected_findings"] if f["ring_id"]}
    for ring in city.truth["rings"]:
        assert all(ring_of.get(code) == ring["ring_id"] for code in ring["trace_codes"])
    legit = {f["rule"] for f in city.truth["expected_findings"] if f["ring_id"] is None}
    assert legit <= {"EXPIRED"}  # legitimate data only ever yields expired dispenses


def _dispenses(g):
    return g[g.event_type == "dispense"]


def test_planted_patterns_are_in_the_events(city, by_code):
    """Check each style on the raw events, without the reference rules."""
    checked = defaultdict(int)
    for ring in city.truth["rings"]:
        m = ring["members"]
        for code in ring["trace_codes"]:
            g = by_code[code]
            d = _dispenses(g)
            style = ring["style"]
            if style in ("broker_no_inbound", "recycler_inbound", "cash_resale", "big_collection", "pair"):
                first = d.iloc[0]
                assert first.site_id in m["source_sites"] and first.patient_id in m["source_patients"]
                assert first.prescriber_id in m["prescribers"] and first.settlement_id
                later = g[(g.event_time > first.event_time) & g.site_id.isin(m["laundering_sites"])]
                assert len(later), (ring["ring_id"], code)
                if style == "recycler_inbound":
                    assert set(later[later.event_type == "inbound"].counterparty) <= set(m["brokers"])
                if style == "broker_no_inbound":
                    assert not (later.event_type.isin(["inbound", "transfer_in"])).any()
                if style == "cash_resale":
                    resold = later[later.event_type == "dispense"]
                    assert resold.settlement_id.isna().all()
            elif style == "same_site_relaunder":
                assert len(d) >= 2 and d.site_id.nunique() == 1
                assert d.iloc[0].patient_id in m["source_patients"]
                assert not (g.event_type == "refund").any()
                checked["relaunder_to_someone_else"] += d.patient_id.nunique() >= 2
            elif style == "repeat_settlement":
                assert len(d) == 2 and d.site_id.nunique() == 1 and d.patient_id.nunique() == 1
                assert d.settlement_id.nunique() == 2
                assert d.iloc[0].patient_id in m["source_patients"]
            elif style == "ghost_stock":
                assert g.iloc[0].event_type in ("dispense", "inventory")
                assert not g.event_type.isin(["inbound", "transfer_in"]).any()
                assert set(d.site_id) <= set(m["laundering_sites"])
            elif style == "code_swap":
                prefix_products = g.product_code.unique()
                assert len(prefix_products) == 2, code
            checked[style] += 1
    assert set(STYLES) <= set(checked)
    assert checked["relaunder_to_someone_else"] > 0


def test_resurfacing_speed_follows_the_plan(city, by_code):
    for ring in city.truth["rings"]:
        if ring["style"] in ("ghost_stock", "code_swap"):
            continue
        delays = []
        for code in ring["trace_codes"]:
            g = by_code[code]
            first = _dispenses(g).iloc[0]
            later = g[(g.event_time > first.event_time) & ((g.site_id != first.site_id) | (g.event_type == "dispense"))]
            delays.append((later.event_time.iloc[0] - first.event_time).days)
        lo, hi = ring["plan"]["delay_days"]
        assert min(delays) >= lo - 1 and pd.Series(delays).median() <= hi + 5, (ring["ring_id"], delays)


def test_traps_are_legitimate_and_show_their_pattern(city, by_code, oracle):
    flagged = {f["trace_code"] for f in oracle}
    kinds = {t["kind"]: t["trace_codes"] for t in city.truth["traps"]}
    assert {"refund_resale", "chain_transfer_sale", "purchase_return", "double_scan", "split_within_pack",
            "inventory_before_dispense", "no_inbound_reporting_site"} <= set(kinds)
    units = city.pack_units
    sites = city.sites
    silent = set(sites.site_id) - set(city.events().query("event_type == 'inbound'").site_id)
    for kind, codes in kinds.items():
        assert not flagged & set(codes), kind
        for code in codes:
            g = by_code[code]
            d = _dispenses(g)
            if kind == "refund_resale":
                r = g[g.event_type == "refund"].iloc[0]
                assert ((d.event_time > r.event_time) & (d.site_id == r.site_id)).any()
            elif kind == "chain_transfer_sale":
                t_in = g[g.event_type == "transfer_in"].iloc[0]
                t_out = g[g.event_type == "transfer_out"].iloc[0]
                assert t_out.event_time < t_in.event_time and t_out.site_id != t_in.site_id
                chains = dict(zip(sites.site_id, sites.chain))
                assert chains[t_out.site_id] == chains[t_in.site_id] != ""
                assert ((d.site_id == t_in.site_id) & (d.event_time > t_in.event_time)).any()
            elif kind == "purchase_return":
                assert (g.event_type == "purchase_return").any()
            elif kind == "double_scan":
                gap = d.event_time.diff().dt.total_seconds()
                assert ((gap <= 600) & (d.settlement_id == d.settlement_id.shift())).any()
            elif kind == "split_within_pack":
                s = d[d.split_sale]
                assert len(s) >= 2 and s.site_id.nunique() == 1
                assert s.quantity.sum() <= units[s.product_code.iloc[0]]
            elif kind == "inventory_before_dispense":
                inv = g[g.event_type == "inventory"].iloc[0]
                assert ((d.site_id == inv.site_id) & (d.event_time > inv.event_time)).any()
                after = g[(g.event_time > d.event_time.min()) & (g.event_type == "inventory")]
                assert after.empty  # never scanned in stock after it was sold
            elif kind == "no_inbound_reporting_site":
                assert set(d.site_id) & silent


def test_no_provenance_coverage_is_never_borderline(events):
    """Sites either report inbound for nearly all they sell or not at all, so the rule is unambiguous."""
    stats = site_provenance_stats(events)
    for site, (coverage, _first) in stats.items():
        assert coverage <= 0.05 or coverage >= 0.8, (site, coverage)


def test_members_appear_in_the_data(city, events):
    sites = set(city.sites.site_id)
    disp = events[events.event_type == "dispense"]
    for ring in city.truth["rings"]:
        m = ring["members"]
        assert set(m["source_sites"]) | set(m["laundering_sites"]) <= sites
        assert set(m["source_patients"]) <= set(disp.patient_id)
        assert set(m["prescribers"]) <= set(disp.prescriber_id)
        assert set(m["brokers"]) <= set(events.counterparty.dropna())


def test_inventory_is_scanned_only_before_dispense(city, events):
    """A legitimate pack is never in a stock-taking scan at a site right after that site sold it
    (only a refund puts a sold pack back on the shelf)."""
    ring_codes = {c for r in city.truth["rings"] for c in r["trace_codes"]}
    e = events[~events.trace_code.isin(ring_codes)].sort_values(["trace_code", "site_id", "event_time", "order"])
    previous = e.groupby(["trace_code", "site_id"]).event_type.shift()
    scans = e.event_type == "inventory"
    assert scans.sum() > 100
    assert not (scans & (previous == "dispense")).any()


def test_geography_follows_the_plan(city):
    """Rings resurface at the same site, in the same district, in another district and in
    the neighbouring city; most rings get the geography they planned (a few fall back when the
    city has no suitable pharmacy)."""
    regions = dict(zip(city.sites.site_id, city.sites.region))
    relations, kept = set(), 0
    planted = [r for r in city.truth["rings"] if r["members"]["source_sites"]]
    for ring in planted:
        m = ring["members"]
        src = {regions[s] for s in m["source_sites"]}
        actual = set()
        for site in m["laundering_sites"]:
            if site in m["source_sites"]:
                actual.add("same_site")
            elif regions[site] in src:
                actual.add("same_district")
            elif "市" in regions[site] and not any("市" in r for r in src):
                actual.add("other_city")
            else:
                actual.add("other_district")
        relations |= actual
        kept += ring["plan"]["geography"] in actual
    assert relations == {"same_site", "same_district", "other_district", "other_city"}
    assert kept >= 0.7 * len(planted)
