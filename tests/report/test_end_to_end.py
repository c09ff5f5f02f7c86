"""End to end: NHSA messages → `rxring.analysis.analyze` → report, viz, evidence.

The input is a tiny city written here in the NHSA 3503/3505 shapes: a hospital
dispenses six packs to two patients, and each pack resurfaces at one of two
pharmacies (inbound, then sold again).  The analysis area's engine must find one
ring; the outputs must describe it, with the raw source lines read back.
"""

import json
import shutil
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from rxring.analysis import analyze
from rxring.report import build_evidence, build_report, verify_evidence, write_viz
from rxring.report.evidence import read_package_csv

EXAMPLES = Path("/work/shared/examples")
HOSPITAL = "H111607491723"
PHARMACIES = ("P110581609017", "P110623843176")
PATIENTS = ("117008002367018414", "117008002367018415")
BUYER = "117008009999999999"


def _sale(n, site, code, patient, when, doctor):
    return {
        "infno": "3505", "msgid": f"M{n:06d}", "fixmedins_code": site,
        "input": {"selinfo": {
            "med_list_codg": "XB8244A6760756012761", "fixmedins_hilist_name": "奥美拉唑肠溶胶囊 20mg*14粒",
            "psn_no": patient, "psn_name": "张三", "prsc_dr_certno": doctor, "prsc_dr_name": "李医生",
            "setl_id": f"S{n:06d}", "finl_trns_pric": 88.0, "sel_retn_cnt": 1,
            "sel_retn_time": when.strftime("%Y-%m-%d %H:%M:%S"), "trdn_flag": "0",
            "drugtracinfo": [{"drug_trac_codg": code}],
        }},
    }


def _inbound(n, site, code, when):
    return {
        "infno": "3503", "msgid": f"M{n:06d}", "fixmedins_code": site, "med_list_codg": "XB8244A6760756012761",
        "fixmedins_hilist_name": "奥美拉唑肠溶胶囊 20mg*14粒", "spler_name": "国药控股", "purc_retn_cnt": 1,
        "purc_retn_stoin_time": when.strftime("%Y-%m-%d %H:%M:%S"), "finl_trns_pric": 60.0, "drug_trac_codg": code,
    }


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    inputs = root / "in"
    inputs.mkdir()
    lines, t0 = [], datetime(2026, 3, 1, 9, 0)
    for i in range(6):
        code = f"8115125791408562{3300 + i:04d}"
        when = t0 + timedelta(days=i)
        lines.append(_inbound(len(lines), HOSPITAL, code, when - timedelta(days=5)))
        lines.append(_sale(len(lines), HOSPITAL, code, PATIENTS[i % 2], when, "D00690832963972810"))
        lines.append(_inbound(len(lines), PHARMACIES[i % 2], code, when + timedelta(days=2)))
        lines.append(_sale(len(lines), PHARMACIES[i % 2], code, BUYER, when + timedelta(days=3), "D0000000001"))
    (inputs / "sales.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
                                         encoding="utf-8")
    if (EXAMPLES / "sites.csv").exists():
        shutil.copy(EXAMPLES / "sites.csv", inputs / "sites.csv")
    result = analyze(root / "ws", "embedded", inputs=[inputs])
    if len(result.rings) == 0:
        pytest.fail(f"the analysis found no ring in the resale fixture: {result.stats}")
    return root / "ws"


def test_reports_describe_the_analysed_ring(analysed, tmp_path):
    (path,) = build_report(analysed, "json", "en", tmp_path / "r.json")
    ring = json.loads(path.read_text(encoding="utf-8"))["rings"][0]
    assert ring["boxes"] == 6
    assert sorted(s.split(" (")[-1].rstrip(")") for s in ring["members"]["laundering_sites"]) == sorted(PHARMACIES)
    stats = {m["role_key"]: m for m in ring["member_stats"] if m["role_key"] == "prescribers"}
    # one pack counted once even when two rules fired on it
    assert stats["prescribers"]["fund_amount"] == pytest.approx(ring["fund_at_risk"])
    (xlsx,) = build_report(analysed, "xlsx", "zh", tmp_path / "r.xlsx")
    assert openpyxl.load_workbook(xlsx)["findings"].max_row == 1 + len(ring["findings"])
    (index,) = build_report(analysed, "html", "zh", tmp_path / "html")
    text = (index.parent / "ring-R001.html").read_text(encoding="utf-8")
    assert "朝阳区第0人民医院" in text
    for value in PATIENTS + ("张三", "李医生"):
        assert value not in text


def test_viz_and_evidence_of_the_analysed_ring(analysed, tmp_path):
    viz = write_viz(analysed, ["R001"], tmp_path / "ring.html")
    assert "vis.Network" in viz.read_text(encoding="utf-8")
    package = build_evidence(analysed, "R001", tmp_path / "case.zip")
    assert verify_evidence(package.path, package.digest).ok
    with zipfile.ZipFile(package.path) as archive:
        sources = read_package_csv(archive.read("source_rows.csv"))
        names = set(archive.namelist())
        blob = b"".join(archive.read(n) for n in names).decode("utf-8", errors="replace")
    assert {"queries/RESURFACE.sql", "queries/rendered/RESURFACE.sql", "queries/DUP_DISPENSE.sql"} <= names
    assert {r["source_status"] for r in sources} == {"ok"}
    assert len(sources) == 24  # every event of the six packs, inbound and sales
    for value in PATIENTS + (BUYER, "张三", "李医生"):
        assert value not in blob
