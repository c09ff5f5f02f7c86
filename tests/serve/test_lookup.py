"""The look-up copies (:func:`rxring.results.build_lookup`) answer exactly as the events do, only faster."""

from __future__ import annotations

import shutil

import pandas as pd

from rxring import results


def _answers(ws, case) -> dict:
    code = case.small_ring_codes[0]
    out = {}
    for kind, key in [("site", "S-BIG"), ("site", "H-001"), ("site", "S-XSS1"), ("patient", "P00001"),
                      ("patient", "11010519900101123X"), ("prescriber", "DOC1")]:
        out[("neighbours", kind, key)] = results.actor_neighbours(ws, kind, key).sort_values(
            ["relation", "id"]).reset_index(drop=True)
    for kind, key in [("site", "S-BIG"), ("code", code), ("settlement", "SETL000002"), ("patient", "P00003"),
                      ("prescriber", "DOC2")]:
        frame = results.actor_events(ws, kind, key)
        out[("events", kind, key)] = frame[[c for c in frame.columns if c in (
            "event_id", "trace_code", "event_type", "event_time", "site_id", "patient_id", "prescriber_id",
            "settlement_id", "fund_amount", "source_file", "source_line")]]
        out[("weeks", kind, key)] = pd.DataFrame(list(results.actor_weeks(ws, kind, key).items()),
                                                  columns=["week", "events"])
    for text in ("S-", "1101051", code, "SETL00000"):
        out[("match", text)] = results.match_ids(ws, text)
    out[("box", code)] = results.box_report(ws, code).events
    out["counts"] = pd.DataFrame([results.event_counts(ws)])
    return out


def test_lookup_copies_give_the_same_answers(serve_case, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(serve_case.root, ws)
    before = _answers(ws, serve_case)
    folder = results.build_lookup(ws)
    assert (folder / "done").exists() and folder == results.lookup_dir(ws)
    assert results.build_lookup(ws) == folder          # once per ingest state
    after = _answers(ws, serve_case)
    for key, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[key], check_dtype=False, obj=str(key))
    assert len(before[("neighbours", "site", "S-BIG")]) > 0 and before[("match", "S-")]["id"].tolist()
    assert before[("weeks", "site", "S-BIG")]["events"].sum() == 210


def test_a_new_ingest_state_is_never_read_from_old_copies(serve_case, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(serve_case.root, ws)
    old = results.build_lookup(ws)
    (ws / "masters" / "products.parquet").write_bytes(b"")   # any change of the data changes the state
    assert results.lookup_dir(ws) != old
    assert results.actor_events(ws, "site", "S-XSS1").shape[0] == 4   # read from the events again
