"""Recognise an input file by its content, not its name.

:func:`sniff` reads the first bytes (through gzip when the file is gzipped) and
answers one of:

``parquet``        Parquet magic ``PAR1``
``xlsx``           a ZIP holding ``xl/workbook.xml``
``json``           a JSON document (object or array), read whole
``jsonl``          JSON Lines, one object per line, streamed
``csv``            delimited text (comma, tab, semicolon or pipe) in a detected encoding
``empty``          no bytes, or only whitespace
``unknown``        anything else (binary junk, an unknown encoding, other archives);
                   ``Sniffed.reason`` says why

Input limits (:class:`Limits`, read from ``RXRING_MAX_*`` environment variables,
which a command's ``--input-limit NAME=VALUE`` sets for one run: :func:`limits_set`)
bound what one file may cost: a gzip stream read through :func:`open_binary`
stops with :class:`InputLimit` when it inflates beyond ``max_decompressed``
bytes or, after ``RATIO_GRACE`` bytes, beyond ``max_ratio`` times the bytes
consumed.  Text that is not valid UTF-8 in a UTF-8 file is decoded line by line
as GB18030 where it can be (the ``rxring-gb18030`` codec error handler), so a
BOM followed by GBK text, or a file of mixed encodings, is read row by row.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import struct
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .formats import FileProblem
from .normalise import EARLIEST_TIME, TIME_WINDOW_ENV, parse_time_window

__all__ = ["Sniffed", "sniff", "open_binary", "is_gzip", "text_stream", "raw_position", "Utf8Recoder",
           "Limits", "InputLimit", "limits", "FALLBACK_ERRORS", "check_zip_inflation", "LIMIT_VARIABLES",
           "limits_set", "limits_help"]

SAMPLE_BYTES = 256 * 1024
GiB, MiB = 1 << 30, 1 << 20
# A gzip stream is measured against max_ratio only after this many bytes came out
# of it: a small file of repeated values may legitimately inflate a lot.
RATIO_GRACE = 32 * MiB


@dataclass(frozen=True)
class Limits:
    """What one input file may cost (defaults; each raised by its environment variable).

    ==================  ==============================  =========  ===============================================
    attribute           environment variable            default    what
    ==================  ==============================  =========  ===============================================
    max_decompressed    ``RXRING_MAX_DECOMPRESSED``     64 GiB     bytes a gzip file, an XLSX's members or a Parquet
                                                                   file's column chunks inflate to
    max_ratio           ``RXRING_MAX_RATIO``            200        decompressed / compressed bytes (gzip after 32 MiB
                                                                   out; an XLSX member or Parquet column chunk over
                                                                   32 MiB by its declared sizes)
    max_line            ``RXRING_MAX_LINE_BYTES``       16 MiB     one JSON line, JSON array item or CSV header
    max_json_depth      ``RXRING_MAX_JSON_DEPTH``       100        nesting of objects and arrays in one JSON record
    max_document        ``RXRING_MAX_DOCUMENT_BYTES``   256 MiB    what is loaded whole: a JSON document that is
                                                                   not a list, a gzipped Parquet file, an XLSX's
                                                                   shared strings
    ==================  ==============================  =========  ===============================================

    Values are bytes (``K``, ``M``, ``G`` suffixes accepted) or plain numbers.
    """

    max_decompressed: int = 64 * GiB
    max_ratio: float = 200.0
    max_line: int = 16 * MiB
    max_json_depth: int = 100
    max_document: int = 256 * MiB


_ENV = {"max_decompressed": "RXRING_MAX_DECOMPRESSED", "max_ratio": "RXRING_MAX_RATIO",
        "max_line": "RXRING_MAX_LINE_BYTES", "max_json_depth": "RXRING_MAX_JSON_DEPTH",
        "max_document": "RXRING_MAX_DOCUMENT_BYTES"}
_UNITS = {"k": 1 << 10, "m": MiB, "g": GiB, "t": 1 << 40}


def _parse_amount(text: str) -> float:
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = 1
    if text and text[-1] in _UNITS:
        unit, text = _UNITS[text[-1]], text[:-1]
    return float(text) * unit


def _amount(value: str) -> float | None:
    """A limit's value (bytes with K/M/G/T suffixes, or a plain number), None when it is not a positive number."""
    try:
        amount = _parse_amount(value)
    except ValueError:
        return None
    return amount if amount > 0 else None


