"""Row accounting: every line is an event or a quarantine row; re-ingest adds nothing."""

from __future__ import annotations

import json
import shutil

from rxring.workspace import Workspace


def _data_lines(path):
    """Physical line numbers (header = 1) of non-blank data lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [i for i, text in enumerate(lines[1:], start=2) if text.strip()]


def test_every_line_is_an_event_or_a_quarantine_row(run_ingest, copy_fixture):
    path = copy_fixture("mixed_good_bad.csv")
    report, events, quarantine = run_ingest(path)
    f = report.files[0]
    assert f.balanced and report.balanced
    assert (f.read, f.accepted, f.quarantined, f.blank) == (12, 4, 8, 1)
    event_lines = set(events["source_line"])
    quarantine_lines = set(quarantine["source_line"])
    assert event_lines.isdisjoint(quarantine_lines)
    assert sorted(event_lines | quarantine_lines) == _data_lines(path)
    # none duplicated: one quarantine row per bad line, one event per code
    assert quarantine["source_line"].is_unique
    assert events.groupby("source_line").size().to_dict() == {2: 1, 11: 2, 13: 1}
    reasons = dict(zip(quarantine["source_line"], quarantine["reason"]))
    assert "20 digits" in reasons[3]
    assert "check digit" in reasons[4]
    assert reasons[5].startswith("unparseable event time 'yesterday' (formats tried: ISO 8601, ")
    assert reasons[6].startswith("negative quantity")
    assert reasons[7] == "row has 3 fields, the header has 5"
    assert reasons[8] == "unknown event type 'teleport'"
    assert reasons[10].startswith("missing site_id")
    assert reasons[12] == "quantity 'x' is not a number"
    # raw text is kept so the investigator sees what was rejected
    assert quarantine.set_index("source_line").loc[7, "raw"] == "81151257914085623277,dispense,2026-03-01 10:00:00"


def test_manifest_stores_the_accounting(run_ingest, copy_fixture):
    path = copy_fixture("mixed_good_bad.csv")
    report, _, _ = run_ingest(path)
    manifest = Workspace(report.workspace).manifest()
    (entry,) = manifest["inputs"]
    assert entry["sha256"] == report.files[0].sha256 and len(entry["sha256"]) == 64
    assert entry["size"] == path.stat().st_size
    assert (entry["format"], entry["read"], entry["accepted"], entry["quarantined"]) == ("csv", 12, 4, 8)
    assert entry["part"] == f"part-{entry['sha256'][:16]}.parquet"
    assert manifest["totals"]["read"] == manifest["totals"]["accepted"] + manifest["totals"]["quarantined"]


def test_reingest_adds_nothing_and_new_files_append(run_ingest, copy_fixture, tmp_path):
    ws = tmp_path / "ws"
    first, events1, quarantine1 = run_ingest(copy_fixture("mixed_good_bad.csv"), workspace=ws)
    again, events2, quarantine2 = run_ingest(copy_fixture("mixed_good_bad.csv"), workspace=ws)
    assert again.files[0].status == "already ingested"
    assert (again.read, again.accepted, again.quarantined) == (0, 0, 0)
    assert len(events2) == len(events1) and len(quarantine2) == len(quarantine1)
    # the same bytes under another name are recognised too
    renamed = tmp_path / "copy.csv"
    shutil.copy(copy_fixture("mixed_good_bad.csv"), renamed)
    third, events3, _ = run_ingest(renamed, workspace=ws)
    assert third.files[0].status == "already ingested" and "same content" in third.files[0].message
    assert len(events3) == len(events1)
    # a new file appends
    fourth, events4, quarantine4 = run_ingest(copy_fixture("sales_gbk.csv"), workspace=ws)
    assert fourth.files[0].status == "ingested"
    assert len(events4) == len(events1) + 4 and len(quarantine4) == len(quarantine1)
    assert len(Workspace(ws).manifest()["inputs"]) == 2
    assert len(Workspace(ws).event_parts()) == 2


def test_event_ids_are_deterministic_across_workspaces(run_ingest, copy_fixture, tmp_path):
    _, a, _ = run_ingest(copy_fixture("sales_gbk.csv"), workspace=tmp_path / "a")
    _, b, _ = run_ingest(copy_fixture("sales_gbk.csv"), workspace=tmp_path / "b")
    assert a["event_id"].tolist() == b["event_id"].tolist()


def test_folder_of_mixed_files_balances(run_ingest, fixtures, tmp_path):
    folder = tmp_path / "inputs"
    shutil.copytree(fixtures, folder)
    (folder / "notes.txt").write_text("just some notes\n", encoding="utf-8")
    (folder / "empty.csv").write_bytes(b"")
    (folder / "junk.bin").write_bytes(bytes(range(256)) * 20)
    (folder / "sub").mkdir()
    (folder / "sub" / "truncated.jsonl").write_text('{"infno": "3505", "msgid": "Q"\n', encoding="utf-8")
    report, events, quarantine = run_ingest(folder)
    assert report.balanced
    assert report.read == report.accepted + report.quarantined + report.skipped  # nhsa_channels.jsonl: a 9001 sign-in
    assert len(quarantine) == report.quarantined
    statuses = {f.path.rsplit("/", 1)[-1]: f.status for f in report.files}
    assert statuses["notes.txt"] == "unknown format"
    assert statuses["empty.csv"] == "empty"
    assert statuses["junk.bin"] == "unknown format"
    assert statuses["truncated.jsonl"] == "ingested"
    assert report.usable


def test_interrupted_ingest_leaves_no_half_counted_input(run_ingest, copy_fixture, tmp_path, monkeypatch):
    import rxring.ingest.pipeline as pipeline

    ws = tmp_path / "ws"
    calls = {"n": 0}
    real = pipeline.normalise

    def boom(*args, **kwargs):
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "normalise", boom)
    try:
        run_ingest(copy_fixture("sales_gbk.csv"), workspace=ws)
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(pipeline, "normalise", real)
    assert calls["n"] == 1
    assert not Workspace(ws).event_parts() and not (ws / "quarantine.csv").exists()
    report, events, _ = run_ingest(copy_fixture("sales_gbk.csv"), workspace=ws)
    assert report.files[0].status == "ingested" and len(events) == 4
    assert json.loads((ws / "manifest.json").read_text(encoding="utf-8"))["inputs"][0]["accepted"] == 4
