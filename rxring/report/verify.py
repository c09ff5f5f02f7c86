"""`rxring evidence verify case.zip`: recompute every hash and name what was tampered with.

The zip is never extracted: members are streamed from the archive in memory,
each with a size cap, a cap on the total, and a compression-ratio cap (zip bombs);
names that are absolute, contain ``..``, backslashes, drive letters or NUL, and
symlink or encrypted members are reported and never read.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import RxringError
from .evidence import INPUTS_NAME, MANIFEST_NAME

__all__ = ["Problem", "VerifyResult", "verify_evidence", "LIMITS"]

LIMITS = {
    "max_members": 20_000,
    "max_member_bytes": 256 * 1024 * 1024,
    "max_total_bytes": 2 * 1024 * 1024 * 1024,
    "max_ratio": 200,  # uncompressed / compressed, judged above 1 MiB
    "max_manifest_bytes": 16 * 1024 * 1024,
}

_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


@dataclass(frozen=True)
class Problem:
    """One finding of the verification: ``file`` and what is wrong with it."""

    file: str
    kind: str  # changed | missing | extra | unsafe | too_large | corrupt | manifest | digest | inputs
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
    # Original inputs found on this machine: (path, "matches" | "differs" | "not found").
    input_checks: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


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
    keep = info.filename in (MANIFEST_NAME, INPUTS_NAME)
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


def verify_evidence(path: str | Path, expect_digest: str | None = None, check_inputs: bool = False) -> VerifyResult:
    """Recompute the hashes of an evidence package and report tampering file by file.

    Parameters
    ----------
    path : path
        The zip written by :func:`rxring.report.evidence.build_evidence`.
    expect_digest : str, optional
        The package digest (SHA-256 of MANIFEST.sha256) recorded when it was made;
        a different digest means the manifest itself was rewritten.
    check_inputs : bool
        Also hash the original input files named in inputs.sha256 where they exist
        on this machine (``input_checks``); a differing input is a problem too.

    Returns
    -------
    VerifyResult
        ``problems`` lists each changed, missing, extra, unsafe or oversized file.

    Raises
    ------
    RxringError
        If ``path`` does not exist or is not a zip archive at all.
    """
    path = Path(path)
    if not path.is_file():
        raise RxringError(f"{path}: no such evidence package")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise RxringError(f"{path}: not a readable zip archive: {exc}") from exc
    result = VerifyResult(path=path, digest=None, checked=0)
    problems = result.problems
    with archive:
        infos = archive.infolist()
        if len(infos) > LIMITS["max_members"]:
            problems.append(Problem(str(path), "too_large", f"{len(infos)} members (limit {LIMITS['max_members']})"))
            return result
        actual: dict[str, str] = {}
        names_seen: set[str] = set()
        budget = [LIMITS["max_total_bytes"]]
        manifest_bytes = None
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
            if name == MANIFEST_NAME:
                manifest_bytes = data
            elif name == INPUTS_NAME:
                result.inputs = _parse_inputs(data or b"")

    if manifest_bytes is None:
        if not any(p.file == MANIFEST_NAME for p in problems):
            problems.append(Problem(MANIFEST_NAME, "missing", "no manifest: cannot verify anything"))
        return result
    result.digest = hashlib.sha256(manifest_bytes).hexdigest()
    if expect_digest and expect_digest.strip().lower() != result.digest:
        problems.append(Problem(MANIFEST_NAME, "digest", f"package digest {result.digest} differs from the expected one"))
    listed: dict[str, str] = {}
    try:
        text = manifest_bytes.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(MANIFEST_NAME, "manifest", "not UTF-8"))
        return result
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _MANIFEST_LINE.match(line)
        if not match or _unsafe_name(match.group(2)) or match.group(2) == MANIFEST_NAME:
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
    for name in sorted(set(actual) - set(listed) - {MANIFEST_NAME}):
        problems.append(Problem(name, "extra", "not listed in the manifest"))
    if check_inputs:
        _check_inputs(result)
    return result


def _check_inputs(result: VerifyResult) -> None:
    """Hash the original inputs that exist here and compare with inputs.sha256."""
    from .sources import sha256_file

    for expected, name in result.inputs:
        source = Path(name)
        try:
            found = source.is_file()
        except OSError:
            found = False
        if not found:
            result.input_checks.append((name, "not found"))
            continue
        try:
            actual = sha256_file(source)
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
