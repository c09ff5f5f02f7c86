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
(declared sizes and compression ratio) before openpyxl reads the workbook in
read-only (streaming) mode.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
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
from ..sniff import (RATIO_GRACE, InputLimit, Utf8Recoder, is_gzip, limit_hint, limits, open_binary, raw_position,
                     text_stream, zip_source)
from ..strings import string_parts
from . import Chunk, FileProblem

__all__ = ["TablePlan", "plan_table", "read_csv", "read_xlsx", "read_parquet", "MASTER_ALIASES",
           "PARQUET_DICTIONARY_COLUMNS"]

CSV_BLOCK = 16 << 20
XLSX_CHUNK = 20_000
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


def _master_mapping(headers: list[str], name: str) -> dict[str, str]:
    by_norm = {normalise_header(h): h for h in headers}
    mapping = {}
    for column, aliases in MASTER_ALIASES[name].items():
        for alias in aliases:
            if alias in by_norm and by_norm[alias] not in mapping.values():
                mapping[column] = by_norm[alias]
                break
    return mapping


def plan_table(headers: list[str]) -> TablePlan:
    """Decide what a table is from its headers.

    Raises
    ------
    FileProblem
        When a required column is missing or the table is neither events nor a master.
    """
    mapping = map_headers(headers)
    if "trace_code" in mapping:
        missing = [c for c in ("site_id", "event_time") if c not in mapping]
        if missing:
            looked = "; ".join(f"{c}: {', '.join(COLUMN_ALIASES[c][:6])}" for c in missing)
            raise FileProblem(f"missing required column {', '.join(missing)} (looked for {looked})")
        plan = TablePlan("events", mapping)
        if "event_type" not in mapping:
            norm = {normalise_header(h): h for h in headers}
            hints = [norm[h] for h in SALE_HINT_COLUMNS if h in norm]
            if not hints:
                raise FileProblem(
                    "missing required column event_type (业务类型/事件类型/event_type), and no sale columns "
                    "(销售时间, 人员编号, 结算ID) to infer that the rows are sales"
                )
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
    raise FileProblem(
        f"a table without a trace-code column (追溯码, 药品追溯码, drug_trac_codg, trace_code) that is not a "
        f"master table (sites, products, patients, prescribers); headers: {shown}",
        unknown=True,
    )


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


def _read_master_csv(path: Path, encoding: str, delimiter: str, names: list[str], plan: TablePlan) -> Chunk:
    """A master table is small: read it whole with the csv module, keeping physical line numbers."""
    good: list[list[str]] = []
    lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    blank = 0
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
                rejects.append((line, f"row has {len(row)} fields, the header has {len(names)}", join_row(row, delimiter)))
                continue
            good.append(row)
            lines.append(line)
    frame = pd.DataFrame(good, columns=names, dtype=object)
    master, bad = master_frame(frame, plan, first_line=0)
    rejects += [(lines[i], why, raw) for i, why, raw in bad]
    return Chunk(master=(plan.kind, master), rejects=sorted(rejects), blank=blank)


