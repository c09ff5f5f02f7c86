"""JSON and JSON Lines inputs: NHSA messages, EPCIS documents, or flat records.

Each JSON object is recognised on its own: an object with ``infno`` is an NHSA
message (:mod:`.nhsa`), an EPCIS document or ObjectEvent goes to :mod:`.epcis`,
any other object is a flat record whose keys are mapped like CSV headers.
JSON Lines are streamed line by line (``source_line`` = physical line); a JSON
document is loaded whole (``source_line`` = 1-based position of the message or
event in its list), so very large inputs should be JSON Lines.

Every read is bounded (:class:`~rxring.ingest.sniff.Limits`): a line (or array
item) longer than ``max_line`` characters, or nested deeper than
``max_json_depth``, is one quarantined record (its first 4000 characters kept);
a document that is not a list and is larger than ``max_document`` is rejected whole.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa

from ..aliases import map_headers
from ..sniff import InputLimit, errors_for, limit_hint, limits, open_binary, raw_position, text_stream
from . import Chunk, FileProblem
from .epcis import document_events, event_records
from ..feedetails import FeeLookup
from .nhsa import SCAN_INFNOS, field_text, message_items
from .nhsa_fast import FastRows, fast_rows
from .settlement import channel_message, unwrap_envelope

__all__ = ["read_jsonl", "jsonl_chunks", "jsonl_block_chunks", "deferred_chunk", "block_reader_enabled", "read_json", "RECORD_SCHEMA", "bounded_lines", "too_deep"]

RAW_KEEP = 4000  # characters of an oversized record kept in quarantine
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep(text: str, limit: int) -> bool:
    """True when the JSON text nests objects/arrays deeper than ``limit`` (brackets in strings ignored).

    Costs two ``str.count`` calls unless the text holds more than ``limit`` opening brackets.
    """
    if text.count("{") + text.count("[") <= limit:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _depth_reason(limit: int) -> str:
    return f"JSON nested deeper than {limit} levels ({limit_hint('max_json_depth')})"


def bounded_lines(fh, limit: int) -> Iterator[tuple[str, int]]:
    """Lines of a text stream, each at most ``limit`` characters: ``(line, 0)``.

    A longer line is skipped to its end (never held whole) and given as
    ``(its first RAW_KEEP characters, its length)``.
    """
    readline = fh.readline
    cut_cr = False  # the last piece read ended in "\r" at the limit: a "\n" next belongs to it
    while True:
        line = readline(limit)
        if cut_cr and line == "\n":
            line = readline(limit)
        cut_cr = len(line) == limit and line[-1] == "\r"
        if not line:
            return
        if len(line) < limit or line[-1] in "\n\r":
            yield line, 0
            continue
        head, total = line[:RAW_KEEP], len(line)
        while line[-1] not in "\n\r":
            line = readline(limit)
            if not line:
                break
            total += len(line)
        cut_cr = len(line) == limit and line[-1:] == "\r"
        yield head, total

BATCH_RECORDS = 20_000
_NUMERIC = ("quantity", "fund_amount", "total_amount")
_STRING_FIELDS = (
    "event_id", "trace_code", "event_type", "event_time", "site_id", "product_code", "product_name", "batch",
    "expiry", "split_sale", "patient_id", "prescriber_id", "_prescriber_name", "pharmacist_id", "settlement_id",
    "counterparty", "record_no", "message_id", "visit_id", "channel", "_price", "_inv_chg_type", "_reject",
)
RECORD_SCHEMA = pa.schema(
    [(name, pa.string()) for name in _STRING_FIELDS]
    + [(name, pa.float64()) for name in _NUMERIC]
    + [("_line", pa.int64())]
)


# what an NHSA item's dict holds (the message's msgid and infno are added per message, columnar)
_ITEM_SCHEMA = pa.schema([f for f in RECORD_SCHEMA if f.name not in ("trace_code", "event_id", "message_id", "channel")])


class _Batcher:
    """Collects records, deletions and raw text; emits chunks of bounded size.

    NHSA body items are kept once with their list of codes and expanded to one
    row per code with a columnar ``take`` (a message item lists several codes).
    """

    def __init__(self, fees=None, sha16: str = ""):
        self.sha16 = sha16  # the file's (event ids of plain messages read again, see nhsa_fast.FastRows.table)
        # fee details for the settlements: this file's so far, then the run's (or a piece's own, see parallel)
        self.fees = fees if isinstance(fees, FeeLookup) else FeeLookup(fees)
        self.deferred: list[tuple[int, str]] = []
        self.fee_details: list[dict] = []
        self.skipped: Counter = Counter()
        self.missing_fee: list = []
        self.records: list[dict] = []
        self.items: list[dict] = []
        self.repeats: list[int] = []
        self.codes: list = []
        self.event_ids: list = []
        self.message_ids: list = []  # per item: its message's msgid and infno
        self.channels: list = []
        self.size = 0
        self.deletions: list[dict] = []
        self.rejects: list[tuple[int, str, str]] = []
        self.raw: dict[int, str] = {}
        self.kinds: Counter = Counter()
        self.fast = FastRows()  # plain 进销存 messages read by the block reader (nhsa_fast)
        self.fast_raw: dict[int, bytes] = {}

    def full(self) -> bool:
        """Records and rejected lines together: a file of broken lines is handed on in chunks too."""
        return self.size + len(self.rejects) + len(self.fee_details) >= BATCH_RECORDS

    def add_records(self, records: list[dict]) -> None:
        self.records.extend(records)
        self.size += len(records)

    def add_items(self, items, message_id: str | None, channel: str | None) -> None:
        """Items of one message (:func:`.nhsa.message_items`), whose msgid and infno they get."""
        for fields, codes, event_ids in items:
            self.message_ids.append(message_id)
            self.channels.append(channel)
            self.items.append(fields)
            self.repeats.append(len(codes))
            self.codes.extend(codes)
            self.event_ids.extend(event_ids)
            self.size += len(codes)

    def _item_table(self) -> pa.Table:
        table = pa.Table.from_pylist(self.items, schema=_ITEM_SCHEMA)
        table = table.append_column("message_id", pa.array(self.message_ids, type=pa.string())).append_column(
            "channel", pa.array(self.channels, type=pa.string()))
        repeats = np.asarray(self.repeats, dtype=np.int64)
        if len(repeats) and (repeats != 1).any():
            table = table.take(pa.array(np.repeat(np.arange(len(repeats)), repeats)))
        columns = {name: table.column(name) for name in table.column_names}
        columns["trace_code"] = pa.array(self.codes, type=pa.string())
        columns["event_id"] = pa.array(self.event_ids, type=pa.string())
        return pa.table([columns[name] for name in RECORD_SCHEMA.names], schema=RECORD_SCHEMA)

    def chunk(self) -> Chunk:
        raw, fast_raw = self.raw, self.fast_raw
        tables = []
        if self.items:
            tables.append(self._item_table())
        if self.records:
            tables.append(pa.Table.from_pylist(self.records, schema=RECORD_SCHEMA))
        table = None
        if self.fast.items:
            fast = self.fast.table(RECORD_SCHEMA, self.fast_raw, self.sha16)
            if tables:  # the lines read the general way and the plain messages, in line order (stable)
                table = pa.concat_tables([fast, *tables])
                order = np.argsort(table.column("_line").to_numpy(), kind="stable")
                table = table.take(pa.array(order))
            else:
                table = fast
            self.fast = FastRows()
        elif len(tables) == 1:
            table = tables[0]
        elif tables:  # NHSA messages and other objects in one file: keep the file's order
            table = pa.concat_tables(tables).sort_by("_line")

        def raw_lookup(lines):
            return [raw.get(line) or (fast_raw[line].decode("utf-8") if line in fast_raw else "") for line in lines]

        chunk = Chunk(records=table, rejects=self.rejects, deletions=self.deletions, raw_lookup=raw_lookup,
                      fee_details=self.fee_details, skipped=self.skipped, missing_fee=self.missing_fee,
                      deferred=self.deferred)
        self.fee_details, self.skipped, self.missing_fee, self.deferred = [], Counter(), [], []
        self.records, self.items, self.repeats, self.codes, self.event_ids = [], [], [], [], []
        self.message_ids, self.channels = [], []
        self.size = 0
        self.deletions, self.rejects, self.raw, self.fast_raw = [], [], {}, {}
        return chunk


def _flat_record(obj: dict, line: int) -> dict:
    mapping = map_headers(list(obj.keys()))
    record = {"_line": line}
    for column, key in mapping.items():
        value = obj[key]
        if column in _NUMERIC:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                record[column] = float(value)
            elif value in (None, ""):
                record[column] = None
            else:
                try:
                    record[column] = float(str(value).replace(",", ""))
                except ValueError:
                    record["_reject"] = f"{column} '{value}' is not a number"
        elif column in RECORD_SCHEMA.names:
            record[column] = None if value is None else (json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value))
    if "trace_code" not in mapping:
        record["_reject"] = "object is neither an NHSA message, an EPCIS event nor a record with a trace code"
    return record


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
LONE_SURROGATE = ("a string holds a lone surrogate escape (\\ud800-\\udfff without its pair): not a character, "
                  "the message cannot be stored")


def _lone_surrogate(obj, raw: str) -> bool:
    """Whether a string in ``obj`` (parsed from ``raw``) holds a lone surrogate, which Python's json reads from an
    escape such as ``\\ud800`` but no UTF-8 text can hold (looked for only when ``raw`` has such an escape)."""
    if "\\u" not in raw or _SURROGATE_ESCAPE.search(raw) is None:
        return False
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _dumped(obj) -> str:
    """The text of a parsed object for quarantine (escaped where it holds a lone surrogate)."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj)
    return text


