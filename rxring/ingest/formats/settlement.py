"""NHSA messages beyond the 进销存 scans: the settlement channel ("channel A") and the rest.

Since 2025 institutions also report the codes they dispense through the settlement
itself.  A message is read here when its infno is not one of
:data:`~rxring.ingest.formats.nhsa.SCAN_INFNOS` (those are :func:`.nhsa.message_items`):

=====  ==============================  =========================================================
infno  message                         becomes
=====  ==============================  =========================================================
2204   outpatient fee details          one fee-detail row per ``input.feedetail[]`` line, kept in
2301   inpatient fee details           the workspace (:mod:`rxring.ingest.feedetails`)
2207   outpatient settlement           one ``dispense`` per ``drug_trac_info[]`` code
2304   inpatient settlement            (see :func:`settlement_items`)
2208   outpatient settlement cancelled one deletion, ``key_kind`` ``settlement_id`` (``setl_id``)
2305   inpatient settlement cancelled  one deletion, ``key_kind`` ``settlement_id``
2601   reversal (冲正)                  one deletion, ``key_kind`` ``message_id`` (``omsgid``)
other  carries no trace code            skipped, counted by infno (9001 sign-in, 1101, 2201 ...)
=====  ==============================  =========================================================

A message of another interface that does hold a trace code (``drug_trac``
anywhere in it) is quarantined instead of skipped: a code is never dropped unseen.

Request/response logs: a message may carry the response beside its request
(``{"infno": ..., "input": ..., "output": ...}``), or sit in an envelope holding both
(``{"request": {...}, "response": {...}}``, also ``req``/``resp``, each an object or a
JSON string; :func:`unwrap_envelope`).  A response whose ``infcode`` is negative
means the call failed: its settlement or cancellation did not happen (quarantined).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ...rules.events import INV_DATA_TYPES
from .nhsa import (SCAN_INFNOS, SPLIT_TRUE, field_number, field_text, item_codes, message_items, pick_field,
                   rejected_item)

__all__ = ["ChannelResult", "channel_message", "unwrap_envelope", "missing_fee_note", "FEE_DETAIL_INFNOS",
           "SETTLEMENT_INFNOS", "CANCEL_INFNOS", "REVERSAL_INFNO", "ENVELOPE_KEYS", "MISSING_FEE_NOTE", "MIN_UNIT_SPLIT"]

FEE_DETAIL_INFNOS = ("2204", "2301")
SETTLEMENT_INFNOS = ("2207", "2304")
CANCEL_INFNOS = ("2208", "2305")
REVERSAL_INFNO = "2601"
#: (request keys, response keys) of a request/response envelope.
ENVELOPE_KEYS = (("request", "req"), ("response", "resp"))
#: ``min_prcunt_type`` values that say a code was sold in the smallest unit (最小制剂单位: 拆零), read when the
#: entry has no ``trdn_flag`` (1 = the smallest package, a whole pack).
MIN_UNIT_SPLIT = frozenset({"2"})
#: The data-quality note of a settlement code whose fee detail was not found (counted per input).
MISSING_FEE_NOTE = ("settlement trace code(s) name a fee detail (feedetl_sn) not read before them (in this file, an "
                    "earlier file or the workspace): dispensed without the product, price and prescriber it gives")


@dataclass
class ChannelResult:
    """What one message gives besides scan items.

    Attributes
    ----------
    items : list of (fields, codes, event_ids)
        As :func:`.nhsa.message_items` (dispenses of a settlement, rejected items;
        the caller adds ``message_id`` and ``channel``, the message's msgid and infno).
    deletions : list of dict
        Cancellations and reversals (rows of :data:`rxring.ingest.store.DELETION_SCHEMA`).
    fee_details : list of dict
        Rows of :data:`rxring.ingest.feedetails.FEE_DETAIL_SCHEMA`.
    skipped : str or None
        The infno of a message skipped because it carries no trace code.
    missing_fee : list of (line, feedetl_sn)
        Settlement codes whose fee detail was not found.
    deferred : bool
        A settlement read with a partial look-up that names a fee detail not found in it:
        nothing was read, the caller reads the message again once it knows more.
    """

    items: list = field(default_factory=list)
    deletions: list = field(default_factory=list)
    fee_details: list = field(default_factory=list)
    skipped: str | None = None
    missing_fee: list = field(default_factory=list)
    deferred: bool = False


def missing_fee_note(count: int, first: tuple) -> str:
    """The data-quality note of an input whose settlements named ``count`` fee details not found.

    Examples
    --------
    >>> missing_fee_note(2, (4, "P1")).startswith("data quality: 2 settlement trace code(s)")
    True
    """
    line, sn = first
    return f"data quality: {count} {MISSING_FEE_NOTE} (first: line {line}, feedetl_sn {sn})"


def _loaded(value):
    """A request or response given as a JSON string, parsed (None when it is not JSON)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value


def unwrap_envelope(obj: dict) -> dict | None:
    """The message of a request/response envelope, the response as its ``output``; None when ``obj`` is none.

    Examples
    --------
    >>> m = unwrap_envelope({"request": {"infno": "2207", "input": {}}, "response": {"infcode": 0, "output": {"setlinfo": {}}}})
    >>> m["infno"], m["output"], m["infcode"]
    ('2207', {'setlinfo': {}}, 0)
    """
    requests, responses = ENVELOPE_KEYS
    request = next((obj[k] for k in requests if k in obj), None)
    request = _loaded(request)
    if not isinstance(request, dict) or "infno" not in request:
        return None
    message = dict(request)
    response = _loaded(next((obj[k] for k in responses if k in obj), None))
    if isinstance(response, dict):
        if "output" not in message:
            message["output"] = response.get("output", response)
        for key in ("infcode", "err_msg"):
            if key in response and key not in message:
                message[key] = response[key]
    return message


def _failed(message: dict) -> str | None:
    """Why the response says the call failed (negative infcode), or None."""
    code = field_number(message.get("infcode"))
    if isinstance(code, float) and code < 0:
        why = field_text(message.get("err_msg"))
        return f"infcode {field_text(message.get('infcode'))}" + (f": {why}" if why else "")
    return None


def _request(message: dict) -> tuple[dict, dict]:
    """(input, the request's data object) of a settlement-side message."""
    payload = message.get("input")
    payload = payload if isinstance(payload, dict) else message
    data = payload.get("data")
    return payload, (data if isinstance(data, dict) else payload)


def channel_message(message: dict, line: int, raw: str, sha16: str, source_file: str, fees=None) -> ChannelResult:
    """Read one NHSA message that is not a 进销存 scan (see the module's table).

    Parameters
    ----------
    message : dict
        The message (an envelope already unwrapped).
    line : int
        Its line or position, 1-based.
    raw : str
        Its text (a message of an unknown interface holding ``drug_trac`` is quarantined).
    sha16, source_file : str
        As :func:`.nhsa.message_items`.
    fees : FeeLookup or None
        Where a settlement's fee details are looked up; a 2204 / 2301 message adds
        its lines to it.
    """
    infno = field_text(message.get("infno"))
    out = ChannelResult()
    if infno is None or infno in SCAN_INFNOS:  # (an infno written as a number, or in an envelope)
        out.items, out.deletions = message_items(message, line, sha16, source_file)
    elif infno in FEE_DETAIL_INFNOS:
        out.items, out.fee_details = fee_detail_rows(message, infno, line, source_file)
        if fees is not None:
            fees.add(out.fee_details)
    elif infno in SETTLEMENT_INFNOS:
        settlement_items(message, infno, line, sha16, fees, out)
    elif infno in CANCEL_INFNOS or infno == REVERSAL_INFNO:
        cancellation(message, infno, line, source_file, out)
    elif "drug_trac" in raw:
        out.items.append(rejected_item(line, f"infno {infno} is not an interface rxring reads (3501-3507, 3501A-3506A, "
                                         f"2204, 2207, 2208, 2301, 2304, 2305, 2601), yet the message holds trace codes"))
    else:
        out.skipped = infno
    return out


#: Text columns of a fee-detail row <- the ``feedetail`` fields they are read from (the first present).
_FEE_TEXT = {
    "site_id": ("fixmedins_code",),  # else the message's
    "visit_id": ("mdtrt_id",),
    "patient_id": ("psn_no",),
    "product_code": ("med_list_codg",),
    "medins_list_codg": ("medins_list_codg",),
    "product_name": ("medins_list_name", "fixmedins_hilist_name", "med_list_name"),
    "fee_time": ("fee_ocur_time",),
    "prescriber_id": ("bilg_dr_codg", "bilg_dr_name"),
    "prescriber_name": ("bilg_dr_name",),
    "rxno": ("rxno",),
}


def fee_detail_rows(message: dict, infno: str, line: int, source_file: str) -> tuple[list, list]:
    """(rejected items, fee-detail rows) of a 2204 / 2301 message."""
    payload, data = _request(message)
    rows = payload.get("feedetail", data.get("feedetail"))
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not rows:
        return [rejected_item(line, f"{infno} fee-detail message without feedetail lines")], []
    site = field_text(message.get("fixmedins_code"))
    msgid = field_text(message.get("msgid"))
    rejected, out = [], []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            rejected.append(rejected_item(line, f"feedetail line {i} is not an object"))
            continue
        sn = field_text(row.get("feedetl_sn"))
        numbers = {name: field_number(row.get(name)) for name in ("cnt", "pric", "det_item_fee_sumamt")}
        bad = next((f"feedetail line {i}: {name} '{value}' is not a number" for name, value in numbers.items()
                    if isinstance(value, str)), None)
        if sn is None or bad:
            rejected.append(rejected_item(line, bad or f"feedetail line {i} has no feedetl_sn"))
            continue
        cnt, price, total = numbers["cnt"], numbers["pric"], numbers["det_item_fee_sumamt"]
        if total is None and cnt is not None and price is not None:
            total = cnt * price
        fee = {column: field_text(row.get(names[0]) if len(names) == 1 else pick_field(row, names))
               for column, names in _FEE_TEXT.items()}  # (one name: pick_field's value or "" or None, the same text)
        fee.update(site_id=fee["site_id"] or site, feedetl_sn=sn, quantity=cnt, price=price, total_amount=total,
                   infno=infno, msgid=msgid, source_file=source_file, source_line=line)
        out.append(fee)
    return rejected, out


def settlement_items(message: dict, infno: str, line: int, sha16: str, fees, out: ChannelResult) -> None:
    """Dispenses of a 2207 / 2304 settlement: one per ``drug_trac_info`` code (items into ``out``).

    Each code is a ``dispense`` at ``fixmedins_code`` to the settlement's ``psn_no``;
    product (``med_list_codg``), prescriber (``bilg_dr_codg``), quantity and money
    come from the fee-detail line its ``feedetl_sn`` names.  A whole-pack code
    (``trdn_flag`` 0) is one pack and a share of the line's ``det_item_fee_sumamt``
    (the line's total over the codes naming it); a 拆零 code (``trdn_flag`` 1) keeps
    the line's ``cnt`` (over the codes naming it) in smallest units; an entry without
    ``trdn_flag`` is 拆零 when its ``min_prcunt_type`` is 2 (sold in the smallest unit,
    :data:`MIN_UNIT_SPLIT`).  The time is the
    response's ``setl_time``, else the fee line's ``fee_ocur_time``, else the
    message's ``inf_time``.  ``fund_amount`` is the response's ``fund_pay_sumamt``
    shared in proportion to the line's money (of ``medfee_sumamt``), or evenly over
    the codes when no code's fee line is known.
    """
    payload, data = _request(message)
    info = payload.get("drug_trac_info", data.get("drug_trac_info", message.get("drug_trac_info")))
    if isinstance(info, dict):
        info = [info]
    if not isinstance(info, list) or not info:
        out.skipped = infno  # a settlement that names no code (no drug, or not reported this way)
        return
    failed = _failed(message)
    if failed:  # each code is quarantined (read counts codes)
        failed = f"{infno} settlement failed ({failed}): its codes were not dispensed"
    output = message.get("output")
    setl = output.get("setlinfo") if isinstance(output, dict) else None
    if not isinstance(setl, dict):
        setl = output if isinstance(output, dict) and "setl_id" in output else {}
    site = field_text(message.get("fixmedins_code"))
    msgid = field_text(message.get("msgid"))
    patient = field_text(data.get("psn_no")) or field_text(setl.get("psn_no"))
    visit = field_text(data.get("mdtrt_id")) or field_text(setl.get("mdtrt_id"))
    settlement = field_text(setl.get("setl_id")) or field_text(data.get("setl_id"))
    setl_time = field_text(setl.get("setl_time")) or field_text(data.get("setl_time"))
    fund = field_number(pick_field(setl, ("fund_pay_sumamt", "hifp_pay")))
    medfee = field_number(pick_field(setl, ("medfee_sumamt",))) or field_number(data.get("medfee_sumamt"))
    fund_bad = isinstance(fund, str) or isinstance(medfee, str)
    per_line: dict = {}  # codes naming each fee line (a dict: Counter costs more on this hot path)
    for e in info:
        if isinstance(e, dict):
            sn = field_text(e.get("feedetl_sn"))
            per_line[sn] = per_line.get(sn, 0) + 1
    found = {sn: (fees.get(site, sn) if fees is not None and sn is not None else None) for sn in per_line}
    if fees is not None and fees.partial and any(sn is not None and row is None for sn, row in found.items()):
        out.deferred = True  # the fee detail may be in the part of the file this reader does not see
        return
    any_fee = any(found.values())
    n_codes = sum(per_line.values())
    prefix = f"{msgid}:" if msgid else f"{sha16}:{line}:"
    for i, entry in enumerate(info):
        if not isinstance(entry, dict):
            out.items.append(rejected_item(line, f"drug_trac_info entry {i} is not an object"))
            continue
        sn = field_text(entry.get("feedetl_sn"))
        fee = found.get(sn)
        k_line = per_line[sn]
        flag = field_text(entry.get("trdn_flag"))
        split = (flag.lower() in SPLIT_TRUE if flag is not None
                 else field_text(entry.get("min_prcunt_type")) in MIN_UNIT_SPLIT)
        reject = failed or ("settlement money is not a number" if fund_bad else None)
        if fee is None:  # no product, price or prescriber; a 拆零 code's quantity unknown (the default, 1)
            out.missing_fee.append((line, sn))
            quantity, total, line_money, fee = (None if split else 1.0), None, None, {}
        else:
            cnt, line_money = fee.get("quantity"), fee.get("total_amount")
            quantity = (cnt / k_line if cnt is not None else None) if split else 1.0
            total = line_money / k_line if line_money is not None else None
        fund_share = None
        if isinstance(fund, float) and not fund_bad:
            if line_money is not None and isinstance(medfee, float) and medfee > 0:
                fund_share = fund * line_money / medfee / k_line
            elif not any_fee:
                fund_share = fund / n_codes
        codes = item_codes(entry, entry)
        if not codes:
            codes = [None]
            reject = reject or "drug_trac_info entry without drug_trac_codg"
        base = {
            "event_type": "dispense",
            "event_time": setl_time or fee.get("fee_time") or field_text(message.get("inf_time")),
            "site_id": site,
            "product_code": fee.get("product_code"),
            "product_name": fee.get("product_name"),
            "quantity": quantity,
            "split_sale": "1" if split else "0",
            "patient_id": patient or fee.get("patient_id"),
            "prescriber_id": fee.get("prescriber_id"),
            "settlement_id": settlement,
            "fund_amount": fund_share if len(codes) == 1 else (fund_share / len(codes) if fund_share else fund_share),
            "total_amount": total if len(codes) == 1 or total is None else total / len(codes),
            "record_no": sn,
            "visit_id": visit or fee.get("visit_id"),
            "_line": line,
            "_reject": reject,
        }
        out.items.append((base, codes, [f"{prefix}{i}:{c}" for c in range(len(codes))]))


def cancellation(message: dict, infno: str, line: int, source_file: str, out: ChannelResult) -> None:
    """A 2208 / 2305 cancellation (by ``setl_id``) or a 2601 reversal (by ``omsgid``) as one deletion."""
    failed = _failed(message)
    what = "reversal" if infno == REVERSAL_INFNO else "cancellation"
    if failed:
        out.items.append(rejected_item(line, f"{infno} {what} failed ({failed}): nothing was undone"))
        return
    _, data = _request(message)
    record = {
        "record_no": None,
        "site_id": field_text(data.get("fixmedins_code")) or field_text(message.get("fixmedins_code")),
        "msgid": field_text(message.get("msgid")),
        "infno": infno,
        "patient_id": field_text(data.get("psn_no")),
        "visit_id": field_text(data.get("mdtrt_id")),
        "source_file": source_file,
        "source_line": line,
    }
    if infno == REVERSAL_INFNO:
        undone = field_text(data.get("omsgid")) or field_text(message.get("omsgid"))
        if undone is None:
            out.items.append(rejected_item(line, "2601 reversal without omsgid (the message it undoes)"))
            return
        oinfno = field_text(data.get("oinfno")) or field_text(message.get("oinfno"))
        record.update(key_kind="message_id", undone_msgid=undone, inv_data_type=oinfno)
        if oinfno in SETTLEMENT_INFNOS:
            record["event_type"] = "dispense"
        elif oinfno not in INV_DATA_TYPES:
            record["event_type"] = None  # any type (a 2208 undone, an infno not given: the analysis decides)
        # else a 进销存 infno: one row per event type it names (rules.events.deletion_rows), as for 3507
    else:
        settlement = field_text(data.get("setl_id")) or field_text(message.get("setl_id"))
        if settlement is None:
            out.items.append(rejected_item(line, f"{infno} settlement cancellation without setl_id"))
            return
        record.update(key_kind="settlement_id", settlement_id=settlement, inv_data_type=None, event_type="dispense")
    out.deletions.append(record)
