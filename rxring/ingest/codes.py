"""Drug traceability codes: the Chinese 20-digit code and GS1 codes.

A scanned code arrives in many spellings.  :func:`parse_code` turns any of them
into one canonical string plus its parts, or raises :class:`CodeError` saying why
the text cannot be a pack's code.

Canonical forms (the project's contract):

* Chinese code (``kind="cn20"``): the 20 digits, spaces and hyphens removed.
  ``product`` is the leading 7 digits (product and pack level); the remaining
  digits are a serial and a check that cannot be verified publicly, so any 20
  digits are accepted.
* GS1 code (``kind="gs1"``): ``"01" + GTIN-14 + "21" + serial``, no brackets and
  no separators; ``product`` is the GTIN-14.  Accepted spellings: element
  strings with brackets ``(01)…(21)…(17)…(10)…``, without brackets with GS
  (``\\x1d``) separators, with a symbology identifier (``]d2``, ``]C1``,
  ``]Q3``, ``]e0``), SGTIN URIs ``urn:epc:id:sgtin:CompanyPrefix.IndicatorItemRef.Serial``
  and GS1 Digital Link URIs.  The GTIN check digit is verified; AIs 17 (expiry)
  and 10 (lot) are extracted, other AIs are tolerated and ignored.

Every Unicode decimal digit (category ``Nd``: Arabic-Indic ``٨``, Devanagari ``८``,
full-width ``８``, mathematical ``𝟖`` …) is folded to its ASCII digit, and full-width
letters and brackets to ASCII (NFKC), before anything else (:func:`fold_text`), so a
pack has one identity however its digits were written.  After folding only ASCII
digits count as digits: any other digit-like character (``①``, ``²`` after NFKC are
ASCII; Kharosthi ``𐩀`` is not) makes the text "not a trace code".

GS1 serials are case-sensitive and are kept as given.  A string of 20 digits
(spaces and hyphens between them allowed) is always read as a Chinese code, even
when it could also be a GS1 string with a 2-digit serial (Chinese codes start
with 8, GS1 element strings with 01).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from urllib.parse import unquote

import pandas as pd

__all__ = [
    "CodeError",
    "ParsedCode",
    "parse_code",
    "gtin_check_digit",
    "sgtin_uri_to_gtin",
    "parse_code_series",
    "fold_text",
]

_GS = "\x1d"
# Ways a GS separator is spelt when a scanner's output was pasted as text.
_GS_SPELLINGS = ("<GS>", "{GS}", "[GS]", "\\x1d", "\\x1D", "\\u001d", "\u241d", "<FNC1>", "{FNC1}")
_SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_CN20 = re.compile(r"^\d{20}$", re.ASCII)
_HRI = re.compile(r"\((\d{2,4})\)", re.ASCII)
_SGTIN = re.compile(r"^urn:epc:id:sgtin:(\d+)\.(\d+)\.(.+)$", re.IGNORECASE | re.ASCII)
_SERIAL_OK = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")  # GS1 AI 82 set


class CodeError(ValueError):
    """The text cannot be a pack's trace code; ``str(exc)`` says why."""


