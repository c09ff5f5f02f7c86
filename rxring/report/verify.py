"""`rxring evidence verify case.zip`: recompute every hash and name what was tampered with.

Three things are checked and reported apart (:attr:`VerifyResult.levels`):

* **files** — every member matches MANIFEST.sha256, and every document made after it
  (the 提取笔录, the PDFs) matches signature/statement.json; nothing missing or extra;
* **manifest** — the package digest (SHA-256 of MANIFEST.sha256) is the one the
  statement names, and the one given with ``--expect`` (or the zip's own SHA-256);
* **signature** — statement.json is signed by the organisation key given (``--pubkey``).

Without a public key (and without ``--expect``) only integrity is proved: anyone who
alters a file can recompute the manifest.  A package made by an rxring from before
signature/statement.json (every member in the manifest, no record, no signature) is
checked the same way and said to be one (``statement == "absent"``).  A timestamp (signature/timestamp.tsr) is
checked offline against the TSA certificates given (``--tsa-cert``); its digest is
compared with the manifest's in any case.

The zip is never extracted: members are streamed from the archive in memory,
each with a size cap, a cap on the total, and a compression-ratio cap (zip bombs);
names that are absolute, contain ``..``, backslashes, drive letters or NUL, and
symlink or encrypted members are reported and never read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import lzma
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..digests import sha256_file
from ..errors import RxringError
from ..keys import key_id, load_public_key, signature_valid
from .evidence import INPUTS_NAME
from .extraction import RECORD_NAMES
from .seal import MANIFEST_NAME, SEAL_NAMES, SIGNATURE_NAME, STATEMENT_NAME, read_statement, sidecar_path
from .timestamp import TIMESTAMP_NAME, TimestampCheck, check_timestamp, load_tsa_certificates

__all__ = ["Problem", "VerifyResult", "verify_evidence", "verify_lines", "LIMITS"]

LIMITS = {
    "max_members": 20_000,
    "max_member_bytes": 256 * 1024 * 1024,
    "max_total_bytes": 2 * 1024 * 1024 * 1024,
    "max_ratio": 200,  # uncompressed / compressed, judged above 1 MiB
    "max_manifest_bytes": 16 * 1024 * 1024,
}

_KEPT = frozenset({MANIFEST_NAME, INPUTS_NAME, *SEAL_NAMES, *RECORD_NAMES.values()})
_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


@dataclass(frozen=True)
class Problem:
    """One finding of the verification: ``file`` and what is wrong with it."""

    file: str
    # changed | missing | extra | unsafe | too_large | corrupt | manifest | digest | inputs | statement |
    # signature | timestamp | wrapped (bytes around the members) | file_digest (the zip's sidecar SHA-256)
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.file}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class VerifyResult:
    """Outcome of :func:`verify_evidence`; ``ok`` is true when nothing is wrong."""

    path: Path
    digest: str | None
    checked: int
    problems: list[Problem] = field(default_factory=list)
    inputs: list[tuple[str, str]] = field(default_factory=list)
    # Original inputs looked up under the folders named: (name, "matches" | "differs" | "not found" | …).
    input_checks: list[tuple[str, str]] = field(default_factory=list)
    file_digest: str | None = None  # SHA-256 of the zip file as a whole
    documents: int = 0  # documents (提取笔录, PDFs) matching the statement
    anchored: str | None = None  # "package digest" | "zip file digest": what --expect matched
    signature: str = "absent"  # valid | invalid | not_checked | absent
    signer_key_id: str | None = None
    created_utc: str | None = None
    timestamp: str = "absent"  # valid | invalid | not_checked | absent
    timestamp_time: str | None = None
    # "present", or "absent": a package made before packages had signature/statement.json (every member in the
    # manifest; it can be no more than intact, or anchored by --expect)
    statement: str = "present"

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def level(self) -> str:
        """``"signed"`` (intact, signature valid), ``"anchored"`` (intact, digest matches one held
        elsewhere), ``"integrity"`` (intact only: anyone could have recomputed the manifest) or ``"failed"``."""
        if self.problems:
            return "failed"
        if self.signature == "valid":
            return "signed"
        return "anchored" if self.anchored else "integrity"

    def to_dict(self) -> dict:
        """Plain data for ``rxring evidence verify --json``."""
        return {
            "path": str(self.path), "ok": self.ok, "level": self.level, "package_digest": self.digest,
            "zip_sha256": self.file_digest, "files_checked": self.checked, "documents_checked": self.documents,
            "anchored_by": self.anchored, "signature": self.signature, "signer_key_id": self.signer_key_id,
            "created_utc": self.created_utc, "timestamp": self.timestamp, "timestamp_time": self.timestamp_time,
            "statement": self.statement,
            "problems": [{"file": p.file, "kind": p.kind, "detail": p.detail} for p in self.problems],
            "inputs": [{"sha256": sha, "name": name} for sha, name in self.inputs],
            "input_checks": [{"name": name, "status": status} for name, status in self.input_checks],
        }


def _unsafe_name(name: str) -> str | None:
    if not name or "\x00" in name:
        return "empty name or NUL byte"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    parts = PurePosixPath(name).parts
    if any(p == ".." for p in parts):
        return "path traversal (..)"
    if len(name) > 1024:
        return "name too long"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def _hash_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> tuple[str | None, Problem | None, bytes | None]:
    """SHA-256 of one member, streamed with caps; also its bytes when it is small text we need."""
    digest = hashlib.sha256()
    total = 0
    keep = info.filename in _KEPT
    kept = bytearray()
    try:
        with archive.open(info) as handle:
            while True:
                block = handle.read(1 << 16)
                if not block:
                    break
                total += len(block)
                budget[0] -= len(block)
                if total > LIMITS["max_member_bytes"] or total > info.file_size or budget[0] < 0:
                    return None, Problem(info.filename, "too_large", "expands beyond its declared or allowed size"), None
                if keep:
                    if len(kept) + len(block) > LIMITS["max_manifest_bytes"]:
                        return None, Problem(info.filename, "too_large", "manifest too large"), None
                    kept.extend(block)
                digest.update(block)
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError) as exc:
        # a CRC mismatch or undecodable data: the member's bytes were altered
        return None, Problem(info.filename, "changed", f"corrupt data: {exc}"), None
    except (NotImplementedError, RuntimeError, EOFError, ValueError, OSError) as exc:
        return None, Problem(info.filename, "corrupt", str(exc)), None
    return digest.hexdigest(), None, bytes(kept) if keep else None


def verify_evidence(
    path: str | Path,
    expect_digest: str | None = None,
    input_dirs: list[str | Path] | None = None,
    pubkey: str | Path | None = None,
    tsa_cert: str | Path | None = None,
) -> VerifyResult:
    """Recompute the hashes of an evidence package, check its statement, signature and timestamp.

    Parameters
    ----------
    path : path
        The zip written by :func:`rxring.report.evidence.build_evidence`.
    expect_digest : str, optional
        The package digest (SHA-256 of MANIFEST.sha256) or the zip file's SHA-256,
        recorded elsewhere when it was made (referral letter, signed 提取笔录).
    input_dirs : list of path, optional
        Folders holding the original inputs: each name of inputs.sha256 is looked up
        under them (never outside: names that are absolute or climb out are refused,
        symbolic links leading out are not followed) and hashed (``input_checks``).
    pubkey : path, optional
        The organisation's public key (PEM): the statement's signature must verify.
    tsa_cert : path, optional
        The timestamp authority's certificates (PEM bundle: root, intermediates).

    Returns
    -------
    VerifyResult
        ``problems`` lists each changed, missing, extra, unsafe or oversized file and
        each failed check; ``level`` says how much was proved.

    Raises
    ------
    RxringError
        If ``path`` does not exist or is not a zip archive at all; a key or certificate
        file that cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise RxringError(f"{path}: no such evidence package")
    public_key = load_public_key(pubkey) if pubkey else None
    certificates = load_tsa_certificates(tsa_cert) if tsa_cert else None
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise RxringError(f"{path}: not a readable zip archive: {exc}") from exc
    result = VerifyResult(path=path, digest=None, checked=0)
    result.file_digest = sha256_file(path)
    problems = result.problems
    kept: dict[str, bytes] = {}
    with archive:
        infos = archive.infolist()
        if len(infos) > LIMITS["max_members"]:
            problems.append(Problem(str(path), "too_large", f"{len(infos)} members (limit {LIMITS['max_members']})"))
            return result
        first = min((info.header_offset for info in infos), default=0)
        if first:
            problems.append(Problem(path.name, "wrapped", f"{first} bytes before the first member (e.g. a prepended "
                                                          "script): the zip file is not the one written"))
        actual = _hash_members(archive, infos, problems, kept)
    if INPUTS_NAME in kept:
        result.inputs = _parse_inputs(kept[INPUTS_NAME])
    _check_file_digest(result, path, expect_digest)
    manifest_bytes = kept.get(MANIFEST_NAME)
    if manifest_bytes is None:
        if not any(p.file == MANIFEST_NAME for p in problems):
            problems.append(Problem(MANIFEST_NAME, "missing", "no manifest: cannot verify anything"))
        return result
    result.digest = hashlib.sha256(manifest_bytes).hexdigest()
    if expect_digest and result.anchored is None:
        if expect_digest.strip().lower() == result.digest:
            result.anchored = "package digest"
        else:
            problems.append(Problem(MANIFEST_NAME, "digest", f"package digest {result.digest} differs from the "
                                                             "expected one (and so does the zip file's SHA-256)"))
    listed = _check_manifest(result, manifest_bytes, actual)
    if listed is None:
        return result
    documents = _check_statement(result, kept, actual, listed)
    outside = sorted(set(actual) - set(listed) - set(documents or ()) - {MANIFEST_NAME, *SEAL_NAMES})
    if documents is None and not outside and STATEMENT_NAME not in actual and STATEMENT_NAME not in kept:
        # made before packages had a statement: every member is in the manifest, which is all there is to check
        problems.remove(next(p for p in problems if p.file == STATEMENT_NAME and p.kind == "missing"))
        result.statement = "absent"
    elif documents is None and outside:
        # no usable statement: its one problem says so, naming what it would have listed
        at = next(i for i, p in enumerate(problems) if p.file == STATEMENT_NAME)
        problems[at] = Problem(STATEMENT_NAME, problems[at].kind, f"{problems[at].detail}; members outside "
                               f"the manifest left unchecked: {', '.join(outside[:10])}"
                               + (f" and {len(outside) - 10} more" if len(outside) > 10 else ""))
    else:
        problems.extend(Problem(name, "extra", "not listed in the manifest nor in the statement") for name in outside)
    _check_signature(result, kept, public_key)
    _check_timestamp(result, kept, manifest_bytes, certificates)
    if input_dirs:
        _check_inputs(result, [Path(d) for d in input_dirs])
    return result


