"""The workbench with accounts: sign-in, sessions, CSRF, and the role of every write endpoint (table-driven)."""

from __future__ import annotations

import logging
import re
import shutil

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from rxring import audit
from rxring.cases import store
from rxring.cases.users import ROLES, Actor, add_user
from rxring.errors import RxringError

PASSWORD = "s3cret-horse-battery"


@pytest.fixture(scope="module")
def ws(city, tmp_path_factory):
    """A copy of the city with one account per role and one case of the first ring."""
    from rxring.results import load_rings

    target = tmp_path_factory.mktemp("cases-web") / "ws"
    shutil.copytree(city.workspace, target)
    for role in ROLES:
        add_user(target, role, role, PASSWORD + role)
    store.open_ring_case(target, Actor("admin", "admin"), load_rings(target).iloc[0]["ring_id"])
    return target


@pytest.fixture(scope="module")
def app(ws):
    from rxring.serve import create_app

    return create_app(ws, user="local")


def sign_in(app, role: str, password: str | None = None) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1")
    page = client.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"name": role, "password": password or PASSWORD + role,
                                           "login_token": token, "next": "/cases"}, follow_redirects=False)
    assert response.status_code == (303 if password is None else 401), response.text
    if password is None:
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    return client


def csrf(client: TestClient, path: str = "/cases") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def post_routes(app):
    return sorted({r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())})


def endpoint(app, path):
    return next(r.endpoint for r in app.routes if isinstance(r, Route) and r.path == path and "POST" in r.methods)


def concrete(path: str) -> str:
    return path.replace("{case_id}", "1")


def test_every_post_route_declares_a_role(app):
    paths = post_routes(app)
    assert {"/reveal", "/cases/open", "/case/{case_id}/state", "/case/{case_id}/assign", "/case/{case_id}/comment",
            "/case/{case_id}/attach", "/leads/import", "/users", "/logout", "/login"} <= set(paths)
    for path in paths:
        if path != "/login":
            assert getattr(endpoint(app, path), "write_role", None) in ROLES, path


@pytest.mark.parametrize("role", ROLES)
def test_role_checks_on_every_write_endpoint(app, ws, role):
    """Every POST route, signed in with each role: below the route's role the server answers 403 and
    changes nothing; a forged CSRF token is refused for every role."""
    client = sign_in(app, role)
    token = csrf(client)
    for path in post_routes(app):
        if path in ("/login", "/logout"):
            continue
        needed = endpoint(app, path).write_role
        before = (audit.audit_path(ws).read_bytes(), store.get_case(ws, 1)["version"], len(store.comments(ws, 1)))
        forged = client.post(concrete(path), data={"csrf": "forged", "reason": "xx", "body": "x"},
                             follow_redirects=False)
        assert forged.status_code == 403 and "表单令牌" in forged.text, (role, path)
        if ROLES.index(role) < ROLES.index(needed):
            refused = client.post(concrete(path), data={"csrf": token, "reason": "xx", "body": "x", "to": "verifying",
                                                        "assignee": role, "ring_id": "R001", "name": "x"},
                                  follow_redirects=False)
            assert refused.status_code == 403 and "权限不足" in refused.text, (role, path, refused.status_code)
        after = (audit.audit_path(ws).read_bytes(), store.get_case(ws, 1)["version"], len(store.comments(ws, 1)))
        assert after == before, (role, path)


def test_a_viewer_cannot_reveal_or_change_state_and_sees_no_buttons(app, ws):
    client = sign_in(app, "viewer")
    page = client.get("/case/1")
    assert page.status_code == 200 and 'id="state-form"' not in page.text and 'id="comment-form"' not in page.text
    ring = client.get(f"/ring/{store.get_case(ws, 1)['ring_id']}")
    assert 'id="reveal-link"' not in ring.text and 'id="open-case"' not in ring.text
    token = csrf(client)
    assert client.post("/reveal", data={"csrf": token, "next": "/", "reason": "curious"}).status_code == 403
    assert client.get("/cases/export?format=csv").status_code == 403
    assert client.get("/users").status_code == 403


