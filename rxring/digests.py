"""Integrity values of files and bytes: SHA-256 and SM3 (GB/T 32905-2016), the latter from ``cryptography``.

Ingest hashes every input once with both (:func:`file_digests`) and records them in the
workspace manifest; an evidence package's 提取笔录 lists them for the inputs and computes
them (:func:`sm3_hex`) for its own files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import hashes

__all__ = ["file_digests", "sha256_file", "sm3_hex"]


def sm3_hex(data: bytes) -> str:
    """SM3 of ``data`` as hex.

    >>> sm3_hex(b"abc")
    '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0'
    """
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes as stored (a .gz file is hashed compressed), streamed."""
    return file_digests(path, sm3=False)[0]


def file_digests(path: Path, sm3: bool = True) -> tuple[str, str | None, int]:
    """SHA-256, SM3 (None when ``sm3`` is false) and size of a file's bytes as stored, in one read.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     sha, sm3, size = file_digests(Path(f.name))
    >>> sha[:12], sm3[:12], size
    ('ba7816bf8f01', '66c7f0f462ee', 3)
    """
    sha, sm3_hash, size = hashlib.sha256(), hashes.Hash(hashes.SM3()) if sm3 else None, 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            sha.update(block)
            if sm3_hash is not None:
                sm3_hash.update(block)
            size += len(block)
    return sha.hexdigest(), None if sm3_hash is None else sm3_hash.finalize().hex(), size
