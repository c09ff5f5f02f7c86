"""Writing one input's results into the workspace, all or nothing.

Events stream into a temporary Parquet part (bounded memory); quarantine rows and
deletions are buffered beside it.  :meth:`InputWriter.commit` renames the part,
appends the quarantine rows, merges deletions and master rows; the manifest is
written last by the caller, so an interrupted ingest leaves no half-counted input.

The quarantine file, the deletions and the fee details (NHSA 2204/2301 lines,
:mod:`rxring.ingest.feedetails`) are appended to, so the manifest records how much
of them is committed (``quarantine_bytes``, ``deletions_rows``, ``fee_details_rows``,
:func:`committed_sizes`); the next ingest first cuts them back to that
(:func:`restore_committed`).  A kill between the quarantine append and the
manifest write therefore leaves no duplicate rows: the input is read again and
its rows appended once.  ``RXRING_FAULT_AT=<step>`` kills the process at a named
step (:data:`FAULT_STEPS`), for the tests that prove it.
"""

from __future__ import annotations

import csv
import os
from itertools import islice
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import EVENT_ORIGIN_SCHEMA, EVENT_SCHEMA, MASTER_COLUMNS, QUARANTINE_COLUMNS
from ..workspace import Workspace, fault_point
from ..rules.events import deletion_rows
from .feedetails import FEE_DETAIL_SCHEMA, fee_details_path
from .partwriter import PartJob, PartWriterThread

__all__ = ["InputWriter", "PartWriterThread", "part_schema", "conform_events", "DELETION_SCHEMA", "read_deletions",
           "committed_sizes", "restore_committed"]

#: Steps of a commit at which ``RXRING_FAULT_AT=<step>`` kills the process (:func:`rxring.workspace.fault_point`,
#: a testing hook); tests/ingest/test_hostile_files.py kills the CLI there.
FAULT_STEPS = ("ingest-after-part", "ingest-after-quarantine", "ingest-after-deletions", "ingest-before-manifest")


def _appended_tables(ws: Workspace) -> tuple:
    """(manifest key, path, schema) of each Parquet table inputs append rows to."""
    return (("deletions_rows", ws.deletions_path, DELETION_SCHEMA),
            ("fee_details_rows", fee_details_path(ws), FEE_DETAIL_SCHEMA))


def committed_sizes(ws: Workspace) -> dict:
    """``quarantine_bytes``, ``deletions_rows`` and ``fee_details_rows`` as they are now (recorded in the manifest
    at each commit)."""
    quarantine = ws.quarantine_path
    sizes = {"quarantine_bytes": quarantine.stat().st_size if quarantine.exists() else 0}
    for key, path, _ in _appended_tables(ws):
        sizes[key] = pq.ParquetFile(path).metadata.num_rows if path.exists() else 0
    return sizes


