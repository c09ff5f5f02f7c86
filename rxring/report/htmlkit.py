"""Safe HTML building blocks shared by the report and the visualisation.

Every value goes through :func:`esc`; data for scripts goes through
:func:`script_json` (which cannot close a ``<script>`` element); every page carries
a Content-Security-Policy that allows no network at all (``default-src 'none'``)
and only the page's own inline scripts, pinned by their SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re

from ..jsonout import dumps

__all__ = ["safe_name", "esc", "script_json", "csp_meta", "page", "FONT_STACK", "BASE_CSS", "find_external_urls"]

# Chinese first so CJK glyphs come from a CJK font (fonts-noto-cjk on Debian).
FONT_STACK = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", '
    '"Microsoft YaHei", "WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif'
)

BASE_CSS = """
body { font-family: %s; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f7; }
th.sortable { cursor: pointer; user-select: none; }
th.sortable::after { content: " \\2195"; color: #999; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: 13px; }
.pii { color: #a33; font-weight: bold; }
code { font-size: 12px; word-break: break-all; }
""" % FONT_STACK


def safe_name(value) -> str:
    """A file-name-safe form of an id (ring ids come from data and may be hostile).

    Ids that are already safe are kept; others are cleaned and get a short hash of
    the original, so two different ids never share a file name.

    Examples
    --------
    >>> safe_name("R001")
    'R001'
    """
    text = str(value)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip(".")[:80]
    if name != text or not name:
        name = (name or "ring") + "-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return name


def esc(value) -> str:
    """HTML-escape any value (quotes included); ``None`` becomes an empty string."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def script_json(data) -> str:
    """JSON safe to place inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` are written as ``\\u003c`` etc., so no value can end the
    element or open a comment; U+2028/U+2029 are escaped for old parsers.
    """
    text = dumps(data, indent=None, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _sha256_source(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def csp_meta(scripts: list[str]) -> str:
    """A CSP meta tag: no network, inline styles, data: images, and only ``scripts`` may run."""
    script_src = " ".join(_sha256_source(s) for s in scripts) or "'none'"
    policy = (
        "default-src 'none'; "
        f"script-src {script_src}; "
        "style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "connect-src 'none'; form-action 'none'; base-uri 'none'; frame-src 'none'; object-src 'none'"
    )
    # The policy is our own constant text plus base64 hashes: no quote or markup to escape.
    assert '"' not in policy and "<" not in policy
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'


def page(title: str, body: str, lang: str, scripts: list[str] = (), css: str = "", head_extra: str = "") -> str:
    """A whole HTML document.

    Parameters
    ----------
    title : str
        Plain text (escaped here).
    body : str
        Already-escaped HTML.
    lang : str
        ``zh`` or ``en``.
    scripts : list of str
        Inline script sources, placed at the end of the body and allowed by hash.
    css : str
        Extra CSS after :data:`BASE_CSS`.
    """
    html_lang = "zh-CN" if lang == "zh" else "en"
    script_tags = "".join(f"<script>{s}</script>\n" for s in scripts)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html_lang}">\n<head>\n<meta charset="utf-8">\n'
        f"{csp_meta(list(scripts))}\n"
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{BASE_CSS}{css}</style>\n{head_extra}</head>\n"
        f"<body>\n{body}\n{script_tags}</body>\n</html>\n"
    )


_URL_ATTR = re.compile(r"""(?:src|href|action|formaction|poster|data|srcset|background)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
_CSS_URL = re.compile(r"""url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)
_ANY_URL = re.compile(r"""(?:https?|ftp|wss?):\/\/[^\s"'<>)]*""", re.I)


def find_external_urls(document: str, inert: tuple[str, ...] = ()) -> list[str]:
    """External references in ``document``: loadable ones and any other http(s) URL text.

    ``inert`` lists exact URL strings known to be harmless text (licence banners
    and the SVG namespace inside the vendored vis-network library); everything
    else that looks like a URL is returned.
    """
    found = [m.group(0) for m in _URL_ATTR.finditer(document)]
    found += [m.group(0) for m in _CSS_URL.finditer(document)]
    allowed = set(inert)
    found += [u for u in (m.group(0) for m in _ANY_URL.finditer(document)) if u not in allowed]
    return found
