"""Large JSON Lines files parsed and normalised in worker processes, by byte range.

Parsing NHSA messages is Python-bound (``orjson`` / ``json.loads`` and the per-message
field mapping; the block reader needs about half the line reader's CPU), so threads do not help; two worker
processes do.  The file is cut into pieces of about :data:`PIECE_BYTES` that end
just after a line break; the calling process counts the line breaks before each
piece (with the same rules as a text file opened with ``newline=""``: ``\\n``,
``\\r\\n`` and a lone ``\\r``), so every record keeps its physical line number and
every id is the same as when the file is read in one go.  Each worker reads its
piece, parses it with :func:`~rxring.ingest.formats.jsonfmt.jsonl_block_chunks` (UTF-8; else
:func:`~rxring.ingest.formats.jsonfmt.jsonl_chunks`) and
returns :class:`~rxring.ingest.prepared.Prepared` chunks; the caller takes them
in file order, at most :data:`WINDOW` pieces in flight (bounded memory).

Only plain (not gzipped) files of at least :data:`PARALLEL_MIN_BYTES` in UTF-8,
GBK or GB18030 are split: in those a line-break byte never occurs inside a
multi-byte character.  An NHSA settlement looks up the fee details read before it
(:mod:`rxring.ingest.feedetails`): a worker finds those in its own piece; a
settlement naming one it does not find there (in an earlier piece, an earlier file,
the workspace, or nowhere) comes back unread (:attr:`~rxring.ingest.prepared.Prepared.deferred`)
and the caller reads it after the piece, with the fee details of every earlier
piece and of the piece's lines before it (:func:`~rxring.ingest.formats.jsonfmt.deferred_chunk`):
the same events, only later in the events table.  The workers are fresh interpreters
(``python -m rxring.ingest._piece_worker``, talking pickle over their standard
input and output), started once per ingest when the first such file comes: not
``fork`` (the caller has threads) and not ``multiprocessing`` spawn (which
re-imports the caller's main script).
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import subprocess
import sys
from collections import Counter, deque
from pathlib import Path
from typing import Callable, Iterator

from ..errors import RxringError
from .feedetails import FeeLookup
from .formats.jsonfmt import block_reader_enabled, deferred_chunk, jsonl_block_chunks, jsonl_chunks
from .prepared import Prepared, prepare_chunk
from .sniff import Sniffed, errors_for, is_gzip

__all__ = ["PiecePool", "worth_it", "byte_ranges", "prepared_pieces", "parse_piece",
           "PARALLEL_MIN_BYTES", "PIECE_BYTES", "WINDOW"]

PARALLEL_MIN_BYTES = 32 << 20
PIECE_BYTES = 8 << 20
WINDOW = 4  # pieces in flight (a task is a few hundred bytes: never blocks a worker's input pipe)
_SPLITTABLE = {"utf-8", "utf-8-sig", "ascii", "gbk", "gb18030", "gb2312"}
_SCAN = 1 << 16


class _Worker:
    """One worker process: tasks in on its stdin, results out on its stdout, in order."""

    def __init__(self):
        import rxring

        env = dict(os.environ)
        root = str(Path(rxring.__file__).resolve().parents[1])  # the same rxring as the caller's
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen([sys.executable, "-m", "rxring.ingest._piece_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def send(self, task: tuple) -> None:
        try:
            pickle.dump(task, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._died()

    def receive(self):
        try:
            kind, value = pickle.load(self.proc.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            self._died()
        if kind == "error":
            raise value
        return value

    def _died(self):
        code = self.proc.poll()
        raise RxringError(f"a JSON Lines worker process stopped unexpectedly (exit code {code}); "
                          "run again, or free some memory")

    def close(self, kill: bool = False) -> None:
        try:
            if kill:
                self.proc.kill()
            else:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass


class PiecePool:
    """Worker processes for :func:`prepared_pieces`, started on first use.

    Parameters
    ----------
    workers : int, optional
        Processes to use (default: the environment variable ``RXRING_INGEST_WORKERS``,
        else the number of CPUs, at most 2).  With 1 the pool is never started and
        every file is read in the calling process.
    """

    def __init__(self, workers: int | None = None):
        if workers is None:
            given = os.environ.get("RXRING_INGEST_WORKERS", "").strip()
            workers = int(given) if given.isdigit() else min(2, os.cpu_count() or 1)
        self.workers = max(1, workers)
        self._procs: list[_Worker] = []
        self._checked = False

    def processes(self) -> list[_Worker]:
        """The running workers (started when none are)."""
        if not self._procs:
            self._procs = [_Worker() for _ in range(self.workers)]
        return self._procs

    def available(self) -> bool:
        """Start the workers and check that they answer; when they do not, use none.

        A Python that cannot run ``-m rxring.ingest._piece_worker`` (a frozen
        application, a broken environment) makes the pool fall back to reading
        every file in the calling process, once and for all.
        """
        if self.workers < 2:
            return False
        if self._checked:
            return True
        try:
            procs = self.processes()
            for proc in procs:
                proc.send("ping")
            ok = all(proc.receive() == "pong" for proc in procs)
        except (RxringError, OSError):
            ok = False
        if not ok:
            self.close(kill=True)
            self.workers = 1
            return False
        self._checked = True
        return True

    def close(self, kill: bool = False) -> None:
        """Stop the workers (``kill``: at once, dropping work in progress)."""
        procs, self._procs = self._procs, []
        self._checked = False
        for proc in procs:
            proc.close(kill=kill)


def worth_it(path: Path, sniffed: Sniffed, pool: PiecePool | None = None) -> bool:
    """Whether a file is a large plain JSON Lines file that can be split by byte range."""
    if sniffed.format != "jsonl" or not sniffed.encoding or (pool is not None and pool.workers < 2):
        return False
    try:
        encoding = codecs.lookup(sniffed.encoding).name
    except LookupError:
        return False
    if encoding not in _SPLITTABLE:
        return False
    try:
        return path.stat().st_size >= PARALLEL_MIN_BYTES and not is_gzip(path)
    except OSError:
        return False


def _line_breaks(data: bytes) -> int:
    """Line breaks as a text file opened with ``newline=""`` sees them."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def byte_ranges(path: Path, piece_bytes: int | None = None) -> Iterator[tuple[int, int, int]]:
    """``(start, end, first_line)`` of consecutive pieces covering the file.

    Every piece but the last ends just after a ``\\n`` byte (so no ``\\r\\n`` is
    cut in two); ``first_line`` is the 1-based physical line its first byte is on.
    Pieces are about ``piece_bytes`` long (default :data:`PIECE_BYTES`).
    """
    piece_bytes = piece_bytes or PIECE_BYTES
    size = Path(path).stat().st_size
    start, line = 0, 1
    with open(path, "rb") as fh:
        while start < size:
            end = min(start + piece_bytes, size)
            fh.seek(start)
            data = fh.read(end - start)
            breaks, last = _line_breaks(data), data[-1:]
            del data
            while end < size and last != b"\n":  # to the end of the line (counted, never held: it may be huge)
                more = fh.read(_SCAN)
                if not more:
                    break
                cut = more.find(b"\n")
                if cut >= 0:
                    more = more[: cut + 1]
                breaks += _line_breaks(more) - (1 if last == b"\r" and more[:1] == b"\n" else 0)
                last = more[-1:]
                end += len(more)
            yield start, end, line
            line += breaks
            start = end