def limits() -> Limits:
    """The limits in force: :class:`Limits` defaults, overridden by the ``RXRING_MAX_*`` environment variables.

    Raises
    ------
    RxringError
        When a variable is set to something that is not a positive number.
    """
    from ..errors import RxringError

    given = {}
    for name, variable in _ENV.items():
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        amount = _amount(value)
        if amount is None:
            raise RxringError(f"{variable}={value!r} is not a positive number")
        given[name] = amount if name == "max_ratio" else int(amount)
    return Limits(**given)


def _option_name(variable: str) -> str:
    return variable.removeprefix("RXRING_").lower().replace("_", "-")


#: Every input limit a command line can set (``--input-limit NAME=VALUE``), NAME -> its environment
#: variable: the :class:`Limits` (``max-decompressed``, ``max-ratio``, ``max-line-bytes``,
#: ``max-json-depth``, ``max-document-bytes``) and the plausible event-time window (``time-window``,
#: :func:`rxring.ingest.normalise.time_window`).
LIMIT_VARIABLES = {_option_name(variable): variable for variable in (*_ENV.values(), TIME_WINDOW_ENV)}


def limits_help() -> str:
    """The names, variables and defaults of :data:`LIMIT_VARIABLES`, for a command's --help."""
    defaults = Limits()

    def shown(name: str) -> str:
        value = getattr(defaults, name)
        if name in ("max_ratio", "max_json_depth"):
            return f"{value:g}"
        unit = "GiB" if value % GiB == 0 else "MiB"
        return f"{value // (GiB if unit == 'GiB' else MiB)}{unit}"

    described = [f"{_option_name(variable)} ({variable}, default {shown(name)})" for name, variable in _ENV.items()]
    described.append(f"{_option_name(TIME_WINDOW_ENV)} ({TIME_WINDOW_ENV}, START..END, default "
                     f"{EARLIEST_TIME:%Y-%m-%d}.. one year after the ingest time)")
    return "; ".join(described)


@contextmanager
def limits_set(assignments: Iterable[str], option: str = "--input-limit"):
    """Set input limits for the duration of a command: ``NAME=VALUE`` texts (:data:`LIMIT_VARIABLES`).

    Every assignment is checked first; then each limit's environment variable is
    set (so worker processes see it too) and restored on exit.  A later assignment
    of the same NAME wins.  Values: bytes with ``K``/``M``/``G``/``T`` suffixes
    (``64GiB``, ``512M``) or plain numbers; the time window ``START..END``.

    Raises
    ------
    RxringError
        One line naming the assignment, when a NAME is unknown or a value invalid.

    Examples
    --------
    >>> with limits_set(["max-ratio=500", "max-line-bytes=64MiB"]) as lim:
    ...     lim.max_ratio, lim.max_line
    (500.0, 67108864)
    """
    from ..errors import RxringError

    values: dict[str, str] = {}
    for text in assignments:
        name, sep, value = text.partition("=")
        name, value = name.strip().lower().replace("_", "-"), value.strip()
        if not sep or name not in LIMIT_VARIABLES:
            raise RxringError(f"{option} {text!r}: expected NAME=VALUE, NAME one of {', '.join(LIMIT_VARIABLES)}")
        variable = LIMIT_VARIABLES[name]
        if variable == TIME_WINDOW_ENV:
            try:
                parse_time_window(value)
            except RxringError as exc:
                raise RxringError(f"{option} {name}={value}: {exc}") from None
        elif _amount(value) is None:
            raise RxringError(f"{option} {name}={value}: not a positive number (sizes in bytes may have a "
                              f"K, M, G or T suffix: 64GiB, 512M)")
        values[variable] = value
    before = {variable: os.environ.get(variable) for variable in values}
    os.environ.update(values)
    try:
        yield limits()
    finally:
        for variable, value in before.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def limit_hint(name: str) -> str:
    """``set RXRING_... to raise the limit``: the remedy named in every limit message."""
    return f"set {_ENV[name]} to raise the limit"


class InputLimit(FileProblem):
    """A file exceeds one of the :class:`Limits` (a bomb, or an export too large to read whole)."""


