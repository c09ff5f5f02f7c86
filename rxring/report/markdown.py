"""Markdown that shows data literally: every data value goes into a code span.

A code span is the one Markdown construct whose content is never parsed (no HTML,
no links, no emphasis), so a site called ``<script>…`` or ``[x](javascript:…)``
stays text in any renderer, and masked ids such as ``110***34`` stay readable in a
plain-text viewer.  In GFM tables the pipe still splits cells, so it is escaped.
"""

from __future__ import annotations

import re

from .data import is_missing

__all__ = ["md_code"]


def md_code(value, table: bool = False) -> str:
    """``value`` as an inline code span (empty string for empty values).

    Examples
    --------
    >>> md_code("<b>")
    '`<b>`'
    >>> md_code("a`b")
    '``a`b``'
    """
    if is_missing(value):
        return ""
    text = " ".join(str(value).split())
    if not text:
        return ""
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0) if "`" in text else 0
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"
