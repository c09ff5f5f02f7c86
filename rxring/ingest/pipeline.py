"""``ingest``: input files → canonical events, quarantine and manifest in a workspace."""

from __future__ import annotations

import os
import queue
import stat
import sys
import threading
import zlib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from ..digests import file_digests
from ..version import __version__
from ..errors import RxringError
from ..workspace import Workspace, create_workspace, fault_point, workspace_lock
from . import parallel
from .accounting import ALREADY, EMPTY, ERROR, INGESTED, UNKNOWN, FileReport, IngestReport
from .feedetails import FeeBook
from .formats import Chunk, FileProblem
from .formats.settlement import missing_fee_note
from .formats.jsonfmt import read_json, read_jsonl
from .formats.tabular import TablePlan, masking_header, read_csv, read_parquet, read_xlsx
from .columnmap import ColumnMap, load_column_map
from .normalise import FileContext, normalise
from .sniff import Sniffed, limits, sniff
from .partwriter import PartWriterThread
from .prepared import Prepared, prepare_chunk
from .store import InputWriter, cleanup_temporaries, committed_sizes, restore_committed

__all__ = ["ingest", "collect_inputs", "unreadable_reason", "input_chunks", "TABULAR_FORMATS",
           "dry_run_hint", "map_note"]

#: Formats a column map applies to (as sniffed, and as the manifest labels them).
TABULAR_FORMATS = ("csv", "tsv", "xlsx", "parquet")


def dry_run_hint(display: str) -> str:
    """The command that shows how a file would be read, with a column map to start from."""
    return f"see how it would be read and a column map to start from: rxring ingest --dry-run {display}"


