"""Sealed evidence packages: the tamper matrix, signatures, timestamps, whole-zip checks, reproducible bytes.

The timestamp authority is OpenSSL's ``ts -reply`` behind a tiny HTTP handler on
127.0.0.1, with a root and a TSA certificate the fixture makes; nothing leaves the
machine.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import shutil
import subprocess
import threading
import zipfile
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.errors import RxringError
from rxring.keys import init_keys, load_private_key, sign
from rxring.report.evidence import INPUTS_NAME, UNLISTED_NAMES, build_evidence
from rxring.report.extraction import RECORD_NAMES
from rxring.report.seal import (MANIFEST_NAME, SIGNATURE_NAME, STATEMENT_NAME, TIMESTAMP_NAME, Seal, add_timestamp,
                                sidecar_path, statement_bytes)
from rxring.report.sources import sha256_listing
from rxring.report.verify import verify_evidence, verify_lines

CREATED = datetime(2026, 3, 10, 8, 30, tzinfo=timezone.utc)

_TSA_CONFIG = """
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = .
serial = ./serial
crypto_device = builtin
signer_cert = ./tsa.crt
signer_key = ./tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
[ v3_tsa ]
basicConstraints = CA:FALSE
extendedKeyUsage = critical,timeStamping
keyUsage = critical,digitalSignature
"""


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _rewrite(dst, members):
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return dst


def _reseal(members: dict, old_digest: str) -> dict:
    """What a forger can do without the key: recompute the manifest, the records' digest and the statement."""
    content = {n: d for n, d in members.items() if n != MANIFEST_NAME and n not in UNLISTED_NAMES
               and not n.startswith("signature/")}
    out = dict(content)
    out[MANIFEST_NAME] = sha256_listing(content)
    digest = hashlib.sha256(out[MANIFEST_NAME]).hexdigest()
    documents = {n: members[n].replace(old_digest.encode(), digest.encode()) for n in members if n in UNLISTED_NAMES
                 and n != STATEMENT_NAME}
    out.update(documents)
    out[STATEMENT_NAME] = statement_bytes(digest, documents, "2026-03-10T08:30:00Z", None)
    for name in (SIGNATURE_NAME, TIMESTAMP_NAME):
        if name in members:
            out[name] = members[name]  # the old signature and timestamp, kept
    return out


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return init_keys(folder / "org"), init_keys(folder / "other")


