"""Organisation signing keys (`rxring keys init`): Ed25519 with ``cryptography``.

An investigating unit makes one key pair once: the private key stays with it
(file mode 0600, optionally encrypted with a passphrase), the public key PEM is
handed to whoever must check its evidence packages (`rxring evidence verify
--pubkey`).  Ed25519 signatures are deterministic: the same key over the same
bytes gives the same signature, so signed packages stay reproducible.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import RxringError

__all__ = ["KeyPair", "init_keys", "load_private_key", "load_public_key", "key_id", "sign", "signature_valid",
           "read_passphrase", "PRIVATE_NAME", "PUBLIC_NAME"]

PRIVATE_NAME = "rxring-signing-key.pem"
PUBLIC_NAME = "rxring-signing-key.pub.pem"
_MAX_KEY_BYTES = 64 * 1024


@dataclass(frozen=True)
class KeyPair:
    """Paths of a key pair written by :func:`init_keys` and the public key's id."""

    private: Path
    public: Path
    key_id: str


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's id: SHA-256 of its raw 32 public bytes, hex (printed and recorded in signed statements)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def read_passphrase(path: str | Path | None) -> bytes | None:
    """The passphrase in ``path`` (first line, without its line end), or None without a path."""
    if path is None:
        return None
    try:
        text = Path(path).read_bytes()[:4096].splitlines()
    except OSError as exc:
        raise RxringError(f"{path}: cannot read the passphrase file: {exc.strerror or exc}") from exc
    if not text or not text[0]:
        raise RxringError(f"{path}: line 1: the passphrase file is empty")
    return text[0]


def init_keys(directory: str | Path, passphrase: bytes | None = None) -> KeyPair:
    """Create an Ed25519 key pair in ``directory``; never overwrite an existing key.

    Parameters
    ----------
    directory : path
        Created when missing.  Gets ``rxring-signing-key.pem`` (PKCS#8, mode 0600,
        encrypted when ``passphrase``) and ``rxring-signing-key.pub.pem``.
    passphrase : bytes, optional
        Encrypts the private key.

    Returns
    -------
    KeyPair

    Examples
    --------
    >>> import tempfile
    >>> pair = init_keys(tempfile.mkdtemp())
    >>> oct(pair.private.stat().st_mode & 0o777), len(pair.key_id)
    ('0o600', 64)
    """
    folder = Path(directory)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise RxringError(f"{path}: a key already exists here; remove it first or choose another folder (-o)")
    key = Ed25519PrivateKey.generate()
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_pem)
        os.chmod(private_path, 0o600)  # whatever the umask
        public_path.write_bytes(public_pem)
    except OSError as exc:
        raise RxringError(f"{folder}: cannot write the key pair: {exc.strerror or exc}") from exc
    return KeyPair(private_path, public_path, key_id(key.public_key()))


def _read_key_file(path: str | Path, what: str) -> bytes:
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_KEY_BYTES:
            raise RxringError(f"{path}: too large for a {what} ({path.stat().st_size} bytes)")
        return path.read_bytes()
    except OSError as exc:
        raise RxringError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (PEM); a clear error for a wrong passphrase or another key type."""
    data = _read_key_file(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:  # encrypted without a passphrase, or a passphrase for a plain key
        raise RxringError(f"{path}: {'a passphrase is needed (--passphrase-file)' if passphrase is None else 'the key is not encrypted: leave out --passphrase-file'}") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise RxringError(f"{path}: not a readable private key (wrong passphrase, or not PEM): {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise RxringError(f"{path}: not an Ed25519 key (make one with `rxring keys init`)")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in ``path`` (PEM)."""
    data = _read_key_file(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise RxringError(f"{path}: not a readable public key (PEM expected): {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise RxringError(f"{path}: not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """Ed25519 signature (64 bytes) of ``data``."""
    return key.sign(data)


def signature_valid(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s signature over ``data``."""
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
