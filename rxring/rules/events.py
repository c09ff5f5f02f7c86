"""The events that count: one definition for every engine and every reader.

An ingested workspace may hold events that no rule should judge.  What counts is
decided here and in ``sql/counted.sql``, nowhere else:

* **deletions** (``deletions.parquet``, :func:`deletions_frame`): an event matched
  by a deletion does not count — only at the deletion's site when it names one,
  and only for the event types it names.  NHSA 3507 deletes by ``record_no``
  (fixmedins_bchno / medins_prod_sel_no; types from ``inv_data_type``,
  :data:`INV_DATA_TYPES`, a deletion without a known type matches every type);
  a 2208 / 2305 settlement cancellation deletes the dispenses of its
  ``settlement_id``; a 2601 reversal (冲正) deletes the events of the message it
  names (``message_id``, from the NHSA parts' origin columns), and a deletion
  whose own message is reversed does not apply;
* **repeated event ids** (the same line ingested twice, one NHSA message in two
  overlapping exports): of the rows that are not deleted, the first by
  ``source_file``, ``source_line``, then ``row_key`` (the input's row position:
  part file by name, then row in the part) counts;
* **incomplete rows** (no trace_code, event_time or site_id; ingest quarantines
  them, this guards hand-made tables) do not count.

``sql/counted.sql`` is that definition as a query over the input relations
``events_raw`` (:data:`rxring.schema.EVENT_SCHEMA` + ``row_key``) and
``deletions`` (:func:`deletions_frame`); every engine registers it as the view
:data:`COUNTED_VIEW`: the rules' first stage reads it, the Neo4j loader loads
exactly its rows (:func:`rxring.backends.duckdb.counted_events`), and so does
:func:`rxring.ingest.read_events`.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["INV_DATA_TYPES", "COUNTED_VIEW", "DELETION_COLUMNS", "DELETION_KEYS", "counted_sql", "deletion_rows",
           "deletions_frame", "products_frame"]

#: NHSA 3507 ``inv_data_type`` (进销存数据类型), or the infno of the deleted message,
#: -> the event types a deletion removes.
INV_DATA_TYPES: dict[str, tuple[str, ...]] = {
    "1": ("inventory",),
    "2": ("adjust", "transfer_in", "transfer_out"),
    "3": ("inbound", "purchase_return"),
    "4": ("dispense", "refund"),
    "3501": ("inventory",),
    "3502": ("adjust", "transfer_in", "transfer_out"),
    "3503": ("inbound",),
    "3504": ("purchase_return",),
    "3505": ("dispense",),
    "3506": ("refund",),
}

#: The view every engine registers over ``events_raw`` and ``deletions``.
COUNTED_VIEW = "counted"

#: Columns of the normalised deletions relation (:func:`deletions_frame`; event_type and
#: site_id None match any).
DELETION_COLUMNS = ("key_kind", "key", "event_type", "site_id")


def counted_sql() -> str:
    """The text of ``sql/counted.sql`` (no placeholders)."""
    return resources.files(__package__).joinpath("sql", "counted.sql").read_text(encoding="utf-8")


def deletion_rows(deletion: dict) -> list[dict]:
    """Expand one 3507 deletion into one row per event type it removes (``event_type`` None: any).

    Examples
    --------
    >>> [r["event_type"] for r in deletion_rows({"record_no": "B1", "inv_data_type": "4"})]
    ['dispense', 'refund']
    """
    types = INV_DATA_TYPES.get(str(deletion.get("inv_data_type") or "").strip(), (None,))
    return [dict(deletion, event_type=t) for t in types]


def _clean(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


#: What a deletion deletes by (``key_kind``, also the event column its key matches in ``sql/counted.sql``)
#: -> the column of the stored deletion row (``store.DELETION_SCHEMA``) that holds the key.
DELETION_KEYS = {"record_no": "record_no", "settlement_id": "settlement_id", "message_id": "undone_msgid"}


def deletions_frame(deletions) -> pd.DataFrame:
    """Deletions -> rows (key_kind, key, event_type, site_id); event_type / site_id None match any.

    ``key_kind`` (:data:`DELETION_KEYS`) says which event column ``key`` matches:
    ``record_no`` (NHSA 3507), ``settlement_id`` (2208 / 2305 cancellations) or
    ``message_id`` (2601 reversals: ``undone_msgid``).  A deletion made by a message
    that a 2601 reversal undoes (its ``msgid`` is an ``undone_msgid`` at the same
    site) does not apply: the cancellation itself was reversed.

    Accepts the workspace form written by ingest (``store.DELETION_SCHEMA``: one row
    per deleted event type), the plain form (record_no, event_type[, site_id]) and
    the raw form (record_no, inv_data_type[, site_id]), whose types come from
    :data:`INV_DATA_TYPES`; a row without ``key_kind`` deletes by record_no.

    Examples
    --------
    >>> deletions_frame(pd.DataFrame({"record_no": ["B1"], "inv_data_type": ["3"]})).values.tolist()
    [['record_no', 'B1', 'inbound', None], ['record_no', 'B1', 'purchase_return', None]]
    >>> deletions_frame(pd.DataFrame({"key_kind": ["settlement_id", "message_id"], "settlement_id": ["S1", None],
    ...     "undone_msgid": [None, "M9"], "event_type": ["dispense", None], "site_id": ["H1", "H1"],
    ...     "msgid": ["M9", "M10"]})).values.tolist()
    [['message_id', 'M9', None, 'H1']]
    """
    columns = list(DELETION_COLUMNS)
    records = []
    if deletions is not None and len(deletions):
        records = deletions.to_dict("records")
    reversed_messages = {(_clean(r.get("undone_msgid")), _clean(r.get("site_id"))) for r in records
                         if _clean(r.get("key_kind")) == "message_id"}
    rows = []
    for record in records:
        kind = _clean(record.get("key_kind")) or "record_no"
        if kind not in DELETION_KEYS:
            continue
        key = _clean(record.get(DELETION_KEYS[kind]))
        if key is None:
            continue
        site = _clean(record.get("site_id"))
        msgid = _clean(record.get("msgid"))
        if msgid is not None and ((msgid, site) in reversed_messages or (msgid, None) in reversed_messages):
            continue
        if "event_type" in record:
            types = (_clean(record.get("event_type")),)
        else:
            types = tuple(r["event_type"] for r in deletion_rows({"inv_data_type": _clean(record.get("inv_data_type"))}))
        rows.extend((kind, key, t, site) for t in types)
    ordered = sorted(set(rows), key=lambda r: tuple("" if v is None else v for v in r))
    return pd.DataFrame(ordered, columns=columns).astype("object")


def products_frame(products) -> pd.DataFrame:
    """Products master -> (product_norm, pack_units), one row per product (the largest pack_units).

    ``product_norm`` is the product code trimmed and upper-cased, as the rules
    compare product codes.
    """
    if products is None or len(products) == 0 or "product_code" not in getattr(products, "columns", []):
        return pd.DataFrame({"product_norm": pd.Series(dtype="object"), "pack_units": pd.Series(dtype="float64")})
    frame = pd.DataFrame({
        "product_norm": products["product_code"].astype("string").str.strip().str.upper(),
        "pack_units": pd.to_numeric(products["pack_units"], errors="coerce") if "pack_units" in products else float("nan"),
    }).dropna(subset=["product_norm"])
    frame = frame[frame["product_norm"] != ""]
    return frame.groupby("product_norm", as_index=False)["pack_units"].max().astype({"product_norm": "object"})