def _append_rows(path: Path, schema: pa.Schema, rows) -> None:
    """Append rows (dicts, or a table) to a workspace table (rewritten whole, then renamed into place)."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema=schema)
    if path.exists():
        table = pa.concat_tables([pq.read_table(path, schema=schema), table])
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def restore_committed(ws: Workspace, manifest: dict) -> None:
    """Cut quarantine.csv, deletions.parquet and the event parts back to what the manifest counts.

    Rows past the recorded size were appended by an input whose manifest entry was
    never written (the process was killed in between); that input is read again.
    A manifest from before these sizes were recorded is trusted as it is.
    Event parts the manifest does not name (:meth:`Workspace.orphan_parts`: renamed
    into place, then the process was killed) are removed.
    """
    for orphan in ws.orphan_parts():
        orphan.unlink(missing_ok=True)
    fresh = not manifest.get("inputs")
    size = manifest.get("quarantine_bytes", 0 if fresh else None)
    path = ws.quarantine_path
    if size is not None and path.exists() and path.stat().st_size > size:
        os.truncate(path, size)
    for key, table_path, schema in _appended_tables(ws):
        rows = manifest.get(key, 0 if fresh or key not in _SINCE_FIRST else None)
        if rows is None or not table_path.exists():
            continue
        have = pq.ParquetFile(table_path).metadata.num_rows
        if have > rows:
            if rows == 0:
                table_path.unlink()
            else:
                table = pq.read_table(table_path, schema=schema).slice(0, rows)
                tmp = table_path.with_suffix(".parquet.tmp")
                pq.write_table(table, tmp)
                os.replace(tmp, table_path)


#: Appended tables whose committed size every manifest written since the first recorded sizes
#: holds (a manifest without a later table's key committed none of it).
_SINCE_FIRST = ("deletions_rows",)

# One row per (deletion, event type it removes); event_type is null when the
# deletion's inv_data_type is missing or unknown (then any type matches).
# ``key_kind`` says what a row deletes by: "record_no" (NHSA 3507: the events'
# record_no; rows written before key_kind existed read it as null, meaning the same),
# "settlement_id" (2208 / 2305 cancellations: the events of that setl_id) or
# "message_id" (2601 reversals: whatever the message ``undone_msgid`` gave -- its
# events, or the deletion it recorded; ``inv_data_type`` holds its oinfno).
DELETION_SCHEMA = pa.schema(
    [
        ("record_no", pa.string()),
        ("event_type", pa.string()),
        ("site_id", pa.string()),
        ("inv_data_type", pa.string()),
        ("msgid", pa.string()),           # the deleting message's own msgid
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("key_kind", pa.string()),
        ("settlement_id", pa.string()),   # key of key_kind "settlement_id"
        ("undone_msgid", pa.string()),    # key of key_kind "message_id" (2601 omsgid)
        ("infno", pa.string()),           # 2208, 2305, 2601 (null for 3507)
        ("patient_id", pa.string()),      # psn_no, when the message gives it
        ("visit_id", pa.string()),        # mdtrt_id, when the message gives it
    ]
)
_MASTER_KEYS = {name: columns[0] for name, columns in MASTER_COLUMNS.items()}

def read_deletions(ws: Workspace) -> pd.DataFrame:
    """The workspace's 3507 deletions (empty frame when none)."""
    if not ws.deletions_path.exists():
        return DELETION_SCHEMA.empty_table().to_pandas()
    return pq.read_table(ws.deletions_path, schema=DELETION_SCHEMA).to_pandas()


#: Quarantine rows masked and written at a time (:meth:`InputWriter.add_quarantine`).
QUARANTINE_SLICE = 20_000

# Events are handed to the part writer in tables of at least this many rows (small
# chunks -- 20k NHSA records, a CSV block -- are gathered first): one row group
# each, large enough for DuckDB and Spark to scan well.  The same size as a Parquet
# input's chunks, which go through as they are.
ROW_GROUP_ROWS = 256_000


def part_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a part is written with: :data:`EVENT_SCHEMA` (then, for NHSA inputs,
    :data:`~rxring.schema.EVENT_ORIGIN_SCHEMA`), string columns possibly as dictionaries.

    Raises
    ------
    ValueError
        When ``schema`` is not one of those up to dictionary-encoded strings.
    """
    expected = EVENT_SCHEMA
    if schema.names == EVENT_SCHEMA.names + EVENT_ORIGIN_SCHEMA.names:
        expected = pa.schema([*EVENT_SCHEMA, *EVENT_ORIGIN_SCHEMA])
    if schema.names != expected.names:
        raise ValueError(f"events have columns {schema.names}, expected {EVENT_SCHEMA.names}")
    fields = []
    for want, got in zip(expected, schema):
        if got.type == want.type or (pa.types.is_dictionary(got.type) and got.type.value_type == want.type):
            fields.append(pa.field(want.name, got.type, want.nullable))
        else:
            raise ValueError(f"events column {want.name} is {got.type}, expected {want.type}")
    return pa.schema(fields, metadata=EVENT_SCHEMA.metadata)


def conform_events(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a chunk of events to its part's schema (dictionary or plain per column)."""
    if table.schema.equals(schema):
        return table
    columns = [col if col.type == field.type else col.cast(field.type) for field, col in zip(schema, table.columns)]
    return pa.Table.from_arrays(columns, schema=schema)


