"""The 提取笔录 (extraction record) of an evidence package, as data first, then Markdown.

法发〔2016〕22号 art. 14 asks the record of an electronic-data extraction to name
the case, the data holder, what was extracted, time, place, method and process,
and to list the data with category, file format and integrity value
(完整性校验值), signed by the investigators and the holder or a witness.

:func:`extraction_record` returns that record as an :class:`ExtractionRecord`
(fields, steps, data list, signature lines, every text in Chinese and English);
:func:`render_record` writes it as Markdown (``extraction_record.zh.md`` / ``.en.md``)
and the PDF dossier renders the same record.

What the record covers: the record lists every *content* file of the package —
every file named in ``MANIFEST.sha256`` — with its size, SHA-256 and SM3, and the
package digest (SHA-256 of ``MANIFEST.sha256``).  The record itself, the PDF
dossier and ``signature/`` cannot be in that list (a file cannot hold its own
hash); their SHA-256 are in ``signature/statement.json``, which the organisation
key signs.
"""

from __future__ import annotations

import hashlib
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from ..digests import sm3_hex
from ..jsonout import dumps
from ..version import __version__
from .i18n import rule_text
from .markdown import md_code
from .sources import check_input, input_names, manifest_inputs

__all__ = ["DataItem", "ExtractionRecord", "RecordField", "extraction_record", "render_record", "sm3_hex",
           "RECORD_NAMES", "SHANGHAI", "record_inputs", "record_text", "input_notes"]

#: The Markdown renderings of the record in the package, by language.
RECORD_NAMES = {"zh": "extraction_record.zh.md", "en": "extraction_record.en.md"}

#: China Standard Time (no daylight saving since 1991), so no time-zone database is needed.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

_TEXT = {
    "title": ("电子数据提取笔录", "Record of electronic data extraction"),
    "basis": ("依据《关于办理刑事案件收集提取和审查判断电子数据若干问题的规定》（法发〔2016〕22号）第十四条",
              "Following the 2016 rules on electronic data in criminal cases (法发〔2016〕22号), art. 14"),
    "case": ("案件（团伙）编号", "Case (ring) id"),
    "holder": ("数据持有人", "Data holder"),
    "source": ("数据来源", "Source of the data"),
    "interfaces": ("所见医保接口号", "NHSA interface numbers seen"),
    "extracted": ("提取时间（数据包生成，与 signature/statement.json 相同）",
                  "Extraction time (package made; as in signature/statement.json)"),
    "ingested": ("数据导入时间", "Data ingested"),
    "analysed": ("分析完成时间", "Analysis finished"),
    "place": ("提取地点（主机名）", "Place (host name)"),
    "tool": ("提取工具及版本", "Tool and version"),
    "command_line": ("命令行", "Command line"),
    "options": ("分析参数", "Analysis options"),
    "seed": ("分析随机种子", "Analysis seed"),
    "rules": ("适用规则", "Rules applied"),
    "operator": ("操作人", "Operator"),
    "package_digest": ("数据包摘要（MANIFEST.sha256 的 SHA-256）", "Package digest (SHA-256 of MANIFEST.sha256)"),
    "steps": ("提取过程", "Process"),
    "inputs": ("原始数据清单", "Original data"),
    "files": ("数据包文件清单", "Files of the package"),
    "coverage": ("清单范围", "What the list covers"),
    "signatures": ("签名", "Signatures"),
    "category": ("类别", "Category"),
    "name": ("文件", "File"),
    "format": ("格式", "Format"),
    "size": ("大小（字节）", "Size (bytes)"),
    "not_computed": ("未计算：原始文件不在本机或已改变", "not computed: the original file is not here or has changed"),
    "changed": ("原始文件在导入后已被修改（SHA-256 不符），上表为导入时的值",
                "the original file changed since ingest (SHA-256 differs); the table gives the values at ingest"),
    "missing": ("原始文件已不在本机或无法读取，上表为导入时的值",
                "the original file is no longer here or cannot be read; the table gives the values at ingest"),
    "to_fill": ("（待填写）", "(to be filled in)"),
    "none": ("无", "none"),
    "files_source": ("文件", "files"),
    "neo4j_source": ("Neo4j 数据库", "Neo4j database"),
    "input_data": ("原始数据", "original data"),
}

