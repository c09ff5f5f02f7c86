"""`rxring evidence RING`: a verifiable zip for a police referral (移送司法机关).

Contents (every text file UTF-8)::

    summary.zh.md / summary.en.md   case summary: what was found, rules, money, period, members
    case.json                       the same, machine-readable, plus tool, options, input hashes
    findings.csv, members.csv       the ring's findings and members (UTF-8 with BOM)
    custody/timeline.csv            every event of every pack of the ring, in time order
    custody/timeline.md             the same as one timeline per pack
    source_rows.csv                 each event's source file and line, and the raw line when
                                    the original file is still there and unchanged (the CSV
                                    headers in Chinese: :func:`read_package_csv` reads them back)
    rules.md                        the rule sentences (DESIGN §3) in Chinese and English
    queries/…                       the SQL/Cypher files of the rules, the SQL rendered with
                                    the analysis options, and parameters.json
    tool.json                       tool version, command line (paths as WORKSPACE, OUTPUT, KEY),
                                    --reveal-pii (no time, path, host or Python version: the
                                    hashed files are the same for the same workspace, options and
                                    rxring on any machine)
    ring.html                       the offline ring visualisation
    inputs.sha256                   SHA-256 of the original inputs, named relative to the folder
                                    that holds them all (``rxring evidence verify --check-inputs FOLDER``)
    <section>/…                     optional sections (:class:`EvidenceSection`), e.g. case_history/
    MANIFEST.sha256                 SHA-256 of every file above (``sha256sum -c`` format); its own
                                    SHA-256 is the *package digest*
    extraction_record.zh.md / .en.md  the 提取笔录 (:mod:`rxring.report.extraction`): case, holder,
                                    time, place, method, steps, every input and file above with
                                    size, SHA-256 and SM3, the package digest, signature lines
    summary.zh.pdf / summary.en.pdf the printable dossier (rxring.report.pdf), the package digest in
                                    every footer
    signature/statement.json        the package digest, the SHA-256 of the documents that name it
                                    (the 提取笔录 and PDFs cannot be in MANIFEST.sha256), the creation
                                    time and the Python version (kept out of every hashed content
                                    file), the signer's key id
    signature/statement.sig         Ed25519 signature of the statement (``--sign``)
    signature/timestamp.tsr         RFC 3161 timestamp over the package digest (``--tsa``)

Beside the zip, ``<zip>.sha256`` holds the SHA-256 of the zip file as a whole
(:mod:`rxring.report.seal`).

Personal data is masked unless ``reveal_pii``; a reveal is written into the
summaries, case.json and tool.json, and recorded in the workspace's
``reveals.jsonl`` (:func:`rxring.reveal.permit_reveal`, from the CLI and from Python).  Raw source lines are masked by key (JSON) or by column (CSV,
with the file's header; every header alias ingest knows, names included), and
the ids and names found there are masked wherever else they occur in free text.  Write the
package digest in the referral letter and the signed paper 提取笔录: ``rxring evidence verify
--expect DIGEST`` then proves nothing was re-made, ``--pubkey`` that the unit's key signed it.

The case history of a case (the cases of the workbench) slots in as an
:class:`EvidenceSection` passed to :func:`build_evidence` (``sections=``): its own
folder, listed in the manifest, the 提取笔录 and the summaries' file guide.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from ..jsonout import dumps
from ..reveal import acting_user, permit_reveal
from ..version import __version__
from ..errors import RxringError
from ..options import AnalysisOptions
from ..rules.render import rendered_queries, sql_parameters
from ..schema import RULES
from .data import CaseData, fmt_money, fmt_time, is_missing, load_case, period, read_ring_events, select_rings
from .custody import CUSTODY_COLUMNS, custody_headers, custody_table, event_type_name, portable_sources, ring_custody
from .i18n import EVENT_TYPE_KEYS, LANGS, ROLE_KEYS, bilingual, label, rule_text
from .markdown import md_code
from .pii import Masker
from .extraction import RECORD_NAMES, extraction_record, record_inputs, render_record
from .pdf import PDF_NAMES, package_pdfs
from .seal import MANIFEST_NAME, STATEMENT_NAME, Seal, creation_time, write_package
from .sources import input_names, inputs_listing, manifest_inputs, read_source_lines
from .htmlkit import safe_name
from .tables import TABLES, csv_bytes, finding_rows, headers, member_rows
from .viz import build_ring_graph, render_viz
from .viz_graph import ring_parts

__all__ = ["EvidencePackage", "EvidenceSection", "build_evidence", "portable_command", "read_package_csv",
           "TIMELINE_COLUMNS", "SOURCE_ROW_COLUMNS", "MANIFEST_NAME", "INPUTS_NAME", "UNLISTED_NAMES"]

INPUTS_NAME = "inputs.sha256"
#: Members that MANIFEST.sha256 does not list because they name its digest (the 提取笔录, the PDF
#: dossiers) or seal it (the statement); signature/statement.json lists their SHA-256.
UNLISTED_NAMES = frozenset(PDF_NAMES.values()) | frozenset(RECORD_NAMES.values()) | {STATEMENT_NAME}

_STATUS_TEXT = {
    "ok": ("原始行如下", "raw line shown"),
    "file_missing": ("原始文件不可读", "original file not readable"),
    "file_changed": ("原始文件在导入后已被修改（SHA-256 不符），不显示", "original file changed since ingest (SHA-256 differs); not shown"),
    "beyond_end": ("原始文件没有这一行", "line beyond the end of the original file"),
    "binary_format": ("二进制格式（XLSX/Parquet），按行号查阅", "binary format (XLSX/Parquet); look the row up by number"),
    "no_line": ("事件未记录来源行", "event has no recorded source line"),
}


@dataclass(frozen=True)
class EvidencePackage:
    """The written package: its path, the digest of its manifest, and its files."""

    path: Path
    digest: str
    files: tuple[str, ...]
    reveal_pii: bool
    signer_key_id: str | None = None


@dataclass(frozen=True)
class EvidenceSection:
    """An optional section of a package, in a folder of its own: the hook for a case's history.

    ``folder`` is one safe path component (``case_history``), ``files`` maps names
    inside it (``timeline.md``, ``notes/2026-03-01.md``) to bytes.  Its files are
    listed in MANIFEST.sha256 and in the 提取笔录 under the section's title, and the
    summaries' file guide names the folder.  A section may not replace a file of the
    package.

    Examples
    --------
    >>> EvidenceSection("case_history", "案件历史", "Case history", {"log.md": b"# log"}).folder
    'case_history'
    """

    folder: str
    title_zh: str
    title_en: str
    files: Mapping[str, bytes]


def section_files(sections: Sequence[EvidenceSection], existing: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files of ``sections`` under their folders; RxringError for unsafe or clashing names."""
    out: dict[str, bytes] = {}
    taken = {name.split("/", 1)[0] for name in existing} | {"signature", MANIFEST_NAME}
    for section in sections:
        folder = section.folder
        if not folder or "/" in folder or "\\" in folder or folder in (".", "..") or folder in taken:
            raise RxringError(f"evidence section {folder!r}: needs a folder name of its own (one path component, "
                              f"not one of {', '.join(sorted(taken))})")
        taken.add(folder)
        for name, data in section.files.items():
            parts = PurePosixPath(name).parts
            if not parts or name.startswith("/") or "\\" in name or any(p in ("..", ".") for p in parts):
                raise RxringError(f"evidence section {folder}: unsafe file name {name!r}")
            out[f"{folder}/{PurePosixPath(*parts).as_posix()}"] = bytes(data)
    return out