def collect_inputs(paths: Iterable, skip: Path | None = None) -> list[tuple[Path, str, str | None]]:
    """Expand files and folders (recursively) into (path, display name, problem), sorted per folder.

    Hidden files and folders (names starting with ".") inside folders are skipped,
    and so is the workspace folder ``skip`` when it lies inside an input folder.
    Everything else found is listed: ``problem`` says why one is not read at all
    (a FIFO, socket or device, a broken symlink, a symlink to a folder; see
    :func:`unreadable_reason`), None for a regular file.  Nothing is opened here.

    Raises
    ------
    RxringError
        When an input does not exist.
    """
    out: list[tuple[Path, str, str | None]] = []
    seen: set[str] = set()
    skip = skip.resolve() if skip is not None else None
    for given in paths:
        path = Path(given)
        if not path.exists() and not path.is_symlink():
            raise RxringError(f"input {path} does not exist")
        if skip is not None and (path.resolve() == skip or skip in path.resolve().parents):
            raise RxringError(f"input {path} is inside the workspace {skip}; name the input files or folders instead")
        if path.is_dir():
            files = []
            for root, dirs, names in os.walk(path):
                rootp = Path(root)
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or (rootp / d).resolve() != skip))
                # a symlink to a folder is listed (and not followed), the folders themselves are walked
                listed = [n for n in names if not n.startswith(".")] + [d for d in dirs if (rootp / d).is_symlink()]
                files.extend(rootp / n for n in sorted(listed))
        else:
            files = [path]
        for f in files:
            display = f.as_posix()
            if display in seen:  # the same name given twice (a folder and a file in it)
                continue
            seen.add(display)
            out.append((f, display, unreadable_reason(f)))
    return out


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` is not read at all, or None for a regular file (looked at with stat, never opened:
    opening a FIFO would wait for a writer)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"broken symlink (its target {os.readlink(path)} does not exist); not read"
        return "the file disappeared before it was read"
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a symlink to a folder (not followed: name the folder itself to read it); not read"
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")
    return f"not a regular file ({kind}); not opened"


class _Progress:
    """A tqdm bar over a file's bytes, shown only on a terminal and for files worth it."""

    MIN_BYTES = 8 << 20

    def __init__(self, path: Path, size: int, enabled: bool):
        self.bar = None
        if enabled and size >= self.MIN_BYTES and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=size, unit="B", unit_scale=True, desc=path.name[:30], leave=False, file=sys.stderr)

    def tick(self, position: int | None = None) -> None:
        """Move the bar to ``position`` (bytes of the file as stored), or a little on."""
        if self.bar is None:
            return
        if position is None:
            position = self.bar.n + self.bar.total // 100
        self.bar.update(max(0, min(position, self.bar.total) - self.bar.n))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Prefetch:
    """Run a chunk iterator in a background thread, at most ``depth`` chunks ahead.

    Parsing the next block (pyarrow releases the GIL) then overlaps with
    normalising the current one; exceptions are re-raised in the consumer, and
    :meth:`close` stops the reader and closes its iterator (so its files close).
    """

    def __init__(self, iterator, depth: int = 1):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iterator,), name="rxring-reader", daemon=True)
        self._thread.start()

    def _put(self, message) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, iterator) -> None:
        try:
            for item in iterator:
                if not self._put(("item", item)):
                    break
            else:
                self._put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            self._put(("error", exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def __iter__(self):
        while True:
            kind, value = self._queue.get()
            if kind == "item":
                yield value
            elif kind == "done":
                return
            else:
                raise value

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _format_label(sniffed: Sniffed, kinds: Counter) -> str:
    if sniffed.format in ("json", "jsonl"):
        if not kinds:
            return sniffed.format
        return f"{kinds.most_common(1)[0][0]}-{sniffed.format}"
    if sniffed.format == "csv" and sniffed.delimiter == "\t":
        return "tsv"
    return sniffed.format


def input_chunks(path: Path, display: str, sniffed: Sniffed, sha16: str, ctx: FileContext, report: FileReport,
                 kinds: Counter, tick=lambda *a: None, fees: FeeBook | None = None, on_plan=None) -> Iterable[Chunk]:
    """The chunks of one input as its reader gives them, stamped with ``ctx`` (source file, event-type
    fallback, column map); ``report`` gets the table and the reader's notes.  ``on_plan(plan, source_file)``
    is told how each table's headers were mapped (tabular inputs).  Used by the ingest and the dry run."""
    def setup(plan: TablePlan, source_file: str | None = None) -> None:
        if on_plan is not None:
            on_plan(plan, source_file or ctx.source_file)
        ctx.default_event_type = plan.default_event_type
        if source_file:
            ctx.source_file = source_file
        report.table = "events" if plan.kind == "events" else f"masters/{plan.kind}"
        for note in plan.notes:
            if note not in report.notes:
                report.notes.append(note)

    cmap = ctx.column_map
    if sniffed.format == "csv":
        chunks = read_csv(path, sniffed.encoding, sniffed.delimiter, tick, setup, cmap)
    elif sniffed.format == "xlsx":
        chunks = read_xlsx(path, display, tick, setup, cmap)
    elif sniffed.format == "parquet":
        chunks = read_parquet(path, tick, setup, cmap)
    else:
        report.table = "events"
        if sniffed.format == "jsonl":
            chunks = read_jsonl(path, sniffed.encoding, sha16, display, tick, kinds, fees)
        else:
            chunks = read_json(path, sniffed.encoding, sha16, display, tick, kinds, fees)
    return _stamped(chunks, ctx)


def _stamped(chunks: Iterable[Chunk], ctx: FileContext) -> Iterable[Chunk]:
    """Copy the reader's current source file, event-type fallback and column map onto each chunk."""
    for chunk in chunks:
        chunk.source_file = ctx.source_file
        chunk.default_event_type = ctx.default_event_type
        chunk.column_map = ctx.column_map
        yield chunk


def _discard_counts(report: FileReport) -> None:
    """A file that failed as a whole contributes nothing (its writer was aborted)."""
    report.read = report.accepted = report.quarantined = report.events = report.deletions = report.blank = 0
    report.skipped = report.fee_details = 0
    report.skipped_infno = {}
    report.part = None


class _Finishing:
    """An input whose chunks are all read and queued; its part is still being written.

    :meth:`finish` waits for the part and commits the input (or records why it
    failed); :meth:`abort` drops it.  Finishing one input after the next one was
    read lets the writer thread encode the tail of one file while the next is read.
    """

    def __init__(self, report: FileReport, writer: InputWriter):
        self.report = report
        self.writer = writer

    def finish(self) -> None:
        report, writer = self.report, self.writer
        try:
            report.part = writer.commit()
        except BaseException:
            writer.abort()
            _discard_counts(report)
            report.status = ERROR
            raise
        report.events = writer.events
        report.status = INGESTED

    def abort(self) -> None:
        self.writer.abort()


def _account(item: Prepared, writer: InputWriter, report: FileReport, kinds: Counter) -> None:
    """Hand a prepared chunk to the writer and count it."""
    report.blank += item.blank
    report.notes.extend(n for n in item.notes if n not in report.notes)
    kinds.update(item.kinds)
    if item.rejects:
        writer.add_quarantine(item.rejects)
        report.read += len(item.rejects)
        report.quarantined += len(item.rejects)
    if item.deletions:
        writer.add_deletions(item.deletions)
        report.read += len(item.deletions)
        report.accepted += len(item.deletions)
        report.deletions += len(item.deletions)
    if item.fee_details:
        writer.add_fee_details(item.fee_details)
        report.read += len(item.fee_details)
        report.accepted += len(item.fee_details)
        report.fee_details += len(item.fee_details)
    if item.skipped:
        report.read += sum(item.skipped.values())
        report.skipped += sum(item.skipped.values())
        for infno, n in item.skipped.items():
            report.skipped_infno[infno] = report.skipped_infno.get(infno, 0) + n
    if item.master is not None:
        name, frame = item.master
        writer.add_master(name, frame)
        report.read += len(frame)
        report.accepted += len(frame)
    if item.events is not None:
        writer.add_events(item.events)
        writer.add_quarantine(item.quarantine)
        report.read += item.records
        report.accepted += item.events.num_rows
        report.quarantined += len(item.quarantine)


def _ingest_file(ws: Workspace, path: Path, display: str, report: FileReport, progress: bool,
                 part_writer: PartWriterThread | None = None,
                 part_pool: "parallel.PiecePool | None" = None, reveal_pii: bool = False,
                 fees: FeeBook | None = None, column_map=None) -> _Finishing | None:
    """Read, normalise and queue one input; returns what is left to finish it (None: nothing to commit).

    ``fees`` holds the fee details of the workspace and of the inputs read before
    this one (for its settlements); this input's are added to it once it is read.

    Whatever goes wrong while reading the file (a broken or hostile file, an input
    limit, even a bug in a reader) makes this file an ``error`` and never stops the
    other inputs; only a failed write to the workspace and interrupts are raised.
    """
    try:
        sniffed = sniff(path)
    except (OSError, RecursionError, MemoryError, ValueError) as exc:
        report.status = ERROR
        report.message = f"cannot read the file ({type(exc).__name__}: {exc})"
        return None
    report.format = sniffed.format
    report.encoding = sniffed.encoding
    if sniffed.format in ("empty", "unknown"):
        report.status = EMPTY if sniffed.format == "empty" else UNKNOWN
        report.message = sniffed.reason or ""
        return None
    sha16 = report.sha256[:16]
    tabular = sniffed.format in TABULAR_FORMATS
    # set up by the reader (in its thread); a column map applies to tabular inputs only
    ctx = FileContext(source_file=display, sha16=sha16, column_map=column_map if tabular else None)
    writer = InputWriter(ws, sha16, part_writer, reveal_pii=reveal_pii)
    kinds: Counter = Counter()
    bar = _Progress(path, report.size, progress)
    tick = bar.tick

    if part_pool is not None and parallel.worth_it(path, sniffed, part_pool) and part_pool.available():
        report.table = "events"
        chunks = _Prefetch(parallel.prepared_pieces(part_pool, path, sniffed.encoding, sha16, display, tick, fees), depth=1)
        prepared = chunks
    else:
        def on_plan(plan: TablePlan, source_file: str) -> None:
            if ctx.column_map is not None:
                writer.quarantine_header = masking_header(plan, sniffed.delimiter or ",")

        chunks = _Prefetch(input_chunks(path, display, sniffed, sha16, ctx, report, kinds, tick, fees, on_plan))
        prepared = (prepare_chunk(chunk, display, sha16, normalise) for chunk in chunks)
    try:
        missing_fee, first_missing = 0, None  # settlement codes without their fee detail: how many, the first
        for item in prepared:
            _account(item, writer, report, kinds)
            if item.missing_fee:
                missing_fee += len(item.missing_fee)
                first = min(item.missing_fee, key=lambda m: m[0])  # (a piece's deferred settlements come later)
                if first_missing is None or first[0] < first_missing[0]:
                    first_missing = first
        if missing_fee:
            report.notes.append(missing_fee_note(missing_fee, first_missing))
        report.format = _format_label(sniffed, kinds)
        if report.table == "events" and kinds and set(kinds) == {"nhsa"} and not writer.events:
            if report.deletions and not report.fee_details:
                report.table = "deletions"
            elif report.fee_details and not report.deletions:
                report.table = "fee_details"
        if fees is not None:
            fees.add(writer.fee_details)
        if ctx.column_map is not None:
            report.column_map = ctx.column_map.record()
        writer.close_async()
        return _Finishing(report, writer)
    except FileProblem as exc:
        writer.abort()
        report.status = UNKNOWN if exc.unknown else ERROR
        if exc.unknown and report.format == "csv":
            report.format = "text"
        report.message = str(exc)
        if tabular and ("nearest columns:" in report.message or "missing required column" in report.message):
            report.message += f"; {dry_run_hint(display)}"
        _discard_counts(report)
    except (EOFError, OSError, zlib.error, UnicodeError) as exc:
        # truncated gzip, unreadable bytes: the file is broken, not rxring
        writer.abort()
        report.status = ERROR
        report.message = f"stopped before the end of the file ({type(exc).__name__}: {exc}); nothing from it was kept"
        _discard_counts(report)
    except RxringError:
        writer.abort()  # a failed write of the workspace, a worker process that died: not this file's fault
        raise
    except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the others
        writer.abort()
        report.status = ERROR
        what = "ran out of memory reading it" if isinstance(exc, MemoryError) else (
            "nested too deeply to read" if isinstance(exc, RecursionError) else "could not be read")
        report.message = f"the file {what} ({type(exc).__name__}: {str(exc)[:200]}); nothing from it was kept"
        _discard_counts(report)
    except BaseException:
        writer.abort()
        raise
    finally:
        chunks.close()
        bar.close()
    return None


def ingest(paths, workspace, progress: bool = True, reveal_pii: bool = False, column_map=None) -> IngestReport:
    """Read input files into a workspace's canonical events, with full row accounting.

    Parameters
    ----------
    paths : iterable of str or Path
        Files or folders (read recursively); plain or gzipped.  Formats are
        recognised by content: NHSA 进销存 messages (JSON / JSON Lines), GS1 EPCIS
        2.0 JSON-LD, CSV/TSV and XLSX exports with Chinese or English headers,
        canonical CSV/Parquet, and master tables (sites, products, patients,
        prescribers).
    workspace : str, Path or Workspace
        The workspace folder (created when missing).
    progress : bool
        Show a progress bar for large files when stderr is a terminal.
    reveal_pii : bool
        Keep the personal fields of quarantined rows unmasked in quarantine.csv;
        granted only once recorded in the workspace's ``reveals.jsonl``
        (:func:`rxring.reveal.permit_reveal`).
    column_map : str, Path or ColumnMap, optional
        The user's column map (``--columns FILE``, :mod:`rxring.ingest.columnmap`) for the
        tabular inputs; recorded (path, SHA-256, content) in each such input's manifest entry.
        A file already ingested with another map (or none) is not read again: the report
        says so.

    Returns
    -------
    IngestReport
        Per-file rows (path, size, sha256, format, read, accepted, quarantined, …)
        and totals; also stored in the workspace's manifest.json.

    Raises
    ------
    RxringError
        When an input path does not exist or no path was given.

    Notes
    -----
    A file whose SHA-256 is already in the manifest adds nothing and is reported
    as "already ingested".  Unknown or empty files are reported and skipped; a
    file missing a required column is reported as an error; neither stops the
    other files.  ``read = accepted + quarantined + skipped`` holds per file and in total.
    Every file is read within the input limits (:class:`rxring.ingest.sniff.Limits`,
    raised by ``RXRING_MAX_*`` environment variables): a file beyond one is an
    error or one quarantined record, and whatever goes wrong reading one file never
    stops the others.  Files rejected whole are listed in the manifest's ``rejected``.

    Examples
    --------
    >>> report = ingest(["exports/"], "ws")                      # doctest: +SKIP
    >>> print(report.format_table())                             # doctest: +SKIP
    """
    paths = list(paths)
    if not paths:
        raise RxringError("no input given: name files or folders to ingest")
    limits()  # a bad RXRING_MAX_* variable stops here, before anything is read
    if column_map is not None and not isinstance(column_map, ColumnMap):
        column_map = load_column_map(column_map)  # so does a bad column map
    ws = create_workspace(workspace)
    # unmasked quarantine rows only once the reveal is recorded (in the workspace; once per CLI command)
    from ..reveal import permit_reveal  # rxring.reveal -> rxring.pii -> the ingest header aliases

    reveal_pii = permit_reveal(reveal_pii, ws, {"quarantine": "unmasked", "inputs": [str(p) for p in paths]},
                               api="rxring.ingest")
    with _workspace_lock(ws):
        return _ingest_locked(paths, ws, progress, reveal_pii, column_map)


def _workspace_lock(ws: Workspace):
    """One writer per workspace at a time (:func:`rxring.workspace.workspace_lock`, shared with
    `rxring analyze`); an ingest does not wait: it fails with one line naming the holder."""
    return workspace_lock(ws, "ingest", wait=0)


def _abs_path(path: Path) -> str:
    """Where a file is, for the manifest: a regular file's real path, else the path as named (a broken symlink)."""
    return str(path.resolve()) if path.is_file() else os.path.abspath(path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def map_note(previous: dict, column_map) -> str | None:
    """Why a tabular file already ingested is not read again with this run's column map (None: same map)."""
    if previous.get("format") not in TABULAR_FORMATS:
        return None
    before = previous.get("column_map") or None
    if (before or {}).get("sha256") == (column_map.sha256 if column_map is not None else None):
        return None
    was = f"with column map {before.get('path')} (SHA-256 {before.get('sha256', '')[:12]})" if before else "without a column map"
    now = f"column map {column_map.path} (SHA-256 {column_map.sha256[:12]})" if column_map is not None else "no column map"
    return (f"already ingested {was}; read with {now} it would be a different reading of the same file: nothing "
            f"added, its events are those of the first reading (ingest it into a new workspace to read it this way)")


def _ingest_locked(paths: list, ws: Workspace, progress: bool, reveal_pii: bool = False,
                   column_map=None) -> IngestReport:
    cleanup_temporaries(ws.root)
    inputs = collect_inputs(paths, skip=ws.root)
    manifest = ws.manifest()
    manifest.setdefault("inputs", [])
    restore_committed(ws, manifest)
    known = {entry.get("sha256"): entry for entry in manifest["inputs"]}
    report = IngestReport(workspace=str(ws.root))
    pending: list[tuple[_Finishing, Path]] = []  # inputs read, their parts still being written (oldest first)
    unsaved = False  # the manifest's lists of files that are no inputs changed since it was written

    def save() -> None:
        nonlocal unsaved
        manifest["version"] = __version__
        manifest["totals"] = _manifest_totals(manifest["inputs"])
        manifest.update(committed_sizes(ws))
        fault_point("ingest-before-manifest")
        ws.write_manifest(manifest)
        unsaved = False

    def complete() -> None:
        finishing, path = pending.pop(0)
        finishing.finish()
        entry = finishing.report
        record = entry.to_dict()
        record["abs_path"] = _abs_path(path)
        record["ingested_at"] = _now()
        manifest["inputs"].append(record)
        known[entry.sha256] = record
        for key, same in (("rejected", "sha256"), ("duplicates", "abs_path")):
            if manifest.get(key):
                manifest[key] = [r for r in manifest[key] if r.get(same) != record[same]]
        save()

    def remember(key: str, entry: FileReport, path: Path, **fields) -> None:
        """Record a file that is no input in the manifest's list ``key``, one record per file.

        ``rejected``: rejected whole, with the status and reason (not ``inputs``: the next
        ingest reads it again, e.g. after a limit was raised); one record per content too.
        ``duplicates``: skipped, its content is that of the input ``duplicate_of``.
        """
        nonlocal unsaved
        record = {"path": entry.path, "abs_path": _abs_path(path), "size": entry.size, "sha256": entry.sha256,
                  **fields, "checked_at": _now()}
        by_content = key == "rejected" and entry.sha256
        manifest[key] = [r for r in manifest.get(key, []) if r.get("abs_path") != record["abs_path"]
                         and not (by_content and r.get("sha256") == entry.sha256)] + [record]
        unsaved = True

    def reject(entry: FileReport, path: Path) -> None:
        remember("rejected", entry, path, format=entry.format, status=entry.status, reason=entry.message)

    part_writer = PartWriterThread(depth=2)
    part_pool = parallel.PiecePool()  # worker processes, started for the first large JSON Lines file
    fees = FeeBook(ws)  # fee details for settlements: the workspace's, then each input's as it is read
    try:
        for path, display, problem in inputs:
            entry = FileReport(path=display)
            report.files.append(entry)
            if problem is not None:  # a FIFO, a broken symlink, ...: never opened
                entry.status, entry.message = ERROR, problem
                reject(entry, path)
                continue
            try:
                status = path.stat()   # before the read: a file changed while it is read shows a later mtime
                entry.size, entry.mtime_ns = status.st_size, status.st_mtime_ns
                entry.sha256, entry.sm3, _ = file_digests(path)
            except OSError as exc:
                entry.status = ERROR
                entry.message = f"cannot read the file: {exc.strerror or exc}"
                reject(entry, path)
                continue
            while any(f.report.sha256 == entry.sha256 for f, _ in pending):
                complete()  # the same content twice in a row: the first copy must be known
            previous = known.get(entry.sha256)
            if previous is not None:
                entry.status = ALREADY
                entry.format = previous.get("format", "")
                entry.table = previous.get("table", "")
                if previous.get("path") != display:  # another file (or name) with known content
                    entry.message = f"skipped as a duplicate of {previous.get('path')} (same content, SHA-256)"
                    remember("duplicates", entry, path, duplicate_of=previous.get("path"))
                else:
                    entry.message = map_note(previous, column_map) or ""
                    entry.column_map = previous.get("column_map")
                    if not previous.get("sm3") and previous.get("abs_path") == _abs_path(path):
                        # ingested before SM3 was recorded: the same bytes were just read, keep their SM3
                        previous.update(sm3=entry.sm3, mtime_ns=entry.mtime_ns)
                        unsaved = True
                continue
            try:
                finishing = _ingest_file(ws, path, display, entry, progress, part_writer, part_pool, reveal_pii, fees,
                                         column_map)
            except BaseException:
                # as if read one by one: the inputs before this one are committed first
                while pending:
                    try:
                        complete()
                    except BaseException:  # noqa: BLE001 - the first error is the one to report
                        pass
                raise
            if finishing is not None:
                pending.append((finishing, path))
            elif entry.status in (ERROR, UNKNOWN, EMPTY):
                reject(entry, path)
            while len(pending) > 1 or (pending and finishing is None):
                complete()  # the previous input's part was written while this one was read
        while pending:
            complete()
        if unsaved:
            save()
    finally:
        for finishing, _ in pending:  # an exception left it unfinished
            finishing.abort()
        part_writer.stop()
        part_pool.close()
    return report


def _manifest_totals(inputs: list[dict]) -> dict:
    def total(key: str) -> int:
        return int(sum(entry.get(key) or 0 for entry in inputs))

    return {"files": len(inputs), "read": total("read"), "accepted": total("accepted"),
            "quarantined": total("quarantined"), "skipped": total("skipped"), "events": total("events"),
            "fee_details": total("fee_details")}