"""Issuing pack codes: Chinese 20-digit codes or GS1 GTIN + serial.

A Chinese code is the product's 7-digit prefix (product and pack level) followed
by a 13-digit serial; as in ``/work/shared/examples`` the serial's last four digits
run on within one production line while the nine before them look random.  The
nine digits are a keyed bijection of a per-product counter below 10**9 (a
30-bit mixing permutation with cycle walking), so codes never repeat, look
random, and no set of issued codes has to be kept.

The GS1 variant uses the same serial with a GTIN-14 (GS1 China prefix 69x,
valid check digit); its canonical form is ``"01" + GTIN14 + "21" + serial``
(the contract of :mod:`rxring.ingest.codes`).
"""

from __future__ import annotations

__all__ = ["CodeFactory", "gtin_check_digit"]

_MASK = (1 << 30) - 1


def _mix(x: int, key: int) -> int:
    """An invertible 30-bit mixing function (xor-shift and odd multipliers modulo 2**30)."""
    x = (x ^ key) & _MASK
    x = (x * 0x2C1B3C6D) & _MASK   # odd: invertible modulo 2**30
    x ^= x >> 15
    x = (x * 0x297A2D39) & _MASK
    x ^= x >> 13
    return x


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of a GTIN body (all digits but the last).

    Examples
    --------
    >>> gtin_check_digit("0950600013435")
    2
    """
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


class CodeFactory:
    """Issues the codes of one product, never the same twice.

    Parameters
    ----------
    prefix7 : str
        The product's 7-digit Chinese code prefix.
    gs1_company, gs1_item_ref : str
        GS1 company prefix (7 digits) and item reference (5 digits); indicator 0.
    gs1 : bool
        Issue GS1 codes instead of Chinese ones.
    key : int
        Key of the 30-bit permutation that scrambles the counter.
    run : int
        Start of the 4-digit running part.
    """

    __slots__ = ("prefix7", "gtin14", "gs1_company", "gs1_item_ref", "gs1", "key", "run", "counter")

    def __init__(self, prefix7: str, gs1_company: str, gs1_item_ref: str, gs1: bool, key: int, run: int):
        self.prefix7 = prefix7
        self.gs1_company = gs1_company
        self.gs1_item_ref = gs1_item_ref
        body = "0" + gs1_company + gs1_item_ref
        self.gtin14 = body + str(gtin_check_digit(body))
        self.gs1 = gs1
        self.key = key & _MASK
        self.run = run
        self.counter = 0

    @property
    def product_part(self) -> str:
        """What ingest calls ``code_product``: the 7-digit prefix or the GTIN-14."""
        return self.gtin14 if self.gs1 else self.prefix7

    def issue(self, n: int) -> list[str]:
        """``n`` new canonical codes (one production run: the last four digits run on)."""
        out = []
        c, run = self.counter, self.run
        for _ in range(n):
            serial = str(self._scramble(c)).zfill(9) + str(run).zfill(4)
            out.append(("01" + self.gtin14 + "21" + serial) if self.gs1 else self.prefix7 + serial)
            c += 1
            run = (run + 1) % 10000
        self.counter, self.run = c, run
        return out

    def _scramble(self, c: int) -> int:
        """A bijection of [0, 10**9): permute 30-bit words, walk the cycle back below 10**9."""
        x = c
        while True:
            x = _mix(x, self.key)
            if x < 1_000_000_000:
                return x

    def sgtin_uri(self, canonical: str) -> str:
        """The SGTIN pure-identity URI of a canonical GS1 code issued here."""
        serial = canonical[18:]
        return f"urn:epc:id:sgtin:{self.gs1_company}.0{self.gs1_item_ref}.{serial}"
