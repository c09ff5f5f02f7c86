"""Evidence packages: contents, masking, round trip, tampering, hostile zips."""

import hashlib
import json
import zipfile

import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.report.evidence import MANIFEST_NAME, UNLISTED_NAMES, build_evidence, read_package_csv
from rxring.report.seal import STATEMENT_NAME
from rxring.report.verify import LIMITS, verify_evidence

RAW_PII = ("11010519900101123X", "110105198512125678", "张三丰", "王医生", "13812345678")


@pytest.fixture(scope="module")
def package(small_case, tmp_path_factory):
    return build_evidence(small_case.root, "R001", tmp_path_factory.mktemp("ev") / "case.zip", command_line="rxring evidence R001")


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _rewrite(src, dst, members):
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return dst


def test_package_contents(package):
    members = _members(package.path)
    expected = {
        "summary.zh.md", "summary.en.md", "case.json", "findings.csv", "members.csv", "custody/timeline.csv",
        "custody/timeline.md", "source_rows.csv", "rules.md", "queries/parameters.json", "tool.json", "ring.html",
        "inputs.sha256", MANIFEST_NAME,
    }
    assert expected <= set(members)
    assert any(name.startswith("queries/") and name.endswith(".sql") for name in members)
    # the manifest covers every other file, in sha256sum format
    listed = dict(line.split("  ", 1)[::-1] for line in members[MANIFEST_NAME].decode().splitlines())
    assert set(listed) == set(members) - {MANIFEST_NAME} - UNLISTED_NAMES      # the PDFs print the digest
    assert UNLISTED_NAMES <= set(members)
    for name, digest in listed.items():
        assert hashlib.sha256(members[name]).hexdigest() == digest
    assert package.digest == hashlib.sha256(members[MANIFEST_NAME]).hexdigest()
    summary_zh = members["summary.zh.md"].decode()
    summary_en = members["summary.en.md"].decode()
    assert "案件摘要" in summary_zh and "回流" in summary_zh and "354.00" in summary_zh
    assert "Case summary" in summary_en and "RESURFACE" in summary_en and "Laundering sites (2)" in summary_en
    assert "rxring evidence R001" in summary_en
    # the summary's file guide names every file of the package
    for name in members:
        guide_name = next((folder for folder in ("queries/", "signature/") if name.startswith(folder)), name)
        assert f"`{guide_name}`" in summary_en and f"`{guide_name}`" in summary_zh, name
    tool = json.loads(members["tool.json"])
    assert tool["reveal_pii"] is False and tool["version"] and tool["command_line"] == "rxring evidence R001"
    # chain of custody: every event of the four packs, in time order per pack
    assert members["custody/timeline.csv"].decode("utf-8-sig").startswith("追溯码,序号,时间,类型,机构编码,机构名称,")
    timeline = read_package_csv(members["custody/timeline.csv"])
    assert len(timeline) == 16
    first = [r for r in timeline if r["trace_code"] == "80000000000000001000"]
    assert [r["event_type"] for r in first] == ["inbound", "dispense", "inbound", "dispense"]
    assert [r["proving"] for r in first] == ["", "yes", "yes", "yes"]
    # source rows: file and line, raw line read back from the original input
    assert members["source_rows.csv"].decode("utf-8-sig").startswith("事件编号,来源文件,来源行号,原始行状态,原始行\n")
    assert ",原始行如下 / raw line shown," in members["source_rows.csv"].decode("utf-8-sig")
    sources = read_package_csv(members["source_rows.csv"])
    assert len(sources) == 16 and {r["source_status"] for r in sources} == {"ok"}
    row = next(r for r in sources if r["source_line"] == "2")
    assert json.loads(row["raw_line"])["drug_trac_codg"] == "80000000000000001000"
    inputs = members["inputs.sha256"].decode()
    assert inputs.split("  ")[0] == json.loads(members["case.json"])["inputs"][0]["sha256"]
    assert "default-src 'none'" in members["ring.html"].decode()