def _hash_members(archive, infos, problems: list[Problem], kept: dict[str, bytes]) -> dict[str, str]:
    """SHA-256 of every safe member (unsafe, duplicate and oversized ones become problems)."""
    actual: dict[str, str] = {}
    names_seen: set[str] = set()
    budget = [LIMITS["max_total_bytes"]]
    for info in infos:
        name = info.filename
        if name.endswith("/") and info.file_size == 0:
            continue  # a directory entry carries no data
        reason = _unsafe_name(name)
        if reason is None and _is_symlink(info):
            reason = "symbolic link"
        if reason is None and info.flag_bits & 0x1:
            reason = "encrypted member"
        if reason:
            problems.append(Problem(name, "unsafe", reason))
            continue
        if name in names_seen:
            problems.append(Problem(name, "unsafe", "duplicate name in archive"))
            continue
        names_seen.add(name)
        if info.file_size > LIMITS["max_member_bytes"]:
            problems.append(Problem(name, "too_large", f"{info.file_size} bytes declared"))
            continue
        if info.file_size > (1 << 20) and info.file_size > LIMITS["max_ratio"] * max(info.compress_size, 1):
            problems.append(Problem(name, "too_large", "compression ratio of a zip bomb"))
            continue
        digest, problem, data = _hash_member(archive, info, budget)
        if problem:
            problems.append(problem)
            continue
        actual[name] = digest
        if data is not None:
            kept[name] = data
    return actual


