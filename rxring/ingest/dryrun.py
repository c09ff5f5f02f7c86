"""``rxring ingest --dry-run``: how each input would be read, nothing written.

Every input is read whole by the ingest's own readers and normaliser
(:func:`rxring.ingest.pipeline.input_chunks`, :func:`rxring.ingest.prepared.prepare_chunk`),
so the counts and quarantine reasons are those an ingest would give; nothing is
written anywhere (no workspace is opened).  Per file: the format, per table the
header -> column mapping and where each came from (``alias`` table or the user's
``map``), the headers left unmapped with their nearest columns, the event-type
values seen and what they become, five sample events, what would go to quarantine
and why (counts per reason, a few lines each), and a column map to start from
(:func:`rxring.ingest.suggest.toml_snippet`) when something was not recognised.
Personal ids in samples and quarantine examples are masked.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..digests import sha256_file
from .accounting import FileReport
from .aliases import EVENT_TYPE_ALIASES, normalise_header
from .columnmap import MAP_COLUMNS, ColumnMap, load_column_map
from .formats import FileProblem
from .formats.tabular import TablePlan, masking_header, plan_headers
from .normalise import FileContext
from .pipeline import TABULAR_FORMATS, collect_inputs, input_chunks, map_note
from .prepared import prepare_chunk
from .sniff import limits, sniff
from .suggest import suggest_columns, suggest_event_types, toml_snippet

__all__ = ["dry_run", "format_dry_run", "SAMPLES", "EXAMPLES_PER_REASON"]

SAMPLES = 5
EXAMPLES_PER_REASON = 3
_MAP_NAMES = {"_price": "price", "_prescriber_name": "prescriber_name", "_inv_chg_type": "inv_chg_type"}


def _table_entry(plan: TablePlan, source_file: str) -> dict:
    return {
        "source_file": source_file,
        "kind": plan.kind,
        "mapping": [{"header": h, "column": _MAP_NAMES.get(c, c), "source": plan.sources.get(c, "alias")}
                    for c, h in plan.mapping.items()],
        "unmapped": [{"header": h, "suggestions": [{"column": c, "score": s, "like": a}
                                                   for c, s, a in suggest_columns(h, exclude=plan.mapping)]}
                     for h in plan.unmapped],
        "default_event_type": plan.default_event_type,
        "notes": list(plan.notes),
    }


def _value_counts(records: pa.Table, counts: Counter) -> None:
    if "event_type" not in records.column_names:
        return
    col = records.column("event_type")
    if not pa.types.is_string(col.type):
        col = pc.cast(col, pa.string())
    for item in pc.value_counts(pc.utf8_trim_whitespace(col)).to_pylist():
        if item["values"]:
            counts[item["values"]] += item["counts"]


def _one_file(path: Path, display: str, column_map: ColumnMap | None, samples: int, known: dict) -> dict:
    entry: dict = {"path": display, "format": None, "encoding": None, "status": "would be ingested", "message": "",
                   "tables": [], "read": 0, "accepted": 0, "quarantined": 0, "skipped": 0, "blank": 0,
                   "events": 0, "event_types": [], "samples": [], "quarantine": [], "notes": [],
                   "column_map": None, "suggested_map": None}
    try:
        sha = sha256_file(path)
        sniffed = sniff(path)
    except (OSError, RecursionError, MemoryError, ValueError) as exc:
        entry.update(status="error", message=f"cannot read the file ({type(exc).__name__}: {exc})")
        return entry
    entry["format"], entry["encoding"] = sniffed.format, sniffed.encoding
    previous = known.get(sha)
    if previous is not None:  # what the ingest would say: nothing added
        message = (f"skipped as a duplicate of {previous.get('path')} (same content, SHA-256)"
                   if previous.get("path") != display else map_note(previous, column_map) or "")
        entry.update(status="already ingested", message=message, column_map=previous.get("column_map"))
        return entry
    if sniffed.format in ("empty", "unknown"):
        entry.update(status="empty" if sniffed.format == "empty" else "unknown format", message=sniffed.reason or "")
        return entry
    tabular = sniffed.format in TABULAR_FORMATS
    ctx = FileContext(source_file=display, sha16=sha[:16], column_map=column_map if tabular else None)
    report = FileReport(path=display)
    kinds: Counter = Counter()
    values: Counter = Counter()
    reasons: dict[str, dict] = {}
    sample_tables: list[pa.Table] = []
    taken = 0

    header: list = [None]

    def on_plan(plan: TablePlan, source_file: str) -> None:
        entry["tables"].append(_table_entry(plan, source_file))
        if ctx.column_map is not None:
            header[0] = masking_header(plan, sniffed.delimiter or ",")

    def quarantined(line, reason, raw) -> None:
        slot = reasons.setdefault(reason, {"reason": reason, "count": 0, "examples": []})
        slot["count"] += 1
        if len(slot["examples"]) < EXAMPLES_PER_REASON:
            slot["examples"].append({"source_line": int(line), "raw": raw})

    try:
        for chunk in input_chunks(path, display, sniffed, sha[:16], ctx, report, kinds, fees=None, on_plan=on_plan):
            if chunk.records is not None:
                _value_counts(chunk.records, values)
            item = prepare_chunk(chunk, display, sha[:16])
            entry["blank"] += item.blank
            for _, line, reason, raw in item.rejects:
                quarantined(line, reason, raw)
            entry["read"] += len(item.rejects) + len(item.deletions) + len(item.fee_details) + item.records
            entry["accepted"] += len(item.deletions) + len(item.fee_details)
            entry["quarantined"] += len(item.rejects)
            skipped = sum(item.skipped.values())
            entry["read"] += skipped
            entry["skipped"] += skipped
            if item.master is not None:
                entry["read"] += len(item.master[1])
                entry["accepted"] += len(item.master[1])
            if item.events is not None:
                entry["accepted"] += item.events.num_rows
                entry["events"] += item.events.num_rows
                entry["quarantined"] += len(item.quarantine)
                for line, reason, raw in item.quarantine[["source_line", "reason", "raw"]].itertuples(index=False):
                    quarantined(line, reason, raw)
                if taken < samples and item.events.num_rows:
                    piece = item.events.slice(0, samples - taken)
                    sample_tables.append(piece)
                    taken += piece.num_rows
            for note in item.notes:
                if note not in report.notes:
                    report.notes.append(note)
    except FileProblem as exc:
        entry.update(status="unknown format" if exc.unknown else "error", message=str(exc))
        entry.update(read=0, accepted=0, quarantined=0, skipped=0, events=0)
        reasons.clear()
        values.clear()
        sample_tables.clear()
        if tabular and not entry["tables"]:
            entry["tables"] = [_table_entry(plan, source) for source, plan in plan_headers(path, sniffed, column_map)]
        if tabular:
            _suggested_values(path, display, sniffed, sha, entry["tables"], column_map, values)
    except Exception as exc:  # noqa: BLE001 - reported like the ingest reports it
        entry.update(status="error", message=f"the file could not be read ({type(exc).__name__}: {str(exc)[:200]})")
    entry["notes"] = list(report.notes)
    entry["event_types"] = _event_types(values, column_map if tabular else None)
    entry["samples"] = _samples(sample_tables)
    entry["quarantine"] = _masked_reasons(display, reasons, header[0])
    if tabular and column_map is not None:
        entry["column_map"] = {"path": column_map.path, "sha256": column_map.sha256}
    unknown_headers = {u["header"]: [(s["column"], s["score"], s["like"]) for s in u["suggestions"]]
                       for table in entry["tables"] for u in table["unmapped"]}
    unknown_values = {v["value"]: [(s["event_type"], s["score"], s["like"]) for s in v["suggestions"]]
                      for v in entry["event_types"] if v["event_type"] is None}
    needs_map = entry["status"] != "would be ingested" or unknown_values or any(
        u for u in unknown_headers.values())
    if tabular and needs_map and (unknown_headers or unknown_values):
        entry["suggested_map"] = toml_snippet(unknown_headers, unknown_values, note=f"suggested for {display}")
    return entry


def _suggested_values(path, display, sniffed, sha: str, tables: list[dict], column_map, values: Counter) -> None:
    """The event-type values of a file no plan could be made for, read (first chunk only) as if the
    suggestions were taken, so the suggested map can name them too.  Nothing is counted from it."""
    chosen: dict[str, str] = dict(column_map.columns) if column_map is not None else {}
    taken = set(chosen.values())
    for table in tables:
        taken |= {MAP_COLUMNS.get(m["column"], m["column"]) for m in table["mapping"]}
        for u in table["unmapped"]:
            if u["suggestions"]:
                column = MAP_COLUMNS[u["suggestions"][0]["column"]]
                if column not in taken:
                    chosen[normalise_header(u["header"])] = column
                    taken.add(column)
    if not chosen or "event_type" not in taken:
        return
    trial = ColumnMap(path="(suggested)", sha256="", text="", columns=chosen,
                      default_site_id=(column_map.default_site_id if column_map is not None else None) or "?",
                      untyped_are_sales=True)
    ctx = FileContext(source_file=display, sha16=sha[:16], column_map=trial)
    try:
        for chunk in input_chunks(path, display, sniffed, sha[:16], ctx, FileReport(path=display), Counter()):
            if chunk.records is not None and chunk.records.num_rows:
                _value_counts(chunk.records, values)
                break
    except Exception:  # noqa: BLE001 - only suggestions; the file's own problem is reported
        return


def _event_types(values: Counter, column_map: ColumnMap | None) -> list[dict]:
    out = []
    for value, count in values.most_common():
        key = value.strip().lower()
        if column_map is not None and key in column_map.event_types:
            etype, source = column_map.event_types[key], "map"
        else:
            etype, source = EVENT_TYPE_ALIASES.get(key), "alias"
        row = {"value": value, "count": count, "event_type": etype, "source": source if etype else None,
               "suggestions": []}
        if etype is None:
            row["suggestions"] = [{"event_type": t, "score": s, "like": a} for t, s, a in suggest_event_types(value)]
        out.append(row)
    return out


def _samples(tables: list[pa.Table]) -> list[dict]:
    if not tables:
        return []
    from ..pii import mask_frame  # rxring.pii reads the ingest header aliases: imported when used
    from ..schema import EVENT_SCHEMA

    frame = pa.concat_tables([t.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA) for t in tables]).to_pandas()
    frame = mask_frame(frame)
    keep = ["source_line", "event_type", "event_time", "site_id", "trace_code", "product_code", "quantity",
            "patient_id", "settlement_id", "total_amount", "fund_amount"]
    rows = []
    for record in frame[keep].to_dict("records"):
        rows.append({k: (None if v is None or (not isinstance(v, str) and v != v) else
                         str(v) if k == "event_time" else v) for k, v in record.items()})
    return rows


def _masked_reasons(display: str, reasons: dict[str, dict], header: str | None = None) -> list[dict]:
    if not reasons:
        return []
    from ..pii import mask_quarantine_rows

    out = []
    for slot in sorted(reasons.values(), key=lambda s: -s["count"]):
        rows = [(display, e["source_line"], slot["reason"], e["raw"]) for e in slot["examples"]]
        masked = mask_quarantine_rows(rows, header=header)
        out.append({"reason": masked[0][2] if masked else slot["reason"], "count": slot["count"],
                    "examples": [{"source_line": r[1], "raw": r[3]} for r in masked]})
    return out


def dry_run(paths, column_map=None, samples: int = SAMPLES, workspace=None) -> list[dict]:
    """How each input would be read by ``rxring ingest`` (with ``column_map``); nothing is written.

    With ``workspace`` (an existing one; only its manifest is read), a file whose content the
    workspace already holds is reported "already ingested", as the ingest would report it.

    Returns
    -------
    list of dict
        One per input file: path, format, encoding, status, message, tables (mapping with
        sources, unmapped headers with suggestions), read / accepted / quarantined /
        skipped / blank / events, event_types, samples (masked), quarantine (reason, count,
        masked examples), notes, column_map (path, sha256) and suggested_map (TOML or None).
    """
    paths = list(paths)
    if not paths:
        from ..errors import RxringError

        raise RxringError("no input given: name files or folders to look at")
    limits()
    if column_map is not None and not isinstance(column_map, ColumnMap):
        column_map = load_column_map(column_map)
    known: dict = {}
    if workspace is not None and (Path(workspace) / "manifest.json").is_file():
        from ..workspace import Workspace

        known = {e.get("sha256"): e for e in Workspace(workspace).manifest().get("inputs", [])}
    out = []
    for path, display, problem in collect_inputs(paths, skip=Path(workspace) if workspace is not None else None):
        if problem is not None:
            out.append({"path": display, "status": "error", "message": problem, "tables": [], "samples": [],
                        "quarantine": [], "event_types": [], "notes": [], "suggested_map": None})
            continue
        out.append(_one_file(path, display, column_map, samples, known))
    return out


# ---------------------------------------------------------------- text

def format_dry_run(files: list[dict], column_map_path: str | None = None) -> str:
    """The dry run's report for a terminal (Chinese labels first, English beside)."""
    lines: list[str] = []
    for f in files:
        lines.append(f"== 文件 file: {f['path']}")
        fmt = f.get("format") or "?"
        if f.get("encoding"):
            fmt += f"/{f['encoding']}"
        lines.append(f"格式 format: {fmt}    状态 status: {f['status']}" + (f": {f['message']}" if f.get("message") else ""))
        if f.get("column_map"):
            lines.append(f"列映射文件 column map: {f['column_map']['path']} (SHA-256 {f['column_map']['sha256'][:12]})")
        for table in f.get("tables", []):
            if len(f.get("tables", [])) > 1 or table["source_file"] != f["path"]:
                lines.append(f"-- 表 table: {table['source_file']}")
            lines.append(f"表类型 table kind: {table['kind']}")
            lines.append("列映射 column mapping (表头 header -> 列 column, 来源 from):")
            width = max((len(m["header"]) for m in table["mapping"]), default=0)
            for m in table["mapping"]:
                source = "映射文件 map" if m["source"] == "map" else "别名表 alias"
                lines.append(f"  {m['header'].ljust(width)} -> {m['column']:<15} [{source}]")
            if table["unmapped"]:
                lines.append("未映射表头 unmapped headers (最接近 nearest):")
                for u in table["unmapped"]:
                    near = ", ".join(f"{s['column']} ({s['score']:.2f}, like {s['like']})" for s in u["suggestions"])
                    lines.append(f"  {u['header']}: {near or '无建议 no suggestion'}")
            for note in table["notes"]:
                lines.append(f"说明 note: {note}")
        if f.get("event_types"):
            lines.append("业务类型值 event-type values (值 value x 次数 count -> 类型 type):")
            for v in f["event_types"]:
                if v["event_type"]:
                    shown = f"{v['event_type']} [{'映射文件 map' if v['source'] == 'map' else '别名表 alias'}]"
                else:
                    near = ", ".join(f"{s['event_type']} ({s['score']:.2f})" for s in v["suggestions"])
                    shown = "未知 unknown, quarantined" + (f"; 最接近 nearest: {near}" if near else "")
                lines.append(f"  {v['value']} x {v['count']} -> {shown}")
        if "read" in f and f["status"] != "already ingested":
            skipped = f" + 跳过 skipped {f['skipped']}" if f.get("skipped") else ""
            lines.append(f"计数 rows: 读取 read {f['read']} = 接收 accepted {f['accepted']} + 隔离 quarantined "
                         f"{f['quarantined']}{skipped}" + (f"  (空行 blank {f['blank']})" if f.get("blank") else ""))
        if f.get("samples"):
            lines.append(f"样例 sample events (前 first {len(f['samples'])}):")
            for s in f["samples"]:
                parts = [f"line {s['source_line']}", s["event_type"], s["event_time"], f"site {s['site_id']}",
                         s["trace_code"]]
                for key in ("product_code", "patient_id", "settlement_id"):
                    if s.get(key):
                        parts.append(f"{key} {s[key]}")
                parts.append(f"qty {s['quantity']:g}")
                lines.append("  " + "  ".join(str(p) for p in parts))
        if f.get("quarantine"):
            lines.append("将隔离 would be quarantined (原因 reason x 次数 count):")
            for q in f["quarantine"]:
                lines.append(f"  {q['reason']} x {q['count']}")
                for e in q["examples"]:
                    lines.append(f"    line {e['source_line']}: {e['raw'][:160]}")
        for note in f.get("notes", []):
            if not any(note in t["notes"] for t in f.get("tables", [])):
                lines.append(f"说明 note: {note}")
        if f.get("suggested_map"):
            lines.append("建议的列映射 suggested column map (检查后保存 check, save as columns.toml; never applied "
                         "without --columns):")
            lines.extend("  " + line for line in f["suggested_map"].rstrip("\n").split("\n"))
            inputs = f["path"]
            lines.append(f"然后 then: rxring ingest {inputs} --columns columns.toml --dry-run   (再 then without "
                         "--dry-run, with --workspace)")
        lines.append("")
    lines.append("未写入任何内容 nothing was written (dry run)")
    return "\n".join(lines)
