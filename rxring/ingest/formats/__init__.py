"""Format readers: each turns one input file into :class:`Chunk` objects.

A reader never validates values; it maps the file's own names onto the canonical
columns (:mod:`rxring.ingest.aliases`), numbers the records (``_line``) and hands
them to :func:`rxring.ingest.normalise.normalise`.  What it rejects itself (a
malformed CSV row, a truncated JSON line) it returns as ``rejects``.

Row accounting ("read") per format, so that ``read = accepted + quarantined + skipped``:

* CSV / TSV / XLSX / Parquet: one per code-level record — a data row counts once,
  or k times when its trace-code cell lists k codes; malformed rows count once;
  blank rows (every field empty) are skipped and reported as ``blank``.
* NHSA JSON / JSON Lines: one per code of each message body item (a body item
  listing k codes in ``drugtracinfo`` is k records, a batch row likewise, a
  settlement's ``drug_trac_info`` entry one per code); a body item without codes, a
  line that is not valid JSON, or a message that cannot be read counts once.
  3507 deletion items, 2208/2305 cancellations and 2601 reversals count once each
  and are accepted into ``deletions``; 2204/2301 fee-detail lines count once each
  and are accepted into ``fee_details``; a message of an interface that carries no
  trace code (9001, 1101 ...) counts once and is ``skipped`` (by infno), so that
  ``read = accepted + quarantined + skipped``.
* EPCIS: one per EPC of each ObjectEvent (an event without EPCs counts once).
* Master tables: one per data row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import pyarrow as pa

__all__ = ["Chunk", "FileProblem"]


class FileProblem(Exception):
    """The whole file cannot be read (missing required column, bad structure).

    ``unknown=True`` marks a file that is simply not an input rxring reads (a text
    file, a table of something else) rather than a broken one.
    """

    def __init__(self, message: str, unknown: bool = False):
        super().__init__(message)
        self.unknown = unknown


@dataclass
class Chunk:
    """A piece of one input file, ready for normalisation.

    Attributes
    ----------
    records : pyarrow.Table or None
        Canonical-named raw records with ``_line`` (and ``_raw``, ``_code_index``,
        ``_k``, ``_reject`` when the reader knows them).
    rejects : list of (line, reason, raw)
        Records the reader could not even take apart; each counts as one read.
    deletions : list of dict
        NHSA 3507 deletions: site_id, record_no, inv_data_type, source_file, source_line.
    master : (name, DataFrame) or None
        A master table (sites, products, patients, prescribers).
    blank : int
        Blank rows skipped (not counted as read).
    raw_lookup : callable or None
        Given source lines of rejected records, their raw text (when records carry no ``_raw``).
    notes : list of str
        Remarks for the report (e.g. replaced undecodable bytes).
    source_file, default_event_type : str or None
        Stamped by the pipeline when the chunk is made (an XLSX sheet has its own
        source file; a sales export its inferred event type).
    fee_details : list of dict
        NHSA 2204/2301 fee-detail lines (:data:`rxring.ingest.feedetails.FEE_DETAIL_SCHEMA`).
    skipped : Counter
        Messages skipped because their interface carries no trace code, by infno.
    missing_fee : list of (line, feedetl_sn)
        Settlement codes whose fee detail was not found (accepted, with a note).
    column_map : ColumnMap or None
        The user's column map the file is read with (stamped by the pipeline; tabular files).
    deferred : list of (line, raw)
        NHSA settlements a reader of one piece of a file left to the caller: they name a fee
        detail not found in the piece before them (:mod:`rxring.ingest.parallel`).  Each
        is read (and counted) once the fee details before it are known.
    """

    records: pa.Table | None = None
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    deletions: list[dict] = field(default_factory=list)
    master: tuple[str, pd.DataFrame] | None = None
    blank: int = 0
    raw_lookup: Callable[[list[int]], list[str]] | None = None
    notes: list[str] = field(default_factory=list)
    source_file: str | None = None
    default_event_type: str | None = None
    fee_details: list[dict] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    missing_fee: list = field(default_factory=list)
    column_map: object | None = None
    deferred: list = field(default_factory=list)
