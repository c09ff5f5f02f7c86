"""A PII scan of every output against the people of the session's city (issue 14, personal data).

Every output a user can make from the shared ``city`` — the report in every
format, the visualisation, the evidence package (every member), the listings
(tables and ``--json``), the ingest summary and ``quarantine.csv`` — is searched
for every patient, prescriber and pharmacist id of the city's events and every
name of its inputs.  Without ``--reveal-pii`` none may appear, and nothing is
recorded; with it, each command appends one record (who, when, command, what) to
the workspace's ``reveals.jsonl`` (the user's own record when there is no workspace),
which itself names nobody in clear.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.pii import is_pii_header, mask_quarantine_rows
from rxring.report.build import FORMATS
from rxring.pii import mask_value
from rxring.reveal import REVEALS_NAME, os_user, person_digest, read_reveals, record_reveal, reveals_path

_ALNUM = re.compile(r"[0-9A-Za-z]+")


class People:
    """The city's personal values and a fast scan for them."""

    def __init__(self, ids: set[str], names: set[str]):
        self.ids = ids
        self.names = names
        self._lengths = sorted({len(v) for v in ids})

    def leaks(self, text: str) -> set[str]:
        """Every id or name of the city that occurs in ``text`` (ids also inside longer alphanumeric runs)."""
        found = {n for n in self.names if n in text}
        for token in set(_ALNUM.findall(text)):
            if token in self.ids:
                found.add(token)
                continue
            for length in self._lengths:
                if length >= len(token):
                    break
                found.update(token[i:i + length] for i in range(len(token) - length + 1)
                             if token[i:i + length] in self.ids)
        return found


