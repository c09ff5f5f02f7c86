"""What the workbench shows, read through :mod:`rxring.results` and masked for display.

:class:`Workbench` holds one analysed workspace's findings, rings and site master
(read once, pinned to the generation published at start) and answers the pages'
questions as plain dicts and lists.  People never leave it unmasked unless the
page was revealed: a reveal is granted only by :func:`rxring.reveal.permit_reveal`
(inside a :func:`rxring.reveal.reveal_session` carrying the user and the reason),
so every unmasked view is one line in the workspace's ``reveals.jsonl``.

Patients and prescribers are addressed by *refs* (an HMAC of the id under a
secret made at start), so raw personal ids never appear in URLs, links or the
graph JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from urllib.parse import quote
from dataclasses import dataclass

import pandas as pd

from .. import results
from ..errors import RxringError
from ..pii import mask_frame, mask_id
from ..report.graph_groups import MAX_NODES
from .lookups import open_lookups
from ..reveal import permit_reveal, reveal_session
from ..schema import RULES

__all__ = ["Workbench", "Reveal", "NotFound", "PERSON_KINDS", "fmt_time", "fmt_money", "clean"]

#: Findings listed on an actor's page (the findings list, filtered, has them all).
MAX_FINDINGS_SHOWN = 100

#: Seconds between two checks of whether the workspace changed under the running workbench.
CHECK_SECONDS = 5.0

#: Kinds of actor whose ids are personal (addressed by ref, masked by default).
PERSON_KINDS = ("patient", "prescriber")


class NotFound(RxringError):
    """The thing a page asks for is not in the workspace (the app answers 404)."""


@dataclass
class Reveal:
    """A reveal asked for on one page: who asks, why, and the page (recorded when used)."""

    user: str
    reason: str
    page: str


def clean(value):
    """A value fit for JSON and templates: NaN/NaT -> None, timestamps -> text, numpy -> Python."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.strftime("%Y-%m-%d %H:%M:%S")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def fmt_time(value) -> str:
    """``YYYY-MM-DD HH:MM`` ('' when missing)."""
    if value is None:
        return ""
    stamp = pd.Timestamp(value)
    return "" if pd.isna(stamp) else stamp.strftime("%Y-%m-%d %H:%M")


def fmt_money(value) -> str:
    """Two decimals with thousands separators ('' when missing)."""
    value = clean(value)
    if value is None:
        return ""
    try:
        return f"{float(value):,.2f}"
    except (TypeError, ValueError):
        return str(value)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