def _take(obj, line: int, raw: str, index: int, sha16: str, source_file: str, batch: _Batcher) -> None:
    if not isinstance(obj, dict):
        batch.rejects.append((line, "not a JSON object", raw))
        return
    if _lone_surrogate(obj, raw):  # (kept with the escapes' backslash doubled: the masker re-reads raw JSON)
        batch.rejects.append((line, LONE_SURROGATE, _SURROGATE_ESCAPE.sub(r"\\\g<0>", raw)[:RAW_KEEP]))
        return
    batch.raw[line] = raw
    if "infno" in obj:
        batch.kinds["nhsa"] += 1
        infno = obj["infno"]
        if infno.__class__ is str and infno in SCAN_INFNOS:
            items, deletions = message_items(obj, line, sha16, source_file)
            batch.add_items(items, field_text(obj.get("msgid")), infno)
            batch.deletions.extend(deletions)
        else:
            _take_channel(obj, line, raw, sha16, source_file, batch)
        return
    message = unwrap_envelope(obj) if "request" in obj or "req" in obj else None
    if message is not None:
        batch.kinds["nhsa"] += 1
        _take_channel(message, line, raw, sha16, source_file, batch)
        return
    events = document_events(obj)
    if events is not None:
        batch.kinds["epcis"] += 1
        for e, event in enumerate(events):
            batch.add_records(event_records(event, line, index + e, sha16))
        return
    batch.kinds["records"] += 1
    batch.add_records([_flat_record(obj, line)])