_COVERAGE = (
    "本清单列出数据包内 MANIFEST.sha256 所列的全部文件。本笔录、PDF 卷宗和 signature/ 目录不在其中"
    "（文件无法包含自身的校验值），它们的 SHA-256 记录在 signature/statement.json 中，由机构密钥签名。"
    "数据包摘要是 MANIFEST.sha256 的 SHA-256，用 `rxring evidence verify` 核验。",
    "This list names every file listed in MANIFEST.sha256. This record, the PDF dossier and the signature/ "
    "folder are not in it (a file cannot hold its own hash); their SHA-256 are in signature/statement.json, "
    "which the organisation key signs. The package digest is the SHA-256 of MANIFEST.sha256; check it with "
    "`rxring evidence verify`.",
)

_SIGNERS = (
    ("侦查人员（签名）", "Investigator (signature)"),
    ("侦查人员（签名）", "Investigator (signature)"),
    ("数据持有人或见证人（签名）", "Data holder or witness (signature)"),
)

# package files: (name prefix or name, category zh, category en)
_CATEGORIES = (
    ("summary.", "案件摘要", "case summary"),
    ("case.json", "案件数据", "case data"),
    ("findings.csv", "线索表", "findings table"),
    ("members.csv", "成员表", "members table"),
    ("custody/", "流向记录", "chain of custody"),
    ("source_rows.csv", "来源行", "source rows"),
    ("rules.md", "规则说明", "rule texts"),
    ("queries/", "查询语句", "queries"),
    ("tool.json", "工具信息", "tool information"),
    ("ring.html", "团伙关系图", "ring diagram"),
    ("inputs.sha256", "原始数据校验值", "input hashes"),
)

_FORMATS = {
    ".md": "Markdown (UTF-8)", ".csv": "CSV (UTF-8)", ".json": "JSON (UTF-8)", ".html": "HTML",
    ".sql": "SQL", ".cypher": "Cypher", ".sha256": "sha256sum", ".pdf": "PDF", ".txt": "text (UTF-8)",
    ".jsonl": "JSON Lines", ".xlsx": "XLSX", ".parquet": "Parquet",
}
#: The format names that are words, in Chinese (the others are names: CSV, JSON, Markdown).
_FORMATS_ZH = {".txt": "文本 (UTF-8)", ".jsonl": "JSON 行文件 (UTF-8)", ".parquet": "Parquet 列式文件"}


@dataclass(frozen=True)
class RecordField:
    """One line of the record: ``key`` and the label and value in each language."""

    key: str
    label_zh: str
    label_en: str
    value_zh: str
    value_en: str

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def value(self, lang: str) -> str:
        return self.value_zh if lang == "zh" else self.value_en


@dataclass(frozen=True)
class DataItem:
    """One listed file: an original input or a package file, with its integrity values."""

    name: str
    category_zh: str
    category_en: str
    format: str
    size: int | None
    sha256: str | None
    sm3: str | None
    #: Inputs: ``changed`` or ``missing`` since ingest (:func:`record_inputs`), else empty.
    state: str = ""
    #: The format in Chinese, when it differs (package files: :func:`file_format`).
    format_zh: str = ""

    def category(self, lang: str) -> str:
        return self.category_zh if lang == "zh" else self.category_en

    def format_in(self, lang: str) -> str:
        return self.format_zh or self.format if lang == "zh" else self.format


@dataclass(frozen=True)
class ExtractionRecord:
    """The 提取笔录 of one package (see the module docstring for what it covers)."""

    fields: tuple[RecordField, ...]
    steps: tuple[tuple[str, str], ...]
    inputs: tuple[DataItem, ...]
    files: tuple[DataItem, ...]
    package_digest: str
    coverage: tuple[str, str] = _COVERAGE
    signers: tuple[tuple[str, str], ...] = _SIGNERS

    def field(self, key: str) -> RecordField:
        return next(f for f in self.fields if f.key == key)

    def to_dict(self) -> dict:
        """Plain data (for JSON and tests)."""
        return {
            "fields": {f.key: {"zh": f.value_zh, "en": f.value_en} for f in self.fields},
            "steps": [list(s) for s in self.steps],
            "inputs": [item.__dict__ for item in self.inputs],
            "files": [item.__dict__ for item in self.files],
            "package_digest": self.package_digest,
        }


def _t(key: str) -> tuple[str, str]:
    return _TEXT[key]


