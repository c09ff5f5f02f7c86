"""`rxring evidence RING`: a verifiable zip for a police referral (移送司法机关).

Contents (every text file UTF-8)::

    summary.zh.md / summary.en.md   case summary: what was found, rules, money, period, members
    case.json                       the same, machine-readable, plus tool, options, input hashes
    findings.csv, members.csv       the ring's findings and members (UTF-8 with BOM)
    custody/timeline.csv            every event of every pack of the ring, in time order
    custody/timeline.md             the same as one timeline per pack
    source_rows.csv                 each event's source file and line, and the raw line when
                                    the original file is still there and unchanged
    rules.md                        the rule sentences (DESIGN §3) in Chinese and English
    queries/…                       the SQL/Cypher files of the rules, the SQL rendered with
                                    the analysis options, and parameters.json
    tool.json                       tool version, Python, command line, time, --reveal-pii
    ring.html                       the offline ring visualisation
    inputs.sha256                   SHA-256 of the original inputs (from the workspace manifest)
    MANIFEST.sha256                 SHA-256 of every file above (``sha256sum -c`` format)

Personal data is masked unless ``reveal_pii``; a reveal is written into the
summaries, case.json and tool.json, and recorded in the workspace's
``reveals.jsonl`` (:func:`rxring.reveal.permit_reveal`, from the CLI and from Python).  Raw source lines are masked by key (JSON) or by column (CSV,
with the file's header; every header alias ingest knows, names included), and
the ids and names found there are masked wherever else they occur in free text.  The SHA-256 of MANIFEST.sha256 is the
package's digest: write it in the referral letter, and ``rxring evidence verify
--expect DIGEST`` proves nothing was re-signed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import platform
import sys
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from ..jsonout import dumps
from ..reveal import permit_reveal
from ..version import __version__
from ..errors import RxringError
from ..options import AnalysisOptions
from ..rules.render import rendered_queries, sql_parameters
from ..schema import RULES
from .data import (CaseData, fmt_money, fmt_time, is_missing, load_case, load_events, period, read_ring_events,
                   ring_findings, select_rings)
from .i18n import LANGS, ROLE_KEYS, label, rule_text
from .markdown import md_code
from .pii import Masker
from .sources import manifest_inputs, read_source_lines
from .htmlkit import safe_name
from .tables import TABLES, finding_rows, formula_safe, headers, member_rows
from .viz import build_ring_graph, render_viz

__all__ = ["EvidencePackage", "build_evidence", "MANIFEST_NAME", "INPUTS_NAME"]

MANIFEST_NAME = "MANIFEST.sha256"
INPUTS_NAME = "inputs.sha256"

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


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[formula_safe("" if is_missing(v) else str(v)) for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _md(text) -> str:
    """One line of our own label text (never data: data goes through :func:`md_code`)."""
    return " ".join(("" if text is None else str(text)).split())


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
    """Every event of every pack of the ring, in time order, with source status."""
    codes = sorted({c for f in ring_findings(case, ring) for c in f["trace_codes"]})
    events = load_events(case, trace_codes=codes) if codes else None
    rows = [] if events is None else events.to_dict("records")
    wanted: dict[str, set[int]] = {}
    for row in rows:
        line = row.get("source_line")
        if row.get("source_file") and line is not None and line == line:
            wanted.setdefault(str(row["source_file"]), set()).add(int(line))
    sources = read_source_lines(wanted, case.manifest, case.workspace.root)
    return codes, rows, sources


def _summary(case, ring, lang, members, findings, created, reveal, inputs, command_line) -> str:
    """The case summary in ``lang`` (Markdown; every data value in a code span)."""
    rank, score = ring.get("rank"), ring.get("score")
    lines = [f"# {_md(label('case_summary', lang))} — {label('ring_title', lang, ring_id=md_code(ring['ring_id']))}", ""]
    lines.append(f"{_md(label('generated', lang))}: {created} · rxring {__version__}")
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
    lines += ["", _md(label("verify_hint", lang))]
    return "\n".join(lines) + "\n"


def _timeline_md(codes: list[str], rows: list[dict], masker: Masker, case: CaseData, proving: set[str]) -> str:
    """One Markdown table per pack: every event in time order, proving events marked."""
    by_code: dict[str, list[dict]] = {}
    for row in rows:
        by_code.setdefault(str(row["trace_code"]), []).append(row)
    out = ["# Chain of custody / 每盒药的流转记录", ""]
    for code in codes:
        out += [f"## {md_code(code)}", "", "| # | time | type | site | patient | prescriber | qty | fund | source | proving |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for n, row in enumerate(by_code.get(code, []), start=1):
            site = str(row.get("site_id") or "")
            name = case.site_name(site)
            out.append(
                "| " + " | ".join(
                    md_code(v, table=True) for v in (
                        n, fmt_time(row.get("event_time")), row.get("event_type"),
                        f"{name} ({site})" if name else site, masker.person(row.get("patient_id")),
                        masker.person(row.get("prescriber_id")), row.get("quantity"), fmt_money(row.get("fund_amount")),
                        f"{row.get('source_file') or ''}:{row.get('source_line') if row.get('source_line') is not None else ''}",
                        "yes" if row.get("event_id") in proving else "",
                    )
                ) + " |"
            )
        out.append("")
    return "\n".join(out)


def _case_files(case: CaseData, ring: dict, masker: Masker, tool: dict) -> dict[str, bytes]:
    """Summaries (zh, en), findings.csv, members.csv and case.json."""
    files = {}
    inputs = manifest_inputs(case.manifest)
    per_lang = {lang: (member_rows(case, [ring], masker, lang), finding_rows(case, [ring], masker, lang)) for lang in LANGS}
    for lang in LANGS:
        members, findings = per_lang[lang]
        files[f"summary.{lang}.md"] = _summary(
            case, ring, lang, members, findings, tool["created_utc"], tool["reveal_pii"], inputs, tool["command_line"]
        ).encode("utf-8")
    members, findings = per_lang["zh"]
    files["findings.csv"] = _csv_bytes(
        headers("findings", "zh"),
        [[fmt_time(f.get(k)) if k in ("first_time", "last_time") else f.get(k) for k in TABLES["findings"]] for f in findings],
    )
    files["members.csv"] = _csv_bytes(headers("members", "zh"), [[m.get(k) for k in TABLES["members"]] for m in members])

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


# What each file of the package is, for the summary's file guide.
_FILE_GUIDE = (
    (("summary.zh.md", "summary.en.md"), "file_summary"),
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
)

_TIMELINE_HEADER = ["trace_code", "seq", "event_time", "event_type", "site_id", "site_name", "patient", "prescriber",
                    "quantity", "fund_amount", "settlement_id", "event_id", "proving", "source_file", "source_line"]


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
    proving = {e for f in ring_findings(case, ring) for e in f["event_ids"]}
    codes, rows, sources = custody
    timeline, seq = [], {}
    for row in rows:
        code = str(row["trace_code"])
        seq[code] = seq.get(code, 0) + 1
        line = _line_number(row)
        timeline.append([
            code, seq[code], fmt_time(row.get("event_time")), row.get("event_type"), row.get("site_id"),
            case.site_name(str(row.get("site_id") or "")), masker.person(row.get("patient_id")),
            masker.person(row.get("prescriber_id")), row.get("quantity"), row.get("fund_amount"),
            masker.text(row.get("settlement_id") or ""), row.get("event_id"),
            "yes" if row.get("event_id") in proving else "", masker.text(row.get("source_file") or ""),
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
            row.get("event_id"), masker.text(key[0]), "" if key[1] is None else key[1], status,
            _STATUS_TEXT[status][0], _STATUS_TEXT[status][1],
            masker.raw_line(found.raw, found.header or None) if found and found.raw else "",
        ])
    return {
        "custody/timeline.csv": _csv_bytes(_TIMELINE_HEADER, timeline),
        "custody/timeline.md": _timeline_md(codes, rows, masker, case, proving).encode("utf-8"),
        "source_rows.csv": _csv_bytes(
            ["event_id", "source_file", "source_line", "status", "状态", "status_text", "raw"], source_rows
        ),
    }


def _rule_files(case: CaseData, ring: dict) -> dict[str, bytes]:
    """rules.md, the query files, the SQL rendered with the options, parameters.json."""
    rules = [str(r) for r in ring["rules"]]
    lines = ["# Rules / 规则", ""]
    for rule in rules:
        lines += [f"## {md_code(rule)}", "", f"- 中文：{_md(rule_text(rule, 'zh'))}",
                  f"- English: {_md(rule_text(rule, 'en'))}", ""]
    files = {"rules.md": "\n".join(lines).encode("utf-8")}
    files.update(_query_files(rules))
    rendered, sql_params, note = _rendered_queries(rules, case.analysis)
    files.update(rendered)
    codes = sorted({c for f in ring_findings(case, ring) for c in f["trace_codes"]})
    files["queries/parameters.json"] = dumps(
        {"analysis": case.analysis, "sql_parameters": sql_params, "note": note,
         "ring_id": ring["ring_id"], "rules": rules, "trace_codes": codes},
    ).encode("utf-8")
    return files


def _write_zip(output: Path, files: dict[str, bytes], manifest_bytes: bytes) -> Path:
    """Write the members then MANIFEST.sha256, atomically (temporary file, then rename)."""
    stamp = datetime.now().timetuple()[:6]
    tmp = output.with_name(output.name + ".tmp")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in sorted(files.items()) + [(MANIFEST_NAME, manifest_bytes)]:
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
        tmp.replace(output)
    except OSError as exc:
        raise RxringError(f"{output}: cannot write the evidence package: {exc.strerror or exc}") from exc
    return output


def build_evidence(
    workspace,
    ring_id: str,
    output: str | Path | None = None,
    reveal_pii: bool = False,
    command_line: str | None = None,
    operator: str | None = None,
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
        The command that made the package (default: this process' argv).
    operator : str, optional
        Who reveals (default RXRING_OPERATOR, else the OS user).

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
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if command_line is None:
        command_line = " ".join(["rxring", *sys.argv[1:]])
    tool = {
        "tool": "rxring", "version": __version__, "python": platform.python_version(),
        "platform": platform.platform(), "created_utc": created, "command_line": masker.text(command_line),
        "reveal_pii": bool(reveal_pii), "workspace": masker.text(str(case.workspace.root)),
        "analysis_version": case.analysis.get("version"),
    }
    files: dict[str, bytes] = {}
    files.update(_case_files(case, ring, masker, tool))
    files.update(_custody_files(case, ring, masker, custody))
    files.update(_rule_files(case, ring))
    files["tool.json"] = dumps(tool).encode("utf-8")
    graph = build_ring_graph(case, [ring], lang="zh", masker=masker)
    files["ring.html"] = render_viz(graph, lang="zh", reveal_pii=reveal_pii).encode("utf-8")
    files[INPUTS_NAME] = "".join(
        f"{item.get('sha256') or '-' * 64}  {item['path']}\n" for item in manifest_inputs(case.manifest)
    ).encode("utf-8")
    manifest_bytes = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    ).encode("utf-8")
    output = _write_zip(output, files, manifest_bytes)
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    return EvidencePackage(output, digest, tuple(sorted(files)) + (MANIFEST_NAME,), bool(reveal_pii))
