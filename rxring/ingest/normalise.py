"""Turn records with canonical column names into canonical events, or quarantine them.

Every format reader produces a pyarrow table whose columns are canonical names
(see :mod:`rxring.ingest.aliases`) holding raw values (strings, or already typed
numbers and timestamps), plus bookkeeping columns:

``_line``        source line (or message / row number) — required
``_code_index``  index of the code within its source record (default 0)
``_k``           number of codes the source record listed (default 1)
``_raw``         raw text for quarantine rows (else ``FileContext.raw_lookup`` is asked)
``_reject``      a reason decided by the reader (e.g. "no trace code in message")

:func:`normalise` validates and converts column by column with pyarrow compute
(no Python loop per row except for non-Chinese codes and unusual time formats)
and returns the accepted rows in :data:`rxring.schema.EVENT_SCHEMA` and the
rejected ones as quarantine rows.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RxringError
from ..schema import EVENT_ORIGIN_SCHEMA, EVENT_SCHEMA, LOCAL_TZ, QUARANTINE_COLUMNS
from .aliases import EVENT_TYPE_ALIASES, SPLIT_FALSE, SPLIT_TRUE
from .codes import fold_text, gs1_columns, parse_code_series
from .strings import all_fixed_digits, fixed_slice, has_empty, may_need_trim
from .times import TRIED_FORMATS, parse_times

__all__ = ["FileContext", "normalise", "explode_codes", "split_code_cell", "empty_quarantine", "time_window",
           "parse_time_window", "MAX_QUANTITY", "MIN_QUANTITY", "MAX_AMOUNT", "NUMBER_COLUMNS", "TIME_WINDOW_ENV"]

# Several codes in one cell: split on , ; 、 | (half or full width) and line breaks
# always; on other whitespace only when every piece is long enough to be a whole code.
_SEPARATORS = r"[,;，；、|\r\n]+"
_MULTI = r"[,;，；、|\r\n]|\S{16,}\s+\S{16,}"
_MIN_CODE_LEN = 16
RAW_LIMIT = 4000

#: A quantity (packs, or smallest units for 拆零) beyond this, or not finite, is absurd: quarantined.
MAX_QUANTITY = 1e6
#: A quantity that is not zero but smaller than this (``1e-320``, ``0.0000001``) is nonsense, not a
#: rounding of zero: quarantined.  Half a tablet or 2.5 ml stay well above it; ``-0`` is read as 0.
MIN_QUANTITY = 1e-3
#: A money amount (yuan: total, fund, unit price) beyond this, or not finite, is absurd: quarantined.
MAX_AMOUNT = 1e8
#: The canonical columns that hold numbers (quantity, unit price, money): a cell in them that is not a
#: number -- ``NaN``, ``NA``, ``null``, ``None`` included -- is quarantined; only an empty cell is missing.
NUMBER_COLUMNS = ("quantity", "_price", "total_amount", "fund_amount")
#: Environment variable holding the plausible event-time window, ``START..END`` (either side may be empty).
TIME_WINDOW_ENV = "RXRING_TIME_WINDOW"
#: Default start of the plausible event-time window (the end: one year after the ingest time).
EARLIEST_TIME = datetime(2000, 1, 1)
LATEST_AFTER = timedelta(days=366)
#: Expiry dates outside this range (placeholders such as 9999-12-31, nonsense years) are read as no expiry.
EXPIRY_RANGE = (datetime(1990, 1, 1), datetime(2100, 12, 31))


def parse_time_window(text: str | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``(earliest, latest)`` naive Asia/Shanghai times of the plausible event-time window.

    ``text`` is ``START..END`` (ISO dates or times, either side may be empty, e.g.
    ``2015-01-01..`` or ``..2030-12-31``); None or empty gives the default
    2000-01-01 .. one year after ``now`` (the ingest time, Asia/Shanghai).

    Raises
    ------
    RxringError
        When the text is not a window.

    Examples
    --------
    >>> parse_time_window("2015-01-01..2030-12-31")
    (datetime.datetime(2015, 1, 1, 0, 0), datetime.datetime(2030, 12, 31, 0, 0))
    >>> parse_time_window("", now=datetime(2026, 3, 1))[1]
    datetime.datetime(2027, 3, 2, 0, 0)
    """
    if now is None:
        now = pd.Timestamp.now(tz=LOCAL_TZ).tz_localize(None).to_pydatetime()
    earliest, latest = EARLIEST_TIME, now + LATEST_AFTER
    text = (text or "").strip()
    if not text:
        return earliest, latest
    if ".." not in text:
        raise RxringError(f"time window {text!r} is not START..END (e.g. 2000-01-01..2030-12-31; either side may be empty)")
    start, end = (part.strip() for part in text.split("..", 1))

    def when(value: str) -> datetime:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise RxringError(f"time window {text!r}: {value!r} is not an ISO date or time (YYYY-MM-DD[ HH:MM:SS])") from None

    if start:
        earliest = when(start)
    if end:
        latest = when(end)
    if earliest.tzinfo is not None or latest.tzinfo is not None:
        raise RxringError(f"time window {text!r}: give local (Asia/Shanghai) times without an offset")
    if latest < earliest:
        raise RxringError(f"time window {text!r} ends before it starts")
    return earliest, latest