def _names_in(value, out: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                _names_in(item, out)
            elif isinstance(item, str) and "name" in key.lower() and is_pii_header(key) and item.strip("*"):
                out.add(item)
    elif isinstance(value, list):
        for item in value:
            _names_in(item, out)


@pytest.fixture(scope="module")
def people(city) -> People:
    events = ds.dataset(city.workspace / "events").to_table(
        columns=["patient_id", "prescriber_id", "pharmacist_id"]).to_pandas()
    ids = {str(v) for column in events.columns for v in events[column].dropna()}
    names: set[str] = set()
    for path in sorted(city.inputs.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            _names_in(json.loads(line), names)
    assert len(ids) > 500 and names, "the city should have people to look for"
    return People(ids, names)


def _texts(path: Path):
    """(name, text) of a file, or of every member of a zip (xlsx, evidence package)."""
    if path.suffix in (".zip", ".xlsx"):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                yield f"{path.name}!{member}", archive.read(member).decode("utf-8", errors="replace")
    else:
        yield path.name, path.read_bytes().decode("utf-8", errors="replace")


def _scan_files(root: Path, people: People) -> tuple[int, dict[str, set[str]]]:
    scanned, leaks = 0, {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for name, text in _texts(path):
            scanned += 1
            found = people.leaks(text)
            if found:
                leaks[name] = found
    return scanned, leaks


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def _subjects(workspace: Path) -> dict:
    """A ring, one of its trace codes, source site and source patient (for box, site, patient)."""
    rings = pd.read_parquet(workspace / "rings.parquet").sort_values("rank")
    ring = rings.iloc[0]
    findings = pd.read_parquet(workspace / "findings.parquet")
    finding = findings[findings["finding_id"].isin(list(ring["finding_ids"]))].iloc[0]
    return {"ring": str(ring["ring_id"]), "code": str(finding["trace_codes"][0]),
            "site": str(ring["source_sites"][0]), "patient": str(ring["source_patients"][0])}


def _listings(ws: str, s: dict, *extra: str) -> dict[str, str]:
    commands = {
        "rings": ["rings"], "rings --json": ["rings", "--json"],
        "ring": ["ring", s["ring"]], "ring --json": ["ring", s["ring"], "--json"],
        "findings": ["findings", "--limit", "0"], "findings --json": ["findings", "--json"],
        "box --json": ["box", s["code"], "--json"], "box": ["box", s["code"]],
        "site --json": ["site", s["site"], "--json"], "patient --json": ["patient", s["patient"], "--json"],
        "patient": ["patient", s["patient"]],
    }
    return {name: _run(*args, "-w", ws, *extra) for name, args in commands.items()}


def _outputs(ws: str, s: dict, out: Path, *extra: str, formats=FORMATS) -> dict[str, str]:
    """Write report (each format), viz and evidence under ``out``; return the CLI output of each."""
    printed = {}
    for fmt in formats:
        target = out / f"report-{fmt}" / ("" if fmt == "html" else f"report.{fmt}")
        printed[f"report {fmt}"] = _run("report", "-w", ws, "--format", fmt, "-o", str(target), *extra)
    printed["viz"] = _run("viz", "-w", ws, "-o", str(out / "viz.html"), *extra)
    printed["evidence"] = _run("evidence", s["ring"], "-w", ws, "-o", str(out / "evidence.zip"), *extra)
    return printed


def test_no_output_shows_a_person_without_reveal(city_copy, people, tmp_path):
    # a copy: the CLI's exports and evidence write audit lines into the workspace they read
    ws = str(city_copy)
    recorded = len(read_reveals(city_copy))
    subjects = _subjects(city_copy)
    out = tmp_path / "out"
    printed = _outputs(ws, subjects, out)
    printed.update(_listings(ws, subjects))
    scanned, leaks = _scan_files(out, people)
    assert scanned > 40  # report pages, csv/xlsx members, viz, every evidence member
    assert {"evidence.zip!source_rows.csv", "evidence.zip!summary.zh.md", "viz.html"} <= {
        name for path in out.rglob("*") if path.is_file() for name, _ in _texts(path)}
    assert not leaks, f"personal data in outputs: {leaks}"
    cli_leaks = {name: found for name, text in printed.items() if (found := people.leaks(text))}
    assert not cli_leaks, f"personal data printed: {cli_leaks}"
    assert len(read_reveals(city_copy)) == recorded, "nothing was revealed, nothing may be recorded"


def _bad_inputs(city, folder: Path) -> None:
    """Inputs that are quarantined, holding people of the city: NHSA JSON and a Chinese CSV export."""
    folder.mkdir()
    sales = [line for line in (city.inputs / sorted(p.name for p in city.inputs.glob("*.jsonl"))[0]).read_text(
        encoding="utf-8").splitlines() if '"3505"' in line]
    message = json.loads(sales[0])
    selinfo = message["input"]["selinfo"]
    selinfo = selinfo[0] if isinstance(selinfo, list) else selinfo
    selinfo["drugtracinfo"] = [{"drug_trac_codg": "12AB"}]  # not a trace code: quarantined
    cut = sales[1][: len(sales[1]) * 2 // 3]  # broken JSON: quarantined as text
    (folder / "bad.jsonl").write_text(json.dumps(message, ensure_ascii=False) + "\n" + cut + "\n", encoding="utf-8")
    person = ",".join([selinfo["psn_no"], selinfo["prsc_dr_certno"], selinfo["prsc_dr_name"], selinfo["phar_certno"]])
    (folder / "bad.csv").write_text(
        "追溯码,业务类型,销售时间,机构编码,人员编号,医师,医师姓名,药师,基金支付,备注\n"
        f"12AB,销售,2025-01-03 10:00:00,P111299055601,{person},10.5,医师{selinfo['prsc_dr_name']}开方\n"
        f"81260988596410997733,销售,2025-01-03 10:00:00,P111299055601,{person},10.5,多一列,x\n",
        encoding="utf-8")


def _ingest_bad(city, ws: Path, tmp_path: Path, *extra: str) -> tuple[pd.DataFrame, str]:
    _bad_inputs(city, tmp_path / "bad")
    printed = _run("ingest", str(tmp_path / "bad"), "-w", str(ws), *extra, code=2)  # nothing usable in them
    quarantine = pd.read_csv(ws / "quarantine.csv", dtype=str, keep_default_na=False)
    assert len(quarantine) == 4
    return quarantine, printed


def test_quarantine_rows_are_masked_by_the_ingest_masker(city, city_copy, people, tmp_path):
    quarantine, printed = _ingest_bad(city, city_copy, tmp_path)
    masked = mask_quarantine_rows(quarantine)
    leaks = {f"{r.source_file}:{r.source_line}": found for r in masked.itertuples()
             if (found := people.leaks(r.raw + " " + r.reason))}
    assert not leaks, leaks
    assert not people.leaks(printed)
    # what is not personal stays readable
    assert masked["raw"].str.contains("12AB").sum() == 2 and masked["raw"].str.contains("布洛芬|胶囊|片").any()


def test_quarantine_csv_on_disk_has_no_person(city, city_copy, people, tmp_path):
    quarantine, _ = _ingest_bad(city, city_copy, tmp_path)
    leaks = {f"{r.source_file}:{r.source_line}": found for r in quarantine.itertuples()
             if (found := people.leaks(r.raw + " " + r.reason))}
    assert not leaks, leaks


def test_every_reveal_is_recorded(city_copy, people, tmp_path):
    ws = str(city_copy)
    subjects = _subjects(city_copy)
    printed = _listings(ws, subjects, "--reveal-pii", "--operator", "审计员甲")
    printed.update(_outputs(ws, subjects, tmp_path / "out", "--reveal-pii", "--operator", "审计员甲",
                            formats=("md",)))
    records = read_reveals(city_copy)
    assert len(records) == len(printed)
    assert {r["user"] for r in records} == {"审计员甲"} and {r["os_user"] for r in records} == {os_user()}
    assert {r["command"] for r in records} == {
        f"rxring {c}" for c in ("rings", "ring", "findings", "box", "site", "patient", "report", "viz", "evidence create")}
    ring = next(r for r in records if r["command"] == "rxring ring")
    assert ring["what"] == {"ring_id": subjects["ring"]} and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ring["time"])
    patient = next(r for r in records if r["command"] == "rxring patient")
    # the record names the patient masked and by keyed hash, never in clear
    assert patient["what"]["patient_id"]["masked"] == mask_value(subjects["patient"])
    assert patient["what"]["patient_id"]["hmac_sha256"] == person_digest(city_copy, subjects["patient"])
    looked_up = [r for r in records if r["command"] == "rxring patient"]  # `patient` and `patient --json`
    assert len(looked_up) == 2 and read_reveals(city_copy, person=subjects["patient"]) == looked_up
    log = (city_copy / REVEALS_NAME).read_text(encoding="utf-8")
    assert not people.leaks(log), "the reveal record itself shows people"
    # the scan sees people when they are revealed
    assert people.leaks(printed["ring --json"]) and people.leaks(printed["patient --json"])
    _, leaks = _scan_files(tmp_path / "out", people)
    assert any(name.startswith("evidence.zip!") for name in leaks)

    # without --operator the OS user
    _run("rings", "-w", ws, "--reveal-pii", "--json")
    assert read_reveals(city_copy)[-1]["user"] == os_user()
    # a reveal that cannot be recorded shows nothing
    (city_copy / REVEALS_NAME).unlink()
    (city_copy / REVEALS_NAME).mkdir()
    refused = CliRunner().invoke(cli, ["ring", subjects["ring"], "-w", ws, "--reveal-pii", "--json"])
    assert refused.exit_code == 2 and "cannot record the --reveal-pii" in refused.output
    assert not people.leaks(refused.output)


def test_a_reveal_without_workspace_goes_to_the_users_record(tmp_path, monkeypatch):
    """Only when no workspace is known at all (neither given nor in RXRING_WORKSPACE)."""
    monkeypatch.delenv("RXRING_WORKSPACE", raising=False)
    monkeypatch.setenv("RXRING_REVEAL_LOG", str(tmp_path / "state" / "reveals.jsonl"))
    assert reveals_path(None) == tmp_path / "state" / "reveals.jsonl"
    record = record_reveal(None, "rxring neo4j run", {"name": "rings"}, operator="审计员乙", argv=["neo4j", "run", "rings",
                           "--neo4j", "bolt://neo4j:secret@db:7687", "--reveal-pii"])
    assert read_reveals(None) == [record] and record["workspace"] is None and record["user"] == "审计员乙"
    assert "secret" not in record["command_line"] and "bolt://***@db:7687" in record["command_line"]
    monkeypatch.delenv("RXRING_REVEAL_LOG")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert reveals_path(None) == tmp_path / "xdg" / "rxring" / REVEALS_NAME
    assert reveals_path(tmp_path / "ws") == tmp_path / "ws" / REVEALS_NAME
    monkeypatch.setenv("RXRING_WORKSPACE", str(tmp_path / "env-ws"))  # a known workspace wins
    assert reveals_path(None) == tmp_path / "env-ws" / REVEALS_NAME


def test_evidence_of_a_chinese_csv_export_masks_names_under_any_header_and_in_remarks(tmp_path):
    """Names under 患者姓名/医师姓名 and inside a remark (备注) never reach the package's raw lines."""
    from rxring.analysis import analyze
    from rxring.options import AnalysisOptions

    rows = ["追溯码,业务类型,销售时间,机构编码,药品编码,药品名称,数量,人员编号,患者姓名,医师,医师姓名,基金支付,备注"]
    names, ids = set(), set()
    for i in range(12):
        code, patient, buyer, name = f"8{i:019d}", f"P00000{i:02d}", f"P00001{i:02d}", f"李秀{'英梅兰'[i % 3]}"
        names |= {name, f"赵{'一二三'[i % 3]}娃"}
        ids |= {patient, buyer}
        rows += [f"{code},采购入库,2026-01-0{1 + i % 5} 09:00:00,P110000000001,XA01BA123456789012,阿莫西林胶囊,1,,,,,,",
                 f"{code},销售,2026-01-1{i % 5} 10:00:00,P110000000001,XA01BA123456789012,阿莫西林胶囊,1,{patient},"
                 f"{name},D99000{i % 2},王建国,80.5,患者{name}自述",
                 f"{code},销售,2026-01-2{i % 5} 10:00:00,P110000000002,XA01BA123456789012,阿莫西林胶囊,1,{buyer},"
                 f"赵{'一二三'[i % 3]}娃,D990009,钱多多,80.5,"]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sales.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    people = People(ids | {"D990000", "D990001", "D990009"}, names | {"王建国", "钱多多"})
    ws = tmp_path / "ws"
    result = analyze(ws, "embedded", AnalysisOptions(), inputs=[tmp_path / "in"])
    assert len(result.rings)
    out = tmp_path / "out"
    _run("evidence", "R001", "-w", str(ws), "-o", str(out / "evidence.zip"))
    _run("report", "-w", str(ws), "--format", "md", "-o", str(out / "report.md"))
    with zipfile.ZipFile(out / "evidence.zip") as archive:
        source_rows = archive.read("source_rows.csv").decode("utf-8")
    assert "患者李**自述" in source_rows and "阿莫西林胶囊" in source_rows  # masked in the remark, the rest readable
    _, leaks = _scan_files(out, people)
    assert not leaks, leaks
