"""The ring explorer keeps to its node budget: people grouped as `rxring viz --max-nodes` groups them,
group nodes show their count and give their members a page at a time (API, ASGI client)."""

from __future__ import annotations

import pytest

from rxring import results
from rxring.report.data import load_case, select_rings
from rxring.report.viz_graph import build_ring_graph
from rxring.serve.graph import EXPAND_PAGE


def _page_through(client, ring: str, group: dict, drawn: set) -> list[str]:
    """Expand *group* until nothing is left of it; the members it gave, in order."""
    members, page, remaining = [], 0, group["count"]
    while True:
        answer = client.get(f"/api/ring/{ring}/expand", params={"node": group["id"], "page": page}).json()
        ids = [n["id"] for n in answer["nodes"]]
        assert 0 < len(ids) <= EXPAND_PAGE
        members += ids
        drawn |= set(ids)
        for edge in answer["edges"]:       # every edge joins a member of this page to something drawn
            assert {edge["source"], edge["target"]} <= drawn, edge
            assert set(ids) & {edge["source"], edge["target"]}
        assert answer["group"]["id"] == group["id"]
        assert answer["group"]["remaining"] == remaining - len(ids)
        remaining = answer["group"]["remaining"]
        if not remaining:
            return members
        assert str(remaining) in answer["group"]["label"]
        page = answer["group"]["next"]


def test_a_ring_over_the_budget_is_grouped_and_its_groups_page_out(client, app, serve_case):
    """R002 has 210 source patients: over the budget of 150, they come as one group per source site."""
    bench = app.state.bench
    assert bench.max_nodes == 150
    ring = bench.ring("R002")
    graph = client.get("/api/ring/R002/graph").json()
    assert graph["grouped"] and len(graph["nodes"]) <= bench.max_nodes
    groups = [n for n in graph["nodes"] if n["role"] == "patient_group"]
    assert groups and all(str(g["count"]) in g["label"] for g in groups)
    assert sum(g["count"] for g in groups) == len(ring["source_patients"])
    drawn = {n["id"] for n in graph["nodes"]}
    assert all({e["source"], e["target"]} <= drawn for e in graph["edges"])
    assert not any(n["id"].startswith("patient:") for n in graph["nodes"])

    members = []
    for group in groups:
        members += _page_through(client, "R002", group, set(drawn))
    wanted = {f"patient:{bench.ref('patient', p)}" for p in ring["source_patients"]}
    assert len(members) == len(set(members)) and set(members) == wanted     # each patient exactly once
    text = client.get("/api/ring/R002/expand", params={"node": groups[0]["id"], "page": 0}).text
    assert not any(p in text for p in ring["source_patients"])               # people masked

    small = client.get("/api/ring/R001/graph").json()
    assert not small["grouped"] and not any("count" in n for n in small["nodes"])


def test_the_budget_groups_as_rxring_viz_does(app, serve_case, monkeypatch):
    """The same rule (rxring.report.graph_groups) gives the same groups in the report's graph and the workbench's,
    at any budget (at 8, prescribers are grouped too)."""
    from rxring.serve.graph import ring_graph

    bench = app.state.bench
    case = load_case(serve_case.root)
    for budget in (150, 8):
        monkeypatch.setattr(bench, "max_nodes", budget)
        served = ring_graph(bench, "R002", "en")
        report = build_ring_graph(case, select_rings(case, ["R002"]), lang="en", max_nodes=budget)
        assert {n["id"] for n in served["nodes"] if "count" in n} == {n["id"] for n in report.nodes if "_group:" in n["id"]}
        assert len(served["nodes"]) == len(report.nodes)
    assert any(n["role"] == "prescriber_group" for n in served["nodes"])


def test_expanding_a_busy_site_groups_a_relation_and_pages_it(client, app):
    """S-BIG received packs from 210 patients: expanding it gives one group node with the count, not 210 nodes;
    the group pages out exactly the patients the events name, strongest first."""
    answer = client.get("/api/ring/R002/expand", params={"node": "site:S-BIG"}).json()
    assert answer["group"] is None and len(answer["nodes"]) <= 3 * EXPAND_PAGE
    group = next(n for n in answer["nodes"] if n["id"] == "near:source_patient:site:S-BIG")
    assert group["count"] == 210 and group["role"] == "patient_group" and not group["inRing"]
    assert "210" in group["label"]
    edge = next(e for e in answer["edges"] if group["id"] in (e["source"], e["target"]))
    assert edge["source"] == group["id"] and edge["target"] == "site:S-BIG" and edge["boxes"] >= 210

    members = _page_through(client, "R002", group, {"site:S-BIG", group["id"]})
    bench = app.state.bench
    events = results.actor_neighbours(bench.ws, "site", "S-BIG", limit=1000, relations=["source_patient"])
    assert members == [f"patient:{bench.ref('patient', p)}" for p in events["id"]]


@pytest.mark.parametrize("node", ["patient_group:site:NOPE", "near:no_such_relation:site:S-BIG", "near:source_site:x"])
def test_an_unknown_group_is_a_404(client, node):
    response = client.get("/api/ring/R002/expand", params={"node": node})
    assert response.status_code == 404 and "not found" in response.json()["error"]