def _md(text) -> str:
    """One line of our own label text (never data: data goes through :func:`md_code`)."""
    return " ".join(("" if text is None else str(text)).split())


#: Options of `rxring evidence` whose value is a path on the machine that made the package: the
#: recorded command line names their role instead, so that a copy of the workspace, another output
#: file or another copy of the key gives the same package.
_PATH_OPTIONS = {"-w": "WORKSPACE", "--workspace": "WORKSPACE", "-o": "OUTPUT", "--output": "OUTPUT",
                 "--sign": "KEY", "--passphrase-file": "PASSPHRASE_FILE"}
#: What analysis.json records about the run (when, how long), not about its results: left out of
#: queries/parameters.json, so the same inputs and options analysed again give the same package.
_RUN_FACTS = ("finished", "started", "seconds")


def portable_command(args: Iterable[str]) -> str:
    """The command line ``args`` with the values of path options replaced by their role.

    >>> portable_command(["rxring", "evidence", "R001", "-w", "/data/ws 2", "-o/tmp/R001.zip",
    ...                   "--sign=keys/k.pem", "--operator", "李警官"])
    'rxring evidence R001 -w WORKSPACE -oOUTPUT --sign=KEY --operator 李警官'
    """
    out, role = [], None
    for arg in args:
        name, equals, _ = arg.partition("=")
        if role is not None:
            out.append(role)
            role = None
        elif arg in _PATH_OPTIONS:
            out.append(arg)
            role = _PATH_OPTIONS[arg]
        elif equals and name.startswith("--") and name in _PATH_OPTIONS:
            out.append(f"{name}={_PATH_OPTIONS[name]}")
        elif arg[:2] in ("-w", "-o") and len(arg) > 2:
            out.append(arg[:2] + _PATH_OPTIONS[arg[:2]])
        else:
            out.append(arg)
    return " ".join(out)


