"""Plain helpers for the ingest tests (import them; fixtures live in conftest.py)."""

from __future__ import annotations

import pandas as pd


def rows(events: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Selected columns as plain tuples (NaN/NA/NaT -> None), in event order."""
    out = []
    for record in events[columns].astype(object).itertuples(index=False, name=None):
        out.append(tuple(None if (v is None or (not isinstance(v, (list, str)) and pd.isna(v))) else v for v in record))
    return out
