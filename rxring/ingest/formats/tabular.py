"""Tabular inputs: CSV/TSV (any supported encoding), XLSX and Parquet.

Headers are mapped to canonical columns by :func:`rxring.ingest.aliases.map_headers`.
A table with a trace-code column is events; one without it whose headers match a
master table (:data:`rxring.schema.MASTER_COLUMNS`) is that master table; anything
else is a :class:`FileProblem` naming the headers found.

CSV is streamed with ``pyarrow.csv.open_csv`` in blocks (bounded memory); rows with
the wrong number of fields are quarantined with their line number.  ``source_line``
of a CSV row is its physical line (the header is line 1), counting the line breaks
inside quoted values of the rows before it; of an XLSX row its sheet row number; of
a Parquet row its 1-based row number.

A CSV row that pyarrow cannot take apart is quarantined; when it spans several
lines because a quote is never closed, only the broken record is quarantined and
reading resumes at the next line that parses as a row (:func:`_resync`).  An
XLSX's ZIP members are checked against the :class:`~rxring.ingest.sniff.Limits`
(declared sizes, then the bytes they really inflate to, and the compression ratio)
before openpyxl reads the workbook in read-only (streaming) mode.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ...schema import MASTER_COLUMNS
from ..aliases import COLUMN_ALIASES, SALE_HINT_COLUMNS, map_headers, normalise_header
from ..normalise import NUMBER_COLUMNS
from ..suggest import suggestion_line
from ..sniff import (RATIO_GRACE, InputLimit, Utf8Recoder, check_zip_inflation, is_gzip, limit_hint, limits,
                     open_binary, raw_position, text_stream, zip_source)
from ..strings import string_parts
from . import Chunk, FileProblem
from .jsonfmt import RAW_KEEP, bounded_lines

__all__ = ["TablePlan", "plan_table", "describe_headers", "masking_header", "plan_headers", "read_csv", "read_xlsx", "read_parquet", "MASTER_ALIASES",
           "PARQUET_DICTIONARY_COLUMNS"]

CSV_BLOCK = 16 << 20
XLSX_CHUNK = 20_000
#: Malformed rows (wrong number of fields, broken quotes) kept in memory for one CSV parse block at most;
#: past it, the rest of the file is read line by line and handed on in chunks of :data:`XLSX_CHUNK` rows.
MAX_BAD_ROWS_PER_BLOCK = 50_000
PARQUET_BATCH = 256_000

MASTER_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "sites": {
        "site_id": COLUMN_ALIASES["site_id"],
        "name": ("name", "机构名称", "名称", "药店名称", "医院名称", "fixmedins_name"),
        "kind": ("kind", "机构类型", "类型", "类别"),
        "chain": ("chain", "连锁", "连锁名称", "所属连锁"),
        "region": ("region", "区域", "地区", "行政区", "区县", "admdvs"),
    },
    "products": {
        "product_code": COLUMN_ALIASES["product_code"],
        "name": ("name", "药品名称", "名称", "通用名", "通用名称", "商品名称"),
        "pack_units": ("pack_units", "包装数量", "最小包装数量", "每盒数量", "包装规格数量", "转换比"),
        "price": ("price", "价格", "单价", "零售价", "挂网价"),
    },
    "patients": {
        "patient_id": COLUMN_ALIASES["patient_id"],
        "name": ("name", "姓名", "患者姓名", "psn_name"),
    },
    "prescribers": {
        "prescriber_id": ("prescriber_id", "prsc_dr_certno", "医师编码", "医师证件号", "医师证件号码", "医师id"),
        "name": ("name", "姓名", "医师姓名", "prsc_dr_name"),
    },
}
_MASTER_NUMERIC = {"pack_units", "price"}


@dataclass
class TablePlan:
    """How a table's headers map: ``kind`` is "events" or a master name."""

    kind: str
    mapping: dict[str, str]  # canonical -> header
    default_event_type: str | None = None
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # canonical -> "map" (the user's column map) or "alias"
    headers: list[str] = field(default_factory=list)  # the table's headers as read
    unmapped: list[str] = field(default_factory=list)  # headers no column was taken from


def _master_mapping(headers: list[str], name: str) -> dict[str, str]:
    by_norm = {normalise_header(h): h for h in headers}
    mapping = {}
    for column, aliases in MASTER_ALIASES[name].items():
        for alias in aliases:
            if alias in by_norm and by_norm[alias] not in mapping.values():
                mapping[column] = by_norm[alias]
                break
    return mapping


def _with_suggestions(message: str, unmapped: list[str], mapped=()) -> str:
    line = suggestion_line(unmapped, exclude=mapped)
    return f"{message}; {line}" if line else message


