"""Masking personal data: ids, names, ID numbers, phone numbers, raw JSON lines."""

import json

import pandas as pd
import pytest

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


# ---------------------------------------------------------------- headers, CSV source rows, quarantine

from rxring.ingest.aliases import COLUMN_ALIASES  # noqa: E402
from rxring.pii import is_pii_header, mask_quarantine_raw, mask_quarantine_rows  # noqa: E402
from rxring.report.sources import read_source_lines  # noqa: E402
from rxring.report.evidence import read_package_csv  # noqa: E402

from .conftest import member_text  # noqa: E402

CSV_HEADER = "追溯码,业务类型,销售时间,机构编码,人员编号,患者姓名（全名）,开方医师,医师姓名,药师,基金支付,备注"
CSV_ROW = ("81151257914085623274,销售,2026-01-03 10:00,P110000000001,P0000042,李秀英,D1234567,王建国,"
           "PH0042,10.50,患者李秀英自述退药 电话13812345678")


def test_every_alias_ingest_knows_for_people_is_a_personal_header():
    for column in ("patient_id", "prescriber_id", "pharmacist_id", "_prescriber_name"):
        assert all(is_pii_header(alias) for alias in COLUMN_ALIASES[column]), column
    for header in ("患者姓名", "患者姓名(全名)", " PSN_NAME ", "姓名", "身份证号", "联系电话", "药师姓名"):
        assert is_pii_header(header), header
    for header in ("追溯码", "药品名称", "机构编码", "基金支付", "备注", "fixmedins_code", "spler_name"):
        assert not is_pii_header(header), header


def test_csv_raw_line_masked_by_its_header_and_names_learnt_for_free_text():
    masker = Masker()
    masker.learn_raw(CSV_ROW, CSV_HEADER)
    out = masker.raw_line(CSV_ROW, CSV_HEADER).split(",")
    assert out[:4] == CSV_ROW.split(",")[:4] and out[9] == "10.50"  # code, type, time, site, money readable
    assert out[4:9] == [mask_value(v) for v in ("P0000042", "李秀英", "D1234567", "王建国", "PH0042")]
    assert "李秀英" not in out[10] and "13812345678" not in out[10]  # the remark names the patient
    # the learnt name is masked in other free text of the case (an explanation, another file's line)
    assert masker.text("退药人：李秀英") == "退药人：李**"
    assert Masker(reveal=True).raw_line(CSV_ROW, CSV_HEADER) == CSV_ROW


def test_broken_json_is_masked_by_key():
    line = '{"psn_no": "P0000042", "prsc_dr_name": "王建国", "fixmedins_code": "P110000000001", "psn_name": "李秀'
    out = Masker().raw_line(line)
    assert "P0000042" not in out and "王建国" not in out and "李秀" not in out
    assert '"fixmedins_code": "P110000000001"' in out


