"""Finding the original input files again and reading given lines from them.

Events carry ``source_file`` and ``source_line`` (DESIGN §2); the workspace
manifest records each input's path and SHA-256.  For an evidence package we show
the raw line when the file is still there *and unchanged* (same SHA-256 as at
ingest; not read again while its size and modification time are those ingest
recorded, :func:`check_input`), and otherwise say why it is not shown.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..digests import file_digests
from ..pii import HEADER_SCAN_LINES, decode_line, find_header_line, split_header

__all__ = ["SourceLine", "manifest_inputs", "inputs_listing", "input_names", "input_name_map", "sha256_listing", "read_source_lines", "check_input", "MAX_RAW_CHARS", "mapped_header"]

# a column map's column -> the header name the masker knows it by
_MASKER_NAMES = {"prescriber_name": "prsc_dr_name"}


def mapped_header(header: str, column_map: dict | None) -> str:
    """``header`` with the headers a user's column map (``rxring ingest --columns``, as the manifest
    records it: path, sha256, content) named given their canonical names, so that the masker finds
    the personal columns under headers it does not know; ``header`` itself without a map."""
    if not header or not column_map or not column_map.get("content"):
        return header
    try:
        columns = tomllib.loads(column_map["content"]).get("columns", {})
    except (tomllib.TOMLDecodeError, AttributeError, TypeError):
        return header
    split = split_header(header)
    if split is None or not isinstance(columns, dict):
        return header
    from ..ingest.aliases import normalise_header

    names, delimiter = split
    wanted = {normalise_header(h): _MASKER_NAMES.get(c, c) for h, c in columns.items() if isinstance(c, str)}
    return delimiter.join(wanted.get(normalise_header(n), n) for n in names)

MAX_RAW_CHARS = 8000
_BINARY_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".parquet", ".zip", ".gz")


@dataclass(frozen=True)
class SourceLine:
    source_file: str
    source_line: int | None
    status: str  # ok | file_missing | file_changed | beyond_end | binary_format | no_line
    raw: str = ""
    header: str = ""  # the file's header line when it is a delimited text file (to mask raw by column)


def check_input(path: Path, item: dict, sm3: bool = True) -> tuple[bool, str | None]:
    """Whether the file at ``path`` still holds the bytes ingest hashed (``item``: its entry of the
    manifest, :func:`manifest_inputs`), and the SM3 of those bytes when known.

    While the file's size and modification time are those ingest recorded beside its SHA-256
    and SM3, it is taken as unchanged without reading it (as ``make`` and ``git status`` do);
    otherwise, or for a workspace ingested before SM3 was recorded, it is read again and its
    SHA-256 compared (and its SM3 computed, unless ``sm3`` is false).  OSError when the file
    cannot be read.
    """
    status = path.stat()
    if (item.get("sm3") and item.get("mtime_ns") is not None and status.st_size == item.get("size")
            and status.st_mtime_ns == item.get("mtime_ns")):
        return True, str(item["sm3"])
    sha, computed, _ = file_digests(path, sm3=sm3)
    same = sha == item.get("sha256")
    return same, (computed if same and computed else item.get("sm3") or None)


def manifest_inputs(manifest: dict) -> list[dict]:
    """The manifest's inputs as ``{"path": str, "sha256": str|None}`` (tolerant of key names)."""
    out = []
    for item in manifest.get("inputs", []) or []:
        if isinstance(item, str):
            out.append({"path": item, "sha256": None})
            continue
        if not isinstance(item, dict):
            continue
        path = item.get("path") or item.get("file") or item.get("source_file") or item.get("name")
        if path:
            out.append({"path": str(path), "sha256": item.get("sha256"), **{k: v for k, v in item.items() if k not in ("path", "sha256")}})
    return out


def input_names(inputs: list[dict]) -> list[str]:
    """Machine-independent names of ``inputs`` (:func:`manifest_inputs`): POSIX paths relative to
    the folder that holds them all, so a package names ``sales/2026-03.csv``, never ``/home/li/…``.

    >>> input_names([{"path": "/data/a/x.csv"}, {"path": "/data/b/y.csv"}, {"path": "z.csv"}])
    ['a/x.csv', 'b/y.csv', 'z.csv']
    """
    located = [Path(str(i.get("abs_path") or i["path"])) for i in inputs]
    absolute = [p for p in located if p.is_absolute()]
    try:
        base = Path(os.path.commonpath([str(p.parent) for p in absolute])) if absolute else None
    except ValueError:  # no common folder (different drives): each file by its name
        base = None
    names = []
    for path in located:
        if not path.is_absolute():
            relative = path
        else:
            relative = path.relative_to(base) if base is not None else Path(path.name)
        parts = [part for part in relative.parts if part not in ("", ".")]
        names.append(PurePosixPath(*parts).as_posix() if parts and ".." not in parts else path.name)
    return names


