"""Assemble ground_truth.json from what the simulation actually did.

Only packs kept by the engine (ring packs, short-dated lots, trap samples) can
carry a finding; their histories, reduced to the columns the output format can
express (:data:`rxring.synth.writers.VISIBLE`), go through the reference rules
(:func:`rxring.synth.truth.reference_findings`).  Ring members are read off the
resulting findings, so a patient whose packs never resurfaced in the data is not
claimed as a member.
"""

from __future__ import annotations

import pandas as pd

from ..options import AnalysisOptions
from .fraud import RingBook
from .life import TRAP_KINDS, Engine
from .model import DAY
from .truth import reference_findings
from .writers import VISIBLE

__all__ = ["build_ground_truth", "history_frame"]

_COLUMNS = ("trace_code", "event_type", "event_time", "site_id", "patient_id", "prescriber_id", "product_code",
            "code_product", "quantity", "split_sale", "settlement_id", "expiry", "order")


def history_frame(engine: Engine, fmt: str) -> pd.DataFrame:
    """Canonical rows (times in seconds since the start, expiry in days) of the kept packs."""
    city = engine.city
    visible = VISIBLE[fmt]
    rows = []
    for code in sorted(engine.kept):
        pack = engine.kept[code]
        part = city.products[pack.prod].codes.product_part
        for t, etype, site, patient, qty, split, setl, prod, seq, presc in pack.hist:
            if fmt == "epcis" and etype == "transfer_in":
                etype = "inbound"   # EPCIS receiving is read as inbound
            rows.append((
                code, etype, t, city.sites[site].site_id,
                city.psn_no[patient] if patient >= 0 and etype in ("dispense", "refund") else None,
                city.prescriber_ids[presc] if presc >= 0 and etype == "dispense" else None,
                city.products[prod].code, part, float(qty), bool(split), setl, pack.batch.expiry, seq,
            ))
    frame = pd.DataFrame(rows, columns=list(_COLUMNS))
    for column in ("patient_id", "prescriber_id", "product_code", "settlement_id", "expiry", "quantity", "split_sale"):
        if column not in visible:
            frame[column] = None
    if "code_product" not in visible:
        frame["code_product"] = None
    frame["quantity"] = frame["quantity"].fillna(1.0)
    frame["split_sale"] = frame["split_sale"].fillna(False)
    frame["expiry"] = pd.to_numeric(frame["expiry"], errors="coerce")
    return frame


