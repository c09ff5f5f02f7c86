"""Fee-detail lines (NHSA 2204 outpatient / 2301 inpatient ``feedetail``) kept for the settlements.

A settlement (2207 / 2304) names the codes it dispensed in ``drug_trac_info``, each
with the ``feedetl_sn`` of a fee-detail line uploaded before it, in the same file, in
another file of the same ingest or in an earlier ingest of the workspace.  Ingest
therefore keeps every fee-detail line in the workspace table ``fee_details.parquet``
(:data:`FEE_DETAIL_SCHEMA`), appended and committed with its input like
``deletions.parquet`` (:mod:`rxring.ingest.store`: the manifest records
``fee_details_rows``, and an ingest first cuts the table back to it).

A settlement code is looked up (:class:`FeeLookup`) by ``(site_id, feedetl_sn)``:
first among the lines read before it in its own file, then those of the files read
before it in this ingest, then the workspace's table (loaded once, on the first
look-up that needs it).  A later line with the same key replaces an earlier one (a
fee detail uploaded again).  Fee details that come *after* their settlement are
not used for it: the settlement is still a dispense, with a data-quality note.

Memory: a look-up keeps, per fee-detail line, only the eight values a settlement takes
from it (:data:`LOOKUP_FIELDS`, a tuple; site, product code, name and prescriber shared
between all lines, patient, visit and time between the lines added together: about 450
bytes a line, measured with tracemalloc at 3M); an input's writer keeps its lines as
Arrow record batches until it commits them.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FEE_DETAIL_SCHEMA", "FEE_DETAILS_FILE", "LOOKUP_FIELDS", "FeeBook", "FeeLookup", "fee_details_path",
           "read_fee_details"]

#: The workspace table, beside deletions.parquet.
FEE_DETAILS_FILE = "fee_details.parquet"

FEE_DETAIL_SCHEMA = pa.schema(
    [
        ("site_id", pa.string()),          # fixmedins_code of the 2204 / 2301 message
        ("feedetl_sn", pa.string()),       # the line's number, named by drug_trac_info
        ("visit_id", pa.string()),         # mdtrt_id
        ("patient_id", pa.string()),       # psn_no
        ("product_code", pa.string()),     # med_list_codg
        ("medins_list_codg", pa.string()),  # the institution's own item code
        ("product_name", pa.string()),     # medins_list_name / fixmedins_hilist_name when given
        ("quantity", pa.float64()),        # cnt
        ("price", pa.float64()),           # pric
        ("total_amount", pa.float64()),    # det_item_fee_sumamt (else pric x cnt)
        ("fee_time", pa.string()),         # fee_ocur_time as written
        ("prescriber_id", pa.string()),    # bilg_dr_codg (else bilg_dr_name)
        ("prescriber_name", pa.string()),  # bilg_dr_name
        ("rxno", pa.string()),
        ("infno", pa.string()),            # 2204 or 2301
        ("msgid", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
    ]
)


def fee_details_path(ws) -> Path:
    """``fee_details.parquet`` of a workspace."""
    return Path(ws.root) / FEE_DETAILS_FILE


def read_fee_details(ws) -> pa.Table:
    """The workspace's fee-detail lines (an empty table when none)."""
    path = fee_details_path(ws)
    if not path.exists():
        return FEE_DETAIL_SCHEMA.empty_table()
    return pq.read_table(path, schema=FEE_DETAIL_SCHEMA)


#: What a settlement takes from the fee-detail line its code names (:func:`.formats.settlement.settlement_items`).
LOOKUP_FIELDS = ("product_code", "product_name", "quantity", "total_amount", "fee_time", "prescriber_id",
                 "patient_id", "visit_id")


class _Store:
    """Fee-detail lines by ``(site_id, feedetl_sn)``, as tuples of :data:`LOOKUP_FIELDS` (the later line wins)."""

    def __init__(self):
        self.rows: dict[tuple, tuple] = {}
        self._strings: dict[str, str] = {}

    def add(self, rows) -> None:
        """Rows as dicts, or a table / record batch of :data:`FEE_DETAIL_SCHEMA`."""
        if isinstance(rows, (pa.Table, pa.RecordBatch)):
            columns = [rows.column(name).to_pylist() for name in ("site_id", "feedetl_sn", *LOOKUP_FIELDS)]
            records = zip(*columns)
        else:
            records = ((row.get("site_id"), row.get("feedetl_sn"), *(row.get(f) for f in LOOKUP_FIELDS)) for row in rows)
        shared, target = self._strings, self.rows
        local: dict = {}  # patient, visit and time: shared by the lines of one message, not kept beyond this call
        for site, sn, code, name, quantity, total, when, prescriber, patient, visit in records:
            target[shared.setdefault(site, site) if site is not None else None, sn] = (
                shared.setdefault(code, code) if code is not None else None,
                shared.setdefault(name, name) if name is not None else None, quantity, total,
                local.setdefault(when, when) if when is not None else None,
                shared.setdefault(prescriber, prescriber) if prescriber is not None else None,
                local.setdefault(patient, patient) if patient is not None else None,
                local.setdefault(visit, visit) if visit is not None else None)

    def get(self, key: tuple) -> dict | None:
        values = self.rows.get(key)
        return None if values is None else dict(zip(LOOKUP_FIELDS, values))


class FeeBook:
    """Fee-detail lines of one ingest run: the workspace's, then each input's once it is read.

    Parameters
    ----------
    ws : Workspace or None
        Whose ``fee_details.parquet`` is consulted (None: none).
    """

    def __init__(self, ws=None):
        self._path = fee_details_path(ws) if ws is not None else None
        self._store = _Store()
        self._loaded = self._path is None

    def add(self, rows) -> None:
        """Fee-detail rows of an input read in full (dicts, or a table or record batches of
        :data:`FEE_DETAIL_SCHEMA`; later rows replace earlier ones of the same key)."""
        for part in (rows if isinstance(rows, list) and rows and isinstance(rows[0], pa.RecordBatch) else [rows]):
            self._store.add(part)

    def get(self, site: str | None, feedetl_sn: str | None) -> dict | None:
        """The values of :data:`LOOKUP_FIELDS` of the line, or None."""
        row = self._store.get((site, feedetl_sn))
        if row is None and not self._loaded:
            self._load()
            row = self._store.get((site, feedetl_sn))
        return row

    def _load(self) -> None:
        self._loaded = True
        if not self._path.exists():
            return
        run = self._store.rows
        self._store = _Store()
        for batch in pq.ParquetFile(self._path).iter_batches(batch_size=65_536):
            self._store.add(batch)
        self._store.rows.update(run)  # this run's lines are newer


class FeeLookup:
    """The fee-detail lines one input's reader sees: its own lines read so far, then a :class:`FeeBook`.

    ``partial``: the reader sees one piece of its input only (:mod:`rxring.ingest.parallel`): a line not
    found may be in an earlier piece, so a settlement that names one is left to the caller.
    """

    def __init__(self, book: FeeBook | None = None, partial: bool = False):
        self._own = _Store()
        self._book = book
        self.partial = partial

    def add(self, rows) -> None:
        self._own.add(rows)

    def get(self, site: str | None, feedetl_sn: str | None) -> dict | None:
        """The values of :data:`LOOKUP_FIELDS` of the line, or None."""
        row = self._own.get((site, feedetl_sn))
        if row is None and self._book is not None:
            row = self._book.get(site, feedetl_sn)
        return row