def _take_channel(message: dict, line: int, raw: str, sha16: str, source_file: str, batch: _Batcher) -> None:
    """An NHSA message that is not a 进销存 scan (:mod:`.settlement`), or one in a request/response envelope."""
    out = channel_message(message, line, raw, sha16, source_file, batch.fees)
    if out.deferred:  # counted (kinds) here, read by the caller (parallel.prepared_pieces)
        batch.deferred.append((line, raw))
        return
    batch.add_items(out.items, field_text(message.get("msgid")), field_text(message.get("infno")))
    batch.deletions.extend(out.deletions)
    batch.fee_details.extend(out.fee_details)
    batch.missing_fee.extend(out.missing_fee)
    if out.skipped is not None:
        batch.skipped[out.skipped] += 1


def read_jsonl(path: Path, encoding: str, sha16: str, source_file: str, tick: Callable[[], None],
               kinds: Counter, fees=None) -> Iterator[Chunk]:
    """Stream JSON Lines: one object per line; a line that is not JSON is one rejected record."""
    if block_reader_enabled(encoding):
        with open_binary(path) as raw:
            yield from jsonl_block_chunks(raw, 1, encoding, sha16, source_file, kinds, lambda: tick(raw_position(raw)),
                                          fees)
        return
    with text_stream(path, encoding) as fh:
        yield from jsonl_chunks(fh, 1, sha16, source_file, kinds, lambda: tick(raw_position(fh)), fees)


