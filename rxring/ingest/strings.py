"""Vectorised checks on Arrow string columns, read straight from their buffers.

Canonical input (rxring's own Parquet, a clean export) rarely needs trimming, and its
Chinese trace codes are all 20 digits.  Answering "is there anything to do?" from the
offsets and bytes with numpy is several times cheaper than doing the work with
pyarrow compute (which allocates a new column every time), so the normaliser asks
first and keeps the column as it is when the answer is no.

Every function here is conservative: ``False`` / ``None`` means "take the general
path", never a wrong answer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["string_parts", "may_need_trim", "has_empty", "all_fixed_digits", "fixed_slice"]

# First bytes of the UTF-8 encodings of the non-ASCII characters Arrow's
# utf8_trim_whitespace removes (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
# U+2029, U+202F, U+205F, U+3000).  A string that starts or ends with a character
# whose first byte is one of these is sent down the general path.
_UNICODE_SPACE_LEADS = (0xC2, 0xE1, 0xE2, 0xE3)  # tested by _space_lead


def string_parts(arr) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``(offsets, data)`` of a single-chunk ``string`` array, without copying.

    Returns None for other types (large_string, dictionary, ...) so that callers
    fall back to pyarrow compute.  ``offsets`` has ``len(arr) + 1`` entries and is
    already shifted for a sliced array; ``data`` is the whole value buffer.
    """
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks != 1:
            return None
        arr = arr.chunk(0)
    if not pa.types.is_string(arr.type):
        return None
    buffers = arr.buffers()
    n = len(arr)
    offsets = np.frombuffer(buffers[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4) if n else np.zeros(1, np.int32)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def _space_lead(bytes_: np.ndarray) -> np.ndarray:
    """Bytes that are ASCII space/control or the lead byte of a Unicode space."""
    return (bytes_ <= 0x20) | (bytes_ == 0xC2) | ((bytes_ >= 0xE1) & (bytes_ <= 0xE3))


def may_need_trim(arr) -> bool:
    """Whether some value might start or end with whitespace (True when unsure).

    Looks only at the first and last bytes of each non-empty value: an ASCII
    space or control byte, or the lead byte of a Unicode space (see
    ``_UNICODE_SPACE_LEADS``), means "maybe".  Costs a few gathers per value
    instead of building a trimmed copy of the column.
    """
    parts = string_parts(arr)
    if parts is None:
        return True
    offsets, data = parts
    if len(data) == 0:
        return False
    starts, ends = offsets[:-1], offsets[1:]
    nonempty = ends > starts
    if arr.null_count:
        valid = (arr.chunk(0) if isinstance(arr, pa.ChunkedArray) else arr).is_valid().to_numpy(zero_copy_only=False)
        nonempty &= valid
    everyone = bool(nonempty.all())
    if not everyone:
        starts, ends = starts[nonempty], ends[nonempty]
        if len(starts) == 0:
            return False
    # np.take (not fancy indexing): several times faster on a large index array
    if _space_lead(np.take(data, starts)).any():
        return True
    last = np.take(data, ends - 1)
    if (last <= 0x20).any():
        return True
    high = last >= 0x80
    if not high.any():
        return False
    # the last character is multi-byte: look at its lead byte, 2 or 3 bytes back
    # (4-byte characters are never whitespace); a value too short is "maybe".
    # Gathered for every value (clipped at 0) and masked: cheaper than filtering.
    length = ends - starts
    lead2 = _space_lead(np.take(data, np.maximum(ends - 2, 0))) & (length >= 2)
    lead3 = _space_lead(np.take(data, np.maximum(ends - 3, 0))) & (length >= 3)
    return bool((high & ((length < 2) | lead2 | lead3)).any())


def has_empty(arr) -> bool:
    """Whether some non-null value is the empty string (True when unsure)."""
    parts = string_parts(arr)
    if parts is None:
        return True
    offsets, _ = parts
    empty = offsets[1:] == offsets[:-1]
    if not empty.any():
        return False
    if not arr.null_count:
        return True
    valid = (arr.chunk(0) if isinstance(arr, pa.ChunkedArray) else arr).is_valid().to_numpy(zero_copy_only=False)
    return bool((empty & valid).any())


def all_fixed_digits(arr, width: int) -> bool:
    """Whether every value is present and exactly ``width`` ASCII digits."""
    parts = string_parts(arr)
    if parts is None or arr.null_count or len(arr) == 0:
        return False
    offsets, _ = parts
    if int(offsets[-1]) - int(offsets[0]) != len(arr) * width or not (np.diff(offsets) == width).all():
        return False
    return bool(pc.all(pc.ascii_is_decimal(arr)).as_py())


def fixed_slice(arr, width: int, begin: int, end: int) -> pa.Array:
    """Bytes ``begin:end`` of every value of a column checked by :func:`all_fixed_digits`."""
    offsets, data = string_parts(arr)
    n = len(offsets) - 1
    start = int(offsets[0])
    block = data[start : start + n * width].reshape(n, width)[:, begin:end]
    size = end - begin
    new_offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)
    values = np.ascontiguousarray(block).reshape(-1)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(new_offsets), pa.py_buffer(values)])