class Workbench:
    """One analysed workspace as the workbench reads it (see the module docstring)."""

    def __init__(self, workspace, max_nodes: int = MAX_NODES, backend: str | None = None, neo4j=None):
        self.ws = results.open_results(workspace, warn=False)
        #: Where boxes, sites, patients, prescribers and neighbourhoods are looked up (:mod:`rxring.serve.lookups`).
        self.lookups = open_lookups(self.ws, backend, neo4j)
        #: The ring explorer's node budget (:func:`rxring.report.graph_groups.budget_groups`).
        self.max_nodes = max_nodes
        self.findings = results.load_findings(self.ws)
        self.rings = results.load_rings(self.ws)
        self.analysis = results.load_analysis(self.ws)
        sites = self.ws.master("sites")
        self.sites = {} if sites is None else {
            str(r["site_id"]): {k: clean(r.get(k)) for k in ("name", "kind", "chain", "region")}
            for r in sites.to_dict("records")}
        self.counts = results.event_counts(self.ws)
        self._results_read = self.ws.results_dir      # the generation read at start (pinned)
        self._checked: tuple[float, str | None] | None = None
        self._overview: dict | None = None
        self._secret = secrets.token_bytes(16)
        self._refs: dict[str, tuple[str, str]] = {}
        for column, kind in (("patients", "patient"), ("prescribers", "prescriber")):
            for values in self.findings[column]:
                for value in values:
                    self.ref(kind, value)

    # ------------------------------------------------------------ is what is shown current

    def staleness(self) -> str | None:
        """Why the pages may be out of date, checked at most every :data:`CHECK_SECONDS`: ``"data"`` when
        the workspace's data changed after the results shown were computed (:func:`rxring.results.stale_warning`:
        run ``rxring analyze``), ``"results"`` when a newer analysis was published after the server
        read its results (restart ``rxring serve``), else None."""
        now = time.monotonic()
        if self._checked is None or now - self._checked[0] >= CHECK_SECONDS:
            current = self.ws.current_generation() or self.ws.root
            why = ("data" if results.stale_warning(self.ws, echo=False) else
                   "results" if current != self._results_read else None)
            self._checked = (now, why)
        return self._checked[1]

    # ------------------------------------------------------------ people, refs, reveals

    def ref(self, kind: str, raw) -> str:
        """The opaque address of a patient or prescriber (registered so it resolves later)."""
        digest = hmac.new(self._secret, f"{kind}\0{raw}".encode("utf-8"), hashlib.sha256).hexdigest()[:20]
        self._refs.setdefault(digest, (kind, str(raw)))
        return digest

    def resolve(self, kind: str, ref: str) -> str:
        """The id behind a ref (NotFound when unknown or of another kind)."""
        found = self._refs.get(ref)
        if found is None or found[0] != kind:
            raise NotFound(f"{kind} {ref}")
        return found[1]

    def permit(self, reveal: Reveal | None, what: dict) -> bool:
        """True when *reveal* is given and recorded (with its user and reason) by permit_reveal."""
        if reveal is None:
            return False
        with reveal_session("rxring serve", operator=reveal.user, argv=["serve", reveal.page], reason=reveal.reason):
            return permit_reveal(True, self.ws, {"page": reveal.page, **what})

    def person(self, kind: str, raw, revealed: bool) -> dict:
        """A person as shown: ``{kind, ref, label, href}``."""
        ref = self.ref(kind, raw)
        return {"kind": kind, "ref": ref, "label": str(raw) if revealed else mask_id(raw), "href": f"/{kind}/{ref}"}

    def site(self, site_id) -> dict:
        """A site as shown: ``{kind, id, name, label, href, region}``."""
        info = self.sites.get(str(site_id), {})
        name = info.get("name") or ""
        return {"kind": "site", "id": str(site_id), "name": name, "region": info.get("region") or "",
                "label": f"{site_id} {name}".strip(), "href": "/site/" + quote(str(site_id), safe="")}

    # ------------------------------------------------------------ overview

    def overview(self) -> dict:
        """Counts, findings per rule and per week, worst rings, top sites, regions (computed once: the
        results are read once at start)."""
        if self._overview is None:
            self._overview = self._compute_overview()
        return self._overview

    def _compute_overview(self) -> dict:
        f = self.findings
        per_rule = {rule: int((f["rule"] == rule).sum()) for rule in RULES}
        fund_per_rule = {rule: float(f.loc[f["rule"] == rule, "fund_amount"].fillna(0).sum()) for rule in RULES}
        weeks: dict[str, dict[str, int]] = {}
        if len(f):
            times = pd.to_datetime(f["first_time"])
            week = (times - pd.to_timedelta(times.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
            table = pd.crosstab(week, f["rule"])
            weeks = {w: {r: int(table.loc[w, r]) if r in table.columns else 0 for r in RULES} for w in table.index}
        return {
            "counts": {**{k: clean(v) for k, v in self.counts.items()}, "findings": len(f), "rings": len(self.rings),
                       "fund_at_risk": float(self.rings["fund_at_risk"].fillna(0).sum()) if len(self.rings) else 0.0},
            "per_rule": per_rule,
            "fund_per_rule": fund_per_rule,
            "weeks": weeks,
            "top_rings": self.ring_rows(self.rings.head(10), revealed=False),
            "top_laundering": self._top_sites("laundering_sites"),
            "top_sources": self._top_sites("source_sites"),
            "regions": self._regions(),
            "months": self._months(),
        }

    def _months(self) -> list[dict]:
        """Per calendar month of the data: the findings and rings active in it (:func:`rxring.results.in_window`,
        as the lists' date filter counts them), their fund, and the first and last day to filter the lists by."""
        first, last = self.counts.get("first_time"), self.counts.get("last_time")
        if first is None or last is None or pd.isna(first) or pd.isna(last):
            return []
        out = []
        for start in pd.period_range(pd.Timestamp(first), pd.Timestamp(last), freq="M"):
            since, until = start.start_time.strftime("%Y-%m-%d"), start.end_time.strftime("%Y-%m-%d")
            found = self.findings[results.in_window(self.findings, since, until)]
            rings = self.rings[results.in_window(self.rings, since, until)]
            out.append({"month": str(start), "since": since, "until": until, "findings": len(found),
                        "fund": float(found["fund_amount"].fillna(0).sum()), "rings": len(rings),
                        "ring_ids": list(rings.sort_values("rank")["ring_id"][:5])})
        return out

    def _site_table(self, column: str) -> pd.DataFrame:
        rows = self.findings[[column, "fund_amount", "finding_id"]].explode(column).dropna(subset=[column])
        return rows.groupby(column).agg(findings=("finding_id", "count"), fund=("fund_amount", "sum"))

    def _top_sites(self, column: str, n: int = 10) -> list[dict]:
        if self.findings.empty:
            return []
        table = self._site_table(column).sort_values(["findings", "fund"], ascending=False).head(n)
        return [{**self.site(site), "findings": int(row["findings"]), "fund": float(row["fund"] or 0)}
                for site, row in table.iterrows()]

    def _regions(self) -> list[dict]:
        """Per region of the site master: its sites named by findings, and the findings (each counted once
        per region, however many of its sites lie there) with their fund."""
        if self.findings.empty or not any(v.get("region") for v in self.sites.values()):
            return []
        rows = self.findings[["finding_id", "sites", "fund_amount"]].explode("sites").dropna(subset=["sites"])
        rows["region"] = rows["sites"].map(lambda s: self.sites.get(str(s), {}).get("region") or "—")
        sites = rows.groupby("region")["sites"].nunique()
        once = rows.drop_duplicates(["finding_id", "region"])
        grouped = once.groupby("region").agg(findings=("finding_id", "count"), fund=("fund_amount", "sum"))
        grouped["sites"] = sites
        return [{"region": region, "sites": int(r["sites"]), "findings": int(r["findings"]), "fund": float(r["fund"] or 0)}
                for region, r in grouped.sort_values("findings", ascending=False).iterrows()]

    # ------------------------------------------------------------ rings and findings

    def ring_rows(self, frame: pd.DataFrame, revealed: bool) -> list[dict]:
        """Rings as table rows (members as counts; people never listed here)."""
        out = []
        for row in _records(frame):
            out.append({
                "ring_id": row["ring_id"], "rank": row["rank"], "score": row["score"], "boxes": row["boxes"],
                "events": row["events"], "fund_at_risk": row["fund_at_risk"],
                "first_time": row["first_time"], "last_time": row["last_time"], "rules": row["rules"],
                "patients": len(row["source_patients"]), "prescribers": len(row["prescribers"]),
                "source_sites": [self.site(s) for s in row["source_sites"]],
                "laundering_sites": [self.site(s) for s in row["laundering_sites"]],
            })
        return out

    def ring(self, ring_id: str) -> dict:
        """One ring's row (as stored) or NotFound."""
        match = self.rings[self.rings["ring_id"].str.upper() == str(ring_id).upper()]
        if match.empty:
            raise NotFound(f"ring {ring_id}")
        return match.iloc[0].to_dict()

    def finding_rows(self, frame: pd.DataFrame, revealed: bool) -> list[dict]:
        """Findings as table rows: people as shown (masked unless *revealed*), sites with names."""
        shown = mask_frame(frame, revealed)   # masks the explanations' personal values too
        out = []
        for raw, row in zip(_records(frame), _records(shown)):
            out.append({
                "finding_id": row["finding_id"], "rule": row["rule"], "trace_codes": row["trace_codes"],
                "sites": [self.site(s) for s in row["sites"]],
                "patients": [self.person("patient", p, revealed) for p in raw["source_patients"]],
                "prescribers": [self.person("prescriber", p, revealed) for p in raw["source_prescribers"]],
                "fund_amount": row["fund_amount"], "first_time": row["first_time"], "last_time": row["last_time"],
                "explanation": row["explanation"], "explanation_zh": row.get("explanation_zh") or row["explanation"],
                "event_ids": row["event_ids"],
            })
        return out

    def filter_findings(self, rule: str = "", site: str = "", code: str = "", ring: str = "",
                        patient: str = "", prescriber: str = "", since: str = "", until: str = "") -> pd.DataFrame:
        """Findings filtered by rule, site, trace code (any spelling), ring, patient or prescriber (raw ids),
        or active between the days *since* and *until* (:func:`rxring.results.in_window`)."""
        f = results.findings_for(self.findings, rule=rule or None, site=site or None, patient=patient or None,
                                 code=results.canonical_code(code) if code else None, since=since, until=until)
        if prescriber:
            f = f[f["prescribers"].map(lambda v: prescriber in v)]
        if ring:
            wanted = set(self.ring(ring)["finding_ids"])
            f = f[f["finding_id"].isin(wanted)]
        return f.reset_index(drop=True)

    def rings_of(self, *, site: str = "", patient: str = "", prescriber: str = "", finding_ids=None) -> pd.DataFrame:
        """Rings naming a site, a patient, a prescriber, or holding one of *finding_ids*."""
        found = results.rings_for(self.rings, site=site or None, patient=patient or None, finding_ids=finding_ids)
        if prescriber:
            more = self.rings[self.rings["prescribers"].map(lambda v: prescriber in v)]
            found = pd.concat([found, more]).drop_duplicates("ring_id")
        return found.sort_values("rank").reset_index(drop=True)

    # ------------------------------------------------------------ boxes and actors

    def box(self, code: str, reveal: Reveal | None = None) -> dict:
        """One pack's chain of custody, the findings on it, and the events they name (NotFound if absent)."""
        canonical = results.canonical_code(code)
        try:
            timeline = self.lookups.box_events(canonical)
        except RxringError as exc:
            raise NotFound(f"trace code {canonical}") from exc
        revealed = self.permit(reveal, {"trace_code": canonical})
        raw_findings = results.findings_for(self.findings, code=canonical)
        offending = {e for ids in raw_findings["event_ids"] for e in ids}
        return {"code": canonical, "events": self.event_rows(timeline, revealed, offending),
                "findings": self.finding_rows(raw_findings, revealed), "revealed": revealed}

    def event_rows(self, frame: pd.DataFrame, revealed: bool, offending=frozenset()) -> list[dict]:
        out = []
        for row in _records(frame):
            patient, prescriber = row.get("patient_id"), row.get("prescriber_id")
            out.append({
                "event_id": row.get("event_id"), "event_time": row.get("event_time"), "event_type": row.get("event_type"),
                "trace_code": row.get("trace_code"), "site": self.site(row.get("site_id")),
                "product_name": row.get("product_name") or "", "quantity": row.get("quantity"),
                "patient": self.person("patient", patient, revealed) if patient else None,
                "prescriber": self.person("prescriber", prescriber, revealed) if prescriber else None,
                "settlement_id": row.get("settlement_id") or "", "fund_amount": row.get("fund_amount"),
                "source_file": row.get("source_file") or "", "source_line": row.get("source_line"),
                "note": row.get("note") or "", "offending": row.get("event_id") in offending,
            })
        return out

    def actor(self, kind: str, key: str, reveal: Reveal | None = None, limit: int = 200) -> dict:
        """A site, patient, prescriber or settlement page: summary, findings, rings, activity, counterparties."""
        events = self.lookups.actor_events(kind, key, limit)
        if kind == "site":
            found = self.filter_findings(site=key)
            rings = self.rings_of(site=key)
        elif kind == "patient":
            found = self.filter_findings(patient=key)
            rings = self.rings_of(patient=key, finding_ids=list(found["finding_id"]))
        elif kind == "prescriber":
            found = self.filter_findings(prescriber=key)
            rings = self.rings_of(prescriber=key)
        else:
            ids_here = set(events["event_id"])
            found = self.findings[self.findings["event_ids"].map(
                lambda ids: not ids_here.isdisjoint(ids))].reset_index(drop=True)
            rings = self.rings_of(finding_ids=list(found["finding_id"]))
        if events.empty and found.empty:
            raise NotFound(f"{kind} {key}")
        revealed = self.permit(reveal, {f"{kind}_id": key})
        neighbours = []
        if kind in ("site", "patient", "prescriber"):
            for row in _records(self.lookups.neighbours(kind, key, limit=15)):
                who = self.site(row["id"]) if row["kind"] == "site" else self.person(row["kind"], row["id"], revealed)
                neighbours.append({**who, "relation": row["relation"], "boxes": row["boxes"], "fund": row["fund"],
                                   "first_time": row["first_time"], "last_time": row["last_time"],
                                   "total": row["total"]})
        weekly = self.lookups.weeks(kind, key) if not events.empty else {}
        offending = {e for ids in found["event_ids"] for e in ids}
        title = self.site(key) if kind == "site" else (
            self.person(kind, key, revealed) if kind in PERSON_KINDS else {"label": key})
        return {"kind": kind, "key": key, "title": title, "events": self.event_rows(events, revealed, offending),
                "findings": self.finding_rows(found.head(MAX_FINDINGS_SHOWN), revealed), "findings_total": len(found),
                "rings": self.ring_rows(rings, revealed),
                "neighbours": neighbours, "weekly": weekly, "revealed": revealed}

    # ------------------------------------------------------------ search

    def search(self, text: str) -> dict:
        """``{"jump": url}`` for one exact hit, else ``{"matches": [...]}`` (people masked)."""
        text = str(text).strip()
        if not text:
            return {"matches": []}
        upper = text.upper()
        ring_ids = list(self.rings["ring_id"])
        for ring_id in ring_ids:
            if ring_id.upper() == upper:
                return {"jump": "/ring/" + quote(ring_id, safe="")}
        found = results.match_ids(self.ws, text)
        exact = found[found["exact"]]
        kinds = set(exact["kind"])
        if len(exact) == 1 or ("code" in kinds):
            row = exact[exact["kind"] == "code"].iloc[0] if "code" in kinds else exact.iloc[0]
            return {"jump": self._href(row["kind"], row["id"])}
        matches = [{"kind": "ring", "label": r, "href": "/ring/" + quote(r, safe=""), "events": None, "exact": False}
                   for r in ring_ids if upper in r.upper()][:20]
        for site_id, info in self.sites.items():
            if text.lower() in str(info.get("name") or "").lower():
                matches.append({"kind": "site", "label": self.site(site_id)["label"], "href": self.site(site_id)["href"],
                                "events": None, "exact": False})
        for row in _records(found):
            label = mask_id(row["id"]) if row["kind"] in PERSON_KINDS else (
                self.site(row["id"])["label"] if row["kind"] == "site" else row["id"])
            matches.append({"kind": row["kind"], "label": label, "href": self._href(row["kind"], row["id"]),
                            "events": row["events"], "exact": bool(row["exact"])})
        return {"matches": matches[:100]}

    def _href(self, kind: str, key: str) -> str:
        if kind in PERSON_KINDS:
            return f"/{kind}/{self.ref(kind, key)}"
        if kind == "code":
            return "/box/" + quote(str(key), safe="")
        return f"/{kind}/" + quote(str(key), safe="")