def jsonl_chunks(lines, first_line: int, sha16: str, source_file: str, kinds: Counter,
                 tick: Callable[[], None] = lambda: None, fees=None) -> Iterator[Chunk]:
    """Chunks of JSON Lines text; ``first_line`` is the physical line number of the first line.

    ``lines`` is a text stream opened with ``newline=""`` (read with
    :func:`bounded_lines`), or any iterable of text lines, so that a byte range of a
    large file can be read on its own (see :mod:`rxring.ingest.parallel`: ``fees`` is then a
    partial :class:`~rxring.ingest.feedetails.FeeLookup`).  ``fees``
    (:class:`~rxring.ingest.feedetails.FeeBook`) holds the fee details read before
    this file, for its settlements.
    """
    lim = limits()
    batch = _Batcher(fees)
    source = bounded_lines(lines, lim.max_line) if hasattr(lines, "readline") else ((line, 0) for line in lines)
    for number, (line, oversize) in enumerate(source, start=first_line):
        if batch.full():  # records and broken lines alike: memory does not grow with either
            kinds.update(batch.kinds)
            batch.kinds.clear()
            tick()
            yield batch.chunk()
        _take_line(line, oversize, number, lim, sha16, source_file, batch)
    kinds.update(batch.kinds)
    yield batch.chunk()


def deferred_chunk(deferred: list, fee_rows: list[dict], fees: FeeLookup, sha16: str, source_file: str) -> Chunk | None:
    """Read the settlements one piece of a file left (``deferred``: (line, raw text)), in line order.

    ``fees`` holds the fee details of the file's earlier pieces (and the run's); ``fee_rows``
    are the piece's own, in line order: each settlement sees those before its line, and
    all of them are added to ``fees`` for the pieces after.  None when nothing was deferred.
    """
    batch = _Batcher(fees)
    lim = limits()
    k = 0
    for line, raw in deferred:
        while k < len(fee_rows) and fee_rows[k]["source_line"] < line:
            fees.add(fee_rows[k:k + 1])
            k += 1
        _take_line(raw, 0, line, lim, sha16, source_file, batch)
    fees.add(fee_rows[k:])
    return batch.chunk() if deferred else None


def _take_line(line: str, oversize: int, number: int, lim, sha16: str, source_file: str, batch: _Batcher) -> None:
    """One line of JSON Lines text (``oversize``: its length when it is longer than the limit, see :func:`bounded_lines`)."""
    if oversize:
        batch.rejects.append((number, f"line of {oversize:,} characters is longer than the limit of "
                                      f"{lim.max_line:,} ({limit_hint('max_line')})", line))
        return
    text = line.strip().lstrip("\ufeff")
    if not text:
        return
    depth = lim.max_json_depth
    try:
        if text.count("{") + text.count("[") > depth and too_deep(text, depth):  # counts inline: hot loop
            raise RecursionError
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        batch.rejects.append((number, f"invalid JSON ({exc.msg} at column {exc.colno})", text[:RAW_KEEP]))
        return
    except RecursionError:
        batch.rejects.append((number, _depth_reason(depth), text[:RAW_KEEP]))
        return
    _take(obj, number, text, 0, sha16, source_file, batch)