def _csv_rows(reader) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise FileProblem(f"CSV reading stopped at line {reader.line_num}: {exc}") from None


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _resync(text: str, number: int, delimiter: str, expected: int) -> tuple[list, list, int] | None:
    """An invalid row that runs over several lines because its first line opens a quote it never closes.

    Returns (rejects, recovered rows as (line, fields), blank lines), or None when
    the row is not such a case.  The broken record is its first line and the lines
    after it up to the first that parses as a row of ``expected`` fields (balanced
    quotes); from there every line is read on its own.
    """
    parts = _LINE_BREAK.split(text)
    if len(parts) < 2 or parts[0].count('"') % 2 == 0:
        return None
    rejects, recovered, blank = [], [], 0
    broken: list[str] | None = [parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        fields = None
        if part.count('"') % 2 == 0:
            try:
                fields = next(csv.reader([part], delimiter=delimiter), [])
            except csv.Error:
                fields = None
        if fields is not None and len(fields) == expected:
            if broken is not None:
                rejects.append((number, "unterminated quote: the record ends at the end of its line", "\n".join(broken)))
                broken = None
            recovered.append((number + i, fields))
        elif broken is not None:
            broken.append(part)
        elif not part.strip():
            blank += 1
        else:
            reason = (f"row has {len(fields)} fields, the header has {expected}" if fields is not None
                      else "unbalanced quotes")
            rejects.append((number + i, reason, part))
    if broken is not None:
        rejects.append((number, "unterminated quote: the record runs to the end of the file", "\n".join(broken)))
    return rejects, recovered, blank


def read_csv(path: Path, encoding: str, delimiter: str, tick: Callable[..., None], ctx_setup: Callable[[TablePlan], None]) -> Iterator[Chunk]:
    """Stream a delimited text file as chunks.

    ``ctx_setup`` is called once with the table plan (before the first chunk) so the
    caller can set the event-type fallback and notes; ``tick`` updates progress.
    """
    names = _csv_header(path, encoding, delimiter)
    plan = plan_table(names)
    ctx_setup(plan)
    if plan.kind != "events":
        yield _read_master_csv(path, encoding, delimiter, names, plan)
        return

    skipped_lines: list[int] = []
    skipped_breaks: dict[int, int] = {}  # line breaks inside a skipped row (later rows start further down)
    bad_rows: list[tuple[int, str, str]] = []
    recovered: list[tuple[int, list[str]]] = []
    expected = len(names)
    ordinal = 0
    spanned = 0  # line breaks inside quoted values of the rows read so far (read by on_invalid)
    done_line = 1  # the last physical line of the rows handed on

    def on_invalid(row) -> str:
        text = row.text or ""
        number = row.number
        if number is not None:
            skipped_lines.append(number)
            # row.number counts records; the physical line adds the breaks inside earlier records
            physical = number + spanned + sum(b for n, b in skipped_breaks.items() if n < number)
            breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
            if breaks:
                skipped_breaks[number] = breaks
            row_number = physical
        else:
            row_number = None
        synced = _resync(text, row_number, delimiter, expected) if row_number is not None else None
        if synced is not None:
            rejects, rows, blank_lines = synced
            bad_rows.extend(rejects)
            bad_rows.extend((0, "", "") for _ in range(blank_lines))
            recovered.extend(rows)
        elif text.strip():
            bad_rows.append((row_number or 0, f"row has {row.actual_columns} fields, the header has {expected}", text))
        else:
            bad_rows.append((row_number or 0, "", ""))  # blank line: skipped, not counted
        return "skip"

    binary = open_binary(path)
    raw = Utf8Recoder(binary, encoding)
    try:
        reader = pacsv.open_csv(
            raw,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, encoding="utf8",
                                           block_size=CSV_BLOCK, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                             ignore_empty_lines=False, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        raw.close()
        raise FileProblem(f"cannot read as CSV: {exc}") from None
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                if "straddl" not in str(exc):
                    raise FileProblem(f"CSV reading stopped after {ordinal} rows: {exc}") from None
                # a row longer than the parse block, nearly always a quote never closed:
                # the rest of the file is read line by line (rows of the failed block included)
                bad_rows.clear()
                recovered.clear()
                yield Chunk(notes=[f"a row after line {done_line} is longer than the {CSV_BLOCK >> 20} MB parse "
                                   f"block (a quote never closed?); the rest of the file was read line by line"])
                yield from _csv_tail(path, encoding, delimiter, names, plan, done_line)
                break
            tick(raw_position(binary))
            m = batch.num_rows
            skipped = np.asarray(sorted(skipped_lines), dtype=np.int64)
            t = skipped - np.arange(len(skipped)) - 2
            g = np.arange(ordinal, ordinal + m)
            before = np.searchsorted(t, g, side="right")
            lines = 2 + g + before + spanned
            if skipped_breaks:  # skipped rows spanning several lines
                extra = np.concatenate(([0], np.cumsum([skipped_breaks.get(int(n), 0) for n in skipped])))
                lines = lines + extra[before]
            ordinal += m
            table = pa.Table.from_batches([batch])
            inner = _breaks_in_values(table)
            if inner is not None:  # a quoted value spans lines: later rows start further down
                before = np.concatenate(([0], np.cumsum(inner)[:-1]))
                lines = lines + before
                spanned += int(inner.sum())
            blank = _blank_mask(table)
            rejects = [r for r in bad_rows if r[1]]
            bad_blank = sum(1 for r in bad_rows if not r[1])
            bad_rows.clear()
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
            yield Chunk(records=records, rejects=rejects, blank=int(blank.sum()) + bad_blank,
                        raw_lookup=_row_lookup(table, lines, lambda values: join_row(values, delimiter)))
            if recovered:
                yield _recovered_chunk(recovered, names, plan, delimiter)
                recovered.clear()
        if recovered:
            yield _recovered_chunk(recovered, names, plan, delimiter)
        if bad_rows:
            yield Chunk(rejects=[r for r in bad_rows if r[1]], blank=sum(1 for r in bad_rows if not r[1]))
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
    Per-row Python: only for the rest of a file whose quote is never closed.
    """
    from .jsonfmt import bounded_lines

    expected = len(names)
    cap = limits().max_line
    good: list[list[str]] = []
    lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    blank = 0

    def flush() -> Chunk:
        nonlocal good, lines, rejects, blank
        if good:
            columns = list(zip(*good))
            table = pa.table({n: pa.array([v if v != "" else None for v in col], type=pa.string())
                              for n, col in zip(names, columns)})
            at = np.asarray(lines, dtype=np.int64)
            records = _rename(table, plan).append_column("_line", pa.array(at, type=pa.int64()))
            chunk = Chunk(records=records, rejects=rejects, blank=blank,
                          raw_lookup=_row_lookup(table, at, lambda values: join_row(values, delimiter)))
        else:
            chunk = Chunk(rejects=rejects, blank=blank)
        good, lines, rejects, blank = [], [], [], 0
        return chunk

    with text_stream(path, encoding) as fh:
        queue: list[tuple[int, str, int]] = []  # lines read ahead while looking for a closing quote
        source = enumerate(bounded_lines(fh, cap), start=1)

        def next_line():
            if queue:
                return queue.pop(0)
            for number, (text, oversize) in source:
                if number > after_line:
                    return number, text, oversize
            return None

        while True:
            item = next_line()
            if item is None:
                break
            number, text, oversize = item
            if oversize:
                rejects.append((number, f"line of {oversize:,} characters is longer than the limit of {cap:,} "
                                        f"({limit_hint('max_line')})", text))
                continue
            record, taken = text, []
            if record.count('"') % 2:
                while len(taken) < TAIL_JOIN_LINES and len(record) < CSV_BLOCK:
                    more = next_line()
                    if more is None:
                        break
                    taken.append(more)
                    if more[2]:
                        break
                    record += more[1]
                    if record.count('"') % 2 == 0:
                        break
                if record.count('"') % 2:  # never closed: this line alone is the broken record
                    queue[:0] = taken
                    rejects.append((number, "unterminated quote: the record ends at the end of its line",
                                    text.rstrip("\r\n")))
                    continue
            try:
                fields = next(csv.reader([record.rstrip("\r\n")], delimiter=delimiter), [])
            except csv.Error as exc:
                rejects.append((number, f"cannot read the row as CSV ({exc})", record.rstrip("\r\n")[:4000]))
                continue
            if not any(f.strip() for f in fields):
                blank += 1
            elif len(fields) != expected:
                rejects.append((number, f"row has {len(fields)} fields, the header has {expected}",
                                record.rstrip("\r\n")))
            else:
                good.append(fields)
                lines.append(number)
            if len(good) >= XLSX_CHUNK:
                yield flush()
    yield flush()


def _recovered_chunk(recovered: list[tuple[int, list[str]]], names: list[str], plan: TablePlan, delimiter: str) -> Chunk:
    """The rows read again after an unterminated quote (see :func:`_resync`)."""
    lines = np.asarray([line for line, _ in recovered], dtype=np.int64)
    columns = list(zip(*[fields for _, fields in recovered]))
    table = pa.table({n: pa.array([v if v != "" else None for v in col], type=pa.string())
                      for n, col in zip(names, columns)})
    records = _rename(table, plan).append_column("_line", pa.array(lines, type=pa.int64()))
    return Chunk(records=records, raw_lookup=_row_lookup(table, lines, lambda values: join_row(values, delimiter)))


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
        rows = table.take(pa.array(positions)).to_pylist()
        if join is None:
            return [json.dumps(r, ensure_ascii=False, default=str) for r in rows]
        return [join([r[n] for n in names]) for r in rows]

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
              ctx_setup: Callable[[TablePlan, str], None]) -> Iterator[Chunk]:
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
            header_row, plan = None, None
            for number, row in enumerate(sheet.iter_rows(max_row=20, values_only=True), start=1):
                cells = [_cell_text(v, False) for v in row]
                if not any(c and c.strip() for c in cells):
                    continue
                try:
                    plan = plan_table(_dedupe([c or "" for c in cells]))
                    header_row = number
                    break
                except FileProblem as exc:
                    if "missing required column" in str(exc):
                        problems.append(f"sheet {sheet.title}: {exc}")
                        break
            if plan is not None:
                found.append((sheet, header_row, plan))
            elif not problems or not problems[-1].startswith(f"sheet {sheet.title}:"):
                problems.append(f"sheet {sheet.title}: no header row with a trace-code column or master-table columns")
        if not found:
            raise FileProblem("; ".join(problems) or "workbook has no sheets")
        yield from _xlsx_sheets(found, workbook, display, tick, ctx_setup)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise FileProblem(f"the XLSX workbook is damaged: {exc}") from None
    finally:
        workbook.close()


def _checked_workbook(path: Path):
    """The workbook to open (path, or its bytes when gzipped), after checking its members against the limits.

    A ZIP member's declared size bounds what :mod:`zipfile` returns of it (and its
    CRC is checked), so the check holds against a lying archive as well.

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


def read_parquet(path: Path, tick: Callable[[], None], ctx_setup: Callable[[TablePlan], None]) -> Iterator[Chunk]:
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
        plan = plan_table(parquet.schema_arrow.names)
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
