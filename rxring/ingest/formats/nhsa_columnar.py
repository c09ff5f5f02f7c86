"""Plain 进销存 messages of a JSON Lines block, read by DuckDB a block at a time (no per-item Python).

:func:`.nhsa_fast.fast_rows` still walks every body item of a message in Python.
Here the block reader (:func:`.jsonfmt.jsonl_block_chunks`) only decides, per line,
*where* a plain message keeps its body (:func:`body_shape`: a few dictionary
look-ups on the ``orjson`` object it parsed anyway), and DuckDB's ``json_transform``
takes the fields of every body item and ``unnest`` the code lists of all the
block's plain lines in one query (:class:`ColumnarLines`).  Python's rules are kept
by the SQL where they are plain (the first non-empty of several fields, the
message's site when the item names none) and by Arrow after it (text trimmed as
``str.strip`` does, quantity and money as :func:`.nhsa.message_items` computes them).

The result is row for row the table :func:`.nhsa.message_items` gives.  Where DuckDB
and Python could read a line differently the line is not sent, or the query marks
it, and it is read by :func:`.nhsa_fast.fast_rows` or the general reader instead:

* a repeated key in any object (DuckDB keeps the first, Python the last): the keys
  of the parsed object are counted against the key tokens of the text;
* a number of 19 digits or more, ``\\u0000``: DuckDB reads them otherwise;
* a field read as text that is not a JSON string or null (Python's ``str()`` of a
  number, a bool or an object differs from DuckDB's), a quantity, price or fund
  field that is not a JSON number or null, ``trdn_flag`` / ``inv_chg_type`` not a
  string, a code list that is not a list of objects, a code cell that is not a
  single run of letters and digits, an item without codes;
* the message's own fields merged into its items (a field read from the item also
  at the message's top level), more than one batch row with the code list beside them.

``tests/ingest/test_nhsa_fast.py`` holds the three readers to each other.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .nhsa import ALL_TIME_FIELDS, BODY_KEYS, DETAIL_KEYS, FUND_FIELDS, INFNO_EVENT_TYPE, QTY_FIELDS, SPLIT_TRUE, TIME_FIELDS
from .nhsa_fast import READ_FROM_ITEM, texts

__all__ = ["ColumnarLines", "body_shape", "key_count"]

_SCAN = {infno + batch: infno for infno in INFNO_EVENT_TYPE for batch in ("", "A")}
#: Fields of a message's top level that would be merged into its items (read the per-item way instead).
_MERGED = READ_FROM_ITEM | {"drugtracinfo", "drug_trac_codg"}
_KEY_TOKEN = re.compile(rb'"\s*:')
_BIG_NUMBER = re.compile(rb"[:\[,]\s*-?\d{19}")

_TEXT = ("med_list_codg", "fixmedins_hilist_name", "manu_lotnum", "expy_end", "psn_no", "prsc_dr_certno",
         "prsc_dr_name", "phar_certno", "setl_id", "spler_name", "fixmedins_bchno", "medins_prod_sel_no", "mdtrt_sn",
         "mdtrt_id", "fixmedins_code", "trdn_flag", "inv_chg_type", *ALL_TIME_FIELDS)
_NUMBER = tuple(dict.fromkeys((*(n for v in QTY_FIELDS.values() for n in v), "finl_trns_pric", "pric", *FUND_FIELDS)))
_FIELDS = (*_TEXT, *_NUMBER, "drugtracinfo", "drug_trac_codg")


def key_count(obj) -> int:
    """Keys in ``obj`` and every object nested in it (a parsed message)."""
    n = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if o.__class__ is dict:
            n += len(o)
            stack.extend(v for v in o.values() if v.__class__ is dict or v.__class__ is list)
        else:
            stack.extend(v for v in o if v.__class__ is dict or v.__class__ is list)
    return n


def body_shape(message: dict, bare: bytes) -> tuple | None:
    """Where a plain 进销存 message ``message`` (parsed from ``bare``) keeps its body, or None.

    Returns ``(infno, body path, body is a list, path of the code list beside batch rows or None)``.
    """
    infno = message.get("infno")
    if infno.__class__ is not str or infno not in _SCAN:
        return None
    payload = message.get("input")
    sibling = None
    if payload is None:
        if any(message.get(key).__class__ in (dict, list) for key in BODY_KEYS):
            return None
        path, is_list = "$", False
    elif payload.__class__ is dict:
        if not message.keys().isdisjoint(_MERGED):
            return None
        path = None
        if infno[-1] == "A":
            for key in DETAIL_KEYS:
                if key in payload:
                    rows = payload[key]
                    if rows.__class__ is not list or not rows:
                        return None
                    if "drugtracinfo" in payload:
                        sibling = "$.input.drugtracinfo"
                    if sibling is not None and len(rows) > 1:
                        return None
                    path, is_list = f"$.input.{key}", True
                    break
        if path is None:
            for key in BODY_KEYS:
                if key in payload:
                    body = payload[key]
                    if body.__class__ is dict:
                        path, is_list = f"$.input.{key}", False
                    elif body.__class__ is list and body:
                        path, is_list = f"$.input.{key}", True
                    else:
                        return None
                    break
            else:
                path, is_list = "$.input", False
    else:
        return None
    if (b"\\u0000" in bare or _BIG_NUMBER.search(bare) is not None
            or len(_KEY_TOKEN.findall(bare)) != key_count(message)):
        return None
    return infno, path, is_list, sibling


def _sql_struct(types: dict) -> str:
    return "{" + ", ".join(f'"{name}": "{kind}"' for name, kind in types.items()) + "}"


#: Each field as the JSON text it was written as (to tell its JSON type by its first character) ...
_RAW = _sql_struct({name: "JSON" for name in _FIELDS})
#: ... and as the value read.
_VALUES = _sql_struct({**{name: "VARCHAR" for name in _TEXT}, **{name: "DOUBLE" for name in _NUMBER},
                       "drug_trac_codg": "VARCHAR"})


def _pick(names) -> str:
    """SQL of :func:`.nhsa.pick_field` over text fields: the first present and not empty."""
    return "COALESCE(" + ", ".join(f"NULLIF(v.\"{n}\", '')" for n in names) + ")"


def _pick_number(names) -> str:
    return "COALESCE(" + ", ".join(f"v.\"{n}\"" for n in names) + ")"


def _is_text(raw: str) -> str:
    return f"({raw} IS NULL OR starts_with(CAST({raw} AS VARCHAR), '\"'))"


def _checks() -> str:
    """SQL true when every field the item reads has a JSON type that Python and DuckDB read alike."""
    text = " AND ".join(_is_text(f'raw."{n}"') for n in _TEXT)
    number = " AND ".join(f"(raw.\"{n}\" IS NULL OR contains('-0123456789', left(CAST(raw.\"{n}\" AS VARCHAR), 1)))"
                          for n in _NUMBER)
    return f"{text} AND {number}"


def _time() -> str:
    cases = " ".join(f"WHEN '{infno}' THEN {_pick(fields)}" for infno, fields in TIME_FIELDS.items())
    return f"COALESCE(CASE base {cases} END, {_pick(ALL_TIME_FIELDS)})"


def _quantity() -> str:
    cases = " ".join(f"WHEN '{infno}' THEN {_pick_number(fields)}" for infno, fields in QTY_FIELDS.items())
    return f"CASE base {cases} END"


_IS_LIST = "(x IS NOT NULL AND json_type(x) = 'ARRAY')"

# One row per code of the lines whose every item is plain; the other lines are left out (read the per-item way).
_SQL = f"""
WITH m AS (
    SELECT line, infno, base, json_transform(j, '{{"msgid": "JSON", "fixmedins_code": "JSON"}}') AS top,
           json_transform(j, '{{"msgid": "VARCHAR", "fixmedins_code": "VARCHAR"}}') AS top_v,
           CASE WHEN is_list THEN CAST(json_extract(j, path) AS JSON[]) ELSE [json_extract(j, path)] END AS items,
           CASE WHEN sibling IS NULL THEN NULL ELSE json_extract(j, sibling) END AS beside
    FROM lines
), i AS (
    SELECT line, infno, base, top, top_v, beside, unnest(range(len(items))) AS b, unnest(items) AS item FROM m
), f AS (
    SELECT line, infno, base, top, top_v, beside, b, json_transform(item, '{_RAW}') AS raw,
           json_transform(item, '{_VALUES}') AS v
    FROM i
), c AS (
    SELECT *,
        CASE WHEN {_IS_LIST.replace("x", "raw.drugtracinfo")} AND json_array_length(raw.drugtracinfo) > 0
                  THEN raw.drugtracinfo
             WHEN (raw.drugtracinfo IS NULL OR {_IS_LIST.replace("x", "raw.drugtracinfo")})
                  AND raw.drug_trac_codg IS NULL AND {_IS_LIST.replace("x", "beside")}
                  AND json_array_length(beside) > 0 THEN beside
        END AS info,
        (raw.drugtracinfo IS NULL OR {_IS_LIST.replace("x", "raw.drugtracinfo")})
            AND (beside IS NULL OR {_IS_LIST.replace("x", "beside")})
            AND {_is_text("top.msgid")} AND {_is_text("top.fixmedins_code")} AND {_checks()} AS typed
    FROM f
), codes AS (
    SELECT *,
        CASE WHEN info IS NOT NULL THEN CAST(info AS JSON[])
             WHEN {_is_text("raw.drug_trac_codg")} AND regexp_full_match(v.drug_trac_codg, '[0-9A-Za-z]+')
                  THEN [raw.drug_trac_codg]
        END AS entries,
        info IS NULL AS cell
    FROM c
), ok AS (
    SELECT *, typed AND entries IS NOT NULL AND (cell OR list_bool_and(list_transform(entries,
                  lambda e: json_type(e) = 'OBJECT' AND (json_extract(e, '$.drug_trac_codg') IS NULL
                       OR json_type(e, '$.drug_trac_codg') IN ('VARCHAR', 'NULL'))))) AS plain
    FROM codes
), rows AS (
    SELECT *, unnest(range(len(entries))) AS code_index, unnest(entries) AS entry, len(entries) AS k
    FROM ok WHERE line IN (SELECT line FROM ok GROUP BY line HAVING bool_and(plain))
)
SELECT line AS _line, infno AS channel, base, top_v.msgid AS message_id, top_v.fixmedins_code AS msg_site,
       b AS body, code_index, k,
       CASE WHEN cell THEN v.drug_trac_codg ELSE entry ->> '$.drug_trac_codg' END AS trace_code,
       {_time()} AS event_time, v."fixmedins_code" AS own_site,
       v."med_list_codg" AS product_code, v."fixmedins_hilist_name" AS product_name,
       v."manu_lotnum" AS batch, v."expy_end" AS expiry, v."psn_no" AS patient_id,
       {_pick(("prsc_dr_certno", "prsc_dr_name"))} AS prescriber_id, v."phar_certno" AS pharmacist_id,
       v."setl_id" AS settlement_id,
       CASE WHEN base IN ('3503', '3504') THEN v."spler_name" END AS counterparty,
       {_pick(("fixmedins_bchno", "medins_prod_sel_no"))} AS record_no, {_pick(("mdtrt_sn", "mdtrt_id"))} AS visit_id,
       v."trdn_flag" AS trdn_flag, v."inv_chg_type" AS inv_chg_type,
       {_quantity()} AS count, {_pick_number(("finl_trns_pric", "pric"))} AS price, {_pick_number(FUND_FIELDS)} AS fund