BLOCK_BYTES = 4 << 20
_BOM = b"\xef\xbb\xbf"


def block_reader_enabled(encoding: str | None) -> bool:
    """Whether :func:`jsonl_block_chunks` reads a JSON Lines file of this encoding (UTF-8, with or without BOM;
    ``RXRING_NHSA_FAST=0`` turns it off)."""
    if os.environ.get("RXRING_NHSA_FAST", "1").strip() == "0" or not encoding:
        return False
    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return False


_BIG = float(2 ** 63)


def _as_json_reads_it(obj) -> bool:
    """Whether an object ``orjson`` parsed is what ``json.loads`` makes of the same text.

    They differ only where orjson reads an integer beyond 64 bits as a float (json keeps the
    integer): a float of 2**63 or more (conservative: such a float written as one is read again too).
    """
    stack = [obj]
    while stack:
        o = stack.pop()
        for v in (o.values() if o.__class__ is dict else o):
            c = v.__class__
            if c is dict or c is list:
                stack.append(v)
            elif c is float and not -_BIG < v < _BIG:
                return False
    return True


class _Chained(io.RawIOBase):
    """``head`` bytes, then the rest of ``raw``: a stream resumed where the block reader left it.

    ``head`` is read from an offset, never sliced off: the text layer above asks for a
    few KiB at a time, and cutting a copy of the rest each time made a line of 20 MiB
    cost seconds (quadratic in the line's length).
    """

    def __init__(self, head: bytes, raw):
        super().__init__()
        self._head, self._at, self._raw = memoryview(head), 0, raw

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        if self._at < len(self._head):
            n = min(len(target), len(self._head) - self._at)
            target[:n] = self._head[self._at:self._at + n]
            self._at += n
            return n
        data = self._raw.read(len(target))
        target[: len(data)] = data
        return len(data)


