"""The ground truth: a reference reading of DESIGN §3 and the ground_truth.json it yields.

:func:`reference_findings` applies the five rules, literally and slowly (a
Python loop per trace code), to canonical events.  The generator runs it on the
histories of every pack that could matter (ring packs, short-dated lots, trap
packs) to write ``expected_findings``; the tests run it on all generated events
to prove that nothing else fires and that every trap is clean.  It is a test
oracle, not the product's rule engine (that lives in rxring.analysis).

Semantics (AnalysisOptions supplies the thresholds, with the meanings written
in rxring/options.py):

* a sale is a dispense, except that split (拆零) dispenses of one code at one
  site are one sale while their summed quantity stays within the pack's units,
  and a dispense at the same site within ``double_scan_minutes`` of the
  previous one of the code is the same sale scanned twice when both carry the
  same settlement id, or when either has none and the patients are the same or
  unknown (two refunds likewise);
* DUP_DISPENSE: sales minus refunds > 1;
* RESURFACE: while a sale is open (not refunded), any event at another site, or
  a sale at the same site to another patient;
* NO_PROVENANCE: a dispense at a site with no ``provenance_types`` event of the
  code there at or before it, for sites where at least
  ``provenance_min_coverage`` of the dispensed codes have an inbound or
  transfer_in there (at any time), and only from ``provenance_grace_days``
  after the site's first event in the data;
* CODE_CONFLICT: a code seen with two product codes, or whose product part
  (cn20 prefix / GTIN) maps to another product code;
* EXPIRED: dispensed on a day after the expiry date (the expiry day itself is fine).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..options import AnalysisOptions

__all__ = ["reference_findings", "site_provenance_stats", "dominant_products"]

_PROV_TYPES = ("inbound", "transfer_in", "refund")


def _seconds(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.astype("datetime64[s]").astype("int64").to_numpy()
    return values.astype("int64").to_numpy()


def _days(values: pd.Series) -> np.ndarray:
    """Expiry as days since the epoch (or as given when numeric); -inf-like sentinel when missing."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.fillna(-(10**9)).astype("int64").to_numpy()
    parsed = pd.to_datetime(values, errors="coerce")
    out = parsed.astype("datetime64[s]").astype("int64").to_numpy() // 86400
    out[parsed.isna().to_numpy()] = -(10**9)
    return out


def site_provenance_stats(events: pd.DataFrame) -> dict[str, tuple[float, int | None]]:
    """Per site: (share of its dispensed codes that have an inbound or transfer_in there at any
    time, time of the site's first event in seconds)."""
    t = pd.Series(_seconds(events["event_time"]), index=events.index)
    frame = pd.DataFrame({"site": events["site_id"], "code": events["trace_code"], "type": events["event_type"], "t": t})
    disp = frame[frame["type"] == "dispense"][["site", "code"]].drop_duplicates()
    recv = frame[frame["type"].isin(("inbound", "transfer_in"))][["site", "code"]].drop_duplicates()
    recv["covered"] = True
    joined = disp.merge(recv, on=["site", "code"], how="left")
    covered = joined["covered"].fillna(False).astype(bool).groupby(joined["site"]).mean()
    first = frame.groupby("site")["t"].min()
    return {str(site): (float(covered.get(site, 0.0)), int(first[site])) for site in sorted(set(frame["site"]))}


def dominant_products(events: pd.DataFrame) -> dict[str, str]:
    """code_product -> the product_code most codes with that product part carry."""
    frame = events[["trace_code", "code_product", "product_code"]].dropna().drop_duplicates()
    counts = frame.groupby(["code_product", "product_code"]).size().reset_index(name="n")
    counts = counts.sort_values(["code_product", "n", "product_code"], ascending=[True, False, True])
    return dict(counts.drop_duplicates("code_product")[["code_product", "product_code"]].itertuples(index=False, name=None))