def time_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The plausible event-time window in force: :data:`TIME_WINDOW_ENV` or the default.

    The default ends one year after the ingest time: the records rxring reads carry
    no upload time of their own, and the time they are ingested is the latest an
    upload can have happened.
    """
    return parse_time_window(os.environ.get(TIME_WINDOW_ENV), now)


@dataclass
class FileContext:
    """What the normaliser needs to know about the file the records came from.

    ``raw_lookup`` receives the ``_line`` values of rejected rows and returns their
    raw text (used when the records carry no ``_raw`` column).
    """

    source_file: str
    sha16: str
    default_event_type: str | None = None
    raw_lookup: Callable[[list[int]], list[str]] | None = None
    #: The user's column map (:class:`~rxring.ingest.columnmap.ColumnMap`) for a tabular file: its
    #: event-type values, time formats and default site id are used here.
    column_map: object | None = None


def empty_quarantine() -> pd.DataFrame:
    """A quarantine frame with no rows (columns :data:`rxring.schema.QUARANTINE_COLUMNS`)."""
    return _EMPTY_QUARANTINE.copy(deep=False)


_EMPTY_QUARANTINE = pd.DataFrame({c: pd.Series(dtype="int64" if c == "source_line" else "object") for c in QUARANTINE_COLUMNS})
# canonical event-type names (each maps to itself in EVENT_TYPE_ALIASES)
_CANONICAL_TYPES = pa.array(sorted({v for k, v in EVENT_TYPE_ALIASES.items() if k == v}), type=pa.string())


def split_code_cell(text: str) -> list[str]:
    """Split one cell that lists several codes.

    Examples
    --------
    >>> split_code_cell("81151257914085623274、81151257914085623275")
    ['81151257914085623274', '81151257914085623275']
    >>> split_code_cell("8115 1257 9140 8562 3274")
    ['8115 1257 9140 8562 3274']
    """
    if text.isascii() and text.isalnum():  # one code (no separator, no space): the usual cell, without the regex
        return [text]
    pieces = [p.strip() for p in re.split(_SEPARATORS, text) if p.strip()]
    out: list[str] = []
    for piece in pieces:
        words = piece.split()
        if len(words) > 1 and "(" not in piece and all(len(w) >= _MIN_CODE_LEN for w in words):
            out.extend(words)
        else:
            out.append(piece)
    return out or [text]


def explode_codes(table: pa.Table) -> pa.Table:
    """One row per code when a ``trace_code`` cell lists several codes.

    Adds ``_code_index`` (0..k-1) and ``_k`` (k) to every row.  Only the cells that
    contain a separator are split in Python; the rest stays columnar.
    """
    n = table.num_rows
    counts = np.ones(n, dtype=np.int64)
    pieces: dict[int, list[str]] = {}
    if "trace_code" in table.column_names and n:
        code = table.column("trace_code")
        if not pa.types.is_string(code.type):
            code = pc.cast(code, pa.string())
            table = table.set_column(table.column_names.index("trace_code"), "trace_code", code)
        long = pc.fill_null(pc.greater(pc.binary_length(code), 20), False)
        if pc.any(long).as_py():
            candidates = np.flatnonzero(long.to_numpy(zero_copy_only=False))
            multi = pc.fill_null(pc.match_substring_regex(pc.take(code, pa.array(candidates)), _MULTI), False)
            rows = candidates[multi.to_numpy(zero_copy_only=False)]
            values = pc.take(code, pa.array(rows)).to_pylist()
            for row, value in zip(rows, values):
                split = split_code_cell(value)
                if len(split) > 1:
                    pieces[int(row)] = split
                    counts[row] = len(split)
    if not pieces:
        return table.append_column("_code_index", pa.array(np.zeros(n, dtype=np.int64))).append_column(
            "_k", pa.array(counts)
        )
    repeat = np.repeat(np.arange(n), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    code_index = np.arange(len(repeat)) - starts
    out = table.take(pa.array(repeat))
    codes = out.column("trace_code").to_numpy(zero_copy_only=False).astype(object)
    offsets = np.cumsum(counts) - counts
    for row, split in pieces.items():
        codes[offsets[row] : offsets[row] + len(split)] = split
    out = out.set_column(out.column_names.index("trace_code"), "trace_code", pa.array(codes, type=pa.string()))
    return out.append_column("_code_index", pa.array(code_index)).append_column("_k", pa.array(counts[repeat]))


# ---------------------------------------------------------------- column helpers

def _single(col: pa.ChunkedArray) -> pa.Array:
    """The column as one array; a single chunk is taken as it is (combine_chunks copies it)."""
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def _null_strings(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def _plain(arr: pa.Array) -> pa.Array:
    """A dictionary array decoded to its values (other arrays as they are)."""
    if pa.types.is_dictionary(arr.type):
        return arr.cast(arr.type.value_type)
    return arr


def _text(table: pa.Table, name: str) -> pa.Array:
    """A string column, trimmed, empty strings as null (all null when absent).

    A dictionary column stays a dictionary when cleaning its values keeps them
    distinct and non-null (what the Parquet writer needs to write it as it is).
    """
    if name not in table.column_names:
        return _null_strings(table.num_rows)
    col = _single(table.column(name))
    if pa.types.is_null(col.type) or col.null_count == len(col):
        return _null_strings(table.num_rows)
    if pa.types.is_dictionary(col.type):
        kept = _dictionary_text(col)
        if kept is not None:
            return kept
        col = _plain(col)
    return _clean_text(col)


def _dictionary_text(col: pa.DictionaryArray) -> pa.DictionaryArray | None:
    """A string dictionary array with its values cleaned, or None to decode it instead."""
    values = col.dictionary
    if not pa.types.is_string(values.type) or values.null_count:
        return None
    if not may_need_trim(values) and not has_empty(values):
        return col
    cleaned = _clean_text(values)
    if cleaned.null_count or pc.count_distinct(cleaned).as_py() != len(cleaned):
        return None
    return pa.DictionaryArray.from_arrays(col.indices, cleaned)


def _clean_text(col: pa.Array) -> pa.Array:
    """Any plain column as strings, trimmed, empty strings as null."""
    if pa.types.is_floating(col.type):
        # 2.0 -> "2", keep non-integral values as they are
        as_int = pc.cast(pc.if_else(pc.equal(pc.floor(col), col), col, None), pa.int64(), safe=False)
        col = pc.coalesce(pc.cast(as_int, pa.string()), pc.cast(col, pa.string()))
    elif pa.types.is_boolean(col.type):
        col = pc.if_else(col, "1", "0")
    elif not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    col = col.cast(pa.string())
    if col.null_count == len(col):
        return _null_strings(len(col))
    if not may_need_trim(col) and not has_empty(col):
        return col  # canonical input: nothing to trim, nothing empty (checked on the buffers)
    # ASCII columns (codes, ids, times) trim several times faster without Unicode tables
    ascii_only = pc.all(pc.string_is_ascii(col)).as_py() is not False
    col = pc.ascii_trim_whitespace(col) if ascii_only else pc.utf8_trim_whitespace(col)
    empty = pc.equal(pc.binary_length(col), 0)
    if not pc.any(empty).as_py():
        return col
    return pc.if_else(empty, pa.scalar(None, pa.string()), col)


_NUMBER_DECORATION = re.compile(r"[,\s¥￥元]|RMB|CNY", re.IGNORECASE)


def _loose_float(value: str | None) -> float | None:
    """A number written with thousands separators, a currency sign or other scripts' digits; None if none.

    >>> _loose_float("¥1,234.50"), _loose_float("١٢"), _loose_float("１２元"), _loose_float("lots")
    (1234.5, 12.0, 12.0, None)
    """
    if value is None:
        return None
    text = _NUMBER_DECORATION.sub("", fold_text(value))
    if not text or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _number(table: pa.Table, name: str, text_of=None) -> tuple[pa.Array, pa.Array]:
    """(float64 values, mask of present-but-not-a-number)."""
    text_of = text_of or (lambda c: _text(table, c))
    n = table.num_rows
    if name not in table.column_names:
        return pa.nulls(n, pa.float64()), pa.array(np.zeros(n, dtype=bool))
    col = _single(table.column(name))
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type):
        return pc.cast(col, pa.float64()), pa.array(np.zeros(n, dtype=bool))
    text = _plain(text_of(name))
    try:
        values = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed: dict = {}
        for value in set(text.to_pylist()):
            parsed[value] = _loose_float(value)
        values = pa.array([parsed[v] for v in text.to_pylist()], type=pa.float64())
    bad = pc.and_(pc.is_valid(text), pc.is_null(values, nan_is_null=True))
    return pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values), bad


_ISO = "%Y-%m-%d %H:%M:%S"
_ISO_MORE = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S")


def _not_rolled_over(text: pa.Array, parsed: pa.Array) -> pa.Array:
    """Null where strptime rolled an impossible day over (2026-02-30 -> 2026-03-02).

    Arrow's strptime does not check the day against the month; a rolled-over date
    lands on day 1-3 of the next month, so only those rows are compared with the
    day written in the text.
    """
    suspect = pc.fill_null(pc.less_equal(pc.day(parsed), 3), False)
    if not pc.any(suspect).as_py():
        return parsed
    rows = pa.array(np.flatnonzero(suspect.to_numpy(zero_copy_only=False)))
    written = pc.struct_field(pc.extract_regex(pc.take(text, rows), r"^\s*\d{4}-\d{1,2}-(?P<day>\d{1,2})"), [0])
    wrong = pc.fill_null(pc.not_equal(pc.cast(written, pa.int64()), pc.day(pc.take(parsed, rows))), True)
    if not pc.any(wrong).as_py():
        return parsed
    mask = np.zeros(len(parsed), dtype=bool)
    mask[rows.to_numpy()[wrong.to_numpy(zero_copy_only=False)]] = True
    return pc.if_else(pa.array(mask), pa.scalar(None, parsed.type), parsed)


def _not_rolled_over_any(text: pa.Array, parsed: pa.Array, fmt: str) -> pa.Array:
    """Null where strptime with a user's format took a day the month does not have (formatted back, it differs)."""
    if "%d" not in fmt or parsed.null_count == len(parsed):
        return parsed
    suspect = pc.fill_null(pc.less_equal(pc.day(parsed), 3), False)
    if not pc.any(suspect).as_py():
        return parsed
    rows = np.flatnonzero(suspect.to_numpy(zero_copy_only=False))
    again = pc.strftime(pc.take(parsed, pa.array(rows)), format="%d")
    written = []
    for value in pc.take(text, pa.array(rows)).to_pylist():
        try:
            written.append(datetime.strptime(value, fmt).strftime("%d"))
        except ValueError:
            written.append(None)  # a day beyond the month: strptime refuses it
    wrong = pc.fill_null(pc.not_equal(again, pa.array(written, type=pa.string())), True)
    if not pc.any(wrong).as_py():
        return parsed
    mask = np.zeros(len(parsed), dtype=bool)
    mask[rows[wrong.to_numpy(zero_copy_only=False)]] = True
    return pc.if_else(pa.array(mask), pa.scalar(None, parsed.type), parsed)


