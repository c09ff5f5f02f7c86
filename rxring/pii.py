"""Masking personal data (patient ids, names, ID numbers, phone numbers) in outputs.

Sites (pharmacies, hospitals) are institutions and stay readable; people do not.
Masking keeps a short prefix and suffix so an investigator can tell members apart
and match them with the unmasked file under ``--reveal-pii``, without the output
being enough to identify anybody.  Free text (explanations, raw source lines) is
masked too: every known personal value is replaced, and anything shaped like a
mainland ID number (18 characters) or a mobile number is masked by pattern.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import csv
import io

from .ingest.aliases import COLUMN_ALIASES, normalise_header

__all__ = [
    "Masker", "mask_value", "PII_EVENT_COLUMNS", "PII_HEADERS", "PII_JSON_KEYS", "NAME_HEADERS", "is_pii_header",
    "mask_quarantine_raw", "mask_quarantine_rows", "split_header", "find_header_line", "read_header_line",
    "decode_line", "HEADER_SCAN_LINES", "PEOPLE_COLUMNS", "TEXT_COLUMNS", "mask_id", "mask_frame", "is_personal_key",
]

# Event columns that hold people (DESIGN §2).
PII_EVENT_COLUMNS = ("patient_id", "prescriber_id", "pharmacist_id")

# Headers and NHSA fields that hold a person's name (ingest's aliases of the ids are
# in rxring.ingest.aliases.COLUMN_ALIASES; the prescriber's name is its "_prescriber_name").
NAME_HEADERS = (
    "name", "psn_name", "prsc_dr_name", "phar_name", "dr_name", "opter_name", "sel_retn_opter_name",
    "purc_retn_opter_name", "inv_chg_opter_name", "patient_name", "prescriber_name", "pharmacist_name",
    "姓名", "患者姓名", "患者名称", "病人姓名", "就诊人", "就诊人姓名", "参保人", "参保人姓名", "人员姓名",
    "顾客", "顾客姓名", "客户姓名", "会员姓名", "购药人", "购药人姓名", "取药人", "取药人姓名", "患者", "病人",
    "医师姓名", "医生姓名", "开方医师姓名", "处方医师姓名", "开方医生", "处方医生", "药师姓名", "审方药师姓名",
    "调配药师", "核对药师", "经办人", "操作员", "操作员姓名", "收银员",
)

# Other personal fields: ID and certificate numbers, phones.
_OTHER_PERSONAL = (
    "certno", "psn_certno", "mdtrt_cert_no", "tel", "phone", "mob", "mobile", "phar_prac_cert_no",
    "身份证", "身份证号", "身份证号码", "证件号", "证件号码", "医保卡号", "社保卡号", "手机", "手机号", "手机号码",
    "电话", "联系电话", "联系方式",
)

#: Every header (normalised by :func:`rxring.ingest.aliases.normalise_header`) whose values
#: are personal: ingest's aliases of the people columns, the name headers, ID numbers and phones.
PII_HEADERS = frozenset(
    normalise_header(h) for h in (
        *COLUMN_ALIASES["patient_id"], *COLUMN_ALIASES["prescriber_id"], *COLUMN_ALIASES["pharmacist_id"],
        *COLUMN_ALIASES["_prescriber_name"], *NAME_HEADERS, *_OTHER_PERSONAL,
    )
)

#: Kept for callers of the older name: the same table.
PII_JSON_KEYS = PII_HEADERS


#: Columns of the results and listings that hold personal ids (scalars or lists), masked by :func:`mask_frame`.
PEOPLE_COLUMNS = ("patients", "source_patients", "prescribers", "source_prescribers",
                  "patient_id", "prescriber_id", "pharmacist_id")


def is_personal_key(key) -> bool:
    """True when a column or key of rxring's own tables names people: a personal header
    (:func:`is_pii_header`), a :data:`PEOPLE_COLUMNS` name, or any name with patient,
    prescriber or pharmacist in it (the columns of the shipped Cypher queries)."""
    text = str(key).lower()
    return (text in PEOPLE_COLUMNS or is_pii_header(key)
            or any(word in text for word in ("patient", "prescriber", "pharmacist")))


def is_pii_header(header) -> bool:
    """True when a column header or JSON key holds personal data (any spelling ingest accepts).

    Examples
    --------
    >>> is_pii_header("患者姓名"), is_pii_header(" PSN_NO "), is_pii_header("药品名称")
    (True, True, False)
    """
    return normalise_header(header) in PII_HEADERS


_DELIMITERS = ("\t", ",", ";", "|")


def split_header(header) -> tuple[list[str], str] | None:
    """A CSV header as (names, delimiter); ``header`` is a line of text or a list of names.

    The delimiter is the most frequent of tab, comma, semicolon and bar; None when
    the line has none of them (or ``header`` is None).
    """
    if header is None:
        return None
    if isinstance(header, (list, tuple)):
        return [str(h) for h in header], ","
    text = str(header).lstrip("\ufeff")
    delimiter = max(_DELIMITERS, key=text.count)
    if not text.count(delimiter):
        return None
    return next(csv.reader([text], delimiter=delimiter)), delimiter


HEADER_SCAN_LINES = 20


def find_header_line(first_lines: list[str]) -> str:
    """The header of a delimited text file among its first lines ('' for JSON or when there is none).

    The first line naming at least two columns ingest knows
    (:func:`rxring.ingest.aliases.map_headers`), else the first non-blank line
    that has a delimiter.
    """
    from .ingest.aliases import map_headers

    lines = [line for line in first_lines if line.strip()]
    if not lines or lines[0].lstrip("\ufeff ").startswith(("{", "[")):
        return ""
    for line in lines:
        split = split_header(line)
        if split is not None and len(map_headers(split[0])) >= 2:
            return line
    return lines[0] if split_header(lines[0]) is not None else ""


def decode_line(data: bytes) -> str:
    """One line of an input file as text (UTF-8, else GB18030, else UTF-8 with replacements)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def read_header_line(path) -> str:
    """:func:`find_header_line` of a file's first lines; '' when it cannot be read."""
    first = []
    try:
        with open(path, "rb") as handle:
            for number, data in enumerate(handle, start=1):
                first.append(decode_line(data)[:8000].rstrip("\r\n"))
                if number >= HEADER_SCAN_LINES:
                    break
    except (OSError, TypeError, ValueError):
        return ""
    return find_header_line(first)


