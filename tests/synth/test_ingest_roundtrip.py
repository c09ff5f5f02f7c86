"""Every output format goes through the real ingest path with nothing quarantined,
and the rules read on the ingested events give exactly the expected findings."""

from __future__ import annotations

import pytest

import rxring.ingest as ingest_mod
from rxring.synth import reference_findings
from rxring.workspace import Workspace


@pytest.mark.parametrize("fmt", ["nhsa", "nhsa-settlement", "csv", "parquet", "epcis"])
def test_format_ingests_cleanly_and_keeps_the_truth(make_city, tmp_path, fmt):
    # NHSA in the styles that report each event once (the mixed style's repeats: test_nhsa_styles.py)
    fmt, _, style = fmt.partition("-")
    city = make_city(fmt, nhsa_style=style or "single") if fmt == "nhsa" else make_city(fmt)
    ws = Workspace(tmp_path / "ws", create=True)
    report = ingest_mod.ingest([city.inputs], ws, progress=False)
    files = report.files
    assert sum(f.quarantined for f in files) == 0, [(f.path, f.quarantined) for f in files if f.quarantined]
    events_files = [f for f in files if f.table == "events"]
    assert len(events_files) == len(list(city.inputs.glob("*-*.*")))
    assert sum(f.events for f in events_files) == city.truth["counts"]["events"]
    assert {f.table for f in files} >= {"masters/sites", "masters/products"}
    events = ingest_mod.read_events(ws)
    assert len(events) == city.truth["counts"]["events"]
    found = {(f["rule"], f["trace_code"]) for f in reference_findings(events, city.pack_units)}
    expected = {(f["rule"], f["trace_code"]) for f in city.truth["expected_findings"]}
    assert found == expected
    ring_codes = {c for r in city.truth["rings"] for c in r["trace_codes"]}
    assert ring_codes <= set(events.trace_code)
    brokers = {b for r in city.truth["rings"] for b in r["members"]["brokers"]}
    assert brokers and brokers <= set(events.counterparty.dropna())
    ids = set(events.site_id) | set(events.patient_id.dropna()) | set(events.prescriber_id.dropna())
    for ring in city.truth["rings"]:
        members = ring["members"]
        assert set(members["source_sites"]) | set(members["laundering_sites"]) <= ids
        assert set(members["source_patients"]) | set(members["prescribers"]) <= ids