def test_a_case_worked_in_the_browser_forms(app, ws):
    boss, worker = sign_in(app, "supervisor"), sign_in(app, "investigator")
    version = store.get_case(ws, 1)["version"]
    response = boss.post("/case/1/assign", data={"csrf": csrf(boss), "assignee": "investigator", "version": version,
                                                 "due_date": "2026-12-31"}, follow_redirects=False)
    assert response.status_code == 303
    case = store.get_case(ws, 1)
    page = worker.get("/case/1")
    assert 'id="move-verifying"' in page.text and 'id="move-confirmed"' not in page.text
    token = csrf(worker, "/case/1")
    stale = worker.post("/case/1/state", data={"csrf": token, "to": "verifying", "reason": "go", "version": version})
    assert stale.status_code == 409 and "reload it and try again" in stale.text
    assert stale.text.index("案件已被他人修改，请刷新后重试") < stale.text.index("reload it and try again")
    ok = worker.post("/case/1/state", data={"csrf": token, "to": "verifying", "reason": "go",
                                            "version": case["version"]}, follow_redirects=False)
    assert ok.status_code == 303
    sent = worker.post("/case/1/attach", data={"csrf": token}, files={"file": ("发票.pdf", b"%PDF scan", "application/pdf")},
                       follow_redirects=False)
    assert sent.status_code == 303
    [attachment] = store.attachments(ws, 1)
    got = worker.get(f"/case/1/file/{attachment['id']}")
    assert got.content == b"%PDF scan" and "attachment" in got.headers["content-disposition"]
    assert "sandbox" in got.headers["content-security-policy"]
    refused = worker.post("/case/1/state", data={"csrf": token, "to": "confirmed", "reason": "sure",
                                                 "version": store.get_case(ws, 1)["version"]})
    assert refused.status_code == 403
    assert store.get_case(ws, 1)["state"] == "verifying"
    ledger = boss.get("/cases/export?format=csv")
    assert ledger.status_code == 200 and ledger.text.lstrip("\ufeff").startswith("案件编号 (case)")
    assert audit.read(ws, "export")[-1]["user"] == "supervisor"


def test_an_upload_over_the_limit_is_refused_before_it_is_read(app):
    client = sign_in(app, "investigator")
    response = client.post("/case/1/comment", content=b"x" * 10, headers={
        "content-type": "application/x-www-form-urlencoded", "content-length": str(10 ** 9)})
    assert response.status_code == 413


def test_wrong_password_and_login_csrf(app, ws, caplog):
    caplog.set_level(logging.DEBUG)
    sign_in(app, "investigator", password="wrong-password-123")
    client = TestClient(app, base_url="http://127.0.0.1")
    no_cookie = client.post("/login", data={"name": "admin", "password": PASSWORD + "admin", "login_token": "x"})
    assert no_cookie.status_code == 403
    failed = audit.read(ws, "login_failed")[-1]
    assert failed["user"] == "investigator"
    logged = (audit.audit_path(ws).read_text(encoding="utf-8") + caplog.text +
              "".join(p.read_text(encoding="utf-8") for p in ws.glob("*.jsonl")))
    for secret in ("wrong-password-123", PASSWORD):
        assert secret not in logged
    assert "argon2" not in logged


def test_a_password_typed_as_the_name_is_not_logged(app, ws):
    """The failed sign-in of a name that is no account is logged without the name (often a password typed
    into the wrong box); a known account's failures are logged by name."""
    client = TestClient(app, base_url="http://127.0.0.1")
    token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"name": "Tr0ub4dor&3-secret", "password": "", "login_token": token})
    assert response.status_code == 401
    failed = audit.read(ws, "login_failed")[-1]
    assert failed["user"] == "" and failed["details"]["account"] is False
    assert "Tr0ub4dor" not in audit.audit_path(ws).read_text(encoding="utf-8")
    sign_in(app, "viewer", password="not-the-password")
    failed = audit.read(ws, "login_failed")[-1]
    assert failed["user"] == "viewer" and failed["details"]["account"] is True


