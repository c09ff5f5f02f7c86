"""The workbench's web application (Starlette): pages, JSON endpoints, CSV export, reveals.

Every page is a Jinja2 template with autoescaping on; data for scripts is served as
JSON (``/api/...``) or placed in ``<script type="application/json">`` (escaped by
:func:`rxring.report.htmlkit.script_json`) and read by a static script.  Every
response carries a Content-Security-Policy that allows this origin only, no inline
script and no inline style, and ``X-Content-Type-Options: nosniff``.  Personal data
is masked unless the page was revealed with a reason (:mod:`rxring.serve.auth`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
from pathlib import Path
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import audit, results
from ..errors import RxringError
from ..pii import Masker, mask_id
from ..report.graph_groups import MAX_NODES
from ..report.htmlkit import script_json
from ..report.i18n import EVENT_TYPE_KEYS, LANGS, label, note_text, rule_text
from ..schema import RULES
from ..version import __version__
from .auth import COOKIE, SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS, Session, SessionStore
from .cases_pages import case_routes, form_post
from .data import PERSON_KINDS, NotFound, Reveal, Workbench, fmt_money, fmt_time
from .graph import expand_node, node_detail, ring_graph
from .svg import lanes_svg, weekly_svg

__all__ = ["create_app", "CSP", "SECURITY_HEADERS", "PER_PAGE"]

HERE = Path(__file__).parent
logger = logging.getLogger("rxring.serve")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

PER_PAGE = 50
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_PER_PAGE = 500

FINDING_SORTS = ("first_time", "fund_amount", "rule", "finding_id")
RING_SORTS = ("rank", "score", "boxes", "events", "fund_at_risk", "first_time")


def _csv_cell(value) -> str:
    """One CSV cell; text a spreadsheet would run as a formula (=, +, -, @) gets a leading quote."""
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _safe_next(value: str | None) -> str:
    """A local path to go back to (never another origin)."""
    value = str(value or "/")
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def create_app(workspace, user: str = "local", token: str | None = None, session_idle: float = SESSION_IDLE_SECONDS,
               session_max: float = SESSION_MAX_SECONDS, max_nodes: int = MAX_NODES, backend: str | None = None,
               neo4j=None) -> Starlette:
    """The workbench over an analysed *workspace*; ``app.state.store.token`` opens a session while the
    workspace has no accounts, else ``/login`` asks for a name and password (:mod:`rxring.serve.auth`).

    A ring graph above *max_nodes* nodes is drawn with people grouped (:mod:`rxring.serve.graph`).
    *backend* and *neo4j* (a Neo4jConfig or a URI) say where boxes, sites, patients, prescribers
    and neighbourhoods are looked up (:func:`rxring.serve.lookups.open_lookups`).
    """
    bench = Workbench(workspace, max_nodes=max_nodes, backend=backend, neo4j=neo4j)
    store = SessionStore(user, token, workspace=bench.ws.root, idle=session_idle, longest=session_max)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["money"] = fmt_money
    env.filters["time"] = fmt_time
    env.filters["url"] = lambda v: quote(str(v), safe="")
    rule_colors = dict(zip(RULES, ("#e15759", "#f28e2b", "#4e79a7", "#b07aa1", "#59a14f", "#9c755f", "#76b7b2")))

    def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        session: Session = request.state.session
        lang = session.lang
        page = request.url.path
        reason = session.reason_for(page)
        context.setdefault("revealed", False)
        html = env.get_template(name).render(
            t=lambda key, **kw: label(key, lang, **kw), lang=lang, rule_text=lambda r: rule_text(r, lang),
            session=session, page=page, page_url=page + (("?" + request.url.query) if request.url.query else ""),
            reveal_reason=reason, version=__version__, workspace=str(bench.ws.root), rule_colors=rule_colors,
            stale=bench.staleness(),
            event_label=lambda e: label(e, lang) if e in EVENT_TYPE_KEYS else (e or ""),
            note_text=lambda n: note_text(n, lang), **context)
        return HTMLResponse(html, status_code=status)

    def render_bare(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        """A page shown before sign-in (no session: language from ``?lang=``, default Chinese)."""
        lang = request.query_params.get("lang")
        lang = lang if lang in LANGS else "zh"
        html = env.get_template(name).render(t=lambda key, **kw: label(key, lang), lang=lang, version=__version__,
                                             **context)
        return HTMLResponse(html, status_code=status)

    def reveal_of(request: Request, page: str | None = None) -> Reveal | None:
        session: Session = request.state.session
        page = page or request.url.path
        reason = session.reason_for(page)
        return None if reason is None else Reveal(user=session.user, reason=reason, page=page)

    def not_found(request: Request, what: str) -> HTMLResponse:
        return render(request, "error.html", status=404, title=label("not_found", request.state.session.lang),
                      message=label("not_found_text", request.state.session.lang, what=what))

    # ------------------------------------------------------------ middleware: auth and headers

    async def guard(request: Request, call_next):
        path = request.url.path
        session = store.get(request.cookies.get(COOKIE))
        request.state.session = session
        public = path in ("/login", "/favicon.ico") or path.startswith("/static/")
        if session is None and not public and request.method == "GET" and store.accounts():
            response = RedirectResponse("/login?" + urlencode({"next": _safe_next(
                path + (("?" + request.url.query) if request.url.query else ""))}), status_code=303)
        elif session is None and not public:
            response = HTMLResponse(
                f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>401</title></head>"
                f"<body><p>{label('unauthorised', 'zh')}</p><p>{label('unauthorised', 'en')}</p></body></html>",
                status_code=401)
        else:
            try:
                response = await call_next(request)
            except Exception:  # noqa: BLE001 - answer a page, not a dropped connection; the log has the traceback
                logger.exception("rxring serve: %s failed", path)
                response = PlainTextResponse("internal error; see the server's log", status_code=500)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    # ------------------------------------------------------------ session endpoints

    def set_lang(request: Request):
        lang = request.path_params["lang"]
        if lang in LANGS:
            request.state.session.lang = lang
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)

    def reveal_form(request: Request):
        target = _safe_next(request.query_params.get("next"))
        return render(request, "reveal.html", target=target, error=None)

    @form_post("investigator")   # a viewer reads masked pages only
    async def reveal_post(request: Request, form):
        session: Session = request.state.session
        target = _safe_next(form.get("next"))
        reason = (form.get("reason") or "").strip()
        if form.get("action") == "mask":
            session.revoke(target.split("?", 1)[0])
            return RedirectResponse(target, status_code=303)
        if len(reason) < 2:
            return render(request, "reveal.html", status=400, target=target,
                          error=label("reveal_need_reason", session.lang))
        session.grant(target.split("?", 1)[0], reason[:500])
        return RedirectResponse(target, status_code=303)

    # ------------------------------------------------------------ pages

    def overview(request: Request):
        data = bench.overview()
        return render(request, "overview.html", o=data, weekly=weekly_svg(data["weeks"], rule_colors),
                      analysis=bench.analysis)

    def search(request: Request):
        q = request.query_params.get("q", "").strip()
        found = bench.search(q) if q else {"matches": []}
        if "jump" in found:
            return RedirectResponse(found["jump"], status_code=303)
        return render(request, "search.html", q=q, matches=found["matches"])

    def _paging(request: Request, total: int) -> dict:
        try:
            per = max(1, min(MAX_PER_PAGE, int(request.query_params.get("per", PER_PAGE))))
            page = max(1, int(request.query_params.get("page", 1)))
        except ValueError:
            per, page = PER_PAGE, 1
        pages = max(1, math.ceil(total / per))
        page = min(page, pages)
        params = {k: v for k, v in request.query_params.items() if k not in ("page", "format")}

        def link(n):
            return request.url.path + "?" + urlencode({**params, "page": n})

        return {"page": page, "pages": pages, "per": per, "total": total, "start": (page - 1) * per,
                "prev": link(page - 1) if page > 1 else None, "next": link(page + 1) if page < pages else None,
                "csv": request.url.path + "?" + urlencode({**params, "format": "csv"}),
                "xlsx": request.url.path + "?" + urlencode({**params, "format": "xlsx"}), "params": params}

    def _sorted(frame, request: Request, allowed, default: str, default_order: str):
        sort = request.query_params.get("sort", default)
        sort = sort if sort in allowed else default
        order = request.query_params.get("order", default_order)
        order = order if order in ("asc", "desc") else default_order
        return frame.sort_values(sort, ascending=order == "asc", kind="stable", na_position="last"), sort, order

    def _export(request: Request, rows: list[list], header: list[str], name: str, fmt: str) -> Response:
        """The rows listed, as CSV (UTF-8 with BOM, for Excel) or XLSX; no cell can start a formula."""
        cells = [[_csv_cell(v) for v in row] for row in rows]
        session: Session = request.state.session
        audit.append(bench.ws.root, "export", session.user, {"what": name, "rows": len(rows), "format": fmt,
                                                             "via": "web"})
        if fmt == "xlsx":
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet(name)
            sheet.append(header)
            for row in cells:
                sheet.append(row)
            out = io.BytesIO()
            book.save(out)
            return Response(out.getvalue(), media_type=XLSX_TYPE,
                            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(cells)
        return Response("\ufeff" + text.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    def findings_list(request: Request):
        q = request.query_params
        try:
            frame = bench.filter_findings(rule=q.get("rule", ""), site=q.get("site", ""), code=q.get("code", ""),
                                          ring=q.get("ring", ""), since=q.get("since", ""), until=q.get("until", ""))
        except NotFound as exc:
            return not_found(request, str(exc))
        except RxringError as exc:  # an unknown rule name, a date that is not one
            raise HTTPException(400, str(exc)) from exc
        frame, sort, order = _sorted(frame, request, FINDING_SORTS, "first_time", "desc")
        paging = _paging(request, len(frame))
        if q.get("format") in ("csv", "xlsx"):
            rows = bench.finding_rows(frame, revealed=False)
            return _export(request, [[r["finding_id"], r["rule"], r["trace_codes"], [s["id"] for s in r["sites"]],
                          [p["label"] for p in r["patients"]], [p["label"] for p in r["prescribers"]],
                          r["fund_amount"], r["first_time"], r["last_time"], r["explanation"]] for r in rows],
                        ["finding_id", "rule", "trace_codes", "sites", "source_patients", "source_prescribers",
                         "fund_amount", "first_time", "last_time", "explanation"], "findings", q["format"])
        rows = bench.finding_rows(frame.iloc[paging["start"]:paging["start"] + paging["per"]], revealed=False)
        return render(request, "findings.html", rows=rows, paging=paging, sort=sort, order=order, rules=RULES,
                      filters={k: q.get(k, "") for k in ("rule", "site", "code", "ring", "since", "until")},
                      sorts=FINDING_SORTS)

    def rings_list(request: Request):
        q = request.query_params
        frame = bench.rings
        if q.get("rule"):
            frame = frame[frame["rules"].map(lambda v: q["rule"].upper() in v)]
        if q.get("site"):
            site = q["site"]
            frame = frame[frame["source_sites"].map(lambda v: site in v) | frame["laundering_sites"].map(lambda v: site in v)]
        try:
            min_fund = float(q.get("min_fund") or 0)
        except ValueError:
            min_fund = 0.0
        if min_fund:
            frame = frame[frame["fund_at_risk"].fillna(0) >= min_fund]
        if q.get("since") or q.get("until"):
            try:
                frame = frame[results.in_window(frame, q.get("since"), q.get("until"))]
            except RxringError as exc:  # a date that is not one
                raise HTTPException(400, str(exc)) from exc
        frame, sort, order = _sorted(frame, request, RING_SORTS, "rank", "asc")
        paging = _paging(request, len(frame))
        if q.get("format") in ("csv", "xlsx"):
            rows = bench.ring_rows(frame, revealed=False)
            return _export(request, [[r["ring_id"], r["rank"], r["score"], r["boxes"], r["events"], r["fund_at_risk"],
                          r["patients"], r["prescribers"], [s["id"] for s in r["source_sites"]],
                          [s["id"] for s in r["laundering_sites"]], r["rules"], r["first_time"], r["last_time"]]
                         for r in rows],
                        ["ring_id", "rank", "score", "boxes", "events", "fund_at_risk", "source_patients",
                         "prescribers", "source_sites", "laundering_sites", "rules", "first_time", "last_time"], "rings", q["format"])
        rows = bench.ring_rows(frame.iloc[paging["start"]:paging["start"] + paging["per"]], revealed=False)
        return render(request, "rings.html", rows=rows, paging=paging, sort=sort, order=order, rules=RULES,
                      filters={k: q.get(k, "") for k in ("rule", "site", "min_fund", "since", "until")},
                      sorts=RING_SORTS)

    def ring_page(request: Request):
        try:
            ring = bench.ring(request.path_params["ring_id"])
        except NotFound as exc:
            return not_found(request, str(exc))
        if ring["ring_id"] != request.path_params["ring_id"]:
            return RedirectResponse(f"/ring/{quote(ring['ring_id'], safe='')}", status_code=303)
        reveal = reveal_of(request)
        revealed = bench.permit(reveal, {"ring_id": ring["ring_id"]})
        findings = bench.filter_findings(ring=ring["ring_id"])
        lang = request.state.session.lang
        config = {
            "ring": ring["ring_id"],
            "graph": f"/api/ring/{quote(ring['ring_id'], safe='')}/graph",
            "expand": f"/api/ring/{quote(ring['ring_id'], safe='')}/expand",
            "node": f"/api/ring/{quote(ring['ring_id'], safe='')}/node",
            "labels": {k: label(k, lang) for k in (
                "expand", "open_page", "findings", "latest_events", "rings_of", "outside_ring", "play", "time_window",
                "edge_boxes", "click_node", "fund_at_risk", "rule", "trace_code", "event_time", "site")},
        }
        row = bench.ring_rows(bench.rings[bench.rings["ring_id"] == ring["ring_id"]], revealed)[0]
        members = {
            "source_patients": [bench.person("patient", p, revealed) for p in ring["source_patients"]],
            "prescribers": [bench.person("prescriber", p, revealed) for p in ring["prescribers"]],
        }
        return render(request, "ring.html", ring=row, members=members, config=script_json(config),
                      findings=bench.finding_rows(findings.head(20), revealed), findings_total=len(findings),
                      revealed=revealed)

    def _ring_json(request: Request, answer):
        """``answer(ring_id, node, lang, reveal)`` as JSON for the ring in the path; 404 JSON when unknown."""
        try:
            ring = bench.ring(request.path_params["ring_id"])
            reveal = reveal_of(request, f"/ring/{ring['ring_id']}")
            return JSONResponse(answer(ring["ring_id"], request.query_params.get("node", ""),
                                       request.state.session.lang, reveal))
        except NotFound as exc:
            return JSONResponse({"error": f"not found: {exc}"}, status_code=404)

    def api_graph(request: Request):
        return _ring_json(request, lambda ring_id, node, lang, reveal: ring_graph(bench, ring_id, lang, reveal))

    def api_expand(request: Request):
        page = request.query_params.get("page", "0")
        page = int(page) if page.isdigit() else 0
        return _ring_json(request, lambda ring_id, node, lang, reveal: expand_node(bench, ring_id, node, lang, reveal,
                                                                                   page=page))

    def api_node(request: Request):
        return _ring_json(request, lambda ring_id, node, lang, reveal: node_detail(bench, ring_id, node, lang, reveal))

    def box_page(request: Request):
        code = request.path_params["code"]
        try:
            box = bench.box(code, reveal_of(request))
        except NotFound as exc:
            return not_found(request, str(exc))
        lang = request.state.session.lang
        return render(request, "box.html", box=box, revealed=box["revealed"],
                      lanes=lanes_svg(box["events"], lambda e: label(e, lang) if e in EVENT_TYPE_KEYS else e))

    def actor_page(kind: str):
        def page(request: Request):
            key = request.path_params["key"]
            try:
                raw = bench.resolve(kind, key) if kind in PERSON_KINDS else key
                data = bench.actor(kind, raw, reveal_of(request))
            except NotFound:
                shown = mask_id(key) if kind in PERSON_KINDS else key
                return not_found(request, f"{label('kind_' + kind, request.state.session.lang)} {shown}")
            return render(request, "actor.html", a=data, revealed=data["revealed"],
                          weekly=weekly_svg({w: {"events": n} for w, n in data["weekly"].items()},
                                            {"events": "#4e79a7"}))
        return page

    async def http_error(request: Request, exc: HTTPException):
        if getattr(request.state, "session", None) is None:
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
        if exc.status_code == 404:
            return not_found(request, request.url.path)
        return render(request, "error.html", status=exc.status_code, title=str(exc.status_code),
                      message=Masker().text(str(exc.detail)))

    def favicon(request: Request):
        return Response(status_code=204)

    routes = [
        Route("/favicon.ico", favicon),
        Route("/lang/{lang}", set_lang),
        Route("/reveal", reveal_form, methods=["GET"]),
        Route("/reveal", reveal_post, methods=["POST"]),
        Route("/", overview),
        Route("/search", search),
        Route("/findings", findings_list),
        Route("/rings", rings_list),
        Route("/ring/{ring_id}", ring_page),
        Route("/api/ring/{ring_id}/graph", api_graph),
        Route("/api/ring/{ring_id}/expand", api_expand),
        Route("/api/ring/{ring_id}/node", api_node),
        Route("/box/{code:path}", box_page),
        Route("/site/{key:path}", actor_page("site")),
        Route("/patient/{key}", actor_page("patient")),
        Route("/prescriber/{key}", actor_page("prescriber")),
        Route("/settlement/{key:path}", actor_page("settlement")),
        # sign-in, cases, leads, accounts (issue 17): rxring.serve.cases_pages
        *case_routes(bench, store, render, render_bare, not_found, _safe_next),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            bench.lookups.close()

    app = Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)],
                    exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.state.store = store
    app.state.bench = bench
    return app