class InputWriter:
    """Collects one input file's events, quarantine rows, deletions and master rows.

    Parameters
    ----------
    ws : Workspace
    part_name : str
        The part's name (``part-<part_name>.parquet``).
    part_writer : PartWriterThread, optional
        The thread that encodes the events (shared by the files of one ingest, so
        one file's last row groups are written while the next file is read); a
        private one is started when not given.
    """

    def __init__(self, ws: Workspace, part_name: str, part_writer: PartWriterThread | None = None,
                 reveal_pii: bool = False):
        self.ws = ws
        self.reveal_pii = reveal_pii
        #: The header line quarantined rows are masked by (None: read from the source file); set for a
        #: file read with a column map, whose headers the masker would not know.
        self.quarantine_header: str | None = None
        self.part_name = part_name
        self.part_path = ws.part_path(part_name)
        self._tmp_part = self.part_path.with_suffix(".parquet.tmp")
        self._tmp_quarantine = ws.root / f".quarantine-{part_name}.tmp"
        self._own_thread = part_writer is None
        self._part_writer = part_writer
        self._job: PartJob | None = None
        self._gathered: list[pa.Table] = []  # events not yet handed to the writer thread
        self._gathered_rows = 0
        self._quarantine_fh = None
        self._quarantine_csv = None
        self.events = 0
        self.quarantined = 0
        self.deletions: list[dict] = []
        self.fee_details: list[pa.RecordBatch] = []  # (compact until committed: see feedetails)
        self.masters: dict[str, list[pd.DataFrame]] = {}

    # -- collecting
    def add_events(self, table: pa.Table) -> None:
        """Queue accepted events (:data:`EVENT_SCHEMA`) for the part; raises an earlier write error."""
        if table.num_rows == 0:
            return
        if self._job is None:
            if self._part_writer is None:
                self._part_writer = PartWriterThread()
            self._job = PartJob(self._tmp_part, part_schema(table.schema))
        self._gathered.append(conform_events(table, self._job.schema))
        self._gathered_rows += table.num_rows
        self.events += table.num_rows
        if self._gathered_rows >= ROW_GROUP_ROWS:
            self._submit_gathered()

    def _submit_gathered(self) -> None:
        if not self._gathered:
            return
        tables, self._gathered, self._gathered_rows = self._gathered, [], 0
        self._part_writer.submit(self._job, tables[0] if len(tables) == 1 else pa.concat_tables(tables))

    def add_quarantine(self, rows) -> None:
        """Rows as (source_file, source_line, reason, raw) tuples or a DataFrame.

        Written to the input's temporary quarantine file at once, :data:`QUARANTINE_SLICE`
        rows at a time (masked copies included), so memory does not grow with them.
        """
        if isinstance(rows, pd.DataFrame):
            if rows.empty:
                return
            rows = rows[list(QUARANTINE_COLUMNS)].itertuples(index=False, name=None)
        # personal fields masked like every other output; raw only with --reveal-pii.  (Imported
        # here: rxring.pii reads ingest's header aliases, so a module-level import would cycle
        # through rxring/ingest/__init__.)
        from ..pii import mask_quarantine_rows

        if self._quarantine_csv is None:
            self._quarantine_fh = open(self._tmp_quarantine, "w", encoding="utf-8", newline="")
            self._quarantine_csv = csv.writer(self._quarantine_fh)
        rows = iter(rows)
        while True:
            piece = list(islice(rows, QUARANTINE_SLICE))
            if not piece:
                return
            self._quarantine_csv.writerows(mask_quarantine_rows(piece, header=self.quarantine_header,
                                                                    reveal=self.reveal_pii))
            self.quarantined += len(piece)

    def add_deletions(self, deletions: list[dict]) -> None:
        self.deletions.extend(deletions)

    def add_fee_details(self, rows: list[dict]) -> None:
        """NHSA 2204/2301 fee-detail lines (:data:`~rxring.ingest.feedetails.FEE_DETAIL_SCHEMA`)."""
        self.fee_details.append(pa.RecordBatch.from_pylist(rows, schema=FEE_DETAIL_SCHEMA))

    def add_master(self, name: str, frame: pd.DataFrame) -> None:
        self.masters.setdefault(name, []).append(frame)

    # -- finishing
    def close_async(self) -> None:
        """Stop collecting: the part is closed in the writer thread (:meth:`commit` waits for it)."""
        if self._job is not None:
            if not self._job.cancelled:
                self._submit_gathered()
            self._gathered, self._gathered_rows = [], 0
            self._part_writer.close_async(self._job)
        if self._quarantine_fh is not None:
            self._quarantine_fh.close()
            self._quarantine_fh = None

    def _close(self) -> None:
        try:
            self.close_async()
            if self._job is not None:
                self._job.wait()
        finally:
            if self._own_thread and self._part_writer is not None:
                self._part_writer.stop()

    def abort(self) -> None:
        """Drop everything collected for this input (tables still queued are not written)."""
        if self._job is not None:
            self._job.cancelled = True
        try:
            self._close()
        except Exception:  # noqa: BLE001 - the input is dropped anyway
            pass
        finally:
            for tmp in (self._tmp_part, self._tmp_quarantine):
                if tmp.exists():
                    tmp.unlink()

    def commit(self) -> str | None:
        """Move the results into the workspace; returns the part file name (or None).

        Waits for the part's last row groups; a failed write raises (see
        :meth:`PartJob.wait`) and leaves the workspace unchanged.
        """
        self._close()
        part = None
        if self._tmp_part.exists():
            os.replace(self._tmp_part, self.part_path)
            part = self.part_path.name
        fault_point("ingest-after-part")
        if self._tmp_quarantine.exists():
            target = self.ws.quarantine_path
            new = not target.exists() or target.stat().st_size == 0
            with open(target, "a", encoding="utf-8", newline="") as out, open(self._tmp_quarantine, encoding="utf-8", newline="") as src:
                if new:
                    csv.writer(out).writerow(QUARANTINE_COLUMNS)
                for block in iter(lambda: src.read(1 << 20), ""):
                    out.write(block)
            self._tmp_quarantine.unlink()
        fault_point("ingest-after-quarantine")
        if self.deletions:
            # a deletion that names its event type (a cancellation) is one row; a 3507 one row per type it removes
            rows = [row for d in self.deletions for row in ([d] if "event_type" in d else deletion_rows(d))]
            _append_rows(self.ws.deletions_path, DELETION_SCHEMA, rows)
        fault_point("ingest-after-deletions")
        if self.fee_details:
            _append_rows(fee_details_path(self.ws), FEE_DETAIL_SCHEMA,
                         pa.Table.from_batches(self.fee_details, schema=FEE_DETAIL_SCHEMA))
        for name, frames in self.masters.items():
            self._merge_master(name, pd.concat(frames, ignore_index=True))
        return part

    def _merge_master(self, name: str, frame: pd.DataFrame) -> None:
        path = self.ws.masters_dir / f"{name}.parquet"
        self.ws.masters_dir.mkdir(exist_ok=True)
        if path.exists():
            frame = pd.concat([pd.read_parquet(path), frame], ignore_index=True)
        key = _MASTER_KEYS[name]
        frame = frame.drop_duplicates(subset=[key], keep="last").reset_index(drop=True)
        tmp = path.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)


def cleanup_temporaries(root: Path) -> None:
    """Remove leftovers of an interrupted ingest."""
    for tmp in list(root.glob(".quarantine-*.tmp")) + list((root / "events").glob("*.parquet.tmp")):
        tmp.unlink(missing_ok=True)