def _field(key: str, zh, en=None) -> RecordField:
    label_zh, label_en = _t(key)
    return RecordField(key, label_zh, label_en, str(zh), str(zh if en is None else en))


def file_format(name: str, lang: str = "en") -> str:
    """A file's format from its name, in ``lang``; an unknown one by its extension.

    >>> file_format("a.csv"), file_format("notes.txt", "zh"), file_format("scan.png", "zh"), file_format("README")
    ('CSV (UTF-8)', '文本 (UTF-8)', 'PNG', '—')
    """
    suffix = PurePosixPath(name).suffix.lower()
    if lang == "zh" and suffix in _FORMATS_ZH:
        return _FORMATS_ZH[suffix]
    return _FORMATS.get(suffix, suffix.lstrip(".").upper() or "—")


def _category(name: str, sections: dict[str, tuple[str, str]]) -> tuple[str, str]:
    folder = name.split("/", 1)[0]
    if "/" in name and folder in sections:
        return sections[folder]
    for prefix, zh, en in _CATEGORIES:
        if name == prefix or (prefix.endswith(("/", ".")) and name.startswith(prefix)):
            return zh, en
    return "其他", "other"


def _both_times(value) -> tuple[str, str]:
    """``value`` (ISO text) in UTC and Asia/Shanghai, or (to be filled in) when absent or unreadable."""
    if not value:
        return _t("to_fill")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value), str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    utc = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    local = moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    return f"{utc}（北京时间 {local}）", f"{utc} (Asia/Shanghai {local})"


def _span(times: list[str]) -> str | None:
    return min(times) if times else None


