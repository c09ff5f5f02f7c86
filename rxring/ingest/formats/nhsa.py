"""NHSA 进销存 messages (infno 3501–3507) → canonical records.

A message is ``{"infno": "3505", "msgid": ..., "fixmedins_code": ..., "input": {...}}``.
Its body sits under ``input.selinfo | purcinfo | invinfo | data`` as an object or a
list, or the fields sit at the top level.  Each body item lists its codes in
``drugtracinfo: [{"drug_trac_codg": ...}]`` or one ``drug_trac_codg``; every code is
one record.

=====  ===========================  ============================  ===================
infno  event_type                   time field                    quantity field
=====  ===========================  ============================  ===================
3501   inventory                    invdate / inv_time / inv_date inv_cnt
3502   transfer_in (inv_chg_type    inv_chg_time                  cnt
       101), transfer_out (102),
       adjust (other)
3503   inbound                      purc_retn_stoin_time          purc_retn_cnt
3504   purchase_return              purc_retn_stoin_time          purc_retn_cnt
3505   dispense                     sel_retn_time                 sel_retn_cnt
3506   refund                       sel_retn_time                 sel_retn_cnt
3507   deletion of earlier records  (fixmedins_bchno + inv_data_type)
=====  ===========================  ============================  ===================

Quantity and money: a whole-pack item listing k codes gives each code quantity 1
and total ``price × cnt / k``; a 拆零 item (``trdn_flag`` = 1) gives its code the
quantity ``cnt`` in smallest units and the total ``price × cnt``.  ``fund_amount``
comes from ``fund_pay_sumamt``, ``hifp_pay`` or ``基金支付`` when present (divided
over the codes like the total), else null.

Batch twins 3501A–3506A list their rows under ``input.invinfoDetail`` /
``purcinfoDetail`` / ``selinfoDetail`` (each row with its own ``drugtracinfo``); each
row becomes events exactly as the body item of its single-row twin does (the row's
index is the item).  A vendor's one ``drugtracinfo`` list beside the rows (in
``input`` or at the top level) is the codes of the only row when there is exactly
one; with more rows the rows without codes of their own are rejected (which row
holds which code cannot be told).

event_id is ``msgid:item:code`` so the same message in two overlapping exports is
one event; without a msgid it is ``sha16:line:item:code``.  Records carry the origin
columns (:data:`rxring.schema.EVENT_ORIGIN_SCHEMA`): ``message_id`` = msgid,
``visit_id`` = ``mdtrt_sn`` (else ``mdtrt_id``), ``channel`` = the infno as written
(``3505`` or ``3505A``).  An item of :func:`message_items` holds ``visit_id``; the
message's two (``message_id``, ``channel``) are added by the caller, once per message
(:func:`message_records`, the JSON reader's batcher), which keeps them off the
per-item path.

Messages of other interfaces (the settlement channel 2204/2207/2208/2301/2304/2305/
2601, and the ones that carry no trace code) are read by :mod:`.settlement`.
"""

from __future__ import annotations

__all__ = ["message_records", "message_items", "BODY_KEYS", "DETAIL_KEYS", "INFNO_EVENT_TYPE", "SCAN_INFNOS",
           "RECORD_FIELDS", "SPLIT_TRUE", "field_text", "field_number", "pick_field", "item_codes", "rejected_item",
           "TIME_FIELDS", "ALL_TIME_FIELDS", "QTY_FIELDS", "FUND_FIELDS", "message_fields", "detail_rows"]