def _run_free(analysis: dict) -> dict:
    """``analysis`` (analysis.json) without the facts of the run (:data:`_RUN_FACTS`, the CPU seconds)."""
    out = {k: v for k, v in analysis.items() if k not in _RUN_FACTS}
    if isinstance(out.get("stats"), dict):
        out["stats"] = {k: v for k, v in out["stats"].items() if k not in (*_RUN_FACTS, "cpu_seconds_by_step")}
    return out


def _query_files(rules: list[str]) -> dict[str, bytes]:
    """Query files of ``rules`` plus shared ones (stages, schema); files of other rules left out."""
    out = {}
    folder = resources.files("rxring.rules")
    entries = sorted((e for sub in ("sql", "cypher") for e in folder.joinpath(sub).iterdir()), key=lambda p: p.name)
    other_rules = set(RULES) - set(rules)
    for entry in entries:
        name = entry.name
        if name.endswith((".sql", ".cypher")) and name.rsplit(".", 1)[0] not in other_rules:
            out[f"queries/{name}"] = entry.read_bytes()
    return out


def _rendered_queries(rules: list[str], analysis: dict) -> tuple[dict[str, bytes], dict, str]:
    """The SQL the embedded backend ran, with the analysis options filled in; the parameters; a note."""
    raw = analysis.get("options") if isinstance(analysis.get("options"), dict) else {}
    try:
        options = AnalysisOptions.from_dict(raw)
    except RxringError as exc:
        return {}, {}, f"rendered SQL not available: {exc}"
    other_rules = set(RULES) - set(rules)
    out = {f"queries/rendered/{name}": text.encode("utf-8")
           for name, text in rendered_queries(options).items() if name.rsplit(".", 1)[0] not in other_rules}
    return out, sql_parameters(options), "rendered with the options in analysis.json (DuckDB dialect)"


def _custody(case: CaseData, ring: dict):
    """(the ring's trace codes, every event of its packs in time order, their source lines by (file, line),
    the ids of the events that prove its findings)."""
    codes, rows, proving = ring_custody(case, ring)
    wanted: dict[str, set[int]] = {}
    for row in rows:
        line = row.get("source_line")
        if row.get("source_file") and line is not None and line == line:
            wanted.setdefault(str(row["source_file"]), set()).add(int(line))
    sources = read_source_lines(wanted, case.manifest, case.workspace.root)
    names = portable_sources(rows, case)   # as in inputs.sha256 (the lines were read above)
    sources = {(names.get(file, file), line): found for (file, line), found in sources.items()}
    return codes, rows, sources, proving


