"""The workbench's sign-in, case, lead and account pages, and the one guard of every form (POST).

:func:`form_post` wraps each write endpoint: it bounds the request's size, parses the
form, checks the session's CSRF token and then the lowest role the endpoint needs
(``endpoint.write_role``), before the handler runs; the store checks the role again
for each state move (:data:`rxring.cases.store.TRANSITIONS`).  :func:`case_routes`
returns the routes :func:`rxring.serve.app.create_app` mounts.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import audit
from ..cases import leads as lead_lists
from ..cases import store as cases
from ..cases.users import ROLE_LABELS, ROLES, add_user, disable_user, list_users, set_role
from ..errors import RxringError
from .auth import COOKIE, LOGIN_COOKIE, SESSION_MAX_SECONDS, Session

__all__ = ["form_post", "case_routes", "MAX_FORM_BYTES", "MAX_UPLOAD_BYTES", "LABELS", "PUBLIC_POSTS"]

#: A form without a file may be this large.
MAX_FORM_BYTES = 256 * 1024
#: A form with a file (an attachment, a lead list) may be this large.
MAX_UPLOAD_BYTES = max(cases.MAX_ATTACHMENT_BYTES, lead_lists.MAX_LEAD_BYTES) + 64 * 1024
#: POST routes open before sign-in (they check their own double-submit token).
PUBLIC_POSTS = ("/login",)

#: The texts of these pages: key -> (Chinese, English).
LABELS = {
    "cases": ("案件", "Cases"), "case": ("案件", "Case"), "leads": ("线索清单", "Lead lists"), "case_leads": ("线索", "Leads"), "users": ("账户", "Accounts"),
    "login": ("登录", "Sign in"), "logout": ("退出", "Sign out"), "name": ("账户名", "Name"),
    "password": ("密码", "Password"), "login_failed": ("账户名或密码错误", "Wrong name or password"),
    "token_only": ("请使用 rxring serve 启动时打印的链接登录", "Use the URL printed by rxring serve"),
    "state": ("状态", "State"), "title": ("标题", "Title"), "assignee": ("承办人", "Assignee"),
    "due": ("办结期限", "Due"), "ring": ("团伙", "Ring"), "kind": ("类型", "Kind"), "version": ("版本", "Version"),
    # a case's kind (rxring.cases.store.KINDS) and a finding's status in the case (open, explained, gone)
    "kind_ring": ("团伙 ring", "ring"), "kind_findings": ("疑点 findings", "findings"),
    "kind_leads": ("线索 leads", "leads"), "status_open": ("待核查 open", "open"),
    "status_explained": ("已排除 explained", "explained"), "status_gone": ("本次分析中已无 gone", "gone"),
    "new_finding": ("新 new", "new"),
    "recovered": ("追回金额（元）", "Recovered (CNY)"), "fined": ("罚款金额（元）", "Fined (CNY)"),
    "referral_no": ("移送编号", "Referral no."), "reason": ("理由", "Reason"), "move_to": ("变更为", "Move to"),
    "assign": ("分派", "Assign"), "comment": ("意见", "Comment"), "comments": ("意见", "Comments"),
    "add_comment": ("添加意见", "Add comment"), "attachments": ("附件", "Attachments"),
    "attach": ("上传附件", "Attach"), "history": ("历史", "History"), "at": ("时间", "At"), "who": ("人员", "Who"),
    "field": ("项目", "Field"), "from": ("原值", "From"), "to": ("新值", "To"), "findings": ("疑点", "Findings"),
    "open_case": ("立案", "Open a case"), "export_ledger": ("导出台账", "Export ledger"),
    "import_leads": ("导入线索清单", "Import a lead list"), "import": ("导入", "Import"),
    "batches": ("导入批次", "Imported lists"), "file": ("文件", "File"), "read": ("读取", "Read"),
    "matched": ("匹配", "Matched"), "unmatched": ("未匹配", "Not found"), "rejected": ("拒绝", "Rejected"),
    "line": ("行", "Line"), "key": ("追溯码/结算ID", "Code / settlement"), "lead_reason": ("疑点原因", "Reason given"),
    "rules": ("规则", "Rules"), "explanation": ("解释", "Explanation"), "problems": ("问题行", "Rows with problems"),
    "no_cases": ("暂无案件", "No cases yet"), "role": ("角色", "Role"), "add_user": ("新增账户", "Add account"),
    "disabled": ("已停用", "Disabled"), "save": ("保存", "Save"), "enable": ("启用", "Enable"),
    "disable": ("停用", "Disable"), "conflict": ("冲突", "Conflict"), "all": ("全部", "All"),
    "filter": ("筛选", "Filter"), "size": ("大小", "Size"), "opened_by": ("立案人", "Opened by"),
    "updated": ("最后更新", "Last change"), "evidence": ("下载证据包", "Evidence package"),
    "ring_changed": ("本案团伙在最新分析中", "This case's ring in the latest analysis:"), "now_in": ("现为", "now"),
    "explain": ("说明为合理（排除）", "Mark explained"), "until": ("有效期至", "Until"),
    "approve": ("批准", "Approve"), "status": ("状态", "Status"), "exceptions": ("排除记录", "Exceptions"),
    "pending": ("待批准", "awaiting approval"), "fund": ("医保基金", "Fund"), "chain": ("流向", "Chain of custody"),
}


def _pair(pair: tuple[str, str], lang: str) -> str:
    """``(zh, en)`` as shown: Chinese first with English beside, or English alone."""
    return f"{pair[0]} {pair[1]}" if lang == "zh" else pair[1]


def _label(key: str, lang: str) -> str:
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def form_post(role: str, max_bytes: int = MAX_FORM_BYTES):
    """Decorate ``async handler(request, form)`` into a POST endpoint that first bounds the body,
    checks the CSRF token, then the session's role (lowest *role*)."""
    def wrap(handler):
        async def endpoint(request: Request):
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                raise HTTPException(411, "a form needs a Content-Length")
            if int(length) > max_bytes:
                raise HTTPException(413, f"the form is larger than the {max_bytes} bytes allowed · 文件过大")
            session: Session = request.state.session
            form = await request.form(max_files=1, max_fields=64)
            try:
                if not session.check_csrf(form.get("csrf")):
                    raise HTTPException(403, "表单令牌无效，请刷新页面 · bad form token: reload the page")
                if not session.may(role):
                    raise HTTPException(403, f"权限不足 · {session.user} ({session.role}) may not do this: needs "
                                             f"{role} or above")
                return await handler(request, form)
            finally:
                await form.close()
        endpoint.write_role = role
        endpoint.__name__ = handler.__name__
        return endpoint
    return wrap


