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
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Sniffed", "sniff", "open_binary", "is_gzip", "text_stream", "raw_position", "Utf8Recoder"]

SAMPLE_BYTES = 256 * 1024


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


def open_binary(path: Path):
    """Open a file for binary reading, transparently un-gzipping it."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_sample(path: Path) -> bytes:
    with open_binary(path) as fh:
        try:
            return fh.read(SAMPLE_BYTES)
        except (OSError, EOFError, zipfile.BadZipFile):
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
            with zipfile.ZipFile(open_binary(path)) as zf:
                names = set(zf.namelist())
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
            except json.JSONDecodeError:
                pass
        return Sniffed("json", encoding=encoding)
    first_line = stripped.split("\n", 1)[0]
    return Sniffed("csv", encoding=encoding, delimiter=_delimiter(first_line))


def text_stream(path: Path, encoding: str) -> io.TextIOBase:
    """The file as text in the detected encoding (un-gzipped); bad bytes become U+FFFD."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors="replace", newline="")


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
            text = head.decode("utf-8", errors="replace")
            self.replaced += text.count("\ufffd") - head.count("\ufffd".encode())
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