def _summary(case, ring, lang, members, findings, reveal, inputs, command_line, sections=()) -> str:
    """The case summary in ``lang`` (Markdown; every data value in a code span)."""
    rank, score = ring.get("rank"), ring.get("score")
    lines = [f"# {_md(label('case_summary', lang))} — {label('ring_title', lang, ring_id=md_code(ring['ring_id']))}", ""]
    # the creation time is kept out of hashed files (reproducible packages): signature/statement.json has it
    lines.append(f"rxring {__version__}")
    lines.append("")
    if reveal:
        lines.append(f"**{_md(label('pii_revealed', lang))}**")
    else:
        lines.append(_md(label("pii_masked", lang)))
    lines += ["", f"## {_md(label('what_was_found', lang))}", ""]
    lines.append(
        label(
            "ring_found", lang, ring_id=md_code(ring["ring_id"]), rank=md_code(rank), score=md_code(score),
            boxes=md_code(ring.get("boxes")), events=md_code(ring.get("events")),
            fund=md_code(fmt_money(ring.get("fund_at_risk"))),
            period=md_code(period(ring.get("first_time"), ring.get("last_time"))),
        )
    )
    lines += ["", f"## {_md(label('rules', lang))}", ""]
    for rule in ring["rules"]:
        count = sum(1 for f in findings if f["rule"] == rule)
        lines.append(f"- {md_code(rule)} ({count}): {_md(rule_text(rule, lang))}")
    lines += ["", f"## {_md(label('members', lang))}", ""]
    for role in ROLE_KEYS:
        mine = [m for m in members if m["role_key"] == role]
        lines.append(f"### {_md(label(role, lang))} ({len(mine)})")
        lines.append("")
        for m in mine:
            name = f" {md_code(m['name'])}" if m["name"] else ""
            lines.append(
                f"- {md_code(m['member_id'])}{name} — {_md(label('boxes', lang))} {md_code(m['boxes'])}, "
                f"{_md(label('fund_at_risk', lang))} {md_code(fmt_money(m['fund_amount']))}"
            )
        lines.append("")
    lines += [f"## {_md(label('findings', lang))} ({len(findings)})", ""]
    for f in findings:
        lines.append(
            f"- {md_code(f['finding_id'])} {md_code(f['rule'])} "
            f"{md_code(period(f['first_time'], f['last_time']))} {md_code(fmt_money(f['fund_amount']))}: "
            f"{md_code(f['explanation'])}"
        )
    lines += ["", f"## {_md(label('inputs_sha256', lang))}", ""]
    for item in inputs:
        lines.append(f"- {md_code(item.get('sha256') or '?')} {md_code(item['path'])}")
    lines += ["", f"## {_md(label('command_line', lang))}", "", md_code(command_line), ""]
    lines += [f"## {_md(label('files', lang))}", ""]
    for names, key in _FILE_GUIDE:
        lines.append(f"- {', '.join(md_code(n) for n in names)}: {_md(label(key, lang))}")
    for section in sections:
        lines.append(f"- {md_code(section.folder + '/')}: {_md(section.title_zh if lang == 'zh' else section.title_en)}")
    lines += ["", _md(label("verify_hint", lang))]
    return "\n".join(lines) + "\n"


def _timeline_md(codes: list[str], rows: list[dict], masker: Masker, case: CaseData, proving: set[str]) -> str:
    """One Markdown table per pack: every event in time order, proving events marked (Chinese, English beside)."""
    out = [f"# {bilingual('custody_title')}", ""]
    for code, table in custody_table(codes, rows, case, masker, proving, "both"):
        out += [f"## {md_code(code)}", "", "| " + " | ".join(custody_headers("both")) + " |",
                "|" + "---|" * len(CUSTODY_COLUMNS)]
        out += ["| " + " | ".join(md_code(v, table=True) for v in cells) + " |" for cells in table]
        out.append("")
    return "\n".join(out)


