"""Reading a lead list as a bureau sends it (rxring.cases.leads.read_leads): no workspace needed."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from rxring.cases.leads import read_leads
from rxring.errors import RxringError

CODE = "84343690218049266566"
HEADER = ["序号", "统筹区", "定点医药机构编码", "定点医药机构名称", "追溯码", "药品通用名", "结算次数", "疑点描述"]


def _xlsx(path, rows):
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_a_title_row_above_the_header_is_skipped(tmp_path):
    """Bureaus put the list's title (merged over the columns) above the header, and a total below."""
    path = _xlsx(tmp_path / "线索.xlsx", [
        ["某市医疗保障局 药品追溯码疑点线索清单（2026年第3批）"],
        [],
        HEADER,
        [1, "市本级", "P1", "某某大药房", CODE, "阿托伐他汀钙片", 3, "同一追溯码多次结算"],
        ["合计", None, None, None, None, None, 3, None],
    ])
    rows = read_leads(path)
    assert [(r["line"], r["trace_code"], r["reason"]) for r in rows] == [
        (4, CODE, "同一追溯码多次结算"), (5, "", "")]


def test_a_title_row_in_a_csv_is_skipped_too(tmp_path):
    path = tmp_path / "线索.csv"
    path.write_text("药品追溯码疑点线索清单\n" + ",".join(HEADER) + f"\n1,市本级,P1,药房,{CODE},片,3,重复结算\n",
                    encoding="utf-8-sig")
    assert [(r["line"], r["trace_code"]) for r in read_leads(path)] == [(3, CODE)]


def test_no_key_column_near_the_top_is_one_clear_error_in_chinese_first(tmp_path):
    path = _xlsx(tmp_path / "x.xlsx", [["清单"], ["姓名", "金额"], ["x", 1]])
    with pytest.raises(RxringError) as error:
        read_leads(path)
    message = str(error.value)
    assert message.startswith(f"{path}, line 1: 找不到追溯码或结算ID列") and "no code or settlement-id column" in message


def test_the_list_is_read_from_the_first_sheet_that_has_one(tmp_path):
    """A workbook whose first sheet is the form's instructions (填表说明) and the list on the second."""
    book = Workbook()
    book.active.title = "填表说明"
    book.active.append(["请逐行核查以下线索，并于30日内反馈核查结果。"])
    book.create_sheet("疑点线索").append(HEADER)
    book["疑点线索"].append([1, "市本级", "P1", "某某大药房", CODE, "阿托伐他汀钙片", 3, "同一追溯码多次结算"])
    book.save(tmp_path / "线索.xlsx")
    assert [(r["line"], r["trace_code"]) for r in read_leads(tmp_path / "线索.xlsx")] == [(2, CODE)]
