"""The plain 进销存 message, read without the general reader's per-field work.

:func:`.nhsa.message_items` reads every shape a message can take and builds one
dict per body item, converting each of its twenty fields with
:func:`.nhsa.field_text` as it goes.  Most messages of a large export are plain:
a single-row 3501-3506 whose body is its top level, ``input`` itself, or an object
or a list of objects under ``input.selinfo | purcinfo | invinfo | data``, or a batch
twin 3501A-3506A whose detail rows are objects (the only row may take the code list
beside it), listing its codes and holding numbers where numbers go.  :func:`fast_rows` reads such a
message into :class:`FastRows` (a tuple per body item, raw field values), and
:meth:`FastRows.table` converts the raw values a column at a time (Arrow
``string`` arrays, trimmed with :data:`WHITESPACE` only when a value may need it).
The result is the table :func:`.nhsa.message_items` gives for the same messages,
row for row; anything else (another interface, another shape, an item without codes,
a quantity or price that is no number: whatever :func:`.nhsa.message_items` would
reject) makes :func:`fast_rows` return False, and the caller reads the message the
general way.  ``tests/ingest/test_nhsa_fast.py`` holds the two to each other.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..strings import has_empty, may_need_trim
from .nhsa import (ALL_TIME_FIELDS, FUND_FIELDS, QTY_FIELDS, TIME_FIELDS, BODY_KEYS, INFNO_EVENT_TYPE, SPLIT_TRUE,
                   detail_rows, message_fields, field_number, field_text, item_codes, pick_field)

__all__ = ["FastRows", "fast_rows", "WHITESPACE"]

#: The characters ``str.strip()`` removes, spelled out: computing them scans every code point, 0.1 s at each
#: import (tests/ingest/test_nhsa_fast.py holds the two to each other).
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

_PRICE_FIELDS = ("finl_trns_pric", "pric")
#: Every field fast_rows reads from an item's merged fields ``f``: a message holding none of them adds nothing to
#: its items' fields (``f`` is the item itself).
_READ_FROM_F = frozenset({"inv_chg_type", "trdn_flag", *(n for v in QTY_FIELDS.values() for n in v), "finl_trns_pric",
                          "pric", *FUND_FIELDS, *ALL_TIME_FIELDS, "med_list_codg", "fixmedins_hilist_name",
                          "manu_lotnum", "expy_end", "psn_no", "prsc_dr_certno", "prsc_dr_name", "phar_certno",
                          "setl_id", "spler_name", "fixmedins_bchno", "medins_prod_sel_no", "mdtrt_sn", "mdtrt_id"})
_PRESCRIBER_FIELDS = ("prsc_dr_certno", "prsc_dr_name")
_RECORD_FIELDS = ("fixmedins_bchno", "medins_prod_sel_no")
_TRANSFER = {"101": "transfer_in", "102": "transfer_out"}
# per infno: event type, quantity fields, time fields, whether spler_name is the counterparty
_PLAN = {infno + batch: (event_type, QTY_FIELDS[infno], TIME_FIELDS[infno], infno in ("3503", "3504"), batch == "A")
         for infno, event_type in INFNO_EVENT_TYPE.items() for batch in ("", "A")}

# the columns of an item tuple (see fast_rows); "raw" ones are converted by FastRows.table
_ITEM_COLUMNS = ("_line", "event_type", "event_time", "site_id", "product_code", "product_name", "batch", "expiry",
                 "quantity", "split_sale", "patient_id", "prescriber_id", "pharmacist_id", "settlement_id",
                 "fund_amount", "total_amount", "counterparty", "record_no", "visit_id", "message_id", "channel")
_RAW_TEXT = {"event_time", "product_code", "product_name", "batch", "expiry", "patient_id", "prescriber_id",
             "pharmacist_id", "settlement_id", "counterparty", "record_no", "visit_id"}
_NUMBERS = {"quantity", "fund_amount", "total_amount"}


class FastRows:
    """Plain messages' body items (raw values) and their codes, as :func:`fast_rows` collects them."""

    def __init__(self):
        self.items: list[tuple] = []
        self.repeats: list[int] = []
        self.codes: list = []
        self.prefixes: list[str] = []  # per item: its event ids without the code's index

    def table(self, schema: pa.Schema, raw: dict | None = None, sha16: str = "") -> pa.Table:
        """The records (one per code) with the columns of ``schema`` (the JSON reader's record schema).

        A text field holding a float of 2**63 or more may have been an integer literal that
        orjson reads as a float (Python's json reads it exactly): then the messages are read
        again from ``raw`` (line -> bytes) with ``json``, to give exactly Python's texts.
        """
        try:
            return self._table(schema, strict=True)
        except _BigInteger:
            exact = FastRows()
            for line in dict.fromkeys(item[0] for item in self.items):
                if not fast_rows(json.loads(raw[line]), line, sha16, exact):  # pragma: no cover - same message
                    raise AssertionError(f"line {line} read differently by orjson and json") from None
            return exact._table(schema, strict=False)

    def _table(self, schema: pa.Schema, strict: bool) -> pa.Table:
        columns = dict(zip(_ITEM_COLUMNS, zip(*self.items)))
        arrays = {}
        for name, values in columns.items():
            if name in _RAW_TEXT:
                arrays[name] = texts(values, strict)
            elif name in _NUMBERS:
                arrays[name] = pa.array(values, type=pa.float64())
            elif name == "_line":
                arrays[name] = pa.array(values, type=pa.int64())
            else:
                arrays[name] = pa.array(values, type=pa.string())
        prefixes = pa.array(self.prefixes, type=pa.string())
        repeats = np.asarray(self.repeats, dtype=np.int64)
        n = int(repeats.sum())
        if (repeats != 1).any():
            index = pa.array(np.repeat(np.arange(len(repeats)), repeats))
            arrays = {name: arr.take(index) for name, arr in arrays.items()}
            prefixes = prefixes.take(index)
            code_index = np.arange(n) - np.repeat(np.cumsum(repeats) - repeats, repeats)
        else:
            code_index = np.zeros(n, dtype=np.int64)
        arrays["trace_code"] = texts(self.codes, strict)
        arrays["event_id"] = pc.binary_join_element_wise(prefixes, pc.cast(pa.array(code_index), pa.string()), "")
        return pa.table([arrays[f.name] if f.name in arrays else pa.nulls(n, f.type) for f in schema], schema=schema)