def _case_files(case: CaseData, ring: dict, masker: Masker, tool: dict, per_lang: dict, sections=()) -> dict[str, bytes]:
    """Summaries (zh, en), findings.csv, members.csv and case.json (``per_lang``: :func:`_rows`)."""
    files = {}
    listed = manifest_inputs(case.manifest)
    # machine-independent names, as in inputs.sha256
    inputs = [dict(item, path=name) for item, name in zip(listed, input_names(listed))]
    for lang in LANGS:
        members, findings = per_lang[lang]
        files[f"summary.{lang}.md"] = _summary(
            case, ring, lang, members, findings, tool["reveal_pii"], inputs, tool["command_line"], sections
        ).encode("utf-8")
    members, findings = per_lang["zh"]
    files["findings.csv"] = csv_bytes(
        headers("findings", "zh"),
        [[fmt_time(f.get(k)) if k in ("first_time", "last_time") else f.get(k) for k in TABLES["findings"]] for f in findings],
    )
    files["members.csv"] = csv_bytes(headers("members", "zh"), [[m.get(k) for k in TABLES["members"]] for m in members])

    def times(row: dict) -> dict:
        return {k: (fmt_time(v) if k in ("first_time", "last_time") else v) for k, v in row.items()}

    case_json = {
        # the ring's people lists are in "members", masked; the raw lists stay out
        "ring": times({k: v for k, v in ring.items() if k not in ("source_patients", "prescribers")}),
        "members": [{k: v for k, v in m.items() if k != "role"} for m in per_lang["en"][0]],
        "findings": [times(f) for f in per_lang["en"][1]],
        "personal_data": "revealed" if masker.reveal else "masked",
        "tool": tool,
        # how each file was read: the column map (rxring ingest --columns) it was read with, if any
        "inputs": [{"path": i["path"], "sha256": i.get("sha256"),
                    **({"column_map": i["column_map"]} if i.get("column_map") else {})} for i in inputs],
    }
    files["case.json"] = dumps(case_json).encode("utf-8")
    return files


def _rows(case: CaseData, ring: dict, masker: Masker) -> dict[str, tuple[list[dict], list[dict]]]:
    """The ring's member and finding rows in each language, for the summaries, the tables and the PDFs."""
    return {lang: (member_rows(case, [ring], masker, lang), finding_rows(case, [ring], masker, lang)) for lang in LANGS}


# What each file of the package is, for the summary's file guide.
_FILE_GUIDE = (
    (("summary.zh.md", "summary.en.md"), "file_summary"),
    (("summary.zh.pdf", "summary.en.pdf"), "file_pdf"),
    (("case.json",), "file_case_json"),
    (("findings.csv", "members.csv"), "file_tables"),
    (("custody/timeline.csv", "custody/timeline.md"), "chain_of_custody"),
    (("source_rows.csv",), "source_rows"),
    (("rules.md",), "file_rules"),
    (("queries/",), "queries"),
    (("tool.json",), "file_tool"),
    (("ring.html",), "file_viz"),
    (("inputs.sha256",), "file_inputs"),
    (("MANIFEST.sha256",), "file_manifest"),
    (tuple(RECORD_NAMES.values()), "file_record"),
    (("signature/",), "file_signature"),
)

#: The columns of custody/timeline.csv and of source_rows.csv, as programs read them
#: (:func:`read_package_csv`); their headers are the Chinese labels (rxring.report.i18n) of these keys.
TIMELINE_COLUMNS = ("trace_code", "seq", "event_time", "event_type", "site_id", "site_name", "patient", "prescriber",
                    "quantity", "fund_amount", "settlement_id", "event_id", "proving", "source_file", "source_line")
SOURCE_ROW_COLUMNS = ("event_id", "source_file", "source_line", "source_status", "raw_line")
# the English headers of packages made before the columns were Chinese (issue 18 item 5)
_OLD_HEADERS = {"status": "source_status", "raw": "raw_line"}


def read_package_csv(data: bytes) -> list[dict[str, str]]:
    """The rows of a package's custody/timeline.csv or source_rows.csv keyed by :data:`TIMELINE_COLUMNS` /
    :data:`SOURCE_ROW_COLUMNS`, with the event type, the proving mark and the source row's status as codes
    (``dispense``, ``yes``, ``file_changed``); the English headers of older packages are read too.

    >>> read_package_csv("追溯码,类型,证据事件\\n8300,销售,是\\n".encode("utf-8-sig"))
    [{'trace_code': '8300', 'event_type': 'dispense', 'proving': 'yes'}]
    """
    keys = {label(key, "zh"): key for key in (*TIMELINE_COLUMNS, *SOURCE_ROW_COLUMNS)} | _OLD_HEADERS
    values = {"event_type": {label(t, "zh"): t for t in EVENT_TYPE_KEYS}, "proving": {label("yes", "zh"): "yes"},
              "source_status": {_status_text(code): code for code in _STATUS_TEXT}}
    rows = []
    for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig"))):
        out = {}
        for header, value in row.items():
            key = keys.get(header, header)
            out[key] = values.get(key, {}).get(value, value)
        rows.append(out)
    return rows


def _status_text(status: str) -> str:
    """The source row's status in Chinese with English beside."""
    return " / ".join(_STATUS_TEXT[status])


