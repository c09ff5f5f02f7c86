"""Triage of a lead: what explains the repeats of a trace code on which no rule fired.

A bureau's lead list names codes "settled more than once".  Most repeats have an
innocent cause that the rules already set aside (DESIGN §3, "Not findings"); an
investigator deciding which leads are worth a visit needs that cause in words.
:func:`explain` reads one code's chain of custody (the box timeline with its notes,
:func:`rxring.results.box_timeline`, under the options of the last analysis) and names each cause it finds, from :data:`KINDS` — the one place these
causes are written, Chinese first with English beside, in the style of the rule
registry (:mod:`rxring.rules.registry`, whose :data:`~rxring.rules.registry.SAME_SALE`
and :data:`~rxring.rules.registry.UNDONE` define the retransmission and undoing
causes).  The lead import (:mod:`rxring.cases.leads`) calls it for each code.

No personal data enters the sentences: they name sites, dates, event ids and counts.

Examples
--------
>>> kind("refund_resale").name_zh
'退货后同店再售'
>>> [k.id for k in KINDS][:4]
['refund_resale', 'chain_transfer', 'same_sale', 'undone']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..options import AnalysisOptions
from ..rules.registry import SAME_SALE, UNDONE
from ..workspace import as_workspace

__all__ = ["Kind", "KINDS", "kind", "Explanation", "Triage", "explain", "explain_timeline"]


@dataclass(frozen=True)
class Kind:
    """One cause of repeats: id, names, the sentence that defines it, and a template for one code.

    The templates' ``{fields}`` are filled by :func:`explain_timeline`.
    """

    id: str
    name_zh: str
    name_en: str
    sentence_zh: str
    sentence_en: str
    template_zh: str
    template_en: str


KINDS: tuple[Kind, ...] = (
    Kind("refund_resale", "退货后同店再售", "refund, then resale at the same site",
         "一笔销售在同一机构退货后，该盒药在同一机构再次销售：退货抵消了前一笔销售，不是重复销售。",
         "a sale refunded at the same site and the pack sold again there: the refund cancels the earlier sale.",
         "{site} 于 {refund_day} 退货（抵消 {cancelled}），之后于 {resale_day} 在同一机构再次销售",
         "refunded at {site} on {refund_day} (cancelling {cancelled}), then sold again there on {resale_day}"),
    Kind("chain_transfer", "调拨后销售", "a chain transfer, then a sale",
         "连锁门店之间调拨（调出、调入）后在调入机构销售：是合规的库存流转。",
         "a transfer between sites (transfer_out, transfer_in) followed by a sale at the receiving site.",
         "{from_site} 于 {day} 调拨至 {to_site}，{to_site} 之后销售",
         "transferred from {from_site} to {to_site} on {day}, then sold at {to_site}"),
    Kind("same_sale", "同一笔销售重复上报", "the same sale reported again",
         SAME_SALE[1], SAME_SALE[0],
         "{site} 的 {n} 条记录（{events}）是同一笔销售的重复上报（重复扫码、重传或两个渠道），只计一次",
         "{n} records at {site} ({events}) repeat one sale (a re-scan, a retransmission or both channels), "
         "counted once"),
    Kind("undone", "已撤销、删除或冲正", "undone: deleted, cancelled or reversed",
         UNDONE[1], UNDONE[0],
         "{n} 条记录（{events}）已被撤销、删除或冲正，不计入",
         "{n} records ({events}) were deleted, cancelled or reversed and do not count"),
    Kind("split_within_pack", "整盒内拆零销售", "split sales within the pack",
         "同一机构对同一追溯码多次拆零销售，合计数量不超过一盒的最小单位数：是一盒药分次卖出。",
         "split (拆零) sales of one code at one site whose summed quantity stays within the pack's units.",
         "{site} 拆零销售 {n} 次，合计 {quantity}{of_units}",
         "{n} split sales at {site}, {quantity} units in all{of_units_en}"),
    Kind("purchase_return", "退回供应商", "returned to the supplier",
         "采购入库后退回供应商：药品离开机构，但没有卖给患者。",
         "received and then returned to the supplier: the pack left the site without being sold.",
         "{site} 于 {day} 退回供应商",
         "returned to the supplier by {site} on {day}"),
    Kind("single_sale", "只有一笔有效销售", "one counted sale",
         "扣除上述情况后，该追溯码只有一笔有效销售：其余记录是收货、盘存或不计入的记录。",
         "after the causes above the code has one counted sale: its other records are receipts, stock-takes or "
         "records that do not count.",
         "有效销售 {n} 笔，共 {events_total} 条记录",
         "{n} counted sale(s) among {events_total} records"),
    Kind("unexplained", "重复销售原因不明", "repeats not explained",
         "该追溯码有多笔有效销售，但未达到任何规则的条件（例如阈值之下），也不属于上述情况：值得核查。",
         "the code has several counted sales that no rule flagged (below a threshold, for instance) and that no "
         "cause above explains: worth a visit.",
         "{n} 笔有效销售（{events}）无法用退货、调拨、重复上报或拆零解释",
         "{n} counted sales ({events}) not explained by a refund, a transfer, a repeated report or split sales"),
)

_BY_ID = {k.id: k for k in KINDS}

_SAME_SALE_NOTES = ("same sale reported again (counted once)", "duplicate event id")
_UNDONE_PREFIXES = ("deleted", "settlement cancelled", "message reversed")


def kind(kind_id: str) -> Kind:
    """The :class:`Kind` of *kind_id*; ``KeyError`` for an unknown id."""
    return _BY_ID[kind_id]


@dataclass
class Explanation:
    """One cause found on a code: its kind, the sentence in both languages, the events it rests on."""

    kind: str
    zh: str
    en: str
    event_ids: list = field(default_factory=list)

    def text(self, lang: str = "zh") -> str:
        """The sentence in ``zh`` or ``en``."""
        return self.zh if lang == "zh" else self.en


@dataclass
class Triage:
    """What :func:`explain` found on one code.

    Attributes
    ----------
    trace_code
        The canonical code.
    finding_ids
        The published findings on the code (empty: no rule fired).
    explanations
        The causes of its repeats, in :data:`KINDS` order.
    """

    trace_code: str
    finding_ids: list
    explanations: list

    def text(self, lang: str = "zh") -> str:
        """All causes as one paragraph in ``zh`` or ``en``."""
        return ("；" if lang == "zh" else "; ").join(e.text(lang) for e in self.explanations)

    def bilingual(self) -> str:
        """Chinese first, English beside: ``中文（English）``."""
        return f"{self.text('zh')}（{self.text('en')}）"


def _day(value) -> str:
    return "?" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _ids(rows: pd.DataFrame) -> list[str]:
    return [str(e) for e in rows["event_id"]]


def _listing(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown}, … (+{len(ids) - limit})"


#: Said in place of a site that the records leave unnamed, ``(zh, en)``.
_UNREPORTED_SITE = ("未报调出机构", "a site not reported")


def _explanation(kind_id: str, event_ids: list[str], **fields) -> Explanation:
    """Fill the kind's templates; a field given as a ``(zh, en)`` pair is said in each language."""
    entry = kind(kind_id)
    zh = {k: v[0] if isinstance(v, tuple) else v for k, v in fields.items()}
    en = {k: v[1] if isinstance(v, tuple) else v for k, v in fields.items()}
    return Explanation(kind_id, entry.template_zh.format(**zh), entry.template_en.format(**en), event_ids)