@pytest.fixture(scope="module")
def tsa(tmp_path_factory, unavailable):
    """A local RFC 3161 TSA: (url, root certificate path)."""
    if shutil.which("openssl") is None:
        unavailable("no openssl command for the local timestamp authority")
    folder = tmp_path_factory.mktemp("tsa")
    (folder / "tsa.cnf").write_text(_TSA_CONFIG)
    (folder / "serial").write_text("01\n")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.crt", "-subj", "/CN=rxring test root", "-days", "30",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tsa.key", "-out",
        "tsa.csr", "-subj", "/CN=rxring test TSA")
    run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.crt",
        "-days", "30", "-extfile", "tsa.cnf", "-extensions", "v3_tsa")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            query = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                (folder / "q.tsq").write_bytes(query)
                run("ts", "-reply", "-config", "tsa.cnf", "-queryfile", "q.tsq", "-out", "r.tsr")
                answer = (folder / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as patch:  # a proxy in the environment must not carry the requests
        for name in ("no_proxy", "NO_PROXY"):
            patch.setenv(name, "127.0.0.1")
        yield f"http://127.0.0.1:{server.server_port}/tsa", folder / "ca.crt"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def signed(small_case, keys, tsa, tmp_path_factory):
    seal = Seal(sign_key=keys[0].private, tsa_url=tsa[0], created=CREATED)
    return build_evidence(small_case.root, "R001", tmp_path_factory.mktemp("signed") / "case.zip",
                          command_line="rxring evidence R001 --sign k", operator="李警官", seal=seal)


@pytest.fixture(scope="module")
def unsigned(small_case, tmp_path_factory):
    return build_evidence(small_case.root, "R001", tmp_path_factory.mktemp("unsigned") / "case.zip",
                          command_line="rxring evidence R001", seal=Seal(created=CREATED))


def test_signed_and_timestamped_package_holds(signed, keys, tsa):
    result = verify_evidence(signed.path, pubkey=keys[0].public, tsa_cert=tsa[1])
    assert result.ok, result.problems
    assert result.level == "signed" and result.signature == "valid" and result.timestamp == "valid"
    assert result.signer_key_id == keys[0].key_id == signed.signer_key_id
    assert result.created_utc == "2026-03-10T08:30:00Z"
    lines = verify_lines(result)
    assert lines[0].startswith("结论：文件、清单和签名均通过") and "OK: files, manifest and signature hold" in lines[0]
    assert any(line.startswith("时间戳 timestamp: 有效 / valid") for line in lines)
    # without the public key the same package proves integrity only, and says so
    result = verify_evidence(signed.path)
    assert result.ok and result.level == "integrity" and result.signature == "not_checked"
    assert "integrity only" in verify_lines(result)[0] and "仅检查了完整性" in verify_lines(result)[0]
    assert result.timestamp == "not_checked"


def test_tamper_matrix(signed, unsigned, keys, tmp_path):
    for package in (signed, unsigned):
        members = _members(package.path)
        with_key = {"pubkey": keys[0].public} if package is signed else {}
        changed = dict(members, **{"findings.csv": members["findings.csv"] + b"x"})
        added = dict(members, **{"notes.txt": b"planted"})
        removed = {n: d for n, d in members.items() if n != "rules.md"}
        renamed = {("rules-old.md" if n == "rules.md" else n): d for n, d in members.items()}
        cases = {
            "changed": (changed, {("findings.csv", "changed")}),
            "added": (added, {("notes.txt", "extra")}),
            "removed": (removed, {("rules.md", "missing")}),
            "renamed": (renamed, {("rules.md", "missing"), ("rules-old.md", "extra")}),
        }
        for what, (tampered, expected) in cases.items():
            result = verify_evidence(_rewrite(tmp_path / f"{what}.zip", tampered), **with_key)
            assert {(p.file, p.kind) for p in result.problems} == expected, (what, result.problems)
            assert result.level == "failed"
        # the forger re-makes the manifest, records and statement after changing a file
        forged = _reseal(changed, package.digest)
        path = _rewrite(tmp_path / "forged.zip", forged)
        if package is unsigned:
            result = verify_evidence(path)
            assert result.ok and result.level == "integrity", result.problems
            assert "integrity only" in verify_lines(result)[0]
            # a digest held elsewhere still catches it
            assert [p.kind for p in verify_evidence(path, expect_digest=package.digest).problems] == ["digest"]
        else:
            # the old signature no longer verifies, the old timestamp is over the old digest
            result = verify_evidence(path, pubkey=keys[0].public)
            assert {(p.file, p.kind) for p in result.problems} == {(SIGNATURE_NAME, "signature"),
                                                                  (TIMESTAMP_NAME, "timestamp")}
            assert result.signature == "invalid" and result.level == "failed"
            # dropping the signature and the timestamp does not help when the public key is given
            unsigned_forgery = {n: d for n, d in forged.items() if n not in (SIGNATURE_NAME, TIMESTAMP_NAME)}
            result = verify_evidence(_rewrite(tmp_path / "nosig.zip", unsigned_forgery), pubkey=keys[0].public)
            assert [(p.kind, p.detail) for p in result.problems] == [("signature", "the package is not signed")]


def test_wrong_public_key_fails(signed, keys):
    result = verify_evidence(signed.path, pubkey=keys[1].public)
    assert result.signature == "invalid" and [p.kind for p in result.problems] == ["signature"]
    assert "无效" in "\n".join(verify_lines(result)) and "INVALID" in "\n".join(verify_lines(result))


def test_timestamp_over_another_digest_fails(signed, unsigned, tsa, tmp_path):
    from rxring.report.timestamp import request_timestamp

    other = request_timestamp(tsa[0], b"another manifest\n")
    members = dict(_members(unsigned.path), **{TIMESTAMP_NAME: other})
    path = _rewrite(tmp_path / "other-ts.zip", members)
    for cert in (tsa[1], None):  # the digest is compared even without the TSA certificate
        result = verify_evidence(path, tsa_cert=cert)
        assert [(p.file, p.kind) for p in result.problems] == [(TIMESTAMP_NAME, "timestamp")], cert
        assert "another digest" in result.problems[0].detail
    # a timestamp signed by another authority than the one trusted
    stranger = tmp_path / "stranger.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "s.key"), "-out", str(stranger), "-subj", "/CN=stranger", "-days", "3"],
                   check=True, capture_output=True)
    result = verify_evidence(signed.path, tsa_cert=stranger)
    assert [p.kind for p in result.problems] == ["timestamp"] and result.timestamp == "invalid"


