"""Vectorised parsing of event times and expiry dates.

Naive times are Asia/Shanghai local time and are kept as they are; times that
carry an offset (``+08:00``, ``Z``, ``+0100``) are converted to Asia/Shanghai and
the offset dropped, so the event table holds naive local times throughout.
Accepted spellings: ISO 8601 (``2026-03-01 14:31:55``, ``2026-03-01T14:31:55.123+08:00``),
slashes (``2026/3/1 14:31``), compact NHSA forms (``20260301143155``,
``20260301``), Chinese dates (``2026年3月1日 14:31``, ``2026年5月3日 10时``,
``2026年5月3日 10时30分15秒``), Excel datetimes, and Excel serial day numbers
written as text (``45780.4375`` = 2025-05-03 10:30, days since 1899-12-30;
only 20000-99999, 1954-2173).  The Chinese and serial forms are tried only on
what the other spellings left unread, so their results never change.  A time of
day alone (``10时30分15秒``) is no event time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import LOCAL_TZ

__all__ = ["parse_times", "parse_dates", "TRIED_FORMATS"]

#: What :func:`parse_times` tries, in words (for the quarantine reason of a time it cannot read).
TRIED_FORMATS = ("ISO 8601", "YYYYMMDD[hhmmss]", "YYYY/M/D[ h:m[:s]]", "YYYY年M月D日[ H时[M分[S秒]]]",
                 "Excel serial day (20000-99999)")

_EXCEL_SERIAL = r"\d{5}(?:\.\d+)?"
_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "us")
_CHINESE = (r"(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号]?"
            r"(?:\s*(?P<hour>\d{1,2})\s*[时時点點:：]"
            r"(?:\s*(?P<minute>\d{1,2})\s*[分:：]"
            r"(?:\s*(?P<second>\d{1,2})\s*秒?)?)?)?")

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
        # Chinese times of day (时分秒) and Excel serial days: straight to their own parser, columnar
        # (the dateutil parser below, one value at a time, reads none of them)
        arr = pa.array(other.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        own = pc.fill_null(pc.or_(pc.match_substring_regex(arr, "[时時点點分秒]"),
                                  pc.match_substring_regex(arr, r"^[2-9]\d{4}(?:\.\d+)?$")), False)
        own = own.to_numpy(zero_copy_only=False)
        if own.any():
            out.loc[other.index[own]] = _serial_or_chinese(other[own])
            other = other[~own]
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
    still = out.isna() & text.notna()
    if still.any():
        left = text[still]
        out.loc[left.index] = _serial_or_chinese(left)
    return out


def _serial_or_chinese(text: pd.Series) -> pd.Series:
    """Excel serial days (``45780.4375``) and Chinese dates with 时分秒, columnar (Arrow); NaT otherwise."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    if not len(text):
        return out
    arr = pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    serial = pc.fill_null(pc.match_substring_regex(arr, "^" + _EXCEL_SERIAL + "$"), False)
    values = out.to_numpy(copy=True)
    if pc.any(serial).as_py():
        rows = np.flatnonzero(serial.to_numpy(zero_copy_only=False))
        days = pc.cast(pc.take(arr, pa.array(rows)), pa.float64()).to_numpy()
        ok = days >= 20_000
        micros = np.round(days[ok] * 86_400) * 1_000_000  # to the second, as Excel shows it
        values[rows[ok]] = _EXCEL_EPOCH + micros.astype("int64").astype("timedelta64[us]")
    found = pc.extract_regex(arr, "^" + _CHINESE + "$")
    matched = pc.fill_null(pc.and_(pc.is_valid(found), pc.invert(serial)), False)
    if pc.any(matched).as_py():
        rows = np.flatnonzero(matched.to_numpy(zero_copy_only=False))
        found = pc.take(found, pa.array(rows))
        parts = {}
        for name in ("year", "month", "day", "hour", "minute", "second"):
            field = pc.struct_field(found, [found.type.get_field_index(name)])
            field = pc.if_else(pc.equal(field, ""), "0", field)  # a part not written: 0
            parts[name] = pc.cast(field, pa.int64()).to_numpy()
        sane = (parts["hour"] < 24) & (parts["minute"] < 60) & (parts["second"] < 60)
        if sane.any():
            frame = pd.DataFrame({k: v[sane] for k, v in parts.items()})
            values[rows[sane]] = pd.to_datetime(frame, errors="coerce").to_numpy().astype("datetime64[us]")
    return pd.Series(values, index=text.index, dtype="datetime64[us]")


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