def test_the_start_token_stops_working_once_accounts_exist(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    response = client.get(f"/login?token={app.state.store.token}", follow_redirects=False)
    assert response.status_code == 200 and 'name="password"' in response.text   # the sign-in form, no session
    assert client.get("/", follow_redirects=False).status_code == 303          # to /login


def _age(app, seconds: float, *, idle_too: bool = True) -> None:
    """Move the clocks of every live session of *app* *seconds* into the past (no sleeping: a loaded
    machine cannot stretch the test's time)."""
    for session in app.state.store.sessions.values():
        session.started -= seconds
        if idle_too:
            session.seen -= seconds


def test_an_expired_session_is_rejected(ws):
    from rxring.serve import create_app

    app = create_app(ws, session_idle=60)
    client = sign_in(app, "viewer")
    assert client.get("/cases").status_code == 200
    _age(app, 59)
    assert client.get("/cases", follow_redirects=False).status_code == 200   # 59 s idle: still alive
    _age(app, 61)
    response = client.get("/cases", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.post("/logout", data={"csrf": "x"}).status_code == 401


def test_a_session_in_use_still_ends_at_its_longest_lifetime(ws):
    from rxring.serve import create_app

    app = create_app(ws, session_idle=60, session_max=3600)
    client = sign_in(app, "viewer")
    for _ in range(3):                      # used every 50 s, so never idle
        assert client.get("/cases", follow_redirects=False).status_code == 200
        _age(app, 50)
    assert client.get("/cases", follow_redirects=False).status_code == 200
    _age(app, 3600 - 150 + 1, idle_too=False)   # in use a moment ago, but signed in over an hour ago
    response = client.get("/cases", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_logout_ends_the_session(app):
    client = sign_in(app, "viewer")
    assert client.post("/logout", data={"csrf": csrf(client)}, follow_redirects=False).status_code == 303
    assert client.get("/cases", follow_redirects=False).status_code == 303


def test_no_accounts_keeps_the_start_token_and_loopback(city, tmp_path):
    from rxring.serve import create_app
    from rxring.serve.server import serve

    ws = tmp_path / "ws"
    shutil.copytree(city.workspace, ws, ignore=shutil.ignore_patterns("cases"))
    app = create_app(ws, user="owner")
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get(f"/login?token={app.state.store.token}", follow_redirects=False).status_code == 303
    assert "owner (admin)" in client.get("/cases").text
    with pytest.raises(RxringError, match="add accounts first"):
        serve(ws, host="0.0.0.0", port=0, echo=lambda *a: None)


def test_a_revealed_page_is_in_the_audit_log_and_the_case_package_downloads(app, ws):
    client = sign_in(app, "investigator")
    ring_id = store.get_case(ws, 1)["ring_id"]
    before = len(audit.read(ws, "reveal"))
    response = client.post("/reveal", data={"csrf": csrf(client), "next": f"/ring/{ring_id}", "reason": "核查线索"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert client.get(f"/ring/{ring_id}").status_code == 200
    lines = audit.read(ws, "reveal")[before:]
    assert lines and lines[-1]["user"] == "investigator" and lines[-1]["details"]["reason"] == "核查线索"
    package = client.get("/case/1/evidence")
    assert package.status_code == 200 and package.content[:2] == b"PK", package.text[-600:]
    assert sign_in(app, "viewer").get("/case/1/evidence").status_code == 403


def test_a_role_change_or_a_disabled_account_applies_to_open_sessions(ws):
    from rxring.cases.users import disable_user, set_role
    from rxring.serve import create_app

    app = create_app(ws)
    add_user(ws, "temp", "investigator", PASSWORD + "temp")
    client = sign_in(app, "temp")
    assert "(investigator)" in client.get("/cases").text
    set_role(ws, "temp", "viewer")
    assert "(viewer)" in client.get("/cases").text
    assert client.post("/reveal", data={"csrf": csrf(client), "next": "/", "reason": "xx"}).status_code == 403
    disable_user(ws, "temp")
    assert client.get("/cases", follow_redirects=False).status_code == 303


def test_a_finding_explained_on_the_case_page_and_approved_by_a_supervisor(app, ws):
    worker, boss = sign_in(app, "investigator"), sign_in(app, "supervisor")
    case = store.get_case(ws, 1)
    finding_id = case["finding_ids"][0]
    sent = worker.post("/case/1/explain", data={"csrf": csrf(worker, "/case/1"), "finding_id": finding_id,
                                                "reason_kind": "transfer", "reason": "调拨单已核对"},
                       follow_redirects=False)
    assert sent.status_code == 303
    [row] = [f for f in store.case_findings(ws, store.get_case(ws, 1)) if f["finding_id"] == finding_id]
    [exception] = row["exceptions"]
    assert exception["recorded_by"] == "investigator" and exception["approved_by"] is None
    page = boss.get("/case/1").text
    assert f'id="approve-{exception["id"]}"' in page and "合规调拨" in page
    assert f'id="approve-{exception["id"]}"' not in worker.get("/case/1").text   # not the recorder's to approve
    approved = boss.post("/case/1/approve", data={"csrf": csrf(boss, "/case/1"), "exception_id": exception["id"]},
                         follow_redirects=False)
    assert approved.status_code == 303
    [row] = [f for f in store.case_findings(ws, store.get_case(ws, 1)) if f["finding_id"] == finding_id]
    assert row["exceptions"][0]["approved_by"] == "supervisor"
    notes = [h["new_value"] for h in store.history(ws, 1) if h["field"] == "exception"]
    assert notes == [f"#{exception['id']} {finding_id} transfer", f"#{exception['id']} approved"]
    assert [r["details"]["change"] for r in audit.read(ws, "exception")] == ["recorded", "approved"]
    wrong = boss.post("/case/1/explain", data={"csrf": csrf(boss, "/case/1"), "finding_id": "NOT:1",
                                               "reason_kind": "other", "reason": "xx"})
    assert wrong.status_code == 400 and "is not in case 1" in wrong.text


def test_a_case_whose_ring_split_is_flagged(city_copy):
    import json

    from rxring.serve import create_app
    from rxring.workspace import Workspace

    ring_id = store.open_ring_case(city_copy, Actor("li", "supervisor"), "R001")["ring_id"]
    assert store.ring_fate_of(city_copy, store.get_case(city_copy, 1)) is None
    lineage = Workspace(city_copy).results_dir / "ring_lineage.json"
    lineage.write_text(json.dumps({"rings": [{"previous_id": ring_id, "kind": "split", "ring_ids": [ring_id, "R042"]}]}),
                       encoding="utf-8")
    assert store.ring_fate_of(city_copy, store.get_case(city_copy, 1)) == {"kind": "split",
                                                                           "ring_ids": [ring_id, "R042"]}
    app = create_app(city_copy)
    client = TestClient(app, base_url="http://127.0.0.1")
    client.get(f"/login?token={app.state.store.token}")
    page = client.get("/case/1").text
    assert 'id="ring-fate"' in page and "已拆分" in page and "/ring/R042" in page
    assert 'class="flag ring-fate"' in client.get("/cases").text


def test_repeated_failed_sign_ins_lock_the_name(ws):
    from rxring.serve import create_app
    from rxring.serve.auth import MAX_FAILED_LOGINS

    app = create_app(ws)
    add_user(ws, "target", "viewer", PASSWORD + "target")
    for _ in range(MAX_FAILED_LOGINS):
        sign_in(app, "target", password="guess-guess-guess")
    client = TestClient(app, base_url="http://127.0.0.1")
    token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text).group(1)
    right = client.post("/login", data={"name": "target", "password": PASSWORD + "target", "login_token": token})
    assert right.status_code == 429 and "稍后再试" in right.text
    assert audit.read(ws, "login_failed")[-1]["details"]["locked"] is True
    sign_in(app, "viewer")          # other names are not locked



def test_hostile_comments_and_file_names_are_shown_as_text(app, ws):
    worker = sign_in(app, "investigator")
    token = csrf(worker, "/case/1")
    payload = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    worker.post("/case/1/comment", data={"csrf": token, "body": payload})
    worker.post("/case/1/attach", data={"csrf": token},
                files={"file": ('<img src=x onerror=alert(3)>.pdf', b"%PDF x", "application/pdf")})
    page = worker.get("/case/1")
    assert "<script>alert(1)" not in page.text and "onerror=alert(2)>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img src=x onerror=alert(3)>" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


#: Every route of the workbench and the lowest role that may use it, written here and not read from the
#: code under test: a route missing from this table, or guarded at another level, fails the test below.
#: GET routes that write (the ledger export and the evidence package are audit events) count as write routes.
ROUTE_ROLES = {
    ("GET", "/favicon.ico"): None, ("GET", "/login"): None, ("POST", "/login"): None,   # before sign-in
    ("GET", "/lang/{lang}"): "viewer", ("GET", "/reveal"): "viewer", ("GET", "/"): "viewer",
    ("GET", "/search"): "viewer", ("GET", "/findings"): "viewer", ("GET", "/rings"): "viewer",
    ("GET", "/ring/{ring_id}"): "viewer", ("GET", "/api/ring/{ring_id}/graph"): "viewer",
    ("GET", "/api/ring/{ring_id}/expand"): "viewer", ("GET", "/api/ring/{ring_id}/node"): "viewer",
    ("GET", "/box/{code:path}"): "viewer", ("GET", "/site/{key:path}"): "viewer",
    ("GET", "/patient/{key}"): "viewer", ("GET", "/prescriber/{key}"): "viewer",
    ("GET", "/settlement/{key:path}"): "viewer", ("GET", "/cases"): "viewer", ("GET", "/case/{case_id}"): "viewer",
    ("GET", "/leads"): "viewer", ("POST", "/logout"): "viewer",
    ("POST", "/reveal"): "investigator", ("POST", "/cases/open"): "investigator",
    ("GET", "/cases/export"): "investigator", ("POST", "/case/{case_id}/state"): "investigator",
    ("POST", "/case/{case_id}/comment"): "investigator", ("POST", "/case/{case_id}/attach"): "investigator",
    ("POST", "/case/{case_id}/explain"): "investigator", ("GET", "/case/{case_id}/file/{file_id}"): "investigator",
    ("GET", "/case/{case_id}/evidence"): "investigator", ("POST", "/leads/import"): "investigator",
    ("POST", "/case/{case_id}/assign"): "supervisor", ("POST", "/case/{case_id}/approve"): "supervisor",
    ("GET", "/users"): "admin", ("POST", "/users"): "admin",
}


def _all_routes(app) -> set:
    return {(method, r.path) for r in app.routes if isinstance(r, Route) for method in r.methods if method != "HEAD"}


def _state(ws) -> tuple:
    """Everything a write route could change: the audit log, the case, its children, accounts, lead lists."""
    from rxring.cases.leads import list_batches
    from rxring.cases.users import list_users

    return (audit.audit_path(ws).read_bytes(), store.get_case(ws, 1), store.comments(ws, 1),
            store.attachments(ws, 1), list_users(ws), list_batches(ws))


def test_the_route_table_covers_every_route(app):
    assert _all_routes(app) == set(ROUTE_ROLES)


def _valid_form(ws, path: str) -> tuple[dict, dict | None]:
    """A form the route would carry out for a user allowed to: the refused requests send it."""
    case = store.get_case(ws, 1)
    forms = {
        "/reveal": {"next": "/", "reason": "核查线索"}, "/cases/open": {"ring_id": case["ring_id"] or "R001"},
        "/case/{case_id}/state": {"to": "verifying", "reason": "核查", "version": case["version"]},
        "/case/{case_id}/assign": {"assignee": "intruder", "version": case["version"]},
        "/case/{case_id}/comment": {"body": "intruder"},
        "/case/{case_id}/explain": {"finding_id": case["finding_ids"][0], "reason_kind": "transfer", "reason": "xx"},
        "/case/{case_id}/approve": {"exception_id": "1"},
        "/users": {"action": "add", "name": "intruder", "role": "admin", "password": "intruder-password"},
    }
    files = {"/case/{case_id}/attach": {"file": ("scan.pdf", b"%PDF intruder", "application/pdf")},
             "/leads/import": {"file": ("leads.csv", "追溯码,疑点原因\n81000000000000000000,x\n".encode(), "text/csv")}}
    return forms.get(path, {}), files.get(path)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_is_refused_below_its_role_and_open_from_it(app, ws, role):
    """Signed in as *role*, every route: below its role the server answers 403 to a form it would otherwise
    carry out, and nothing changes; from its role up the handler runs (an empty form gets 400, never 403)."""
    from rxring.results import load_rings

    values = {"{case_id}": "1", "{file_id}": "999", "{ring_id}": load_rings(ws).iloc[0]["ring_id"],
              "{code:path}": "81000000000000000000", "{key:path}": "nobody", "{key}": "nobody", "{lang}": "zh"}
    client = sign_in(app, role)
    token = csrf(client)
    for (method, path), needed in sorted(ROUTE_ROLES.items(), key=lambda item: item[0][1] == "/logout"):
        if needed is None:
            continue
        url = path
        for name, value in values.items():
            url = url.replace(name, value)
        refused = ROLES.index(role) < ROLES.index(needed)
        before = _state(ws)
        if method == "GET":
            response = client.get(url, follow_redirects=False)
        elif refused:
            form, files = _valid_form(ws, path)
            response = client.post(url, data={"csrf": token, **form}, files=files, follow_redirects=False)
        else:
            response = client.post(url, data={"csrf": token}, follow_redirects=False)
        if refused:
            assert response.status_code == 403 and "权限不足" in response.text, (role, method, path)
            assert _state(ws) == before, (role, method, path)
        else:
            assert response.status_code not in (401, 403), (role, method, path, response.status_code)
            if method == "POST" and path != "/logout":
                assert response.status_code == 400, (role, method, path, response.status_code)
                assert _state(ws)[1:] == before[1:], (role, method, path)


def test_history_and_roles_are_named_in_chinese_with_english_beside(app, ws):
    page = sign_in(app, "supervisor").get("/case/1").text
    history = page[page.index('id="history"'):]
    assert "<td>状态 state</td><td></td><td>新建 new</td>" in history
    users = sign_in(app, "admin").get("/users").text
    assert ">调查员 investigator</option>" in users and ">查看 viewer</option>" in users