def test_timestamp_added_later(unsigned, tsa, tmp_path):
    path = tmp_path / "later.zip"
    shutil.copy(unsigned.path, path)
    runner = CliRunner()
    result = runner.invoke(cli, ["evidence", "timestamp", str(path), "--tsa", tsa[0]])
    assert result.exit_code == 0, result.output
    assert unsigned.digest in result.output
    assert TIMESTAMP_NAME in _members(path)
    checked = verify_evidence(path, tsa_cert=tsa[1], expect_digest=unsigned.digest)
    assert checked.ok and checked.timestamp == "valid" and checked.level == "anchored", checked.problems
    with pytest.raises(RxringError, match="already has a timestamp"):
        add_timestamp(path, tsa[0])
    with pytest.raises(RxringError, match="must start with http"):
        add_timestamp(unsigned.path, "file:///etc/passwd")


def test_record_lists_every_input_and_file_with_matching_hashes(signed, small_case):
    from cryptography.hazmat.primitives import hashes

    def sm3(data):
        digest = hashes.Hash(hashes.SM3())
        digest.update(data)
        return digest.finalize().hex()

    members = _members(signed.path)
    content = {n: d for n, d in members.items() if n != MANIFEST_NAME and n not in UNLISTED_NAMES
               and not n.startswith("signature/")}
    original = small_case.input_path.read_bytes()
    for lang, name in RECORD_NAMES.items():
        text = members[name].decode("utf-8")
        rows = {m.group(1): (m.group(2), m.group(3), m.group(4))
                for m in re.finditer(r"^\| `([^`]+)` \|[^|]*\|[^|]*\| (\d+) \| `([0-9a-f]{64})` \| `([0-9a-f]{64})` \|$",
                                     text, re.M)}
        assert set(rows) == set(content) | {small_case.input_path.name}, lang
        for file, data in content.items():
            assert rows[file] == (str(len(data)), hashlib.sha256(data).hexdigest(), sm3(data)), file
        assert rows[small_case.input_path.name] == (str(len(original)), hashlib.sha256(original).hexdigest(),
                                                    sm3(original))
        assert signed.digest in text and "李警官" in text and "R001" in text and "2026-03-10 08:30:00 UTC" in text
    zh = members[RECORD_NAMES["zh"]].decode()
    assert "电子数据提取笔录" in zh and "法发〔2016〕22号" in zh
    assert "侦查人员（签名）" in zh and "数据持有人或见证人（签名）" in zh
    en = members[RECORD_NAMES["en"]].decode()
    assert "Record of electronic data extraction" in en and "Data holder or witness (signature)" in en


def test_package_bytes_are_reproducible(small_case, keys, tmp_path, monkeypatch):
    seal = Seal(sign_key=keys[0].private, created=CREATED)
    first = build_evidence(small_case.root, "R001", tmp_path / "a" / "case.zip", command_line="rxring x", seal=seal)
    second = build_evidence(small_case.root, "R001", tmp_path / "b" / "case.zip", command_line="rxring x", seal=seal)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert sidecar_path(first.path).read_text().split()[0] == hashlib.sha256(first.path.read_bytes()).hexdigest()
    # another creation time changes only the statement (and what signs it): the content and digest stay
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1773100000")
    third = build_evidence(small_case.root, "R001", tmp_path / "c" / "case.zip", command_line="rxring x",
                           seal=Seal(sign_key=keys[0].private))
    assert third.digest == first.digest
    differing = {n for n, d in _members(third.path).items() if _members(first.path)[n] != d}
    assert differing == {STATEMENT_NAME, SIGNATURE_NAME, *RECORD_NAMES.values(),
                         *(n for n in _members(first.path) if n.endswith(".pdf"))}
    assert '"created_utc": "2026-03-09T23:46:40Z"' in _members(third.path)[STATEMENT_NAME].decode()
    for info in zipfile.ZipFile(first.path).infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)