class _BigInteger(Exception):
    """A text field holds a float that may have been an integer beyond 64 bits (see :meth:`FastRows.table`)."""


def texts(values, strict: bool = False) -> pa.Array:
    """:func:`.nhsa.field_text` of each value, as a ``string`` array (a column at a time when all are text).

    ``strict``: raise :class:`_BigInteger` for a float of 2**63 or more.
    """
    try:
        arr = pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        if strict and any(v.__class__ is float and abs(v) >= _BIG for v in values):
            raise _BigInteger from None
        return pa.array([field_text(v) for v in values], type=pa.string())
    if may_need_trim(arr):
        arr = pc.utf8_trim(arr, WHITESPACE)
    if has_empty(arr):
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    return arr


_BIG = float(2 ** 63)


def _pick(fields: dict, names: tuple):
    """:func:`.nhsa.pick_field`, without the call when the first name holds a value."""
    value = fields.get(names[0])
    if value is None or value == "":
        return pick_field(fields, names)
    return value


def _codes(item: dict, message: dict) -> list:
    """:func:`.nhsa.item_codes`, a list of code objects read inline."""
    info = item.get("drugtracinfo")
    if info.__class__ is list and info:
        return [d.get("drug_trac_codg") if d.__class__ is dict else d for d in info]
    return item_codes(item, message)


def _number(fields: dict, names: tuple):
    """:func:`.nhsa.field_number` of :func:`.nhsa.pick_field`, an int or float taken directly."""
    value = fields.get(names[0])
    if value is None or value == "":
        value = pick_field(fields, names)
        if value is None:  # (field_number(None))
            return None
    cls = value.__class__
    if cls is int or cls is float:
        return float(value)
    return field_number(value)


