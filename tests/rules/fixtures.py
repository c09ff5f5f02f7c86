"""Hand-written rule fixtures: tiny event lists with the exact findings expected.

Importable data for every engine's tests (embedded here, Neo4j differential tests):

>>> from tests.rules.fixtures import FIXTURES
>>> fx = FIXTURES["resold_at_another_site"]
>>> sorted(fx.expected)
['DUP_DISPENSE:81000010000000000011', 'RESURFACE:81000010000000000011']
>>> len(fx.events), fx.products is None, fx.deletions is None
(3, True, True)

``expected`` maps finding_id -> the columns that must match exactly (lists are
sorted); a fixture expects exactly these finding ids and no others.

Events are written compactly with :func:`ev`: ``ev(id, type, "MM-DD HH:MM", site, ...)``
(year 2025 unless the time is written in full); the trace code defaults to
:data:`C1`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["C1", "C2", "C3", "ev", "frame", "Fixture", "FIXTURES", "PRODUCTS"]

C1 = "81000010000000000011"   # product part 8100001
C2 = "81000010000000000022"
C3 = "81000010000000000033"
PRODUCT_A = "XA0000A0000000000001"   # 14 tablets a pack
PRODUCT_B = "XB0000B0000000000002"

PRODUCTS = pd.DataFrame({"product_code": [PRODUCT_A, PRODUCT_B], "name": ["甲片 10mg*14片", "乙片 5mg*28片"],
                         "pack_units": [14, 28], "price": [30.0, 60.0]})


def ev(event_id: str, event_type: str, when: str, site: str, code: str = C1, **fields) -> dict:
    """One event as a dict; *when* is "MM-DD HH:MM" (2025) or a full timestamp."""
    stamp = when if len(when) > 11 else f"2025-{when}"
    row = {"event_id": event_id, "trace_code": code, "event_type": event_type,
           "event_time": pd.Timestamp(stamp), "site_id": site}
    row.update(fields)
    if "code_product" not in row and code.isdigit() and len(code) == 20:
        row["code_product"] = code[:7]
        row["code_kind"] = "cn20"
    return row


def frame(*rows: dict) -> pd.DataFrame:
    """Events (dicts from :func:`ev`) as a DataFrame, in the order given."""
    return pd.DataFrame(list(rows))


@dataclass
class Fixture:
    """One scenario: the events, optional masters, and the exact findings expected."""

    events: pd.DataFrame
    expected: dict[str, dict] = field(default_factory=dict)
    products: pd.DataFrame | None = None
    deletions: pd.DataFrame | None = None
    note: str = ""


def _stocked(site: str = "S1", code: str = C1, when: str = "01-02 09:00", eid: str | None = None, **fields) -> dict:
    return ev(eid or f"in-{site}-{code[-2:]}", "inbound", when, site, code, counterparty="国药控股", **fields)


def _sale(eid: str, when: str, site: str, patient: str, code: str = C1, **fields) -> dict:
    fields.setdefault("settlement_id", f"SETL-{eid}")
    fields.setdefault("prescriber_id", "D1")
    fields.setdefault("fund_amount", 20.0)
    fields.setdefault("total_amount", 30.0)
    return ev(eid, "dispense", when, site, code, patient_id=patient, **fields)


FIXTURES: dict[str, Fixture] = {}


def _add(name: str, fixture: Fixture) -> None:
    FIXTURES[name] = fixture


# ---------------------------------------------------------------- DUP_DISPENSE / RESURFACE

_add("resold_at_another_site", Fixture(
    note="dispensed to P1 at S1, dispensed again to P2 at laundering site L1: DUP_DISPENSE and RESURFACE",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", prescriber_id="D9"),
        _sale("d2", "02-01 15:00", "L1", "P2", prescriber_id="D7"),
    ),
    expected={
        f"DUP_DISPENSE:{C1}": {"rule": "DUP_DISPENSE", "trace_codes": [C1], "sites": ["L1", "S1"],
                               "source_sites": ["S1"], "laundering_sites": ["L1"], "patients": ["P1", "P2"],
                               "source_patients": ["P1"], "source_prescribers": ["D9"],
                               "prescribers": ["D7", "D9"], "event_ids": ["d1", "d2"], "fund_amount": 40.0,
                               "total_amount": 60.0, "first_time": pd.Timestamp("2025-01-10 10:00"),
                               "last_time": pd.Timestamp("2025-02-01 15:00")},
        f"RESURFACE:{C1}": {"rule": "RESURFACE", "source_sites": ["S1"], "laundering_sites": ["L1"],
                            "source_patients": ["P1"], "event_ids": ["d1", "d2"], "fund_amount": 40.0},
    },
))

_add("resurface_inbound_at_recycler_site", Fixture(
    note="after the sale to P1 the pack is scanned inbound at L1 (bought from a recycler): RESURFACE only",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1"),
        ev("i2", "inbound", "01-20 09:00", "L1", counterparty="某回收商"),
        ev("v2", "inventory", "01-31 18:00", "L1"),
    ),
    expected={f"RESURFACE:{C1}": {"rule": "RESURFACE", "source_sites": ["S1"], "laundering_sites": ["L1"],
                                  "source_patients": ["P1"], "event_ids": ["d1", "i2", "v2"],
                                  "fund_amount": 20.0, "last_time": pd.Timestamp("2025-01-31 18:00")}},
))

_add("resurface_inventory_elsewhere", Fixture(
    note="a stock-taking scan at another site after the sale is a resurfacing",
    events=frame(_stocked("S1"), _sale("d1", "01-10 10:00", "S1", "P1"), ev("v1", "inventory", "03-01 09:00", "L2")),
    expected={f"RESURFACE:{C1}": {"laundering_sites": ["L2"], "event_ids": ["d1", "v1"]}},
))

_add("same_site_relaundering", Fixture(
    note="sold to P1 at S1, sold again at S1 to P2 three weeks later: both rules, S1 is source and laundering site",
    events=frame(_stocked("S1"), _sale("d1", "01-10 10:00", "S1", "P1"), _sale("d2", "01-31 10:00", "S1", "P2")),
    expected={
        f"DUP_DISPENSE:{C1}": {"source_sites": ["S1"], "laundering_sites": ["S1"], "event_ids": ["d1", "d2"]},
        f"RESURFACE:{C1}": {"source_sites": ["S1"], "laundering_sites": ["S1"], "source_patients": ["P1"],
                            "patients": ["P1", "P2"], "event_ids": ["d1", "d2"]},
    },
))

_add("same_patient_again_same_site", Fixture(
    note="the same code sold twice to the same patient at one site days apart: DUP_DISPENSE, not RESURFACE",
    events=frame(_stocked("S1"), _sale("d1", "01-10 10:00", "S1", "P1"), _sale("d2", "01-20 10:00", "S1", "P1")),
    expected={f"DUP_DISPENSE:{C1}": {"source_patients": ["P1"], "event_ids": ["d1", "d2"]}},
))

_add("two_settlements_within_minutes", Fixture(
    note="one code scanned into two different settlements minutes apart (code reuse): not a double scan",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id="X1"),
        _sale("d2", "01-10 10:04", "S1", "P2", settlement_id="X2"),
    ),
    expected={f"DUP_DISPENSE:{C1}": {"event_ids": ["d1", "d2"]},
              f"RESURFACE:{C1}": {"laundering_sites": ["S1"], "event_ids": ["d1", "d2"]}},
))

_add("refunded_resale_still_resurfaced", Fixture(
    note="sold at S1, then sold and refunded at L1: one net sale (no DUP) but the pack did reappear at L1",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1"),
        _sale("d2", "02-10 10:00", "L1", "P2"),
        ev("r2", "refund", "02-11 10:00", "L1", patient_id="P2", settlement_id="SETL-d2"),
    ),
    expected={f"RESURFACE:{C1}": {"laundering_sites": ["L1"], "event_ids": ["d1", "d2", "r2"], "fund_amount": 40.0}},
))

_add("refund_without_sale_in_window", Fixture(
    note="a refund whose sale predates the data cancels nothing: the two later sales are two net dispenses",
    events=frame(
        ev("r0", "refund", "01-03 10:00", "S1", patient_id="P0"),
        _sale("d1", "01-10 10:00", "S1", "P1"),
        _sale("d2", "01-25 10:00", "S1", "P1"),
    ),
    expected={f"DUP_DISPENSE:{C1}": {"event_ids": ["d1", "d2"]}},
))

_add("split_beyond_pack_units", Fixture(
    note="拆零 7 + 7 + 1 tablets of a 14-tablet pack: 15 > 14, the code was used for a second pack; "
         "the pharmacy is the actor, buyers of a few tablets are not source patients",
    products=PRODUCTS,
    events=frame(
        _stocked("S1", product_code=PRODUCT_A),
        _sale("s1", "01-10 10:00", "S1", "P1", product_code=PRODUCT_A, split_sale=True, quantity=7),
        _sale("s2", "01-12 10:00", "S1", "P2", product_code=PRODUCT_A, split_sale=True, quantity=7),
        _sale("s3", "01-15 10:00", "S1", "P3", product_code=PRODUCT_A, split_sale=True, quantity=1),
    ),
    expected={
        f"DUP_DISPENSE:{C1}": {"source_patients": [], "source_prescribers": [], "source_sites": ["S1"],
                               "event_ids": ["s1", "s2", "s3"], "laundering_sites": ["S1"], "fund_amount": 60.0},
        f"RESURFACE:{C1}": {"source_patients": [], "source_sites": ["S1"], "patients": ["P1", "P2", "P3"],
                            "event_ids": ["s1", "s2", "s3"]},
    },
))

_add("split_at_two_sites", Fixture(
    note="split sales of one code at two different sites cannot come from one pack",
    products=PRODUCTS,
    events=frame(
        _stocked("S1", product_code=PRODUCT_A),
        _sale("s1", "01-10 10:00", "S1", "P1", product_code=PRODUCT_A, split_sale=True, quantity=7),
        _sale("s2", "01-12 10:00", "L1", "P2", product_code=PRODUCT_A, split_sale=True, quantity=7),
    ),
    expected={f"DUP_DISPENSE:{C1}": {"source_sites": ["S1"], "laundering_sites": ["L1"]},
              f"RESURFACE:{C1}": {"laundering_sites": ["L1"], "event_ids": ["s1", "s2"]}},
))

# ---------------------------------------------------------------- traps (no finding)

_add("trap_refund_then_resale", Fixture(
    note="sold to P1, refunded, sold to P2 at the same site: legitimate",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1"),
        ev("r1", "refund", "01-11 09:00", "S1", patient_id="P1", settlement_id="SETL-d1"),
        _sale("d2", "01-20 10:00", "S1", "P2"),
    ),
))

_add("trap_refund_twice_resale_twice", Fixture(
    note="two sale/refund cycles, then the final sale: legitimate",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1"), ev("r1", "refund", "01-10 12:00", "S1", patient_id="P1"),
        _sale("d2", "01-12 10:00", "S1", "P2"), ev("r2", "refund", "01-13 12:00", "S1", patient_id="P2"),
        _sale("d3", "01-20 10:00", "S1", "P3"),
    ),
))

_add("trap_chain_transfer_then_sale", Fixture(
    note="inbound at A, transfer_out A -> transfer_in B, sold at B: legitimate",
    events=frame(
        _stocked("A"),
        ev("t1", "transfer_out", "01-05 09:00", "A", counterparty="B"),
        ev("t2", "transfer_in", "01-05 15:00", "B", counterparty="A"),
        _sale("d1", "02-20 10:00", "B", "P1"),
    ),
))

_add("trap_purchase_return", Fixture(
    note="inbound then returned to the supplier: legitimate",
    events=frame(_stocked("S1"), ev("p1", "purchase_return", "01-09 09:00", "S1", counterparty="国药控股")),
))

_add("trap_double_scan_one_settlement", Fixture(
    note="one sale scanned twice within minutes in one settlement: counted once",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id="X1"),
        _sale("d2", "01-10 10:03", "S1", "P1", settlement_id="X1"),
    ),
))

_add("trap_double_scan_no_settlement", Fixture(
    note="a cash sale scanned twice within minutes to the same patient: counted once",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id=None, fund_amount=None),
        _sale("d2", "01-10 10:06", "S1", "P1", settlement_id=None, fund_amount=None),
    ),
))

_add("trap_double_scan_same_settlement_late", Fixture(
    note="the same settlement scanned the code again 40 minutes later: still one sale",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id="X1"),
        _sale("d2", "01-10 10:40", "S1", "P1", settlement_id="X1"),
    ),
))

# ---------------------------------------------------------------- one sale is one sale (registry.SAME_SALE)

_add("trap_retransmission_at_upload_time", Fixture(
    note="a cash sale's record (B1) sent again under a new msgid 17 hours later, with the upload time as its "
         "time: one sale",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id=None, fund_amount=None, record_no="B1", message_id="M1"),
        _sale("d1r", "01-11 03:00", "S1", "P1", settlement_id=None, fund_amount=None, record_no="B1",
              message_id="M2"),
    ),
))

_add("trap_retransmission_after_a_later_sale", Fixture(
    note="sold to P1 (X1), refunded, sold to P2 (X2); then P1's settlement is reported again (retransmission or "
         "the 进销存 twin of the settlement): one sale of X1, the sale to P2 is the only net sale",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id="X1", record_no="F1", message_id="M1"),
        ev("r1", "refund", "01-12 10:00", "S1", patient_id="P1", settlement_id="X1"),
        _sale("d2", "01-15 10:00", "S1", "P2", settlement_id="X2", record_no="B2", message_id="M3"),
        _sale("d1b", "01-16 01:00", "S1", "P1", settlement_id="X1", record_no="B1", message_id="M4"),
    ),
))

_add("same_record_two_settlements", Fixture(
    note="one record number under two different settlement ids: two sales (a settlement id outweighs a record "
         "number)",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id="X1", record_no="B1"),
        _sale("d2", "01-20 10:00", "S1", "P2", settlement_id="X2", record_no="B1"),
    ),
    expected={f"DUP_DISPENSE:{C1}": {"event_ids": ["d1", "d2"], "source_patients": ["P1"]},
              f"RESURFACE:{C1}": {"event_ids": ["d1", "d2"], "laundering_sites": ["S1"]}},
))

_add("same_record_two_patients", Fixture(
    note="a vendor writing one record number (B0) on every cash sale: the sale to another patient is still a "
         "second sale",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id=None, fund_amount=None, record_no="B0"),
        _sale("d2", "01-20 10:00", "S1", "P2", settlement_id=None, fund_amount=None, record_no="B0"),
    ),
    expected={f"DUP_DISPENSE:{C1}": {"event_ids": ["d1", "d2"], "patients": ["P1", "P2"]},
              f"RESURFACE:{C1}": {"event_ids": ["d1", "d2"], "laundering_sites": ["S1"]}},
))

_add("trap_settlement_cancelled_then_resold", Fixture(
    note="the settlement X1 at S1 was cancelled (NHSA 2208); the pack is then sold at L1: one sale",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id="X1", record_no="F1", message_id="M1"),
        _sale("d2", "01-20 10:00", "L1", "P2", settlement_id="X2", record_no="B2", message_id="M2"),
    ),
    deletions=pd.DataFrame({"key_kind": ["settlement_id"], "settlement_id": ["X1"], "event_type": ["dispense"],
                            "site_id": ["S1"], "msgid": ["C9"], "infno": ["2208"]}),
))

_add("trap_message_reversed", Fixture(
    note="the message M2 that reported the sale at L1 was reversed (NHSA 2601 冲正): it does not count",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", message_id="M1"),
        _sale("d2", "01-20 10:00", "L1", "P2", message_id="M2"),
    ),
    deletions=pd.DataFrame({"key_kind": ["message_id"], "undone_msgid": ["M2"], "site_id": ["L1"],
                            "event_type": [None], "msgid": ["R1"], "infno": ["2601"]}),
))

_add("cancellation_reversed", Fixture(
    note="the cancellation of X1 (message C9) was itself reversed by a 2601: X1 stands, the sale at L1 is a "
         "resale",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", settlement_id="X1", message_id="M1"),
        _sale("d2", "02-01 15:00", "L1", "P2", settlement_id="X2", message_id="M2"),
    ),
    deletions=pd.DataFrame({"key_kind": ["settlement_id", "message_id"], "settlement_id": ["X1", None],
                            "undone_msgid": [None, "C9"], "event_type": ["dispense", None], "site_id": ["S1", "S1"],
                            "msgid": ["C9", "R2"], "infno": ["2208", "2601"]}),
    expected={f"DUP_DISPENSE:{C1}": {"event_ids": ["d1", "d2"], "laundering_sites": ["L1"]},
              f"RESURFACE:{C1}": {"event_ids": ["d1", "d2"], "laundering_sites": ["L1"]}},
))

_add("trap_split_within_pack_units", Fixture(
    note="拆零 7 + 7 tablets of a 14-tablet pack to two patients: exactly one pack",
    products=PRODUCTS,
    events=frame(
        _stocked("S1", product_code=PRODUCT_A),
        _sale("s1", "01-10 10:00", "S1", "P1", product_code=PRODUCT_A, split_sale=True, quantity=7),
        _sale("s2", "01-12 10:00", "S1", "P2", product_code=PRODUCT_A, split_sale=True, quantity=7),
    ),
))

_add("trap_split_pack_units_unknown", Fixture(
    note="拆零 without a products master: the limit cannot be judged, one pack is assumed",
    events=frame(
        _stocked("S1"),
        _sale("s1", "01-10 10:00", "S1", "P1", split_sale=True, quantity=7),
        _sale("s2", "01-12 10:00", "S1", "P2", split_sale=True, quantity=7),
        _sale("s3", "01-14 10:00", "S1", "P3", split_sale=True, quantity=7),
    ),
))

_add("trap_inventory_at_holding_site", Fixture(
    note="stock-taking scans at the site holding the pack, before the sale: legitimate",
    events=frame(_stocked("S1"), ev("v1", "inventory", "01-05 18:00", "S1"), _sale("d1", "01-10 10:00", "S1", "P1")),
))

_add("trap_deleted_sale", Fixture(
    note="the second sale was deleted by an NHSA 3507 message: it does not count",
    events=frame(
        _stocked("S1"),
        _sale("d1", "01-10 10:00", "S1", "P1", record_no="B1"),
        _sale("d2", "01-20 10:00", "L1", "P2", record_no="B2"),
    ),
    deletions=pd.DataFrame({"record_no": ["B2"], "event_type": ["dispense"]}),
))

_add("trap_duplicate_event_id", Fixture(
    note="the same sale line ingested twice (same event_id): counted once",
    events=frame(_stocked("S1"), _sale("d1", "01-10 10:00", "S1", "P1"), _sale("d1", "01-10 10:00", "S1", "P1")),
))

# ---------------------------------------------------------------- NO_PROVENANCE

def _stocked_site(site: str, n: int, start: str = "01-01") -> list[dict]:
    """A site that reports inbound: n other codes received and sold there."""
    rows = []
    for i in range(n):
        code = f"8200002{i:013d}"
        rows.append(ev(f"{site}-in{i}", "inbound", f"{start} 08:00", site, code))
        rows.append(_sale(f"{site}-d{i}", "01-03 10:00", site, f"Q{i}", code))
    return rows


_add("no_provenance", Fixture(
    note="a site that scans its inbound sells a pack it never received, two months into the data",
    events=frame(*_stocked_site("L1", 4), _sale("x1", "03-05 10:00", "L1", "P9", code=C2)),
    expected={f"NO_PROVENANCE:{C2}:L1": {"rule": "NO_PROVENANCE", "sites": ["L1"], "laundering_sites": ["L1"],
                                         "source_sites": [], "source_patients": [], "patients": ["P9"],
                                         "event_ids": ["x1"], "fund_amount": 20.0}},
))

_add("no_provenance_counted_on_the_shelf", Fixture(
    note="a stock-taking scan of the pack at the site is not a receipt: laundered packs are counted too",
    events=frame(*_stocked_site("L1", 4), ev("v1", "inventory", "02-28 20:00", "L1", code=C2),
                 _sale("x1", "03-05 10:00", "L1", "P9", code=C2)),
    expected={f"NO_PROVENANCE:{C2}:L1": {"event_ids": ["x1"]}},
))

_add("trap_no_provenance_opening_stocktake", Fixture(
    note="the pack was listed in the site's opening stock-take (first days of its data): old stock, not a finding",
    events=frame(*_stocked_site("L1", 4), ev("v1", "inventory", "01-01 20:00", "L1", code=C2),
                 _sale("x1", "04-05 10:00", "L1", "P9", code=C2)),
))

_add("no_provenance_counted_in_a_later_stocktake", Fixture(
    note="a stock-take two weeks into the data is not the opening stock-take",
    events=frame(*_stocked_site("L1", 4), ev("v1", "inventory", "01-15 20:00", "L1", code=C2),
                 _sale("x1", "04-05 10:00", "L1", "P9", code=C2)),
    expected={f"NO_PROVENANCE:{C2}:L1": {"event_ids": ["x1"]}},
))

_add("no_provenance_early_at_a_site_with_opening_stocktake", Fixture(
    note="a site that listed its opening stock needs no grace: an unlisted pack sold in week 2 is a finding",
    events=frame(*_stocked_site("L1", 4), ev("v0", "inventory", "01-01 20:00", "L1", code="82000029999999999999"),
                 _sale("x1", "01-12 10:00", "L1", "P9", code=C2)),
    expected={f"NO_PROVENANCE:{C2}:L1": {"event_ids": ["x1"]}},
))

_add("trap_no_provenance_in_grace_period", Fixture(
    note="old stock sold in the first weeks of the data window has no inbound record",
    events=frame(*_stocked_site("L1", 4), _sale("x1", "01-20 10:00", "L1", "P9", code=C2)),
))

_add("trap_no_provenance_site_without_inbound_scans", Fixture(
    note="a site that never reports inbound is not judged",
    events=frame(*[r for r in _stocked_site("L1", 4) if r["event_type"] != "inbound"],
                 _sale("x1", "03-05 10:00", "L1", "P9", code=C2)),
))

_add("trap_provenance_by_transfer_and_refund", Fixture(
    note="received by transfer_in; and a refunded pack back in stock may be sold again",
    events=frame(*_stocked_site("L1", 4),
                 ev("t1", "transfer_in", "02-01 09:00", "L1", code=C2, counterparty="L0"),
                 _sale("x1", "03-05 10:00", "L1", "P9", code=C2),
                 ev("r1", "refund", "03-06 10:00", "L1", code=C2, patient_id="P9"),
                 _sale("x2", "03-09 10:00", "L1", "P8", code=C2)),
))

_add("trap_provenance_by_sender_transfer_out", Fixture(
    note="only the sending site recorded the transfer (transfer_out naming L1): L1 did receive the pack",
    events=frame(*_stocked_site("L1", 4),
                 ev("t0", "inbound", "01-02 09:00", "L0", code=C2),
                 ev("t1", "transfer_out", "02-01 09:00", "L0", code=C2, counterparty="L1"),
                 _sale("x1", "03-05 10:00", "L1", "P9", code=C2)),
))

# ---------------------------------------------------------------- CODE_CONFLICT


def _usual(n: int, product: str = PRODUCT_A) -> list[dict]:
    """n codes with product part 8100001 reported as *product* (teaches the usual product)."""
    return [ev(f"u{i}", "inbound", "01-02 09:00", "S1", f"8100001{i + 100:013d}", product_code=product) for i in range(n)]


_add("code_conflict_two_products", Fixture(
    note="received as product A, sold as product B (串换)",
    events=frame(
        _stocked("S1", product_code=PRODUCT_A),
        _sale("d1", "01-10 10:00", "S2", "P1", product_code=PRODUCT_B, fund_amount=55.0),
    ),
    expected={f"CODE_CONFLICT:{C1}": {"rule": "CODE_CONFLICT", "sites": ["S1", "S2"], "laundering_sites": ["S2"],
                                      "source_patients": ["P1"], "source_prescribers": ["D1"], "source_sites": [],
                                      "event_ids": ["d1", f"in-S1-{C1[-2:]}"], "fund_amount": 55.0}},
))

_add("code_conflict_product_part", Fixture(
    note="five codes with product part 8100001 are product A; one such code is always reported as B",
    events=frame(*_usual(5), _stocked("S1", code=C3, product_code=PRODUCT_B),
                 _sale("d3", "01-10 10:00", "S1", "P1", code=C3, product_code=PRODUCT_B)),
    expected={f"CODE_CONFLICT:{C3}": {"laundering_sites": ["S1"], "event_ids": ["d3", f"in-S1-{C3[-2:]}"]}},
))

_add("trap_code_conflict_weak_support", Fixture(
    note="too few codes to learn the usual product of a product part; nulls are never conflicts",
    events=frame(*_usual(3), _stocked("S1", code=C3, product_code=PRODUCT_B),
                 _sale("d3", "01-10 10:00", "S1", "P1", code=C3, product_code=None)),
))

# ---------------------------------------------------------------- EXPIRED

_add("expired_sale", Fixture(
    note="sold the day after the expiry date carried by the sale",
    events=frame(_stocked("S1"), _sale("d1", "03-02 09:00", "S1", "P1", expiry=pd.Timestamp("2025-03-01").date())),
    expected={f"EXPIRED:{C1}": {"rule": "EXPIRED", "sites": ["S1"], "source_sites": [], "laundering_sites": [],
                                "event_ids": ["d1"], "fund_amount": 20.0}},
))

_add("expired_from_other_event", Fixture(
    note="the sale has no expiry; the inbound scan of the same code has",
    events=frame(_stocked("S1", expiry=pd.Timestamp("2025-02-28").date()), _sale("d1", "03-02 09:00", "S1", "P1")),
    expected={f"EXPIRED:{C1}": {"event_ids": ["d1"]}},
))

_add("expired_from_gs1_code", Fixture(
    note="GS1 code with AI 17 expiry",
    events=frame(
        ev("g0", "inbound", "01-02 09:00", "S1", code="0106901234567892211234567", code_kind="gs1",
           code_product="06901234567892", code_expiry=pd.Timestamp("2025-01-31").date()),
        _sale("g1", "02-01 09:00", "S1", "P1", code="0106901234567892211234567", code_kind="gs1",
              code_product="06901234567892", code_expiry=pd.Timestamp("2025-01-31").date()),
    ),
    expected={"EXPIRED:0106901234567892211234567": {"event_ids": ["g1"]}},
))

_add("trap_sale_on_expiry_day", Fixture(
    note="sold on the expiry day itself (late evening): not expired",
    events=frame(_stocked("S1"), _sale("d1", "03-01 23:30", "S1", "P1", expiry=pd.Timestamp("2025-03-01").date())),
))
