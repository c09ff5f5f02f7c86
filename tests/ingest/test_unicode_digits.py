"""A trace code written with any script's decimal digits is the same pack as in ASCII digits.

Unicode has 66 sets of decimal digits (category ``Nd``: Arabic-Indic ``٨``, Devanagari
``८``, full-width ``８``, mathematical ``𝟖`` …).  Each is folded to ASCII before a code
is parsed, on every input path (NHSA JSON, CSV, the columnar fast path) and in
``rxring code``, so re-selling a pack whose code was re-typed in another script is
still found.
"""

from __future__ import annotations

import json
import sys
import tempfile
import unicodedata
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rxring
from rxring.cli import cli
from rxring.ingest import ingest, read_events
from rxring.ingest.codes import CodeError, parse_code
from rxring.ingest.normalise import FileContext, normalise

CN = ["81151257914085620001", "81151257914085620002", "86243404501030440003"]
GS1 = "(01)09506000134352(21)SN0001"
CODES = CN + [GS1]
ND_ZEROS = [chr(c) for c in range(sys.maxunicode + 1)
            if unicodedata.category(chr(c)) == "Nd" and unicodedata.decimal(chr(c)) == 0]


def in_script(code: str, zero: str) -> str:
    """``code`` with its ASCII digits replaced by the digits that start at ``zero``."""
    return "".join(chr(ord(zero) + int(ch)) if "0" <= ch <= "9" else ch for ch in code)


def full_width_letters(code: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalpha() else ch for ch in code)


# ------------------------------------------------------------------ the planted resale

def nhsa_lines(codes: list[str]) -> str:
    """S1 buys the packs, then dispenses each to PSN1 (NHSA 3503 + 3505 JSON Lines)."""
    lines = [{"infno": "3503", "msgid": "IN1", "fixmedins_code": "S1", "purc_retn_cnt": 1,
              "purc_retn_stoin_time": "2025-01-10 09:00:00", "finl_trns_pric": 10.0, "fixmedins_bchno": "B0",
              "input": {"purcinfo": {"drugtracinfo": [{"drug_trac_codg": c} for c in codes]}}}]
    for i, code in enumerate(codes):
        lines.append({"infno": "3505", "msgid": f"D{i}", "fixmedins_code": "S1", "psn_no": "PSN1",
                      "prsc_dr_certno": "DR1", "setl_id": f"ST{i}", "finl_trns_pric": 20.0, "sel_retn_cnt": 1,
                      "sel_retn_time": f"2025-02-0{i + 1} 10:00:00", "trdn_flag": "0", "fixmedins_bchno": f"B{i + 1}",
                      "fund_pay_sumamt": 15.0, "drug_trac_codg": code})
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def csv_rows(codes: list[str]) -> str:
    """The same packs dispensed again at S2 to PSN2 (a CSV sales export)."""
    out = ["event_id,trace_code,event_type,event_time,site_id,patient_id,prescriber_id,settlement_id,"
           "fund_amount,total_amount,quantity"]
    out += [f"R{i},{code},dispense,2025-03-0{i + 1} 11:00:00,S2,PSN2,DR2,X{i},15,20,1" for i, code in enumerate(codes)]
    return "\n".join(out) + "\n"


def findings_of(first: list[str], second: list[str]) -> tuple[list[dict], object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        (folder / "messages.jsonl").write_text(nhsa_lines(first), encoding="utf-8")
        (folder / "sales.csv").write_text(csv_rows(second), encoding="utf-8")
        report = ingest([folder], Path(tmp) / "ws", progress=False)
        findings = rxring.run_rules(read_events(Path(tmp) / "ws"))
    rows = []
    for row in findings.to_dict("records"):
        rows.append({k: list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v for k, v in row.items()})
    return rows, report


@lru_cache(maxsize=1)
def ascii_findings() -> list[dict]:
    rows, report = findings_of(CODES, CODES)
    assert report.quarantined == 0
    return rows


def test_the_ascii_resale_is_found():
    rules = sorted(row["rule"] for row in ascii_findings())
    assert rules.count("DUP_DISPENSE") == len(CODES) and rules.count("RESURFACE") == len(CODES)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.characters(categories=["Nd"]), min_size=2 * len(CODES), max_size=2 * len(CODES)),
       st.booleans())
def test_any_scripts_digits_give_the_same_findings(digits, letters):
    """Each code of each file in the script of one drawn Nd digit; GS1 letters maybe full-width."""
    zeros = [chr(ord(d) - unicodedata.decimal(d)) for d in digits]
    variant = [in_script(code, zero) for code, zero in zip(CODES + CODES, zeros)]
    if letters:
        variant = [full_width_letters(code) if code.startswith("(") else code for code in variant]
    rows, report = findings_of(variant[: len(CODES)], variant[len(CODES):])
    assert report.quarantined == 0
    assert rows == ascii_findings()


def test_mixed_scripts_within_one_code_fold_too():
    code = "".join(in_script(ch, ND_ZEROS[i % len(ND_ZEROS)]) for i, ch in enumerate(CN[0]))
    assert parse_code(code).canonical == CN[0]


def test_every_nd_script_parses_to_the_ascii_code():
    assert len(ND_ZEROS) >= 60
    for zero in ND_ZEROS:
        for code in CODES:
            assert parse_code(in_script(code, zero)) == parse_code(code), (hex(ord(zero)), code)


def test_columnar_and_scalar_paths_agree_on_every_script():
    """One column: ASCII codes (sliced columnar) and every script's spelling (parsed per value).

    Canonical GS1 strings and SGTIN URIs have a columnar path too (ASCII only, by RE2's ``\\d``).
    """
    gs1 = ["010950600013435221SN0001", "urn:epc:id:sgtin:0614141.812345.6789"]
    texts = [in_script(code, zero) for zero in ["0"] + ND_ZEROS for code in CN + gs1]
    n = len(texts)
    table = pa.table({"trace_code": texts, "event_type": ["dispense"] * n, "event_time": ["2025-03-01 10:00:00"] * n,
                      "site_id": ["P1"] * n, "_line": pa.array(range(2, n + 2), type=pa.int64())})
    events, quarantine = normalise(table, FileContext(source_file="in.csv", sha16="0" * 16))
    assert quarantine.empty
    assert events.column("trace_code").to_pylist() == (CN + [gs1[0], "0180614141123458216789"]) * (len(ND_ZEROS) + 1)
    assert set(events.column("code_product").to_pylist()) == {c[:7] for c in CN} | {"09506000134352", "80614141123458"}
    assert set(events.column("code_kind").to_pylist()) == {"cn20", "gs1"}


@pytest.mark.parametrize("text", ["𐩀" * 20, "8115125791408562327" + "²", "8115125791408562327" + "①" + "1"])
def test_digit_like_characters_that_are_not_decimal_digits_are_not_codes(text):
    folded = None
    try:
        folded = parse_code(text).canonical
    except CodeError as exc:
        assert str(exc)
    if folded is not None:  # NFKC makes ² a 2: then it is a plain code, never one with other characters
        assert folded.isascii() and folded.isdigit() and len(folded) == 20


def test_rxring_code_folds_like_ingest():
    arabic = in_script(CN[0], "\u0660")
    result = CliRunner().invoke(cli, ["code", arabic, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["canonical"] == CN[0]
    assert json.loads(CliRunner().invoke(cli, ["code", full_width_letters(in_script(GS1, "\u0966")), "--json"]).output)[
        "canonical"] == "010950600013435221SN0001"