def input_name_map(manifest: dict) -> dict[str, str]:
    """Each input's path as recorded (as given and absolute) → its :func:`input_names` name.

    >>> input_name_map({"inputs": [{"path": "d/x.csv", "abs_path": "/w/d/x.csv"}]})
    {'d/x.csv': 'x.csv', '/w/d/x.csv': 'x.csv'}
    """
    inputs = manifest_inputs(manifest)
    out = {}
    for item, name in zip(inputs, input_names(inputs)):
        out.update({str(item[key]): name for key in ("path", "abs_path") if item.get(key)})
    return out


def inputs_listing(manifest: dict) -> bytes:
    """``inputs.sha256``: one ``SHA-256  name`` line per input of the workspace manifest (``sha256sum``
    format), the name relative to the inputs' common folder (:func:`input_names`): run
    ``sha256sum -c inputs.sha256`` in that folder, or ``rxring evidence verify --check-inputs FOLDER``.

    Its SHA-256 is the inputs digest printed on every page of a PDF report.
    """
    inputs = manifest_inputs(manifest)
    return "".join(f"{item.get('sha256') or '-' * 64}  {name}\n"
                   for item, name in zip(inputs, input_names(inputs))).encode("utf-8")


def sha256_listing(files: dict[str, bytes]) -> bytes:
    """``SHA-256  name`` of each of ``files`` (name -> bytes), sorted by name: MANIFEST.sha256's format.

    Examples
    --------
    >>> sha256_listing({"b": b"", "a": b"x"}).decode().splitlines()[1]
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b'
    """
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())).encode("utf-8")


def _resolve(source_file: str, inputs: list[dict], workspace_root: Path) -> tuple[Path | None, dict | None]:
    """The local path of ``source_file`` and its entry of the manifest (with its SHA-256 at ingest)."""
    recorded = None
    name = Path(source_file).name
    for item in inputs:
        if source_file in (item["path"], item.get("abs_path")):
            recorded = item
            break
    if recorded is None:
        same_name = [i for i in inputs if Path(i["path"]).name == name]
        if len(same_name) == 1:
            recorded = same_name[0]
    candidates = []
    if recorded is not None:
        # the ingest manifest may record the absolute path as well as the path as given
        candidates += [Path(str(recorded[k])) for k in ("abs_path", "absolute_path") if recorded.get(k)]
        candidates.append(Path(recorded["path"]))
    candidates.append(Path(source_file))
    candidates += [workspace_root / source_file, workspace_root.parent / source_file]
    for candidate in candidates:
        try:
            if candidate.is_file():
                return candidate, recorded
        except OSError:
            continue
    return None, recorded


def _decode(data: bytes) -> str:
    return decode_line(data)


def read_source_lines(wanted: dict[str, set[int]], manifest: dict, workspace_root: Path) -> dict[tuple[str, int], SourceLine]:
    """Read the given 1-based physical lines of each source file, checking it is unchanged.

    Parameters
    ----------
    wanted : dict of str to set of int
        ``source_file`` (as recorded in events) → line numbers.
    manifest : dict
        The workspace manifest (inputs with SHA-256).
    workspace_root : Path
        Relative source paths are also tried against the workspace and its parent.

    Returns
    -------
    dict
        ``(source_file, line)`` → :class:`SourceLine`; every wanted pair is present.
    """
    inputs = manifest_inputs(manifest)
    out: dict[tuple[str, int], SourceLine] = {}
    for source_file, lines in wanted.items():
        path, recorded = _resolve(source_file, inputs, workspace_root)
        recorded_sha = (recorded or {}).get("sha256")

        def mark(status: str) -> None:
            for line in lines:
                out[(source_file, line)] = SourceLine(source_file, line, status)

        if path is None:
            mark("file_missing")
            continue
        if path.suffix.lower() in _BINARY_SUFFIXES:
            mark("binary_format")
            continue
        try:
            if recorded_sha and not check_input(path, recorded, sm3=False)[0]:
                mark("file_changed")
                continue
            remaining = set(lines)
            first: list[str] = []
            found: dict[int, str] = {}
            with path.open("rb") as handle:
                for number, data in enumerate(handle, start=1):
                    if number <= HEADER_SCAN_LINES:
                        first.append(_decode(data)[:MAX_RAW_CHARS].rstrip("\r\n"))
                    if number in remaining:
                        text = _decode(data).rstrip("\r\n")
                        if len(text) > MAX_RAW_CHARS:
                            text = text[:MAX_RAW_CHARS] + " …[truncated]"
                        found[number] = text
                        remaining.discard(number)
                        if not remaining and number >= HEADER_SCAN_LINES:
                            break
            header = find_header_line(first)
            read_with = next((i.get("column_map") for i in inputs if recorded_sha and i.get("sha256") == recorded_sha), None)
            header = mapped_header(header, read_with)
            for number, text in found.items():
                out[(source_file, number)] = SourceLine(source_file, number, "ok", text, header)
            for line in remaining:
                out[(source_file, line)] = SourceLine(source_file, line, "beyond_end")
        except OSError:
            mark("file_missing")
    return out