def test_the_same_package_from_another_folder_is_the_same_bytes(small_case, keys, tmp_path, monkeypatch):
    """Issue 18 item 7: a copy of the workspace elsewhere, another output file and another copy of the key give
    the same zip, byte for byte (nothing of the paths, the platform or the run's timings is in the package)."""
    copy = tmp_path / "elsewhere" / "ws"
    shutil.copytree(small_case.root, copy)
    key_copy = tmp_path / "k.pem"
    shutil.copy(keys[0].private, key_copy)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1773100000")
    runner, zips = CliRunner(), []
    for number, (workspace, key) in enumerate(((small_case.root, keys[0].private), (copy, key_copy))):
        out = tmp_path / f"out{number}" / f"R001-{number}.zip"
        argv = ["evidence", "R001", "-w", str(workspace), "-o", str(out), "--sign", str(key), "--operator", "李警官"]
        monkeypatch.setattr("sys.argv", ["rxring", *argv])
        result = runner.invoke(cli, argv)
        assert result.exit_code == 0, result.output
        zips.append(out)
    first, second = (_members(z) for z in zips)
    assert sorted(n for n in first if first[n] != second.get(n)) == []
    assert zips[0].read_bytes() == zips[1].read_bytes()
    tool = json.loads(first["tool.json"])
    assert tool["command_line"] == "rxring evidence R001 -w WORKSPACE -o OUTPUT --sign KEY --operator 李警官"
    assert "platform" not in tool and "workspace" not in tool and "python" not in tool
    analysis = json.loads(first["queries/parameters.json"])["analysis"]
    assert "finished" not in analysis and "cpu_seconds_by_step" not in analysis.get("stats", {})
    # another Python: the same content (package digest); the signed statement names the Python
    monkeypatch.setattr("platform.python_version", lambda: "3.99.0")
    other = build_evidence(copy, "R001", tmp_path / "py.zip", command_line=tool["command_line"], operator="李警官",
                           seal=Seal(sign_key=key_copy))
    assert other.digest == hashlib.sha256(first[MANIFEST_NAME]).hexdigest()
    assert json.loads(_members(other.path)[STATEMENT_NAME])["python"] == "3.99.0"


def test_prepended_script_and_sidecar(unsigned, tmp_path):
    wrapped = tmp_path / "wrapped.zip"
    wrapped.write_bytes(b"#!/bin/sh\necho harmless\nexit 0\n" + unsigned.path.read_bytes())
    result = verify_evidence(wrapped)
    assert [(p.file, p.kind) for p in result.problems] == [("wrapped.zip", "wrapped")]
    # the recorded zip digest, beside the package or given with --expect, catches it too
    shutil.copy(sidecar_path(unsigned.path), sidecar_path(wrapped))
    result = verify_evidence(wrapped, expect_digest=unsigned.path.read_bytes() and
                             hashlib.sha256(unsigned.path.read_bytes()).hexdigest())
    assert {p.kind for p in result.problems} == {"wrapped", "file_digest", "digest"}
    # the untouched zip matches its recorded digest, also given as --expect
    result = verify_evidence(unsigned.path, expect_digest=hashlib.sha256(unsigned.path.read_bytes()).hexdigest())
    assert result.ok and result.anchored == "zip file digest"