def _login_routes(ws, store, render_bare, safe_next):
    def login_page(request: Request, status: int = 200, error: str | None = None):
        token = secrets.token_urlsafe(24)
        response = render_bare(request, "login.html", status, error=error, login_token=token,
                               next=safe_next(request.query_params.get("next")))
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login", max_age=900)
        return response

    def open_session(session: Session, target: str) -> Response:
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, session.sid, httponly=True, samesite="strict", path="/",
                            max_age=SESSION_MAX_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def login(request: Request):
        token = request.query_params.get("token")
        if store.accounts():
            return login_page(request)
        session = store.login(token)
        if session is None:
            return PlainTextResponse("invalid or missing token; use the URL printed by rxring serve · "
                                     "请使用 rxring serve 启动时打印的链接", status_code=401)
        lang = request.query_params.get("lang")
        if lang in ("zh", "en"):
            session.lang = lang
        audit.append(ws, "login", session.user, {"via": "start token", "role": session.role})
        return open_session(session, safe_next(request.query_params.get("next")))

    async def login_post(request: Request):
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
            raise HTTPException(413, "form too large")
        form = await request.form(max_files=0, max_fields=8)
        cookie = request.cookies.get(LOGIN_COOKIE)
        if not cookie or not secrets.compare_digest(str(form.get("login_token") or ""), cookie):
            raise HTTPException(403, "表单令牌无效，请刷新登录页 · bad form token: reload the sign-in page")
        name = str(form.get("name") or "").strip()[:64]
        locked = store.locked(name)
        session = None if locked else store.login_password(name, str(form.get("password") or ""))
        if session is None:
            # a name that is no account is not logged: it is often a password typed into the wrong box
            known = any(user["name"] == name for user in list_users(ws))
            audit.append(ws, "login_failed", name if known else "", {"via": "password", "account": known,
                                                                     "client": _client(request), "locked": locked})
            return login_page(request, 429 if locked else 401, error="locked" if locked else "login_failed")
        audit.append(ws, "login", session.user, {"via": "password", "role": session.role, "client": _client(request)})
        return open_session(session, safe_next(form.get("next")))

    @form_post("viewer")
    async def logout(request: Request, form):
        session: Session = request.state.session
        store.logout(session.sid)
        audit.append(ws, "logout", session.user, {})
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return [Route("/login", login, methods=["GET"]), Route("/login", login_post, methods=["POST"]),
            Route("/logout", logout, methods=["POST"])]


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def case_routes(bench, store, render, render_bare, not_found, safe_next) -> list[Route]:
    """The routes of sign-in, cases, leads and accounts.

    *render(request, template, status, **context)* renders a page of the signed-in
    workbench; *render_bare* one without a session (the sign-in page).
    """
    ws = bench.ws.root

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        lang = request.state.session.lang
        return render(request, name, status=status, c=lambda key: _label(key, lang),
                      state_label=lambda s: f"{cases.STATE_LABELS[s]} {s}" if lang == "zh" else s,
                      field_label=lambda f: f"{cases.FIELD_LABELS[f]} {f}" if lang == "zh" and f in cases.FIELD_LABELS
                      else f,
                      role_label=lambda r: ROLE_LABELS[r] if lang == "zh" else r, **context)

    def case_id_of(request: Request) -> int:
        try:
            return int(request.path_params["case_id"])
        except ValueError:
            raise HTTPException(404, "no such case") from None

    # ------------------------------------------------------------ cases

    def cases_list(request: Request):
        state = request.query_params.get("state") or None
        state = state if state in cases.STATES else None
        rows = cases.list_cases(ws, state=state, assignee=request.query_params.get("assignee") or None)
        from ..cases.identity import LINEAGE_KINDS

        lang = request.state.session.lang
        return page(request, "cases.html", rows=rows, states=cases.STATES, state=state or "",
                    fates=cases.ring_fates(ws, rows),
                    fate_label=lambda k: _pair(LINEAGE_KINDS.get(k, (k, k)), lang))

    def case_page(request: Request, status: int = 200, error: str | None = None):
        case_id = case_id_of(request)
        try:
            case = cases.get_case(ws, case_id)
        except cases.CaseNotFound:
            return not_found(request, f"case {case_id}")
        session: Session = request.state.session
        from ..cases.exceptions import REASONS
        from ..cases.identity import LINEAGE_KINDS

        lang = session.lang
        return page(request, "case.html", status=status, case=case, error=error,
                    fate=cases.ring_fate_of(ws, case), fate_label=lambda k: _pair(LINEAGE_KINDS.get(k, (k, k)), lang),
                    findings=cases.case_findings(ws, case), reasons=REASONS,
                    reason_label=lambda k: _pair(REASONS.get(k, (k, k)), lang),
                    may_approve=session.may("supervisor"),
                    moves=cases.allowed_moves(case, session.actor), may_assign=session.may("supervisor"),
                    may_work=session.may("investigator"), history=cases.history(ws, case_id),
                    comments=cases.comments(ws, case_id), attachments=cases.attachments(ws, case_id),
                    leads=lead_lists.list_leads(ws, case_id=case_id), max_upload=cases.MAX_ATTACHMENT_BYTES)

    async def _case_write(request: Request, change):
        """Run *change()* (in a worker thread: it reads files and waits for the database); on a user
        error show the case page with it (409 on a conflict)."""
        try:
            await run_in_threadpool(change)
        except cases.Forbidden as exc:
            raise HTTPException(403, str(exc)) from exc
        except cases.CaseNotFound:
            return not_found(request, f"case {request.path_params['case_id']}")
        except cases.CaseConflict as exc:
            return case_page(request, status=409, error=str(exc))
        except RxringError as exc:
            return case_page(request, status=400, error=str(exc))
        return RedirectResponse(f"/case/{case_id_of(request)}", status_code=303)

    def _version(form) -> int | None:
        try:
            return int(form.get("version"))
        except (TypeError, ValueError):
            return None

    @form_post("investigator")
    async def case_open(request: Request, form):
        ring_id = str(form.get("ring_id") or "").strip()
        try:
            case = cases.open_ring_case(ws, request.state.session.actor, ring_id)
        except RxringError as exc:
            raise HTTPException(400, str(exc)) from exc
        return RedirectResponse(f"/case/{case['id']}", status_code=303)

    @form_post("investigator")
    async def case_state(request: Request, form):
        actor = request.state.session.actor
        return await _case_write(request, lambda: cases.transition(
            ws, actor, case_id_of(request), str(form.get("to") or ""), str(form.get("reason") or ""),
            version=_version(form), amount_recovered=form.get("amount_recovered") or None,
            amount_fined=form.get("amount_fined") or None, referral_no=form.get("referral_no") or None))

    @form_post("supervisor")
    async def case_assign(request: Request, form):
        actor = request.state.session.actor
        return await _case_write(request, lambda: cases.assign(
            ws, actor, case_id_of(request), str(form.get("assignee") or ""), version=_version(form),
            due_date=form.get("due_date") or None, reason=str(form.get("reason") or "") or None))

    @form_post("investigator")
    async def case_comment(request: Request, form):
        actor = request.state.session.actor
        return await _case_write(request, lambda: cases.comment(ws, actor, case_id_of(request),
                                                                str(form.get("body") or "")))

    @form_post("investigator")
    async def case_explain(request: Request, form):
        actor = request.state.session.actor
        return await _case_write(request, lambda: cases.explain_finding(
            ws, actor, case_id_of(request), str(form.get("finding_id") or ""), str(form.get("reason_kind") or ""),
            str(form.get("reason") or ""), until=form.get("until") or None))

    @form_post("supervisor")
    async def case_approve(request: Request, form):
        actor = request.state.session.actor
        try:
            exception_id = int(form.get("exception_id"))
        except (TypeError, ValueError):
            return case_page(request, status=400, error="no exception chosen")
        return await _case_write(request, lambda: cases.approve_explanation(ws, actor, case_id_of(request),
                                                                            exception_id))

    @form_post("investigator", max_bytes=MAX_UPLOAD_BYTES)
    async def case_attach(request: Request, form):
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return case_page(request, status=400, error="choose a file · 请选择文件")
        data = await upload.read(cases.MAX_ATTACHMENT_BYTES + 1)
        actor = request.state.session.actor
        return await _case_write(request, lambda: cases.attach(ws, actor, case_id_of(request),
                                                               upload.filename or "attachment", data))

    def case_file(request: Request):
        session: Session = request.state.session
        if not session.may("investigator"):
            raise HTTPException(403, f"权限不足 · {session.user} ({session.role}) may not open attachments")
        case_id = case_id_of(request)
        try:
            found = [a for a in cases.attachments(ws, case_id) if str(a["id"]) == request.path_params["file_id"]]
        except cases.CaseNotFound:
            return not_found(request, f"case {case_id}")
        if not found:
            return not_found(request, f"attachment {request.path_params['file_id']}")
        row = found[0]
        data = cases.attachment_path(ws, row["sha256"]).read_bytes()
        shown = row["media_type"] if row["media_type"] in ("application/pdf", "image/png", "image/jpeg") \
            else "application/octet-stream"
        return Response(data, media_type=shown, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row['filename'])}",
            "Content-Security-Policy": "default-src 'none'; sandbox"})

    def case_package(request: Request):
        from ..cases.evidence import case_evidence

        session: Session = request.state.session
        if not session.may("investigator"):
            raise HTTPException(403, f"权限不足 · {session.user} ({session.role}) may not build evidence packages")
        case_id = case_id_of(request)
        with tempfile.TemporaryDirectory(prefix="rxring-case-") as folder:
            try:
                path, _ = case_evidence(ws, case_id, session.actor, Path(folder) / f"case-{case_id}.zip")
            except cases.CaseNotFound:
                return not_found(request, f"case {case_id}")
            data = path.read_bytes()
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="case-{case_id}.zip"'})

    def cases_export(request: Request):
        session: Session = request.state.session
        if not session.may("investigator"):
            raise HTTPException(403, f"权限不足 · {session.user} ({session.role}) may not export")
        fmt = request.query_params.get("format", "xlsx")
        if fmt not in ("csv", "xlsx"):
            raise HTTPException(400, "format: csv or xlsx")
        rows = cases.ledger_rows(ws)
        data = cases.write_ledger(rows, fmt)
        audit.append(ws, "export", session.user, {"what": "cases ledger", "rows": len(rows), "format": fmt,
                                                  "via": "web"})
        media = "text/csv; charset=utf-8" if fmt == "csv" else \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(data, media_type=media,
                        headers={"Content-Disposition": f"attachment; filename=\"cases-ledger.{fmt}\""})

    # ------------------------------------------------------------ leads

    def leads_page(request: Request, status: int = 200, result=None, error: str | None = None):
        return page(request, "leads.html", status=status, batches=lead_lists.list_batches(ws),
                    leads=lead_lists.list_leads(ws, limit=500), result=result, error=error,
                    may_work=request.state.session.may("investigator"))

    @form_post("investigator", max_bytes=MAX_UPLOAD_BYTES)
    async def leads_import(request: Request, form):
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not upload.filename:
            return leads_page(request, status=400, error="choose a CSV or XLSX file · 请选择 CSV 或 XLSX 文件")
        name = Path(str(upload.filename).replace("\\", "/")).name or "leads.csv"
        data = await upload.read(lead_lists.MAX_LEAD_BYTES + 1)
        with tempfile.TemporaryDirectory(prefix="rxring-leads-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            try:
                result = await run_in_threadpool(lead_lists.import_leads, ws, path, request.state.session.actor)
            except RxringError as exc:
                return leads_page(request, status=400, error=str(exc).replace(folder + "/", ""))
        return leads_page(request, result=result)

    # ------------------------------------------------------------ accounts

    def users_page(request: Request, status: int = 200, error: str | None = None):
        session: Session = request.state.session
        if not session.may("admin"):
            raise HTTPException(403, f"权限不足 · {session.user} ({session.role}) may not manage accounts")
        return page(request, "users.html", status=status, users=list_users(ws), roles=ROLES, error=error)

    @form_post("admin")
    async def users_post(request: Request, form):
        session: Session = request.state.session
        name, action = str(form.get("name") or "").strip(), str(form.get("action") or "")
        try:
            if action == "add":
                add_user(ws, name, str(form.get("role") or ""), str(form.get("password") or ""))
                change = {"account": name, "change": "added", "role": form.get("role")}
            elif action == "role":
                set_role(ws, name, str(form.get("role") or ""))
                change = {"account": name, "change": "role", "role": form.get("role")}
            elif action in ("disable", "enable"):
                disable_user(ws, name, action == "disable")
                change = {"account": name, "change": action + "d"}
            else:
                raise RxringError(f"unknown action {action!r}")
        except RxringError as exc:
            return users_page(request, status=400, error=str(exc))
        audit.append(ws, "user_change", session.user, change)
        return RedirectResponse("/users", status_code=303)

    return [
        *_login_routes(ws, store, render_bare, safe_next),
        Route("/cases", cases_list, methods=["GET"]),
        Route("/cases/open", case_open, methods=["POST"]),
        Route("/cases/export", cases_export, methods=["GET"]),
        Route("/case/{case_id}", case_page, methods=["GET"]),
        Route("/case/{case_id}/state", case_state, methods=["POST"]),
        Route("/case/{case_id}/assign", case_assign, methods=["POST"]),
        Route("/case/{case_id}/comment", case_comment, methods=["POST"]),
        Route("/case/{case_id}/attach", case_attach, methods=["POST"]),
        Route("/case/{case_id}/explain", case_explain, methods=["POST"]),
        Route("/case/{case_id}/approve", case_approve, methods=["POST"]),
        Route("/case/{case_id}/file/{file_id}", case_file, methods=["GET"]),
        Route("/case/{case_id}/evidence", case_package, methods=["GET"]),
        Route("/leads", leads_page, methods=["GET"]),
        Route("/leads/import", leads_import, methods=["POST"]),
        Route("/users", users_page, methods=["GET"]),
        Route("/users", users_post, methods=["POST"]),
    ]
