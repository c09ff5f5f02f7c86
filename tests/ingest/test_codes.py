"""Trace codes: Chinese 20-digit codes and GS1 in every spelling (unit + property tests)."""

from __future__ import annotations

import datetime as dt
import re
import string

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rxring.ingest.codes import CodeError, gs1_columns, gtin_check_digit, parse_code, parse_code_series, sgtin_uri_to_gtin

GTIN = "09506000134352"  # a real, valid GTIN-13 padded to 14


def test_cn20_plain_and_spaced():
    p = parse_code(" 8115-1257 9140 8562 3274 ")
    assert (p.canonical, p.kind, p.product, p.serial) == ("81151257914085623274", "cn20", "8115125", "7914085623274")
    assert p.expiry is None and p.lot is None


@pytest.mark.parametrize("text", ["8115125791408562327", "811512579140856232741", "ABCDEFGHIJKLMNOPQRST", "", "   "])
def test_cn20_wrong_length_or_not_digits_is_rejected(text):
    with pytest.raises(CodeError):
        parse_code(text)


@pytest.mark.parametrize(
    "spelling",
    [
        "(01)09506000134352(21)ABC123(17)270131(10)L1",
        "(01) 09506000134352 (21) ABC123 (17) 270131 (10) L1",
        "010950600013435221ABC123\x1d1727013110L1",
        "]d2010950600013435221ABC123\x1d1727013110L1",
        "]C1010950600013435221ABC123\x1d1727013110L1",
        "]Q3010950600013435221ABC123<GS>1727013110L1",
        "0109506000134352172701311" + "0L1\x1d21ABC123",
    ],
)
def test_gs1_spellings_give_one_canonical_code(spelling):
    p = parse_code(spelling)
    assert p.canonical == "0109506000134352" + "21ABC123"
    assert p.kind == "gs1"
    assert p.product == GTIN
    assert p.serial == "ABC123"
    assert p.expiry == dt.date(2027, 1, 31)
    assert p.lot == "L1"


def test_sgtin_uri_computes_the_check_digit():
    assert sgtin_uri_to_gtin("urn:epc:id:sgtin:0614141.812345.6789") == ("80614141123458", "6789")
    p = parse_code("urn:epc:id:sgtin:0614141.812345.6789")
    assert p.canonical == "0180614141123458216789" and p.product == "80614141123458"


def test_digital_link_uri():
    assert parse_code("https://id.gs1.org/01/09506000134352/21/ABC123").canonical == "010950600013435221ABC123"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("(01)09506000134353(21)X1", "check digit"),
        ("(01)09506000134352(17)270131", "no serial"),
        ("urn:epc:id:sscc:0614141.1234567890", "not an SGTIN"),
        ("urn:epc:id:sgtin:0614141.81234.6789", "13 digits"),
        ("(01)09506000134352(21)ABC(17)271399", "not a date"),
        ("#PRECISION_LOST:8.1e19", "lost digits"),
    ],
)
def test_invalid_gs1_codes_say_why(text, reason):
    with pytest.raises(CodeError, match=reason):
        parse_code(text)


def test_series_parsing_matches_scalar_parsing():
    values = pd.Series(["81151257914085623274", "(01)09506000134352(21)A(10)L", None, "junk"], dtype="object")
    out = parse_code_series(values)
    assert out["trace_code"].tolist()[:2] == ["81151257914085623274", "010950600013435221A"]
    assert out["code_kind"].tolist()[:2] == ["cn20", "gs1"]
    assert out["code_lot"].iloc[1] == "L"
    assert out["code_error"].iloc[0] is None
    assert "empty" in out["code_error"].iloc[2]
    assert "not a trace code" in out["code_error"].iloc[3]


# ---------------------------------------------------------------- properties

_SERIAL_CHARS = string.ascii_letters + string.digits + "-./_"


@st.composite
def gs1_codes(draw):
    body = draw(st.text(alphabet=string.digits, min_size=13, max_size=13))
    gtin = body + str(gtin_check_digit(body))
    serial = draw(st.text(alphabet=_SERIAL_CHARS, min_size=1, max_size=20))
    lot = draw(st.one_of(st.none(), st.text(alphabet=_SERIAL_CHARS, min_size=1, max_size=20)))
    expiry = draw(st.one_of(st.none(), st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2049, 12, 28))))
    return gtin, serial, lot, expiry


def _bracketed(gtin, serial, lot, expiry):
    s = f"(01){gtin}(21){serial}"
    if expiry:
        s += f"(17){expiry:%y%m%d}"
    if lot:
        s += f"(10){lot}"
    return s


def _gs_separated(gtin, serial, lot, expiry, prefix=""):
    s = f"{prefix}01{gtin}21{serial}"
    if expiry:
        s += f"\x1d17{expiry:%y%m%d}"
    if lot:
        s += f"\x1d10{lot}"
    return s


