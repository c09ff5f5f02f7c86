"""The offline ring visualisation: graph content, aggregation, escaping, self-containment."""

import json
import re

import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.report.data import load_case, select_rings
from rxring.report.htmlkit import find_external_urls
from rxring.report.viz import ROLE_STYLE, VIS_INERT_URLS, build_ring_graph, write_viz


def _data(html_text):
    match = re.search(r'<script type="application/json" id="ring-data">(.*?)</script>', html_text, re.S)
    return json.loads(match.group(1))


def test_small_ring_graph_roles_edges_and_events(small_case):
    case = load_case(small_case.root)
    graph = build_ring_graph(case, select_rings(case, ["R001"]), lang="en")
    by_id = {n["id"]: n for n in graph.nodes}
    # people are keyed by their alias number (raw ids never reach the page), sites by id
    masker = case.masker()
    patient = f"patient:{masker.alias('11010519900101123X')}"
    prescriber = f"prescriber:{masker.alias('DR-<script>alert(1)</script>')}"
    assert set(by_id) == {
        patient, f"patient:{masker.alias('110105198512125678')}", prescriber, "site:H-001", "site:S-XSS1", "site:S-XSS2",
    }
    assert by_id["site:H-001"]["color"] == ROLE_STYLE["source_site"]["color"]
    assert by_id["site:S-XSS1"]["color"] == ROLE_STYLE["laundering_site"]["color"]
    assert by_id[patient]["shape"] == ROLE_STYLE["patient"]["shape"]
    # size by money: the source site carries all four findings, a laundering site two
    assert by_id["site:H-001"]["value"] == pytest.approx(354.0)
    assert by_id["site:S-XSS1"]["value"] == pytest.approx(177.0)
    edges = {(e["from"], e["to"]): e for e in graph.edges}
    assert len(edges) == 6
    assert edges[("site:H-001", "site:S-XSS1")]["label"] == "2 boxes"
    assert edges[(prescriber, patient)]["value"] == 2
    # labels are masked, ids stay internal keys
    assert by_id[patient]["label"].startswith("110*************3X#")
    # each node lists its events: the laundering site its inbound and dispenses
    events = graph.details["site:S-XSS1"]["events"]
    assert [row[1] for row in events] == ["inbound", "dispense", "inbound", "dispense"]
    assert {row[4] for row in events} == {"", f"P*****R#{masker.alias('P-BUYER')}"}  # the buyer masked
    assert not graph.aggregated


def test_large_ring_is_aggregated_per_site(fixture_case):
    case = load_case(fixture_case.root)
    graph = build_ring_graph(case, select_rings(case, ["R002"]), lang="zh", max_nodes=150)
    assert graph.aggregated and graph.notes
    roles = sorted(n["id"].split(":")[0] for n in graph.nodes)
    assert not any("P00001" in json.dumps(n) for n in graph.nodes)
    assert roles.count("patient_group") == 2 and roles.count("prescriber") == 5 and roles.count("site") == 3
    groups = [n for n in graph.nodes if n["id"].startswith("patient_group:")]
    assert sorted(n["label"] for n in groups)[0].startswith("105 名参保人 @ ")
    # no patient lost: group sizes sum to the ring's 210 patients, money to its fund at risk
    details = [graph.details[n["id"]] for n in groups]
    assert sum(int(dict(d["facts"])["成员"]) for d in details) == 210
    total = sum(n["value"] for n in groups)
    assert total == pytest.approx(9030.0)
    assert len(graph.edges) == 5 * 2 + 2 + 2
    # the same ring without the limit has every patient
    full = build_ring_graph(case, select_rings(case, ["R002"]), lang="zh", max_nodes=10_000)
    assert len(full.nodes) == 218 and not full.aggregated


def test_viz_file_is_self_contained_and_escaped(small_case, tmp_path):
    path = write_viz(small_case.root, ["R001"], tmp_path / "ring.html", lang="en")
    text = path.read_text(encoding="utf-8")
    assert find_external_urls(text, VIS_INERT_URLS) == []
    assert "<script src" not in text and "<link" not in text
    assert "default-src 'none'" in text
    for hostile in ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "<img"):
        assert hostile not in text
    data = _data(text)
    assert len(data["nodes"]) == 6
    assert data["options"]["physics"]["stabilization"]["enabled"] is True
    assert "vis.Network" in text and "stabilizationIterationsDone" in text


def test_inert_urls_exist_only_inside_the_vendored_library():
    from importlib import resources

    vendored = resources.files("rxring.report").joinpath("assets", "vis-network.min.js").read_text(encoding="utf-8")
    found = set(re.findall(r"https?://[^\s\"'<>)]*", vendored))
    assert found == set(VIS_INERT_URLS)


def test_viz_reveal_and_default_output(small_copy):
    path = write_viz(small_copy, ["R001"], reveal_pii=True)
    assert path == small_copy / "viz" / "R001.html"
    assert "11010519900101123X" in path.read_text(encoding="utf-8")


def test_viz_errors(small_case, tmp_path):
    with pytest.raises(RxringError, match="unknown ring"):
        write_viz(small_case.root, ["R404"], tmp_path / "x.html")
    with pytest.raises(RxringError, match="max-nodes"):
        write_viz(small_case.root, ["R001"], tmp_path / "x.html", max_nodes=0)


def test_cli_viz(fixture_case, tmp_path):
    out = tmp_path / "all.html"
    result = CliRunner().invoke(cli, ["viz", "R001", "R002", "-w", str(fixture_case.root), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = _data(out.read_text(encoding="utf-8"))
    # 224 members > 150: R001's two patients become one group at H-001 as well
    assert len(data["nodes"]) == 5 + 10
    assert sum(n["id"].startswith("patient_group:") for n in data["nodes"]) == 3
