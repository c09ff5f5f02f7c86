"""Vectorised parsing of event times and expiry dates.

Naive times are Asia/Shanghai local time and are kept as they are; times that
carry an offset (``+08:00``, ``Z``, ``+0100``) are converted to Asia/Shanghai and
the offset dropped, so the event table holds naive local times throughout.
Accepted spellings: ISO 8601 (``2026-03-01 14:31:55``, ``2026-03-01T14:31:55.123+08:00``),
slashes (``2026/3/1 14:31``), compact NHSA forms (``20260301143155``,
``20260301``), Chinese dates (``2026年3月1日 14:31``) and Excel datetimes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import LOCAL_TZ

__all__ = ["parse_times", "parse_dates"]

_OFFSET = r"(?:[zZ]|[+-]\d{2}:?\d{2})$"


def _to_naive_local(parsed: pd.Series) -> pd.Series:
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return parsed.astype("datetime64[us]")


def _parse_naive(text: pd.Series) -> pd.Series:
    out = pd.to_datetime(text, errors="coerce", format="ISO8601")
    missing = out.isna() & text.notna()
    if missing.any():
        rest = text[missing]
        compact = rest.str.fullmatch(r"\d{14}|\d{8}").fillna(False).astype(bool)
        if compact.any():
            c = rest[compact]
            fmt14 = pd.to_datetime(c.where(c.str.len() == 14), format="%Y%m%d%H%M%S", errors="coerce")
            fmt8 = pd.to_datetime(c.where(c.str.len() == 8), format="%Y%m%d", errors="coerce")
            out.loc[c.index] = fmt14.fillna(fmt8)
        other = rest[~compact]
        if len(other):
            cleaned = (
                other.str.replace("年", "-", regex=False)
                .str.replace("月", "-", regex=False)
                .str.replace("日", " ", regex=False)
                .str.replace("/", "-", regex=False)
                .str.replace(".", "-", regex=False)
                .str.strip()
            )
            out.loc[other.index] = pd.to_datetime(cleaned, errors="coerce", format="mixed")
    return out


def parse_times(values: pd.Series) -> pd.Series:
    """Parse a column of times into naive Asia/Shanghai ``datetime64[us]`` (NaT when unparseable).

    Parameters
    ----------
    values : pandas.Series
        Strings, datetimes (naive or aware) or missing values.

    Returns
    -------
    pandas.Series
        ``datetime64[us]``; NaT where the value is missing or cannot be read as a time.

    Examples
    --------
    >>> s = pd.Series(["2026-03-01 14:31:55", "2026-03-01T06:31:55Z", "20260301143155", "nonsense"])
    >>> [str(t) for t in parse_times(s)]
    ['2026-03-01 14:31:55', '2026-03-01 14:31:55', '2026-03-01 14:31:55', 'NaT']
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _to_naive_local(values)
    out = pd.Series(np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]"), index=values.index)
    if values.dtype == object:
        is_dt = values.map(lambda v: hasattr(v, "year") and hasattr(v, "hour"))
        if is_dt.any():
            for idx, v in values[is_dt].items():
                ts = pd.Timestamp(v)
                if ts.tzinfo is not None:
                    ts = ts.tz_convert(LOCAL_TZ).tz_localize(None)
                out.loc[idx] = ts
            values = values[~is_dt]
    text = values.astype("string").str.strip()
    text = text.where(text != "")
    if text.notna().sum() == 0:
        return out
    has_offset = text.str.contains(_OFFSET, regex=True).fillna(False).astype(bool)
    if has_offset.any():
        aware = pd.to_datetime(text[has_offset], errors="coerce", utc=True, format="ISO8601")
        out.loc[aware.index] = _to_naive_local(aware)
    naive = text[~has_offset]
    if len(naive):
        out.loc[naive.index] = _to_naive_local(_parse_naive(naive))
    return out


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse a column of dates (expiry) into Python ``date`` objects or None.

    ``2027-10-20``, ``20271020``, ``2027/10/20``, ``2027年10月20日`` and datetimes are read;
    anything else becomes None.
    """
    times = parse_times(values)
    return pd.Series([t.date() if not pd.isna(t) else None for t in times], index=values.index, dtype="object")