def _check_file_digest(result: VerifyResult, path: Path, expect_digest: str | None) -> None:
    """The zip as a whole: against ``--expect`` when it is the file's digest, and against the sidecar."""
    if expect_digest and expect_digest.strip().lower() == result.file_digest:
        result.anchored = "zip file digest"
    sidecar = sidecar_path(path)
    try:
        text = sidecar.read_text(encoding="utf-8", errors="replace")[:4096] if sidecar.is_file() else ""
    except OSError:
        text = ""
    recorded = text.split()[0].lower() if text.split() else ""
    if re.fullmatch(r"[0-9a-f]{64}", recorded) and recorded != result.file_digest:
        result.problems.append(Problem(path.name, "file_digest", f"the zip's SHA-256 differs from {sidecar.name}: "
                                                                 "bytes were added or changed around the members"))


def _check_manifest(result: VerifyResult, manifest_bytes: bytes, actual: dict[str, str]) -> dict[str, str] | None:
    problems = result.problems
    listed: dict[str, str] = {}
    try:
        text = manifest_bytes.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(MANIFEST_NAME, "manifest", "not UTF-8"))
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _MANIFEST_LINE.match(line)
        if not match or _unsafe_name(match.group(2)) or match.group(2) in (MANIFEST_NAME, *SEAL_NAMES):
            problems.append(Problem(MANIFEST_NAME, "manifest", f"line {number} is malformed"))
            continue
        listed[match.group(2)] = match.group(1)
    for name, expected in sorted(listed.items()):
        if name not in actual:
            if not any(p.file == name for p in problems):
                problems.append(Problem(name, "missing", "listed in the manifest, absent from the package"))
        elif actual[name] != expected:
            problems.append(Problem(name, "changed", "SHA-256 differs from the manifest"))
        result.checked += 1 if name in actual else 0
    return listed