def _times(table: pa.Table, name: str, text_of=None, formats: tuple[str, ...] = ()) -> pa.Array:
    """Naive Asia/Shanghai timestamps; null where missing or unparseable.

    ``formats`` (a column map's strptime formats) are tried, columnar, on what the ISO
    forms left unread, before the other spellings (:func:`rxring.ingest.times.parse_times`).
    """
    text_of = text_of or (lambda c: _text(table, c))
    n = table.num_rows
    if name not in table.column_names:
        return pa.nulls(n, pa.timestamp("us"))
    col = _single(table.column(name))
    if pa.types.is_timestamp(col.type):
        if col.type.tz is not None:
            return pa.array(parse_times(col.to_pandas()), type=pa.timestamp("us"))
        return col.cast(pa.timestamp("us"))
    if pa.types.is_date(col.type):
        return col.cast(pa.timestamp("us"))
    text = _plain(text_of(name))
    fast = _not_rolled_over(text, pc.strptime(text, format=_ISO, unit="us", error_is_null=True))
    todo = pc.and_(pc.is_valid(text), pc.is_null(fast))
    if not pc.any(todo).as_py():
        return fast
    # plain dates (expy_end "2026-12-11") and ISO "T" times are common: columnar too,
    # so that only the unusual spellings (offsets, compact, Chinese) go through pandas
    for fmt in (*_ISO_MORE, *formats):
        more = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
        more = _not_rolled_over(text, more) if fmt in _ISO_MORE else _not_rolled_over_any(text, more, fmt)
        fast = pc.coalesce(fast, more)
        todo = pc.and_(pc.is_valid(text), pc.is_null(fast))
        if not pc.any(todo).as_py():
            return fast
    rows = np.flatnonzero(todo.to_numpy(zero_copy_only=False))
    slow = parse_times(pd.Series(pc.take(text, pa.array(rows)).to_pylist(), dtype="object"))
    out = fast.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    out[rows] = slow.to_numpy()
    return pa.array(out, type=pa.timestamp("us"), from_pandas=True)