def explain_timeline(timeline: pd.DataFrame, pack_units: dict | None = None) -> list[Explanation]:
    """The causes of repeats in one code's timeline (the columns of :func:`rxring.results.box_timeline`).

    *pack_units* maps product codes to the smallest units in one pack (the products
    master), for split sales.
    """
    pack_units = pack_units or {}
    t = timeline.copy()
    t["note"] = t["note"].fillna("").astype(str)
    t["site_id"] = t["site_id"].astype(str)
    found: list[Explanation] = []
    counted = t[t["note"].isin(["", "cancelled by a refund"]) | t["note"].str.startswith("cancels ")]
    # refund, then resale at the same site
    for refund in t[(t["event_type"] == "refund") & t["note"].str.startswith("cancels ")].itertuples(index=False):
        later = counted[(counted["event_type"] == "dispense") & (counted["site_id"] == refund.site_id)
                        & (counted["event_time"] > refund.event_time)]
        if len(later):
            cancelled = refund.note.removeprefix("cancels ")
            found.append(_explanation("refund_resale", [cancelled, str(refund.event_id), str(later.iloc[0]["event_id"])],
                                      site=refund.site_id, refund_day=_day(refund.event_time), cancelled=cancelled,
                                      resale_day=_day(later.iloc[0]["event_time"])))
    # a chain transfer, then a sale at the receiving site
    for move in counted[counted["event_type"].isin(["transfer_in", "transfer_out"])].itertuples(index=False):
        if move.event_type == "transfer_in":
            to_site, from_site = move.site_id, move.counterparty
        else:
            to_site, from_site = move.counterparty, move.site_id
        if to_site is None or pd.isna(to_site):
            continue
        sold = counted[(counted["event_type"] == "dispense") & (counted["site_id"] == str(to_site))
                       & (counted["event_time"] >= move.event_time)]
        if len(sold) and not any(e.kind == "chain_transfer" and e.event_ids[-1] == str(sold.iloc[0]["event_id"])
                                 for e in found):
            found.append(_explanation("chain_transfer", [str(move.event_id), str(sold.iloc[0]["event_id"])],
                                      from_site=from_site if from_site and not pd.isna(from_site) else _UNREPORTED_SITE,
                                      to_site=to_site, day=_day(move.event_time)))
    # one sale reported again
    for site, rows in t[t["note"].isin(_SAME_SALE_NOTES)].groupby("site_id", sort=True):
        ids = _ids(rows)
        found.append(_explanation("same_sale", ids, site=site, n=len(ids) + 1, events=_listing(ids)))
    # undone by a deletion, a cancellation or a reversal
    undone = t[t["note"].str.startswith(_UNDONE_PREFIXES)]
    if len(undone):
        ids = _ids(undone)
        found.append(_explanation("undone", ids, n=len(ids), events=_listing(ids)))
    # split sales within the pack
    sales = counted[(counted["event_type"] == "dispense") & (counted["note"] == "")]
    split = sales[sales["split_sale"].fillna(False).astype(bool)]
    for site, rows in split.groupby("site_id", sort=True):
        if len(rows) < 2:
            continue
        quantity = float(rows["quantity"].fillna(1).sum())
        units = next((pack_units.get(p) for p in rows["product_code"] if pack_units.get(p)), None)
        of_units = f"（一盒 {units:g} 单位）" if units else "（一盒单位数未知，按一盒计）"
        of_units_en = f" of a {units:g}-unit pack" if units else " (pack size unknown: one pack assumed)"
        found.append(_explanation("split_within_pack", _ids(rows), site=site, n=len(rows), quantity=f"{quantity:g}",
                                  of_units=of_units, of_units_en=of_units_en))
    for ret in counted[counted["event_type"] == "purchase_return"].itertuples(index=False):
        found.append(_explanation("purchase_return", [str(ret.event_id)], site=ret.site_id, day=_day(ret.event_time)))
    # what is left: sales that count as separate sales
    whole = sales[~sales["split_sale"].fillna(False).astype(bool)]
    packs = len(whole) + split["site_id"].nunique()
    if packs <= 1:
        found.append(_explanation("single_sale", _ids(sales), n=packs, events_total=len(t)))
    else:
        ids = _ids(sales)
        found.append(_explanation("unexplained", ids, n=packs, events=_listing(ids)))
    order = {k.id: i for i, k in enumerate(KINDS)}
    return sorted(found, key=lambda e: order[e.kind])


