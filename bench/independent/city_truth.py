"""Ground truth of the independent city: DESIGN §3 read literally on the simulated history.

The reference reading works on the simulation's own per-code history (what really
happened to each pack), never on the rendered files, so format handling (overlapping
exports, duplicate messages, body shapes, encodings) cannot leak into the truth.  The
judgement calls are listed in :data:`NOTES` and in ``city.py``'s docstring.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["ground_truth", "expected_for_code", "NOTES", "RULES"]

RULES = ("DUP_DISPENSE", "RESURFACE", "NO_PROVENANCE", "CODE_CONFLICT", "EXPIRED")
DOUBLE_SCAN = timedelta(minutes=10)
OPENING_STOCKTAKE = timedelta(days=2)

NOTES = [
    "Opening stock listed by a 3501 stock-take within 2 days of a site's first reported day is received "
    "stock (no NO_PROVENANCE), also for P9 which joins reporting on 2025-09-15.",
    "A refund puts the pack back at the site and counts as provenance for the resale there.",
    "Split (拆零) sales of one code at one site are one sale while summed net units (sales minus split "
    "refunds) <= pack_units; above that the code is DUP_DISPENSE; RESURFACE on it is ambiguous (not scored).",
    "Two scans of one code in one settlement, or without settlement by one patient at one site within 10 "
    "minutes, are one sale.",
    "EXPIRED compares the sale's date with expy_end; a sale on the expiry date is not expired.",
    "A code sold under another product's med_list_codg (串换) is CODE_CONFLICT.",
    "NO_PROVENANCE is judged for sites that report inbound scans (3503) at all; a reporting pharmacy that "
    "missed scanning one delivery has true NO_PROVENANCE findings by the rule's words.",
    "Old stock sold by a reporting site that never uploaded an opening 3501 (P1) is ambiguous for "
    "NO_PROVENANCE: the rule's words flag it, a domain reading does not (not scored; counted as "
    "ambiguous_flagged).",
    "Ring members: source patients, their prescribers (source dispense), source site, laundering sites; "
    "buyers and resale prescribers are not members.",
]


def _collapse(events: list) -> list:
    """Drop the second scan of a double-scanned sale (same settlement, or same patient within 10 min)."""
    kept = []
    for e in events:
        if e["kind"] == "dispense":
            dup = False
            for k in kept:
                if k["kind"] != "dispense" or k["site"] != e["site"]:
                    continue
                if e["setl_id"] and k["setl_id"] == e["setl_id"] and not e["split"]:
                    dup = True
                elif (not e["setl_id"] and not k["setl_id"] and k["patient"] == e["patient"]
                      and e["time"] - k["time"] <= DOUBLE_SCAN and not e["split"]):
                    dup = True
            if dup:
                continue
        kept.append(e)
    return kept


def expected_for_code(events: list, pack_units: int) -> tuple[set, set]:
    """Rules that must fire on one code, and rules on which it is ambiguous.

    Parameters
    ----------
    events : the code's history (dicts from ``City.emit``), in time order.
    pack_units : smallest units in one pack of the code's true product.
    """
    fire, ambiguous = set(), set()
    events = _collapse(events)
    dispenses = [e for e in events if e["kind"] == "dispense"]

    # EXPIRED
    if any(e["time"].date() > e["expiry"] for e in dispenses):
        fire.add("EXPIRED")

    # CODE_CONFLICT
    products = {e["product"] for e in events}
    if len(products) > 1 or any(e["product"] != e["true_product"] for e in events):
        fire.add("CODE_CONFLICT")

    # DUP_DISPENSE (net count; split sales at one site are one sale within pack_units)
    whole = sum(1 for e in dispenses if not e["split"]) - sum(
        1 for e in events if e["kind"] == "refund" and not e["split"])
    split_units: dict = {}
    for e in events:
        if e["split"] and e["kind"] in ("dispense", "refund"):
            sign = 1 if e["kind"] == "dispense" else -1
            split_units[e["site"]] = split_units.get(e["site"], 0) + sign * e["qty"]
    split_sales = sum(1 for units in split_units.values() if units > 0)
    over_split = any(units > pack_units for units in split_units.values())
    if whole + split_sales > 1 or over_split:
        fire.add("DUP_DISPENSE")
    if over_split:
        ambiguous.add("RESURFACE")

    # RESURFACE: after a net dispense, any later event elsewhere, or a resale here to someone else
    holder = None  # (site, patient, split)
    for e in events:
        if holder is not None:
            site, patient, was_split = holder
            if e["site"] != site:
                fire.add("RESURFACE")
                break
            if e["kind"] == "refund" and (not e["split"] or not was_split):
                holder = None
                continue
            if e["kind"] == "dispense" and not e["split"] and e["patient"] != patient:
                fire.add("RESURFACE")
                break
        if e["kind"] == "dispense":
            holder = (e["site"], e["patient"], e["split"])

    # NO_PROVENANCE
    received: set = set()
    for e in events:
        if e["kind"] in ("inbound", "transfer_in", "refund"):
            received.add(e["site"])
        elif e["kind"] == "inventory" and e["site_first_day_time"] is not None and \
                e["time"] - e["site_first_day_time"] <= OPENING_STOCKTAKE:
            received.add(e["site"])
        elif e["kind"] == "dispense" and e["reports_inbound"] and e["site"] not in received:
            fire.add("NO_PROVENANCE")
        if e["kind"] in ("transfer_out", "purchase_return"):
            received.discard(e["site"])
    return fire, ambiguous


def ground_truth(city) -> dict:
    """Expected codes per rule, ambiguous codes, planted rings and per-code tags."""
    from city import START  # sibling module

    units = {p.code: p.pack_units for p in city.products}
    rules = {r: {"expected": [], "ambiguous": []} for r in RULES}
    for code, events in sorted(city.history.items()):
        for e in events:
            first = city_site_first(city, e["site"])
            e["site_first_day_time"] = START + timedelta(days=first)
        fire, ambiguous = expected_for_code(events, units[events[0]["true_product"]])
        if "old_stock_no_stocktake" in city.tags.get(code, ()) and "NO_PROVENANCE" in fire:
            ambiguous.add("NO_PROVENANCE")  # old stock at a site without an opening stock-take: judgement
        for rule in fire - ambiguous:
            rules[rule]["expected"].append(code)
        for rule in ambiguous:
            rules[rule]["ambiguous"].append(code)
    key_of = {s.site_id: k for k, s in city.sites.items()}
    rings = []
    for ring in city.rings:
        m = ring["members"]
        rings.append({
            "name": ring["name"],
            "source_patients": sorted(m["source_patients"]),
            "prescribers": sorted(m["prescribers"]),
            "source_sites": sorted(city.sites[k].site_id for k in m["source_sites"]),
            "laundering_sites": sorted(city.sites[k].site_id for k in m["laundering_sites"]),
        })
    return {
        "rules": rules,
        "rings": rings,
        "sites": {k: {"site_id": s.site_id, "name": s.name, "reports_inbound": s.reports_inbound,
                      "output": s.output, "shape": s.shape} for k, s in city.sites.items()},
        "site_keys": key_of,
        "tags": {code: sorted(t) for code, t in sorted(city.tags.items()) if t},
        "events": sum(len(h) for h in city.history.values()),
        "notes": NOTES,
    }


def city_site_first(city, site_id: str) -> int:
    for s in city.sites.values():
        if s.site_id == site_id:
            return s.first_day
    return 0
