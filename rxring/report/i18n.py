"""Labels for every investigator output, in Chinese and English (one small dict).

Every visible word in reports, the ring visualisation and the evidence package
comes from :data:`LABELS` through :func:`label`, so a missing translation is a
``KeyError`` in the tests, never an untranslated page.
"""

from __future__ import annotations

__all__ = ["LANGS", "LABELS", "ROLE_KEYS", "EVENT_TYPE_KEYS", "TIMELINE_NOTES", "label", "bilingual", "rule_text",
           "note_text", "check_lang"]

from ..errors import RxringError
from ..rules.registry import EVENT_TYPE_NAMES, RULE_IDS
from ..rules.registry import rule as registry_rule

LANGS = ("zh", "en")

# Roles of ring members, in display order; keys are RING_COLUMNS list columns.
ROLE_KEYS = ("source_patients", "prescribers", "source_sites", "laundering_sites")

#: Event types and their names (zh, en), from the rule registry.
EVENT_TYPE_KEYS = EVENT_TYPE_NAMES

LABELS: dict[str, tuple[str, str]] = {
    # titles
    "report_title": ("回流药团伙报告", "Returned-drug resale ring report"),
    "ring_title": ("团伙 {ring_id}", "Ring {ring_id}"),
    "viz_title": ("团伙关系图", "Ring network"),
    "generated": ("生成时间", "Generated"),
    "tool_version": ("工具版本", "Tool version"),
    "workspace": ("工作区", "Workspace"),
    "pii_masked": ("个人信息已脱敏", "Personal data masked"),
    "pii_revealed": ("个人信息已显示（--reveal-pii）", "Personal data revealed (--reveal-pii)"),
    "no_rings": ("未发现团伙。", "No rings found."),
    "back_to_index": ("返回总表", "Back to ring table"),
    "summary": ("概况", "Summary"),
    "click_to_sort": ("点击表头排序", "Click a column header to sort"),
    # ring table
    "ring_id": ("团伙编号", "Ring"),
    "rank": ("排名", "Rank"),
    "score": ("评分", "Score"),
    "boxes": ("盒数", "Boxes"),
    "events": ("事件数", "Events"),
    "fund_at_risk": ("涉及基金（元）", "Fund at risk (CNY)"),
    "total_amount": ("涉及金额（元）", "Total amount (CNY)"),
    "period": ("时间范围", "Period"),
    "first_time": ("开始时间", "First seen"),
    "last_time": ("结束时间", "Last seen"),
    "rules": ("规则", "Rules"),
    "members": ("成员", "Members"),
    # roles
    "source_patients": ("来源参保人", "Source patients"),
    "prescribers": ("开方医师", "Prescribers"),
    "source_sites": ("来源机构", "Source sites"),
    "laundering_sites": ("洗白药店", "Laundering sites"),
    "role": ("角色", "Role"),
    "role_patient": ("参保人", "Patient"),
    "role_prescriber": ("医师", "Prescriber"),
    "role_source_site": ("来源机构", "Source site"),
    "role_laundering_site": ("洗白药店", "Laundering site"),
    "role_patient_group": ("参保人（按机构合并）", "Patients (grouped per site)"),
    "role_prescriber_group": ("医师（合并）", "Prescribers (grouped)"),
    "member_id": ("编号", "Id"),
    "name": ("名称", "Name"),
    "findings_count": ("线索数", "Findings"),
    # findings
    "findings": ("线索", "Findings"),
    "finding_id": ("线索编号", "Finding"),
    "rule": ("规则", "Rule"),
    "trace_codes": ("追溯码", "Trace codes"),
    "sites": ("机构", "Sites"),
    "patients": ("涉及参保人（含购药者）", "All patients (incl. buyers)"),
    "explanation": ("说明", "Explanation"),
    "fund_amount": ("基金支付（元）", "Fund paid (CNY)"),
    "event_ids": ("证据事件", "Proving events"),
    # events
    "event_time": ("时间", "Time"),
    "event_type": ("类型", "Type"),
    "trace_code": ("追溯码", "Trace code"),
    "site": ("机构", "Site"),
    "patient": ("参保人", "Patient"),
    "prescriber": ("医师", "Prescriber"),
    "quantity": ("数量", "Quantity"),
    "settlement_id": ("结算ID", "Settlement"),
    "source": ("来源文件:行", "Source file:line"),
    "node_events": ("节点事件", "Events of this node"),
    "click_node": ("点击节点查看其事件。", "Click a node to see its events."),
    "more_events": ("另有 {n} 条未显示", "{n} more not shown"),
    "first_rows": ("仅显示前 {n} 行（共 {total} 行）；全部行见 CSV 报告：rxring report --format csv --ring {ring}",
                   "first {n} of {total} rows shown; all of them in the CSV report: "
                   "rxring report --format csv --ring {ring}"),
    "aggregated": ("{n} 名参保人 @ {site}", "{n} patients @ {site}"),
    "aggregated_prescribers": ("{n} 名医师", "{n} prescribers"),
    "aggregation_note": (
        "团伙成员超过 {limit} 个，已按机构合并参保人（节点显示人数）。",
        "The ring has more than {limit} members; patients are grouped per site (the node shows the count).",
    ),
    "legend": ("图例", "Legend"),
    "edge_boxes": ("{n} 盒", "{n} boxes"),
    "size_by_money": ("节点大小 = 涉及基金", "Node size = fund at risk"),
    # evidence
    "case_summary": ("案件摘要", "Case summary"),
    "what_was_found": ("发现了什么", "What was found"),
    "ring_found": (
        "团伙 {ring_id}（排名 {rank}，评分 {score}）：{boxes} 盒药品、{events} 条事件，涉及基金 {fund} 元，时间 {period}。",
        "Ring {ring_id} (rank {rank}, score {score}): {boxes} boxes, {events} events, fund at risk CNY {fund}, period {period}.",
    ),
    "rule_text": ("规则说明", "Rule text"),
    "chain_of_custody": ("每盒药的流转记录（CSV 与 Markdown）", "Chain of custody of every box (CSV and Markdown)"),
    "source_rows": ("每条事件的原始文件、行号和原始内容", "Source file, line and raw content of every event"),
    "queries": ("规则的 SQL/Cypher 查询、按分析参数展开的 SQL、参数", "The rules' SQL/Cypher queries, the SQL rendered with the analysis options, the parameters"),
    "file_summary": ("本摘要（中文、英文）", "This summary (Chinese, English)"),
    "file_pdf": ("可打印的案件材料（PDF，中文、英文；每页页脚有证据包摘要）",
                 "The printable dossier (PDF, Chinese, English; the package digest in every page footer)"),
    "file_case_json": ("机器可读的案件数据", "The case, machine-readable"),
    "file_tables": ("线索与成员表", "Findings and members tables"),
    "file_rules": ("规则说明", "Rule texts"),
    "file_tool": ("工具版本、命令行、是否显示个人信息", "Tool version, command line, whether personal data was revealed"),
    "file_viz": ("离线团伙关系图（浏览器打开）", "Offline ring network (open in a browser)"),
    "file_inputs": ("原始输入文件的 SHA-256", "SHA-256 of the original inputs"),
    "file_manifest": ("包内内容文件的 SHA-256；它的 SHA-256 即数据包摘要",
                      "SHA-256 of every content file; its own SHA-256 is the package digest"),
    "file_record": ("电子数据提取笔录（中文、英文）：案件、持有人、时间、地点、方法、过程、每个文件的 SHA-256 和 SM3、签名栏",
                    "record of the extraction (Chinese, English): case, holder, time, place, method, process, "
                    "SHA-256 and SM3 of every file, signature lines"),
    "file_signature": ("声明（数据包摘要、提取笔录和 PDF 的 SHA-256、生成时间），机构签名和可信时间戳（如有）",
                       "statement (package digest, SHA-256 of the record and the PDFs, creation time), the "
                       "organisation's signature and a trusted timestamp when present"),
    "inputs_sha256": ("原始输入文件 SHA-256", "SHA-256 of the original inputs"),
    "command_line": ("命令行", "Command line"),
    "files": ("包内文件", "Files in this package"),
    "custody_title": ("每盒药的流转记录", "Chain of custody"),
    "seq": ("序号", "No."),
    "proving": ("证据事件", "Proving event"),
    "yes": ("是", "yes"),
    # columns of the package's custody/timeline.csv and source_rows.csv
    "site_id": ("机构编码", "Site id"),
    "site_name": ("机构名称", "Site name"),
    "event_id": ("事件编号", "Event id"),
    "source_file": ("来源文件", "Source file"),
    "source_line": ("来源行号", "Source line"),
    "source_status": ("原始行状态", "Raw line status"),
    "raw_line": ("原始行", "Raw line"),
    # the printable dossier (PDF)
    "dossier_title": ("回流药团伙案件材料 — {what}", "Returned-drug resale ring dossier — {what}"),
    "page_of_total": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "rings_at_a_glance": ("团伙概况", "The rings at a glance"),
    "contents": ("本卷宗内容", "Contents"),
    "contents_rings": ("团伙 {n} 个，每个团伙：成员（按角色）、团伙关系图、线索",
                       "{n} ring(s), each with its members by role, ring diagram and findings"),
    "contents_custody": ("、每盒药的流转记录", ", and each box's chain of custody"),
    "ring_diagram": ("团伙关系图（从左到右：开方医师 → 参保人 → 来源机构 → 洗白药店）",
                     "Ring diagram (left to right: prescribers → patients → source sites → laundering sites)"),
    "rows_in_csv": ("另有 {n} 行未列出，全部见 {file}。", "{n} more rows not shown; all of them are in {file}."),
    "boxes_in_csv": ("另有 {n} 盒药的流转记录未列出，全部见 {file}。",
                     "The chain of custody of {n} more boxes is not shown; all of it is in {file}."),
    "inputs_digest": ("输入文件摘要（inputs.sha256 的 SHA-256）", "Inputs digest (SHA-256 of inputs.sha256)"),
    "package_digest": ("证据包摘要（MANIFEST.sha256 的 SHA-256）", "Package digest (SHA-256 of MANIFEST.sha256)"),
    "package_digest_short": ("证据包摘要", "Package digest"),
    "printed_package": ("本文件是证据包的打印版。完整数据见包内 CSV 与 Markdown 文件；页脚的证据包摘要用 rxring evidence verify 核验。",
                        "This is the printable copy of the evidence package. All the data is in its CSV and Markdown "
                        "files; check the package digest in the footer with rxring evidence verify."),
    "custody_where_box": ("rxring box 追溯码 -w 工作区", "rxring box CODE -w WORKSPACE"),
    "custody_in_box": ("本报告印出每个团伙前 {n} 盒药的流转记录；任一盒药的流转记录：rxring box 追溯码 -w 工作区，"
                       "或证据包 custody/timeline.csv。",
                       "The chain of custody of each ring's first {n} boxes is printed here; of any box: rxring box CODE "
                       "-w WORKSPACE, or custody/timeline.csv of the evidence package."),
    "verify_hint": (
        "核验：rxring evidence verify 本文件.zip（或 sha256sum -c MANIFEST.sha256）。",
        "Verify: rxring evidence verify this.zip (or sha256sum -c MANIFEST.sha256).",
    ),
    # workbench (rxring serve)
    "wb_title": ("回流药调查工作台", "Returned-drug investigator workbench"),
    "nav_overview": ("概览", "Overview"),
    "nav_search": ("搜索", "Search"),
    "nav_rings": ("团伙", "Rings"),
    "nav_findings": ("线索", "Findings"),
    "lang_other": ("English", "中文"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "codes_count": ("追溯码数", "Trace codes"),
    "sites_count": ("机构数", "Sites"),
    "rings_count": ("团伙数", "Rings"),
    "findings_count_total": ("线索总数", "Findings"),
    "findings_per_rule": ("各规则线索数", "Findings per rule"),
    "findings_per_week": ("每周线索（按规则）", "Findings per week, by rule"),
    "week_of": ("周起始日", "Week of"),
    "top_rings": ("最严重的团伙", "Worst rings"),
    "top_laundering": ("主要洗白药店", "Top laundering pharmacies"),
    "top_sources": ("主要来源机构", "Top source sites"),
    "by_region": ("按地区", "By region"),
    "region": ("地区", "Region"),
    "kind": ("类别", "Kind"),
    "chain": ("连锁", "Chain"),
    "count": ("数量", "Count"),
    "search_placeholder": ("追溯码、机构编号或名称、参保人、医师、结算ID、团伙编号",
                           "Trace code, site id or name, patient, prescriber, settlement id, ring id"),
    "search_button": ("搜索", "Search"),
    "search_results": ("“{q}” 的搜索结果", "Results for “{q}”"),
    "no_match": ("没有匹配的结果。", "Nothing matches."),
    "exact": ("精确匹配", "Exact"),
    "kind_site": ("机构", "Site"),
    "kind_patient": ("参保人", "Patient"),
    "kind_prescriber": ("医师", "Prescriber"),
    "kind_settlement": ("结算", "Settlement"),
    "kind_code": ("追溯码", "Trace code"),
    "kind_ring": ("团伙", "Ring"),
    "not_found": ("未找到", "Not found"),
    "not_found_text": ("没有 {what}。", "There is no {what}."),
    "unauthorised": ("请使用 rxring serve 打印的链接打开工作台。", "Open the workbench with the link printed by rxring serve."),
    "box_title": ("药盒 {code}", "Box {code}"),
    "custody_timeline": ("流转时间线（每个机构一行）", "Chain of custody (one lane per site)"),
    "offending": ("问题环节", "Offending step"),
    "note": ("备注", "Note"),
    "site_title": ("机构 {id}", "Site {id}"),
    "patient_title": ("参保人 {id}", "Patient {id}"),
    "prescriber_title": ("医师 {id}", "Prescriber {id}"),
    "settlement_title": ("结算 {id}", "Settlement {id}"),
    "activity": ("活动记录（最近 {n} 条）", "Activity (latest {n})"),
    "activity_per_week": ("每周事件数", "Events per week"),
    "counterparties": ("关联方", "Counterparties"),
    "relation": ("关系", "Relation"),
    "shown_of": ("显示前 {shown} 个，共 {total} 个", "the first {shown} of {total}"),
    "rel_source_site": ("药品来源机构", "Source site of its packs"),
    "rel_source_patient": ("药品来源参保人", "Source patient of its packs"),
    "rel_resurface_site": ("药品回流去向", "Where its packs resurfaced"),
    "rel_dispensed_at": ("购药机构", "Dispensed at"),
    "rel_prescribed_by": ("开方医师", "Prescribed by"),
    "rel_prescribed_to": ("开方对象", "Prescribed to"),
    "rings_of": ("所在团伙", "Rings"),
    "graph": ("关系图", "Graph"),
    "expand": ("展开关联方", "Expand neighbours"),
    "expand_hint": ("展开会从事件中加入团伙以外的关联方（虚线框）。", "Expand adds neighbours outside the ring from the events (dashed)."),
    "near_group": ("{relation}：{n} 个（已合并，展开可分页查看）", "{relation}: {n} (grouped; expand to page through them)"),
    "time_window": ("时间窗口", "Time window"),
    "window_from": ("时间窗口起点", "Window start"),
    "window_to": ("时间窗口终点", "Window end"),
    "play": ("播放", "Play"),
    "fit": ("适应窗口", "Fit"),
    "export_png": ("导出 PNG", "Export PNG"),
    "export_csv": ("导出 CSV（脱敏）", "Export CSV (masked)"),
    "export_xlsx": ("导出 XLSX（脱敏）", "Export XLSX (masked)"),
    "outside_ring": ("团伙外", "Outside the ring"),
    "open_page": ("打开页面", "Open page"),
    "reveal": ("显示个人信息", "Reveal personal data"),
    "reveal_reason": ("理由（将记录在工作区 reveals.jsonl）", "Reason (recorded in the workspace's reveals.jsonl)"),
    "reveal_submit": ("记录并显示", "Record and reveal"),
    "reveal_need_reason": ("请填写理由。", "Please give a reason."),
    "revealed_banner": ("本页个人信息已显示，理由已记录：{reason}", "Personal data revealed on this page; reason recorded: {reason}"),
    "mask_again": ("重新脱敏", "Mask again"),
    "filter": ("筛选", "Filter"),
    "all": ("全部", "All"),
    "apply": ("应用", "Apply"),
    "sort_by": ("排序", "Sort by"),
    "page_of": ("第 {page} / {pages} 页，共 {n} 条", "Page {page} of {pages}, {n} rows"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "min_fund": ("最低基金（元）", "Min fund (CNY)"),
    "since": ("起始日", "From"),
    "until": ("截止日", "To"),
    "by_month": ("按月", "By month"),
    "by_month_note": ("某月内发生过的线索与团伙（时间范围与该月有交叠）；点数字查看清单。",
                      "Findings and rings active in each month (their period overlaps it); click a number for the list."),
    "month": ("月份", "Month"),
    "rings_active": ("活跃团伙", "Rings active"),
    "latest_events": ("最近事件", "Latest events"),
    "stale_data": ("工作区的数据在这些结果计算之后有变动，页面所示可能已过时：请运行 rxring analyze -w {ws} 后重启 rxring serve。",
                   "The workspace's data changed after these results were computed: run rxring analyze -w {ws}, "
                   "then restart rxring serve."),
    "stale_results": ("工作台启动后已发布新的分析结果，页面仍显示旧结果：请重启 rxring serve。",
                      "A newer analysis was published after the workbench started; these pages show the older "
                      "results: restart rxring serve."),
    "ring_members_note": ("成员", "Members"),
    "first_findings": ("前 {n} 条线索", "First {n} findings"),
    "all_findings": ("全部线索", "All findings"),
}

#: The note a box's chain of custody gives an event that the rules count differently, English (as
#: ``rxring.backends.duckdb.code_timeline`` and the Neo4j listing write it) -> Chinese.
TIMELINE_NOTES: dict[str, str] = {
    "same sale reported again (counted once)": "同一笔销售重复上报（只计一次）",
    "cancelled by a refund": "已被退货抵消",
    "deleted (NHSA 3507)": "已删除（NHSA 3507）",
    "settlement cancelled (NHSA 2208/2305)": "结算已撤销（NHSA 2208/2305）",
    "message reversed (NHSA 2601)": "消息已冲正（NHSA 2601）",
    "duplicate event id": "重复的事件编号，不计入",
}
_CANCELS = ("cancels ", "抵消销售 {event_id}")


def note_text(note, lang: str) -> str:
    """A chain-of-custody note (:data:`TIMELINE_NOTES`) in ``lang``; unknown notes unchanged.

    Examples
    --------
    >>> note_text("same sale reported again (counted once)", "zh")
    '同一笔销售重复上报（只计一次）'
    >>> note_text("cancels E17", "zh")
    '抵消销售 E17'
    """
    note = "" if note is None else str(note)
    if lang != "zh" or not note:
        return note
    if note.startswith(_CANCELS[0]):
        return _CANCELS[1].format(event_id=note[len(_CANCELS[0]):])
    return TIMELINE_NOTES.get(note, note)


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a supported language, else raise :class:`RxringError`."""
    if lang not in LANGS:
        raise RxringError(f"unknown language {lang!r}; choose one of: {', '.join(LANGS)}")
    return lang


def label(key: str, lang: str, **values) -> str:
    """The label ``key`` in ``lang`` (``zh`` or ``en``), formatted with ``values``.

    Examples
    --------
    >>> label("ring_title", "en", ring_id="R001")
    'Ring R001'
    """
    if key in LABELS:
        text = LABELS[key][LANGS.index(lang)]
    elif key in EVENT_TYPE_KEYS:
        text = EVENT_TYPE_KEYS[key][LANGS.index(lang)]
    else:
        raise KeyError(key)
    return text.format(**values) if values else text


def bilingual(key: str, **values) -> str:
    """The label ``key`` in Chinese with its English beside it, for files read in both languages.

    Examples
    --------
    >>> bilingual("event_time")
    '时间 / Time'
    """
    return f"{label(key, 'zh', **values)} / {label(key, 'en', **values)}"


def rule_text(rule: str, lang: str) -> str:
    """The one-sentence explanation of ``rule`` in ``lang`` (the rule registry's); the id itself if unknown.

    Examples
    --------
    >>> rule_text("EXPIRED", "zh")
    '过期销售：药品在有效期之后被销售。'
    """
    if rule not in RULE_IDS:
        return rule
    entry = registry_rule(rule)
    if lang == "zh":
        return f"{entry.name_zh}：{entry.sentence_zh}"
    return entry.sentence_en[0].upper() + entry.sentence_en[1:]