def explain(workspace, code: str, options: AnalysisOptions | None = None) -> Triage:
    """Triage of one trace code in *workspace*: the findings on it, and what explains its repeats.

    Parameters
    ----------
    workspace
        An ingested workspace (analysed for the findings and the options; else defaults).
    code
        A trace code in any spelling ingest accepts.
    options
        Thresholds (double scans, ...); default: those of the workspace's last analysis.

    Raises
    ------
    RxringError
        When the code does not occur in the workspace.
    """
    from ..results import box_timeline, canonical_code

    ws = as_workspace(workspace)
    canonical = canonical_code(code)
    timeline = box_timeline(ws, canonical, options)   # masked: the sentences name no person anyway
    products = ws.master("products")
    units = {}
    if products is not None and {"product_code", "pack_units"} <= set(products.columns):
        units = {str(p): float(u) for p, u in zip(products["product_code"], products["pack_units"]) if pd.notna(u)}
    finding_ids = []
    if ws.findings_path.is_file():   # a finding id is RULE:CODE[:discriminator]
        ids = pd.read_parquet(ws.findings_path, columns=["finding_id"])["finding_id"].astype(str)
        finding_ids = sorted(ids[ids.str.split(":").str[1] == canonical])
    return Triage(canonical, finding_ids, explain_timeline(timeline, units))
