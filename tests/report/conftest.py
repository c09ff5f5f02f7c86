"""Fixtures for the investigator outputs: a hand-made analysed workspace and headless Chromium.

The workspace is written directly in the contract's shapes (events, findings,
rings, masters, manifest, analysis.json), with hostile strings in names and ids,
Chinese names, and a ring of 200+ patients to exercise aggregation.

Chromium: ``/usr/bin/chromium`` (installed by ``scripts/install-browser.sh``) or
``$RXRING_CHROMIUM``.  When it cannot start, the CI rule applies (the ``unavailable``
fixture of ``tests/conftest.py``: fail under ``CI=true``, skip with the reason elsewhere).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from rxring.schema import EVENT_SCHEMA, FINDING_COLUMNS, RING_COLUMNS
from rxring.workspace import Workspace

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'

BIG_RING_PATIENTS = 210


@dataclass
class FixtureCase:
    root: Path
    input_path: Path
    patients: list[str] = field(default_factory=list)
    prescribers: list[str] = field(default_factory=list)
    patient_names: dict = field(default_factory=dict)
    small_ring_codes: list[str] = field(default_factory=list)


def member_text(name: str, data: bytes) -> str:
    """A package member as text: a PDF's extracted text (pypdf), any other member decoded as UTF-8."""
    if name.endswith(".pdf"):
        import io

        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    return data.decode("utf-8-sig")


def _code(n: int) -> str:
    return f"8{n:019d}"


