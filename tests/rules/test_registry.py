"""Every text that says what a rule means agrees with the rule registry (rxring.rules.registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxring.report.i18n import rule_text
from rxring.rules.registry import NO_PROVENANCE_TERMS, REGISTRY, RULE_IDS, rule, rule_table_markdown
from rxring.rules.render import cypher_text, rule_sql
from rxring.schema import RULES

ROOT = Path(__file__).resolve().parents[2]


def _header(text: str, comment: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith(comment):
            break
        lines.append(line[len(comment):].strip())
    return " ".join(" ".join(lines).split())


def test_schema_rules_are_the_registry():
    assert RULES == RULE_IDS == tuple(r.id for r in REGISTRY)
    assert len(set(RULE_IDS)) == len(RULE_IDS)


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda r: r.id)
def test_query_headers_state_the_registry_sentence(entry):
    expected = f"{entry.id} ({entry.name_zh}): {entry.sentence_en}"
    for text, comment in ((rule_sql(entry.id), "--"), (cypher_text(entry.id), "//")):
        header = _header(text, comment)
        assert header.startswith(expected), f"{entry.id}: header {header[:200]!r} does not start with {expected!r}"


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda r: r.id)
def test_report_texts_come_from_the_registry(entry):
    assert rule_text(entry.id, "zh") == f"{entry.name_zh}：{entry.sentence_zh}"
    assert rule_text(entry.id, "en").lower() == entry.sentence_en.lower()


def test_readme_rule_table_is_the_registry_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert rule_table_markdown() in readme, "README's rule table differs from rxring.rules.registry.rule_table_markdown()"


def test_no_provenance_coverage_is_defined_once():
    """Coverage counts inbound, transfer_in and a transfer_out naming the site (not refunds), as the SQL does."""
    coverage = NO_PROVENANCE_TERMS["coverage"][0]
    assert "inbound" in coverage and "transfer_in" in coverage and "transfer_out naming it" in coverage
    assert "refund" not in coverage
    code_site = (ROOT / "rxring" / "rules" / "sql" / "stage_code_site.sql").read_text(encoding="utf-8")
    assert "WHEN s.event_type IN ('inbound', 'transfer_in') THEN 1" in code_site
    no_provenance = rule_sql("NO_PROVENANCE")
    for text, comment in ((no_provenance, "--"), (cypher_text("NO_PROVENANCE"), "//")):
        header = _header(text, comment)
        assert "NO_PROVENANCE_TERMS" in header
        assert "inbound or transfer_in record at the site, or a transfer_out elsewhere naming the site" in header


def test_explanations_fill_every_field():
    import pandas as pd

    from rxring.rules.findings import explain

    row = pd.Series({"rule": "", "trace_code": "81000000000000000001", "note": "", "sites": ["S1"],
                     "source_sites": ["S1"], "laundering_sites": ["S2", "S3", "S4", "S5"], "products": ["A", "B"],
                     "laundering_types": ["dispense"], "first_time": pd.Timestamp("2025-01-02"),
                     "last_time": pd.Timestamp("2025-02-03"), "source_time": pd.Timestamp("2025-01-02"),
                     "laundering_time": pd.Timestamp("2025-02-03")})
    notes = {"DUP_DISPENSE": "2", "RESURFACE": "", "NO_PROVENANCE": "3/10", "CODE_CONFLICT": "A|7|8",
             "EXPIRED": "2025-01-01"}
    for rule_id in RULE_IDS:
        for lang in ("en", "zh"):
            text = explain(row.copy().rename(None).to_frame().T.assign(rule=rule_id, note=notes[rule_id])
                           .itertuples(index=False).__next__(), lang)
            assert "{" not in text and "81000000000000000001" in text, (rule_id, lang, text)
    en = explain(next(row.to_frame().T.assign(rule="RESURFACE").itertuples(index=False)))
    assert en.endswith("on 2025-02-03, 32 days later.") and "S2, S3, S4 and 1 more" in en
    assert rule("RESURFACE").explanation_en.startswith("Trace code {code}")


def test_every_option_of_the_rules_is_a_parameter_the_queries_use():
    """Each rule threshold of AnalysisOptions changes the SQL and the Cypher parameters (one render of the SQL
    files for DuckDB and Spark: rxring.rules.render), and every parameter is used by some query file."""
    import re
    from dataclasses import fields

    from rxring.options import AnalysisOptions
    from rxring.rules.render import STAGES, cypher_names, cypher_parameters, sql_parameters, stage_sql

    default = AnalysisOptions()
    ring_options = {"seed", "split_above", "min_modularity", "merge_share", "louvain_resolution", "ring_rules"}
    for field in fields(AnalysisOptions):
        if field.name in ring_options:
            continue
        value = getattr(default, field.name)
        other = ("inbound",) if isinstance(value, tuple) else value + 1 if isinstance(value, int) else value / 2
        changed = AnalysisOptions(**{field.name: other})
        assert sql_parameters(changed) != sql_parameters(default), field.name
        assert cypher_parameters(changed) != cypher_parameters(default), field.name
    sql = "\n".join([*(stage_sql(s) for s in STAGES), *(rule_sql(r) for r in RULES)])
    assert set(sql_parameters(default)) == set(re.findall(r"\$\{(\w+)\}", sql))
    cypher = "\n".join(cypher_text(name) for name in cypher_names())
    assert set(cypher_parameters(default)) <= set(re.findall(r"\$(\w+)", cypher))