def _check_statement(result: VerifyResult, kept: dict[str, bytes], actual: dict[str, str],
                     listed: dict[str, str]) -> dict[str, str] | None:
    """signature/statement.json: names this package digest; its documents match.

    Returns the documents it lists, None when there is no usable statement (a
    problem of the statement then says why).
    """
    problems = result.problems
    if STATEMENT_NAME not in kept:
        if not any(p.file == STATEMENT_NAME for p in problems):
            problems.append(Problem(STATEMENT_NAME, "missing", "no statement: the package's documents cannot be checked"))
            return None
        return {}
    try:
        statement = read_statement(kept[STATEMENT_NAME])
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(Problem(STATEMENT_NAME, "statement", f"unreadable: {exc}"))
        return None
    result.signer_key_id = statement.get("signer_key_id")
    result.created_utc = statement.get("created_utc")
    if statement.get("package_digest") != result.digest:
        problems.append(Problem(STATEMENT_NAME, "statement", "names another package digest than this manifest's"))
    documents = {str(k): str(v) for k, v in statement["documents"].items()}
    for name, expected in sorted(documents.items()):
        if _unsafe_name(name) or name in listed or name in (MANIFEST_NAME, *SEAL_NAMES):
            problems.append(Problem(STATEMENT_NAME, "statement", f"lists {name!r}, which is no document"))
        elif name not in actual:
            if not any(p.file == name for p in problems):
                problems.append(Problem(name, "missing", "listed in the statement, absent from the package"))
        elif actual[name] != expected:
            problems.append(Problem(name, "changed", "SHA-256 differs from the statement"))
        else:
            result.documents += 1
            if name in kept and result.digest and result.digest.encode() not in kept[name]:
                problems.append(Problem(name, "statement", "the record names another package digest"))
    return documents