def reference_findings(events: pd.DataFrame, pack_units: Mapping[str, int], options: AnalysisOptions | None = None,
                       site_stats: Mapping[str, tuple[float, int | None]] | None = None,
                       product_of_part: Mapping[str, str] | None = None) -> list[dict]:
    """Apply DESIGN §3 to canonical events, one trace code at a time.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical columns (at least trace_code, event_type, event_time, site_id,
        patient_id, prescriber_id, product_code, code_product, quantity,
        split_sale, settlement_id, expiry); an optional ``order`` column breaks
        ties between equal times.  Times may be datetimes or integer seconds
        (then ``expiry`` must be integer days on the same origin).
    pack_units : mapping
        product_code -> smallest units per pack.
    options : AnalysisOptions, optional
    site_stats : mapping, optional
        site_id -> (coverage, first inbound seconds); computed from ``events`` when omitted.
    product_of_part : mapping, optional
        code_product -> product_code; the dominant pairing in ``events`` when omitted.

    Returns
    -------
    list of dict
        One dict per (rule, trace_code), sorted, with ``source_sites``,
        ``source_patients``, ``prescribers``, ``laundering_sites`` and ``sites``.
    """
    options = options or AnalysisOptions()
    if site_stats is None:
        site_stats = site_provenance_stats(events)
    if product_of_part is None:
        product_of_part = dominant_products(events)
    window = options.double_scan_minutes * 60
    grace = options.provenance_grace_days * 86400
    prov_types = tuple(getattr(options, "provenance_types", _PROV_TYPES))
    frame = pd.DataFrame({
        "code": events["trace_code"].astype(str).to_numpy(),
        "type": events["event_type"].astype(str).to_numpy(),
        "t": _seconds(events["event_time"]),
        "site": events["site_id"].astype(str).to_numpy(),
        "patient": events["patient_id"].astype(object).where(events["patient_id"].notna(), None).to_numpy(),
        "prescriber": events["prescriber_id"].astype(object).where(events["prescriber_id"].notna(), None).to_numpy(),
        "product": events["product_code"].astype(object).where(events["product_code"].notna(), None).to_numpy(),
        "part": events["code_product"].astype(object).where(events["code_product"].notna(), None).to_numpy(),
        "qty": events["quantity"].fillna(1.0).astype(float).to_numpy(),
        "split": events["split_sale"].fillna(False).astype(bool).to_numpy(),
        "setl": events["settlement_id"].astype(object).where(events["settlement_id"].notna(), None).to_numpy(),
        "expiry": _days(events["expiry"]),
        "order": events["order"].to_numpy() if "order" in events else np.arange(len(events)),
    })
    frame["setl"] = frame["setl"].map(lambda s: s if s else None)
    frame = frame.sort_values(["code", "t", "order"], kind="stable")
    findings: list[dict] = []
    cols = list(frame.columns)
    rows_all = frame.itertuples(index=False, name=None)
    current, bucket = None, []
    for row in rows_all:
        if row[0] != current and bucket:
            findings.extend(_code_findings(current, bucket, cols, pack_units, window, grace, site_stats,
                                           product_of_part, options, prov_types))
            bucket = []
        current = row[0]
        bucket.append(row)
    if bucket:
        findings.extend(_code_findings(current, bucket, cols, pack_units, window, grace, site_stats,
                                       product_of_part, options, prov_types))
    findings.sort(key=lambda f: (f["rule"], f["trace_code"]))
    return findings


def _finding(rule, code, source=None, laundering=(), patients=(), prescribers=(), sites=()):
    src_sites = [source[0]] if source else []
    src_pat = [source[1]] if source and source[1] else []
    src_doc = [source[2]] if source and source[2] else []
    return {
        "rule": rule, "trace_code": code,
        "source_sites": src_sites, "source_patients": src_pat,
        "prescribers": sorted(set(src_doc) | {p for p in prescribers if p}),
        "laundering_sites": sorted(set(laundering)),
        "patients": sorted({p for p in patients if p}),
        "sites": sorted(set(sites) | set(src_sites) | set(laundering)),
    }


def _same_scan(r, last, window, i_t, i_site, i_setl, i_pat) -> bool:
    """Is ``r`` the same sale (or refund) as ``last`` scanned twice within minutes?"""
    if last is None or r[i_site] != last[i_site] or r[i_t] - last[i_t] > window:
        return False
    if r[i_setl] and last[i_setl]:
        return r[i_setl] == last[i_setl]
    return r[i_pat] is None or last[i_pat] is None or r[i_pat] == last[i_pat]