FROM rows
ORDER BY line, body, code_index
"""

_INFNOS = pa.array(list(INFNO_EVENT_TYPE), pa.string())
_EVENT_TYPES = pa.array(list(INFNO_EVENT_TYPE.values()), pa.string())
_LINES_SCHEMA = pa.schema([("line", pa.int64()), ("infno", pa.string()), ("base", pa.string()), ("j", pa.string()),
                          ("path", pa.string()), ("is_list", pa.bool_()), ("sibling", pa.string())])


class ColumnarLines:
    """The plain lines of one block, read in one DuckDB query.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The connection to run the query on (one per reader).
    """

    def __init__(self, con):
        self.con = con
        self.lines: list[int] = []
        self.texts: list[bytes] = []
        self.shapes: list[tuple] = []

    def add(self, line: int, bare: bytes, shape: tuple) -> None:
        self.lines.append(line)
        self.texts.append(bare)
        self.shapes.append(shape)

    def __len__(self) -> int:
        return len(self.lines)

    def read(self, schema: pa.Schema, sha16: str) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """(records with the columns of ``schema``, the lines read, the records of each) — lines not read were
        found not plain by the query and must be read the per-item way."""
        infno, path, is_list, sibling = zip(*self.shapes)
        lines = pa.table([pa.array(self.lines, pa.int64()), pa.array(infno, pa.string()),
                          pa.array([_SCAN[i] for i in infno], pa.string()),
                          pa.array(self.texts, pa.binary()).cast(pa.string()), pa.array(path, pa.string()),
                          pa.array(is_list, pa.bool_()), pa.array(sibling, pa.string())], schema=_LINES_SCHEMA)
        self.con.register("lines", lines)
        try:
            raw = self.con.sql(_SQL).to_arrow_table()
        finally:
            self.con.unregister("lines")
        self.lines, self.texts, self.shapes = [], [], []
        table = _records(raw, schema, sha16)
        line_numbers = table.column("_line").to_numpy()
        if len(line_numbers):
            starts = np.flatnonzero(np.diff(line_numbers, prepend=line_numbers[0] - 1))
            read, counts = line_numbers[starts], np.diff(np.append(starts, len(line_numbers)))
        else:
            read, counts = line_numbers, line_numbers
        return table, read, counts


def _records(raw: pa.Table, schema: pa.Schema, sha16: str) -> pa.Table:
    """The query's rows as the JSON reader's records (:data:`.jsonfmt.RECORD_SCHEMA`)."""
    n = raw.num_rows

    def col(name: str) -> pa.Array:
        return raw.column(name).combine_chunks()

    out = {name: texts(col(name)) for name in ("event_time", "product_code", "product_name", "batch", "expiry",
                                               "patient_id", "prescriber_id", "pharmacist_id", "settlement_id",
                                               "counterparty", "record_no", "visit_id", "message_id", "trace_code")}
    out["site_id"] = pc.coalesce(texts(col("own_site")), texts(col("msg_site")))
    flag = pc.utf8_lower(texts(col("trdn_flag")))
    split = pc.fill_null(pc.is_in(flag, pa.array(sorted(SPLIT_TRUE))), False).to_numpy(zero_copy_only=False)
    out["split_sale"] = pa.array(np.where(split, "1", "0"), pa.string())
    k = col("k").to_numpy().astype(np.float64)
    count, price, fund = (col(name).to_numpy(zero_copy_only=False).astype(np.float64) for name in ("count", "price", "fund"))
    no_count = np.isnan(count)  # (JSON has no NaN: NaN here is a null)
    quantity = np.where(split, count / k, np.where(~no_count & (count < 0), count, 1.0))
    out["quantity"] = pa.array(quantity, pa.float64(), mask=split & no_count)
    out["total_amount"] = pa.array(price * np.where(no_count, 1.0, count) / k, pa.float64(), mask=np.isnan(price))
    out["fund_amount"] = pa.array(fund / k, pa.float64(), mask=np.isnan(fund))
    base = col("base")
    kind = pc.take(_EVENT_TYPES, pc.index_in(base, _INFNOS))
    if n and pc.any(pc.equal(base, "3502")).as_py():  # 3502: inv_chg_type 101 / 102 are transfers
        change = texts(col("inv_chg_type"))
        transfer = pc.fill_null(pc.if_else(pc.equal(change, "101"), "transfer_in",
                                           pc.if_else(pc.equal(change, "102"), "transfer_out", "adjust")), "adjust")
        kind = pc.if_else(pc.equal(base, "3502"), transfer, kind)
    out["event_type"] = kind
    out["channel"] = col("channel")
    lines = out["_line"] = col("_line")
    # event ids: msgid:item:code, else sha16:line:item:code
    prefix = pc.coalesce(pc.binary_join_element_wise(out["message_id"], ":", ""),
                         pc.binary_join_element_wise(f"{sha16}:", pc.cast(lines, pa.string()), ":", ""))
    out["event_id"] = pc.binary_join_element_wise(prefix, pc.cast(col("body"), pa.string()), ":",
                                                  pc.cast(col("code_index"), pa.string()), "")
    return pa.table([out[f.name] if f.name in out else pa.nulls(n, f.type) for f in schema], schema=schema)
