"""Triage (rxring.cases.triage): what explains the repeats of a code on which no rule fired.

Each hand-written rule fixture that is a trap (no finding) is put in a workspace of its
own; :func:`explain` must name the cause the fixture plants, in Chinese and English,
and the events it rests on.
"""

from __future__ import annotations

import pytest

from rxring.analysis import analyze
from rxring.cases.triage import KINDS, explain, kind
from rxring.errors import RxringError
from rxring.rules.registry import SAME_SALE, UNDONE
from tests.neo4j.graph_data import make_workspace
from tests.rules.fixtures import C1, FIXTURES

#: fixture -> (the cause it plants, events that cause must name, kinds that must not be found)
CASES = {
    "trap_refund_then_resale": ("refund_resale", {"d1", "r1", "d2"}, {"unexplained"}),
    "trap_refund_twice_resale_twice": ("refund_resale", {"r1", "r2", "d3"}, {"unexplained"}),
    "trap_chain_transfer_then_sale": ("chain_transfer", {"t1", "d1"}, {"unexplained"}),
    "trap_double_scan_one_settlement": ("same_sale", {"d2"}, {"unexplained"}),
    "trap_retransmission_at_upload_time": ("same_sale", {"d1r"}, {"unexplained"}),
    "trap_duplicate_event_id": ("same_sale", {"d1"}, {"unexplained"}),
    "trap_deleted_sale": ("undone", {"d2"}, {"unexplained"}),
    "trap_settlement_cancelled_then_resold": ("undone", {"d1"}, {"unexplained"}),
    "trap_split_within_pack_units": ("split_within_pack", {"s1", "s2"}, {"unexplained"}),
    "trap_split_pack_units_unknown": ("split_within_pack", {"s1", "s2", "s3"}, {"unexplained"}),
    "trap_purchase_return": ("purchase_return", {"p1"}, {"unexplained"}),
}


def _workspace(tmp_path, name):
    fixture = FIXTURES[name]
    ws = make_workspace(tmp_path / name, fixture.events, products=fixture.products)
    if fixture.deletions is not None:
        fixture.deletions.to_parquet(ws.deletions_path, index=False)
    return ws


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_trap_is_explained_by_its_cause(tmp_path, name):
    cause, events, absent = CASES[name]
    ws = _workspace(tmp_path, name)
    result = analyze(ws.root, "embedded")
    assert len(result.findings) == 0, name   # a trap: no rule fired
    triage = explain(ws.root, C1)
    assert triage.finding_ids == [] and triage.trace_code == C1
    kinds = [e.kind for e in triage.explanations]
    assert cause in kinds, (name, kinds)
    assert not absent & set(kinds), (name, kinds)
    mine = [e for e in triage.explanations if e.kind == cause]
    assert events <= {i for e in mine for i in e.event_ids}, (name, mine)
    for explanation in triage.explanations:
        assert explanation.zh and explanation.en and explanation.zh != explanation.en
        assert "P1" not in explanation.zh + explanation.en   # no patient id in the sentences
    assert triage.bilingual().startswith(triage.text("zh")) and triage.text("en") in triage.bilingual()


def test_split_sales_name_the_pack_size(tmp_path):
    ws = _workspace(tmp_path, "trap_split_within_pack_units")
    (split,) = [e for e in explain(ws.root, C1).explanations if e.kind == "split_within_pack"]
    assert "14" in split.zh and "14-unit pack" in split.en and "2 split sales at S1, 14 units" in split.en


def test_a_code_with_findings_lists_them_beside_its_unexplained_sales(tmp_path):
    """Two counted sales at two sites: the rules fire, the findings are listed, and no innocent cause is found."""
    ws = _workspace(tmp_path, "resold_at_another_site")
    analyze(ws.root, "embedded")
    triage = explain(ws.root, C1)
    assert triage.finding_ids == [f"DUP_DISPENSE:{C1}", f"RESURFACE:{C1}"]
    assert [e.kind for e in triage.explanations] == ["unexplained"]
    assert "2 counted sales" in triage.explanations[0].en


def test_a_code_sold_once_has_one_counted_sale(tmp_path):
    ws = _workspace(tmp_path, "trap_inventory_at_holding_site")
    triage = explain(ws.root, C1)   # not analysed: default options, no findings
    assert [e.kind for e in triage.explanations] == ["single_sale"]
    assert "1 counted sale(s) among 3 records" == triage.explanations[0].en


def test_an_unknown_code_is_one_clear_error(tmp_path):
    ws = _workspace(tmp_path, "trap_purchase_return")
    with pytest.raises(RxringError, match="does not occur in workspace"):
        explain(ws.root, "81000010000000000099")


def test_the_kinds_are_written_once_with_the_registry_sentences():
    assert len({k.id for k in KINDS}) == len(KINDS)
    assert (kind("same_sale").sentence_en, kind("same_sale").sentence_zh) == SAME_SALE
    assert (kind("undone").sentence_en, kind("undone").sentence_zh) == UNDONE
    for entry in KINDS:
        assert entry.name_zh and entry.name_en and entry.sentence_zh and entry.template_zh and entry.template_en


def test_nhsa_messages_one_sale_reported_twice_or_undone(tmp_path):
    """tests/fixtures/ingest/one_sale.jsonl as institutions send it (see tests/analyze/test_one_sale.py):
    both channels and a retransmission are the same sale, a cancelled settlement and a reversed message are
    undone, and the real resale beside them keeps its findings and no innocent cause."""
    import shutil
    from pathlib import Path

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "ingest" / "one_sale.jsonl", inputs / "his-2026-05.jsonl")
    ws = tmp_path / "ws"
    analyze(ws, "embedded", inputs=[inputs])
    both, resent, cancelled, reversed_, resold = (f"8123456000000010000{i}" for i in range(1, 6))
    kinds = {code: [e.kind for e in explain(ws, code).explanations] for code in (both, resent, cancelled, reversed_)}
    assert kinds[both][0] == "same_sale" and kinds[resent][0] == "same_sale"
    assert kinds[cancelled][0] == "undone" and kinds[reversed_][0] == "undone"
    assert all("unexplained" not in k for k in kinds.values()), kinds
    assert "NHSA" not in explain(ws, both).text("zh")   # the sentence, not the raw note
    resale = explain(ws, resold)
    assert resale.finding_ids == [f"DUP_DISPENSE:{resold}", f"RESURFACE:{resold}"]
    assert [e.kind for e in resale.explanations] == ["unexplained"]


def test_a_transfer_whose_sender_was_not_reported_says_so_in_words():
    """A transfer_in without its counterparty: the sentence names no '?', it says the sender was not reported."""
    import pandas as pd

    from rxring.cases.triage import explain_timeline

    timeline = pd.DataFrame({
        "event_id": ["t1", "d1"], "event_type": ["transfer_in", "dispense"], "site_id": ["P2", "P2"],
        "counterparty": [None, None], "event_time": pd.to_datetime(["2025-02-11 09:00", "2025-02-12 10:00"]),
        "note": ["", ""], "split_sale": [False, False]})
    [transfer] = [e for e in explain_timeline(timeline) if e.kind == "chain_transfer"]
    assert transfer.zh == "未报调出机构 于 2025-02-11 调拨至 P2，P2 之后销售"
    assert transfer.en == "transferred from a site not reported to P2 on 2025-02-11, then sold at P2"
