"""One sale is one sale, end to end: NHSA messages as institutions send them -> ingest -> analyze.

The same sale reported through both channels (settlement 2207 and 进销存 3505),
a record retransmitted under a new msgid with its upload time, a settlement
cancelled (2208) or a message reversed (2601) before the pack is sold again: none
of these is a second sale (rxring.rules.registry.SAME_SALE, UNDONE).  One real
resale beside them is found, so the quiet is not an analysis that found nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rxring import analyze, load_findings
from rxring.ingest import read_events
from rxring.workspace import Workspace

HOSPITAL, PHARMACY = "H110106987650", "P110105123450"
DRUG = "XB01ACL090A001010100999"
BOTH, RESENT, CANCELLED, REVERSED, RESOLD = (f"8123456000000010000{i}" for i in range(1, 6))


#: tests/fixtures/ingest/one_sale.jsonl, in order: (1) BOTH: a 2204 + 2207 settlement (S0001) at the
#: hospital and the hospital pharmacy's 3505 naming S0001 at day's end; (2) RESENT: a cash 3505 (record
#: B100) sent again 16 hours later under a new msgid; (3) CANCELLED: a settlement cancelled by 2208, then
#: the pack sold at the pharmacy; (4) REVERSED: settled at the hospital, then a pharmacy 3505 reversed by
#: 2601; (5) RESOLD: settled at the hospital, sold again at the pharmacy ten days later (a real resale).
MESSAGES = Path(__file__).parents[1] / "fixtures" / "ingest" / "one_sale.jsonl"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-sale")
    inputs = root / "inputs"
    inputs.mkdir()
    shutil.copy(MESSAGES, inputs / "his-2026-05.jsonl")
    ws = root / "ws"
    analyze(ws, "embedded", inputs=[inputs])
    return ws


def test_the_messages_are_read_whole(analysed):
    (entry,) = Workspace(analysed).manifest()["inputs"]
    assert entry["quarantined"] == 0, entry
    events = read_events(analysed)
    # counted: BOTH x2 (settlement + 3505), RESENT x2, CANCELLED x1 (the settlement is cancelled),
    # REVERSED x1 (the reversed 3505 does not count), RESOLD x2
    assert events.groupby("trace_code").size().to_dict() == {BOTH: 2, RESENT: 2, CANCELLED: 1, REVERSED: 1, RESOLD: 2}


def test_one_sale_reported_twice_or_undone_is_no_finding(analysed):
    findings = load_findings(analysed)
    assert sorted(findings["finding_id"]) == [f"DUP_DISPENSE:{RESOLD}", f"RESURFACE:{RESOLD}"]
    resale = findings.set_index("finding_id").loc[f"DUP_DISPENSE:{RESOLD}"]
    assert list(resale["sites"]) == sorted([HOSPITAL, PHARMACY])
    assert list(resale["source_sites"]) == [HOSPITAL] and list(resale["laundering_sites"]) == [PHARMACY]


def test_the_box_timeline_says_why_an_event_does_not_count(analysed):
    from rxring.results import box_timeline

    notes = {code: list(box_timeline(analysed, code)["note"]) for code in (BOTH, RESENT, CANCELLED, REVERSED)}
    assert notes[BOTH] == ["", "same sale reported again (counted once)"]
    assert notes[RESENT] == ["", "same sale reported again (counted once)"]
    assert notes[CANCELLED][0] == "settlement cancelled (NHSA 2208/2305)" and notes[CANCELLED][1] == ""
    assert notes[REVERSED][-1] == "message reversed (NHSA 2601)"