def plan_table(headers: list[str], column_map=None) -> TablePlan:
    """Decide what a table is from its headers (and the user's column map, when given).

    ``column_map`` (:class:`~rxring.ingest.columnmap.ColumnMap`): its headers win over
    the aliases; its default site id makes a site column optional; ``untyped_are_sales``
    decides what a table without an event-type column is.

    Raises
    ------
    FileProblem
        When a required column is missing or the table is neither events nor a master;
        the message ends with the nearest columns of the headers no alias matched.
    """
    user = column_map.columns if column_map is not None else None
    mapping = map_headers(headers, user)
    sources = {c: "map" if user and normalise_header(h) in user else "alias" for c, h in mapping.items()}
    taken = set(mapping.values())
    unmapped = [h for h in headers if h not in taken]
    if "trace_code" in mapping:
        required = ["site_id", "event_time"]
        if column_map is not None and column_map.default_site_id:
            required.remove("site_id")
        missing = [c for c in required if c not in mapping]
        if missing:
            looked = "; ".join(f"{c}: {', '.join(COLUMN_ALIASES[c][:6])}" for c in missing)
            raise FileProblem(_with_suggestions(f"missing required column {', '.join(missing)} (looked for {looked})",
                                                unmapped, mapping))
        plan = TablePlan("events", mapping, sources=sources, unmapped=unmapped, headers=list(headers))
        if column_map is not None and column_map.default_site_id and "site_id" not in mapping:
            plan.notes.append(f"no site column: rows read at site {column_map.default_site_id} (the column map's "
                              "default_site_id)")
        if "event_type" not in mapping:
            said = column_map.untyped_are_sales if column_map is not None else None
            if said is False:
                raise FileProblem(_with_suggestions(
                    "missing required column event_type (the column map says a file without one is not sales)",
                    unmapped, mapping))
            if said:
                plan.default_event_type = "dispense"
                plan.notes.append("no event-type column: rows read as dispense (the column map's untyped_are_sales)")
                return plan
            norm = {normalise_header(h): h for h in headers}
            hints = [norm[h] for h in SALE_HINT_COLUMNS if h in norm]
            if not hints:
                raise FileProblem(_with_suggestions(
                    "missing required column event_type (业务类型/事件类型/event_type), and no sale columns "
                    "(销售时间, 人员编号, 结算ID) to infer that the rows are sales", unmapped, mapping))
            plan.default_event_type = "dispense"
            plan.notes.append(f"no event-type column: rows read as dispense (sale columns {', '.join(hints)})")
        return plan
    best, best_mapping = None, {}
    for name, columns in MASTER_ALIASES.items():
        m = _master_mapping(headers, name)
        key = next(iter(columns))
        if key in m and "name" in m and len(m) > len(best_mapping):
            best, best_mapping = name, m
    if best:
        return TablePlan(best, best_mapping)
    shown = ", ".join(str(h)[:24] for h in headers[:6]) + (", …" if len(headers) > 6 else "")
    raise FileProblem(_with_suggestions(
        f"a table without a trace-code column (追溯码, 药品追溯码, drug_trac_codg, trace_code) that is not a "
        f"master table (sites, products, patients, prescribers); headers: {shown}", unmapped, mapping),
        unknown=True,
    )


def masking_header(plan: TablePlan, delimiter: str = ",") -> str | None:
    """A header line naming the columns a user's map gave by their canonical names (so the quarantine
    masker finds patient and prescriber ids under headers it does not know); None without such columns."""
    if "map" not in plan.sources.values() or not plan.headers:
        return None
    canonical = {h: c.lstrip("_") for c, h in plan.mapping.items()}
    return delimiter.join(canonical.get(h, h) for h in plan.headers)


def describe_headers(headers: list[str], column_map=None) -> TablePlan:
    """How headers would map, without deciding what the table is (kind "unknown"); never raises."""
    user = column_map.columns if column_map is not None else None
    mapping = map_headers(headers, user)
    sources = {c: "map" if user and normalise_header(h) in user else "alias" for c, h in mapping.items()}
    taken = set(mapping.values())
    return TablePlan("unknown", mapping, sources=sources, unmapped=[h for h in headers if h not in taken])


def plan_headers(path: Path, sniffed, column_map=None) -> list[tuple[str, TablePlan]]:
    """The header mapping of a tabular file that could not be planned (for the dry run): one
    ``(source, plan)`` for a CSV or Parquet file, one per sheet of a workbook (its first non-empty
    row); empty when the headers cannot be read either."""
    try:
        if sniffed.format == "csv":
            return [(str(path), describe_headers(_csv_header(path, sniffed.encoding, sniffed.delimiter), column_map))]
        if sniffed.format == "parquet" and not is_gzip(path):
            return [(str(path), describe_headers(pq.ParquetFile(str(path)).schema_arrow.names, column_map))]
        if sniffed.format == "xlsx":
            import openpyxl

            workbook = openpyxl.load_workbook(_checked_workbook(path), read_only=True, data_only=True)
            try:
                out = []
                for sheet in workbook.worksheets:
                    for row in sheet.iter_rows(max_row=20, values_only=True):
                        cells = [_cell_text(v, False) for v in row]
                        if any(c and c.strip() for c in cells):
                            out.append((f"{path}#{sheet.title}", describe_headers(_dedupe([c or "" for c in cells]),
                                                                                  column_map)))
                            break
                return out
            finally:
                workbook.close()
    except Exception:  # noqa: BLE001 - only a description; the file's own error is reported
        return []
    return []


def master_frame(frame: pd.DataFrame, plan: TablePlan, first_line: int) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Rename a master table's columns; rows without a key or with bad numbers are rejected."""
    key = next(iter(MASTER_ALIASES[plan.kind]))

    def clean(v):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        text = _cell_text(v, False).strip() if not isinstance(v, str) else v.strip()
        return text or None

    out = pd.DataFrame({c: [clean(v) for v in frame[h].tolist()] for c, h in plan.mapping.items()}, dtype=object)
    for c in MASTER_COLUMNS[plan.kind]:
        if c not in out.columns:
            out[c] = pd.Series([None] * len(out), dtype=object)
    reasons: list[str | None] = [None if v is not None else f"missing {key}" for v in out[key].tolist()]
    numbers = {}
    for c in _MASTER_NUMERIC & set(out.columns):
        text = out[c].map(lambda v: None if v is None else v.replace(",", ""))
        numbers[c] = pd.to_numeric(text, errors="coerce")
        for i, (t, n) in enumerate(zip(text.tolist(), numbers[c].tolist())):
            if reasons[i] is None and t is not None and pd.isna(n):
                reasons[i] = f"{c} '{t}' is not a number"
    for c, values in numbers.items():
        out[c] = values
    keep = np.array([r is None for r in reasons], dtype=bool)
    rejects = [
        (first_line + i, why, join_row(frame.iloc[i].tolist()))
        for i, why in enumerate(reasons)
        if why is not None
    ]
    return out[keep].reset_index(drop=True), rejects


