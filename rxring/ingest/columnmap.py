"""A user's column map (``--columns FILE``, TOML): how to read an export the alias table does not know.

Example::

    # rxring column map
    [columns]                      # header as written -> canonical column
    "追溯码号" = "trace_code"
    "开票日期" = "event_time"
    "门店编号" = "site_id"

    [event_types]                  # value as written -> event type
    "零售出库" = "dispense"
    "门店调入" = "transfer_in"

    [times]
    formats = ["%d/%m/%Y %H:%M"]   # strptime formats, tried before the built-in spellings fail

    [file]
    default_site_id = "S001"       # for files without a site column (a store's own export)
    untyped_are_sales = true       # a file without an event-type column is sales (dispense)

The map applies to tabular inputs (CSV/TSV, XLSX, Parquet); its headers win over the alias
table, headers it does not name are mapped by the alias table as usual.  Every problem is
one :class:`~rxring.errors.RxringError` line naming the file, the key and the reason.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RxringError
from .aliases import COLUMN_ALIASES, EVENT_TYPE_ALIASES, normalise_header

__all__ = ["ColumnMap", "load_column_map", "MAP_COLUMNS", "EVENT_TYPES"]

#: The columns a map may name: the canonical columns, and the helpers under a plain name.
MAP_COLUMNS: dict[str, str] = {
    **{c: c for c in COLUMN_ALIASES if not c.startswith("_")},
    "price": "_price",
    "prescriber_name": "_prescriber_name",
    "inv_chg_type": "_inv_chg_type",
}
#: The event types a value may be mapped to.
EVENT_TYPES = tuple(sorted({v for k, v in EVENT_TYPE_ALIASES.items() if k == v}))
_SECTIONS = {"columns", "event_types", "times", "file"}
_FILE_KEYS = {"default_site_id", "untyped_are_sales"}
_MAX_BYTES = 1 << 20


@dataclass
class ColumnMap:
    """A parsed, validated column map.

    ``columns`` maps a normalised header (:func:`~rxring.ingest.aliases.normalise_header`)
    to the internal column name; ``event_types`` a lower-cased value to an event type.
    """

    path: str
    sha256: str
    text: str
    columns: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # normalised header -> header as the map writes it
    event_types: dict[str, str] = field(default_factory=dict)
    time_formats: tuple[str, ...] = ()
    default_site_id: str | None = None
    untyped_are_sales: bool | None = None

    def record(self) -> dict:
        """What the manifest keeps of the map: where it was, its SHA-256 and its whole text."""
        return {"path": self.path, "sha256": self.sha256, "content": self.text}


def _fail(path: str, key: str, reason: str):
    raise RxringError(f"column map {path}: {key}: {reason}")


def load_column_map(path) -> ColumnMap:
    """Read and validate a column map.

    Raises
    ------
    RxringError
        One line ``column map FILE: KEY: reason`` for the first problem found.
    """
    shown = str(path)
    p = Path(path)
    try:
        data = p.read_bytes()[: _MAX_BYTES + 1]
    except OSError as exc:
        raise RxringError(f"column map {shown}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > _MAX_BYTES:
        _fail(shown, "(file)", f"larger than {_MAX_BYTES >> 20} MiB; a column map is a few lines")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _fail(shown, "(file)", "not UTF-8 text (save the map as UTF-8)")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _fail(shown, "(file)", f"not valid TOML: {exc}")
    cm = ColumnMap(path=shown, sha256=hashlib.sha256(data).hexdigest(), text=text)
    for key in doc:
        if key not in _SECTIONS:
            _fail(shown, key, f"unknown section (expected {', '.join(sorted(_SECTIONS))})")
        if not isinstance(doc[key], dict):
            _fail(shown, key, f"must be a table [{key}]")
    targets: dict[str, str] = {}
    for header, column in doc.get("columns", {}).items():
        key = f"columns.{header!r}"
        norm = normalise_header(header)
        if not norm:
            _fail(shown, key, "an empty header")
        if not isinstance(column, str):
            _fail(shown, key, f"must be a column name (a string), not {type(column).__name__}")
        if column not in MAP_COLUMNS:
            _fail(shown, key, f"unknown column {column!r} (one of {', '.join(MAP_COLUMNS)})")
        if norm in cm.columns:
            _fail(shown, key, f"the header is mapped twice (also as {cm.headers[norm]!r})")
        if column in targets:
            _fail(shown, key, f"column {column} is already mapped from {targets[column]!r}")
        targets[column] = header
        cm.columns[norm] = MAP_COLUMNS[column]
        cm.headers[norm] = header
    for value, etype in doc.get("event_types", {}).items():
        key = f"event_types.{value!r}"
        if not str(value).strip():
            _fail(shown, key, "an empty value")
        if not isinstance(etype, str) or etype not in EVENT_TYPES:
            _fail(shown, key, f"unknown event type {etype!r} (one of {', '.join(EVENT_TYPES)})")
        cm.event_types[str(value).strip().lower()] = etype
    times = doc.get("times", {})
    for key in times:
        if key != "formats":
            _fail(shown, f"times.{key}", "unknown key (expected formats)")
    formats = times.get("formats", [])
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        _fail(shown, "times.formats", "must be a list of strptime formats, e.g. [\"%Y.%m.%d %H:%M\"]")
    for fmt in formats:
        if "%" not in fmt or not any(d in fmt for d in ("%Y", "%y")):
            _fail(shown, "times.formats", f"{fmt!r} is no date format (needs %Y or %y, e.g. \"%d/%m/%Y %H:%M\")")
        try:
            sample = datetime(2026, 5, 3, 10, 30, 15).strftime(fmt)
        except ValueError as exc:
            _fail(shown, "times.formats", f"{fmt!r}: {exc}")
        # the ingest reads with Arrow's strptime: a format it cannot read its own output with is refused
        back = pc.strptime(pa.array([sample]), format=fmt, unit="us", error_is_null=True)[0].as_py()
        if back is None:
            _fail(shown, "times.formats", f"{fmt!r} cannot read a time it writes ({sample!r}): an unknown "
                  "directive? (use %Y %m %d %H %M %S and literal text)")
    cm.time_formats = tuple(formats)
    section = doc.get("file", {})
    for key in section:
        if key not in _FILE_KEYS:
            _fail(shown, f"file.{key}", f"unknown key (expected {', '.join(sorted(_FILE_KEYS))})")
    site = section.get("default_site_id")
    if site is not None:
        if not isinstance(site, (str, int)) or isinstance(site, bool) or not str(site).strip():
            _fail(shown, "file.default_site_id", "must be a non-empty site id (a string)")
        cm.default_site_id = str(site).strip()
    sales = section.get("untyped_are_sales")
    if sales is not None and not isinstance(sales, bool):
        _fail(shown, "file.untyped_are_sales", "must be true or false")
    cm.untyped_are_sales = sales
    return cm