def _seal_member(result: VerifyResult, kept: dict[str, bytes], name: str, kind: str, required: bool,
                 missing: str) -> bytes | None:
    """The sealing member ``name``, or None after marking ``kind`` absent (a problem when ``required``)."""
    data = kept.get(name)
    if data is None:
        setattr(result, kind, "absent")
        if required:
            result.problems.append(Problem(name, kind, missing))
    return data


def _check_signature(result: VerifyResult, kept: dict[str, bytes], public_key) -> None:
    signature = _seal_member(result, kept, SIGNATURE_NAME, "signature", public_key is not None,
                             "the package is not signed")
    if signature is None:
        return
    if public_key is None:
        result.signature = "not_checked"
        return
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    statement = kept.get(STATEMENT_NAME, b"")
    if statement and signature_valid(public_key, raw, statement):
        result.signature = "valid"
        result.signer_key_id = key_id(public_key)
    else:
        result.signature = "invalid"
        result.problems.append(Problem(SIGNATURE_NAME, "signature",
                                       f"does not verify with the public key given (key id {key_id(public_key)[:16]}…)"))


def _check_timestamp(result: VerifyResult, kept: dict[str, bytes], manifest_bytes: bytes, certificates) -> None:
    answer = _seal_member(result, kept, TIMESTAMP_NAME, "timestamp", certificates is not None,
                          "the package has no timestamp")
    if answer is None:
        return
    # without the TSA's certificates the digest is still compared; the TSA's signature is not checked
    check: TimestampCheck = check_timestamp(answer, manifest_bytes, certificates)
    result.timestamp_time = check.time.strftime("%Y-%m-%dT%H:%M:%SZ") if check.time else None
    result.timestamp = ("not_checked" if certificates is None else "valid") if check.ok else "invalid"
    if not check.ok:
        result.problems.append(Problem(TIMESTAMP_NAME, "timestamp", check.detail))


def _check_inputs(result: VerifyResult, folders: list[Path]) -> None:
    """Look each input name of inputs.sha256 up under ``folders`` only, hash what is found there."""
    roots = []
    for folder in folders:
        if not folder.is_dir():
            raise RxringError(f"{folder}: --check-inputs needs a folder that holds the original inputs")
        roots.append(folder.resolve())
    for expected, name in result.inputs:
        if _unsafe_name(name):
            result.input_checks.append((name, "not looked up (not a relative name inside the folders)"))
            continue
        found = None
        for root in roots:
            candidate = root.joinpath(*PurePosixPath(name).parts)
            try:
                # resolve() follows symbolic links: one leading out of the folder is refused
                if candidate.resolve().is_relative_to(root) and candidate.resolve().is_file():
                    found = candidate.resolve()
                    break
            except OSError:
                continue
        if found is None:
            result.input_checks.append((name, "not found"))
            continue
        try:
            actual = sha256_file(found)
        except OSError as exc:
            result.input_checks.append((name, f"not readable: {exc.strerror or exc}"))
            continue
        if actual == expected:
            result.input_checks.append((name, "matches"))
        else:
            result.input_checks.append((name, "differs"))
            result.problems.append(Problem(name, "inputs", "the original input's SHA-256 differs from inputs.sha256"))


def _parse_inputs(data: bytes) -> list[tuple[str, str]]:
    out = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        if len(line) > 66 and line[64:66] == "  ":
            out.append((line[:64], line[66:]))
    return out