def _rename(table: pa.Table, plan: TablePlan) -> pa.Table:
    names = table.column_names
    return pa.table({c: table.column(names.index(h)) for c, h in plan.mapping.items()})


def _blank_mask(table: pa.Table) -> np.ndarray:
    """Rows whose every field is empty (CSV empty fields arrive as nulls)."""
    blank = None
    for col in table.columns:
        empty = pc.is_null(col)
        blank = empty if blank is None else pc.and_(blank, empty)
    if blank is None:
        return np.zeros(table.num_rows, dtype=bool)
    return np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool)


# ------------------------------------------------------------------------- CSV

def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = (name or "").replace("\ufeff", "").strip() or f"column{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _csv_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    cap = limits().max_line
    with text_stream(path, encoding) as fh:
        line = fh.readline(cap)
    if len(line) >= cap and line[-1:] not in ("\n", "\r"):
        raise InputLimit(f"the first line (header) is longer than {cap:,} characters ({limit_hint('max_line')})")
    try:
        row = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error as exc:
        raise FileProblem(f"cannot read the first line (header) as CSV: {exc}") from None
    if not any(c.strip() for c in row):
        raise FileProblem("the first line (header) is empty")
    if len(row) < 2:
        raise FileProblem("text, but not a table: the first line has no comma, tab, semicolon or pipe", unknown=True)
    return _dedupe(row)


def _read_master_csv(path: Path, encoding: str, delimiter: str, names: list[str], plan: TablePlan) -> Iterator[Chunk]:
    """A master table, read with the csv module (physical line numbers kept), in chunks of :data:`XLSX_CHUNK` rows."""
    good: list[list[str]] = []
    lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    blank = 0

    def chunk() -> Chunk:
        nonlocal good, lines, rejects, blank
        master, bad = master_frame(pd.DataFrame(good, columns=names, dtype=object), plan, first_line=0)
        out = Chunk(master=(plan.kind, master), rejects=sorted(rejects + [(lines[i], why, raw) for i, why, raw in bad]),
                    blank=blank)
        good, lines, rejects, blank = [], [], [], 0
        return out

    with text_stream(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        next(reader, None)
        start = reader.line_num + 1
        for row in _csv_rows(reader):
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in row):
                blank += 1
                continue
            if len(row) != len(names):
                rejects.append((line, f"row has {len(row)} fields, the header has {len(names)}",
                                join_row(row, delimiter)[:RAW_KEEP]))
            else:
                good.append(row)
                lines.append(line)
            if len(good) + len(rejects) >= XLSX_CHUNK:
                yield chunk()
    yield chunk()


def _csv_rows(reader) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise FileProblem(f"CSV reading stopped at line {reader.line_num}: {exc}") from None


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _resync(text: str, number: int, delimiter: str, expected: int,
            budget: int | None = None) -> tuple[list, list, int] | None:
    """An invalid row that runs over several lines because its first line opens a quote it never closes.

    Returns (rejects, recovered rows as (line, fields), blank lines), or None when
    the row is not such a case.  The broken record is its first line and the lines
    after it up to the first that parses as a row of ``expected`` fields (balanced
    quotes); from there every line is read on its own.  The broken record's raw
    text is kept up to :data:`RAW_KEEP` characters (it may run over megabytes).

    Raises
    ------
    _TooManyBadRows
        When the row gives more than ``budget`` rejected and recovered rows (the
        caller reads the rest of the file line by line, in bounded chunks).
    """
    breaks = _LINE_BREAK.finditer(text)
    first_break = next(breaks, None)
    if first_break is None or text[: first_break.start()].count('"') % 2 == 0:
        return None
    rejects, recovered, blank = [], [], 0
    broken_open = True  # the broken record is still growing: text[:broken_end]
    broken_end = first_break.start()

    def spans():  # (start, end) of each line after the first
        position = first_break.end()
        for found in breaks:
            yield position, found.start()
            position = found.end()
        yield position, len(text)

    for i, (start, end) in enumerate(spans(), start=1):
        part = text[start:end]
        fields = _line_fields(part, delimiter)
        if fields is not None and len(fields) == expected:
            if broken_open:
                rejects.append((number, "unterminated quote: the record ends at the end of its line",
                                text[: min(broken_end, RAW_KEEP)]))
                broken_open = False
            recovered.append((number + i, fields))
        elif broken_open:
            broken_end = end
        elif not part.strip():
            blank += 1
        else:
            reason = (f"row has {len(fields)} fields, the header has {expected}" if fields is not None
                      else "unbalanced quotes")
            rejects.append((number + i, reason, part[:RAW_KEEP]))
        if budget is not None and len(rejects) + len(recovered) > budget:
            raise _TooManyBadRows
    if broken_open:
        rejects.append((number, "unterminated quote: the record runs to the end of the file",
                        text[: min(broken_end, RAW_KEEP)]))
    return rejects, recovered, blank


def _line_fields(line: str, delimiter: str) -> list[str] | None:
    """The fields of one line of CSV (None when its quotes do not balance)."""
    if '"' not in line:
        return line.split(delimiter)  # what the csv module gives, without its per-call cost
    if line.count('"') % 2:
        return None
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return None