class _LimitedGzip(io.BufferedIOBase):
    """A gzip stream that stops with :class:`InputLimit` past the size or ratio limit.

    ``fileobj`` is the file as stored (for :func:`raw_position`); zlib errors (a
    flipped byte) become ``OSError`` so that every reader treats them as a broken file.
    """

    def __init__(self, path: Path, lim: Limits | None = None):
        super().__init__()
        self.fileobj = open(path, "rb")
        self._gz = gzip.GzipFile(fileobj=self.fileobj, mode="rb")
        self._limits = lim or limits()
        self._out = 0

    def readable(self) -> bool:
        return True

    def _count(self, n: int) -> None:
        self._out += n
        lim = self._limits
        if self._out > lim.max_decompressed:
            raise InputLimit(f"the gzip file inflates beyond {lim.max_decompressed:,} bytes "
                             f"({limit_hint('max_decompressed')}); nothing from it was kept")
        if self._out > RATIO_GRACE:
            consumed = max(self.fileobj.tell(), 1)
            if self._out > lim.max_ratio * consumed:
                raise InputLimit(f"the gzip file inflates more than {lim.max_ratio:g} times "
                                 f"({self._out:,} bytes from {consumed:,}; a compression bomb? "
                                 f"{limit_hint('max_ratio')}); nothing from it was kept")

    def _call(self, method, *args):
        try:
            result = method(*args)
        except zlib.error as exc:
            raise OSError(f"corrupt gzip data ({exc})") from None
        return result

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(1 << 20)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        data = self._call(self._gz.read, size)
        self._count(len(data))
        return data

    def read1(self, size: int = -1) -> bytes:
        data = self._call(self._gz.read1, size if size and size > 0 else 1 << 16)
        self._count(len(data))
        return data

    def readinto(self, target) -> int:
        n = self._call(self._gz.readinto, target)
        self._count(n)
        return n

    def readinto1(self, target) -> int:
        return self.readinto(target)

    def close(self) -> None:
        try:
            self._gz.close()
        finally:
            self.fileobj.close()
            super().close()