def build_workspace(root: Path, big: bool = True) -> FixtureCase:
    """Write an analysed workspace under ``root`` and the raw input file it came from."""
    ws = Workspace(root / "ws", create=True)
    input_dir = root / "inputs"
    input_dir.mkdir(parents=True, exist_ok=True)
    input_path = input_dir / "sales.jsonl"
    case = FixtureCase(root=ws.root, input_path=input_path)

    events, lines, findings = [], [], []
    t0 = datetime(2026, 3, 1, 9, 0)

    def add_event(code, etype, when, site, patient=None, prescriber=None, fund=None, qty=1.0):
        line_no = len(lines) + 1
        raw = {
            "infno": "3505" if etype == "dispense" else "3503",
            "fixmedins_code": site,
            "drug_trac_codg": code,
            "sel_retn_time": when.strftime("%Y-%m-%d %H:%M:%S"),
            "psn_no": patient,
            "prsc_dr_name": prescriber,
            "tel": "13812345678" if patient else None,
        }
        lines.append(json.dumps(raw, ensure_ascii=False))
        event_id = f"{input_path.name}:{line_no}"
        events.append(
            {
                "event_id": event_id,
                "trace_code": code,
                "event_type": etype,
                "event_time": when,
                "site_id": site,
                "product_code": "XB8244A6760756012761",
                "product_name": "奥美拉唑肠溶胶囊 20mg*14粒",
                "quantity": qty,
                "split_sale": False,
                "patient_id": patient,
                "prescriber_id": prescriber,
                "fund_amount": fund,
                "total_amount": fund * 1.25 if fund else None,
                "settlement_id": f"SETL{line_no:06d}" if etype == "dispense" else None,
                "code_kind": "cn20",
                "code_product": code[:7],
                "source_file": str(input_path),
                "source_line": line_no,
            }
        )
        return event_id

    def finding(fid, rule, code, src, laund, patient, prescriber, ids, fund, first, last, text, buyer):
        findings.append(
            {
                "finding_id": fid,
                "rule": rule,
                "trace_codes": [code],
                "sites": sorted({src, laund}),
                "source_sites": [src],
                "laundering_sites": [laund],
                "patients": sorted({patient, buyer}),
                "prescribers": [prescriber] if prescriber else [],
                "source_patients": [patient],
                "source_prescribers": [prescriber] if prescriber else [],
                "fund_amount": fund,
                "total_amount": fund * 1.25,
                "first_time": first,
                "last_time": last,
                "event_ids": ids,
                "explanation": text,
            }
        )

    # Ring R001: small, hostile names, Chinese names, ID-number-shaped patient ids.
    small_patients = ["11010519900101123X", "110105198512125678"]
    small_prescriber = "DR-" + XSS_SCRIPT
    case.patients += small_patients
    case.prescribers.append(small_prescriber)
    case.patient_names = {small_patients[0]: "张三丰", small_patients[1]: "李四"}
    small_fids = []
    for i, (patient, laund) in enumerate(zip(small_patients * 2, ["S-XSS1", "S-XSS2", "S-XSS1", "S-XSS2"])):
        code = _code(1000 + i)
        case.small_ring_codes.append(code)
        when = t0 + timedelta(days=i)
        ids = [add_event(code, "inbound", when - timedelta(days=3), "H-001")]
        ids.append(add_event(code, "dispense", when, "H-001", patient, small_prescriber, fund=88.5))
        ids.append(add_event(code, "inbound", when + timedelta(days=2), laund))
        ids.append(add_event(code, "dispense", when + timedelta(days=3), laund, "P-BUYER", None, fund=88.5))
        fid = f"RESURFACE:{code}:1"
        small_fids.append(fid)
        finding(
            fid, "RESURFACE", code, "H-001", laund, patient, small_prescriber, ids[1:], 88.5,
            when, when + timedelta(days=3),
            f"Code {code} dispensed to patient {patient} at H-001 resurfaced at {laund}.", "P-BUYER",
        )
    rings = [
        {
            "ring_id": "R001",
            "rank": 1,
            "score": 97.5,
            "source_patients": sorted(small_patients),
            "prescribers": [small_prescriber],
            "source_sites": ["H-001"],
            "laundering_sites": ["S-XSS1", "S-XSS2"],
            "boxes": 4,
            "events": 12,
            "fund_at_risk": 354.0,
            "total_amount": 442.5,
            "first_time": t0,
            "last_time": t0 + timedelta(days=6),
            "rules": ["RESURFACE"],
            "finding_ids": small_fids,
        }
    ]

    if big:
        big_patients = [f"P{n:05d}" for n in range(BIG_RING_PATIENTS)]
        prescribers = [f"DOC{n}" for n in range(5)]
        case.patients += big_patients
        case.prescribers += prescribers
        big_fids = []
        for n, patient in enumerate(big_patients):
            code = _code(50000 + n)
            src = "H-002" if n % 2 else "H-003"
            doc = prescribers[n % 5]
            when = t0 + timedelta(hours=n)
            ids = [add_event(code, "dispense", when, src, patient, doc, fund=40.0 + n % 7)]
            ids.append(add_event(code, "dispense", when + timedelta(days=1), "S-BIG", "P-RESALE", None, fund=40.0))
            fid = f"RESURFACE:{code}:1"
            big_fids.append(fid)
            finding(fid, "RESURFACE", code, src, "S-BIG", patient, doc, ids, 40.0 + n % 7, when, when + timedelta(days=1),
                    f"Code {code} resurfaced at S-BIG.", "P-RESALE")
        rings.append(
            {
                "ring_id": "R002",
                "rank": 2,
                "score": 80.25,
                "source_patients": big_patients,
                "prescribers": prescribers,
                "source_sites": ["H-002", "H-003"],
                "laundering_sites": ["S-BIG"],
                "boxes": BIG_RING_PATIENTS,
                "events": 2 * BIG_RING_PATIENTS,
                "fund_at_risk": float(sum(f["fund_amount"] for f in findings[len(small_fids):])),
                "total_amount": 0.0,
                "first_time": t0,
                "last_time": t0 + timedelta(hours=BIG_RING_PATIENTS, days=1),
                "rules": ["RESURFACE"],
                "finding_ids": big_fids,
            }
        )

    input_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame = pd.DataFrame(events)
    for column in EVENT_SCHEMA.names:
        if column not in frame.columns:
            frame[column] = None
    table = pa.Table.from_pandas(frame[list(EVENT_SCHEMA.names)], schema=EVENT_SCHEMA, preserve_index=False)
    ws.write_event_part("fixture", table)
    pd.DataFrame(findings, columns=list(FINDING_COLUMNS)).to_parquet(ws.findings_path)
    pd.DataFrame(rings, columns=list(RING_COLUMNS)).to_parquet(ws.rings_path)
    pd.DataFrame(
        [
            {"site_id": "H-001", "name": "朝阳区第一人民医院", "kind": "hospital", "chain": None, "region": "朝阳区"},
            {"site_id": "H-002", "name": "海淀医院", "kind": "hospital", "chain": None, "region": "海淀区"},
            {"site_id": "H-003", "name": "昌平医院", "kind": "hospital", "chain": None, "region": "昌平区"},
            {"site_id": "S-XSS1", "name": XSS_SCRIPT + "大药房", "kind": "pharmacy", "chain": None, "region": "朝阳区"},
            {"site_id": "S-XSS2", "name": XSS_IMG, "kind": "pharmacy", "chain": None, "region": "朝阳区"},
            {"site_id": "S-BIG", "name": "惠民药店", "kind": "pharmacy", "chain": "嘉事堂", "region": "昌平区"},
        ]
    ).to_parquet(ws.masters_dir / "sites.parquet")
    pd.DataFrame(
        [{"patient_id": k, "name": v} for k, v in case.patient_names.items()]
    ).to_parquet(ws.masters_dir / "patients.parquet")
    pd.DataFrame([{"prescriber_id": small_prescriber, "name": "王医生"}]).to_parquet(ws.masters_dir / "prescribers.parquet")
    ws.write_manifest(
        {
            "inputs": [
                {
                    "path": str(input_path),
                    "sha256": hashlib.sha256(input_path.read_bytes()).hexdigest(),
                    "read": len(lines),
                    "accepted": len(lines),
                    "quarantined": 0,
                }
            ]
        }
    )
    ws.analysis_path.write_text(
        json.dumps({"version": "0.1.0", "engine": "embedded", "options": {"seed": 0, "split_above": 12}}),
        encoding="utf-8",
    )
    return case