def extraction_record(
    *,
    ring: dict,
    analysis: dict,
    inputs: list[dict],
    files: dict[str, bytes],
    package_digest: str,
    channels: list[str],
    command_line: str,
    operator: str | None = None,
    holder: str | None = None,
    host: str | None = None,
    sections: dict[str, tuple[str, str]] | None = None,
    created: str | None = None,
) -> ExtractionRecord:
    """The 提取笔录 of a package as data: fields, process steps, data list, signature lines.

    Parameters
    ----------
    ring : dict
        The ring referred (``ring_id``, ``rules``).
    analysis : dict
        ``analysis.json`` of the workspace (engine, version, seed, options, finished, neo4j).
    inputs : list of dict
        The original inputs: ``name`` (the machine-independent path of ``inputs.sha256``),
        ``sha256``, and ``size``, ``format``, ``sm3``, ``ingested_at``, ``skipped_infno`` when known.
    files : dict of str to bytes
        The content files of the package (everything ``MANIFEST.sha256`` lists).
    package_digest : str
        SHA-256 of ``MANIFEST.sha256``.
    channels : list of str
        NHSA interface numbers (``infno``) of the ring's events.
    command_line : str
        The command that made the package (masked).
    operator : str, optional
        Who made it (a line to fill in when absent).
    holder : str, optional
        The data holder (e.g. the pharmacy chain); a blank line to fill in when absent.
    host : str, optional
        The place (default: this host's name).
    sections : dict, optional
        Folder → (category zh, category en) of optional sections (e.g. ``case_history``).
    created : str, optional
        When the package was made (ISO, UTC): the time of the statement.

    Returns
    -------
    ExtractionRecord

    Examples
    --------
    >>> record = extraction_record(ring={"ring_id": "R001", "rules": ["RESURFACE"]}, analysis={"seed": 7},
    ...     inputs=[], files={"rules.md": b"x"}, package_digest="0" * 64, channels=["3505"],
    ...     command_line="rxring evidence R001", operator="李警官", host="pc-1")
    >>> record.field("operator").value_zh, record.files[0].sm3 == sm3_hex(b"x"), record.field("seed").value_en
    ('李警官', True, '7')
    """
    sections = sections or {}
    engine = str(analysis.get("engine") or "embedded")
    if engine == "neo4j":
        stats = analysis.get("stats") if isinstance(analysis.get("stats"), dict) else {}
        # the server's address as the analysis recorded it (stats.neo4j_uri), never a password
        database = re.sub(r"//[^/@]*@", "//", str(stats.get("neo4j_uri") or analysis.get("neo4j_database") or ""))
        source = (f"{_t('neo4j_source')[0]} {database}".strip(), f"{_t('neo4j_source')[1]} {database}".strip())
    else:
        source = (f"{len(inputs)} 个{_t('files_source')[0]}（{engine} 引擎）",
                  f"{len(inputs)} {_t('files_source')[1]} ({engine} engine)")
    infnos = sorted({str(c) for c in channels if c} | {str(k) for i in inputs for k in (i.get("skipped_infno") or {})})
    ingested = _both_times(_span([str(i["ingested_at"]) for i in inputs if i.get("ingested_at")]))
    analysed = _both_times(analysis.get("finished"))
    options = analysis.get("options") if isinstance(analysis.get("options"), dict) else {}
    seed = analysis.get("seed", options.get("seed"))
    rules = [str(r) for r in ring.get("rules") or []]
    holder_zh, holder_en = (holder, holder) if holder else _t("to_fill")
    fields = (
        _field("case", ring["ring_id"]),
        _field("holder", holder_zh, holder_en),
        _field("source", *source),
        _field("interfaces", "、".join(infnos) or _t("none")[0], ", ".join(infnos) or _t("none")[1]),
        _field("extracted", *_both_times(created)),
        _field("ingested", *ingested),
        _field("analysed", *analysed),
        _field("place", host or socket.gethostname()),
        _field("tool", f"rxring {__version__}（分析时 {analysis.get('version') or '?'}）",
               f"rxring {__version__} (analysis made with {analysis.get('version') or '?'})"),
        _field("command_line", command_line),
        _field("options", dumps(options).strip() if options else _t("none")[0], dumps(options).strip() if options else _t("none")[1]),
        _field("seed", "" if seed is None else seed),
        _field("rules", "；".join(f"{r}：{rule_text(r, 'zh').rstrip('。')}" for r in rules) + ("。" if rules else ""),
               "; ".join(f"{r}: {rule_text(r, 'en')}" for r in rules)),
        _field("operator", operator or _t("to_fill")[0], operator or _t("to_fill")[1]),
        _field("package_digest", package_digest),
    )
    steps = (
        (f"导入原始数据 {len(inputs)} 个文件，逐个计算 SHA-256 和 SM3（见原始数据清单）。",
         f"Ingested {len(inputs)} original file(s), each hashed with SHA-256 and SM3 (see the original data)."),
        (f"以 {engine} 引擎按所列参数和随机种子运行分析规则。",
         f"Ran the rules on the {engine} engine with the options and seed listed."),
        (f"选取团伙 {ring['ring_id']}，导出其线索、成员、流向记录、来源行和规则语句。",
         f"Selected ring {ring['ring_id']} and exported its findings, members, chain of custody, source rows and rules."),
        ("对数据包内每个文件计算 SHA-256 和 SM3，写入 MANIFEST.sha256 和本笔录。",
         "Hashed every package file with SHA-256 and SM3, into MANIFEST.sha256 and this record."),
        ("计算数据包摘要；如使用机构密钥，对 signature/statement.json 签名；如使用时间戳服务，取得 RFC 3161 时间戳。",
         "Computed the package digest; with an organisation key, signed signature/statement.json; "
         "with a timestamp authority, obtained an RFC 3161 timestamp."),
    )
    input_items = tuple(
        DataItem(name=str(i["name"]), category_zh=_t("input_data")[0], category_en=_t("input_data")[1],
                 format=str(i.get("format") or file_format(str(i["name"]))), size=i.get("size"),
                 sha256=i.get("sha256"), sm3=i.get("sm3"),
                 state=i["state"] if i.get("state") in ("changed", "missing") else "")
        for i in inputs
    )
    file_items = tuple(
        DataItem(name=name, category_zh=_category(name, sections)[0], category_en=_category(name, sections)[1],
                 format=file_format(name), size=len(data), sha256=_sha256(data), sm3=sm3_hex(data),
                 format_zh=file_format(name, "zh"))
        for name, data in sorted(files.items())
    )
    return ExtractionRecord(fields, steps, input_items, file_items, package_digest)


