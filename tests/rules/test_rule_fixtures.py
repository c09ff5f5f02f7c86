"""Every hand-written fixture gives exactly the findings it expects (embedded engine)."""

import pandas as pd
import pytest

from rxring.analysis import run_rules
from rxring.options import AnalysisOptions
from rxring.schema import FINDING_COLUMNS, RULES
from tests.rules.fixtures import FIXTURES


def _run(fixture, options=None):
    return run_rules(fixture.events, options or AnalysisOptions(), products=fixture.products,
                     deletions=fixture.deletions)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_findings_exact(name, fixture_findings):
    fixture = FIXTURES[name]
    findings = fixture_findings(name)
    assert tuple(findings.columns) == FINDING_COLUMNS
    assert sorted(findings["finding_id"]) == sorted(fixture.expected), fixture.note
    by_id = findings.set_index("finding_id")
    for finding_id, wanted in fixture.expected.items():
        row = by_id.loc[finding_id]
        for column, value in wanted.items():
            got = row[column]
            if isinstance(value, float):
                assert got == pytest.approx(value), (finding_id, column)
            elif isinstance(value, pd.Timestamp):
                assert pd.Timestamp(got) == value, (finding_id, column)
            elif isinstance(value, list):
                assert list(got) == value, (finding_id, column, list(got))
            else:
                assert got == value, (finding_id, column)


def test_every_rule_and_trap_has_a_fixture():
    fired = {fid.split(":")[0] for fx in FIXTURES.values() for fid in fx.expected}
    assert fired == set(RULES)
    assert sum(1 for name in FIXTURES if name.startswith("trap_")) >= 10


def test_findings_sorted_and_explained():
    events = pd.concat([FIXTURES[n].events.assign(event_id=lambda f, n=n: n + ":" + f["event_id"])
                        for n in ("resold_at_another_site", "expired_sale", "code_conflict_two_products")])
    findings = run_rules(events, AnalysisOptions(), products=None)
    keys = list(zip(findings["rule"], findings["trace_codes"].map(lambda c: c[0]), findings["finding_id"]))
    assert keys == sorted(keys)
    assert findings["explanation"].map(lambda s: isinstance(s, str) and s.endswith(".") and len(s) > 30).all()
    assert findings["event_ids"].map(lambda ids: list(ids) == sorted(ids)).all()


def test_double_scan_window_is_an_option():
    # without settlement ids the window decides; with one settlement id it never matters
    fixture = FIXTURES["trap_double_scan_no_settlement"]
    assert set(_run(fixture, AnalysisOptions(double_scan_minutes=1))["rule"]) == {"DUP_DISPENSE"}
    assert _run(FIXTURES["trap_double_scan_one_settlement"], AnalysisOptions(double_scan_minutes=1)).empty


def test_grace_period_is_an_option():
    fixture = FIXTURES["trap_no_provenance_in_grace_period"]
    assert list(_run(fixture, AnalysisOptions(provenance_grace_days=0))["rule"]) == ["NO_PROVENANCE"]


def test_coverage_threshold_is_an_option():
    fixture = FIXTURES["no_provenance"]
    assert _run(fixture, AnalysisOptions(provenance_min_coverage=0.9)).empty   # 4 of 5 codes received


def test_empty_and_missing_columns():
    empty = FIXTURES["trap_purchase_return"].events.iloc[0:0]
    assert tuple(run_rules(empty, AnalysisOptions()).columns) == FINDING_COLUMNS
    from rxring.errors import RxringError

    with pytest.raises(RxringError, match="site_id"):
        run_rules(FIXTURES["trap_purchase_return"].events.drop(columns=["site_id"]), AnalysisOptions())


def test_deletions_in_ingest_form():
    """ingest stores 3507 deletions as (site_id, record_no, inv_data_type)."""
    fixture = FIXTURES["trap_deleted_sale"]
    ingest_form = pd.DataFrame({"site_id": ["L1"], "record_no": ["B2"], "inv_data_type": ["4"]})
    assert run_rules(fixture.events, AnalysisOptions(), deletions=ingest_form).empty
    other_site = pd.DataFrame({"site_id": ["S1"], "record_no": ["B2"], "inv_data_type": ["4"]})
    assert sorted(run_rules(fixture.events, AnalysisOptions(), deletions=other_site)["rule"]) == ["DUP_DISPENSE", "RESURFACE"]
    purchases_only = pd.DataFrame({"site_id": [None], "record_no": ["B2"], "inv_data_type": ["3"]})
    assert len(run_rules(fixture.events, AnalysisOptions(), deletions=purchases_only)) == 2


def test_timezone_aware_times_are_local_shanghai_time():
    """A sale at 23:30 UTC on the expiry day is 07:30 the next day in Shanghai: expired."""
    fixture = FIXTURES["trap_sale_on_expiry_day"]
    events = fixture.events.copy()
    events["event_time"] = pd.to_datetime(events["event_time"]).dt.tz_localize("UTC")
    assert list(run_rules(events, AnalysisOptions())["rule"]) == ["EXPIRED"]


def test_rule_files_render_for_both_dialects_with_their_sentence():
    from rxring.rules.render import rendered_queries, rule_sql, strip_comments

    for dialect, epoch in (("duckdb", "epoch(e.event_time)"), ("spark", "timestampdiff(MICROSECOND")):
        queries = rendered_queries(AnalysisOptions(provenance_grace_days=7), dialect)
        code = "".join(strip_comments(q) for q in queries.values())
        assert "${" not in code and "EPOCH_SECONDS" not in code
        assert epoch in strip_comments(queries["stage_scan.sql"])
        assert "604800.0" in queries["NO_PROVENANCE.sql"]
    for rule in RULES:   # each file opens with the rule id and its DESIGN §3 sentence
        assert rule_sql(rule).startswith(f"-- {rule} (")
        assert "QUALIFY" not in rule_sql(rule).upper()