_SIGNATURE_TEXT = {
    "valid": ("有效", "valid"),
    "invalid": ("无效：与给出的公钥不符", "INVALID: does not verify with the public key given"),
    "not_checked": ("未检查：未给出公钥（--pubkey）", "not checked: no public key given (--pubkey)"),
    "absent": ("数据包未签名", "the package is not signed"),
}
_TIMESTAMP_TEXT = {
    "valid": ("有效", "valid"),
    "invalid": ("无效", "INVALID"),
    "not_checked": ("摘要相符，签名未检查：未给出时间戳机构证书（--tsa-cert）",
                    "digest matches, signature not checked: no TSA certificate given (--tsa-cert)"),
    "absent": ("无", "none"),
}
_LEVEL_TEXT = {
    "signed": ("文件、清单和签名均通过", "OK: files, manifest and signature hold"),
    "anchored": ("文件和清单通过，数据包摘要与外部记录相符（未验证签名）",
                 "OK: files and manifest hold, and the package digest matches the one recorded elsewhere "
                 "(no signature checked)"),
    "integrity": ("仅检查了完整性：文件与清单相符，但任何人都能重算清单；请用 --pubkey 验证签名或用 --expect 比对外部记录的摘要",
                  "OK, integrity only: the files match the manifest, but anyone could have recomputed it; "
                  "check the signature (--pubkey) or a digest held elsewhere (--expect)"),
    "failed": ("未通过", "FAILED"),
}


def verify_lines(result: VerifyResult) -> list[str]:
    """What :func:`verify_evidence` found, one line per check, Chinese first with English beside."""
    files_ok = not any(p.kind in ("changed", "missing", "extra", "unsafe", "too_large", "corrupt", "wrapped",
                                  "file_digest") for p in result.problems)
    manifest_ok = not any(p.kind in ("manifest", "digest", "statement") for p in result.problems) and result.digest
    zh, en = _LEVEL_TEXT[result.level]
    lines = [f"结论：{zh} / {en}"]
    lines.append(
        f"文件 files: {'通过' if files_ok else '未通过'} / {'ok' if files_ok else 'FAILED'} — "
        f"{result.checked} 个文件与 MANIFEST.sha256 相符，{result.documents} 个文档与声明相符 / "
        f"{result.checked} files match MANIFEST.sha256, {result.documents} documents match the statement")
    anchor = ({"package digest": ("与给出的数据包摘要相符", "matches the package digest given"),
               "zip file digest": ("与给出的 zip 文件摘要相符", "matches the zip file digest given")}[result.anchored]
              if result.anchored else ("未与外部记录比对（--expect）", "not compared with a digest held elsewhere (--expect)"))
    lines.append(f"清单 manifest: {'通过' if manifest_ok else '未通过'} / {'ok' if manifest_ok else 'FAILED'} — "
                 f"数据包摘要 package digest {result.digest or '?'}；{anchor[0]} / {anchor[1]}")
    signed = _SIGNATURE_TEXT[result.signature]
    key = f" (key {result.signer_key_id})" if result.signature == "valid" and result.signer_key_id else ""
    lines.append(f"签名 signature: {signed[0]} / {signed[1]}{key}")
    stamp = _TIMESTAMP_TEXT[result.timestamp]
    when = f" ({result.timestamp_time})" if result.timestamp_time and result.timestamp != "absent" else ""
    lines.append(f"时间戳 timestamp: {stamp[0]} / {stamp[1]}{when}")
    if result.created_utc:
        lines.append(f"生成时间 created (statement): {result.created_utc}")
    if result.statement == "absent":
        lines.append("声明 statement: 无（旧版 rxring 生成的证据包：没有 signature/statement.json、提取笔录和签名，"
                     "只能核对清单所列文件） / none (a package made by an older rxring: no signature/statement.json, "
                     "record or signature; only the files of the manifest can be checked)")
    lines.append(f"zip 文件 SHA-256 zip file: {result.file_digest}")
    return lines
