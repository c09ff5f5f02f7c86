"""Sealing an evidence package: manifest, signed statement, timestamp, a reproducible zip.

Layout of the sealed part of a package::

    MANIFEST.sha256              SHA-256 of every content file (``sha256sum -c`` format);
                                 its own SHA-256 is the *package digest*
    extraction_record.*.md, …    documents made after the manifest (they name the package
                                 digest, so they cannot be in it): listed with their SHA-256
                                 in the statement
    signature/statement.json     the package digest, the documents' SHA-256, the creation
                                 time (out of every content file; the documents show it), the
                                 Python version and the key id
    signature/statement.sig      Ed25519 signature (base64) over statement.json, when signed
    signature/timestamp.tsr      RFC 3161 answer over the package digest, when timestamped

Beside the zip, ``case.zip.sha256`` holds the SHA-256 of the zip file as a whole
(``sha256sum -c case.zip.sha256``): it catches bytes added around the members, such
as a prepended shell script, which member hashes cannot see.

The zip is reproducible: members in a fixed order, fixed dates (1980-01-01), fixed
modes; the same content, creation time and key give the same bytes (Ed25519 is
deterministic).  The creation time is ``SOURCE_DATE_EPOCH`` when set, else now.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import RxringError
from ..jsonout import dumps
from ..keys import key_id, load_private_key, sign
from ..version import __version__
from ..digests import sha256_file
from .sources import sha256_listing
from .timestamp import TIMESTAMP_NAME, request_timestamp

__all__ = ["Seal", "MANIFEST_NAME", "STATEMENT_NAME", "SIGNATURE_NAME", "TIMESTAMP_NAME", "SEAL_NAMES",
           "STATEMENT_FORMAT", "statement_bytes", "read_statement", "write_package", "sidecar_path",
           "creation_time", "creation_datetime", "add_timestamp"]

MANIFEST_NAME = "MANIFEST.sha256"
STATEMENT_NAME = "signature/statement.json"
SIGNATURE_NAME = "signature/statement.sig"
SEAL_NAMES = (STATEMENT_NAME, SIGNATURE_NAME, TIMESTAMP_NAME)
STATEMENT_FORMAT = "rxring-evidence-statement/1"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Seal:
    """How to seal a package: signing key (and its passphrase), timestamp authority, creation time."""

    sign_key: str | Path | None = None
    passphrase: bytes | None = None
    tsa_url: str | None = None
    created: datetime | None = None


def creation_datetime() -> datetime:
    """When an output is made, in UTC: ``SOURCE_DATE_EPOCH`` (seconds since 1970) when set, else now,
    so that the same inputs can give the same bytes (packages, reports)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise RxringError(f"SOURCE_DATE_EPOCH={epoch!r}: not a number of seconds since 1970") from exc


def creation_time(created: datetime | None = None) -> str:
    """``created`` (default :func:`creation_datetime`) as ``YYYY-MM-DDTHH:MM:SSZ``.

    >>> creation_time(datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc))
    '2026-03-01T08:00:00Z'
    """
    if created is None:
        created = creation_datetime()
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def statement_bytes(package_digest: str, documents: dict[str, bytes], created: str, signer: str | None) -> bytes:
    """``signature/statement.json`` (canonical: sorted keys, UTF-8)."""
    statement = {
        "format": STATEMENT_FORMAT,
        "package_digest": package_digest,
        "package_digest_of": MANIFEST_NAME,
        "documents": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(documents.items())},
        "created_utc": created,
        "tool": f"rxring {__version__}",
        "python": platform.python_version(),
        "signer_key_id": signer,
    }
    return dumps(statement, sort_keys=True).encode("utf-8")


def sidecar_path(package: Path) -> Path:
    """``case.zip`` → ``case.zip.sha256``."""
    return package.with_name(package.name + ".sha256")


def _write_zip(output: Path, members: list[tuple[str, bytes]]) -> Path:
    """Write ``members`` in this order with fixed dates and modes, atomically; then the sidecar."""
    tmp = output.with_name(output.name + ".tmp")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = 0o644 << 16
                archive.writestr(info, data, compresslevel=6)
        tmp.replace(output)
        sidecar_path(output).write_text(f"{sha256_file(output)}  {output.name}\n", encoding="utf-8")
    except OSError as exc:
        raise RxringError(f"{output}: cannot write the evidence package: {exc.strerror or exc}") from exc
    return output


def write_package(output: Path, files: dict[str, bytes], documents_for, seal: Seal,
                  created: str) -> tuple[str, str | None, tuple[str, ...]]:
    """Seal and write a package: manifest over ``files``, documents, statement, signature, timestamp.

    Parameters
    ----------
    output : Path
        The zip to write (its sidecar ``.sha256`` is written beside it).
    files : dict of str to bytes
        The content files (everything the manifest lists).
    documents_for : callable
        ``documents_for(package_digest) -> dict[str, bytes]``: the documents that
        name the package digest (the 提取笔录, the PDF dossier).
    seal : Seal
        Key, passphrase and TSA URL.
    created : str
        The creation time (:func:`creation_time`), written in the statement only.

    Returns
    -------
    tuple
        The package digest, the signer's key id (None unsigned), the members' names.
    """
    clash = sorted(n for n in files if n == MANIFEST_NAME or n.startswith("signature/"))
    if clash:
        raise RxringError(f"reserved names in the package content: {', '.join(clash)}")
    key = load_private_key(seal.sign_key, seal.passphrase) if seal.sign_key else None
    manifest = sha256_listing(files)
    digest = hashlib.sha256(manifest).hexdigest()
    documents = documents_for(digest)
    signer = key_id(key.public_key()) if key else None
    statement = statement_bytes(digest, documents, created, signer)
    members = [*sorted(files.items()), (MANIFEST_NAME, manifest), *sorted(documents.items()),
               (STATEMENT_NAME, statement)]
    if key is not None:
        members.append((SIGNATURE_NAME, base64.b64encode(sign(key, statement)) + b"\n"))
    if seal.tsa_url:
        members.append((TIMESTAMP_NAME, request_timestamp(seal.tsa_url, manifest)))
    _write_zip(Path(output), members)
    return digest, signer, tuple(name for name, _ in members)


def add_timestamp(package: str | Path, tsa_url: str) -> str:
    """Add an RFC 3161 timestamp to a package made without one (air-gapped use); return the package digest.

    The package is verified first; it is rewritten with the same members plus
    ``signature/timestamp.tsr`` (and a new sidecar).
    """
    from .verify import verify_evidence

    package = Path(package)
    result = verify_evidence(package)
    if not result.ok:
        raise RxringError(f"{package}: not timestamped, the package does not verify: "
                          + "; ".join(str(p) for p in result.problems[:5]))
    with zipfile.ZipFile(package) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    if any(name == TIMESTAMP_NAME for name, _ in members):
        raise RxringError(f"{package}: already has a timestamp ({TIMESTAMP_NAME})")
    manifest = dict(members)[MANIFEST_NAME]
    members.append((TIMESTAMP_NAME, request_timestamp(tsa_url, manifest)))
    _write_zip(package, members)
    return hashlib.sha256(manifest).hexdigest()


def read_statement(data: bytes) -> dict:
    """The statement's fields; ValueError when it is not a statement of this format."""
    statement = json.loads(data.decode("utf-8"))
    if not isinstance(statement, dict) or statement.get("format") != STATEMENT_FORMAT:
        raise ValueError(f"not a {STATEMENT_FORMAT} statement")
    if not isinstance(statement.get("documents"), dict):
        raise ValueError("no documents list")
    return statement
