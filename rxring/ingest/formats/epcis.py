"""GS1 EPCIS 2.0 JSON-LD ObjectEvents → canonical records.

Each EPC of an ObjectEvent's ``epcList`` is one record.  ``bizStep`` may be a short
name (``shipping``), a CBV URN (``urn:epcglobal:cbv:bizstep:shipping``) or a web
URI (``https://ref.gs1.org/cbv/BizStep-shipping``):

=================================================  =================
bizStep                                            event_type
=================================================  =================
receiving, accepting, arriving                     inbound; refund when disposition is ``returned``;
                                                   transfer_in when the first source's type is
                                                   ``location`` or ``possessing_party`` (the owner
                                                   did not change: a move between a chain's sites)
shipping, departing                                transfer_out (purchase_return when disposition is ``returned``)
dispensing, retail_selling                         dispense
decommissioning, destroying                        adjust
inspecting, cycle_counting, stock_taking           inventory
=================================================  =================

Other bizSteps (commissioning, packing, …) are not pharmacy scans and are
quarantined with the reason.  The site is ``bizLocation.id`` (else ``readPoint.id``),
kept exactly as given (an SGLN URI or a plain id).  ``eventTime`` is converted from
its offset (or ``eventTimeZoneOffset``) to Asia/Shanghai.  The counterparty is the
first destination (shipping) or source (receiving).  event_id is ``eventID:epc``
when the event has an ``eventID``, else ``sha16:line:event:epc``.
"""

from __future__ import annotations

import re

__all__ = ["event_records", "document_events", "BIZSTEP_EVENT_TYPE"]

BIZSTEP_EVENT_TYPE = {
    "receiving": "inbound",
    "accepting": "inbound",
    "arriving": "inbound",
    "shipping": "transfer_out",
    "departing": "transfer_out",
    "dispensing": "dispense",
    "retail_selling": "dispense",
    "decommissioning": "adjust",
    "destroying": "adjust",
    "inspecting": "inventory",
    "cycle_counting": "inventory",
    "stock_taking": "inventory",
}
_OFFSET_AT_END = re.compile(r"(?:[zZ]|[+-]\d{2}:?\d{2})$")


def _short(value) -> str | None:
    """``urn:epcglobal:cbv:bizstep:shipping`` / ``https://ref.gs1.org/cbv/BizStep-shipping`` → ``shipping``."""
    if not value:
        return None
    text = str(value).strip()
    text = re.split(r"[:/]", text)[-1]
    if "-" in text and text.lower().startswith(("bizstep-", "disp-", "sdt-", "btt-")):
        text = text.split("-", 1)[1]
    return text.lower()


def _id(value) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value).strip() if value not in (None, "") else None


_LOCATION_TYPES = ("location", "possessing_party")


def _party_type(parties, key: str) -> str | None:
    """The CBV source/destination type of the first party (``location``, ``owning_party`` …)."""
    if isinstance(parties, list):
        for party in parties:
            if isinstance(party, dict) and party.get(key):
                return _short(party.get("type"))
    return None


def _first_party(parties, key: str) -> str | None:
    if isinstance(parties, list):
        for party in parties:
            if isinstance(party, dict) and party.get(key):
                return str(party[key])
    return None


def document_events(document) -> list | None:
    """The event list of an EPCIS document (or a bare list of events), else None."""
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        return None
    body = document.get("epcisBody")
    if isinstance(body, dict):
        events = body.get("eventList") or body.get("EventList") or []
        return events if isinstance(events, list) else [events]
    if document.get("type") in ("ObjectEvent", "AggregationEvent", "TransformationEvent", "AssociationEvent", "TransactionEvent"):
        return [document]
    return None


def event_records(event: dict, line: int, index: int, sha16: str) -> list[dict]:
    """Records from one EPCIS event (one per EPC; one rejected record when none can be made)."""
    if not isinstance(event, dict):
        return [{"_line": line, "_reject": "EPCIS event is not an object"}]
    kind = event.get("type") or event.get("isA")
    if kind != "ObjectEvent":
        return [{"_line": line, "_reject": f"EPCIS {kind or 'event without type'} is not read; only ObjectEvents carry pack scans"}]
    step = _short(event.get("bizStep"))
    disposition = _short(event.get("disposition"))
    event_type = BIZSTEP_EVENT_TYPE.get(step or "")
    if event_type == "transfer_out" and disposition == "returned":
        event_type = "purchase_return"
    elif event_type == "inbound" and disposition == "returned":
        event_type = "refund"
    elif event_type == "inbound" and _party_type(event.get("sourceList"), "source") in _LOCATION_TYPES:
        event_type = "transfer_in"
    epcs = event.get("epcList") or []
    if isinstance(epcs, str):
        epcs = [epcs]
    when = event.get("eventTime")
    offset = event.get("eventTimeZoneOffset")
    if isinstance(when, str) and offset and not _OFFSET_AT_END.search(when.strip()):
        when = when.strip() + str(offset).strip()
    reject = None
    if event_type is None:
        reject = f"bizStep '{event.get('bizStep')}' is not a pharmacy scan (receiving, shipping, dispensing, …)"
    if not epcs:
        epcs = [None]
        if event.get("quantityList"):
            reject = reject or "class-level quantityList without serial EPCs: no pack trace codes"
        else:
            reject = reject or "ObjectEvent without epcList"
    counterparty = None
    if event_type in ("transfer_out", "purchase_return"):
        counterparty = _first_party(event.get("destinationList"), "destination")
    elif event_type in ("inbound", "refund", "transfer_in"):
        counterparty = _first_party(event.get("sourceList"), "source")
    event_id = event.get("eventID")
    base = {
        "event_type": event_type,
        "event_time": str(when) if when is not None else None,
        "site_id": _id(event.get("bizLocation")) or _id(event.get("readPoint")),
        "counterparty": counterparty,
        "_line": line,
        "_reject": reject,
    }
    records = []
    for e, epc in enumerate(epcs):
        record = dict(base)
        record["trace_code"] = str(epc) if epc is not None else None
        record["event_id"] = f"{event_id}:{e}" if event_id else f"{sha16}:{line}:{index}:{e}"
        records.append(record)
    return records
