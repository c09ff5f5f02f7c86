"""Writing one input's results into the workspace, all or nothing.

Events stream into a temporary Parquet part (bounded memory); quarantine rows and
deletions are buffered beside it.  :meth:`InputWriter.commit` renames the part,
appends the quarantine rows, merges deletions and master rows; the manifest is
written last by the caller, so an interrupted ingest leaves no half-counted input.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import EVENT_SCHEMA, MASTER_COLUMNS, QUARANTINE_COLUMNS
from ..workspace import Workspace

__all__ = ["InputWriter", "DELETION_SCHEMA", "INV_DATA_TYPES", "read_deletions", "deletion_rows"]

# One row per (deletion, event type it removes); event_type is null when the
# deletion's inv_data_type is missing or unknown (then any type matches).
DELETION_SCHEMA = pa.schema(
    [
        ("record_no", pa.string()),
        ("event_type", pa.string()),
        ("site_id", pa.string()),
        ("inv_data_type", pa.string()),
        ("msgid", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
    ]
)
_MASTER_KEYS = {name: columns[0] for name, columns in MASTER_COLUMNS.items()}
# Dictionary encoding pays off only for columns with few distinct values; for ids
# and codes it is tried and abandoned at a cost, so it is limited to these.
_DICTIONARY_COLUMNS = [
    "event_type", "site_id", "product_code", "product_name", "batch", "prescriber_id", "pharmacist_id",
    "counterparty", "code_kind", "code_product", "code_lot", "source_file",
]
# Min/max statistics cost about a sixth of the write time and help a reader only
# on columns it filters or joins on; the analysis filters on these.
_STATISTICS_COLUMNS = ["trace_code", "event_type", "event_time", "site_id", "record_no"]

# NHSA 3507 inv_data_type (进销存数据类型) -> the event types it deletes.
INV_DATA_TYPES = {
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


def deletion_rows(deletion: dict) -> list[dict]:
    """Expand one 3507 deletion into one row per event type it removes."""
    types = INV_DATA_TYPES.get(str(deletion.get("inv_data_type") or "").strip(), (None,))
    return [dict(deletion, event_type=t) for t in types]


def read_deletions(ws: Workspace) -> pd.DataFrame:
    """The workspace's 3507 deletions (empty frame when none)."""
    if not ws.deletions_path.exists():
        return DELETION_SCHEMA.empty_table().to_pandas()
    return pq.read_table(ws.deletions_path, schema=DELETION_SCHEMA).to_pandas()


class InputWriter:
    """Collects one input file's events, quarantine rows, deletions and master rows."""

    def __init__(self, ws: Workspace, part_name: str):
        self.ws = ws
        self.part_name = part_name
        self.part_path = ws.events_dir / f"part-{part_name}.parquet"
        self._tmp_part = self.part_path.with_suffix(".parquet.tmp")
        self._tmp_quarantine = ws.root / f".quarantine-{part_name}.tmp"
        self._writer: pq.ParquetWriter | None = None
        self._pool = None  # one background thread writes row groups while the next chunk is parsed
        self._pending = None
        self._quarantine_fh = None
        self._quarantine_csv = None
        self.events = 0
        self.quarantined = 0
        self.deletions: list[dict] = []
        self.masters: dict[str, list[pd.DataFrame]] = {}

    # -- collecting
    def add_events(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._writer = pq.ParquetWriter(self._tmp_part, EVENT_SCHEMA, compression="zstd",
                                            use_dictionary=_DICTIONARY_COLUMNS,
                                            write_statistics=_STATISTICS_COLUMNS)
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rxring-part-writer")
        self._wait()  # at most one chunk in flight: memory stays bounded
        self._pending = self._pool.submit(self._writer.write_table, table)
        self.events += table.num_rows

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def add_quarantine(self, rows) -> None:
        """Rows as (source_file, source_line, reason, raw) tuples or a DataFrame."""
        if isinstance(rows, pd.DataFrame):
            if rows.empty:
                return
            rows = rows[list(QUARANTINE_COLUMNS)].itertuples(index=False, name=None)
        if self._quarantine_csv is None:
            self._quarantine_fh = open(self._tmp_quarantine, "w", encoding="utf-8", newline="")
            self._quarantine_csv = csv.writer(self._quarantine_fh)
        for row in rows:
            self._quarantine_csv.writerow(row)
            self.quarantined += 1

    def add_deletions(self, deletions: list[dict]) -> None:
        self.deletions.extend(deletions)

    def add_master(self, name: str, frame: pd.DataFrame) -> None:
        self.masters.setdefault(name, []).append(frame)

    # -- finishing
    def _close(self) -> None:
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self._quarantine_fh is not None:
            self._quarantine_fh.close()
            self._quarantine_fh = None

    def abort(self) -> None:
        """Drop everything collected for this input."""
        self._close()
        for tmp in (self._tmp_part, self._tmp_quarantine):
            if tmp.exists():
                tmp.unlink()

    def commit(self) -> str | None:
        """Move the results into the workspace; returns the part file name (or None)."""
        self._close()
        part = None
        if self._tmp_part.exists():
            os.replace(self._tmp_part, self.part_path)
            part = self.part_path.name
        if self._tmp_quarantine.exists():
            target = self.ws.quarantine_path
            new = not target.exists() or target.stat().st_size == 0
            with open(target, "a", encoding="utf-8", newline="") as out, open(self._tmp_quarantine, encoding="utf-8", newline="") as src:
                if new:
                    csv.writer(out).writerow(QUARANTINE_COLUMNS)
                for block in iter(lambda: src.read(1 << 20), ""):
                    out.write(block)
            self._tmp_quarantine.unlink()
        if self.deletions:
            rows = [row for d in self.deletions for row in deletion_rows(d)]
            new_rows = pa.Table.from_pylist(rows, schema=DELETION_SCHEMA)
            if self.ws.deletions_path.exists():
                new_rows = pa.concat_tables([pq.read_table(self.ws.deletions_path, schema=DELETION_SCHEMA), new_rows])
            tmp = self.ws.deletions_path.with_suffix(".parquet.tmp")
            pq.write_table(new_rows, tmp)
            os.replace(tmp, self.ws.deletions_path)
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