def record_inputs(manifest: dict) -> list[dict]:
    """The workspace's inputs for the record: machine-independent name, format, size, SHA-256 and SM3
    as ingest recorded them, and ``state``: ``unchanged`` while the original file is still here with
    those bytes (:func:`rxring.report.sources.check_input`: read again only when its size or time
    changed), ``changed`` (another SHA-256) or ``missing`` (not found or unreadable) since ingest,
    ``unknown`` without a recorded SHA-256.  A workspace ingested before SM3 was recorded gets the
    SM3 of an unchanged file computed now (each time: ingesting the same files again records it),
    None otherwise."""
    inputs = manifest_inputs(manifest)
    out = []
    for item, name in zip(inputs, input_names(inputs)):
        entry = {"name": name, "sha256": item.get("sha256"), "size": item.get("size"), "format": item.get("format"),
                 "ingested_at": item.get("ingested_at"), "skipped_infno": item.get("skipped_infno"),
                 "sm3": item.get("sm3") or None, "state": "missing" if item.get("sha256") else "unknown"}
        for where in (item.get("abs_path"), item.get("path")):
            if not where or not item.get("sha256"):
                continue
            try:
                same, sm3 = check_input(Path(where), item)
                size = Path(where).stat().st_size   # the same bytes: also for a manifest without sizes
            except OSError:
                continue
            entry.update(state="unchanged" if same else "changed", sm3=sm3)
            if same:
                entry["size"] = size
                break
        out.append(entry)
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _item_rows(items, lang: str) -> list[str]:
    i = 0 if lang == "zh" else 1
    head = [_t(k)[i] for k in ("name", "category", "format", "size")] + ["SHA-256", "SM3"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    missing = _t("not_computed")[i]
    for item in items:
        cells = [md_code(item.name, table=True), item.category(lang), item.format_in(lang),
                 "—" if item.size is None else str(item.size),
                 md_code(item.sha256, table=True) if item.sha256 else missing,
                 md_code(item.sm3, table=True) if item.sm3 else missing]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def input_notes(record: ExtractionRecord, lang: str) -> list[tuple[str, str]]:
    """(input name, note) for each input that changed or vanished since ingest (evidence-relevant:
    its listed values are those of the bytes ingested, no longer those of the file).

    >>> item = DataItem("a.csv", "", "", "CSV", 3, "ab" * 32, None, state="missing")
    >>> rec = ExtractionRecord(fields=(), steps=(), inputs=(item,), files=(), package_digest="")
    >>> input_notes(rec, "en")
    [('a.csv', 'the original file is no longer here or cannot be read; the table gives the values at ingest')]
    """
    i = 0 if lang == "zh" else 1
    return [(item.name, _t(item.state)[i]) for item in record.inputs if item.state]


def render_record(record: ExtractionRecord, lang: str) -> str:
    """The record as Markdown in ``lang`` (``"zh"`` or ``"en"``); every data value in a code span.

    >>> rec = extraction_record(ring={"ring_id": "R001", "rules": []}, analysis={}, inputs=[], files={},
    ...     package_digest="ab" * 32, channels=[], command_line="rxring", operator="op", host="h")
    >>> print(render_record(rec, "zh").splitlines()[0])
    # 电子数据提取笔录
    """
    i = 0 if lang == "zh" else 1
    out = [f"# {_t('title')[i]}", "", _t("basis")[i], ""]
    for f in record.fields:
        out.append(f"- **{f.label(lang)}**: {md_code(f.value(lang))}")
    out += ["", f"## {_t('steps')[i]}", ""]
    out += [f"{n}. {step[i]}" for n, step in enumerate(record.steps, start=1)]
    out += ["", f"## {_t('inputs')[i]} ({len(record.inputs)})", ""]
    out += _item_rows(record.inputs, lang)
    notes = input_notes(record, lang)
    if notes:
        out += [""] + [f"- {md_code(name)}: {note}" for name, note in notes]
    out += ["", f"## {_t('files')[i]} ({len(record.files)})", ""]
    out += _item_rows(record.files, lang)
    out += ["", f"## {_t('coverage')[i]}", "", record.coverage[i], ""]
    out += [f"## {_t('signatures')[i]}", ""]
    date = "日期" if lang == "zh" else "Date"
    out += [f"- {signer[i]}: ________________　{date}: ____________" for signer in record.signers]
    return "\n".join(out) + "\n"


def record_text(key: str, lang: str) -> str:
    """One heading or label of the record in ``lang`` (for renderings other than :func:`render_record`, e.g. the PDF).

    >>> record_text("steps", "zh")
    '提取过程'
    """
    return _t(key)[0 if lang == "zh" else 1]