def test_read_source_lines_keeps_the_header_of_a_csv_file(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("导出时间: 2026-01-05\n" + CSV_HEADER + "\n" + CSV_ROW + "\n", encoding="gb18030")
    (tmp_path / "msgs.jsonl").write_text('{"psn_no": "P1"}\n', encoding="utf-8")
    found = read_source_lines({str(path): {3}, str(tmp_path / "msgs.jsonl"): {1}}, {}, tmp_path)
    line = found[(str(path), 3)]
    assert line.status == "ok" and line.raw == CSV_ROW and line.header == CSV_HEADER  # the preamble is skipped
    assert found[(str(tmp_path / "msgs.jsonl"), 1)].header == ""
    assert "李秀英" not in Masker().raw_line(line.raw, line.header)


def test_quarantine_raw_masks_json_csv_with_and_without_header():
    assert "王建国" not in mask_quarantine_raw('{"input": {"selinfo": [{"prsc_dr_name": "王建国"}]}}')
    # with the header: by column, and a shifted (broken) row around the personal columns
    assert "李秀英" not in mask_quarantine_raw(CSV_ROW, header=CSV_HEADER)
    shifted = mask_quarantine_raw(CSV_ROW + ",多一列", header=CSV_HEADER)
    assert not any(v in shifted for v in ("P0000042", "李秀英", "D1234567", "王建国", "PH0042"))
    # without: names, certificate numbers, ID and mobile numbers by shape; sites and codes stay
    bare = mask_quarantine_raw("81151257914085623274,P110000000001,张伟,D12345678901234567,110105199001011234,布洛芬片")
    assert bare.split(",")[0:2] == ["81151257914085623274", "P110000000001"] and bare.endswith(",布洛芬片")
    assert not any(v in bare for v in ("张伟", "D12345678901234567", "110105199001011234"))
    assert mask_quarantine_raw(CSV_ROW, reveal=True) == CSV_ROW


def test_quarantine_rows_read_the_header_of_their_source_file(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(CSV_HEADER + "\n" + CSV_ROW + "\n", encoding="utf-8")
    rows = [(str(path), 2, "bad time '13812345678'", CSV_ROW)]
    (row,) = mask_quarantine_rows(rows)
    assert row[:2] == rows[0][:2] and "13812345678" not in row[2]
    assert not any(v in row[3] for v in ("P0000042", "李秀英", "D1234567", "王建国", "PH0042"))
    frame = mask_quarantine_rows(pd.DataFrame(rows, columns=["source_file", "source_line", "reason", "raw"]))
    assert list(frame["raw"]) == [row[3]]
    assert mask_quarantine_rows(rows, reveal=True) == rows


# ---------------------------------------------------------------- formatted phones, names in free text

FORMATTED_PHONES = ("+86 138-1234-5678", "138 1234 5678", "(0)13812345678", "+8613812345678", "0086 138 1234 5678",
                    "86-13812345678", "138.1234.5678", "138-1234-5678", "+86 (0) 138 1234 5678", "电话：13812345678。")

NOT_PHONES = ("81151257914085623274", "8115 1257 9140 8562 3274", "(01)06901234567892(21)13812345678901",
              "数量 12 盒, 单价 138.50, 合计 1,385.00", "2026-01-13 10:00:00", "20260113103000", "金额 13812345.67",
              "1381234567", "138123456789", "批号 2513812", "13.81 23 4567", "qty 1 3812 3456")


@pytest.mark.parametrize("text", FORMATTED_PHONES)
def test_mobile_numbers_are_masked_however_they_are_written(text):
    out = Masker().text(f"联系人 {text} 代取")
    assert "1234" not in out and "****" in out and out.count("5678") == 1, out
    assert Masker().raw_line(json.dumps({"remark": text}, ensure_ascii=False)).count("****") == 1


@pytest.mark.parametrize("text", NOT_PHONES)
def test_ordinary_numbers_are_not_taken_for_phones(text):
    assert Masker().text(text) == text


def test_evidence_source_rows_mask_formatted_phones_and_names_the_data_knows(tmp_path):
    """A remark naming a person of the patients' master (not a ring member) and phones in any spelling."""
    import hashlib
    import zipfile

    from rxring.report import build_evidence
    from rxring.workspace import Workspace

    from .conftest import build_workspace

    case = build_workspace(tmp_path / "case", big=False)
    ws = Workspace(case.root)
    lines = case.input_path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["infno"] == "3505":
            record["tel"] = "+86 138-1234-5678"
            record["memo"] = "家属赵六娃代取，电话 +86 139-8765-4321 或 (0)13912345678，数量 12，单价 138.50"
        lines[i] = json.dumps(record, ensure_ascii=False)
    case.input_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = ws.manifest()
    manifest["inputs"][0]["sha256"] = hashlib.sha256(case.input_path.read_bytes()).hexdigest()
    ws.write_manifest(manifest)
    patients = pd.read_parquet(ws.masters_dir / "patients.parquet")
    pd.concat([patients, pd.DataFrame([{"patient_id": "P-FAMILY", "name": "赵六娃"}])]).to_parquet(
        ws.masters_dir / "patients.parquet")

    package = build_evidence(case.root, "R001", tmp_path / "e.zip")
    with zipfile.ZipFile(package.path) as archive:
        texts = {name: member_text(name, archive.read(name)) for name in archive.namelist()}
    rows = read_package_csv(texts["source_rows.csv"].encode())
    remarks = [json.loads(row["raw_line"])["memo"] for row in rows if row["raw_line"] and '"memo"' in row["raw_line"]]
    assert remarks and all(r == "家属赵**代取，电话 +86 139-****-4321 或 (0)139****5678，数量 12，单价 138.50" for r in remarks)
    assert all(json.loads(row["raw_line"])["drug_trac_codg"] in case.small_ring_codes for row in rows if row["raw_line"])
    assert any("2026-03-0" in row["raw_line"] for row in rows)  # times readable
    for name, text in texts.items():
        for value in ("赵六娃", "1234-5678", "8765-4321", "13912345678"):
            assert value not in text, (name, value)


def _replace_known_reference(known: set[str], text: str) -> str:
    """Free-text masking as it was written first: at each character, the longest known value starting there."""
    from rxring.pii import mask_value

    out, i = [], 0
    while i < len(text):
        for length in sorted({len(v) for v in known}, reverse=True):
            if text[i:i + length] in known:
                out.append(mask_value(text[i:i + length]))
                i += length
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def test_free_text_masking_matches_the_plain_scan():
    import random

    from rxring.pii import Masker

    rng = random.Random(20)
    alphabet = "张王李三丰12345678 -]^\\[D患者退药"
    for _ in range(300):
        known = {"".join(rng.choice(alphabet) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(1, 8))}
        known = {v.strip() for v in known if len(v.strip()) >= 2}
        if not known:
            continue
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        masker = Masker(known=known)
        assert masker._replace_known(text) == _replace_known_reference(known, text), (known, text)
