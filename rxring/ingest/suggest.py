"""Suggestions for headers and event-type values the alias table does not know.

Never applied: they are printed (the dry run, the "unknown format" error) with a TOML
snippet the user checks and passes as ``--columns FILE``.

Chinese headers are short and share characters rather than spelling: similarity is
the best of (a) the header holding a whole alias (``追溯码号`` holds ``追溯码``), (b) the
characters two names share (Dice over characters), (c) :mod:`difflib`'s ratio (English
names), each also tried after known synonyms are substituted (``编号`` → ``编码``,
``开票`` → ``销售``, ``报废`` → ``报损`` …).  An ASCII alias counts as held only as a
whole word (``code`` in ``drug_code``, not in ``barcode``).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter

from .aliases import COLUMN_ALIASES, EVENT_TYPE_ALIASES, normalise_header
from .columnmap import MAP_COLUMNS

__all__ = ["suggest_columns", "suggest_event_types", "toml_snippet", "suggestion_line", "MIN_SCORE"]

#: Suggestions scoring below this are not shown.
MIN_SCORE = 0.5

# (written, alias word): substitutions tried on a header or value before comparing
_SYNONYMS = (
    ("编号", "编码"), ("号", "码"), ("号", "编号"), ("开票", "销售"), ("收费", "销售"), ("单据", "业务"),
    ("参保人员", "参保人"), ("参保", ""), ("人员", "人"), ("门店", "药店"), ("店铺", "药店"), ("网点", "机构"),
    ("零售", "销售"), ("退回", "退货"), ("退还", "退货"), ("退药", "退货"), ("报废", "报损"), ("废", "损"), ("盘盈", "报溢"), ("盘亏", "报损"), ("日期", "时间"),
    ("时间", "日期"), ("id", "编号"), ("no", "编号"), ("num", "编号"), ("qty", "数量"), ("date", "时间"),
    ("time", "时间"), ("医保", "国家医保"), ("目录", ""),
)
_COLUMN_NAMES = {internal: public for public, internal in MAP_COLUMNS.items()}
_WORD = re.compile(r"[a-z0-9]+")


def _variants(text: str) -> list[tuple[str, float]]:
    """The text and its synonym substitutions (one at a time, and all that apply), with a small penalty."""
    out = {text: 1.0}
    combined = text
    for written, word in _SYNONYMS:
        if written and written in text:
            out.setdefault(text.replace(written, word), 0.97)
        if written and written in combined:
            combined = combined.replace(written, word)
    out.setdefault(combined, 0.95)
    return [(v, w) for v, w in out.items() if v]


def _score(text: str, alias: str) -> float:
    if text == alias:
        return 1.0
    best = difflib.SequenceMatcher(None, text, alias).ratio()
    common = sum((Counter(text) & Counter(alias)).values())
    best = max(best, 2 * common / (len(text) + len(alias)))
    if alias.isascii():
        held = len(alias) >= 3 and alias in _WORD.findall(text)
    else:
        held = len(alias) >= 2 and alias in text
    if held:
        best = max(best, 0.85 + 0.1 * len(alias) / len(text))
    return best


def _ranked(text: str, table: dict[str, tuple[str, ...]], limit: int) -> list[tuple[str, float, str]]:
    scores: dict[str, tuple[float, str]] = {}
    for variant, weight in _variants(text):
        for target, aliases in table.items():
            for alias in aliases:
                score = _score(variant, alias) * weight
                if score > scores.get(target, (0.0, ""))[0]:
                    scores[target] = (score, alias)
    ranked = sorted(((t, round(s, 3), a) for t, (s, a) in scores.items() if s >= MIN_SCORE), key=lambda r: -r[1])
    return ranked[:limit]


def suggest_columns(header: str, limit: int = 3, exclude=()) -> list[tuple[str, float, str]]:
    """The nearest canonical columns of a header: ``(column, score, the alias it is like)``, best first.

    ``exclude``: columns not to suggest (those another header of the table already gives).

    Examples
    --------
    >>> [c for c, _, _ in suggest_columns("追溯码号")][:1], [c for c, _, _ in suggest_columns("参保人员编号")][:1]
    (['trace_code'], ['patient_id'])
    """
    norm = normalise_header(header)
    if not norm:
        return []
    table = {_COLUMN_NAMES.get(c, c): aliases for c, aliases in COLUMN_ALIASES.items()
             if c in _COLUMN_NAMES and c not in exclude and _COLUMN_NAMES[c] not in exclude}
    return _ranked(norm, table, limit)


_TYPE_ALIASES: dict[str, tuple[str, ...]] = {}
for _value, _type in EVENT_TYPE_ALIASES.items():
    _TYPE_ALIASES[_type] = (*_TYPE_ALIASES.get(_type, ()), _value)


def suggest_event_types(value: str, limit: int = 3) -> list[tuple[str, float, str]]:
    """The nearest event types of a value: ``(event_type, score, the alias it is like)``, best first.

    >>> suggest_event_types("门店调入")[0][0], suggest_event_types("报废")[0][0]
    ('transfer_in', 'adjust')
    >>> suggest_event_types("销售退回")[0][0], suggest_event_types("采购退回")[0][0]
    ('refund', 'purchase_return')
    """
    text = str(value).strip().lower()
    return _ranked(text, _TYPE_ALIASES, limit) if text else []


def _quoted(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_snippet(headers: dict[str, list], values: dict[str, list], note: str = "") -> str:
    """A column map to edit: ``headers`` / ``values`` map each unknown name to its suggestions.

    A name without a suggestion is written commented out, to fill in or leave.
    """
    lines = ["# rxring column map: check every line, then pass it with --columns FILE"]
    if note:
        lines.append(f"# {note}")
    lines.append("[columns]")
    # one header per column (a map naming a column twice is refused): the best-scoring header takes it
    chosen: dict[str, tuple] = {}
    used: set[str] = set()
    for header in sorted(headers, key=lambda h: -(headers[h][0][1] if headers[h] else 0)):
        free = [f for f in headers[header] if f[0] not in used]
        if free:
            chosen[header] = free[0]
            used.add(free[0][0])
    for header, found in headers.items():
        if header in chosen:
            column, score, alias = chosen[header]
            others = ", ".join(c for c, _, _ in found if c != column)
            more = f"; or {others}" if others else ""
            lines.append(f"{_quoted(header)} = {_quoted(column)}  # like {alias} ({score:.2f}){more}")
        elif found:
            taken = ", ".join(c for c, _, _ in found)
            lines.append(f"# {_quoted(header)} = {_quoted(found[0][0])}  # like {found[0][2]}, but {taken} "
                         "already given to another header: one header per column")
        else:
            lines.append(f"# {_quoted(header)} = \"\"  # no suggestion: a column of {', '.join(MAP_COLUMNS)}, or leave it out")
    if values:
        lines.append("")
        lines.append("[event_types]")
        for value, found in values.items():
            if found:
                etype, score, alias = found[0]
                lines.append(f"{_quoted(value)} = {_quoted(etype)}  # like {alias} ({score:.2f})")
            else:
                lines.append(f"# {_quoted(value)} = \"\"  # no suggestion: inbound, dispense, refund, transfer_in, "
                             "transfer_out, adjust, inventory or purchase_return")
    return "\n".join(lines) + "\n"


def suggestion_line(headers, exclude=()) -> str:
    """One line of suggestions for headers no alias matched ("" when there is none); ``exclude``:
    the columns the table's other headers already give."""
    pairs = []
    for header in headers:
        found = suggest_columns(header, limit=1, exclude=exclude)
        if found:
            pairs.append(f"{header} -> {found[0][0]}")
    if not pairs:
        return ""
    return "nearest columns: " + ", ".join(pairs)
