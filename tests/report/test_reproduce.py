"""`rxring evidence reproduce`: a package of the shared city repeats from its inputs; one changed row is named.

The city (tests/conftest.py ``city``) is ingested from NHSA files and analysed with a
seed, so its package can be repeated from those files: identical first, then with
one source line of a resold pack altered, which must be reported as the changed
input, the custody row that moved and the finding on that pack.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.report import build_evidence
from rxring.report import reproduce
from rxring.report.evidence import read_package_csv
from rxring.report.reproduce import reproduce_evidence


@pytest.fixture(scope="module")
def city_package(city, tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    return build_evidence(city.workspace, "R001", out / "case.zip", command_line="rxring evidence R001")


def _resold_row(package: Path) -> dict:
    """The last proving dispense of a pack with a RESURFACE finding: the resale at the laundering pharmacy."""
    with zipfile.ZipFile(package) as archive:
        timeline = read_package_csv(archive.read("custody/timeline.csv"))
        findings = json.loads(archive.read("case.json"))["findings"]
    resurfaced = {f["trace_codes"] for f in findings if f["rule"] == "RESURFACE"}
    rows = [r for r in timeline if r["trace_code"] in resurfaced and r["proving"] == "yes" and r["event_type"] == "dispense"]
    return rows[-1]


def test_the_package_reproduces_identically_and_one_changed_row_is_named(city, city_package, tmp_path, monkeypatch):
    runner = CliRunner()
    same = runner.invoke(cli, ["evidence", "reproduce", str(city_package.path), str(city.inputs)])
    assert same.exit_code == 0, same.output
    assert "一致 IDENTICAL" in same.output and same.output.count("相同 same") == len(list(city.inputs.iterdir()))

    # one source line changed: the resale of a resurfaced pack now scans another (invalid) code
    row = _resold_row(city_package.path)
    inputs = tmp_path / "inputs"
    shutil.copytree(city.inputs, inputs)
    source = inputs / Path(row["source_file"]).name
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    number = int(row["source_line"])
    code = row["trace_code"]
    assert code in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(code, code[:-4] + "0000")
    source.write_text("".join(lines), encoding="utf-8")

    # one reproduction (an ingest and an analysis of the city) seen twice: the result the CLI printed, and its output
    results = []
    monkeypatch.setattr(reproduce, "reproduce_evidence", lambda *args, **kwargs: results.append(
        reproduce_evidence(*args, **kwargs)) or results[-1])
    changed = runner.invoke(cli, ["evidence", "reproduce", str(city_package.path), str(inputs)])
    assert changed.exit_code == 1
    assert f"已改变 changed: {source.name}" in changed.output and f"RESURFACE:{code}" in changed.output
    [result] = results
    assert not result.identical
    assert [i.name for i in result.inputs if i.status == "changed"] == [source.name]
    moved = [d for d in result.differences if d.kind == "custody" and f"{source.name}:{number}" in d.key]
    assert moved and moved[0].key.startswith(code) and moved[0].rerun is None, result.differences[:5]
    assert f"RESURFACE:{code}" in moved[0].findings
    assert any(d.kind == "finding" and d.key.startswith(f"RESURFACE:{code}") for d in result.differences)
    ring = [d for d in result.differences if d.kind == "ring"]
    assert ring and "events" in ring[0].changed_fields()                # the resale no longer proves the ring


def test_a_missing_input_is_one_clear_error(city_package, tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(RxringError, match=r"not all given: nhsa-2025-01\.jsonl \(SHA-256 [0-9a-f]{12}"):
        reproduce_evidence(city_package.path, [tmp_path])
    result = CliRunner().invoke(cli, ["evidence", "reproduce", str(city_package.path), str(tmp_path)])
    assert result.exit_code == 2 and "rxring: error:" in result.output and "Traceback" not in result.output


def test_a_tampered_package_is_not_reproduced(city, city_package, tmp_path):
    with zipfile.ZipFile(city_package.path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members["findings.csv"] += b"forged,row\n"
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(RxringError, match="fails verification"):
        reproduce_evidence(forged, [city.inputs])


def test_package_csv_reads_chinese_and_older_english_headers():
    """custody/timeline.csv and source_rows.csv have Chinese headers and values; packages made before did not."""
    new = "追溯码,类型,证据事件,原始行状态,原始行\n8300,销售,是,原始文件不可读 / original file not readable,\n"
    old = "trace_code,event_type,proving,status,raw\n8300,dispense,yes,file_missing,\n"
    expected = [{"trace_code": "8300", "event_type": "dispense", "proving": "yes", "source_status": "file_missing",
                 "raw_line": ""}]
    assert read_package_csv(new.encode("utf-8-sig")) == expected == read_package_csv(old.encode())
