"""Hand-made workspaces with planted rings for the identity and exception tests.

Each box is one pack dispensed to a patient at hospital H1 and resold at a laundering
pharmacy the same day (RESURFACE and DUP_DISPENSE on its code); :func:`two_rings`
plants ring A (patients A1, A2, doctor DA, pharmacy L1) and ring B (B1, B2, DB, L2).
"""

from __future__ import annotations

import pandas as pd

from rxring.analysis import analyze
from rxring.backends.duckdb import events_table
from rxring.schema import EVENT_SCHEMA
from rxring.workspace import Workspace
from tests.rules.fixtures import ev

__all__ = ["box", "add_part", "two_rings", "ring_ids_by_patient"]


def box(n: int, patient: str, prescriber: str, laundering: str, month: int) -> list[dict]:
    """The four events of box *n* (code ``810000100…n``, records ``B<n>``), sold to *patient* in *month*."""
    code = f"810000100{n:011d}"
    day = f"{month:02d}-{3 + n % 20:02d}"
    return [
        ev(f"in-{n}", "inbound", f"{day} 08:00", "H1", code),
        ev(f"d-{n}", "dispense", f"{day} 10:00", "H1", code, patient_id=patient, prescriber_id=prescriber,
           settlement_id=f"X{n}", record_no=f"B{n}", fund_amount=20.0, total_amount=30.0),
        ev(f"l-{n}", "inbound", f"{day} 16:00", laundering, code),
        ev(f"s-{n}", "dispense", f"{day} 18:00", laundering, code, patient_id=f"buyer{n}", settlement_id=f"Y{n}",
           fund_amount=20.0, total_amount=30.0),
    ]


def add_part(ws: Workspace, name: str, rows: list[dict]) -> None:
    """Add *rows* (events) to *ws* as the event part *name*."""
    ws.write_event_part(name, events_table(pd.DataFrame(rows)).select(list(EVENT_SCHEMA.names)))


def two_rings(root) -> Workspace:
    """A workspace at *root* holding rings A (boxes 0-2) and B (boxes 3-5), analysed once."""
    ws = Workspace(root, create=True)
    rows = []
    for n, (patient, doctor, site) in enumerate([("A1", "DA", "L1"), ("A2", "DA", "L1"), ("A1", "DA", "L1"),
                                                 ("B1", "DB", "L2"), ("B2", "DB", "L2"), ("B2", "DB", "L2")]):
        rows += box(n, patient, doctor, site, month=1)
    add_part(ws, "january", rows)
    analyze(ws.root, "embedded")
    return ws


def ring_ids_by_patient(ws) -> dict:
    """Source patient -> ring id in the published rings."""
    from rxring.results import load_rings

    return {p: r["ring_id"] for r in load_rings(ws).to_dict("records") for p in r["source_patients"]}
