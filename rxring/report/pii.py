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

__all__ = ["Masker", "mask_value", "PII_EVENT_COLUMNS", "PII_JSON_KEYS"]

# Event columns that hold people (DESIGN §2).
PII_EVENT_COLUMNS = ("patient_id", "prescriber_id", "pharmacist_id")

# NHSA message fields (and Chinese CSV headers) that hold people, masked in raw lines.
PII_JSON_KEYS = frozenset(
    {
        "psn_no", "psn_name", "psn_cert_type", "certno", "mdtrt_cert_no", "tel", "phone", "mob",
        "prsc_dr_certno", "prsc_dr_name", "phar_certno", "phar_name", "phar_prac_cert_no",
        "patient_id", "prescriber_id", "pharmacist_id", "name",
        "人员编号", "姓名", "身份证号", "证件号码", "手机号", "电话", "医师", "医师姓名", "药师",
    }
)

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


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
        self._aliases = dict(aliases or {})
        self.add_known(known)

    def add_known(self, values: Iterable) -> None:
        """Add personal values to replace in free text."""
        for value in values:
            if value is None:
                continue
            text = str(value).strip()
            # Very short values ("1", "A") would mask half a sentence.
            if len(text) >= 2:
                self._known.add(text)
        self._by_prefix = None

    def _replace_known(self, text: str) -> str:
        """Replace every known value in ``text`` by its mask, longest match first.

        Values are bucketed by their first two characters and their length, so the
        scan costs a few set lookups per character whatever the number of known
        values (a city has tens of thousands of patients; one regex alternation of
        them is far too slow).
        """
        if self._by_prefix is None:
            grouped: dict[str, dict[int, set[str]]] = {}
            for value in self._known:
                grouped.setdefault(value[:2], {}).setdefault(len(value), set()).add(value)
            self._by_prefix = {
                prefix: sorted(by_length.items(), reverse=True) for prefix, by_length in grouped.items()
            }
        buckets = self._by_prefix
        out, i, n = [], 0, len(text)
        while i < n:
            for length, values in buckets.get(text[i:i + 2], ()):
                if text[i:i + length] in values:
                    out.append(mask_value(text[i:i + length]))
                    i += length
                    break
            else:
                out.append(text[i])
                i += 1
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
        """Free text with every known personal value and ID/phone-shaped number masked."""
        if value is None:
            return ""
        text = str(value)
        if self.reveal or not text:
            return text
        if self._known:
            text = self._replace_known(text)
        text = _ID_NUMBER.sub(lambda m: m.group(1)[:3] + "*" * 13 + m.group(3)[-2:], text)
        text = _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
        return text

    def raw_line(self, line: str) -> str:
        """One raw source line: JSON objects have their personal fields masked, then free-text masking."""
        if self.reveal:
            return line
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                obj = json.loads(stripped)
            except ValueError:
                obj = None
            if obj is not None:
                return self.text(json.dumps(self._mask_json(obj), ensure_ascii=False))
        return self.text(line)

    def _mask_json(self, obj):
        if isinstance(obj, dict):
            return {
                k: (
                    self.person(v)
                    if k in PII_JSON_KEYS and v is not None and not isinstance(v, (dict, list))
                    else self._mask_json(v)
                )
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self._mask_json(v) for v in obj]
        return obj