def test_check_inputs_never_leaves_the_named_folders(unsigned, small_case, tmp_path, monkeypatch):
    import rxring.report.verify as verify_module

    folder = tmp_path / "inputs"
    folder.mkdir()
    shutil.copy(small_case.input_path, folder / small_case.input_path.name)
    (folder / "link").symlink_to("/etc/passwd")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    members = _members(unsigned.path)
    hostile_names = ["/etc/shadow", "../secret.txt", "../../../../etc/passwd", "link", "sub/../../secret.txt",
                     "C:/Windows/win.ini"]
    members[INPUTS_NAME] += "".join(f"{'0' * 64}  {n}\n" for n in hostile_names).encode()
    opened = []
    real = verify_module.sha256_file
    monkeypatch.setattr(verify_module, "sha256_file", lambda p: opened.append(p) or real(p))
    result = verify_evidence(_rewrite(tmp_path / "hostile.zip", members), input_dirs=[folder])
    checks = dict(result.input_checks)
    assert checks[small_case.input_path.name] == "matches"
    assert all(checks[n] != "matches" and checks[n] != "differs" for n in hostile_names), checks
    opened_here = [p for p in opened if p != tmp_path / "hostile.zip"]
    assert opened_here and all(p.resolve().is_relative_to(folder.resolve()) for p in opened_here), opened
    with pytest.raises(RxringError, match="needs a folder"):
        verify_evidence(unsigned.path, input_dirs=[tmp_path / "absent"])


def test_case_history_section_slots_in(small_case, tmp_path):
    from rxring.report.evidence import EvidenceSection

    history = EvidenceSection("case_history", "案件历史", "Case history",
                              {"events.md": "# 案件历史\n- 立案\n".encode(), "notes/2026-03-01.md": b"opened",
                               "remark.txt": "备注".encode(), "scan.png": b"\x89PNG"})
    package = build_evidence(small_case.root, "R001", tmp_path / "case.zip", sections=[history])
    members = _members(package.path)
    listed = members[MANIFEST_NAME].decode()
    assert "case_history/events.md" in listed and "case_history/notes/2026-03-01.md" in listed
    assert "| `case_history/events.md` | 案件历史 |" in members[RECORD_NAMES["zh"]].decode()
    assert "| `case_history/events.md` | Case history |" in members[RECORD_NAMES["en"]].decode()
    assert "`case_history/`: 案件历史" in members["summary.zh.md"].decode()
    # formats that are words are named in Chinese in the Chinese record (issue 18 item 5); unknown ones by extension
    assert "| `case_history/remark.txt` | 案件历史 | 文本 (UTF-8) |" in members[RECORD_NAMES["zh"]].decode()
    assert "| `case_history/remark.txt` | Case history | text (UTF-8) |" in members[RECORD_NAMES["en"]].decode()
    assert "| `case_history/scan.png` | 案件历史 | PNG |" in members[RECORD_NAMES["zh"]].decode()
    assert verify_evidence(package.path).ok
    for bad in (EvidenceSection("queries", "x", "x", {"a": b""}), EvidenceSection("../up", "x", "x", {"a": b""}),
                EvidenceSection("case_history", "x", "x", {"../../evil": b""})):
        with pytest.raises(RxringError, match="evidence section"):
            build_evidence(small_case.root, "R001", tmp_path / "bad.zip", sections=[bad])