def _dates(table: pa.Table, name: str, text_of=None) -> pa.Array:
    """Dates; null where missing, unparseable or outside :data:`EXPIRY_RANGE` (9999-12-31 = no expiry)."""
    if name in table.column_names and pa.types.is_date(table.column(name).type):
        dates = pc.cast(_single(table.column(name)), pa.date32())  # canonical input: a date already
    else:
        dates = pc.cast(_times(table, name, text_of), pa.date32())
    if dates.null_count == len(dates):
        return dates
    low, high = (pa.scalar(d.date(), pa.date32()) for d in EXPIRY_RANGE)
    outside = pc.fill_null(pc.or_(pc.less(dates, low), pc.greater(dates, high)), False)
    if not pc.any(outside).as_py():
        return dates
    return pc.if_else(outside, pa.scalar(None, pa.date32()), dates)


def _reject_absurd(reject, concat, values: pa.Array, label: str, limit: float, unit: str) -> None:
    """Reject rows whose number is not finite (inf, NaN) or beyond ``limit`` in size."""
    if values.null_count == len(values):
        return
    not_finite = pc.invert(pc.is_finite(values))
    if pc.any(pc.fill_null(not_finite, False)).as_py():
        reject(not_finite, lambda: concat(f"{label} ", pc.cast(values, pa.string()), " is not a finite number"))
    too_big = pc.greater(pc.abs(values), limit)
    if pc.any(pc.fill_null(too_big, False)).as_py():
        reject(too_big, lambda: concat(f"{label} ", pc.cast(values, pa.string()),
                                       f" is absurd (more than {limit:,.0f} {unit})"))