BODY_KEYS = ("selinfo", "purcinfo", "invinfo", "data")
#: Where the batch twins (3501A-3506A) list their rows.
DETAIL_KEYS = ("selinfoDetail", "purcinfoDetail", "invinfoDetail")
INFNO_EVENT_TYPE = {
    "3501": "inventory",
    "3502": "adjust",
    "3503": "inbound",
    "3504": "purchase_return",
    "3505": "dispense",
    "3506": "refund",
}
TIME_FIELDS = {
    "3501": ("invdate", "inv_time", "inv_date"),
    "3502": ("inv_chg_time",),
    "3503": ("purc_retn_stoin_time",),
    "3504": ("purc_retn_stoin_time",),
    "3505": ("sel_retn_time",),
    "3506": ("sel_retn_time",),
}
ALL_TIME_FIELDS = ("sel_retn_time", "inv_chg_time", "purc_retn_stoin_time", "invdate", "inv_time", "inv_date")
QTY_FIELDS = {
    "3501": ("inv_cnt", "cnt"),
    "3502": ("cnt",),
    "3503": ("purc_retn_cnt",),
    "3504": ("purc_retn_cnt",),
    "3505": ("sel_retn_cnt",),
    "3506": ("sel_retn_cnt",),
}
#: The infnos read by :func:`message_items` (as written: the batch twins end in "A").
SCAN_INFNOS = frozenset([*INFNO_EVENT_TYPE, "3507", *(infno + "A" for infno in INFNO_EVENT_TYPE)])
FUND_FIELDS = ("fund_pay_sumamt", "hifp_pay", "基金支付", "fund_amount")
#: ``trdn_flag`` values (lower-cased text) that mark a 拆零 (split) sale.
SPLIT_TRUE = {"1", "1.0", "true", "是"}

# Columns of the records this module produces (all strings but the numbers).
RECORD_FIELDS = (
    "event_id", "trace_code", "event_type", "event_time", "site_id", "product_code", "product_name",
    "batch", "expiry", "quantity", "split_sale", "patient_id", "prescriber_id", "pharmacist_id",
    "settlement_id", "fund_amount", "total_amount", "counterparty", "record_no", "message_id", "visit_id", "channel",
    "_line", "_raw", "_reject",
)


def field_text(value) -> str | None:
    """Text of a field: stripped, None when missing or empty (12.0 -> "12")."""
    if value.__class__ is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def message_fields(item: dict, message: dict) -> dict:
    """The item's fields over the message's (an empty item value does not hide the message's)."""
    if item is message:
        return message
    fields = dict(message)
    for key, value in item.items():
        if value is not None and value != "":
            fields[key] = value
        elif key not in fields:
            fields[key] = value
    return fields


def pick_field(fields: dict, names) -> object:
    """The value of the first of ``names`` that is present and not empty (None: none is)."""
    for name in names:
        value = fields.get(name)
        if value is not None and value != "":
            return value
    return None


def field_number(value) -> float | None | str:
    """A float, None when absent, or the text itself when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return str(value)


def _bodies(message: dict) -> list:
    payload = message.get("input")
    if isinstance(payload, dict):
        for key in BODY_KEYS:
            if key in payload:
                body = payload[key]
                return body if isinstance(body, list) else [body]
        return [payload]
    if isinstance(payload, list):
        return payload
    for key in BODY_KEYS:
        if isinstance(message.get(key), (dict, list)):
            body = message[key]
            return body if isinstance(body, list) else [body]
    return [message]


def detail_rows(message: dict) -> tuple[list, list | None] | None:
    """A batch message's rows and the code list beside them (None: none), or None when it has no rows list."""
    payload = message.get("input")
    holder = payload if isinstance(payload, dict) else message
    for key in DETAIL_KEYS:
        if key in holder:
            rows = holder[key]
            break
    else:
        return None
    sibling = holder.get("drugtracinfo") if holder is not message else None
    if sibling is None:
        sibling = message.get("drugtracinfo")
    return (rows if isinstance(rows, list) else [rows]), sibling


