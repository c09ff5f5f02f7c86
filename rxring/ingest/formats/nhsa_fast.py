"""The plain 进销存 message, read without the general reader's per-field work.

:func:`.nhsa.message_items` reads every shape a message can take and builds one
dict per body item, converting each of its twenty fields with
:func:`.nhsa.field_text` as it goes.  Most messages of a large export are plain:
a single-row 3501-3506 whose body is its top level, ``input`` itself, or an object
or a list of objects under ``input.selinfo | purcinfo | invinfo | data``, listing
its codes and holding numbers where numbers go.  :func:`fast_rows` reads such a
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

import operator
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..strings import has_empty, may_need_trim
from .nhsa import (_ALL_TIME_FIELDS, _FUND_FIELDS, _QTY_FIELDS, _TIME_FIELDS, BODY_KEYS, INFNO_EVENT_TYPE, SPLIT_TRUE,
                   _fields, field_number, field_text, item_codes, pick_field)

__all__ = ["FastRows", "fast_rows", "WHITESPACE"]

#: The characters ``str.strip()`` removes.
WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())

_PRICE_FIELDS = ("finl_trns_pric", "pric")
_PRESCRIBER_FIELDS = ("prsc_dr_certno", "prsc_dr_name")
_RECORD_FIELDS = ("fixmedins_bchno", "medins_prod_sel_no")
_TRANSFER = {"101": "transfer_in", "102": "transfer_out"}
# per infno: event type, quantity fields, time fields, whether spler_name is the counterparty
_PLAN = {infno: (event_type, _QTY_FIELDS[infno], _TIME_FIELDS[infno], infno in ("3503", "3504"))
         for infno, event_type in INFNO_EVENT_TYPE.items()}

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
        self.event_ids: list[str] = []

    def __len__(self) -> int:
        return len(self.codes)

    def table(self, schema: pa.Schema) -> pa.Table:
        """The records (one per code) with the columns of ``schema`` (the JSON reader's record schema)."""
        columns = dict(zip(_ITEM_COLUMNS, zip(*self.items)))
        arrays = {}
        for name, values in columns.items():
            if name in _RAW_TEXT:
                arrays[name] = texts(values)
            elif name in _NUMBERS:
                arrays[name] = pa.array(values, type=pa.float64())
            elif name == "_line":
                arrays[name] = pa.array(values, type=pa.int64())
            else:
                arrays[name] = pa.array(values, type=pa.string())
        repeats = np.asarray(self.repeats, dtype=np.int64)
        n = int(repeats.sum())
        if (repeats != 1).any():
            index = pa.array(np.repeat(np.arange(len(repeats)), repeats))
            arrays = {name: arr.take(index) for name, arr in arrays.items()}
        arrays["trace_code"] = texts(self.codes)
        arrays["event_id"] = pa.array(self.event_ids, type=pa.string())
        return pa.table([arrays[f.name] if f.name in arrays else pa.nulls(n, f.type) for f in schema], schema=schema)


def texts(values) -> pa.Array:
    """:func:`.nhsa.field_text` of each value, as a ``string`` array (a column at a time when all are text)."""
    try:
        arr = pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([field_text(v) for v in values], type=pa.string())
    if may_need_trim(arr):
        arr = pc.utf8_trim(arr, WHITESPACE)
    if has_empty(arr):
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    return arr


def _pick(fields: dict, names: tuple):
    """:func:`.nhsa.pick_field`, without the call when the first name holds a value."""
    value = fields.get(names[0])
    if value is None or value == "":
        return pick_field(fields, names)
    return value


def _number(fields: dict, names: tuple):
    """:func:`.nhsa.field_number` of :func:`.nhsa.pick_field`, an int or float taken directly."""
    value = fields.get(names[0])
    if value is None or value == "":
        value = pick_field(fields, names)
    cls = value.__class__
    if cls is int or cls is float:
        return float(value)
    return field_number(value)


_raw_texts = operator.itemgetter(*(i for i, name in enumerate(_ITEM_COLUMNS) if name in _RAW_TEXT))


def fast_rows(message: dict, line: int, sha16: str, out: FastRows) -> bool:
    """Add a plain single-row 进销存 message's items to ``out``; False (nothing added) when it is not plain.

    Gives exactly what :func:`.nhsa.message_items` gives for the message (with its
    msgid and infno as ``message_id`` and ``channel``); returns False for every
    message where that reading rejects something or takes another way.
    """
    channel = message.get("infno")
    plan = _PLAN.get(channel) if channel.__class__ is str else None
    if plan is None:
        return False
    event_type, qty_fields, time_fields, counterparty = plan
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
    msgid, site = message.get("msgid"), message.get("fixmedins_code")
    if msgid.__class__ is float or site.__class__ is float:
        return False
    msgid, site = field_text(msgid), field_text(site)
    prefix0 = f"{msgid}:" if msgid else f"{sha16}:{line}:"
    items, repeats, codes_out, ids_out = [], [], [], []
    for b, item in enumerate(bodies):
        if is_message:
            f = message
            codes = item_codes(message, message)
        else:
            values = item.values()
            f = _fields(item, message) if (None in values or "" in values) else {**message, **item}
            codes = item_codes(item, message)
        if not codes or float in set(map(type, codes)) or f.get("drug_trac_codg").__class__ is float:
            return False
        count, price, fund = _number(f, qty_fields), _number(f, _PRICE_FIELDS), _number(f, _FUND_FIELDS)
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
            line, kind, _pick(f, time_fields) or _pick(f, _ALL_TIME_FIELDS),
            site if own_site is None else (field_text(own_site) or site),
            f.get("med_list_codg"), f.get("fixmedins_hilist_name"), f.get("manu_lotnum"), f.get("expy_end"),
            quantity, "1" if split else "0", f.get("psn_no"), _pick(f, _PRESCRIBER_FIELDS), f.get("phar_certno"),
            f.get("setl_id"), fund / kk if fund.__class__ is float else None, total,
            f.get("spler_name") if counterparty else None, _pick(f, _RECORD_FIELDS),
            f.get("mdtrt_sn") or f.get("mdtrt_id"), msgid, channel,
        )
        # orjson reads an integer beyond 64 bits as a float, Python's json as an integer: their texts differ
        if float in set(map(type, _raw_texts(row))) or float in {flag.__class__, own_site.__class__,
                                                                  f.get("inv_chg_type").__class__}:
            return False
        items.append(row)
        repeats.append(kk)
        codes_out.extend(codes)
        prefix = f"{prefix0}{b}:"
        ids_out.extend([prefix + str(c) for c in range(kk)] if kk > 1 else (prefix + "0",))
    out.items.extend(items)
    out.repeats.extend(repeats)
    out.codes.extend(codes_out)
    out.event_ids.extend(ids_out)
    return True