def test_package_masks_personal_data_by_default(package, small_copy, tmp_path):
    blob = b"\n".join(_members(package.path).values()).decode("utf-8", errors="replace")
    for value in RAW_PII:
        assert value not in blob, value
    assert "110*************3X" in blob
    revealed = build_evidence(small_copy, "R001", tmp_path / "rev.zip", reveal_pii=True)
    members = _members(revealed.path)
    blob = b"\n".join(members.values()).decode("utf-8", errors="replace")
    for value in RAW_PII:
        assert value in blob, value
    assert json.loads(members["tool.json"])["reveal_pii"] is True
    assert "--reveal-pii" in members["summary.en.md"].decode() and "--reveal-pii" in members["summary.zh.md"].decode()
    assert verify_evidence(revealed.path).ok


def test_verify_round_trip(package):
    result = verify_evidence(package.path, expect_digest=package.digest)
    assert result.ok, result.problems
    assert result.checked == len(package.files) - 1 - len(UNLISTED_NAMES)
    assert result.inputs and len(result.inputs[0][0]) == 64


def test_changing_one_byte_in_any_member_is_named(package, tmp_path):
    members = _members(package.path)
    for name in sorted(members):
        changed = dict(members)
        data = bytearray(changed[name])
        data[len(data) // 2] ^= 0x01
        changed[name] = bytes(data)
        result = verify_evidence(_rewrite(package.path, tmp_path / "t.zip", changed))
        assert not result.ok, name
        if name == MANIFEST_NAME:
            # a changed manifest line no longer matches its file (or is malformed), nor the statement
            assert {p.kind for p in result.problems} <= {"changed", "manifest", "missing", "extra", "statement"}
        elif name == STATEMENT_NAME:
            assert {p.file for p in result.problems} <= {STATEMENT_NAME} | UNLISTED_NAMES, result.problems
        else:
            assert [(p.file, p.kind) for p in result.problems] == [(name, "changed")], name


def test_flipping_a_raw_byte_inside_the_zip_names_the_member(package, tmp_path):
    raw = bytearray(package.path.read_bytes())
    with zipfile.ZipFile(package.path) as archive:
        info = archive.getinfo("summary.en.md")
    # local header: 30 bytes + name + extra, then the compressed data
    name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.compress_size // 2] ^= 0xFF
    broken = tmp_path / "flip.zip"
    broken.write_bytes(bytes(raw))
    result = verify_evidence(broken)
    assert [p.file for p in result.problems] == ["summary.en.md"]


def test_missing_extra_and_resigned_manifest(package, tmp_path):
    members = _members(package.path)
    missing = dict(members)
    del missing["rules.md"]
    result = verify_evidence(_rewrite(package.path, tmp_path / "m.zip", missing))
    assert [(p.file, p.kind) for p in result.problems] == [("rules.md", "missing")]

    no_manifest = {k: v for k, v in members.items() if k != MANIFEST_NAME}
    result = verify_evidence(_rewrite(package.path, tmp_path / "n.zip", no_manifest))
    assert [(p.file, p.kind) for p in result.problems] == [(MANIFEST_NAME, "missing")]

    extra = dict(members, **{"notes/extra.txt": b"planted"})
    result = verify_evidence(_rewrite(package.path, tmp_path / "e.zip", extra))
    assert [(p.file, p.kind) for p in result.problems] == [("notes/extra.txt", "extra")]

    # a forger changes a file and rewrites the manifest only: the statement names the old digest
    # (rewriting the statement and records too: tests/report/test_evidence_seal.py)
    forged = dict(members)
    forged["summary.en.md"] = b"nothing to see"
    forged[MANIFEST_NAME] = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(forged.items())
        if n != MANIFEST_NAME and n not in UNLISTED_NAMES
    ).encode()
    path = _rewrite(package.path, tmp_path / "f.zip", forged)
    result = verify_evidence(path)
    assert {(p.file, p.kind) for p in result.problems} >= {(STATEMENT_NAME, "statement")}
    result = verify_evidence(path, expect_digest=package.digest)
    assert "digest" in [p.kind for p in result.problems]


def test_hostile_zips_are_reported_and_never_extracted(package, tmp_path):
    members = _members(package.path)
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr("../../evil.txt", b"traversal")
        archive.writestr("/etc/evil", b"absolute")
        archive.writestr("C:/evil", b"drive")
        archive.writestr("dir\\evil", b"backslash")
        link = zipfile.ZipInfo("link-to-etc")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("bomb.bin", b"\0" * (8 * 1024 * 1024))
    before = set(tmp_path.parent.rglob("*"))
    result = verify_evidence(hostile)
    kinds = {p.file: p.kind for p in result.problems}
    assert kinds == {
        "../../evil.txt": "unsafe", "/etc/evil": "unsafe", "C:/evil": "unsafe", "dir\\evil": "unsafe",
        "link-to-etc": "unsafe", "bomb.bin": "too_large",
    }
    assert set(tmp_path.parent.rglob("*")) == before  # nothing written to disk