def _line_number(row: dict) -> int | None:
    line = row.get("source_line")
    return None if line is None or line != line else int(line)


def _learn_people(masker: Masker, rows: list[dict], sources: dict) -> None:
    """Teach the masker every person of the packs, so free text naming them is masked everywhere.

    The people of the packs' other events (not named by any finding), and the ids
    and names the raw source lines hold under personal headers (``prsc_dr_name``,
    ``患者姓名``, …): a remark such as "患者张三丰退药" is then masked too.
    """
    masker.add_known(
        str(row[c]) for row in rows for c in ("patient_id", "prescriber_id", "pharmacist_id")
        if row.get(c) is not None and row.get(c) == row.get(c)
    )
    for found in sources.values():
        if found.raw:
            masker.learn_raw(found.raw, found.header or None)


def _custody_files(case: CaseData, ring: dict, masker: Masker, custody) -> dict[str, bytes]:
    """custody/timeline.csv and .md (every event of every pack) and source_rows.csv."""
    codes, rows, sources, proving = custody
    timeline, seq = [], {}
    for row in rows:
        code = str(row["trace_code"])
        seq[code] = seq.get(code, 0) + 1
        line = _line_number(row)
        timeline.append([
            code, seq[code], fmt_time(row.get("event_time")), event_type_name(row.get("event_type"), "zh"), row.get("site_id"),
            case.site_name(str(row.get("site_id") or "")), masker.person(row.get("patient_id")),
            masker.person(row.get("prescriber_id")), row.get("quantity"), row.get("fund_amount"),
            masker.text(row.get("settlement_id") or ""), row.get("event_id"),
            label("yes", "zh") if row.get("event_id") in proving else "", masker.text(row.get("source_file") or ""),
            "" if line is None else line,
        ])
    source_rows, seen = [], set()
    for row in rows:
        key = (str(row.get("source_file") or ""), _line_number(row))
        if key in seen:
            continue
        seen.add(key)
        found = sources.get(key) if key[1] is not None else None
        status = found.status if found else "no_line"
        source_rows.append([
            row.get("event_id"), masker.text(key[0]), "" if key[1] is None else key[1], _status_text(status),
            masker.raw_line(found.raw, found.header or None) if found and found.raw else "",
        ])
    return {
        "custody/timeline.csv": csv_bytes([label(k, "zh") for k in TIMELINE_COLUMNS], timeline),
        "custody/timeline.md": _timeline_md(codes, rows, masker, case, proving).encode("utf-8"),
        "source_rows.csv": csv_bytes([label(k, "zh") for k in SOURCE_ROW_COLUMNS], source_rows),
    }


def _rule_files(case: CaseData, ring: dict, codes: list[str]) -> dict[str, bytes]:
    """rules.md, the query files, the SQL rendered with the options, parameters.json (naming the ring's *codes*)."""
    rules = [str(r) for r in ring["rules"]]
    lines = ["# Rules / 规则", ""]
    for rule in rules:
        lines += [f"## {md_code(rule)}", "", f"- 中文：{_md(rule_text(rule, 'zh'))}",
                  f"- English: {_md(rule_text(rule, 'en'))}", ""]
    files = {"rules.md": "\n".join(lines).encode("utf-8")}
    files.update(_query_files(rules))
    rendered, sql_params, note = _rendered_queries(rules, case.analysis)
    files.update(rendered)
    files["queries/parameters.json"] = dumps(
        {"analysis": _run_free(case.analysis), "sql_parameters": sql_params, "note": note,
         "ring_id": ring["ring_id"], "rules": rules, "trace_codes": codes},
    ).encode("utf-8")
    return files