def _worth_learning(value: str) -> bool:
    """A value found under a personal header that is safe to replace in free text.

    Short numbers ("01", "3") would mask pieces of dates and amounts everywhere.
    """
    text = value.strip()
    if not any(ch.isalnum() for ch in text):
        return False
    return len(text) >= 6 if text.isdigit() else len(text) >= 2


# "key": "value" or "key": 123 in JSON text (also broken or cut short: the closing quote is optional).
_JSON_PAIR = re.compile(r'"([^"\\]{1,60})"\s*:\s*("(?:[^"\\]|\\.)*"?|-?\d[\d.eE+-]*)')
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
# A mainland mobile number (1[3-9]x xxxx xxxx), also written in groups (138 1234 5678, 138-1234-5678,
# 138.1234.5678) and after a country code (+86, 0086, 86, with or without a space) or a trunk
# prefix "(0)".  Not inside a longer run of digits: trace codes, dates, amounts stay as they are.
_MOBILE_SEP = r"[ \t.\-\u00a0\u2010-\u2015\u3000]?"
_MOBILE = re.compile(
    r"(?:(?<=\+86)|(?<=\b0086)|(?<=\b86)|(?<!\d))"
    rf"(1[3-9]\d)({_MOBILE_SEP})\d{{4}}({_MOBILE_SEP})(\d{{4}})(?!\d)"
)