@dataclass(frozen=True)
class ParsedCode:
    """One trace code taken apart.

    Attributes
    ----------
    canonical : str
        The canonical spelling (see the module docstring).
    kind : str
        ``"cn20"`` or ``"gs1"``.
    product : str
        cn20: the leading 7 digits; gs1: the GTIN-14.
    serial : str
        cn20: the 13 digits after the product part; gs1: AI 21.
    expiry : datetime.date or None
        GS1 AI 17, when present.
    lot : str or None
        GS1 AI 10, when present.
    """

    canonical: str
    kind: str
    product: str
    serial: str
    expiry: date | None = None
    lot: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["expiry"] = self.expiry.isoformat() if self.expiry else None
        return d


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for ``body`` (a GTIN without its last digit).

    Examples
    --------
    >>> gtin_check_digit("0950600013435")
    2
    """
    if not _is_digits(body):
        raise CodeError(f"GTIN must be digits, got {body!r}")
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _verify_gtin(gtin: str) -> str:
    if not _is_digits(gtin) or len(gtin) not in (8, 12, 13, 14):
        raise CodeError(f"GTIN must be 8, 12, 13 or 14 digits, got {gtin!r}")
    gtin14 = gtin.zfill(14)
    expected = gtin_check_digit(gtin14[:-1])
    if int(gtin14[-1]) != expected:
        raise CodeError(f"GTIN {gtin14} fails its check digit: expected {expected}, got {gtin14[-1]}")
    return gtin14


def sgtin_uri_to_gtin(uri: str) -> tuple[str, str]:
    """Split an SGTIN pure-identity URI into (GTIN-14 with computed check digit, serial).

    Examples
    --------
    >>> sgtin_uri_to_gtin("urn:epc:id:sgtin:0614141.812345.6789")
    ('80614141123458', '6789')
    """
    m = _SGTIN.match(uri.strip())
    if not m:
        raise CodeError(f"not an SGTIN URI (urn:epc:id:sgtin:CompanyPrefix.IndicatorItemRef.Serial): {uri!r}")
    company, item_ref, serial = m.group(1), m.group(2), unquote(m.group(3))
    if len(company) + len(item_ref) != 13 or not 6 <= len(company) <= 12:
        raise CodeError(f"SGTIN URI company prefix + indicator/item reference must be 13 digits: {uri!r}")
    body = item_ref[0] + company + item_ref[1:]
    return body + str(gtin_check_digit(body)), serial


_EXCEL_TEXT = re.compile(r'^(?:=?"(.*)"|\'(.*))$')  # ="8115…" or '8115… : spreadsheet text markers
_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?[eE]\+?\d+$", re.ASCII)


def _is_digits(s: str) -> bool:
    """Whether ``s`` is a non-empty run of ASCII digits (``str.isdigit`` also takes ``٨``, ``²``, ``𐩀``)."""
    return s.isascii() and s.isdigit()


@lru_cache(maxsize=256)
def _fold_char(ch: str) -> str:
    return str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch


def fold_text(text: str) -> str:
    """NFKC, then every Unicode decimal digit (category ``Nd``) as its ASCII digit.

    NFKC folds full-width letters, digits and brackets and mathematical digits;
    the digits of other scripts (Arabic-Indic, Devanagari, Thai, …) are decimal
    digits NFKC keeps, folded here by their decimal value.

    Examples
    --------
    >>> fold_text("٨١١٥١٢٥٧٩١٤٠٨٥٦٢٣٢٧٤")
    '81151257914085623274'
    >>> fold_text("（０１）０９５０６０００１３４３５２（２１）ＡＢＣ१२३")
    '(01)09506000134352(21)ABC123'
    """
    if text.isascii():
        return text
    s = unicodedata.normalize("NFKC", text)
    if s.isascii():
        return s
    return "".join(_fold_char(ch) if not ch.isascii() else ch for ch in s)


def _clean(text: str) -> str:
    s = fold_text(text).strip()  # full-width and other scripts' digits, full-width letters -> ASCII
    m = _EXCEL_TEXT.match(s)
    if m:
        s = (m.group(1) if m.group(1) is not None else m.group(2)).strip()
    for spelling in _GS_SPELLINGS:
        if spelling in s:
            s = s.replace(spelling, _GS)
    return s


def _gs1(gtin: str | None, serial: str | None, expiry: date | None, lot: str | None) -> ParsedCode:
    if not gtin:
        raise CodeError("GS1 code has no GTIN (AI 01)")
    gtin14 = _verify_gtin(gtin)
    if not serial:
        raise CodeError("GS1 code has no serial number (AI 21), so it cannot identify one pack")
    if not _SERIAL_OK.match(serial):
        raise CodeError(f"GS1 serial {serial!r} is longer than 20 characters or has characters GS1 does not allow")
    return ParsedCode(f"01{gtin14}21{serial}", "gs1", gtin14, serial, expiry, lot)


def _from_element_strings(elements) -> ParsedCode:
    found: dict[str, object] = {}
    for element in elements:
        ai = element.ai.ai
        if ai in found:
            continue
        if ai == "17":
            found[ai] = element.date
        else:
            found[ai] = element.value
    return _gs1(found.get("01"), found.get("21"), found.get("17"), found.get("10"))


# The AIs a drug pack carries, parsed without biip (fast path); anything else goes to biip.
_FIXED_AIS = {"01": 14, "11": 6, "12": 6, "13": 6, "15": 6, "16": 6, "17": 6}
_VARIABLE_AIS = {"10": 20, "21": 20}
_DATE_AIS = {"11", "12", "13", "15", "16", "17"}


def _gs1_date(yymmdd: str, ai: str) -> date:
    """A GS1 YYMMDD date (DD 00 = last day of the month; century by the GS1 sliding window)."""
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    this_year = date.today().year
    century = this_year - this_year % 100
    diff = yy - this_year % 100
    year = century + yy + (-100 if diff >= 51 else 100 if diff <= -50 else 0)
    if not 1 <= mm <= 12:
        raise CodeError(f"AI ({ai}) {yymmdd} is not a date: month {mm:02d}")
    if dd == 0:
        dd = calendar.monthrange(year, mm)[1]
    try:
        return date(year, mm, dd)
    except ValueError:
        raise CodeError(f"AI ({ai}) {yymmdd} is not a date") from None


def _fast_elements(s: str) -> dict[str, str] | None:
    """AI -> value for element strings made only of AIs 01/1x/10/21; None to defer to biip."""
    out: dict[str, str] = {}
    if s.startswith("("):
        parts = _HRI.split(s)
        if parts[0].strip():
            return None
        for ai, value in zip(parts[1::2], parts[2::2]):
            value = value.strip()
            if ai in _FIXED_AIS:
                if len(value) != _FIXED_AIS[ai] or not _is_digits(value):
                    return None
            elif ai in _VARIABLE_AIS:
                if not value or len(value) > _VARIABLE_AIS[ai]:
                    return None
            else:
                continue  # another AI in brackets: unambiguous, tolerated and ignored
            out.setdefault(ai, value)
        return out
    i, n = 0, len(s)
    while i < n:
        if s[i] == _GS:
            i += 1
            continue
        ai = s[i : i + 2]
        if ai in _FIXED_AIS:
            end = i + 2 + _FIXED_AIS[ai]
            value = s[i + 2 : end]
            if len(value) != _FIXED_AIS[ai] or not _is_digits(value):
                return None
        elif ai in _VARIABLE_AIS:
            end = s.find(_GS, i + 2)
            end = n if end < 0 else end
            value = s[i + 2 : end]
            if not value or len(value) > _VARIABLE_AIS[ai]:
                return None
        else:
            return None
        out.setdefault(ai, value)
        i = end
    return out


def _parse_element_string(s: str) -> ParsedCode:
    elements = _fast_elements(s)
    if elements is not None:
        expiry = _gs1_date(elements["17"], "17") if "17" in elements else None
        for ai in _DATE_AIS & elements.keys() - {"17"}:
            _gs1_date(elements[ai], ai)  # validated like biip does, not kept
        return _gs1(elements.get("01"), elements.get("21"), expiry, elements.get("10"))
    return _parse_with_biip(s)


def _parse_with_biip(s: str) -> ParsedCode:
    from biip import ParseError
    from biip.gs1_messages import GS1Message

    try:
        if s.startswith("("):
            message = GS1Message.parse_hri(s)
        else:
            message = GS1Message.parse(s.strip(_GS))
    except ParseError as exc:
        raise CodeError(f"not a GS1 element string: {exc}") from None
    except (ValueError, IndexError) as exc:  # biip raises these on some malformed dates
        raise CodeError(f"not a GS1 element string: {exc}") from None
    return _from_element_strings(message.element_strings)


def _parse_digital_link(s: str) -> ParsedCode:
    from biip import ParseError
    from biip.gs1_digital_link_uris import GS1DigitalLinkURI

    try:
        message = GS1DigitalLinkURI.parse(s).as_gs1_message()
    except (ParseError, ValueError) as exc:
        raise CodeError(f"not a GS1 Digital Link URI: {exc}") from None
    return _from_element_strings(message.element_strings)


@lru_cache(maxsize=65536)
def parse_code(text: str) -> ParsedCode:
    """Parse a scanned trace code into its canonical form and parts.

    Parameters
    ----------
    text : str
        The code as scanned or exported (any spelling in the module docstring).

    Returns
    -------
    ParsedCode

    Raises
    ------
    CodeError
        When the text cannot be a pack's code; the message gives the reason.

    Examples
    --------
    >>> parse_code("8115 1257 9140 8562 3274").canonical
    '81151257914085623274'
    >>> p = parse_code("(01)09506000134352(21)ABC123(17)270131(10)L1")
    >>> p.canonical, p.product, str(p.expiry), p.lot
    ('010950600013435221ABC123', '09506000134352', '2027-01-31', 'L1')
    >>> parse_code("]d2010950600013435221ABC123\\x1d1727013110L1").canonical
    '010950600013435221ABC123'
    """
    if text is None or not isinstance(text, str):
        raise CodeError("empty code")
    s = _clean(text)
    if not s:
        raise CodeError("empty code")
    if _SCIENTIFIC.match(s):
        raise CodeError(f"{s} is a number in scientific notation: a spreadsheet turned the code into a number "
                        "and lost digits; export the column as text")
    if s.startswith("#PRECISION_LOST"):
        raise CodeError("the code was stored as a number in the spreadsheet and lost digits; store the column as text")
    digits = re.sub(r"[\s\-]", "", s)
    if _CN20.match(digits) and _is_digits(s[0]) and _is_digits(s[-1]):
        return ParsedCode(digits, "cn20", digits[:7], digits[7:])
    low = s.lower()
    if low.startswith("urn:epc:id:sgtin:"):
        gtin, serial = sgtin_uri_to_gtin(s)
        return _gs1(gtin, serial, None, None)
    if low.startswith("urn:epc:"):
        raise CodeError(f"EPC URI {s!r} is not an SGTIN (only serialised trade items are packs)")
    if low.startswith(("http://", "https://")):
        return _parse_digital_link(s)
    if _SYMBOLOGY.match(s):
        s = s[3:]
    if s.startswith("("):
        return _parse_element_string(re.sub(r"\s+", "", s))
    if s.startswith("01") and len(s) >= 16:
        return _parse_element_string(s)
    if _is_digits(digits):
        raise CodeError(f"a Chinese trace code has 20 digits, this has {len(digits)}")
    odd = next((ch for ch in s if not ch.isascii() and ch.isdigit()), None)
    if odd is not None:
        raise CodeError(f"{odd!r} (U+{ord(odd):04X}) looks like a digit but is not a decimal digit: "
                        f"not a trace code: {text.strip()[:60]!r}")
    raise CodeError(f"not a trace code (neither 20 digits nor a GS1 code with GTIN and serial): {text.strip()[:60]!r}")


def parse_code_series(codes: pd.Series) -> pd.DataFrame:
    """Parse a column of codes, once per distinct value.

    The event normaliser takes plain 20-digit codes apart column-wise and calls
    this only for the rest (GS1 spellings, spaced codes, junk).

    Parameters
    ----------
    codes : pandas.Series
        Raw code strings (missing values allowed).

    Returns
    -------
    pandas.DataFrame
        Same index as ``codes``; columns ``trace_code``, ``code_kind``,
        ``code_product``, ``code_serial``, ``code_expiry`` (date or None),
        ``code_lot`` and ``code_error`` (reason, or None when the code parsed).
    """
    values = codes.astype(object).where(codes.notna(), None).tolist()
    parsed: dict = {}
    for value in set(values):
        try:
            parsed[value] = parse_code(value)
        except CodeError as exc:
            parsed[value] = str(exc)
    results = [parsed[v] for v in values]
    ok = [isinstance(r, ParsedCode) for r in results]

    def column(attr):
        return pd.Series([getattr(r, attr) if o else None for r, o in zip(results, ok)], index=codes.index, dtype=object)

    return pd.DataFrame(
        {
            "trace_code": column("canonical"),
            "code_kind": column("kind"),
            "code_product": column("product"),
            "code_serial": column("serial"),
            "code_expiry": column("expiry"),
            "code_lot": column("lot"),
            "code_error": pd.Series([None if o else r for r, o in zip(results, ok)], index=codes.index, dtype=object),
        }
    )


# ------------------------------------------------------------------ columnar fast path

_AI82 = r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]"
_CANONICAL_RE = r"^01(?P<gtin>\d{14})21(?P<serial>" + _AI82 + r"{1,20})$"
_SGTIN_RE = r"^(?i:urn:epc:id:sgtin:)(?P<company>\d{6,12})\.(?P<item>\d{1,7})\.(?P<serial>" + _AI82.replace("%", "") + r"{1,20})$"


def _check_digits(bodies) -> "np.ndarray":
    """GS1 check digits of equal-length digit strings (a pyarrow string array, no nulls)."""
    import numpy as np
    import pyarrow as pa

    arr = bodies.combine_chunks() if isinstance(bodies, pa.ChunkedArray) else bodies
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, width)
    digits = data.astype(np.int64) - 48
    weights = np.where((width - 1 - np.arange(width)) % 2 == 0, 3, 1)
    return (10 - (digits @ weights) % 10) % 10


def gs1_columns(codes):
    """Columnar parse of the two GS1 spellings bulk data uses: canonical and SGTIN URI.

    Parameters
    ----------
    codes : pyarrow.Array of str
        Trimmed code texts (nulls allowed).

    Returns
    -------
    (ok, canonical, gtin, serial) : pyarrow arrays
        ``ok`` marks rows that are a valid canonical GS1 code or SGTIN URI (check
        digit verified); the other three hold their parts there.  Every other row
        (other spellings, bad check digits) is left to :func:`parse_code`, which
        also gives the reason for a rejection.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(codes)
    ok = np.zeros(n, dtype=bool)
    canonical = gtins = serials = pa.nulls(n, pa.string())
    digit_chars = pa.array(list("0123456789"))
    for pattern in (_CANONICAL_RE, _SGTIN_RE):
        if n == 0:
            break
        hit = pc.fill_null(pc.match_substring_regex(codes, pattern), False).to_numpy(zero_copy_only=False) & ~ok
        rows = np.flatnonzero(hit)
        if not len(rows):
            continue
        parts = pc.extract_regex(pc.take(codes, pa.array(rows)), pattern)
        serial = parts.field("serial")
        if pattern is _CANONICAL_RE:
            gtin = parts.field("gtin")
            check = np.asarray(pc.cast(pc.utf8_slice_codeunits(gtin, 13, 14), pa.int64()))
            good = _check_digits(pc.utf8_slice_codeunits(gtin, 0, 13)) == check
        else:
            company, item = parts.field("company"), parts.field("item")
            good = np.asarray(pc.add(pc.binary_length(company), pc.binary_length(item))) == 13
            body = pc.binary_join_element_wise(pc.utf8_slice_codeunits(item, 0, 1), company,
                                               pc.utf8_slice_codeunits(item, 1, 7), "")
            body = pc.if_else(pa.array(good), body, "0" * 13)  # equal widths for the check-digit maths
            gtin = pc.binary_join_element_wise(body, pc.take(digit_chars, pa.array(_check_digits(body))), "")
        keep = pa.array(good)
        rows = rows[good]
        gtin, serial = gtin.filter(keep), serial.filter(keep)
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        ok |= mask
        mask = pa.array(mask)
        gtins = pc.replace_with_mask(gtins, mask, gtin)
        serials = pc.replace_with_mask(serials, mask, serial)
        canonical = pc.replace_with_mask(canonical, mask, pc.binary_join_element_wise("01", gtin, "21", serial, ""))
    return pa.array(ok), canonical, gtins, serials