def jsonl_block_chunks(raw, first_line: int, encoding: str, sha16: str, source_file: str, kinds: Counter,
                       tick: Callable[[], None] = lambda: None, fees=None, at_start: bool = True) -> Iterator[Chunk]:
    """The chunks :func:`jsonl_chunks` gives for the UTF-8 JSON Lines in the binary stream ``raw``, read in blocks.

    Lines are cut at ``\\n`` in blocks of :data:`BLOCK_BYTES`; a plain 进销存 message
    (:func:`.nhsa_fast.fast_rows`) written plainly — ``{`` to ``}``, shorter than the
    line limit, no deeper than the depth limit by its bracket count, UTF-8 that
    ``orjson`` parses — is read columnar, every other line
    by :func:`jsonl_chunks`'s own code, in line order and into the same chunks.
    A block holding a lone ``\\r`` (a line break there) is read as text; from a line
    longer than the limit on, the rest is read as a text stream (never held whole).
    Lines that are not UTF-8 are decoded one by one with the file's error handler.
    ``at_start``: ``raw`` starts at the file's first byte (where a BOM is skipped).
    """
    import orjson

    loads, JSONDecodeError = orjson.loads, orjson.JSONDecodeError
    lim = limits()
    depth, max_line = lim.max_json_depth, lim.max_line
    errors = errors_for("utf-8")
    batch = _Batcher(fees, sha16)
    fast, fast_raw, nhsa = batch.fast, batch.fast_raw, batch.kinds
    number = first_line
    carry = b""
    if at_start and codecs.lookup(encoding).name == "utf-8-sig":
        head = raw.read(3)
        carry = b"" if head == _BOM else head

    def flush() -> Chunk:
        nonlocal fast, fast_raw
        kinds.update(batch.kinds)
        batch.kinds.clear()
        tick()
        chunk = batch.chunk()
        fast, fast_raw = batch.fast, batch.fast_raw
        return chunk

    def text_lines(text: str):
        yield from bounded_lines(io.StringIO(text, newline=""), max_line)

    while True:
        block = raw.read(BLOCK_BYTES)
        data = carry + block if carry else block
        if block:
            cut = data.rfind(b"\n") + 1
            if len(data) - cut >= max_line:  # a line longer than the limit: the rest as a text stream
                body, carry = data[:cut], None
                rest = data[cut:]
            else:
                body, carry = data[:cut], data[cut:]
        else:
            body, carry = data, b""
        if body:
            lines = body.split(b"\n")
            if lines[-1] == b"":
                lines.pop()
                ends = True
            else:
                ends = False  # the file's last line, without a line break
            if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
                source = text_lines(body.decode("utf-8", errors))  # a lone \r is a line break too
                lines = None
            if lines is None:
                for line, oversize in source:
                    if batch.full():
                        yield flush()
                    _take_line(line, oversize, number, lim, sha16, source_file, batch)
                    number += 1
            else:
                last = len(lines) - 1
                for i, line in enumerate(lines):
                    if batch.full():
                        yield flush()
                    bare = line[:-1] if line.endswith(b"\r") else line
                    if (bare.startswith(b"{") and bare.endswith(b"}") and len(line) + 1 < max_line
                            and bare.count(b"{") + bare.count(b"[") <= depth):
                        try:
                            obj = loads(bare)
                        except JSONDecodeError:
                            obj = None
                        before = len(fast.codes)
                        if obj.__class__ is dict and fast_rows(obj, number, sha16, fast):
                            nhsa["nhsa"] += 1
                            fast_raw[number] = bare
                            batch.size += len(fast.codes) - before
                            number += 1
                            continue
                        if obj.__class__ is dict and _as_json_reads_it(obj):  # (settlements, fee details ...)
                            _take(obj, number, bare.decode("utf-8"), 0, sha16, source_file, batch)
                            number += 1
                            continue
                    terminator = "\n" if (ends or i < last) else ""
                    text = line.decode("utf-8", errors) + terminator
                    for piece, oversize in (text_lines(text) if len(text) >= max_line else ((text, 0),)):
                        _take_line(piece, oversize, number, lim, sha16, source_file, batch)
                    number += 1
        if carry is None:
            stream = io.TextIOWrapper(io.BufferedReader(_Chained(rest, raw), 1 << 20), encoding="utf-8",
                                      errors=errors, newline="")
            for line, oversize in bounded_lines(stream, max_line):
                if batch.full():
                    yield flush()
                _take_line(line, oversize, number, lim, sha16, source_file, batch)
                number += 1
            break
        if not block:
            break
    kinds.update(batch.kinds)
    yield batch.chunk()


_SKIP = re.compile(r"[\s,]*")
_EVENT_LIST = re.compile(r'"eventList"\s*:\s*\[')
_READ = 1 << 20


def _array_items(fh, buf: str, idx: int) -> Iterator[tuple[int, object, str, str | None]]:
    """Stream the items of a JSON array whose ``[`` ends at ``buf[idx]``, reading ``fh`` as needed.

    Yields (1-based position, item, raw text, error); after an error (a truncated
    or broken document) nothing more is yielded.
    """
    decoder = json.JSONDecoder()
    lim = limits()
    eof = False
    position = 0
    while True:
        idx = _SKIP.match(buf, idx).end()
        if idx >= len(buf):
            if eof:
                yield position + 1, None, "", "the JSON document ends before its closing ] (truncated?)"
                return
            more = fh.read(_READ)
            eof = not more
            buf, idx = buf[idx:] + more, 0
            continue
        if buf[idx] == "]":
            return
        try:
            item, end = decoder.raw_decode(buf, idx)
            if too_deep(buf[idx:end], lim.max_json_depth):
                raise RecursionError
        except RecursionError:
            yield position + 1, None, buf[idx: idx + RAW_KEEP], (
                f"{_depth_reason(lim.max_json_depth)} in item {position + 1}; the rest of the document is not read")
            return
        except json.JSONDecodeError as exc:
            if not eof and len(buf) - idx > lim.max_line:
                yield position + 1, None, buf[idx: idx + RAW_KEEP], (
                    f"item {position + 1} is longer than the limit of {lim.max_line:,} characters "
                    f"({limit_hint('max_line')}); the rest of the document is not read")
                return
            if not eof:
                more = fh.read(_READ)
                eof = not more
                buf, idx = buf[idx:] + more, 0
                continue
            yield position + 1, None, buf[idx : idx + 4000], f"invalid JSON in item {position + 1} ({exc.msg}); the document is broken or truncated here"
            return
        position += 1
        yield position, item, buf[idx:end], None
        idx = end
        if idx > _READ:
            buf, idx = buf[idx:], 0