def _pattern(kind: str, hist: list[tuple], engine: Engine, expiry: int) -> bool:
    """Does a trap pack's history really show its legitimate pattern?"""
    types = [(e[1], e[2], e[0], e[3], e[5], e[6]) for e in sorted(hist, key=lambda e: (e[0], e[8]))]
    disp = [x for x in types if x[0] == "dispense"]
    if kind == "refund_resale":
        return any(r[0] == "refund" and any(d[1] == r[1] and d[2] > r[2] for d in disp) for r in types)
    if kind == "chain_transfer_sale":
        ins = [x for x in types if x[0] == "transfer_in"]
        return any(x[0] == "transfer_out" for x in types) and any(d[1] == i[1] and d[2] > i[2] for i in ins for d in disp)
    if kind == "purchase_return":
        return any(x[0] == "purchase_return" for x in types)
    if kind == "double_scan":
        return any(a[5] and a[5] == b[5] and 0 < b[2] - a[2] <= 600 for a, b in zip(disp, disp[1:]))
    if kind == "split_within_pack":
        return sum(1 for d in disp if d[4]) >= 2
    if kind == "inventory_before_dispense":
        return any(x[0] == "inventory" and any(d[1] == x[1] and d[2] > x[2] for d in disp) for x in types)
    if kind == "expiry_day_dispense":
        return any(d[2] // DAY == expiry for d in disp)
    if kind == "no_inbound_reporting_site":
        return any(not engine.city.sites[d[1]].reports_inbound for d in disp)
    return False


def build_ground_truth(engine: Engine, book: RingBook, fmt: str, seed: int, params: dict,
                       options: AnalysisOptions | None = None) -> dict:
    """The ground_truth.json document (see the module docstring of rxring.synth).

    ``options`` (default: ``AnalysisOptions()``) are the thresholds the expected
    findings assume; they are recorded in ``params["analysis_options"]``.
    """
    options = options or AnalysisOptions()
    params = {**params, "analysis_options": options.to_dict()}
    city = engine.city
    frame = history_frame(engine, fmt)
    visible = VISIBLE[fmt]
    site_stats = {}
    for s in city.sites:
        disp = int(engine.site_disp[s.idx])
        coverage = float(engine.site_disp_prov[s.idx]) / disp if disp else 0.0
        site_stats[s.site_id] = (coverage, engine.site_first_event[s.idx])
    product_of_part = {p.codes.product_part: p.code for p in city.products} if "product_code" in visible else {}
    pack_units = {p.code: p.pack_units for p in city.products}
    findings = reference_findings(frame, pack_units, options, site_stats, product_of_part) if len(frame) else []

    ring_of_code = {code: pack.taint for code, pack in engine.kept.items() if pack.taint >= 0}
    expected = []
    by_ring: dict[int, list[dict]] = {}
    for f in findings:
        ring_idx = ring_of_code.get(f["trace_code"])
        ring_id = book.rings_by_idx[ring_idx].ring_id if ring_idx is not None else None
        expected.append({"rule": f["rule"], "trace_code": f["trace_code"], "ring_id": ring_id})
        if ring_idx is not None:
            by_ring.setdefault(ring_idx, []).append(f)

    rings = []
    for ring in book.rings:
        fs = [f for f in by_ring.get(ring.idx, []) if f["rule"] != "EXPIRED"]
        if not fs:
            continue
        members = {"source_patients": set(), "prescribers": set(), "source_sites": set(), "laundering_sites": set()}
        for f in fs:
            members["source_patients"].update(f["source_patients"])
            members["prescribers"].update(f["prescribers"])
            members["source_sites"].update(f["source_sites"])
            members["laundering_sites"].update(f["laundering_sites"])
            if f["rule"] == "CODE_CONFLICT":
                members["source_patients"].update(f["patients"])
        used_brokers = sorted({
            e_cp for e_cp in ring.brokers
            if any(h[1] == "inbound" for code in {f["trace_code"] for f in fs} for h in engine.kept[code].hist)
        })
        rings.append({
            "ring_id": ring.ring_id,
            "style": ring.style,
            "members": {k: sorted(v) for k, v in members.items()} | {"brokers": used_brokers},
            "trace_codes": sorted({f["trace_code"] for f in fs}),
            "plan": ring.plan(city),
        })

    flagged = {f["trace_code"] for f in findings}
    traps = []
    for kind in TRAP_KINDS:
        codes = sorted(code for code in engine.trap_codes[kind]
                       if code in engine.kept and code not in flagged and engine.kept[code].taint < 0
                       and _pattern(kind, engine.kept[code].hist, engine, engine.kept[code].batch.expiry))
        if codes:
            traps.append({"kind": kind, "trace_codes": codes})

    counts = {"events": int(sum(engine.counts.values()))}
    counts.update({f"events_{k}": int(v) for k, v in sorted(engine.counts.items())})
    counts.update({
        "sites": len(city.sites), "patients": city.n_patients, "prescribers": len(city.prescriber_ids),
        "products": len(city.products), "rings": len(rings), "expected_findings": len(expected),
    })
    for rule in ("DUP_DISPENSE", "RESURFACE", "NO_PROVENANCE", "CODE_CONFLICT", "EXPIRED"):
        counts[f"expected_{rule}"] = sum(1 for e in expected if e["rule"] == rule)
    for t in traps:
        counts[f"trap_{t['kind']}"] = len(t["trace_codes"])
    return {"seed": seed, "params": params, "counts": counts, "rings": rings,
            "expected_findings": expected, "traps": traps}
