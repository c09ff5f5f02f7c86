"""The rule registry: every rule once, with its names, its sentence and its explanation.

Each rule (DESIGN §3) is one :class:`Rule`.  Everything that says what a rule
means reads it from here or is checked against it by a test
(``tests/rules/test_registry.py``): the header of ``sql/<RULE>.sql`` and
``cypher/<RULE>.cypher`` starts with ``<RULE> (<name_zh>): <sentence_en>``, the
reports' rule texts (:func:`rxring.report.i18n.rule_text`) are
:attr:`Rule.sentence_zh` / :attr:`Rule.sentence_en`, the README's rule table is
:func:`rule_table_markdown`, and each finding's ``explanation`` is
:attr:`Rule.explanation_en` filled in by :func:`rxring.rules.findings.explain`.

NO_PROVENANCE's two definitions — what counts as a *receipt* and what the site's
*coverage* is — are written once, in :data:`NO_PROVENANCE_TERMS`; when two scans
are *one sale* (double scans, retransmissions, both reporting channels) in
:data:`SAME_SALE`, and what undoes an event (deletions, cancellations, reversals)
in :data:`UNDONE`.

This module imports nothing of rxring, so :mod:`rxring.schema` can take the rule
ids from it.

Examples
--------
>>> RULE_IDS
('DUP_DISPENSE', 'RESURFACE', 'NO_PROVENANCE', 'CODE_CONFLICT', 'EXPIRED')
>>> rule("EXPIRED").name_zh
'过期销售'
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Rule", "REGISTRY", "RULE_IDS", "NO_PROVENANCE_TERMS", "SAME_SALE", "UNDONE", "EVENT_TYPE_NAMES", "rule",
           "rule_table_markdown"]


@dataclass(frozen=True)
class Rule:
    """One rule of DESIGN §3.

    Attributes
    ----------
    id
        The rule id (``DUP_DISPENSE`` ...), the name of its query files
        ``sql/<id>.sql`` and ``cypher/<id>.cypher``.
    name_zh, name_en
        Short names (同一追溯码重复销售 ...).
    sentence_zh, sentence_en
        The rule in one sentence for a non-programmer; the first sentence of each
        query file's header is ``<id> (<name_zh>): <sentence_en>``.
    explanation_en, explanation_zh
        Template of one finding's explanation; the ``{fields}`` are filled by
        :func:`rxring.rules.findings.explain`.  ``explanation_en`` is the
        ``explanation`` column of findings.
    variants
        Named alternative pieces of an explanation (CODE_CONFLICT's basis), each
        ``(en, zh)``.
    """

    id: str
    name_zh: str
    name_en: str
    sentence_zh: str
    sentence_en: str
    explanation_en: str
    explanation_zh: str
    variants: dict = field(default_factory=dict)

    @property
    def files(self) -> tuple[str, str]:
        """The rule's query files, relative to ``rxring/rules``."""
        return (f"sql/{self.id}.sql", f"cypher/{self.id}.cypher")

    def sentence(self, lang: str) -> str:
        """The sentence in ``zh`` or ``en``."""
        return self.sentence_zh if lang == "zh" else self.sentence_en


REGISTRY: tuple[Rule, ...] = (
    Rule(
        id="DUP_DISPENSE",
        name_zh="同一追溯码重复销售",
        name_en="one code dispensed twice",
        sentence_en=("a code has more than one net dispense (dispenses minus refunds); split sales of one code at "
                     "one site whose summed quantity stays within the pack's units are not a finding."),
        sentence_zh="一个追溯码的净销售（销售减退货）超过一次；同一机构拆零销售且合计数量不超过整盒的不算。",
        explanation_en=("Trace code {code} (one code = one pack) was sold as {packs} separate packs, net of refunds, "
                        "at {sites} between {first_day} and {last_day}."),
        explanation_zh="追溯码 {code}（一物一码）扣除退货后仍作为 {packs} 盒分别销售，机构：{sites}，时间 {first_day} 至 {last_day}。",
    ),
    Rule(
        id="RESURFACE",
        name_zh="回流",
        name_en="resurfaced after dispensing",
        sentence_en=("after a net dispense to a patient, the same code appears in a later event at another site "
                     "(inbound, dispense, inventory), or is dispensed again at the same site to someone else."),
        sentence_zh="一个追溯码已净销售给参保人后，又在其他机构出现（入库、销售、盘存），或在同一机构再次卖给他人。",
        explanation_en=("Trace code {code} was dispensed to a patient at {source_sites} on {source_day} and "
                        "reappeared ({kinds}) at {laundering_sites} on {laundering_day}{days_later}."),
        explanation_zh=("追溯码 {code} 于 {source_day} 在 {source_sites} 销售给参保人，"
                        "又于 {laundering_day}{days_later}在 {laundering_sites} 出现（{kinds}）。"),
        variants={"days_later": (", {days} days later", "（{days} 天后）")},
    ),
    Rule(
        id="NO_PROVENANCE",
        name_zh="无入库来源",
        name_en="no provenance",
        sentence_en=("a site dispenses a code it never received (no receipt at or before the sale), judged only "
                     "at sites that record receipts for a share of the codes they sell."),
        sentence_zh="机构销售了从未收到（销售时及之前无收货记录）的追溯码；只评判对所售追溯码有一定比例收货记录的机构。",
        explanation_en=("Site {laundering_sites} sold trace code {code} on {first_day} without any earlier inbound, "
                        "transfer-in or refund of it, although it records inbound for {received} of the {total} "
                        "codes it sells."),
        explanation_zh=("机构 {laundering_sites} 于 {first_day} 销售了追溯码 {code}，此前没有该码的入库、调拨入库或退货记录，"
                        "而该机构所售 {total} 个追溯码中有 {received} 个有入库记录。"),
    ),
    Rule(
        id="CODE_CONFLICT",
        name_zh="串换/假码",
        name_en="code conflict",
        sentence_en=("one code is carried by different products, or a code's product part contradicts the "
                     "product code."),
        sentence_zh="同一追溯码对应不同药品，或追溯码的药品部分与医保药品编码矛盾。",
        explanation_en="Trace code {code} was reported as product {others} at {laundering_sites}, but {basis}.",
        explanation_zh="追溯码 {code} 在 {laundering_sites} 被报为药品 {others}，但{basis}。",
        variants={
            "basis_learned": ("codes with the same product part are reported as {expected} ({n_codes} of {n_total})",
                              "药品部分相同的追溯码均报为 {expected}（{n_total} 个中 {n_codes} 个）"),
            "basis_first": ("it was first reported as {expected}", "该码最初报为 {expected}"),
        },
    ),
    Rule(
        id="EXPIRED",
        name_zh="过期销售",
        name_en="dispensed after expiry",
        sentence_en="the pack was dispensed after its expiry date.",
        sentence_zh="药品在有效期之后被销售。",
        explanation_en="Trace code {code} was sold at {sites} on {first_day}, after its expiry date {expiry}.",
        explanation_zh="追溯码 {code} 于 {first_day} 在 {sites} 销售，已过有效期 {expiry}。",
    ),
)

#: Each event type's name ``(zh, en)``: the one place they are written (explanations, reports, workbench).
EVENT_TYPE_NAMES: dict[str, tuple[str, str]] = {
    "inbound": ("采购入库", "inbound"),
    "purchase_return": ("采购退货", "purchase return"),
    "dispense": ("销售", "dispense"),
    "refund": ("销售退货", "refund"),
    "transfer_out": ("调拨出库", "transfer out"),
    "transfer_in": ("调拨入库", "transfer in"),
    "adjust": ("库存变更", "stock adjustment"),
    "inventory": ("盘存", "inventory"),
}

#: The rule ids, in the order findings are sorted and reports list them.
RULE_IDS: tuple[str, ...] = tuple(r.id for r in REGISTRY)

_BY_ID = {r.id: r for r in REGISTRY}

#: NO_PROVENANCE's two definitions, ``(en, zh)``: the one place they are written.
#: The SQL and Cypher compute exactly these (the rule-fixture tests hold them to it).
NO_PROVENANCE_TERMS: dict[str, tuple[str, str]] = {
    "receipt": (
        "A receipt of a code at a site is an event at that site of a type in the option provenance_types "
        "(default inbound, transfer_in, refund; a double scan aside), a transfer_out of the code from another "
        "site naming this site as counterparty, or the site's opening stock-take listing the code (an inventory "
        "scan within opening_stocktake_days of the site's first event).",
        "某机构对某追溯码的收货记录是：该机构此码的一条类型属于参数 provenance_types 的事件（默认采购入库、调拨入库、销售退货；"
        "重复扫码除外），或其他机构以本机构为对方的调拨出库，或本机构开账盘存（首个事件后 opening_stocktake_days 天内的盘存）列出此码。",
    ),
    "coverage": (
        "A site's coverage is the share of the distinct codes it net-dispenses that have an inbound or "
        "transfer_in at the site, or a transfer_out naming it, at any time; the rule judges a site only when "
        "its coverage reaches provenance_min_coverage (and at least one code is covered), and, unless it "
        "uploaded an opening stock-take, only sales provenance_grace_days after its first event.",
        "机构的入库覆盖率：其净销售的不同追溯码中，在该机构有采购入库或调拨入库、或有以其为对方的调拨出库（不论时间）的比例；"
        "覆盖率达到 provenance_min_coverage（且至少一个）的机构才评判，未上传开账盘存的只评判其首个事件 provenance_grace_days 天后的销售。",
    ),
}


#: When two dispense (or two refund) scans of one code at one site are one sale, ``(en, zh)``: the one
#: place it is written.  ``sql/stage_dr.sql`` (step 1) and ``cypher/prepare.cypher`` (step 2) compute it;
#: a re-scan is counted once, never as a second sale (DUP_DISPENSE, RESURFACE).
SAME_SALE: tuple[str, str] = (
    "Two dispense (or two refund) scans of one code at one site are one sale (the later is a re-scan, counted "
    "once) when the later carries the settlement id of an earlier scan (one pack cannot be sold twice in one "
    "settlement: a settlement and the 进销存 3505 of the same sale, a hospital stay settled at discharge); or "
    "the record number (record_no: fixmedins_bchno, medins_prod_sel_no, feedetl_sn) of an earlier scan whose "
    "settlement id and patient do not differ (a record retransmitted under a new msgid, whatever its time); or, "
    "when the "
    "two do not carry two different settlement ids, it is within double_scan_minutes of the previous scan and "
    "their patients are equal or either is unknown. Two different settlement ids are always two sales.",
    "同一机构同一追溯码的两次销售（或两次退货）扫码在以下情况下是同一笔销售（后一次为重复上报，只计一次）："
    "后一次带有此前某次扫码的结算ID（一盒药不可能在一次结算中卖两次：同一笔销售的结算（渠道A）与3505进销存上报，"
    "住院出院时一并结算）；或带有此前某次扫码的记录号（record_no：fixmedins_bchno、medins_prod_sel_no、feedetl_sn）"
    "且结算ID与患者均不矛盾（以新msgid重传的同一记录，不论其时间）；或两者未带两个不同的结算ID、与前一次扫码相隔不超过"
    " double_scan_minutes 分钟且患者相同或其一未知。两个不同的结算ID总是两笔销售。",
)

#: What undoes an event before any rule sees it, ``(en, zh)`` (``rules/events.py``, ``sql/counted.sql``).
UNDONE: tuple[str, str] = (
    "An event does not count when an NHSA 3507 deletion names its record number (and its type, by "
    "inv_data_type), when a 2208 / 2305 settlement cancellation names its settlement id (its dispenses), or "
    "when a 2601 reversal (冲正) names the message it came from (omsgid); a deletion or cancellation whose own "
    "message is reversed does not apply. A refund is not an undoing: it cancels one earlier sale and stays a "
    "receipt.",
    "以下事件不计入：NHSA 3507 删除指明其记录号（及按 inv_data_type 的类型）；2208 / 2305 撤销结算指明其结算ID（撤销其销售）；"
    "2601 冲正指明其所在消息（omsgid）；本身被冲正的删除或撤销不生效。退货不是撤销：它抵消此前一笔销售，并仍是收货记录。",
)


def rule(rule_id: str) -> Rule:
    """The :class:`Rule` of ``rule_id``; ``KeyError`` for an unknown id."""
    return _BY_ID[rule_id]


def rule_table_markdown() -> str:
    """The README's rule table (``tests/rules/test_registry.py`` holds the README to it)."""
    lines = ["| rule | in one sentence |", "|---|---|"]
    for r in REGISTRY:
        sentence = r.sentence_en[0].upper() + r.sentence_en[1:]
        lines.append(f"| `{r.id}` {r.name_zh} | {sentence} |")
    lines.append("")
    for term, (en, _) in NO_PROVENANCE_TERMS.items():
        lines.append(f"*NO_PROVENANCE {term}.* {en}")
        lines.append("")
    lines.append(f"*One sale.* {SAME_SALE[0]}")
    lines.append("")
    lines.append(f"*Undone events.* {UNDONE[0]}")
    lines.append("")
    return "\n".join(lines).rstrip() + "\n"
