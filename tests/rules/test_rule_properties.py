"""Property tests: legitimate pack lives never fire a rule; resale always does; order does not matter."""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from tests.rules.fixtures import PRODUCTS

PACK = PRODUCTS.iloc[0]          # 14 tablets
SITES = ("S1", "S2", "S3")
SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def legitimate_life(draw, code: str):
    """One pack's legitimate life, as the traps of DESIGN §3 allow it.

    Inbound at a site, then any of: stock-taking at the holding site, chain
    transfers, a sale (maybe scanned twice within minutes in one settlement, maybe
    refunded and the pack back in stock), split sales within the pack's units, a
    purchase return.
    """
    t = pd.Timestamp("2025-01-02 09:00")
    site = draw(st.sampled_from(SITES))
    rows = []

    def add(kind, at, **fields):
        rows.append({"event_id": f"{code}-{len(rows)}", "trace_code": code, "event_type": kind, "event_time": at,
                     "site_id": at_site[0], "product_code": PACK["product_code"], **fields})

    at_site = [site]
    add("inbound", t, counterparty="supplier")
    state, n_sales = "stock", 0
    for step in range(draw(st.integers(1, 6))):
        t = t + pd.Timedelta(hours=draw(st.integers(1, 24 * 20)))
        if state == "stock":
            action = draw(st.sampled_from(["inventory", "transfer", "sale", "split", "return"]))
            if action == "inventory":
                add("inventory", t)
            elif action == "transfer":
                target = draw(st.sampled_from([s for s in SITES if s != at_site[0]]))
                add("transfer_out", t, counterparty=target)
                at_site[0] = target
                add("transfer_in", t + pd.Timedelta(hours=2), counterparty=site)
                t = t + pd.Timedelta(hours=2)
            elif action == "sale":
                n_sales += 1
                setl = f"X{code[-3:]}{n_sales}"
                patient = draw(st.sampled_from(["P1", "P2", "P3"]))
                add("dispense", t, patient_id=patient, settlement_id=setl, fund_amount=10.0)
                if draw(st.booleans()):    # scanned again within minutes, same settlement
                    add("dispense", t + pd.Timedelta(minutes=draw(st.integers(1, 9))), patient_id=patient,
                        settlement_id=setl, fund_amount=10.0)
                state = ("sold", patient, setl)
            elif action == "split":
                units = draw(st.lists(st.integers(1, 7), min_size=1, max_size=4).filter(lambda u: sum(u) <= 14))
                for i, q in enumerate(units):
                    add("dispense", t + pd.Timedelta(days=i), patient_id=f"Q{i}", split_sale=True, quantity=float(q),
                        settlement_id=f"Y{code[-3:]}{i}")
                state = "opened"
            else:
                add("purchase_return", t, counterparty="supplier")
                state = "gone"
        elif isinstance(state, tuple) and draw(st.booleans()):
            add("refund", t, patient_id=state[1], settlement_id=state[2])
            state = "stock"
        else:
            break
    return rows


@st.composite
def legitimate_city(draw):
    rows = []
    for i in range(draw(st.integers(1, 4))):
        rows += draw(legitimate_life(f"810000100000000{i:05d}"))
    return pd.DataFrame(rows)


@SETTINGS
@given(legitimate_city())
def test_legitimate_lives_give_no_findings(events):
    findings = run_rules(events, AnalysisOptions(provenance_grace_days=0), products=PRODUCTS)
    assert findings.empty, findings[["finding_id", "explanation"]].to_string()


@SETTINGS
@given(legitimate_city(), st.sampled_from(["inbound", "dispense", "inventory", "transfer_in"]),
       st.integers(1, 200))
def test_a_sold_pack_seen_elsewhere_always_resurfaces(events, kind, days_later):
    sold = events[events["event_type"] == "dispense"]
    if sold.empty:
        return
    code = sold["trace_code"].iloc[0]
    life = events[events["trace_code"] == code]
    last = life.iloc[-1]
    if last["event_type"] != "dispense" or bool(last.get("split_sale") == True):  # noqa: E712
        return
    extra = {"event_id": "resold", "trace_code": code, "event_type": kind, "site_id": "L9", "patient_id": "B1",
             "event_time": last["event_time"] + pd.Timedelta(days=days_later)}
    findings = run_rules(pd.concat([events, pd.DataFrame([extra])], ignore_index=True),
                         AnalysisOptions(provenance_grace_days=0), products=PRODUCTS)
    resurfaced = findings[findings["rule"] == "RESURFACE"]
    assert list(resurfaced["trace_codes"].map(lambda c: c[0])) == [code]
    assert list(resurfaced.iloc[0]["laundering_sites"]) == ["L9"]
    assert ("DUP_DISPENSE" in set(findings["rule"])) == (kind == "dispense")


@SETTINGS
@given(legitimate_city(), st.randoms(use_true_random=False))
def test_row_order_and_repeated_rows_do_not_matter(events, rnd):
    resold = events.copy()
    first = resold.iloc[0]
    resold = pd.concat([resold, pd.DataFrame([{"event_id": "x", "trace_code": first["trace_code"],
                                                "event_type": "dispense", "site_id": "L9", "patient_id": "B",
                                                "event_time": pd.Timestamp("2026-01-01")}])], ignore_index=True)
    base = run_rules(resold, AnalysisOptions(), products=PRODUCTS)
    order = list(range(len(resold)))
    rnd.shuffle(order)
    shuffled = pd.concat([resold.iloc[order], resold.iloc[order[: len(order) // 2]]], ignore_index=True)
    pd.testing.assert_frame_equal(base, run_rules(shuffled, AnalysisOptions(), products=PRODUCTS))
