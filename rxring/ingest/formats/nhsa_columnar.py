"""Plain 进销存 messages of a block of JSON Lines, parsed straight into Arrow columns.

:func:`.nhsa_fast.fast_rows` still makes one Python object per message (``orjson``) and
maps it field by field.  Here the lines of a block that may be plain 3501-3506 /
3501A-3506A messages (:func:`candidates`) are handed together to ``pyarrow.json``
with a fixed schema (:data:`SCHEMA`: every key the general reader
(:func:`.nhsa.message_items`) looks at, other keys ignored), and the mapping is done a
column at a time with Arrow compute (:func:`records`).  The parser itself decides
the exactness questions, in bulk:

- a key the schema holds that is written twice, a value of another JSON type than
  the schema's (a number in a text field, text in a number field, an object where a
  list goes, a bare code in a code list), a number beyond a double, invalid JSON or
  an invalid escape: pyarrow fails and names the row; that line is read the general
  way and the others are parsed again (:func:`parse`; after :data:`MAX_ERRORS` such
  lines in a block, the rest of the block is read the general way);
- ``null`` cannot be told from a missing key in pyarrow's output, so a line holding
  the text ``null`` is never a candidate; nor is a line with an escaped surrogate,
  one that is not ``{`` … ``}``, too long or too deep (as the block reader decides);
- a message whose shape is not one of the plain ones (body under ``input.selinfo |
  purcinfo | invinfo | data`` as a non-empty list, the fields at the top level
  without ``input``, a batch twin's non-empty ``input.*Detail`` list), an item
  without a non-empty ``drugtracinfo`` list of its own or of the message (codes in
  one ``drug_trac_codg`` cell are split by the general reader), or any other case
  the general reader treats differently is marked not plain (:func:`records`
  returns which lines it read) and read the general way, whole.

The result is row for row what :func:`.nhsa.message_items` gives for the same lines
(``tests/ingest/test_nhsa_columnar.py`` and ``test_nhsa_fast.py`` hold them to each
other); a block that is not valid UTF-8 is read the general way.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..strings import has_empty, may_need_trim
from .nhsa import (ALL_TIME_FIELDS, BODY_KEYS, DETAIL_KEYS, FUND_FIELDS, INFNO_EVENT_TYPE, QTY_FIELDS, SPLIT_TRUE,
                   TIME_FIELDS)
from .nhsa_fast import WHITESPACE

__all__ = ["SCHEMA", "OBJECT_SCHEMA", "MAX_ERRORS", "candidates", "parse", "records"]

#: Text fields of a body item (and of the message, whose fields an item's empty ones fall back to).
ITEM_TEXT = ("inv_chg_type", "trdn_flag", *ALL_TIME_FIELDS, "med_list_codg", "fixmedins_hilist_name", "manu_lotnum",
             "expy_end", "psn_no", "prsc_dr_certno", "prsc_dr_name", "phar_certno", "setl_id", "spler_name",
             "fixmedins_bchno", "medins_prod_sel_no", "mdtrt_sn", "mdtrt_id", "fixmedins_code", "drug_trac_codg")
#: Number fields of a body item.
ITEM_NUMBER = tuple(dict.fromkeys((*(n for v in QTY_FIELDS.values() for n in v), "finl_trns_pric", "pric",
                                   *FUND_FIELDS)))
_CODES = pa.list_(pa.struct([("drug_trac_codg", pa.string())]))
_ITEM_FIELDS = [*((n, pa.string()) for n in ITEM_TEXT), *((n, pa.float64()) for n in ITEM_NUMBER),
                ("drugtracinfo", _CODES)]
_ITEMS = pa.list_(pa.struct(_ITEM_FIELDS))
_INPUT = pa.struct([*((k, _ITEMS) for k in (*BODY_KEYS, *DETAIL_KEYS)), ("drugtracinfo", _CODES)])
#: What pyarrow reads of a line (other keys are ignored: the general reader does not look at them).
SCHEMA = pa.schema([("infno", pa.string()), ("msgid", pa.string()), *_ITEM_FIELDS, ("input", _INPUT),
                    *((k, _ITEMS) for k in (*BODY_KEYS, *DETAIL_KEYS))])
#: The same for a line whose body is one object (``input.selinfo: {...}``), not a list of them.
OBJECT_SCHEMA = SCHEMA.set(SCHEMA.get_field_index("input"), pa.field("input", pa.struct(
    [*((k, _ITEMS.value_type) for k in BODY_KEYS), *((k, _ITEMS) for k in DETAIL_KEYS), ("drugtracinfo", _CODES)])))
#: Lines of a block that pyarrow fails on before the rest of the block is left to the general reader.
MAX_ERRORS = 8

_SCAN = re.compile(rb'"infno"\s*:\s*"350[1-6]A?"')
_OBJECT_BODY = re.compile(rb'"(?:selinfo|purcinfo|invinfo|data)"\s*:\s*\{')
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_NULL = re.compile(rb"null")
_ROW = re.compile(r"in row (\d+)")
_NULL_TEXT = pa.scalar(None, pa.string())
_KIND = {infno: i for i, infno in enumerate(INFNO_EVENT_TYPE)}  # 3501 .. 3506 -> 0 .. 5
_QTY = [QTY_FIELDS[infno] for infno in INFNO_EVENT_TYPE]
_TIME = [TIME_FIELDS[infno] for infno in INFNO_EVENT_TYPE]


def candidates(body: bytes, lines: list, max_line: int, depth: int) -> tuple[list[int], list[int]]:
    """Indices of the lines of ``body`` (``body.split(b"\\n")``) that may be plain 进销存 messages: those
    whose body may be a list (:data:`SCHEMA`), and those where it is one object (:data:`OBJECT_SCHEMA`).

    A candidate names a 3501-3506(A) infno, is ``{`` … ``}`` (a final ``\\r`` aside),
    shorter than ``max_line``, opens at most ``depth`` brackets and holds neither
    ``null`` nor an escaped surrogate.
    """
    starts = np.cumsum([0] + [len(line) + 1 for line in lines[:-1]])

    def lines_of(pattern) -> list:
        return np.searchsorted(starts, [m.start() for m in pattern.finditer(body)], side="right") - 1

    hits = np.unique(lines_of(_SCAN)).tolist()
    objects = set(lines_of(_OBJECT_BODY).tolist())
    bad = set()
    if b"null" in body:
        bad.update(lines_of(_NULL).tolist())
    if b"\\u" in body:
        bad.update(lines_of(_SURROGATE).tolist())
    out, out_objects = [], []
    for i in hits:
        if i in bad:
            continue
        line = lines[i]
        if (line[:1] == b"{" and (line[-1:] == b"}" or line[-2:] == b"}\r") and len(line) + 1 < max_line
                and line.count(b"{") + line.count(b"[") <= depth):
            (out_objects if i in objects else out).append(i)
    return out, out_objects


def _read(data: bytes, schema: pa.Schema) -> pa.Table:
    return pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
                        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))


def _as_list(arr) -> pa.Array:
    """A struct column as a list column of one item (null stays null)."""
    valid = pc.is_valid(arr)
    offsets = np.zeros(len(arr) + 1, np.int32)
    np.cumsum(valid.to_numpy(zero_copy_only=False), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), arr.filter(valid), mask=pc.invert(valid))


def _listed(table: pa.Table) -> pa.Table:
    """A table read with :data:`OBJECT_SCHEMA` in the form of :data:`SCHEMA` (each body a list of one)."""
    inp = _column(table, "input")
    children = [_as_list(pc.struct_field(inp, k)) if k in BODY_KEYS else pc.struct_field(inp, k)
                for k in _INPUT.names]
    listed = pa.StructArray.from_arrays(children, fields=list(_INPUT), mask=pc.invert(pc.is_valid(inp)))
    return table.set_column(table.schema.get_field_index("input"), pa.field("input", _INPUT), listed)


def parse(texts: list, schema: pa.Schema = SCHEMA) -> tuple[pa.Table | None, list[int]]:
    """pyarrow's table of the JSON ``texts`` (one object each) and the indices of those it read, in the form
    of :data:`SCHEMA` (``schema``: :data:`OBJECT_SCHEMA` for texts whose body is one object).

    A text pyarrow fails on is left out (it names the row); after :data:`MAX_ERRORS`
    failures the texts from there on are left out too.  The table has exactly one row
    per index read, in order.
    """
    tables, read = [], []
    start, errors = 0, 0
    while start < len(texts) and errors <= MAX_ERRORS:
        try:
            table = _read(b"\n".join(texts[start:]), schema)
        except pa.ArrowInvalid as exc:
            row = _ROW.search(str(exc))
            errors += 1
            bad = start + int(row.group(1)) if row else len(texts)
            if bad >= len(texts):
                break
            if bad > start:
                try:
                    table = _read(b"\n".join(texts[start:bad]), schema)
                except pa.ArrowInvalid:
                    break
                if table.num_rows != bad - start:  # two objects on one line: not a JSON Lines line
                    break
                tables.append(table)
                read.extend(range(start, bad))
            start = bad + 1
            continue
        if table.num_rows != len(texts) - start:
            break
        tables.append(table)
        read.extend(range(start, len(texts)))
        break
    if not tables:
        return None, []
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return (_listed(table) if schema is OBJECT_SCHEMA else table), read


def _text(arr) -> pa.Array:
    """:func:`.nhsa.field_text` of a string column: trimmed of :data:`.nhsa_fast.WHITESPACE`, empty -> null."""
    if may_need_trim(arr):
        arr = pc.utf8_trim(arr, WHITESPACE)
    if has_empty(arr):
        arr = pc.if_else(pc.equal(arr, ""), _NULL_TEXT, arr)
    return arr


def _filled(arr) -> pa.Array:
    """Empty text -> null (a value :func:`.nhsa.pick_field` passes over)."""
    return pc.if_else(pc.equal(arr, ""), _NULL_TEXT, arr) if has_empty(arr) else arr


def _column(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


def records(table: pa.Table, lines: np.ndarray, sha16: str, schema: pa.Schema) -> tuple[pa.Table, np.ndarray]:
    """The records of the plain messages among ``table``'s rows (their lines ``lines``) and which rows they are.

    Returns the records (columns of ``schema``, the JSON reader's record schema; in line
    order, one per code) and a boolean mask of the rows read; every other row is a
    message :func:`.nhsa.message_items` reads another way, left to it.
    """
    n = table.num_rows
    infno = _column(table, "infno")
    plain = pc.fill_null(pc.is_in(infno, pa.array([*INFNO_EVENT_TYPE, *(i + "A" for i in INFNO_EVENT_TYPE)])), False)
    batch = pc.fill_null(pc.ends_with(infno, "A"), False)
    for key in (*BODY_KEYS, *DETAIL_KEYS):  # a body or rows at the top level: other shapes
        plain = pc.and_(plain, pc.is_null(_column(table, key)))
    inp = _column(table, "input")
    has_input = pc.is_valid(inp)
    body = pc.coalesce(*(pc.struct_field(inp, k) for k in BODY_KEYS))
    detail = pc.coalesce(*(pc.struct_field(inp, k) for k in DETAIL_KEYS))
    use_detail = pc.and_(pc.and_(batch, has_input), pc.is_valid(detail))
    use_body = pc.and_(pc.and_(has_input, pc.invert(use_detail)), pc.is_valid(body))
    # the only row of a batch may take the list beside the rows (in input, else the message's)
    sibling = pc.coalesce(pc.struct_field(inp, "drugtracinfo"), _column(table, "drugtracinfo"))
    sibling_n = pc.fill_null(pc.list_value_length(sibling), 0)
    rows = pc.if_else(use_detail, detail, body)
    rows_n = pc.fill_null(pc.list_value_length(rows), 0)
    ok_rows = pc.and_(pc.greater(rows_n, 0), pc.or_(pc.invert(use_detail), pc.or_(pc.equal(sibling_n, 0),
                                                                                  pc.equal(rows_n, 1))))
    plain = pc.and_(plain, pc.if_else(has_input, pc.and_(pc.or_(use_detail, use_body), ok_rows), True))
    plain_np = plain.to_numpy(zero_copy_only=False)
    # body items: the listed rows, or the message itself when it has no input
    listed = pc.and_(plain, has_input).to_numpy(zero_copy_only=False)
    own = np.flatnonzero(plain_np & ~listed)
    item_lists = rows.filter(pa.array(listed))
    listed_rows = np.flatnonzero(listed)
    lengths = pc.list_value_length(item_lists).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(item_lists)
    parent = np.concatenate([np.repeat(listed_rows, lengths), own])
    b_index = np.concatenate([np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths),
                              np.zeros(len(own), np.int64)])
    top = pa.StructArray.from_arrays([_column(table, name) for name, _ in _ITEM_FIELDS],
                                     fields=list(_ITEMS.value_type)).take(pa.array(own, pa.int64()))
    items = pa.concat_arrays([flat, top]) if len(own) else flat
    order = np.argsort(parent, kind="stable")
    parent, b_index = parent[order], b_index[order]
    items = items.take(pa.array(order))
    take = pa.array(parent, pa.int64())
    message = {name: _column(table, name).take(take) for name, _ in _ITEM_FIELDS}

    def merged(name):  # message_fields: the item's value, else the message's (empty counts as missing)
        mine = pc.struct_field(items, name)
        if mine.type == pa.string():
            return pc.coalesce(_filled(mine), _filled(message[name]))
        return pc.coalesce(mine, message[name])

    fields = {name: merged(name) for name, _ in _ITEM_FIELDS if name not in ("drugtracinfo", "fixmedins_code")}
    # codes: the item's list, else the message's (single-row); a batch row's own, else the list beside the only row
    item_batch = pa.array(np.asarray(use_detail.to_numpy(zero_copy_only=False))[parent])
    mine = pc.struct_field(items, "drugtracinfo")
    mine_n = pc.fill_null(pc.list_value_length(mine), 0)
    beside = sibling.take(take)
    own_cell = pc.is_null(_filled(pc.struct_field(items, "drug_trac_codg")))
    batch_codes = pc.if_else(pc.greater(mine_n, 0), mine, pc.if_else(own_cell, beside, mine))
    codes = pc.if_else(item_batch, batch_codes, pc.coalesce(mine, message["drugtracinfo"]))
    kk = pc.fill_null(pc.list_value_length(codes), 0)
    item_ok = pc.greater(kk, 0).to_numpy(zero_copy_only=False)
    if not item_ok.all():  # a message with an item the general reader reads otherwise: the whole message
        bad_rows = np.unique(parent[~item_ok])
        plain_np[bad_rows] = False
        keep = np.isin(parent, bad_rows, invert=True)
        mask = pa.array(keep)
        parent, b_index = parent[keep], b_index[keep]
        take = pa.array(parent, pa.int64())
        items, codes, kk = items.filter(mask), codes.filter(mask), kk.filter(mask)
        fields = {name: arr.filter(mask) for name, arr in fields.items()}
    site = pc.coalesce(_text(pc.struct_field(items, "fixmedins_code")), _text(_column(table, "fixmedins_code").take(take)))
    channel = infno.take(take)
    kind = np.fromiter((_KIND[c[:4]] for c in channel.to_pylist()), np.int8, len(channel)) if len(channel) else \
        np.zeros(0, np.int8)
    kind_arr = pa.array(kind)

    def pick(names):
        return pc.coalesce(*(fields[name] for name in names)) if len(names) > 1 else fields[names[0]]

    def by_kind(groups):
        return pc.choose(kind_arr, *(pick(g) for g in groups)) if len(kind) else pick(groups[0])

    count, price, fund = by_kind(_QTY), pick(("finl_trns_pric", "pric")), pick(FUND_FIELDS)
    when = pc.coalesce(by_kind(_TIME), pick(ALL_TIME_FIELDS))
    split = pc.fill_null(pc.is_in(pc.utf8_lower(_text(fields["trdn_flag"])), pa.array(sorted(SPLIT_TRUE))), False)
    k = pc.cast(kk, pa.float64())
    quantity = pc.if_else(split, pc.divide(count, k),
                          pc.if_else(pc.fill_null(pc.less(count, 0.0), False), count, pa.scalar(1.0)))
    total = pc.divide(pc.multiply(price, pc.fill_null(count, 1.0)), k)
    names = np.array([INFNO_EVENT_TYPE[i] for i in INFNO_EVENT_TYPE], dtype=object)[kind]
    change = _text(fields["inv_chg_type"])
    transfer = pc.fill_null(pc.if_else(pc.equal(change, "101"), "transfer_in",
                                       pc.if_else(pc.equal(change, "102"), "transfer_out", "adjust")), "adjust")
    event_type = pc.if_else(pa.array(kind == _KIND["3502"]), transfer, pa.array(names, pa.string()))
    counterparty = pc.if_else(pa.array((kind == _KIND["3503"]) | (kind == _KIND["3504"])),
                              _text(fields["spler_name"]), _NULL_TEXT)
    msgid = _text(_column(table, "msgid").take(take))
    line = pa.array(np.asarray(lines)[parent], pa.int64())
    fallback_prefix = pc.binary_join_element_wise(pa.scalar(sha16), pc.cast(line, pa.string()), ":")
    prefix = pc.binary_join_element_wise(pc.coalesce(msgid, fallback_prefix), pc.cast(pa.array(b_index), pa.string()),
                                         pa.scalar(""), ":")
    item_columns = {
        "event_type": event_type, "event_time": _text(when), "site_id": site,
        "product_code": _text(fields["med_list_codg"]), "product_name": _text(fields["fixmedins_hilist_name"]),
        "batch": _text(fields["manu_lotnum"]), "expiry": _text(fields["expy_end"]), "quantity": quantity,
        "split_sale": pc.if_else(split, "1", "0"), "patient_id": _text(fields["psn_no"]),
        "prescriber_id": _text(pick(("prsc_dr_certno", "prsc_dr_name"))), "pharmacist_id": _text(fields["phar_certno"]),
        "settlement_id": _text(fields["setl_id"]), "fund_amount": pc.divide(fund, k), "total_amount": total,
        "counterparty": counterparty, "record_no": _text(pick(("fixmedins_bchno", "medins_prod_sel_no"))),
        "message_id": msgid, "visit_id": _text(pick(("mdtrt_sn", "mdtrt_id"))), "channel": channel, "_line": line,
    }
    per_code = pc.list_parent_indices(codes)
    repeats = kk.to_numpy(zero_copy_only=False).astype(np.int64)
    code_index = np.arange(int(repeats.sum())) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    out = {name: arr.take(per_code) for name, arr in item_columns.items()}
    out["trace_code"] = _text(pc.struct_field(pc.list_flatten(codes), "drug_trac_codg"))
    out["event_id"] = pc.binary_join_element_wise(prefix.take(per_code), pc.cast(pa.array(code_index), pa.string()),
                                                  "")
    m = len(code_index)
    result = pa.table([out[f.name] if f.name in out else pa.nulls(m, f.type) for f in schema], schema=schema)
    return result, plain_np
