"""The background thread that encodes event parts while the next chunk is read.

Parquet encoding (dictionaries, zstd) is about as expensive as decoding and
normalising together; pyarrow releases the GIL while it encodes, so one thread
writing row groups lets the reader, the normaliser and the writer use both cores.

One :class:`PartWriterThread` serves a whole ingest: every input file gets a
:class:`PartJob` (its temporary part file), and the thread handles the jobs'
tables in the order they were submitted.  The queue is bounded (``depth``
tables), so memory stays bounded however fast the reader is.  A job is closed
with :meth:`PartJob.close_async` and waited for with :meth:`PartJob.wait`, so
the last row groups of one file are encoded while the next file is read.

An exception in the thread is stored on its job: later tables of that job are
dropped, and :meth:`PartJob.wait` (and the next :meth:`PartWriterThread.submit`
for the job) raise it in the caller's thread.  A failed write of the file
(disk full, permissions) becomes an :class:`~rxring.errors.RxringError` naming
the part; anything else is re-raised as it is.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import RxringError

__all__ = ["PartJob", "PartWriterThread", "PART_WRITE_OPTIONS"]

# Dictionary encoding pays off only for columns with few distinct values; for ids
# and codes it is tried and abandoned at a cost, so it is limited to these.
DICTIONARY_COLUMNS = [
    "event_type", "site_id", "product_code", "product_name", "batch", "prescriber_id", "pharmacist_id",
    "counterparty", "code_kind", "code_product", "code_lot", "source_file",
]
# Min/max statistics help a reader only on columns it filters or joins on (the
# analysis filters on these); elsewhere they are work and footer bytes for nothing.
STATISTICS_COLUMNS = ["trace_code", "event_type", "event_time", "site_id", "record_no"]
PART_WRITE_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": DICTIONARY_COLUMNS,
    "write_statistics": STATISTICS_COLUMNS,
    # source_line counts up within a part: delta-encoded it is a few KB per million
    # rows and four times cheaper to write than plain + zstd (read by DuckDB, Spark 3.3+)
    "column_encoding": {"source_line": "DELTA_BINARY_PACKED"},
}


class PartJob:
    """One event part being written: its temporary file, the writer, the first error."""

    def __init__(self, path: Path, schema: pa.Schema, options: dict | None = None):
        self.path = Path(path)
        self.schema = schema
        self.options = dict(PART_WRITE_OPTIONS if options is None else options)
        if any(pa.types.is_dictionary(t) for t in schema.types):
            # dictionary arrays are written as they are; without the Arrow schema in
            # the file, every reader sees plain strings (the Parquet logical type)
            self.options["store_schema"] = False
        self.error: BaseException | None = None
        self.rows_written = 0
        self.cancelled = False  # set by the caller to drop the tables still queued
        self._writer: pq.ParquetWriter | None = None
        self._closing = False
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None  # the thread that writes it

    # -- in the writer thread
    def _write(self, table: pa.Table) -> None:
        if self.error is not None or self.cancelled:
            return  # the part is lost already; drop the rest
        try:
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, self.schema, **self.options)
            self._writer.write_table(table)
            self.rows_written += table.num_rows
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc

    def _close(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            if self.error is None:
                self.error = exc
        finally:
            self._writer = None
            self._closed.set()

    # -- in the caller's thread
    def raise_error(self) -> None:
        """Raise the writer thread's error for this part, if any."""
        exc = self.error
        if exc is None:
            return
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            raise RxringError(f"cannot write the events part {self.path.name} in {self.path.parent}: {reason}") from None
        raise exc

    def wait(self) -> None:
        """Wait until the part is closed, then raise its error if any.

        Raises
        ------
        RxringError
            When the file could not be written (disk full, permissions), or the
            writer thread stopped without closing the part.
        """
        if not self._closing:
            raise ValueError(f"part {self.path.name} was never closed; call close_async first")
        while not self._closed.wait(0.2):
            if self._thread is None or not self._thread.is_alive():
                if self._closed.is_set():
                    break
                raise RxringError(f"the events part {self.path.name} was not finished: its writer thread stopped")
        self.raise_error()


class PartWriterThread:
    """A thread writing the tables of :class:`PartJob` s in submission order.

    Parameters
    ----------
    depth : int
        Tables waiting in the queue at most (each a record batch of a few hundred
        thousand rows); :meth:`submit` blocks while the queue is full.
    """

    def __init__(self, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.cpu_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="rxring-part-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.thread_time()
        try:
            while True:
                kind, job, table = self._queue.get()
                if kind == "stop":
                    return
                if kind == "write":
                    job._write(table)
                else:
                    job._close()
        finally:
            self.cpu_seconds = time.thread_time() - start

    def _put(self, item) -> None:
        while True:
            if not self._thread.is_alive():
                raise RxringError("the events part writer thread stopped unexpectedly; nothing more can be written")
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def submit(self, job: PartJob, table: pa.Table) -> None:
        """Queue a table for ``job``'s part (raises the job's earlier error, if any)."""
        job.raise_error()
        if job._closing:
            raise ValueError(f"part {job.path.name} is closed already")
        job._thread = self._thread
        self._put(("write", job, table))

    def close_async(self, job: PartJob) -> None:
        """Queue the closing of ``job``'s part; :meth:`PartJob.wait` waits for it."""
        if job._closing:
            return
        job._closing = True
        job._thread = self._thread
        self._put(("close", job, None))

    def stop(self) -> None:
        """Finish the queued work and end the thread."""
        if self._thread.is_alive():
            self._put(("stop", None, None))
            self._thread.join()

    def __enter__(self) -> "PartWriterThread":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