@pytest.fixture(scope="session")
def fixture_case(tmp_path_factory) -> FixtureCase:
    """The analysed fixture workspace (shared, read-only: copy it before changing anything)."""
    return build_workspace(tmp_path_factory.mktemp("report-fixture"))


@dataclass
class CityOutputs:
    """The shared city's outputs (:func:`tests.report.outputs_digest.write_outputs`) and the seconds they took."""

    folder: Path
    seconds: float


@pytest.fixture(scope="session")
def city_outputs(city, tmp_path_factory) -> CityOutputs:
    """Every report format (zh), the en JSON report, the visualisations and R001's sealed evidence package of
    the session city, written once for the tests that read them (read-only: copy before changing anything)."""
    import time

    from tests.report.outputs_digest import write_outputs

    folder = tmp_path_factory.mktemp("city-outputs") / "out"
    started = time.perf_counter()
    write_outputs(city.workspace, folder, "R001")
    return CityOutputs(folder, time.perf_counter() - started)


@pytest.fixture(scope="session")
def small_case(tmp_path_factory) -> FixtureCase:
    """Only the small hostile ring R001."""
    return build_workspace(tmp_path_factory.mktemp("report-small"), big=False)


@pytest.fixture
def small_copy(small_case, tmp_path):
    """A private copy of ``small_case``'s workspace, for a test that writes into it (a reveal
    record, a viz page): the shared workspace stays as built for every other test."""
    import shutil

    root = tmp_path / "small-ws"
    shutil.copytree(small_case.root, root)
    return root


# --------------------------------------------------------------------------- Chromium

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--hide-scrollbars",
)


@dataclass
class PageRun:
    dom: str
    page_requests: list[str]
    screenshot: Path | None


class Chromium:
    """Runs headless Chromium on one page: DOM after a virtual-time budget, the page's own requests."""

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self._n = 0

    def _run(self, args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
        self._n += 1
        profile = tempfile.mkdtemp(prefix="profile-", dir=self.workdir)
        try:
            return subprocess.run(
                [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                capture_output=True, timeout=timeout, check=False,
            )
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    def open(self, url: str, budget_ms: int = 8000, window: tuple[int, int] = (1400, 1000),
             screenshot: Path | None = None) -> PageRun:
        """Load ``url``; return the DOM, every network request the page made, and a screenshot."""
        netlog = self.workdir / f"net-{self._n}.json"
        args = [f"--virtual-time-budget={budget_ms}", f"--log-net-log={netlog}", f"--window-size={window[0]},{window[1]}"]
        if screenshot is not None:
            args.append(f"--screenshot={screenshot}")
        result = self._run([*args, "--dump-dom", url])
        if result.returncode != 0:
            raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr.decode(errors='replace')[-2000:]}")
        shot = screenshot if screenshot is not None and screenshot.exists() else None
        return PageRun(dom=result.stdout.decode("utf-8", errors="replace"), page_requests=page_requests(netlog),
                       screenshot=shot)


def page_requests(netlog: Path) -> list[str]:
    """URLs the page itself requested (not Chromium's own background traffic), from a net log.

    A request belongs to the page when its network isolation key or initiator is the
    page's file:// origin; Chromium's update/account pings have no such key.
    """
    if not netlog.exists():
        return []
    text = netlog.read_text(encoding="utf-8", errors="replace").rstrip()
    if not text.endswith("}"):
        text = text.rstrip(",\n") + "]}"
    try:
        log = json.loads(text)
    except ValueError:
        log = json.loads(text.rstrip("]}").rstrip(",\n") + "]}")
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls = []
    for event in log.get("events", []):
        if types.get(event.get("type")) != "URL_REQUEST_START_JOB":
            continue
        params = event.get("params", {})
        from_page = "file://" in str(params.get("network_isolation_key", "")) or params.get("initiator") == "null"
        if from_page:
            urls.append(params.get("url", ""))
    return urls


def _find_chromium() -> str | None:
    for candidate in (os.environ.get("RXRING_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium(tmp_path_factory, unavailable) -> Chromium:
    """A working headless Chromium; when it is missing, the CI rule (tests/conftest.py) fails or skips."""
    binary = _find_chromium()
    reason = None
    if binary is None:
        reason = "Chromium not found (run scripts/install-browser.sh)"
    else:
        browser = Chromium(binary, tmp_path_factory.mktemp("chromium"))
        try:
            probe = browser._run(["--dump-dom", "about:blank"], timeout=60)
            if probe.returncode != 0 or b"<html" not in probe.stdout:
                reason = f"Chromium did not start: {probe.stderr.decode(errors='replace')[-500:]}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"Chromium did not start: {exc}"
    if reason:
        unavailable(reason)
    return browser


@pytest.fixture
def make_case(tmp_path):
    """A fresh fixture workspace you may change: ``make_case(big=False)``."""
    def make(big: bool = False) -> FixtureCase:
        return build_workspace(tmp_path / "made", big=big)

    return make
