"""Masking personal data: ids, names, ID numbers, phone numbers, raw JSON lines."""

import json

from rxring.report.pii import Masker, mask_value


def test_mask_value_keeps_ends_and_hides_middle():
    assert mask_value("张三丰") == "张**"
    assert mask_value("李四") == "李*"
    assert mask_value("110105199001011234") == "110*************34"
    assert mask_value("") == ""
    assert mask_value(None) == ""
    # a hostile huge value cannot blow up the output
    assert len(mask_value("x" * 1_000_000)) == 3 + 16 + 2


def test_person_masks_unless_revealing_and_numbers_aliases():
    masker = Masker(aliases={"110105199001011234": 7})
    assert masker.person("110105199001011234") == "110*************34#7"
    assert masker.person("P-OTHER") == "P*****R"
    assert masker.person(None) == ""
    assert masker.person(float("nan")) == ""
    assert Masker(reveal=True, aliases={"a": 1}).person("110105199001011234") == "110105199001011234"


def test_text_masks_known_values_id_numbers_and_phones_but_not_trace_codes():
    masker = Masker(known=["张三丰", "P00042"])
    text = "患者张三丰(P00042) 身份证 11010519900101123X 电话 13812345678 追溯码 81151257914085623274"
    out = masker.text(text)
    assert "张三丰" not in out and "P00042" not in out
    assert "11010519900101123X" not in out and "110*************3X" in out
    assert "13812345678" not in out and "138****5678" in out
    assert "81151257914085623274" in out  # a 20-digit trace code is not an ID number
    assert Masker(reveal=True, known=["张三丰"]).text(text) == text


def test_raw_json_line_masks_personal_fields_and_keeps_nulls():
    masker = Masker(known=["王医生"])
    line = json.dumps({"psn_no": "P123456789", "prsc_dr_name": "王医生", "tel": None,
                       "input": {"selinfo": [{"psn_name": "张三"}]}, "drug_trac_codg": "81151257914085623274"},
                      ensure_ascii=False)
    out = json.loads(masker.raw_line(line))
    assert out["psn_no"] == "P12*****89"
    assert out["prsc_dr_name"] == "王**"
    assert out["tel"] is None
    assert out["input"]["selinfo"][0]["psn_name"] == "张*"
    assert out["drug_trac_codg"] == "81151257914085623274"
    # CSV-like raw lines: known values and patterns are masked as text
    assert "王医生" not in masker.raw_line("2026-01-01,王医生,13812345678")
    assert Masker(reveal=True).raw_line(line) == line
