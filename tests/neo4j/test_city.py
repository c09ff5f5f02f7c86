"""The session's synthetic city (tests/conftest.py), analysed on Neo4j (the ``neo4j_city``
fixture): the embedded backend's findings and rings, written back into the graph where
the shipped read queries find them."""

from __future__ import annotations

from pandas.testing import assert_frame_equal

from rxring.backends.neo4j.load import graph_counts


def test_city_same_findings_and_rings(city, neo4j_city, neo4j_driver, neo4j_config):
    graph, embedded = neo4j_city.result, city.result
    assert len(embedded.findings) > 0 and len(embedded.rings) > 0
    nodes, _ = graph_counts(neo4j_driver, neo4j_config.database)
    assert nodes["Event"] == embedded.stats["events_used"]

    assert graph.meta["engine"] == "neo4j"
    for key in ("events_read", "events_used", "findings", "findings_by_rule", "rings"):
        assert graph.stats[key] == embedded.stats[key], key   # (events_read: the city has no 3507 deletions)
    assert_frame_equal(graph.findings.reset_index(drop=True), embedded.findings.reset_index(drop=True))
    assert_frame_equal(graph.rings.reset_index(drop=True), embedded.rings.reset_index(drop=True))
    _check_rings_written_back(neo4j_driver, neo4j_config, graph.findings, graph.rings)


def _check_rings_written_back(driver, config, findings, rings):
    """The shipped rings.cypher and ring_boxes.cypher read the rings back from the graph."""
    from rxring.backends.neo4j.queries import run_query

    listed = run_query(driver, "rings", {"limit": 1000}, config.database)
    assert list(listed["ring"]) == list(rings["ring_id"])
    assert list(listed["rank"]) == list(rings["rank"])
    assert list(listed["boxes"]) == list(rings["boxes"])
    assert list(listed["score"]) == list(rings["score"])
    assert list(listed["fund_at_risk"]) == list(rings["fund_at_risk"])
    for column in ("source_patients", "prescribers", "source_sites", "laundering_sites"):
        assert [sorted(v) for v in listed[column]] == [sorted(v) for v in rings[column]], column
    first = rings.iloc[0]
    codes = {c for f in findings[findings["finding_id"].isin(first["finding_ids"])]["trace_codes"] for c in f}
    chains = run_query(driver, "ring_boxes", {"ring": first["ring_id"]}, config.database)
    assert set(chains["trace_code"]) == codes
    assert chains.groupby("trace_code")["step"].apply(lambda s: list(s) == list(range(1, len(s) + 1))).all()


def test_every_read_query_runs_on_the_analysed_city(neo4j_city, neo4j_driver, neo4j_config):
    """Each shipped read file, run as `rxring neo4j run NAME` runs it, answers with the
    columns its header promises (the rule files: their evidence rows)."""
    from rxring.backends.neo4j.queries import run_query
    from rxring.rules.render import cypher_parameters

    from .cypher_files import parameters, read_queries, returned_columns

    options, result = neo4j_city.options, neo4j_city.result
    ring = result.rings.iloc[0]
    flagged = result.findings[result.findings["finding_id"].isin(ring["finding_ids"])].iloc[0]
    values = {**cypher_parameters(options), "limit": 1000, "ring": ring["ring_id"], "code": flagged["trace_codes"][0],
              "site": ring["source_sites"][0], "patient": ring["source_patients"][0],
              "prescriber": ring["prescribers"][0], "offset": 0, "relations": None, "kind": "site",
              "key": ring["laundering_sites"][0]}
    values["ids"] = list(run_query(neo4j_driver, "box_chain", values, neo4j_config.database)["event_id"])
    for name in read_queries():
        assert set(parameters(name)) <= set(values), name
        rows = run_query(neo4j_driver, name, values, neo4j_config.database)
        assert len(rows) > 0, f"{name}.cypher returned nothing on the analysed city"
        promised = returned_columns(name)
        if promised is not None:
            assert list(rows.columns) == promised, name