def _map_values(text: pa.Array, mapping: dict[str, str]) -> pa.Array:
    keys = pa.array(list(mapping.keys()), type=pa.string())
    values = pa.array(list(mapping.values()), type=pa.string())
    return pc.take(values, pc.index_in(pc.utf8_lower(text), value_set=keys))


# ---------------------------------------------------------------- normalise

def _all_in(arr: pa.Array, values: pa.Array) -> bool:
    """Whether every value of ``arr`` is one of ``values`` (a dictionary's values are checked)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary
    return bool(pc.all(pc.is_in(arr, value_set=values)).as_py() is not False)


def _constant(value: str, n: int) -> pa.DictionaryArray:
    """``n`` times the same string, as a one-value dictionary array."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], type=pa.string()))


def normalise(table: pa.Table, ctx: FileContext, keep_dictionaries: bool = False) -> tuple[pa.Table, pd.DataFrame]:
    """Validate and convert records to canonical events.

    Parameters
    ----------
    table : pyarrow.Table
        Records with canonical column names and the bookkeeping columns above.
    ctx : FileContext
        The source file's name, SHA-256 prefix and fallbacks.
    keep_dictionaries : bool
        Let string columns that arrive as dictionaries (and the constant
        ``source_file`` / ``code_kind``) stay ``dictionary<int32, string>``, for a
        Parquet writer that writes the dictionaries as they are.  The values are
        those of :data:`rxring.schema.EVENT_SCHEMA` either way.

    Returns
    -------
    events : pyarrow.Table
        Accepted rows in :data:`rxring.schema.EVENT_SCHEMA` (with
        ``keep_dictionaries``, some string columns dictionary-encoded); records
        that carry ``channel`` (NHSA messages) add the columns of
        :data:`rxring.schema.EVENT_ORIGIN_SCHEMA` after them.
    quarantine : pandas.DataFrame
        Rejected rows, columns :data:`rxring.schema.QUARANTINE_COLUMNS`.

    Notes
    -----
    The first failing check gives a row's reason, in this order: the reader's own
    reason, trace code, site, event type, event time (unparseable, then outside
    :func:`time_window`), quantity (not a number, not finite or beyond
    :data:`MAX_QUANTITY`, not zero but below :data:`MIN_QUANTITY`, negative), split flag, money (unit price, total and fund
    amount: not a number, not finite or beyond :data:`MAX_AMOUNT`).
    Whole-pack records that listed k > 1 codes give each code quantity 1 and a
    k-th of the record's money; split (拆零) records keep their quantity.
    """
    n = table.num_rows
    reason = _null_strings(n)
    texts: dict[str, pa.Array] = {}

    def text(name: str) -> pa.Array:
        if name not in texts:
            texts[name] = _text(table, name)
        return texts[name]

    def reject(mask: pa.Array, why) -> None:
        nonlocal reason
        mask = pc.and_(pc.fill_null(mask, False), pc.is_null(reason))
        if pc.any(mask).as_py():
            reason = pc.if_else(mask, why() if callable(why) else why, reason)

    def concat(*parts) -> pa.Array:
        return pc.binary_join_element_wise(*[pc.fill_null(_plain(p), "") if isinstance(p, pa.Array) else p for p in parts], "")

    if "_reject" in table.column_names:
        given = text("_reject")
        reject(pc.is_valid(given), given)

    # trace code: Chinese codes, canonical GS1 and SGTIN URIs columnar, the rest per distinct value
    code_text = text("trace_code")
    code_expiry = pa.nulls(n, pa.date32())
    code_lot = _null_strings(n)
    code_error = _null_strings(n)
    if all_fixed_digits(code_text, 20):
        # every code a Chinese 20-digit code (the usual file): sliced from the buffers
        trace_code = code_text
        kind = _constant("cn20", n) if keep_dictionaries else pa.repeat(pa.scalar("cn20", pa.string()), n)
        product = fixed_slice(code_text, 20, 0, 7)
        serial = fixed_slice(code_text, 20, 7, 20)
        rest = pa.repeat(pa.scalar(False), n)
    else:
        is_cn = pc.fill_null(pc.and_(pc.equal(pc.binary_length(code_text), 20), pc.ascii_is_decimal(code_text)), False)
        trace_code = pc.if_else(is_cn, code_text, pa.scalar(None, pa.string()))
        kind = pc.if_else(is_cn, "cn20", pa.scalar(None, pa.string()))
        product = pc.if_else(is_cn, pc.utf8_slice_codeunits(code_text, 0, 7), pa.scalar(None, pa.string()))
        serial = pc.if_else(is_cn, pc.utf8_slice_codeunits(code_text, 7, 20), pa.scalar(None, pa.string()))
        rest = pc.and_(pc.invert(is_cn), pc.is_valid(code_text))
    if n and pc.any(rest).as_py():
        # canonical GS1 and SGTIN URIs columnar too
        rest_rows = np.flatnonzero(rest.to_numpy(zero_copy_only=False))
        gs1_ok, gs1_code, gs1_gtin, gs1_serial = gs1_columns(pc.take(code_text, pa.array(rest_rows)))
        if pc.any(gs1_ok).as_py():
            mask = np.zeros(n, dtype=bool)
            mask[rest_rows[gs1_ok.to_numpy(zero_copy_only=False)]] = True
            mask = pa.array(mask)
            trace_code = pc.replace_with_mask(trace_code, mask, gs1_code.filter(gs1_ok))
            kind = pc.if_else(mask, "gs1", kind)
            product = pc.replace_with_mask(product, mask, gs1_gtin.filter(gs1_ok))
            serial = pc.replace_with_mask(serial, mask, gs1_serial.filter(gs1_ok))
            rest = pc.and_(rest, pc.invert(mask))
    rest = pc.or_(rest, pc.is_null(code_text))
    if pc.any(rest).as_py():
        rows = np.flatnonzero(rest.to_numpy(zero_copy_only=False))
        parsed = parse_code_series(pd.Series(pc.take(code_text, pa.array(rows)).to_pylist(), dtype="object"))

        def put(base: pa.Array, values: pd.Series, typ) -> pa.Array:
            full = base.to_numpy(zero_copy_only=False).astype(object)
            full[rows] = values.astype(object).where(values.notna(), None).to_numpy()
            return pa.array(full, type=typ)

        trace_code = put(trace_code, parsed["trace_code"], pa.string())
        kind = put(kind, parsed["code_kind"], pa.string())
        product = put(product, parsed["code_product"], pa.string())
        serial = put(serial, parsed["code_serial"], pa.string())
        code_expiry = put(code_expiry, parsed["code_expiry"], pa.date32())
        code_lot = put(code_lot, parsed["code_lot"], pa.string())
        code_error = put(code_error, parsed["code_error"], pa.string())
    reject(pc.is_valid(code_error), lambda: concat("bad trace code: ", code_error))

    cmap = ctx.column_map
    site = text("site_id")
    if cmap is not None and cmap.default_site_id and "site_id" not in table.column_names:
        site = _constant(cmap.default_site_id, n) if keep_dictionaries else pa.repeat(pa.scalar(cmap.default_site_id, pa.string()), n)
    reject(pc.is_null(site), "missing site_id (fixmedins_code / 机构编码)")

    # event type
    if "event_type" in table.column_names:
        etype_raw = text("event_type")
        if etype_raw.null_count == 0 and _all_in(etype_raw, _CANONICAL_TYPES):
            etype = etype_raw  # canonical names already (they map to themselves)
        else:
            etype_raw = _plain(etype_raw)
            aliases = {**EVENT_TYPE_ALIASES, **cmap.event_types} if cmap is not None else EVENT_TYPE_ALIASES
            etype = _map_values(etype_raw, aliases)
    else:
        etype_raw = _null_strings(n)
        etype = pa.array([ctx.default_event_type] * n, type=pa.string()) if ctx.default_event_type else _null_strings(n)
    if "_inv_chg_type" in table.column_names:
        etype = _plain(etype)
        chg = text("_inv_chg_type")
        is_adjust = pc.fill_null(pc.equal(etype, "adjust"), False)
        etype = pc.if_else(pc.and_(is_adjust, pc.fill_null(pc.equal(chg, "101"), False)), "transfer_in", etype)
        etype = pc.if_else(pc.and_(is_adjust, pc.fill_null(pc.equal(chg, "102"), False)), "transfer_out", etype)
    reject(pc.and_(pc.is_valid(etype_raw), pc.is_null(etype)), lambda: concat("unknown event type '", etype_raw, "'"))
    reject(pc.is_null(etype), "missing event type")

    # event time
    formats = tuple(cmap.time_formats) if cmap is not None else ()
    times = _times(table, "event_time", text, formats)
    if times.null_count:  # the text is needed only to say why a time is missing
        time_text = text("event_time") if "event_time" in table.column_names else _null_strings(n)
        tried = ", ".join((*formats, *TRIED_FORMATS))
        reject(pc.and_(pc.is_null(times), pc.is_valid(time_text)),
               lambda: concat("unparseable event time '", time_text, f"' (formats tried: {tried})"))
        reject(pc.is_null(times), "missing event time")
    earliest, latest = time_window()
    outside = pc.or_(pc.less(times, pa.scalar(earliest, pa.timestamp("us"))),
                     pc.greater(times, pa.scalar(latest, pa.timestamp("us"))))
    if pc.any(pc.fill_null(outside, False)).as_py():
        def outside_reason():
            given = text("event_time") if "event_time" in table.column_names else _null_strings(n)
            if not pa.types.is_string(_plain(given).type) or given.null_count == len(given):
                given = _null_strings(n)
            shown = pc.coalesce(_plain(given), pc.cast(times, pa.string()))
            return concat("event time '", shown, f"' is outside the plausible window {earliest:%Y-%m-%d %H:%M} .. "
                          f"{latest:%Y-%m-%d %H:%M} (set {TIME_WINDOW_ENV}=START..END to change it)")

        reject(outside, outside_reason)

    # quantity, split flag, money
    qty, qty_bad = _number(table, "quantity", text)
    reject(qty_bad, lambda: concat("quantity '", text("quantity"), "' is not a number"))
    _reject_absurd(reject, concat, qty, "quantity", MAX_QUANTITY, "packs or smallest units")
    tiny = pc.and_(pc.not_equal(qty, 0), pc.less(pc.abs(qty), MIN_QUANTITY))
    if pc.any(pc.fill_null(tiny, False)).as_py():
        reject(tiny, lambda: concat("quantity ", pc.cast(qty, pa.string()), f" is implausibly small (not zero, "
                                    f"less than {MIN_QUANTITY:g} packs or smallest units)"))
    qty = pc.if_else(pc.equal(qty, 0), 0.0, qty)  # -0 is 0
    # A sales-detail export without a type column (its type inferred for the whole
    # file) books a return as a negative line (销售数量 -1 = 退货): that is a refund,
    # and a purchase list's negative line a purchase return, with positive quantity and
    # money; a return typed as such may carry the sign too.  Any other negative
    # quantity (a typed sale, a transfer, a stock count) is an error.
    sign_conventions = [("refund", "refund"), ("purchase_return", "purchase_return")]
    if ctx.default_event_type in ("dispense", "inbound"):
        sign_conventions.append((ctx.default_event_type, {"dispense": "refund", "inbound": "purchase_return"}[ctx.default_event_type]))
    negative = pc.fill_null(pc.less(qty, 0), False)
    if pc.any(negative).as_py():
        etype = _plain(etype)
        for booked, reverse in sign_conventions:
            flip = pc.and_(negative, pc.fill_null(pc.equal(etype, booked), False))
            etype = pc.if_else(flip, reverse, etype)
            negative = pc.and_(negative, pc.invert(flip))
        reject(negative, lambda: concat("negative quantity ", pc.cast(qty, pa.string())))
        qty = pc.abs(qty)
    split_column = table.column("split_sale") if "split_sale" in table.column_names else None
    if split_column is not None and pa.types.is_boolean(split_column.type):
        split = pc.fill_null(_single(split_column), False)  # canonical input: nothing to check
    else:
        split_text = pc.utf8_lower(text("split_sale"))
        split = pc.fill_null(pc.is_in(split_text, value_set=pa.array(sorted(SPLIT_TRUE))), False)
        known = pc.is_in(split_text, value_set=pa.array(sorted(SPLIT_TRUE | SPLIT_FALSE)))
        reject(pc.and_(pc.is_valid(split_text), pc.invert(known)), lambda: concat("split flag '", split_text, "' is not 1/0"))

    price, price_bad = _number(table, "_price", text)
    total, total_bad = _number(table, "total_amount", text)
    fund, fund_bad = _number(table, "fund_amount", text)
    for label, name, values, bad in (("unit price", "_price", price, price_bad),
                                     ("total amount", "total_amount", total, total_bad),
                                     ("fund amount", "fund_amount", fund, fund_bad)):
        reject(bad, lambda label=label, name=name: concat(f"{label} '", text(name), "' is not a number"))
        _reject_absurd(reject, concat, values, label, MAX_AMOUNT, "yuan")
    total = pc.abs(pc.coalesce(total, pc.multiply(price, pc.coalesce(qty, 1.0))))
    _reject_absurd(reject, concat, total, "total amount (price x quantity)", MAX_AMOUNT, "yuan")
    fund = pc.abs(fund)
    k = _single(table.column("_k")) if "_k" in table.column_names else pa.array(np.ones(n, dtype=np.int64))
    code_index = (
        _single(table.column("_code_index")) if "_code_index" in table.column_names else pa.array(np.zeros(n, dtype=np.int64))
    )
    shared = pc.and_(pc.greater(k, 1), pc.invert(split))
    quantity = pc.if_else(shared, 1.0, pc.coalesce(qty, 1.0))
    kf = pc.cast(k, pa.float64())
    total = pc.divide(total, kf)
    fund = pc.divide(fund, kf)

    # ids: given (with ":i" for the i-th extra code of a cell) or file + line + code index
    line = pc.cast(_single(table.column("_line")), pa.int64())
    given_id = text("event_id")
    index_text = pc.cast(code_index, pa.string())
    if given_id.null_count == 0 and n:
        event_id = given_id
    else:
        event_id = pc.binary_join_element_wise(ctx.sha16, pc.cast(line, pa.string()), index_text, ":")
    if given_id.null_count < n:
        extra = pc.greater(code_index, 0)
        if pc.any(extra).as_py():
            given_id = pc.if_else(extra, pc.binary_join_element_wise(given_id, index_text, ":"), given_id)
        event_id = pc.coalesce(given_id, event_id)

    if "_code_expiry" in table.column_names:
        code_expiry = pc.if_else(pc.is_valid(trace_code), pc.coalesce(code_expiry, _dates(table, "_code_expiry", text)), code_expiry)
    if "_code_lot" in table.column_names:
        code_lot = pc.if_else(pc.is_valid(trace_code), pc.coalesce(code_lot, _plain(text("_code_lot"))), code_lot)
    prescriber = text("prescriber_id")
    prescriber_name = text("_prescriber_name")
    if prescriber_name.null_count < n:
        prescriber = pc.coalesce(_plain(prescriber), _plain(prescriber_name))
    expiry = pc.coalesce(_dates(table, "expiry", text), code_expiry)

    columns = {
        "event_id": event_id,
        "trace_code": trace_code,
        "event_type": etype,
        "event_time": times,
        "site_id": site,
        "product_code": text("product_code"),
        "product_name": text("product_name"),
        "batch": text("batch"),
        "expiry": expiry,
        "quantity": quantity,
        "split_sale": split,
        "patient_id": text("patient_id"),
        "prescriber_id": prescriber,
        "pharmacist_id": text("pharmacist_id"),
        "settlement_id": text("settlement_id"),
        "fund_amount": fund,
        "total_amount": total,
        "counterparty": text("counterparty"),
        "record_no": text("record_no"),
        "code_kind": kind,
        "code_product": product,
        "code_serial": serial,
        "code_expiry": code_expiry,
        "code_lot": code_lot,
        "source_file": _constant(ctx.source_file, n) if keep_dictionaries else pa.repeat(pa.scalar(ctx.source_file, pa.string()), n),
        "source_line": line,
    }
    ok = pc.is_null(reason)
    all_ok = pc.all(ok).as_py() if n else True
    arrays = []
    for name, typ in zip(EVENT_SCHEMA.names, EVENT_SCHEMA.types):
        values = columns[name]
        if isinstance(values, pa.ChunkedArray):
            values = _single(values)
        if values.type != typ and not (keep_dictionaries and pa.types.is_dictionary(values.type)
                                       and values.type.value_type == typ):
            values = values.cast(typ)
        arrays.append(values if all_ok else pc.filter(values, ok))
    schema = EVENT_SCHEMA
    if keep_dictionaries:
        schema = pa.schema([pa.field(f.name, a.type, f.nullable) for f, a in zip(EVENT_SCHEMA, arrays)],
                           metadata=EVENT_SCHEMA.metadata)
    if "channel" in table.column_names:  # NHSA records: where each event came from, after the event columns
        origin = [text(f.name).cast(f.type) for f in EVENT_ORIGIN_SCHEMA]
        arrays += origin if all_ok else [pc.filter(values, ok) for values in origin]
        schema = pa.schema([*schema, *EVENT_ORIGIN_SCHEMA], metadata=schema.metadata)
    events = pa.Table.from_arrays(arrays, schema=schema)

    if all_ok:
        return events, empty_quarantine()
    bad = pc.invert(ok)
    bad_lines = pc.filter(line, bad).to_pylist()
    if "_raw" in table.column_names:
        raw = [r or "" for r in pc.filter(text("_raw"), bad).to_pylist()]
    elif ctx.raw_lookup is not None:
        raw = ctx.raw_lookup(bad_lines)
    else:
        raw = [""] * len(bad_lines)
    quarantine = pd.DataFrame(
        {
            "source_file": ctx.source_file,
            "source_line": np.asarray(bad_lines, dtype=np.int64),
            "reason": pc.filter(reason, bad).to_pylist(),
            "raw": [r[:RAW_LIMIT] for r in raw],
        },
        columns=list(QUARANTINE_COLUMNS),
    )
    return events, quarantine