def _code_findings(code, rows, cols, pack_units, window, grace, site_stats, product_of_part, options,
                   prov_types=_PROV_TYPES):
    i_type, i_t, i_site, i_pat, i_doc, i_prod, i_part, i_qty, i_split, i_setl, i_exp = (
        cols.index(c) for c in ("type", "t", "site", "patient", "prescriber", "product", "part", "qty", "split",
                                "setl", "expiry"))
    out = []
    products = {r[i_prod] for r in rows if r[i_prod]}
    units = max((pack_units.get(p, 0) for p in products), default=0)
    # --- sales, refunds, resurfacing
    n_sales = n_refunds = 0
    open_sales: list[tuple] = []
    source = None
    resurfaced: list[str] = []
    dup_source, dup_sites = None, []
    last = None
    last_refund = None
    split_used: dict[str, float] = {}
    for r in rows:
        typ, site = r[i_type], r[i_site]
        if typ == "dispense":
            if r[i_split] and units:
                used = split_used.get(site)
                if used is not None and used + r[i_qty] <= units:
                    split_used[site] = used + r[i_qty]
                    continue
                split_used[site] = r[i_qty]
            elif not r[i_split]:
                if _same_scan(r, last, window, i_t, i_site, i_setl, i_pat):
                    continue
                last = r
            n_sales += 1
            sale = (site, r[i_pat], r[i_doc])
            if open_sales:
                first = open_sales[0]
                if site != first[0] or r[i_pat] != first[1]:
                    if source is None:
                        source = first
                    if source == first:
                        resurfaced.append(site)
                if dup_source is None:
                    dup_source = first
                dup_sites.append(site)
            open_sales.append(sale)
        elif typ == "refund" and _same_scan(r, last_refund, window, i_t, i_site, i_setl, i_pat):
            continue
        elif typ == "refund" and open_sales and any(s[0] == site for s in open_sales):
            last_refund = r
            n_refunds += 1
            for k in range(len(open_sales) - 1, -1, -1):
                if open_sales[k][0] == site:
                    del open_sales[k]
                    break
        else:
            if typ == "refund":
                last_refund = r
                n_refunds += 1
            if open_sales and site != open_sales[0][0]:
                if source is None:
                    source = open_sales[0]
                if source == open_sales[0]:
                    resurfaced.append(site)
    if n_sales - n_refunds > 1:
        out.append(_finding("DUP_DISPENSE", code, dup_source, dup_sites))
    if resurfaced:
        out.append(_finding("RESURFACE", code, source, resurfaced))
    # --- provenance
    prov_seen: set[str] = set()
    no_prov_sites = []
    for r in rows:
        typ, site = r[i_type], r[i_site]
        if typ in prov_types:
            prov_seen.add(site)
        elif typ == "dispense" and site not in prov_seen:
            coverage, first_in = site_stats.get(site, (0.0, None))
            if coverage >= options.provenance_min_coverage and first_in is not None and r[i_t] >= first_in + grace:
                no_prov_sites.append(site)
    if no_prov_sites:
        out.append(_finding("NO_PROVENANCE", code, None, no_prov_sites))
    # --- code conflict
    parts = {r[i_part] for r in rows if r[i_part]}
    expected = {product_of_part[p] for p in parts if p in product_of_part}
    if len(products) > 1 or (products and expected and products != expected):
        main = next(iter(expected)) if len(expected) == 1 else None
        odd = [r for r in rows if r[i_prod] and main is not None and r[i_prod] != main] or \
              [r for r in rows if r[i_prod]]
        out.append(_finding("CODE_CONFLICT", code, None, [r[i_site] for r in odd],
                            [r[i_pat] for r in odd], [r[i_doc] for r in odd]))
    # --- expiry
    expiry = max((r[i_exp] for r in rows), default=-(10**9))
    expired = [r for r in rows if r[i_type] == "dispense"
               and (r[i_exp] if r[i_exp] > -(10**9) else expiry) > -(10**9)
               and r[i_t] // 86400 > (r[i_exp] if r[i_exp] > -(10**9) else expiry)]
    if expired:
        out.append(_finding("EXPIRED", code, None, [], [r[i_pat] for r in expired], [r[i_doc] for r in expired],
                            [r[i_site] for r in expired]))
    return out
