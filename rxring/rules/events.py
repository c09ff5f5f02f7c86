"""The events that count: one definition for every engine and every reader.

An ingested workspace may hold events that no rule should judge.  What counts is
decided here and in ``sql/counted.sql``, nowhere else:

* **NHSA 3507 deletions** (``deletions.parquet``): an event whose ``record_no``
  (fixmedins_bchno / medins_prod_sel_no) matches a deletion does not count — only
  at the deletion's site when it names one, and only for the event types its
  ``inv_data_type`` names (:data:`INV_DATA_TYPES`; a deletion without a known type
  matches every type);
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

__all__ = ["INV_DATA_TYPES", "COUNTED_VIEW", "DELETION_COLUMNS", "counted_sql", "deletion_rows",
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

#: Columns of the normalised deletions relation (None matches any).
DELETION_COLUMNS = ("record_no", "event_type", "site_id")


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


def deletions_frame(deletions) -> pd.DataFrame:
    """NHSA 3507 deletions -> rows (record_no, event_type, site_id); None matches any.

    Accepts the workspace form written by ingest (one row per deleted event type:
    record_no, event_type, site_id, inv_data_type ...), the plain form
    (record_no, event_type[, site_id]) and the raw form (record_no, inv_data_type[,
    site_id]), whose types come from :data:`INV_DATA_TYPES`.

    Examples
    --------
    >>> deletions_frame(pd.DataFrame({"record_no": ["B1"], "inv_data_type": ["3"]})).values.tolist()
    [['B1', 'inbound', None], ['B1', 'purchase_return', None]]
    """
    rows = []
    if deletions is not None and len(deletions) and "record_no" in deletions.columns:
        for record in deletions.to_dict("records"):
            record_no = _clean(record.get("record_no"))
            if record_no is None:
                continue
            site = _clean(record.get("site_id"))
            if "event_type" in record:
                types = (_clean(record.get("event_type")),)
            else:
                types = tuple(r["event_type"] for r in deletion_rows({"inv_data_type": _clean(record.get("inv_data_type"))}))
            rows.extend((record_no, t, site) for t in types)
    ordered = sorted(set(rows), key=lambda r: tuple("" if v is None else v for v in r))
    return pd.DataFrame(ordered, columns=list(DELETION_COLUMNS)).astype("object")


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