def mask_value(value) -> str:
    """Mask one personal value, keeping a little of both ends.

    Short values (names) keep their first character; longer ones keep up to three
    leading and two trailing characters.  The length of the mask is capped so a
    hostile 10 MB value cannot blow up a report.

    Examples
    --------
    >>> mask_value("张三丰")
    '张**'
    >>> mask_value("110105199001011234")
    '110*************34'
    """
    if value is None:
        return ""
    text = str(value)
    if not text:
        return ""
    n = len(text)
    if n <= 4:
        return text[0] + "*" * max(n - 1, 1)
    keep_head = 3 if n >= 8 else 1
    keep_tail = 2 if n >= 8 else 1
    stars = min(n - keep_head - keep_tail, 16)
    return text[:keep_head] + "*" * stars + text[-keep_tail:]


def mask_id(value) -> str:
    """Mask a personal id for display (:func:`mask_value`); '' for a missing value.

    Examples
    --------
    >>> mask_id("PSN1234567890")
    'PSN********90'
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return mask_value(value)


#: Free-text columns of the results and listings (a finding's explanation, an event's note).
TEXT_COLUMNS = ("explanation", "explanation_zh", "note")


def mask_frame(frame, reveal: bool = False, columns=PEOPLE_COLUMNS):
    """A copy of the DataFrame *frame* with the personal ids in *columns* (scalars or lists) masked,
    and in its free text (:data:`TEXT_COLUMNS`) those ids and ID or mobile numbers; *frame* itself
    when *reveal* (which only :func:`rxring.reveal.permit_reveal` may grant)."""
    import pandas as pd

    if reveal:
        return frame
    out = frame.copy()
    masker = Masker()
    for column in columns:
        if column in out.columns:
            for value in out[column]:
                masker.add_known(value if isinstance(value, (list, tuple)) else [value] if isinstance(value, str) else ())
            out[column] = out[column].map(
                lambda v: [mask_id(x) for x in v] if isinstance(v, (list, tuple))
                else (mask_id(v) if v is not None and not pd.isna(v) else v))
    for column in TEXT_COLUMNS:
        if column in out.columns:
            out[column] = out[column].map(lambda v: masker.text(v) if isinstance(v, str) else v)
    return out


class Masker:
    """Masks personal data unless ``reveal`` is true.

    Parameters
    ----------
    reveal : bool
        ``True`` shows personal data as is (``--reveal-pii``); every method then
        returns its input unchanged.
    known : iterable of str, optional
        Personal values (patient ids, prescriber ids, names) to replace wherever
        they occur in free text.
    aliases : mapping of str to int, optional
        A number per personal id, appended to its mask (``110***34#3``) so that
        members whose masks look alike stay distinguishable.  The same workspace
        gives the same numbers in every output.
    """

    def __init__(self, reveal: bool = False, known: Iterable[str] = (), aliases: dict | None = None):
        self.reveal = bool(reveal)
        self._known: set[str] = set()
        self._by_prefix: dict[str, list[tuple[int, set[str]]]] | None = None
        self._starts: re.Pattern | None = None   # the first characters of the known values
        #: masked free text by its input (names, products and notes repeat: an evidence package masks
        #: the same few hundred texts tens of thousands of times); emptied when a value is learnt
        self._masked: dict[str, str] = {}
        self._aliases = dict(aliases or {})
        self.add_known(known)

    def add_known(self, values: Iterable) -> None:
        """Add personal values to replace in free text."""
        before = len(self._known)
        for value in values:
            if value is None:
                continue
            text = str(value).strip()
            # Very short values ("1", "A") would mask half a sentence.
            if len(text) >= 2:
                self._known.add(text)
        if len(self._known) != before:
            self._by_prefix = None
            self._masked.clear()

    def _replace_known(self, text: str) -> str:
        """Replace every known value in ``text`` by its mask, longest match first.

        Values are bucketed by their first two characters and their length, so the
        scan costs a few set lookups per place a value could start, whatever the
        number of known values (a city has tens of thousands of patients; one regex
        alternation of them is far too slow); those places, the characters some value
        starts with, are found by one regex character class (a package masks
        thousands of explanations: most of their characters start no value).
        """
        if self._by_prefix is None:
            grouped: dict[str, dict[int, set[str]]] = {}
            for value in self._known:
                grouped.setdefault(value[:2], {}).setdefault(len(value), set()).add(value)
            self._by_prefix = {
                prefix: sorted(by_length.items(), reverse=True) for prefix, by_length in grouped.items()
            }
            self._starts = re.compile("[" + "".join(re.escape(c) for c in sorted({v[0] for v in self._known})) + "]")
        buckets, starts = self._by_prefix, self._starts
        out, done, at = [], 0, 0   # text[:done] is written; values are looked for from ``at`` on
        while (found := starts.search(text, at)) is not None:
            i = found.start()
            for length, values in buckets.get(text[i:i + 2], ()):
                if text[i:i + length] in values:
                    out += [text[done:i], mask_value(text[i:i + length])]
                    done = at = i + length
                    break
            else:
                at = i + 1
        out.append(text[done:])
        return "".join(out)

    def alias(self, value) -> int | None:
        """The number of a personal id (see ``aliases``), or None if it has none."""
        return self._aliases.get(str(value))

    def person(self, value) -> str:
        """A personal identifier or name, masked unless revealing."""
        if value is None or (isinstance(value, float) and value != value):
            return ""
        if self.reveal:
            return str(value)
        number = self._aliases.get(str(value))
        return mask_value(value) + (f"#{number}" if number is not None else "")

    def text(self, value) -> str:
        """Free text with every known personal value and ID/phone-shaped number masked ('' for a missing value)."""
        if value is None or (isinstance(value, float) and value != value):
            return ""
        text = str(value)
        if self.reveal or not text:
            return text
        done = self._masked.get(text)
        if done is not None:
            return done
        masked = self._replace_known(text) if self._known else text
        masked = _ID_NUMBER.sub(lambda m: m.group(1)[:3] + "*" * 13 + m.group(3)[-2:], masked)
        masked = _MOBILE.sub(lambda m: m.group(1) + m.group(2) + "****" + m.group(3) + m.group(4), masked)
        if len(self._masked) < 100_000 and len(text) < 4096:   # bounded: raw source lines are long and unique
            self._masked[text] = masked
        return masked

    def raw_line(self, line: str, header=None) -> str:
        """One raw source line, masked.

        JSON objects have the values of their personal keys masked (any key
        :func:`is_pii_header` knows, at any depth); a delimited line with its
        ``header`` (the file's header line, or the list of column names) has its
        personal columns masked; then everything goes through :meth:`text`
        (known values, ID and mobile numbers).  The values under personal keys
        and columns become known values (:meth:`learn_raw`), so the row's free
        text naming them is masked too.
        """
        if self.reveal or not line:
            return line
        self.learn_raw(line, header)  # the row's own people, wherever else the row names them
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                # a record nested too deep to parse (a hostile file) is masked as broken JSON
                return self.text(json.dumps(self._mask_json(json.loads(stripped)), ensure_ascii=False))
            except (ValueError, RecursionError):
                return self.text(self._mask_json_text(line))
        split = split_header(header)
        if split is not None:
            names, delimiter = split
            fields = next(csv.reader([line], delimiter=delimiter), None)
            if fields:
                masked = [self.person(v) if personal else v for v, personal in zip(fields, _personal_fields(names, fields))]
                buffer = io.StringIO()
                csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(masked)
                return self.text(buffer.getvalue())
        return self.text(line)

    def learn_raw(self, line: str, header=None) -> None:
        """Add the personal values of a raw line (as :meth:`raw_line` finds them) to the known values.

        Names and ids under personal headers in one row are then masked wherever
        they occur in free text (a remark naming the patient, another row).
        """
        if not line:
            return
        found: list[str] = []
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                self._collect_json(json.loads(stripped), found)
            except (ValueError, RecursionError):
                pass
        else:
            split = split_header(header)
            if split is not None:
                names, delimiter = split
                fields = next(csv.reader([line], delimiter=delimiter), None) or []
                if len(fields) == len(names):
                    found += [v for h, v in zip(names, fields) if is_pii_header(h)]
                else:  # columns shifted: only what looks like a name is learnt
                    found += [v for v in fields if _looks_like_name(v)]
            else:
                found += [v for v in _split_any(line) if _looks_like_name(v)]
        self.add_known(v for v in found if _worth_learning(v))

    def _collect_json(self, obj, found: list) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, (dict, list)):
                    self._collect_json(v, found)
                elif v is not None and is_pii_header(k):
                    found.append(str(v))
        elif isinstance(obj, list):
            for v in obj:
                self._collect_json(v, found)

    def _mask_json_text(self, line: str) -> str:
        """Broken or truncated JSON: mask the values of personal keys found by pattern."""
        def one(m: re.Match) -> str:
            key, value = m.group(1), m.group(2)
            if not is_pii_header(key):
                return m.group(0)
            quoted = value.startswith('"')
            inner = value[1:-1] if quoted and len(value) > 1 and value.endswith('"') else value.strip('"')
            if not inner or inner == "null":
                return m.group(0)
            masked = self.person(inner)
            return m.group(0)[: m.start(2) - m.start(0)] + (f'"{masked}"' if quoted else masked)

        return _JSON_PAIR.sub(one, line)

    def _mask_json(self, obj):
        if isinstance(obj, dict):
            return {
                k: (
                    self.person(v)
                    if v is not None and not isinstance(v, (dict, list)) and is_pii_header(k)
                    else self._mask_json(v)
                )
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self._mask_json(v) for v in obj]
        return obj


def _personal_fields(names: list[str], fields: list[str]) -> list[bool]:
    """Which fields of a delimited row are personal, given the header ``names``.

    With as many fields as names, exactly those under a personal header.  When the
    counts differ (a broken row) the columns may have shifted by up to the
    difference either way: every field that close to a personal column is taken,
    and any field that looks personal (:func:`_looks_personal`).
    """
    diff = abs(len(fields) - len(names))
    personal = [i for i, h in enumerate(names) if is_pii_header(h)]
    near = {j for i in personal for j in range(i - diff, i + diff + 1)}
    return [bool(v.strip()) and (i in near or (diff > 0 and _looks_personal(v))) for i, v in enumerate(fields)]


def _split_any(text: str) -> list[str]:
    """A line split on its most frequent delimiter (one field when it has none)."""
    delimiter = max(_DELIMITERS, key=text.count)
    if not text.count(delimiter):
        return [text]
    return next(csv.reader([text], delimiter=delimiter), None) or [text]


# ---------------------------------------------------------------- quarantine

#: The 100 most common Chinese surnames (and compound ones): a 2-4 character Han
#: field starting with one, in a row whose header is unknown, is taken for a name.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
    "金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文")
_HAN = re.compile(r"^[\u4e00-\u9fff·]{2,4}$")
# Han fields that end like things, not people (drug forms, institutions).
_NOT_NAME_ENDINGS = tuple("片丸剂液膏粒囊素酸钠钾胺醇酮林星平尔定汀宁房店院司局部科室厂")


# A certificate-like id: one or two letters and 14+ digits (prescriber D + 17 digits); site
# codes (P/H + 11-12 digits) and 20-digit trace codes are not taken.
_CERT_ID = re.compile(r"^[A-Za-z]{1,2}\d{14,}$")


def _looks_personal(value: str) -> bool:
    """In a row without header: a Chinese personal name or a certificate-like id."""
    return _looks_like_name(value) or bool(_CERT_ID.match(value.strip()))


def _looks_like_name(value: str) -> bool:
    text = value.strip()
    if not _HAN.match(text) or text.endswith(_NOT_NAME_ENDINGS):
        return False
    return text[0] in _SURNAMES or text.startswith(_COMPOUND_SURNAMES)


def mask_quarantine_raw(raw, reason=None, header=None, reveal: bool = False) -> str:
    """The raw text of a quarantined row, masked like every other output.

    JSON (NHSA messages, EPCIS events) is masked key by key, a delimited row by
    its ``header`` when the caller knows it (the file's header line or column
    names); a delimited row without header has every field masked that looks
    like a Chinese personal name or a certificate number (letters + 14 digits);
    then ID and mobile numbers are masked anywhere.
    ``reveal`` (``--reveal-pii`` at ingest, recorded) keeps the text as is.
    ``reason`` is accepted for symmetry with the quarantine columns; mask it
    with :func:`mask_quarantine_rows`.

    Examples
    --------
    >>> mask_quarantine_raw('{"psn_no": "110105199001011234", "psn_name": "张三丰"}')
    '{"psn_no": "110*************34", "psn_name": "张**"}'
    >>> mask_quarantine_raw("8123,张三丰,阿莫西林胶囊,13812345678")
    '8123,张**,阿莫西林胶囊,138****5678'
    """
    if raw is None or (isinstance(raw, float) and raw != raw):
        return ""
    text = str(raw)
    if reveal or not text:
        return text
    masker = Masker()
    masker.learn_raw(text, header)  # a name in a column is masked in the row's free text too
    if header is not None or text.lstrip().startswith("{"):
        return masker.raw_line(text, header=header)
    delimiter = max(_DELIMITERS, key=text.count)
    if text.count(delimiter):
        fields = next(csv.reader([text], delimiter=delimiter), None)
        if fields and any(_looks_personal(f) for f in fields):
            buffer = io.StringIO()
            csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(
                [mask_value(f) if _looks_personal(f) else f for f in fields])
            text = buffer.getvalue()
    elif _looks_personal(text):
        text = mask_value(text)
    return masker.text(text)


_BINARY_INPUTS = (".xlsx", ".xlsm", ".xls", ".parquet", ".gz", ".zip")


def mask_quarantine_rows(rows, header=None, reveal: bool = False):
    """Quarantine rows (source_file, source_line, reason, raw) with ``raw`` and ``reason`` masked.

    ``rows`` is an iterable of 4-tuples (returned as a list) or a DataFrame with
    those columns (returned as a masked copy).  Delimited rows are masked by
    column with ``header`` when given, else with the header line read from the
    row's ``source_file`` when it is a readable text file (:func:`read_header_line`,
    once per file), else by :func:`mask_quarantine_raw`'s patterns.  With
    ``reveal`` (``--reveal-pii`` at ingest) the rows come back unchanged.

    Examples
    --------
    >>> mask_quarantine_rows([("in.jsonl", 3, "invalid JSON", '{"psn_no": "110105199001011234", ')])
    [('in.jsonl', 3, 'invalid JSON', '{"psn_no": "110*************34", ')]
    """
    if reveal:
        return rows
    masker = Masker()
    headers: dict[str, str] = {}

    def header_of(source_file, raw) -> str | None:
        if header is not None:
            return header
        text = "" if raw is None else str(raw)
        if not text or text.lstrip().startswith("{") or source_file is None:
            return None
        key = str(source_file)
        if key not in headers:
            # binary inputs (XLSX sheets, Parquet, gzip) have no header line to read
            headers[key] = "" if key.lower().endswith(_BINARY_INPUTS) else read_header_line(key)
        return headers[key] or None

    def one(source_file, line, why, raw):
        return (masker.text(why) if isinstance(why, str) else why,
                mask_quarantine_raw(raw, why, header=header_of(source_file, raw)))

    if hasattr(rows, "columns"):
        if rows.empty:
            return rows
        out = rows.copy()
        masked = [one(f, n, why, raw) for f, n, why, raw in
                  zip(out["source_file"], out["source_line"], out["reason"], out["raw"])]
        out["reason"] = [m[0] for m in masked]
        out["raw"] = [m[1] for m in masked]
        return out
    result = []
    for f, n, why, raw in rows:
        why, raw = one(f, n, why, raw)
        result.append((f, n, why, raw))
    return result
