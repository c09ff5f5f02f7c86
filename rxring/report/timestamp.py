"""Trusted timestamps (RFC 3161) over an evidence package's manifest, with ``rfc3161-client``.

The timestamp authority (TSA) signs the SHA-256 of ``MANIFEST.sha256`` — the
package digest — and a time: proof that the package existed then.  The answer
(a TimeStampResp, DER) is stored as ``signature/timestamp.tsr``; it is checked
offline against the TSA's certificate chain, and OpenSSL checks it too::

    openssl ts -verify -digest PACKAGE_DIGEST -in timestamp.tsr -CAfile tsa-root.pem

Only ``http``/``https`` URLs are requested; the answer is capped in size.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from rfc3161_client import (HashAlgorithm, PKIStatus, TimestampRequestBuilder, VerificationError, VerifierBuilder,
                            decode_timestamp_response)

from ..errors import RxringError

__all__ = ["TimestampCheck", "request_timestamp", "check_timestamp", "load_tsa_certificates", "TIMESTAMP_NAME"]

TIMESTAMP_NAME = "signature/timestamp.tsr"
_MAX_ANSWER_BYTES = 1 << 20
_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class TimestampCheck:
    """Outcome of :func:`check_timestamp`: ``ok``, the time the TSA signed (UTC) and why not when not ok."""

    ok: bool
    time: datetime | None
    detail: str = ""


def request_timestamp(url: str, manifest_bytes: bytes, timeout: float = _TIMEOUT_SECONDS) -> bytes:
    """Ask the TSA at ``url`` for a timestamp over SHA-256(``manifest_bytes``); return its answer (DER).

    Raises
    ------
    RxringError
        The URL is not http(s), the TSA cannot be reached, answers with an error,
        or its answer does not carry the digest asked for.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise RxringError(f"{url}: a timestamp authority URL must start with http:// or https://")
    query = TimestampRequestBuilder(data=manifest_bytes, hash_algorithm=HashAlgorithm.SHA256, cert_req=True).build()
    request = urllib.request.Request(url, data=query.as_bytes(), method="POST",
                                     headers={"Content-Type": "application/timestamp-query",
                                              "Accept": "application/timestamp-reply"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read(_MAX_ANSWER_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RxringError(f"{url}: the timestamp authority did not answer: {getattr(exc, 'reason', exc)}") from exc
    if len(body) > _MAX_ANSWER_BYTES:
        raise RxringError(f"{url}: the timestamp authority's answer is larger than {_MAX_ANSWER_BYTES} bytes")
    try:
        response = decode_timestamp_response(body)
    except ValueError as exc:
        raise RxringError(f"{url}: not an RFC 3161 answer: {exc}") from exc
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise RxringError(f"{url}: the timestamp authority refused (status {response.status})")
    if response.tst_info.nonce != query.nonce or response.tst_info.message_imprint.message != _digest(manifest_bytes):
        raise RxringError(f"{url}: the timestamp answer is for another request (nonce or digest differs)")
    return body


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def load_tsa_certificates(path: str | Path) -> list[x509.Certificate]:
    """The certificates (PEM bundle or one DER certificate) in ``path``: the TSA's root and chain."""
    try:
        data = Path(path).read_bytes()[: 4 * _MAX_ANSWER_BYTES]
    except OSError as exc:
        raise RxringError(f"{path}: cannot read the TSA certificate: {exc.strerror or exc}") from exc
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise RxringError(f"{path}: not a certificate (PEM or DER expected): {exc}") from exc


def check_timestamp(answer: bytes, manifest_bytes: bytes,
                    certificates: list[x509.Certificate] | None) -> TimestampCheck:
    """Check a stored timestamp offline: signed by a TSA chaining to ``certificates``, over this manifest.

    Self-signed certificates in ``certificates`` are trusted roots, the others
    intermediates.  With ``certificates`` None only the digest is compared (``ok``
    then says the timestamp is over this manifest, not who signed it).
    """
    try:
        response = decode_timestamp_response(answer)
    except ValueError as exc:
        return TimestampCheck(False, None, f"not an RFC 3161 answer: {exc}")
    when = response.tst_info.gen_time
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    if response.tst_info.message_imprint.message != _digest(manifest_bytes):
        return TimestampCheck(False, when, "the timestamp is over another digest than this package's manifest")
    if certificates is None:
        return TimestampCheck(True, when, "the TSA's signature not checked (no certificate given)")
    builder = VerifierBuilder()
    roots = [c for c in certificates if c.issuer == c.subject]
    if not roots:
        return TimestampCheck(False, when, "no self-signed root certificate among the TSA certificates given")
    for cert in certificates:
        builder = builder.add_root_certificate(cert) if cert in roots else builder.add_intermediate_certificate(cert)
    try:
        builder.build().verify_message(response, manifest_bytes)
    except (VerificationError, ValueError) as exc:
        return TimestampCheck(False, when, f"the TSA signature does not verify: {exc}")
    return TimestampCheck(True, when)