def _gb18030_fallback(exc: UnicodeError):
    """Codec error handler: bytes that are not UTF-8 are read as GB18030 up to the line's end.

    Lines that are not GB18030 either get U+FFFD for the bad byte (their rows are
    then quarantined by the normaliser, not the whole file rejected).
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    data, start = exc.object, exc.start
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    try:
        return bytes(data[start:end]).decode("gb18030"), end
    except UnicodeDecodeError:
        return "\ufffd", exc.end


FALLBACK_ERRORS = "rxring-gb18030"
codecs.register_error(FALLBACK_ERRORS, _gb18030_fallback)


def errors_for(encoding: str) -> str:
    try:
        utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except LookupError:
        utf8 = False
    return FALLBACK_ERRORS if utf8 else "replace"


@dataclass(frozen=True)
class Sniffed:
    """What a file looks like: ``format``, text ``encoding`` and CSV ``delimiter`` when known."""

    format: str
    encoding: str | None = None
    delimiter: str | None = None
    reason: str | None = None


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_binary(path: Path, lim: Limits | None = None):
    """Open a file for binary reading, transparently un-gzipping it (within :class:`Limits`)."""
    if is_gzip(path):
        return _LimitedGzip(path, lim)
    return open(path, "rb")


def zip_source(path: Path, lim: Limits | None = None):
    """What :mod:`zipfile` can open: the path, or a gzipped archive unpacked in memory (seekable).

    Raises
    ------
    InputLimit
        When the gzipped archive is larger than ``max_document``.
    """
    if not is_gzip(path):
        return path
    lim = lim or limits()
    with open_binary(path, lim) as fh:
        data = fh.read(lim.max_document + 1)
    if len(data) > lim.max_document:
        raise InputLimit(f"a gzipped ZIP/XLSX is unpacked in memory, and this one is larger than "
                         f"{lim.max_document:,} bytes ({limit_hint('max_document')}, or gunzip it)")
    return io.BytesIO(data)


_LOCAL_HEADER = struct.Struct("<4sHHHHHLLLHH")  # a ZIP member's local file header (30 bytes)


def check_zip_inflation(source, lim: Limits | None = None, what: str = "ZIP") -> None:
    """Inflate every member of a ZIP archive, counting the bytes that really come out.

    The sizes a ZIP declares in its headers may lie (a member declaring 1 KB that
    inflates to gigabytes); this reads each member's compressed bytes (as many as
    the central directory says, what :mod:`zipfile` reads too) and stops as soon as
    the bytes counted pass a limit.  Costs one extra inflation of the archive, in
    blocks of 1 MiB (bounded memory).

    Parameters
    ----------
    source : path or seekable binary file
    what : str
        How the archive is named in messages (``XLSX``).

    Raises
    ------
    InputLimit
        When the members inflate beyond ``max_decompressed`` bytes in all, or one
        member, after ``RATIO_GRACE`` bytes out, more than ``max_ratio`` times its
        compressed size.
    zipfile.BadZipFile
        When a member's local header is missing.
    """
    lim = lim or limits()
    total = 0
    with zipfile.ZipFile(source) as zf:
        fp = zf.fp
        for info in zf.infolist():
            fp.seek(info.header_offset)
            header = fp.read(_LOCAL_HEADER.size)
            if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"member {info.filename}: no local header at offset {info.header_offset}")
            fields = _LOCAL_HEADER.unpack(header)
            fp.seek(fields[9] + fields[10], io.SEEK_CUR)  # the file name and extra field

            def count(out: int) -> None:
                if total + out > lim.max_decompressed:
                    raise InputLimit(f"the {what} inflates to more than {lim.max_decompressed:,} bytes (counted while "
                                     f"inflating; {limit_hint('max_decompressed')}); nothing from it was kept")
                if out > RATIO_GRACE and out > lim.max_ratio * max(info.compress_size, 1):
                    raise InputLimit(f"{what} member {info.filename} inflates more than {lim.max_ratio:g} times "
                                     f"({info.compress_size:,} bytes to more than {out:,}, though its header declares "
                                     f"{info.file_size:,}; a compression bomb? {limit_hint('max_ratio')}); "
                                     f"nothing from it was kept")

            total += _inflated_size(zf, info, fp, count)


def _inflated_size(zf: zipfile.ZipFile, info: zipfile.ZipInfo, fp, count) -> int:
    """Bytes a member inflates to (``fp`` at its compressed data); ``count(bytes so far)`` after each block."""
    if info.compress_type == zipfile.ZIP_STORED:
        count(info.compress_size)
        return info.compress_size
    if info.compress_type != zipfile.ZIP_DEFLATED:  # bzip2, lzma: zipfile reads no more than declared
        out = 0
        with zf.open(info) as member:
            for block in iter(lambda: member.read(1 << 20), b""):
                out += len(block)
                count(out)
        return out
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    left, out, pending = info.compress_size, 0, b""
    while not inflate.eof:
        if not pending:
            if left <= 0:
                break
            pending = fp.read(min(left, 1 << 16))
            if not pending:
                break
            left -= len(pending)
        try:
            block = inflate.decompress(pending, 1 << 20)
        except zlib.error as exc:
            raise zipfile.BadZipFile(f"member {info.filename}: corrupt deflate data ({exc})") from None
        pending = inflate.unconsumed_tail
        out += len(block)
        count(out)
    return out


def _read_sample(path: Path) -> bytes:
    with open_binary(path) as fh:
        try:
            return fh.read(SAMPLE_BYTES)
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, InputLimit):
            return b"\x00corrupt-gzip"


def _decode_encoding(sample: bytes) -> tuple[str | None, str | None]:
    """(python codec name, reason when unknown)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    if b"\x00" in sample:
        return None, "binary data (NUL bytes), not a text export"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=len(sample) < SAMPLE_BYTES)
        return "utf-8", None
    except UnicodeDecodeError:
        pass
    for name in ("gbk", "gb18030"):
        decoder = codecs.getincrementaldecoder(name)()
        try:
            decoder.decode(sample, final=len(sample) < SAMPLE_BYTES)
            return name, None
        except UnicodeDecodeError:
            continue
    # Not clean in any of them: take the one with a few stray bad bytes, if any.
    counts = {name: sample.decode(name, errors="replace").count("\ufffd") for name in ("utf-8", "gbk", "gb18030")}
    best_name = min(counts, key=lambda k: (counts[k], k != "utf-8"))
    if counts[best_name] <= max(4, len(sample) // 2000):
        return best_name, None
    # UTF-8 with lines in GBK/GB18030 (mixed exports): read line by line with the fallback
    mixed = sample.decode("utf-8", errors=FALLBACK_ERRORS).count("\ufffd") - sample.count("\ufffd".encode())
    if mixed <= max(4, len(sample) // 2000):
        return "utf-8", None
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample).best()
    except Exception:  # noqa: BLE001 - detection is best effort
        best = None
    if best is not None and best.encoding and (best.percent_chaos or 0) < 0.2:
        return best.encoding, None
    return None, "unknown text encoding (not UTF-8, GBK or GB18030)"


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\r\n\t\x1d")
    return controls > max(8, len(text[:4096]) // 50)


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def sniff(path: str | Path) -> Sniffed:
    """Recognise a file's format by content.

    Parameters
    ----------
    path : str or Path
        The file (plain or gzipped).

    Returns
    -------
    Sniffed
    """
    path = Path(path)
    sample = _read_sample(path)
    if sample == b"\x00corrupt-gzip":
        return Sniffed("unknown", reason="gzip file is corrupt or truncated")
    if not sample.strip():
        return Sniffed("empty", reason="empty file")
    if sample.startswith(b"PAR1"):
        return Sniffed("parquet")
    if sample.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(zip_source(path)) as zf:
                names = set(zf.namelist())
        except InputLimit as exc:
            return Sniffed("unknown", reason=str(exc))
        except (zipfile.BadZipFile, OSError, EOFError):
            return Sniffed("unknown", reason="corrupt ZIP archive")
        if "xl/workbook.xml" in names:
            return Sniffed("xlsx")
        return Sniffed("unknown", reason="a ZIP archive that is not an XLSX workbook; unpack it and ingest the files inside")
    if sample.startswith(b"\xd0\xcf\x11\xe0"):
        return Sniffed("unknown", reason="legacy Excel .xls workbook; save it as .xlsx or CSV")
    encoding, why = _decode_encoding(sample)
    if encoding is None:
        return Sniffed("unknown", reason=why)
    text = sample.decode(encoding, errors="ignore")
    if _looks_binary(text):
        return Sniffed("unknown", reason="binary data, not a text export")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in "{[":
        first_line = stripped.split("\n", 1)[0].strip()
        if stripped[0] == "{":
            try:
                json.loads(first_line)
                return Sniffed("jsonl", encoding=encoding)
            except (json.JSONDecodeError, RecursionError):
                pass
        return Sniffed("json", encoding=encoding)
    first_line = stripped.split("\n", 1)[0]
    return Sniffed("csv", encoding=encoding, delimiter=_delimiter(first_line))


def text_stream(path: Path, encoding: str) -> io.TextIOBase:
    """The file as text in the detected encoding (un-gzipped, within :class:`Limits`).

    Bad bytes become U+FFFD; in a UTF-8 file, a line that is not UTF-8 is read as
    GB18030 when it can be (:data:`FALLBACK_ERRORS`).
    """
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors=errors_for(encoding), newline="")


def raw_position(stream) -> int | None:
    """Bytes consumed from the file as stored (the compressed position for gzip)."""
    try:
        inner = getattr(stream, "buffer", stream)
        inner = getattr(inner, "fileobj", inner)
        return inner.tell()
    except (OSError, ValueError, AttributeError):
        return None


class Utf8Recoder(io.RawIOBase):
    """A binary stream in any encoding, read as UTF-8 (undecodable bytes become U+FFFD).

    Lets pyarrow parse GBK/GB18030 exports and survive a stray bad byte instead of
    stopping the whole file; ``replaced`` counts the replacement characters made.
    """

    def __init__(self, raw, encoding: str, block: int = 1 << 20):
        super().__init__()
        self.raw = raw
        self._utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
        self._carry = b""
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._buffer = b""
        self._block = block
        self._eof = False
        self.replaced = 0
        self.fallback_blocks = 0  # blocks with bytes that are not UTF-8 (read as GB18030 where they decode)

    def readable(self) -> bool:
        return True

    def _utf8_block(self, data: bytes) -> bytes:
        """Valid UTF-8 passes through untouched (no re-encoding); only bad blocks are repaired."""
        block = self._carry + data
        cut = len(block)
        if not self._eof:
            # keep an incomplete multi-byte character for the next block
            for back in range(1, min(4, len(block)) + 1):
                byte = block[-back]
                if byte < 0x80:
                    break
                if byte >= 0xC0:
                    needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
                    if needed > back:
                        cut = len(block) - back
                    break
        head, self._carry = block[:cut], block[cut:]
        try:
            head.decode("utf-8")
            return head
        except UnicodeDecodeError:
            text = head.decode("utf-8", errors=FALLBACK_ERRORS)
            self.replaced += text.count("\ufffd") - head.count("\ufffd".encode())
            self.fallback_blocks += 1
            return text.encode("utf-8")

    def _fill(self, size: int) -> None:
        parts, have = [self._buffer], len(self._buffer)
        while have < size and not self._eof:
            data = self.raw.read(self._block)
            self._eof = not data
            encoded = self._utf8_block(data) if self._utf8 else None
            if encoded is None:
                text = self._decoder.decode(data, final=self._eof)
                if "\ufffd" in text:
                    self.replaced += text.count("\ufffd")
                encoded = text.encode("utf-8")
            parts.append(encoded)
            have += len(encoded)
        if len(parts) > 1:
            self._buffer = b"".join(parts)

    def readinto(self, target) -> int:
        size = len(target)
        self._fill(size)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        target[: len(chunk)] = chunk
        return len(chunk)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            self._fill(1 << 62)
            chunk, self._buffer = self._buffer, b""
            return chunk
        self._fill(size)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk

    def close(self) -> None:
        self.raw.close()
        super().close()
