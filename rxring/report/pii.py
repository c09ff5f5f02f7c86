"""Masking personal data in the investigator outputs: :mod:`rxring.pii`, under its old name.

The masker lives in :mod:`rxring.pii` so ingest (quarantine rows) can use it
without importing the report package.
"""

from __future__ import annotations

from ..pii import (  # noqa: F401 - re-exported
    NAME_HEADERS,
    PII_EVENT_COLUMNS,
    PII_HEADERS,
    PII_JSON_KEYS,
    Masker,
    is_pii_header,
    mask_quarantine_raw,
    mask_quarantine_rows,
    mask_value,
)

__all__ = ["Masker", "mask_value", "PII_EVENT_COLUMNS", "PII_HEADERS", "PII_JSON_KEYS", "NAME_HEADERS",
           "is_pii_header", "mask_quarantine_raw", "mask_quarantine_rows"]