def read_json(path: Path, encoding: str, sha16: str, source_file: str, tick: Callable[..., None],
              kinds: Counter, fees=None) -> Iterator[Chunk]:
    """Read a JSON document: a list of messages/events/records, an EPCIS document, or one message.

    A top-level array and an EPCIS document's ``eventList`` are streamed item by item
    (bounded memory); any other document is loaded whole.  ``fees`` as :func:`jsonl_chunks`.
    """
    batch = _Batcher(fees)

    def flush() -> Iterator[Chunk]:
        if batch.full():
            kinds.update(batch.kinds)
            batch.kinds.clear()
            tick(raw_position(fh))
            yield batch.chunk()

    with text_stream(path, encoding) as fh:
        head = fh.read(_READ).lstrip("\ufeff")
        start = len(head) - len(head.lstrip())
        event_list = _EVENT_LIST.search(head)
        if head[start:start + 1] == "[":
            items, epcis = _array_items(fh, head, start + 1), False
        elif event_list and '"epcisBody"' in head[: event_list.start()]:
            items, epcis = _array_items(fh, head, event_list.end()), True
        else:
            items = None
            cap = limits().max_document
            text = head + fh.read(max(cap + 1 - len(head), 0))
            if len(text) > cap:
                raise InputLimit(f"a JSON document that is not a list is read whole, and this one is larger than "
                                 f"{cap:,} characters ({limit_hint('max_document')}, or write it as JSON Lines)")
        if items is not None:
            for position, item, raw, error in items:
                if error:
                    batch.rejects.append((position, error, raw))
                    break
                if epcis:
                    batch.kinds["epcis"] += 1
                    batch.raw[position] = raw[:4000]
                    batch.add_records(event_records(item, position, position - 1, sha16))
                else:
                    _take(item, position, raw, position - 1, sha16, source_file, batch)
                yield from flush()
            kinds.update(batch.kinds)
            yield batch.chunk()
            return
    try:
        document = json.loads(text)
    except RecursionError:  # deeper than Python can parse (about 1000 levels)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.startswith("{") for line in lines):
            yield from read_jsonl(path, encoding, sha16, source_file, tick, kinds, fees)
            return
        depth = limits().max_json_depth
        batch.rejects.append((1, _depth_reason(depth), text[:RAW_KEEP]))
        yield batch.chunk()
        return
    except json.JSONDecodeError as exc:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines and all(line.startswith("{") for line in lines):
            # JSON Lines whose first line is broken: read line by line, quarantine the bad ones
            yield from read_jsonl(path, encoding, sha16, source_file, tick, kinds, fees)
            return
        raise FileProblem(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    events = document_events(document) if isinstance(document, dict) else None
    if isinstance(document, dict) and events is not None and "infno" not in document:
        batch.kinds["epcis"] += 1
        for i, event in enumerate(events, start=1):
            batch.raw[i] = json.dumps(event, ensure_ascii=False)[:4000]
            batch.add_records(event_records(event, i, i - 1, sha16))
        kinds.update(batch.kinds)
        yield batch.chunk()
        return
    if isinstance(document, dict) and "infno" not in document:
        lists = [v for v in document.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            document = lists[0]
    items = document if isinstance(document, list) else [document]
    for i, obj in enumerate(items, start=1):
        _take(obj, i, _dumped(obj), i - 1, sha16, source_file, batch)
    kinds.update(batch.kinds)
    yield batch.chunk()