class _TooManyBadRows(Exception):
    """More than :data:`MAX_BAD_ROWS_PER_BLOCK` malformed rows in one parse block."""


def read_csv(path: Path, encoding: str, delimiter: str, tick: Callable[..., None], ctx_setup: Callable[[TablePlan], None],
             column_map=None) -> Iterator[Chunk]:
    """Stream a delimited text file as chunks.

    ``ctx_setup`` is called once with the table plan (before the first chunk) so the
    caller can set the event-type fallback and notes; ``tick`` updates progress.
    """
    names = _csv_header(path, encoding, delimiter)
    plan = plan_table(names, column_map)
    ctx_setup(plan)
    if plan.kind != "events":
        yield from _read_master_csv(path, encoding, delimiter, names, plan)
        return

    # Rows pyarrow skipped (record numbers) still needed to number the rows to come; those before
    # every row still to come are folded into two counts, so memory does not grow with the file.
    skipped_lines = array("q")
    skipped_breaks: dict[int, int] = {}  # line breaks inside a skipped row (later rows start further down)
    folded = folded_breaks = 0
    bad_rows: list[tuple[int, str, str]] = []
    bad_blank = 0  # blank lines among the skipped rows of the current block
    recovered: list[tuple[int, list[str]]] = []
    expected = len(names)
    reasons: dict[int, str] = {}
    overflow = False  # more than MAX_BAD_ROWS_PER_BLOCK malformed rows in the block being parsed
    ordinal = 0
    spanned = 0  # line breaks inside quoted values of the rows read so far (read by on_invalid)
    done_line = 1  # the last physical line of the rows handed on

    def on_invalid(row) -> str:
        nonlocal bad_blank, overflow
        text = row.text or ""
        number = row.number
        if number is not None:
            skipped_lines.append(number)
            # row.number counts records; the physical line adds the breaks inside earlier records
            physical = number + spanned + folded_breaks + sum(b for n, b in skipped_breaks.items() if n < number)
            breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
            if breaks:
                skipped_breaks[number] = breaks
            row_number = physical
        else:
            row_number = None
        budget = MAX_BAD_ROWS_PER_BLOCK - len(bad_rows) - len(recovered)
        try:
            synced = _resync(text, row_number, delimiter, expected, budget) if row_number is not None else None
        except _TooManyBadRows:
            synced = None
            budget = -1
        if budget < 0:
            overflow = True
            return "error"  # the block is dropped; the rest of the file is read line by line
        if synced is not None:
            rejects, rows, blank_lines = synced
            bad_rows.extend(rejects)
            bad_blank += blank_lines
            recovered.extend(rows)
        elif text.strip():
            columns = row.actual_columns
            if columns not in reasons:
                reasons[columns] = f"row has {columns} fields, the header has {expected}"
            bad_rows.append((row_number or 0, reasons[columns], text))
        else:
            bad_blank += 1  # blank line: skipped, not counted
        return "skip"

    def line_by_line(why: str) -> Iterator[Chunk]:
        """The rest of the file after ``done_line``, read with the csv module (the rows of the failed block too)."""
        nonlocal bad_blank
        bad_rows.clear()
        recovered.clear()
        bad_blank = 0
        yield Chunk(notes=[f"{why}; the rest of the file after line {done_line} was read line by line"])
        yield from _csv_tail(path, encoding, delimiter, names, plan, done_line)

    def gave_up(exc: Exception) -> str | None:
        """Why pyarrow stopped, when reading on line by line can recover (else None: the file is broken)."""
        if overflow:
            return f"more than {MAX_BAD_ROWS_PER_BLOCK:,} malformed rows in one {CSV_BLOCK >> 20} MB parse block"
        if "straddl" in str(exc):
            # a row longer than the parse block, nearly always a quote never closed
            return f"a row is longer than the {CSV_BLOCK >> 20} MB parse block (a quote never closed?)"
        return None

    binary = open_binary(path)
    raw = Utf8Recoder(binary, encoding)
    try:
        reader = pacsv.open_csv(
            raw,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, encoding="utf8",
                                           block_size=CSV_BLOCK, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                             ignore_empty_lines=False, newlines_in_values=True),
            # only an empty cell is missing: "NaN", "NA", "null" in a quantity or amount are quarantined
            # as not a number (pyarrow's default null values would make them silently missing)
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""],
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        raw.close()
        why = gave_up(exc)
        if why is None:
            raise FileProblem(f"cannot read as CSV: {exc}") from None
        yield from line_by_line(why)
        return
    missing_text = _missing_text_headers(plan, names)
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                why = gave_up(exc)
                if why is None:
                    raise FileProblem(f"CSV reading stopped after {ordinal} rows: {exc}") from None
                yield from line_by_line(why)
                break
            tick(raw_position(binary))
            m = batch.num_rows
            skipped = np.sort(np.frombuffer(skipped_lines, dtype=np.int64)) if skipped_lines else np.zeros(0, np.int64)
            t = skipped - np.arange(len(skipped)) - folded - 2
            g = np.arange(ordinal, ordinal + m)
            before = np.searchsorted(t, g, side="right")
            lines = 2 + g + folded + before + spanned + folded_breaks
            if skipped_breaks:  # skipped rows spanning several lines
                extra = np.concatenate(([0], np.cumsum([skipped_breaks.get(int(n), 0) for n in skipped])))
                lines = lines + extra[before]
            ordinal += m
            # skipped rows before every row to come: folded into the counts
            fold = int(np.searchsorted(t, ordinal, side="right"))
            if fold:
                folded += fold
                folded_breaks += sum(skipped_breaks.pop(int(n), 0) for n in skipped[:fold]) if skipped_breaks else 0
                skipped_lines = array("q", skipped[fold:].tobytes())
            table = _missing_as_null(pa.Table.from_batches([batch]), missing_text)
            inner = _breaks_in_values(table)
            if inner is not None:  # a quoted value spans lines: later rows start further down
                before = np.concatenate(([0], np.cumsum(inner)[:-1]))
                lines = lines + before
                spanned += int(inner.sum())
            blank = _blank_mask(table)
            rejects, block_blank = list(bad_rows), bad_blank
            bad_rows.clear()
            bad_blank = 0
            if m:
                done_line = max(done_line, int((lines + inner).max() if inner is not None else lines.max()))
            for line, _, text in rejects:
                done_line = max(done_line, line + text.count("\n"))
            if recovered:
                done_line = max(done_line, recovered[-1][0])
            if blank.any():
                table = table.filter(pa.array(~blank))
                lines = lines[~blank]
            records = _rename(table, plan).append_column("_line", pa.array(lines, type=pa.int64()))
            yield Chunk(records=records, rejects=rejects, blank=int(blank.sum()) + block_blank,
                        raw_lookup=_row_lookup(table, lines, lambda values: join_row(values, delimiter)))
            if recovered:
                yield _recovered_chunk(recovered, names, plan, delimiter)
                recovered.clear()
        if recovered:
            yield _recovered_chunk(recovered, names, plan, delimiter)
        if bad_rows or bad_blank:
            yield Chunk(rejects=list(bad_rows), blank=bad_blank)
        notes = []
        if raw.fallback_blocks:
            notes.append("bytes that are not UTF-8 were read as GB18030 line by line (mixed encodings)")
        if raw.replaced:
            notes.append(f"{raw.replaced} undecodable character(s) for {encoding} replaced by U+FFFD")
        if notes:
            yield Chunk(notes=notes)
    finally:
        raw.close()


