"""A chunk of one input, normalised and ready to be written and counted.

The pipeline turns every :class:`~rxring.ingest.formats.Chunk` into a
:class:`Prepared` (in its own thread, or in a worker process for a large JSON
Lines file, see :mod:`rxring.ingest.parallel`) and then only writes and counts.
A :class:`Prepared` holds plain data (tables, frames, lists), so it can be sent
between processes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from .formats import Chunk
from .normalise import RAW_LIMIT, FileContext, explode_codes, normalise

__all__ = ["Prepared", "prepare_chunk"]


@dataclass
class Prepared:
    """What one chunk adds to its input's results.

    Attributes
    ----------
    rejects : list of (source_file, source_line, reason, raw)
        Records the reader could not take apart (quarantined, one read each).
    events : pyarrow.Table or None
        Accepted events (:data:`rxring.schema.EVENT_SCHEMA`, strings possibly
        dictionary-encoded).
    quarantine : pandas.DataFrame or None
        Records rejected by the normaliser.
    records : int
        Code-level records normalised (``events`` + ``quarantine`` rows).
    deletions, master, blank, notes, fee_details, skipped, missing_fee, deferred
        As on :class:`~rxring.ingest.formats.Chunk`.
    kinds : Counter
        Kinds of JSON objects seen (nhsa, epcis, records), for the format label.
    """

    rejects: list = field(default_factory=list)
    events: pa.Table | None = None
    quarantine: pd.DataFrame | None = None
    records: int = 0
    deletions: list = field(default_factory=list)
    master: tuple | None = None
    blank: int = 0
    notes: list = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    fee_details: list = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    missing_fee: list = field(default_factory=list)
    deferred: list = field(default_factory=list)


def prepare_chunk(chunk: Chunk, display: str, sha16: str, normaliser=normalise) -> Prepared:
    """Normalise one chunk (``display`` names the input when the chunk names no source file).

    ``normaliser`` is :func:`~rxring.ingest.normalise.normalise` unless the caller
    substitutes its own (the pipeline passes the one it imported, so it can be patched).
    """
    source_file = chunk.source_file or display
    out = Prepared(blank=chunk.blank, notes=list(chunk.notes), deletions=chunk.deletions or [],
                   master=chunk.master, fee_details=chunk.fee_details, skipped=chunk.skipped,
                   missing_fee=chunk.missing_fee, deferred=chunk.deferred)
    if chunk.rejects:
        out.rejects = [(source_file, line, why, raw[:RAW_LIMIT]) for line, why, raw in chunk.rejects]
    if chunk.records is not None and chunk.records.num_rows:
        records = explode_codes(chunk.records)
        ctx = FileContext(source_file=source_file, sha16=sha16, default_event_type=chunk.default_event_type,
                          raw_lookup=chunk.raw_lookup, column_map=chunk.column_map)
        out.events, out.quarantine = normaliser(records, ctx, keep_dictionaries=True)
        out.records = records.num_rows
    return out
