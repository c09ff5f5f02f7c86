"""Header and value aliases: how exports name the canonical columns and event types.

Pharmacy and hospital systems export the same facts under many headers (Chinese,
NHSA field names, English).  :func:`map_headers` picks, for each canonical column,
the first header of the file that is one of its aliases.  Headers are compared
after :func:`normalise_header` (case, spaces, full-width brackets and any
parenthesised note such as ``追溯码(20位)`` removed).
"""

from __future__ import annotations

import re

__all__ = [
    "COLUMN_ALIASES",
    "EVENT_TYPE_ALIASES",
    "SPLIT_TRUE",
    "SPLIT_FALSE",
    "SALE_HINT_COLUMNS",
    "normalise_header",
    "map_headers",
    "event_type_of",
]

# canonical column -> aliases, in order of preference (first match wins).
# Columns starting with "_" are helpers used by ingest, not written out.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id", "事件id", "事件编号", "记录id"),
    "trace_code": (
        "trace_code", "drug_trac_codg", "追溯码", "药品追溯码", "商品追溯码", "追溯码信息",
        "溯源码", "电子监管码", "药品电子监管码", "code", "epc",
    ),
    "event_type": ("event_type", "业务类型", "事件类型", "单据类型", "出入库类型", "操作类型", "交易类型", "infno"),
    "event_time": (
        "event_time", "sel_retn_time", "inv_chg_time", "purc_retn_stoin_time", "invdate", "inv_time",
        "销售时间", "业务时间", "发生时间", "扫码时间", "交易时间", "退货时间", "入库时间", "出库时间",
        "盘点时间", "盘存时间", "变更时间", "销售日期", "业务日期", "日期", "时间",
    ),
    "site_id": (
        "site_id", "fixmedins_code", "机构编码", "定点医药机构编码", "定点医药机构编号", "医药机构编码",
        "定点机构编码", "药店编码", "医疗机构编码", "门店编码",
    ),
    "product_code": ("product_code", "med_list_codg", "医保编码", "医保目录编码", "医保药品编码", "药品编码", "国家医保编码"),
    "product_name": ("product_name", "fixmedins_hilist_name", "药品名称", "商品名称", "通用名", "通用名称", "品名"),
    "batch": ("batch", "manu_lotnum", "批号", "生产批号", "批次号"),
    "expiry": ("expiry", "expy_end", "有效期", "有效期至", "有效日期", "失效日期"),
    "quantity": ("quantity", "sel_retn_cnt", "purc_retn_cnt", "cnt", "inv_cnt", "数量", "销售数量", "退货数量", "入库数量", "出库数量"),
    "split_sale": ("split_sale", "trdn_flag", "拆零标志", "是否拆零", "拆零"),
    "patient_id": ("patient_id", "psn_no", "人员编号", "参保人编号", "个人编号", "患者编号", "患者id"),
    "prescriber_id": ("prescriber_id", "prsc_dr_certno", "医师", "医师编码", "医师证件号", "医师证件号码", "开方医师", "处方医师", "医生"),
    "_prescriber_name": ("prsc_dr_name", "医师姓名", "开方医师姓名", "处方医师姓名", "医生姓名"),
    "pharmacist_id": ("pharmacist_id", "phar_certno", "药师", "药师编码", "药师证件号", "审方药师"),
    "settlement_id": ("settlement_id", "setl_id", "结算id", "结算编号", "结算单号", "结算流水号"),
    "fund_amount": ("fund_amount", "fund_pay_sumamt", "hifp_pay", "基金支付", "基金支付金额", "统筹支付", "医保支付", "医保基金支付"),
    "total_amount": ("total_amount", "金额", "总金额", "销售金额", "合计金额", "实收金额", "det_item_fee_sumamt"),
    "_price": ("finl_trns_pric", "pric", "price", "单价", "销售单价", "零售价"),
    "counterparty": (
        "counterparty", "spler_name", "往来单位", "供应商", "供货单位", "供应商名称", "对方机构", "对方单位",
        "调入机构", "调出机构",
    ),
    "record_no": ("record_no", "fixmedins_bchno", "medins_prod_sel_no", "流水号", "批次流水号", "销售流水号", "单据号"),
    "_inv_chg_type": ("inv_chg_type", "库存变更类型"),
    # a canonical export re-ingested: keep what its codes' canonical form cannot carry
    "_code_expiry": ("code_expiry",),
    "_code_lot": ("code_lot",),
}