TAIL_JOIN_LINES = 1000  # lines a quoted value may span in the line-by-line reader


def _csv_tail(path: Path, encoding: str, delimiter: str, names: list[str], plan: TablePlan,
              after_line: int) -> Iterator[Chunk]:
    """The lines after ``after_line`` read one by one with the csv module (after pyarrow gave up).

    A line that opens a quote is joined with the next lines until the quotes balance
    (at most :data:`TAIL_JOIN_LINES` lines); when they never do, that line alone is
    the broken record ("unterminated quote") and reading resumes on the next line.
    Per-row Python: only for the rest of a file whose quote is never closed, or
    that is mostly malformed.  Rows are handed on every :data:`XLSX_CHUNK` rows,
    rejected ones included (their raw text cut to :data:`RAW_KEEP` characters), so
    memory does not grow with the number of bad lines.
    """
    expected = len(names)
    cap = limits().max_line
    missing = _missing_text_headers(plan, names)
    reasons: dict[int, str] = {}
    good: list[list[str]] = []
    lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    blank = 0

    def flush() -> Chunk:
        nonlocal good, lines, rejects, blank
        chunk = _rows_chunk(good, lines, names, plan, delimiter, missing, rejects=rejects, blank=blank)
        good, lines, rejects, blank = [], [], [], 0
        return chunk

    with text_stream(path, encoding) as fh:
        ahead: deque = deque()  # lines read ahead while looking for a closing quote
        source = enumerate(bounded_lines(fh, cap), start=1)

        def next_line():
            if ahead:
                return ahead.popleft()
            for number, (text, oversize) in source:
                if number > after_line:
                    return number, text, oversize
            return None

        while True:
            if len(good) + len(rejects) >= XLSX_CHUNK:
                yield flush()
            item = next_line()
            if item is None:
                break
            number, text, oversize = item
            if oversize:
                rejects.append((number, f"line of {oversize:,} characters is longer than the limit of {cap:,} "
                                        f"({limit_hint('max_line')})", text[:RAW_KEEP]))
                continue
            record, quotes = text, text.count('"')
            if quotes % 2:
                taken, pieces, size = [], [text], len(text)
                while len(taken) < TAIL_JOIN_LINES and size < CSV_BLOCK:
                    more = next_line()
                    if more is None:
                        break
                    taken.append(more)
                    if more[2]:
                        break
                    pieces.append(more[1])
                    size += len(more[1])
                    quotes += more[1].count('"')
                    if quotes % 2 == 0:
                        break
                if quotes % 2:  # never closed: this line alone is the broken record
                    ahead.extendleft(reversed(taken))
                    rejects.append((number, "unterminated quote: the record ends at the end of its line",
                                    text.rstrip("\r\n")[:RAW_KEEP]))
                    continue
                record = "".join(pieces)
            fields = _line_fields(record.rstrip("\r\n"), delimiter)
            if fields is None:
                rejects.append((number, "cannot read the row as CSV", record.rstrip("\r\n")[:RAW_KEEP]))
                continue
            if not any(f.strip() for f in fields):
                blank += 1
            elif len(fields) != expected:
                if len(fields) not in reasons:
                    reasons[len(fields)] = f"row has {len(fields)} fields, the header has {expected}"
                rejects.append((number, reasons[len(fields)], record.rstrip("\r\n")[:RAW_KEEP]))
            else:
                good.append(fields)
                lines.append(number)
    yield flush()


