"""The one way rxring writes JSON for users: always valid JSON.

JSON has no spelling for NaN or ±Infinity; Python's ``json`` writes them as
``NaN`` and ``Infinity`` unless told not to, and a value computed from hostile
input (an infinite quantity, a missing amount) would then make a report, an
evidence package, ``analysis.json`` or ``--json`` output unreadable by every
other JSON parser.  :func:`jsonable` turns such values into ``null`` (and
pandas/numpy values into plain ones), :func:`dumps` writes the result with
``allow_nan=False`` so nothing invalid can slip through, and :func:`write_json`
writes a file.

Examples
--------
>>> dumps({"score": float("inf"), "fund": [1.5, float("nan")]}, indent=None)
'{"score": null, "fund": [1.5, null]}'
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["jsonable", "records", "dumps", "write_json", "read_json_object", "read_json_lines"]


def jsonable(value):
    """A value as JSON can hold it: lists for arrays, ISO text for times, None for missing values.

    Dicts are converted value by value (keys become text); a float that is not
    finite (NaN, ±inf) becomes None, and so do pandas' NA and NaT.

    Examples
    --------
    >>> jsonable({"score": float("inf"), "fund": [1.5, float("nan")]})
    {'score': None, 'fund': [1.5, None]}
    """
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else str(jsonable(k))): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):  # numpy float64 too
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    import pandas as pd  # here: `import rxring` stays light

    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.DataFrame):
        return records(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "tolist") and not isinstance(value, bytes):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def records(frame) -> list[dict]:
    """The rows of a DataFrame as JSON-ready dicts."""
    return [{k: jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]


def dumps(payload, indent: int | None = 2, **options) -> str:
    """*payload* (a DataFrame: its :func:`records`) as valid JSON text, non-ASCII kept.

    Goes through :func:`jsonable` (non-finite floats become null) and refuses NaN
    and Infinity (``allow_nan=False``), so the text is always valid JSON; other
    objects are written as their ``str``.  *options* go to :func:`json.dumps`
    (``sort_keys``, ``separators``).

    Examples
    --------
    >>> dumps({"score": float("inf")}, indent=None)
    '{"score": null}'
    """
    return json.dumps(jsonable(payload), ensure_ascii=False, indent=indent, default=str, allow_nan=False, **options)


def write_json(path, payload, indent: int | None = 2, **options) -> Path:
    """Write :func:`dumps` of *payload* to *path* (UTF-8, final newline) and return the path."""
    path = Path(path)
    path.write_text(dumps(payload, indent=indent, **options) + "\n", encoding="utf-8")
    return path


def read_json_object(path) -> dict:
    """The JSON object in the file *path*: {} when the file is missing or holds no object.

    Raises
    ------
    RxringError
        When the file cannot be read or is not JSON (one line naming the file).
    """
    from .errors import RxringError

    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RxringError(f"{path}: not readable JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def read_json_lines(path) -> list[tuple[str, dict]]:
    """The objects of a JSON Lines file with their line's text, in order; lines that are not a JSON
    object are skipped; a missing file has none."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(text)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append((text, item))
    return out