def fast_rows(message: dict, line: int, sha16: str, out: FastRows) -> bool:
    """Add a plain 进销存 message's items to ``out``; False (nothing added) when it is not plain.

    Gives exactly what :func:`.nhsa.message_items` gives for the message (with its
    msgid and infno as ``message_id`` and ``channel``); returns False for every
    message where that reading rejects something or takes another way.
    """
    channel = message.get("infno")
    plan = _PLAN.get(channel) if channel.__class__ is str else None
    if plan is None:
        return False
    event_type, qty_fields, time_fields, counterparty, batch = plan
    rows = detail_rows(message) if batch else None
    if rows is not None:  # a batch twin's rows: each with its own codes, or the only row with the list beside it
        bodies, sibling = rows
        is_message = False
        if not bodies or (sibling and len(bodies) > 1) or not all(b.__class__ is dict for b in bodies):
            return False
        sibling = {"drugtracinfo": sibling} if sibling else None
    else:
        sibling = None
        payload = message.get("input")
        if payload is None:
            for key in BODY_KEYS:
                if isinstance(message.get(key), (dict, list)):
                    return False
            bodies, is_message = (message,), True
        elif payload.__class__ is dict:
            is_message = False
            for key in BODY_KEYS:
                if key in payload:
                    body = payload[key]
                    if body.__class__ is dict:
                        bodies = (body,)
                    elif body.__class__ is list and body and all(b.__class__ is dict for b in body):
                        bodies = body
                    else:
                        return False
                    break
            else:
                bodies = (payload,)
        else:
            return False
    fallback = not is_message and not message.keys().isdisjoint(_READ_FROM_F)
    msgid, site = message.get("msgid"), message.get("fixmedins_code")
    if msgid.__class__ is float or site.__class__ is float:  # may be an integer beyond 64 bits (orjson: a float)
        return False
    msgid, site = field_text(msgid), field_text(site)
    prefix0 = f"{msgid}:" if msgid else f"{sha16}:{line}:"
    items, repeats, codes_out, prefixes = [], [], [], []
    for b, item in enumerate(bodies):
        if is_message:
            f = message
            codes = _codes(message, message)
        else:
            if fallback:  # message_fields(item, message), built only when the message holds a field read from f
                values = item.values()
                f = message_fields(item, message) if (None in values or "" in values) else {**message, **item}
            else:
                f = item
            if rows is None:
                codes = _codes(item, message)
            else:
                codes = _codes(item, item)
                if not codes and sibling is not None:
                    codes = item_codes(sibling, sibling)
        if not codes or message.get("drug_trac_codg").__class__ is float or (
                not is_message and item.get("drug_trac_codg").__class__ is float):
            return False  # (a code in one cell is made text before FastRows.table could see a float)
        count, price, fund = _number(f, qty_fields), _number(f, _PRICE_FIELDS), _number(f, FUND_FIELDS)
        if count.__class__ is str or price.__class__ is str:
            return False
        kk = len(codes)
        flag = f.get("trdn_flag")
        if flag is None:
            split = False
        elif flag.__class__ is str:
            split = flag.strip().lower() in SPLIT_TRUE
        else:
            split = (field_text(flag) or "0").lower() in SPLIT_TRUE
        if split:
            quantity = count / kk if count.__class__ is float else None
        else:
            quantity = count if count.__class__ is float and count < 0 else 1.0
        total = price * (count if count.__class__ is float else 1.0) / kk if price.__class__ is float else None
        kind = event_type
        if kind == "adjust":  # 3502
            kind = _TRANSFER.get(field_text(f.get("inv_chg_type")) or "", "adjust")
        own_site = None if is_message else item.get("fixmedins_code")
        row = (
            line, kind, _pick(f, time_fields) or _pick(f, ALL_TIME_FIELDS),
            site if own_site is None else (field_text(own_site) or site),
            f.get("med_list_codg"), f.get("fixmedins_hilist_name"), f.get("manu_lotnum"), f.get("expy_end"),
            quantity, "1" if split else "0", f.get("psn_no"), _pick(f, _PRESCRIBER_FIELDS), f.get("phar_certno"),
            f.get("setl_id"), fund / kk if fund.__class__ is float else None, total,
            f.get("spler_name") if counterparty else None, _pick(f, _RECORD_FIELDS),
            f.get("mdtrt_sn") or f.get("mdtrt_id"), msgid, channel,
        )
        if own_site.__class__ is float:  # (big integers in the other text fields: see FastRows.table)
            return False
        items.append(row)
        repeats.append(kk)
        codes_out.extend(codes)
        prefixes.append(f"{prefix0}{b}:")
    out.items.extend(items)
    out.repeats.extend(repeats)
    out.codes.extend(codes_out)
    out.prefixes.extend(prefixes)
    return True
