"""`rxring serve --backend neo4j`: box, site, patient and prescriber pages and the ring explorer's expand
read the graph, and show what the embedded backend shows on the same events (differential test).

The graph is the session's city analysed on Neo4j (``neo4j_city``).  It holds the events the rules
count (the loader leaves out NHSA deletions and repeated event ids, which the embedded pages list with
a note), so both apps serve a workspace of the city's counted events (pages such as a site's events per
week read the workspace on either backend); the neo4j app's look-ups read the graph."""

from __future__ import annotations

import difflib
import json
import re
import shutil

import pytest
from starlette.testclient import TestClient

from rxring.serve import create_app

#: A person's link (``/patient/<ref>``): refs are per app (an HMAC under a secret made at start).
REF = re.compile(r"(patient|prescriber)(/|:|%2F)([0-9a-f]{20})")
#: A form's token, per session.
CSRF = re.compile(r'name="csrf" value="[^"]*"')


@pytest.fixture(scope="module")
def served(city, tmp_path_factory):
    """(workspace, analysis result): the city's counted events as a workspace, analysed on the embedded
    backend (the same findings and rings as the city: what does not count is not judged)."""
    from rxring.analysis import analyze
    from rxring.backends.duckdb import counted_events
    from rxring.options import AnalysisOptions
    from rxring.workspace import Workspace

    source = Workspace(city.workspace)
    ws = Workspace(tmp_path_factory.mktemp("serve-counted") / "ws", create=True)
    shutil.copytree(source.masters_dir, ws.masters_dir, dirs_exist_ok=True)
    ws.write_event_part("counted", counted_events(source))
    result = analyze(ws.root, "embedded", AnalysisOptions.from_dict(city.result.meta["options"]))
    return ws.root, result


@pytest.fixture
def apps(served, neo4j_city, neo4j_config):
    """(embedded app, neo4j app) over the counted workspace; the neo4j app's look-ups read the graph, which
    holds the city's analysis (``neo4j_city``), i.e. these same counted events."""
    embedded = create_app(served[0], user="tester")
    graph = create_app(served[0], user="tester", backend="neo4j", neo4j=neo4j_config)
    yield embedded, graph
    graph.state.bench.lookups.close()


def _client(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    client.get(f"/login?token={app.state.store.token}", follow_redirects=False)
    return client


def _same_refs(text: str, bench) -> str:
    """*text* with every person's ref replaced by the id it stands for, so two apps' pages compare."""
    return REF.sub(lambda m: f"{m.group(1)}{m.group(2)}<{bench.resolve(m.group(1), m.group(3))}>", text)


def _lines(response) -> str:
    """A page's text; a JSON answer one value a line (so a difference names its key)."""
    if response.headers["content-type"].startswith("application/json"):
        return json.dumps(response.json(), indent=1, ensure_ascii=False, sort_keys=True)
    return response.text


def _urls(bench, result) -> list[str]:
    ring = result.rings.iloc[0]
    findings = result.findings[result.findings["finding_id"].isin(ring["finding_ids"])]
    codes = sorted({c for cs in findings["trace_codes"] for c in cs})[:6]
    patients = ring["source_patients"][:3]
    prescribers = ring["prescribers"][:2]
    sites = ring["source_sites"][:2] + ring["laundering_sites"][:2]
    nodes = ([f"site:{s}" for s in sites] + [f"patient:{bench.ref('patient', p)}" for p in patients]
             + [f"prescriber:{bench.ref('prescriber', p)}" for p in prescribers])
    return ([f"/box/{c}" for c in codes] + [f"/site/{s}" for s in sites]
            + [f"/patient/{bench.ref('patient', p)}" for p in patients]
            + [f"/prescriber/{bench.ref('prescriber', p)}" for p in prescribers]
            + [f"/api/ring/{ring['ring_id']}/expand?node={n}" for n in nodes]
            + [f"/api/ring/{ring['ring_id']}/node?node={n}" for n in nodes])


def test_the_pages_read_the_graph(apps, served, city, neo4j_config):
    embedded, graph = apps
    # the two workspaces served: the same findings and rings
    assert served[1].findings["finding_id"].tolist() == city.result.findings["finding_id"].tolist()
    assert served[1].rings["ring_id"].tolist() == city.result.rings["ring_id"].tolist()
    assert embedded.state.bench.lookups.backend == "embedded"
    assert graph.state.bench.lookups.backend == "neo4j" and graph.state.bench.lookups.where == neo4j_config.describe()
    code = served[1].findings.iloc[0]["trace_codes"][0]
    chain = graph.state.bench.lookups.box_events(code)
    assert list(chain["trace_code"].unique()) == [code] and chain["source_file"].str.len().min() > 0


def test_every_page_shows_the_same_with_either_backend(apps, served):
    """The same events served on each backend: the pages of the first ring's boxes, sites, patients and
    prescribers, and its expand and side-panel answers, are the same text (refs, which are per app, aside)."""
    embedded, graph = apps
    one, other = _client(embedded), _client(graph)
    urls = _urls(embedded.state.bench, served[1])
    assert len(urls) > 15
    differences = []
    for url in urls:
        in_graph = REF.sub(lambda m: f"{m.group(1)}{m.group(2)}{graph.state.bench.ref(m.group(1), embedded.state.bench.resolve(m.group(1), m.group(3)))}", url)
        want, got = one.get(url), other.get(in_graph)
        assert want.status_code == got.status_code == 200, (url, want.status_code, got.status_code)
        expected = CSRF.sub("", _same_refs(_lines(want), embedded.state.bench))
        answered = CSRF.sub("", _same_refs(_lines(got), graph.state.bench))
        if answered != expected:
            changed = [line for line in difflib.unified_diff(expected.splitlines(), answered.splitlines(), lineterm="", n=0)
                       if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            differences.append(f"{url}: {len(changed)} lines differ, e.g.\n" + "\n".join(changed[:8]))
    assert not differences, "\n\n".join(differences)


def test_not_in_the_graph_is_a_404(apps):
    client = _client(apps[1])
    assert client.get("/box/89999999999999999999").status_code == 404
    assert client.get("/site/NO-SUCH-SITE").status_code == 404


def test_the_neighbourhoods_agree_row_for_row(apps, served):
    """neighbours.cypher and rxring.results.actor_neighbours: the same rows, pages and totals for every kind."""
    embedded, graph = (app.state.bench.lookups for app in apps)
    ring = served[1].rings.iloc[0]
    asked = ([("site", s) for s in ring["source_sites"][:1] + ring["laundering_sites"][:2]]
             + [("patient", p) for p in ring["source_patients"][:2]] + [("prescriber", p) for p in ring["prescribers"][:2]])
    rows = 0
    for kind, key in asked:
        for limit, offset, relations in ((40, 0, None), (3, 2, None), (5, 0, ["resurface_site" if kind != "prescriber"
                                                                               else "dispensed_at"])):
            want = embedded.neighbours(kind, key, limit, offset, relations)
            got = graph.neighbours(kind, key, limit, offset, relations)
            rows += len(want)
            assert got[["kind", "id", "relation", "boxes", "total", "total_boxes"]].astype(str).equals(
                want[["kind", "id", "relation", "boxes", "total", "total_boxes"]].astype(str)), (kind, key, limit, offset)
            for column in ("fund", "total_fund"):
                assert got[column].fillna(-1).round(2).tolist() == want[column].fillna(-1).round(2).tolist()
            for column in ("first_time", "last_time", "total_first", "total_last"):
                assert [str(v)[:19] for v in got[column]] == [str(v)[:19] for v in want[column]], column
    assert rows > 20
