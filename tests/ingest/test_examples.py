"""The shared examples (NHSA messages in the wild shapes, master tables) ingest cleanly."""

from __future__ import annotations

import pandas as pd

from rxring.workspace import Workspace


def test_examples_folder(run_ingest, fixtures):
    report, events, quarantine = run_ingest(fixtures / "examples")
    by_name = {f.path.rsplit("/", 1)[-1]: f for f in report.files}
    nhsa = by_name["nhsa-messages.jsonl"]
    assert (nhsa.format, nhsa.read, nhsa.accepted, nhsa.quarantined) == ("nhsa-jsonl", 98, 98, 0)
    assert by_name["README.md"].status == "unknown format"
    assert by_name["sites.csv"].table == "masters/sites" and by_name["sites.csv"].accepted == 4
    assert by_name["products.csv"].table == "masters/products" and by_name["products.csv"].accepted == 16
    assert quarantine.empty and report.balanced
    assert events["event_type"].value_counts().to_dict() == {
        "inbound": 81, "dispense": 9, "refund": 3, "transfer_out": 2, "transfer_in": 2, "purchase_return": 1}
    assert (events["code_kind"] == "cn20").all()
    # the 拆零 lines keep their quantity in smallest units
    split = events[events["split_sale"]].set_index("trace_code")
    assert split.loc["82105488001170061166", "quantity"] == 7.0
    assert round(split.loc["82105488001170061166", "total_amount"], 4) == round(4.6429 * 7, 4)
    # the whole-pack line listing 3 codes: each one pack, price shared
    three = events[events["event_id"].str.startswith("H1115565203120260305154900000151")]
    assert len(three) == 3 and (three["quantity"] == 1.0).all() and (three["total_amount"] == 98.0).all()
    # the chain transfer: out of one site, into the other
    transfer = events[events["trace_code"] == "84918236846903402768"].sort_values("event_time")
    assert transfer["event_type"].tolist() == ["transfer_out", "transfer_in"]
    assert transfer["event_time"].tolist() == [pd.Timestamp("2026-03-05 18:44:03"), pd.Timestamp("2026-03-06 00:44:03")]
    assert Workspace(report.workspace).master("products")["pack_units"].sum() == 281