def item_codes(item: dict, message: dict) -> list:
    """The codes an item lists (``drugtracinfo`` or ``drug_trac_codg``), else the message's (pass the item twice
    to read the item alone)."""
    info = item.get("drugtracinfo")
    if info is None and item is not message:
        info = message.get("drugtracinfo")
    if isinstance(info, dict):
        info = [info]
    if isinstance(info, list) and info:
        return [(d.get("drug_trac_codg") if isinstance(d, dict) else d) for d in info]
    code = item.get("drug_trac_codg") or (message.get("drug_trac_codg") if item is not message else None)
    if code in (None, ""):
        return []
    if isinstance(code, list):
        return code
    if code.__class__ is str and code.isascii() and code.isalnum():  # one code: what split_code_cell gives
        return [code]
    from ..normalise import split_code_cell

    return split_code_cell(str(code))


def message_records(message: dict, line: int, raw: str, sha16: str, source_file: str) -> tuple[list[dict], list[dict]]:
    """Records and deletions from one NHSA message.

    Parameters
    ----------
    message : dict
        The parsed message.
    line : int
        Its line (JSON Lines) or position (JSON array), 1-based.
    raw : str
        Its text, for quarantine rows.
    sha16 : str
        The source file's SHA-256 prefix (event ids of messages without msgid).
    source_file : str
        The file as named in the manifest.

    Returns
    -------
    records : list of dict
        One per code (keys :data:`RECORD_FIELDS`); items that cannot become events
        carry ``_reject``.
    deletions : list of dict
        3507 deletions: site_id, record_no, inv_data_type, msgid, source_file, source_line.

    See Also
    --------
    message_items : the same, one row per body item with its codes (what the reader uses).
    """
    items, deletions = message_items(message, line, sha16, source_file)
    records: list[dict] = []
    for base, codes, event_ids in items:
        for code, event_id in zip(codes, event_ids):
            record = dict(base)
            record["message_id"] = field_text(message.get("msgid"))
            record["channel"] = field_text(message.get("infno"))
            record["_raw"] = raw
            if code is not None or event_id is not None:
                record["trace_code"] = code
                record["event_id"] = event_id
            records.append(record)
    return records, deletions