# Columns whose presence marks a file of sales when it has no event-type column.
SALE_HINT_COLUMNS = ("销售时间", "sel_retn_time", "人员编号", "psn_no", "结算id", "setl_id", "销售日期", "销售数量")

EVENT_TYPE_ALIASES: dict[str, str] = {
    # canonical names
    **{t: t for t in ("inbound", "purchase_return", "dispense", "refund", "transfer_out", "transfer_in", "adjust", "inventory")},
    # NHSA interface numbers
    "3501": "inventory", "3502": "adjust", "3503": "inbound", "3504": "purchase_return", "3505": "dispense", "3506": "refund",
    # English variants
    "sale": "dispense", "sell": "dispense", "dispensing": "dispense", "receive": "inbound", "receiving": "inbound",
    "purchase": "inbound", "return": "refund", "stocktake": "inventory", "adjustment": "adjust",
    # Chinese
    "销售": "dispense", "商品销售": "dispense", "销售出库": "dispense", "零售": "dispense", "处方销售": "dispense",
    "发药": "dispense", "售出": "dispense", "门诊发药": "dispense",
    "退货": "refund", "销售退货": "refund", "商品销售退货": "refund", "退药": "refund", "顾客退货": "refund",
    "采购": "inbound", "采购入库": "inbound", "入库": "inbound", "验收入库": "inbound", "购进": "inbound",
    "采购退货": "purchase_return", "退供应商": "purchase_return", "购进退出": "purchase_return", "退货出库": "purchase_return",
    "调拨入库": "transfer_in", "调入": "transfer_in", "移库入库": "transfer_in",
    "调拨出库": "transfer_out", "调出": "transfer_out", "移库出库": "transfer_out",
    "盘点": "inventory", "盘存": "inventory", "库存盘点": "inventory",
    "库存调整": "adjust", "库存变更": "adjust", "报损": "adjust", "损耗": "adjust", "报溢": "adjust",
    "其他出库": "adjust", "其他入库": "adjust", "销毁": "adjust",
}

SPLIT_TRUE = frozenset({"1", "1.0", "true", "t", "y", "yes", "是", "拆零"})
SPLIT_FALSE = frozenset({"0", "0.0", "false", "f", "n", "no", "否", "整盒", "不拆零", ""})

_PAREN = re.compile(r"[\(（\[【].*?[\)）\]】]")


def normalise_header(header: object) -> str:
    """Lower-case a header and drop spaces, BOMs and parenthesised notes.

    Examples
    --------
    >>> normalise_header(" 追溯码（20位） ")
    '追溯码'
    >>> normalise_header("Drug_Trac_Codg")
    'drug_trac_codg'
    """
    text = str(header).replace("\ufeff", "").strip()
    text = _PAREN.sub("", text)
    return re.sub(r"\s+", "", text).lower()


def map_headers(headers, user: dict[str, str] | None = None) -> dict[str, str]:
    """Map canonical column -> the file's header that carries it.

    Parameters
    ----------
    headers : iterable of str
        The file's column headers as read.
    user : dict, optional
        A column map's headers (normalised) -> column; they win over the aliases.

    Returns
    -------
    dict
        Only canonical columns found; each file header is used at most once.
    """
    by_norm: dict[str, str] = {}
    for header in headers:
        by_norm.setdefault(normalise_header(header), header)
    used: set[str] = set()
    mapping: dict[str, str] = {}
    for norm, column in (user or {}).items():
        header = by_norm.get(norm)
        if header is not None and column not in mapping:
            mapping[column] = header
            used.add(header)
    for column, aliases in COLUMN_ALIASES.items():
        if column in mapping:
            continue
        for alias in aliases:
            header = by_norm.get(alias)
            if header is not None and header not in used:
                mapping[column] = header
                used.add(header)
                break
    return mapping


def event_type_of(value: object) -> str | None:
    """The canonical event type for a cell value, or None when not recognised."""
    if value is None:
        return None
    return EVENT_TYPE_ALIASES.get(str(value).strip().lower())