def _recovered_chunk(recovered: list[tuple[int, list[str]]], names: list[str], plan: TablePlan, delimiter: str) -> Chunk:
    """The rows read again after an unterminated quote (see :func:`_resync`)."""
    return _rows_chunk([fields for _, fields in recovered], [line for line, _ in recovered], names, plan, delimiter,
                       _missing_text_headers(plan, names))


def _rows_chunk(rows: list[list[str]], lines: list[int], names: list[str], plan: TablePlan, delimiter: str,
                missing: list[str], rejects: list | None = None, blank: int = 0) -> Chunk:
    """A chunk of CSV rows the csv module took apart (``lines``: their physical lines), read like pyarrow's."""
    if not rows:
        return Chunk(rejects=rejects or [], blank=blank)
    columns = list(zip(*rows))
    table = pa.table({n: pa.array([v if v != "" else None for v in col], type=pa.string())
                      for n, col in zip(names, columns)})
    table = _missing_as_null(table, missing)
    at = np.asarray(lines, dtype=np.int64)
    records = _rename(table, plan).append_column("_line", pa.array(at, type=pa.int64()))
    return Chunk(records=records, rejects=rejects or [], blank=blank,
                 raw_lookup=_row_lookup(table, at, lambda values: join_row(values, delimiter)))


#: Cell texts that mean "missing" in a CSV export (pyarrow's default null values: NULL, NA, N/A, NaN,
#: #N/A, ...).  They are missing in text columns (codes, ids, names, times); in a quantity, price or
#: amount column they are quarantined as "not a number", never read as the default.
MISSING_TEXT = pa.array(sorted(v for v in pacsv.ConvertOptions().null_values if v), type=pa.string())
_MISSING_LONGEST = max(len(v.as_py().encode()) for v in MISSING_TEXT)


def _missing_text_headers(plan: TablePlan, names: list[str]) -> list[str]:
    """The columns of a CSV file in which :data:`MISSING_TEXT` means a missing value: all but the numbers."""
    numbers = {plan.mapping[c] for c in NUMBER_COLUMNS if c in plan.mapping}
    return [n for n in names if n not in numbers]


def _missing_as_null(table: pa.Table, headers: list[str]) -> pa.Table:
    """``table`` with :data:`MISSING_TEXT` cells of ``headers`` as nulls."""
    for name in headers:
        i = table.schema.get_field_index(name)
        col = table.column(i)
        shortest = pc.min(pc.binary_length(col)).as_py()  # 30 times cheaper than the look-up: codes, times
        if shortest is None or shortest > _MISSING_LONGEST:
            continue
        hit = pc.is_in(col, value_set=MISSING_TEXT)
        if pc.any(hit).as_py():
            table = table.set_column(i, name, pc.if_else(hit, pa.scalar(None, pa.string()), col))
    return table


def _breaks_in_values(table: pa.Table) -> np.ndarray | None:
    """Line breaks inside each row's values, or None when no value holds one (the usual case).

    A quoted CSV value may span lines (``"a\nb"``); the rows after it then start that
    many physical lines further down.  The check reads the value buffers with numpy
    (memchr speed); only a column that holds a line feed is counted exactly.
    """
    counts = None
    for column in table.columns:
        for chunk in column.chunks:
            parts = string_parts(chunk)
            if parts is not None and not (parts[1] == 10).any():
                continue
            found = pc.fill_null(pc.count_substring(chunk.cast(pa.string()), "\n"), 0).to_numpy(zero_copy_only=False)
            if found.any():
                counts = found if counts is None else counts + found
    return counts


def _row_lookup(table: pa.Table, lines: np.ndarray, join) -> Callable[[list[int]], list[str]]:
    """Raw text of rows by source line, built only for the rows that are asked for."""
    names = table.column_names

    def lookup(wanted: list[int]) -> list[str]:
        positions = np.searchsorted(lines, np.asarray(wanted, dtype=np.int64))
        out: list[str] = []
        for start in range(0, len(positions), XLSX_CHUNK):  # a block of bad rows as Python objects: in slices
            rows = table.take(pa.array(positions[start:start + XLSX_CHUNK])).to_pylist()
            if join is None:
                out += [json.dumps(r, ensure_ascii=False, default=str)[:RAW_KEEP] for r in rows]
            else:
                out += [join([r[n] for n in names])[:RAW_KEEP] for r in rows]
        return out

    return lookup