def message_items(message: dict, line: int, sha16: str, source_file: str) -> tuple[list[tuple[dict, list, list]], list[dict]]:
    """Body items of one NHSA message, each with its codes, and its 3507 deletions.

    Returns
    -------
    items : list of (fields, codes, event_ids)
        ``fields`` holds every record column but ``trace_code``, ``event_id``,
        ``message_id`` and ``channel`` (the message's msgid and infno) and ``_raw``;
        ``codes`` and ``event_ids`` give one record each.  An item that
        cannot become events has ``_reject`` and the single code None.
    deletions : list of dict
        As in :func:`message_records`.
    """
    channel = infno = field_text(message.get("infno"))
    msgid = field_text(message.get("msgid"))
    site = field_text(message.get("fixmedins_code"))
    batch_rows = False
    sibling = unassignable = None
    if infno not in INFNO_EVENT_TYPE and infno is not None and infno[-1:] == "A" and infno[:-1] in INFNO_EVENT_TYPE:
        infno = infno[:-1]
        detail = detail_rows(message)
        if detail is not None:
            batch_rows = True
            bodies, sibling = detail
            if sibling and len(bodies) > 1:
                unassignable = (f"{channel} lists {len(bodies)} rows and one drugtracinfo beside them, not inside "
                                f"the rows: which row its codes belong to cannot be told")
        else:
            bodies = _bodies(message)  # a batch infno with a single-row body
    else:
        bodies = _bodies(message)
    items: list[tuple[dict, list, list]] = []
    deletions: list[dict] = []
    if infno == "3507":
        for item in bodies:
            item = item if isinstance(item, dict) else {}
            record_no = field_text(item.get("fixmedins_bchno") or item.get("medins_prod_sel_no"))
            if record_no is None:
                items.append(rejected_item(line, "3507 deletion without fixmedins_bchno"))
                continue
            deletions.append(
                {
                    "site_id": field_text(item.get("fixmedins_code")) or site,
                    "record_no": record_no,
                    "inv_data_type": field_text(item.get("inv_data_type")),
                    "key_kind": "record_no",
                    "msgid": msgid,
                    "source_file": source_file,
                    "source_line": line,
                }
            )
        return items, deletions
    if infno not in INFNO_EVENT_TYPE:
        why = "message has no infno" if infno is None else f"infno {infno} is not a 进销存 scan message (3501-3507)"
        return [rejected_item(line, why)], []
    for b, item in enumerate(bodies):
        if not isinstance(item, dict):
            items.append(rejected_item(line, f"body item {b} is not an object"))
            continue
        f = message_fields(item, message)
        event_type = INFNO_EVENT_TYPE[infno]
        if infno == "3502":
            change = field_text(f.get("inv_chg_type"))
            event_type = {"101": "transfer_in", "102": "transfer_out"}.get(change or "", "adjust")
        split = (field_text(f.get("trdn_flag")) or "0").lower() in SPLIT_TRUE
        count = field_number(pick_field(f, QTY_FIELDS[infno]))
        price = field_number(pick_field(f, ("finl_trns_pric", "pric")))
        fund = field_number(pick_field(f, FUND_FIELDS))
        if not batch_rows:
            codes = item_codes(item, message)
        else:  # a batch row: its own codes, else the list beside the rows when it is the only row
            codes = item_codes(item, item)
            if not codes and sibling and unassignable is None:
                beside = {"drugtracinfo": sibling}
                codes = item_codes(beside, beside)
        k = len(codes)
        reject = None
        if isinstance(count, str):
            reject = f"quantity '{count}' is not a number"
        elif isinstance(price, str):
            reject = f"price '{price}' is not a number"
        if not codes:
            codes = [None]
            reject = reject or unassignable or "no trace code in the message (drug_trac_codg / drugtracinfo)"
        kk = max(k, 1)
        if split:
            quantity = count / kk if isinstance(count, float) else None
        else:
            quantity = count if isinstance(count, float) and count < 0 else 1.0
        total = price * (count if isinstance(count, float) else 1.0) / kk if isinstance(price, float) else None
        fund_share = fund / kk if isinstance(fund, float) else None
        when = pick_field(f, TIME_FIELDS[infno]) or pick_field(f, ALL_TIME_FIELDS)
        base = {
            "event_type": event_type,
            "event_time": field_text(when),
            "site_id": field_text(item.get("fixmedins_code")) or site,
            "product_code": field_text(f.get("med_list_codg")),
            "product_name": field_text(f.get("fixmedins_hilist_name")),
            "batch": field_text(f.get("manu_lotnum")),
            "expiry": field_text(f.get("expy_end")),
            "quantity": quantity,
            "split_sale": "1" if split else "0",
            "patient_id": field_text(f.get("psn_no")),
            "prescriber_id": field_text(pick_field(f, ("prsc_dr_certno", "prsc_dr_name"))),
            "pharmacist_id": field_text(f.get("phar_certno")),
            "settlement_id": field_text(f.get("setl_id")),
            "fund_amount": fund_share,
            "total_amount": total,
            "counterparty": field_text(f.get("spler_name")) if infno in ("3503", "3504") else None,
            "record_no": field_text(pick_field(f, ("fixmedins_bchno", "medins_prod_sel_no"))),
            "visit_id": field_text(visit) if (visit := f.get("mdtrt_sn") or f.get("mdtrt_id")) is not None else None,
            "_line": line,
            "_reject": reject,
        }
        prefix = f"{msgid}:{b}:" if msgid else f"{sha16}:{line}:{b}:"
        items.append((base, [field_text(code) for code in codes], [prefix + str(c) for c in range(len(codes))]))
    return items, deletions


def rejected_item(line: int, why: str) -> tuple[dict, list, list]:
    """An item that cannot become events: one quarantined record of ``line`` with the reason ``why``."""
    return {"_line": line, "_reject": why}, [None], [None]