def test_declared_sizes_and_counts_are_capped(package, tmp_path, monkeypatch):
    monkeypatch.setitem(LIMITS, "max_member_bytes", 1000)
    result = verify_evidence(package.path)
    assert "ring.html" in {p.file for p in result.problems if p.kind == "too_large"}
    monkeypatch.setitem(LIMITS, "max_members", 3)
    result = verify_evidence(package.path)
    assert [p.kind for p in result.problems] == ["too_large"]


def test_not_a_zip_is_a_user_error(tmp_path):
    bad = tmp_path / "case.zip"
    bad.write_text("not a zip")
    with pytest.raises(RxringError, match="not a readable zip"):
        verify_evidence(bad)
    with pytest.raises(RxringError, match="no such evidence package"):
        verify_evidence(tmp_path / "absent.zip")


def test_source_rows_say_when_the_original_is_changed_or_gone(make_case, tmp_path):
    case = make_case()
    case.input_path.write_text(case.input_path.read_text() + "\n", encoding="utf-8")
    pkg = build_evidence(case.root, "R001", tmp_path / "a.zip")
    rows = read_package_csv(_members(pkg.path)["source_rows.csv"])
    assert {r["source_status"] for r in rows} == {"file_changed"} and not any(r["raw_line"] for r in rows)
    case.input_path.unlink()
    pkg = build_evidence(case.root, "R001", tmp_path / "b.zip")
    text = _members(pkg.path)["source_rows.csv"].decode("utf-8-sig")
    assert {r["source_status"] for r in read_package_csv(text.encode())} == {"file_missing"}
    assert ",原始文件不可读 / original file not readable," in text
    assert verify_evidence(pkg.path).ok


def test_cli_evidence_create_and_verify(small_case, tmp_path):
    runner = CliRunner()
    out = tmp_path / "case.zip"
    result = runner.invoke(cli, ["evidence", "R001", "--workspace", str(small_case.root), "-o", str(out)])
    assert result.exit_code == 0, result.output
    digest = result.output.split("digest (SHA-256 of MANIFEST.sha256): ")[1].split()[0]
    assert "证据包摘要 package digest" in result.output and "未签名 / not signed (--sign)" in result.output
    result = runner.invoke(cli, ["evidence", "verify", str(out), "--expect", digest, "--check-inputs",
                                 str(small_case.input_path.parent)])
    assert result.exit_code == 0 and result.output.startswith("结论：") and "OK" in result.output, result.output
    assert f"原始输入 original input 相符 / matches: {small_case.input_path.name}" in result.output
    assert f"原始输入 input {hashlib.sha256(small_case.input_path.read_bytes()).hexdigest()}" in result.output
    members = _members(out)
    members["findings.csv"] += b"x"
    _rewrite(out, tmp_path / "bad.zip", members)
    result = runner.invoke(cli, ["evidence", "verify", str(tmp_path / "bad.zip")])
    assert result.exit_code == 1 and "问题 TAMPERED changed: findings.csv" in result.output
    result = runner.invoke(cli, ["evidence", "R404", "-w", str(small_case.root), "-o", str(out)])
    assert result.exit_code == 2 and "unknown ring R404" in result.output


def test_check_inputs_compares_the_original_files(make_case, tmp_path):
    case = make_case()
    pkg = build_evidence(case.root, "R001", tmp_path / "a.zip")
    folder = case.input_path.parent
    name = case.input_path.name  # machine-independent: relative to the inputs' folder
    assert _members(pkg.path)["inputs.sha256"].decode().split("  ")[1].strip() == name
    result = verify_evidence(pkg.path, input_dirs=[folder])
    assert result.ok and result.input_checks == [(name, "matches")]
    case.input_path.write_text("changed\n", encoding="utf-8")
    result = verify_evidence(pkg.path, input_dirs=[folder])
    assert [(p.file, p.kind) for p in result.problems] == [(name, "inputs")]
    case.input_path.unlink()
    result = verify_evidence(pkg.path, input_dirs=[folder])
    assert result.ok and result.input_checks == [(name, "not found")]