def test_keys_mode_passphrase_and_no_overwrite(tmp_path):
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("correct horse\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["keys", "init", "-o", str(tmp_path / "k"), "--passphrase-file", str(passphrase)])
    assert result.exit_code == 0, result.output
    private = tmp_path / "k" / "rxring-signing-key.pem"
    assert private.stat().st_mode & 0o777 == 0o600 and b"ENCRYPTED" in private.read_bytes()
    assert load_private_key(private, b"correct horse").public_key()
    with pytest.raises(RxringError, match="passphrase is needed"):
        load_private_key(private)
    with pytest.raises(RxringError, match="wrong passphrase"):
        load_private_key(private, b"wrong")
    result = runner.invoke(cli, ["keys", "init", "-o", str(tmp_path / "k")])
    assert result.exit_code == 2 and "a key already exists" in result.output
    assert sign(load_private_key(private, b"correct horse"), b"x") != b""


def test_cli_signs_with_an_encrypted_key(small_case, tmp_path):
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("correct horse\n")
    pair = init_keys(tmp_path / "k", b"correct horse")
    runner = CliRunner()
    base = ["evidence", "R001", "-w", str(small_case.root), "-o", str(tmp_path / "c.zip"), "--sign", str(pair.private)]
    result = runner.invoke(cli, base)
    assert result.exit_code == 2 and "a passphrase is needed (--passphrase-file)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "c.zip").exists()
    result = runner.invoke(cli, [*base, "--passphrase-file", str(passphrase)])
    assert result.exit_code == 0, result.output
    assert verify_evidence(tmp_path / "c.zip", pubkey=pair.public).level == "signed"
    result = runner.invoke(cli, ["evidence", "verify", str(tmp_path / "c.zip"), "--pubkey", str(passphrase)])
    assert result.exit_code == 2 and "not a readable public key" in result.output


def test_cli_sign_timestamp_and_verify(small_case, keys, tsa, tmp_path):
    runner = CliRunner()
    out = tmp_path / "case.zip"
    result = runner.invoke(cli, ["evidence", "R001", "-w", str(small_case.root), "-o", str(out), "--sign",
                                 str(keys[0].private), "--tsa", tsa[0], "--operator", "王警官", "--holder", "某药店连锁"])
    assert result.exit_code == 0, result.output
    assert f"已用密钥签名 / signed with key {keys[0].key_id}" in result.output
    assert "证据包摘要 package digest" in result.output and "提取笔录" in result.output
    record = _members(out)[RECORD_NAMES["zh"]].decode()
    assert "王警官" in record and "某药店连锁" in record
    result = runner.invoke(cli, ["evidence", "verify", str(out), "--pubkey", str(keys[0].public), "--tsa-cert",
                                 str(tsa[1])])
    assert result.exit_code == 0, result.output
    assert "签名 signature: 有效 / valid" in result.output and "时间戳 timestamp: 有效 / valid" in result.output
    result = runner.invoke(cli, ["evidence", "verify", str(out), "--pubkey", str(keys[1].public)])
    assert result.exit_code == 1 and "TAMPERED signature" in result.output
    result = runner.invoke(cli, ["evidence", "verify", str(out)])
    assert result.exit_code == 0 and "integrity only" in result.output and "未给出公钥" in result.output
    result = runner.invoke(cli, ["evidence", "verify", str(out), "--json", "--pubkey", str(keys[1].public)])
    document = json.loads(result.output)
    assert result.exit_code == 1 and document["level"] == "failed" and document["signature"] == "invalid"
    assert document["problems"] == [{"file": SIGNATURE_NAME, "kind": "signature",
                                     "detail": document["problems"][0]["detail"]}]
    result = runner.invoke(cli, ["evidence", "verify", str(tmp_path / "absent.zip"), "--json"])
    assert result.exit_code == 2 and "no such evidence package" in json.loads(result.stdout)["error"]


def test_record_times_in_utc_and_shanghai():
    from rxring.report.extraction import extraction_record, render_record

    record = extraction_record(
        ring={"ring_id": "R009", "rules": ["RESURFACE"]},
        analysis={"finished": "2026-03-01T09:00:00+0800", "engine": "neo4j",
                  "stats": {"neo4j_uri": "bolt://neo4j:secret@127.0.0.1:7687"}},
        inputs=[{"name": "a/3505.jsonl", "sha256": "ab" * 32, "ingested_at": "2026-02-28T16:30:00+00:00",
                 "skipped_infno": {"9001": 2}}],
        files={}, package_digest="cd" * 32, channels=["3505", "3506", None], command_line="rxring evidence R009",
        operator="op", host="host-1", created="2026-03-02T17:00:00Z")
    assert record.field("extracted").value_zh == "2026-03-02 17:00:00 UTC（北京时间 2026-03-03 01:00:00）"
    assert record.field("analysed").value_zh == "2026-03-01 01:00:00 UTC（北京时间 2026-03-01 09:00:00）"
    assert record.field("ingested").value_en == "2026-02-28 16:30:00 UTC (Asia/Shanghai 2026-03-01 00:30:00)"
    assert record.field("interfaces").value_en == "3505, 3506, 9001"
    assert record.field("source").value_zh == "Neo4j 数据库 bolt://127.0.0.1:7687"
    two = extraction_record(ring={"ring_id": "R1", "rules": ["RESURFACE", "EXPIRED"]}, analysis={}, inputs=[], files={},
                            package_digest="0" * 64, channels=[], command_line="rxring", host="h")
    rules = two.field("rules").value_zh   # one full stop, at the end
    assert "；EXPIRED：" in rules and "。；" not in rules and rules.endswith("。") and not rules.endswith("。。")
    assert record.inputs[0].sm3 is None
    en = render_record(record, "en")
    assert "not computed: the original file is not here or has changed" in en and "`host-1`" in en


def test_a_tsa_that_fails_is_one_clear_error_and_nothing_is_written(small_case, tmp_path):
    import socket

    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not a tsr")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    try:
        for url, message in ((f"http://127.0.0.1:{server.server_port}/", "not an RFC 3161 answer"),
                             (f"http://127.0.0.1:{closed}/", "did not answer")):
            out = tmp_path / "case.zip"
            with pytest.raises(RxringError, match=message):
                build_evidence(small_case.root, "R001", out, seal=Seal(tsa_url=url))
            assert not out.exists() and not sidecar_path(out).exists()
    finally:
        server.shutdown()
        server.server_close()


def test_input_paths_are_machine_independent(unsigned, small_case):
    members = _members(unsigned.path)
    folder = str(small_case.input_path.parent)
    holding = sorted(n for n, d in members.items() if folder.encode() in d)
    assert holding == [], holding  # no member names the folder the inputs were in on this machine
    name = small_case.input_path.name
    assert members[INPUTS_NAME].decode().endswith(f"  {name}\n")
    assert f",{name}," in members["custody/timeline.csv"].decode() and f",{name}," in members["source_rows.csv"].decode()


def test_a_hostile_statement_is_reported(unsigned, tmp_path):
    members = _members(unsigned.path)
    statement = json.loads(members[STATEMENT_NAME])
    cases = {
        "not json": b"\xff{",
        "other format": json.dumps({**statement, "format": "x"}).encode(),
        "content as document": json.dumps({**statement, "documents": {**statement["documents"],
                                                                     "rules.md": "0" * 64}}).encode(),
        "traversal": json.dumps({**statement, "documents": {**statement["documents"], "../x": "0" * 64}}).encode(),
        "other digest": json.dumps({**statement, "package_digest": "0" * 64}).encode(),
    }
    for what, data in cases.items():
        result = verify_evidence(_rewrite(tmp_path / "s.zip", dict(members, **{STATEMENT_NAME: data})))
        assert [(p.file, p.kind) for p in result.problems] == [(STATEMENT_NAME, "statement")], (what, result.problems)
    # without a statement the documents are unchecked, and one problem says so
    no_statement = {n: d for n, d in members.items() if n != STATEMENT_NAME}
    result = verify_evidence(_rewrite(tmp_path / "n.zip", no_statement))
    assert [(p.file, p.kind) for p in result.problems] == [(STATEMENT_NAME, "missing")]
    assert all(name in result.problems[0].detail for name in RECORD_NAMES.values())


def test_a_package_made_before_statements_verifies_as_integrity_only(unsigned, keys, tmp_path):
    """Packages of an older rxring have no statement, record nor PDFs: every member is in the manifest.
    They verify as intact (never as signed), and say why there is no more to check."""
    members = _members(unsigned.path)
    older = {n: d for n, d in members.items() if n not in UNLISTED_NAMES and not n.startswith("signature/")}
    path = _rewrite(tmp_path / "older.zip", older)
    result = verify_evidence(path)
    assert result.ok and result.level == "integrity" and result.statement == "absent", result.problems
    assert any(line.startswith("声明 statement: 无（旧版 rxring") for line in verify_lines(result))
    assert verify_evidence(path, expect_digest=unsigned.digest).level == "anchored"
    signed = verify_evidence(path, pubkey=keys[0].public)
    assert [(p.file, p.kind) for p in signed.problems] == [(SIGNATURE_NAME, "signature")]
    # an older package altered: the manifest still names the file
    altered = dict(older, **{"findings.csv": older["findings.csv"] + b"x"})
    result = verify_evidence(_rewrite(tmp_path / "altered.zip", altered))
    assert [(p.file, p.kind) for p in result.problems] == [("findings.csv", "changed")]