def parse_piece(path: str, encoding: str, start: int, end: int, first_line: int, sha16: str,
                display: str) -> list[Prepared]:
    """Parse and normalise one byte range of a JSON Lines file (runs in a worker)."""
    if start > 0 and codecs.lookup(encoding).name == "utf-8-sig":
        encoding = "utf-8"  # only the file's first piece can start with the BOM
    kinds: Counter = Counter()
    out = []
    fees = FeeLookup(partial=True)  # the piece's own fee details (settlements naming others are deferred)
    with open(path, "rb") as fh:
        fh.seek(start)
        raw = io.BufferedReader(_Range(fh, end - start), 1 << 20)
        if block_reader_enabled(encoding):
            chunks = jsonl_block_chunks(raw, first_line, encoding, sha16, display, kinds, fees=fees,
                                        at_start=start == 0)
        else:
            text = io.TextIOWrapper(raw, encoding=encoding, errors=errors_for(encoding), newline="")
            chunks = jsonl_chunks(text, first_line, sha16, display, kinds, fees=fees)
        for chunk in chunks:
            chunk.source_file = display
            out.append(prepare_chunk(chunk, display, sha16))
    out[-1].kinds = kinds
    return out


class _Range(io.RawIOBase):
    """``size`` bytes of an open file from its current position (a piece, read as a stream)."""

    def __init__(self, fh, size: int):
        super().__init__()
        self._fh, self._left = fh, size

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(target)[: min(len(target), self._left)]
        n = self._fh.readinto(view)
        self._left -= n or 0
        return n or 0


def prepared_pieces(pool: PiecePool, path: Path, encoding: str, sha16: str, display: str,
                    tick: Callable[..., None] = lambda position=None: None, fees=None) -> Iterator[Prepared]:
    """The prepared chunks of a large JSON Lines file, in file order, parsed by the pool's workers.

    Pieces go to the workers in turn, so each worker's results come back in the
    order the pieces were given; an error in a worker is raised here.  When the
    caller stops early, the workers are stopped (the next file starts fresh ones).
    ``fees`` (:class:`~rxring.ingest.feedetails.FeeBook`): the fee details read before
    this file, for the settlements the workers leave (read here, after their piece).
    """
    workers = pool.processes()
    pending: deque = deque()
    finished = False
    lookup = FeeLookup(fees)  # the fee details of the pieces handed on so far

    def piece_done(worker) -> Iterator[Prepared]:
        results = worker.receive()
        yield from results
        deferred = [d for p in results for d in p.deferred]
        chunk = deferred_chunk(deferred, [r for p in results for r in p.fee_details], lookup, sha16, display)
        if chunk is not None:
            yield prepare_chunk(chunk, display, sha16)

    try:
        for k, (start, end, first_line) in enumerate(byte_ranges(path)):
            worker = workers[k % len(workers)]
            worker.send((str(path), encoding, start, end, first_line, sha16, display))
            pending.append((end, worker))
            while len(pending) >= WINDOW:
                end_done, worker = pending.popleft()
                yield from piece_done(worker)
                tick(end_done)
        while pending:
            end_done, worker = pending.popleft()
            yield from piece_done(worker)
            tick(end_done)
        finished = True
    finally:
        if not finished:
            pool.close(kill=True)  # results still on their way would be taken for the next file's