def join_row(values: list, delimiter: str = ",") -> str:
    """One row's fields as a line of CSV text (for quarantine rows)."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(["" if v is None else v for v in values])
    return buf.getvalue()


# ------------------------------------------------------------------------ XLSX

def _cell_text(value, is_code: bool):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) >= 1e15 and is_code:
                return f"#PRECISION_LOST:{value!r}"
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


def read_xlsx(path: Path, display: str, tick: Callable[[], None],
              ctx_setup: Callable[[TablePlan, str], None], column_map=None) -> Iterator[Chunk]:
    """Read every sheet that has a recognisable header row (searched in its first 20 rows).

    ``ctx_setup(plan, source_file)`` is called per sheet before its chunks; the source
    file is ``display`` for a one-sheet workbook and ``display#sheet`` otherwise.
    """
    import openpyxl

    source = _checked_workbook(path)
    try:
        workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types on corrupt files
        raise FileProblem(f"cannot open the XLSX workbook: {exc}") from None
    try:
        found = []
        problems = []
        for sheet in workbook.worksheets:
            header_row, plan, nearest = None, None, ""
            for number, row in enumerate(sheet.iter_rows(max_row=20, values_only=True), start=1):
                cells = [_cell_text(v, False) for v in row]
                if not any(c and c.strip() for c in cells):
                    continue
                try:
                    plan = plan_table(_dedupe([c or "" for c in cells]), column_map)
                    header_row = number
                    break
                except FileProblem as exc:
                    if "missing required column" in str(exc):
                        problems.append(f"sheet {sheet.title}: {exc}")
                        break
                    if not nearest and "; nearest columns: " in str(exc):  # the first row that looks like a header
                        nearest = "; nearest columns: " + str(exc).split("; nearest columns: ", 1)[1]
            if plan is not None:
                found.append((sheet, header_row, plan))
            elif not problems or not problems[-1].startswith(f"sheet {sheet.title}:"):
                problems.append(f"sheet {sheet.title}: no header row with a trace-code column or master-table "
                                f"columns{nearest}")
        if not found:
            raise FileProblem("; ".join(problems) or "workbook has no sheets")
        yield from _xlsx_sheets(found, workbook, display, tick, ctx_setup)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise FileProblem(f"the XLSX workbook is damaged: {exc}") from None
    finally:
        workbook.close()


def _checked_workbook(path: Path):
    """The workbook to open (path, or its bytes when gzipped), after checking its members against the limits.

    First by the sizes the archive declares (cheap), then by the bytes its members
    really inflate to (:func:`~rxring.ingest.sniff.check_zip_inflation`, streaming):
    a header that declares a small size for a member that inflates to gigabytes is
    stopped at the limit too.

    Raises
    ------
    InputLimit
        When the members inflate beyond ``max_decompressed`` in total, a member
        larger than ``RATIO_GRACE`` inflates more than ``max_ratio`` times, or the
        shared strings (loaded whole by openpyxl) exceed ``max_document``.
    """
    lim = limits()
    source = zip_source(path, lim)
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FileProblem(f"cannot open the XLSX workbook: {exc}") from None
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_GRACE and info.file_size > lim.max_ratio * max(info.compress_size, 1):
            raise InputLimit(f"XLSX member {info.filename} inflates {info.file_size / max(info.compress_size, 1):,.0f} "
                             f"times ({info.compress_size:,} to {info.file_size:,} bytes; a compression bomb? "
                             f"limit {lim.max_ratio:g}, {limit_hint('max_ratio')}); nothing from it was kept")
        if info.filename.lower().endswith("sharedstrings.xml") and info.file_size > lim.max_document:
            raise InputLimit(f"the XLSX's shared strings ({info.file_size:,} bytes) are read whole, more than "
                             f"{lim.max_document:,} ({limit_hint('max_document')}); nothing from it was kept")
    if total > lim.max_decompressed:
        raise InputLimit(f"the XLSX inflates to {total:,} bytes, more than {lim.max_decompressed:,} "
                         f"({limit_hint('max_decompressed')}); nothing from it was kept")
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        check_zip_inflation(source, lim, "XLSX")  # the headers may lie: the bytes that come out are counted
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FileProblem(f"the XLSX workbook is damaged: {exc}") from None
    if isinstance(source, io.BytesIO):
        source.seek(0)
    return source


def _xlsx_sheets(found, workbook, display, tick, ctx_setup) -> Iterator[Chunk]:
    """Chunks of each recognised sheet, from the row after its header."""
    for sheet, header_row, plan in found:
        source_file = display if len(workbook.worksheets) == 1 else f"{display}#{sheet.title}"
        ctx_setup(plan, source_file)
        rows_iter = sheet.iter_rows(min_row=header_row, values_only=True)
        header = _dedupe([_cell_text(v, False) or "" for v in next(rows_iter)])
        code_header = plan.mapping.get("trace_code")
        code_pos = header.index(code_header) if code_header in header else -1
        width = len(header)
        buffer: list[list] = []
        lines: list[int] = []
        blank = 0
        number = header_row
        for row in rows_iter:
            number += 1
            cells = [_cell_text(v, i == code_pos) for i, v in enumerate(row[:width])]
            cells += [None] * (width - len(cells))
            if not any(c is not None and str(c).strip() for c in cells):
                blank += 1
                continue
            buffer.append(cells)
            lines.append(number)
            if len(buffer) >= XLSX_CHUNK:
                yield _xlsx_chunk(buffer, lines, header, plan, blank)
                tick()
                buffer, lines, blank = [], [], 0
        if buffer or blank:
            yield _xlsx_chunk(buffer, lines, header, plan, blank)


def _xlsx_chunk(buffer, lines, header, plan: TablePlan, blank: int) -> Chunk:
    if plan.kind != "events":
        frame = pd.DataFrame(buffer, columns=header, dtype=object)
        master, rejects = master_frame(frame, plan, first_line=lines[0] if lines else 2)
        if lines:
            rejects = [(lines[r[0] - lines[0]], r[1], r[2]) for r in rejects]
        return Chunk(master=(plan.kind, master), rejects=rejects, blank=blank)
    columns = list(zip(*buffer)) if buffer else [[] for _ in header]
    table = pa.table({h: pa.array(list(col), type=pa.string()) for h, col in zip(header, columns)})
    records = _rename(table, plan).append_column("_line", pa.array(lines, type=pa.int64()))
    return Chunk(records=records, blank=blank, raw_lookup=_row_lookup(table, np.asarray(lines), join_row))


# --------------------------------------------------------------------- Parquet

# Canonical columns the normaliser passes through unchanged: read as dictionaries
# when the file stores them dictionary-encoded, they are neither decoded here nor
# hashed again by the part writer (its dictionary is written as it is).
PARQUET_DICTIONARY_COLUMNS = ("event_type", "site_id", "product_code", "product_name", "batch",
                              "prescriber_id", "pharmacist_id", "counterparty")


# A column chunk is read as a dictionary only when it is small per value: indices
# plus a modest dictionary.  One whose dictionary outgrew the writer's limit (and
# fell back to plain pages), or that has nearly one value per row, would be
# hashed into a huge dictionary here and then be slower to write, not faster.
DICTIONARY_MAX_BYTES_PER_VALUE = 4.0


def _dictionary_headers(parquet: pq.ParquetFile, plan: TablePlan) -> list[str]:
    """Headers of pass-through string columns that are compactly dictionary-encoded in every row group."""
    metadata = parquet.metadata
    if plan.kind != "events" or metadata.num_row_groups == 0:
        return []
    schema = parquet.schema_arrow
    candidates = {header for canonical, header in plan.mapping.items()
                  if canonical in PARQUET_DICTIONARY_COLUMNS and pa.types.is_string(schema.field(header).type)}
    compact = set(candidates)
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for i in range(group.num_columns):
            column = group.column(i)
            name = column.path_in_schema
            if name not in compact:
                continue
            values = max(column.num_values, 1)
            if (not column.has_dictionary_page
                    or column.total_uncompressed_size / values > DICTIONARY_MAX_BYTES_PER_VALUE):
                compact.discard(name)
        if not compact:
            break
    return [header for header in plan.mapping.values() if header in compact]


def _parquet_tables(parquet: pq.ParquetFile, columns, dictionaries: list[str]) -> Iterator[pa.Table]:
    """Tables of about PARQUET_BATCH rows, each column in one chunk.

    A dictionary column makes the reader stop a batch at every row group (its
    dictionary changes there); those batches are joined again and their
    dictionaries unified, so the chunks (and the part's row groups) keep their size.
    """
    if not dictionaries:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, columns=columns, use_threads=False):
            yield pa.Table.from_batches([batch])
        return
    buffer: list[pa.RecordBatch] = []
    rows = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, columns=columns):
        buffer.append(batch)
        rows += batch.num_rows
        if rows >= PARQUET_BATCH:
            yield pa.Table.from_batches(buffer).unify_dictionaries().combine_chunks()
            buffer, rows = [], 0
    if buffer:
        yield pa.Table.from_batches(buffer).unify_dictionaries().combine_chunks()


def _check_parquet(metadata) -> None:
    """Column chunks against the limits, by the sizes the file declares (a Parquet bomb stops here).

    Raises
    ------
    InputLimit
        When a column chunk over ``RATIO_GRACE`` inflates more than ``max_ratio``
        times, or the file more than ``max_decompressed`` bytes in all.
    """
    lim = limits()
    total = 0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for i in range(group.num_columns):
            column = group.column(i)
            size, packed = column.total_uncompressed_size, max(column.total_compressed_size, 1)
            total += size
            if size > RATIO_GRACE and size > lim.max_ratio * packed:
                raise InputLimit(f"Parquet column {column.path_in_schema} (row group {g}) inflates "
                                 f"{size / packed:,.0f} times ({packed:,} to {size:,} bytes; a compression bomb? "
                                 f"limit {lim.max_ratio:g}, {limit_hint('max_ratio')}); nothing from it was kept")
    if total > lim.max_decompressed:
        raise InputLimit(f"the Parquet file inflates to {total:,} bytes, more than {lim.max_decompressed:,} "
                         f"({limit_hint('max_decompressed')}); nothing from it was kept")


def read_parquet(path: Path, tick: Callable[[], None], ctx_setup: Callable[[TablePlan], None],
                 column_map=None) -> Iterator[Chunk]:
    """Stream a Parquet file in record batches (canonical or aliased column names).

    Low-cardinality pass-through columns stored dictionary-encoded are read as
    dictionary arrays (see :data:`PARQUET_DICTIONARY_COLUMNS`).
    """
    try:
        if is_gzip(path):
            cap = limits().max_document
            with open_binary(path) as fh:
                data = fh.read(cap + 1)
            if len(data) > cap:
                raise InputLimit(f"a gzipped Parquet file is unpacked in memory, and this one is larger than "
                                 f"{cap:,} bytes ({limit_hint('max_document')}, or gunzip it)")
            source = lambda: pa.BufferReader(data)  # noqa: E731 - one reader per ParquetFile
        else:
            source = lambda: str(path)  # noqa: E731
        parquet = pq.ParquetFile(source())
        _check_parquet(parquet.metadata)
        plan = plan_table(parquet.schema_arrow.names, column_map)
        dictionaries = _dictionary_headers(parquet, plan)
        if dictionaries:
            parquet = pq.ParquetFile(source(), read_dictionary=dictionaries)
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise FileProblem(f"cannot read the Parquet file: {exc}") from None
    ctx_setup(plan)
    wanted = list(dict.fromkeys(plan.mapping.values()))
    row = 0
    try:
        for table in _parquet_tables(parquet, wanted if plan.kind == "events" else None, dictionaries):
            tick()
            lines = np.arange(row + 1, row + 1 + table.num_rows)
            row += table.num_rows
            if plan.kind != "events":
                master, rejects = master_frame(table.to_pandas(), plan, first_line=int(lines[0]) if len(lines) else 1)
                yield Chunk(master=(plan.kind, master), rejects=rejects)
                continue
            records = _rename(table, plan).append_column("_line", pa.array(lines, type=pa.int64()))
            yield Chunk(records=records, raw_lookup=_row_lookup(table, lines, None))
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileProblem(f"Parquet reading stopped after {row} rows: {exc}") from None