@settings(max_examples=200, deadline=None)
@given(gs1_codes(), st.sampled_from(["", "]d2", "]C1", "]Q3"]))
def test_valid_gs1_round_trips_across_spellings(code, prefix):
    gtin, serial, lot, expiry = code
    canonical = f"01{gtin}21{serial}"
    # documented ambiguity: 20 digits (with spaces/hyphens between) always read as a Chinese code
    assume(not (len(re.sub(r"[\s-]", "", canonical)) == 20 and re.fullmatch(r"\d[\d\s-]*\d", canonical)))
    forms = [_bracketed(*code), _gs_separated(*code, prefix=prefix)]
    for form in forms:
        p = parse_code(form)
        assert (p.canonical, p.product, p.serial, p.lot, p.expiry) == (canonical, gtin, serial, lot, expiry)
        # the canonical form parses to itself
        assert parse_code(p.canonical).canonical == canonical


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=string.digits, min_size=1, max_size=12),
    st.text(alphabet=string.digits, min_size=1, max_size=7),
    st.text(alphabet=string.digits + string.ascii_letters, min_size=1, max_size=20),
)
def test_sgtin_uri_round_trips_to_element_string(company, item, serial):
    if len(company) + len(item) != 13 or not 6 <= len(company) <= 12:
        return
    p = parse_code(f"urn:epc:id:sgtin:{company}.{item}.{serial}")
    assert p.product[:-1] == item[0] + company + item[1:]
    assert parse_code(f"(01){p.product}(21){serial}").canonical == p.canonical


@settings(max_examples=200, deadline=None)
@given(gs1_codes(), st.integers(min_value=0, max_value=13), st.integers(min_value=1, max_value=9))
def test_one_changed_gtin_digit_fails_the_check(code, position, delta):
    gtin, serial, lot, expiry = code
    changed = gtin[:position] + str((int(gtin[position]) + delta) % 10) + gtin[position + 1:]
    with pytest.raises(CodeError, match="check digit"):
        parse_code(_bracketed(changed, serial, lot, expiry))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.digits, min_size=20, max_size=20))
def test_any_twenty_digits_is_a_chinese_code(digits):
    """Even a GS1-looking one such as 01 + GTIN-14 + 21 + 2 digits (documented choice)."""
    p = parse_code(digits)
    assert (p.kind, p.canonical, p.product) == ("cn20", digits, digits[:7])


def test_full_width_digits_and_brackets_are_normalised():
    assert parse_code("８１１５１２５７９１４０８５６２３２７４").canonical == "81151257914085623274"
    assert parse_code("（01）09506000134352（21）AB1").canonical == "010950600013435221AB1"


def test_spreadsheet_spellings():
    assert parse_code('="81151257914085623274"').canonical == "81151257914085623274"
    assert parse_code("'81151257914085623274").canonical == "81151257914085623274"
    with pytest.raises(CodeError, match="scientific notation"):
        parse_code("8.11513E+19")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(
    gs1_codes().map(lambda c: f"01{c[0]}21{c[1]}"),
    gs1_codes().map(lambda c: f"01{c[0][:5]}{(int(c[0][5]) + 1) % 10}{c[0][6:]}21{c[1]}"),  # one digit changed
    st.tuples(st.integers(6, 12), st.text(alphabet=string.digits, min_size=13, max_size=13),
              st.text(alphabet=string.digits + string.ascii_letters, min_size=1, max_size=20))
      .map(lambda t: f"urn:epc:id:sgtin:{t[1][:t[0]]}.{t[1][t[0]:]}.{t[2]}"),
    st.text(alphabet=string.digits, min_size=20, max_size=20),
), min_size=1, max_size=30))
def test_columnar_gs1_agrees_with_parse_code(codes):
    import pyarrow as pa

    ok, canonical, gtin, serial = gs1_columns(pa.array(codes))
    for text, is_ok, c, g, s in zip(codes, ok.to_pylist(), canonical.to_pylist(), gtin.to_pylist(), serial.to_pylist()):
        if not is_ok or (text.isdigit() and len(text) == 20):
            continue  # left to parse_code; 20 digits are read as a Chinese code first (documented)
        p = parse_code(text)
        assert (p.canonical, p.product, p.serial) == (c, g, s)
    # every code it leaves alone is one parse_code rejects, or a spelling it does not handle
    for text, is_ok in zip(codes, ok.to_pylist()):
        if not is_ok and text.startswith("01") and not text.isdigit():
            with pytest.raises(CodeError):
                parse_code(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + " ,;、|\t\n\u3000８１", min_size=1, max_size=60))
def test_split_code_cell_shortcut_gives_what_the_split_gives(text):
    """A cell of ASCII letters and digits only is taken as one code without the regex split (the usual cell of an
    NHSA export); the split itself (forced by a trailing separator, which it drops) gives the same for it, and
    item_codes gives what split_code_cell gives."""
    from rxring.ingest.formats.nhsa import item_codes
    from rxring.ingest.normalise import split_code_cell

    pieces = split_code_cell(text)
    if text.isascii() and text.isalnum():
        assert pieces == [text] == split_code_cell(text + ",")
    item = {"drug_trac_codg": text}
    assert item_codes(item, item) == (pieces if text else [])