def build_evidence(
    workspace,
    ring_id: str,
    output: str | Path | None = None,
    reveal_pii: bool = False,
    command_line: str | None = None,
    operator: str | None = None,
    *,
    holder: str | None = None,
    seal: Seal | None = None,
    sections: Sequence[EvidenceSection] = (),
) -> EvidencePackage:
    """Write the evidence package of one ring as a zip and return what was written.

    Parameters
    ----------
    workspace : path or Workspace
        An analysed workspace.
    ring_id : str
        The ring to refer, e.g. ``"R001"``.
    output : path, optional
        Default ``<workspace>/evidence/<ring>.zip``.
    reveal_pii : bool
        Include personal data unmasked; recorded in the package and in the
        workspace's reveals.jsonl (:func:`rxring.reveal.permit_reveal`).
    command_line : str, optional
        The command that made the package (default: this process' argv, paths as their
        role: :func:`portable_command`).
    operator : str, optional
        Who reveals and who made the package (default RXRING_OPERATOR, else the OS user).
    holder : str, optional
        The data holder named in the 提取笔录 (a line to fill in when absent).
    seal : Seal, optional
        Signing key, timestamp authority and creation time (:class:`rxring.report.seal.Seal`);
        default unsigned, no timestamp, created now (or at ``SOURCE_DATE_EPOCH``).
    sections : sequence of EvidenceSection
        Optional sections (e.g. a case history), each in its own folder.

    Returns
    -------
    EvidencePackage
        ``digest`` is the SHA-256 of MANIFEST.sha256.

    Examples
    --------
    >>> pkg = build_evidence("ws", "R001", "case.zip")  # doctest: +SKIP
    >>> verify_evidence(pkg.path).ok  # doctest: +SKIP
    True
    """
    case = load_case(workspace, [ring_id])
    (ring,) = select_rings(case, [ring_id])
    if output is None:
        output = case.workspace.root / "evidence" / f"{safe_name(ring['ring_id'])}.zip"
    output = Path(output)
    reveal_pii = permit_reveal(reveal_pii, case.workspace, {"ring_id": str(ring["ring_id"]), "output": str(output)},
                               operator, api="rxring.build_evidence")
    masker = case.masker(reveal=reveal_pii)
    read_ring_events(case, [ring])  # one scan for the chains of custody and the graph's events
    custody = _custody(case, ring)
    _learn_people(masker, custody[1], custody[2])  # before anything is written with the masker
    seal = seal or Seal()
    created = creation_time(seal.created)  # kept out of the hashed files: in signature/statement.json only
    operator = acting_user(operator)
    if command_line is None:
        command_line = portable_command(["rxring", *sys.argv[1:]])
    # nothing of this machine (its paths, platform, Python): the 提取笔录 names the host, the statement the Python
    tool = {
        "tool": "rxring", "version": __version__,
        "command_line": masker.text(command_line), "reveal_pii": bool(reveal_pii),
        "analysis_version": case.analysis.get("version"),
    }
    rows, parts = _rows(case, ring, masker), ring_parts(case, [ring], masker)   # for the files and the PDFs
    files: dict[str, bytes] = {}
    files.update(_case_files(case, ring, masker, tool, rows, sections))
    files.update(_custody_files(case, ring, masker, custody))
    files.update(_rule_files(case, ring, custody[0]))   # the ring's trace codes, sorted (ring_custody)
    files["tool.json"] = dumps(tool).encode("utf-8")
    graph = build_ring_graph(case, [ring], lang="zh", masker=masker, parts=parts)
    files["ring.html"] = render_viz(graph, lang="zh", reveal_pii=reveal_pii).encode("utf-8")
    files[INPUTS_NAME] = inputs_listing(case.manifest)
    files.update(section_files(sections, files))

    def documents(digest: str) -> dict[str, bytes]:
        """The documents that name the package digest: the 提取笔录 (zh, en) and the PDF dossiers."""
        record = extraction_record(
            ring=ring, analysis=case.analysis, inputs=record_inputs(case.manifest), files=files,
            package_digest=digest, channels=[str(r["channel"]) for r in custody[1] if not is_missing(r.get("channel"))],
            command_line=tool["command_line"], operator=operator, holder=holder,
            sections={s.folder: (s.title_zh, s.title_en) for s in sections}, created=created,
        )
        out = {RECORD_NAMES[lang]: render_record(record, lang).encode("utf-8") for lang in LANGS}
        # the PDFs print the package digest in every footer, so MANIFEST.sha256 cannot list them either
        out.update(package_pdfs(case, ring, masker, custody, dict(tool, created_utc=created), digest, record,
                                rows=rows, parts=parts))
        return out

    digest, signer, names = write_package(output, files, documents, seal, created)
    return EvidencePackage(output, digest, names, bool(reveal_pii), signer)
