"""CLI commands for ingest (assembled by rxring.cli): ``rxring ingest`` and ``rxring code``."""

from __future__ import annotations

import click

from ..errors import RxringError
from . import options as opt
from .output import echo_json

__all__ = ["COMMANDS", "ingest_command", "code_command", "echo_ingest_summary"]


@click.command("ingest")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=str))
@opt.workspace_option(required=False, note="Created when missing. Required unless --dry-run.")
@opt.progress_option(True, "Progress bar for large files (only on a terminal).")
@click.option("--time-window", "time_window", metavar="START..END", default=None,
              help="Plausible event times, local (Asia/Shanghai) ISO dates or times; rows outside are "
                   "quarantined.  Either side may be empty.  Default: 2000-01-01 .. one year after the "
                   "ingest time, or the environment variable RXRING_TIME_WINDOW (the same as "
                   "--input-limit time-window=START..END).")
@opt.input_limits
@opt.column_map
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Write nothing (no workspace needed; with one, only its manifest is read, to tell the files it holds "
                   "already): per file, the format, how the headers map (alias table "
                   "or --columns), unmapped headers and event-type values with the nearest columns and types, five "
                   "sample events, what would be quarantined and why, and a column map to start from. Personal "
                   "ids are shown masked.")
@opt.as_json
@opt.reveal_pii_option("Keep the personal fields of quarantined rows unmasked in quarantine.csv (the reveal is "
                       "recorded in the workspace's reveals.jsonl).")
def ingest_command(inputs, workspace, progress, time_window, input_limits, column_map, dry_run, as_json, reveal_pii):
    """Read INPUT files or folders into the workspace's canonical events.

    Formats are recognised by content: NHSA messages (JSON / JSON Lines, also
    request/response logs: 进销存 3501-3507 and the batch 3501A-3506A, settlement
    2204/2207/2208, 2301/2304/2305, 2601), GS1 EPCIS 2.0 JSON-LD, CSV/TSV/XLSX
    exports with Chinese or English headers (UTF-8, UTF-8 BOM, GBK, GB18030),
    canonical CSV/Parquet, master tables (sites, products, patients, prescribers);
    plain or .gz.  Rejected rows go to quarantine.csv with file, line and reason;
    every row is accounted for (read = accepted + quarantined + skipped, where a
    row or message listing k codes counts k, and an NHSA message of an interface
    that carries no trace code, such as 9001 sign-in, is skipped and counted by
    infno).  Files already ingested (same SHA-256) add nothing.

    Trace codes written with other scripts' digits (Arabic-Indic, full-width, ...)
    are read as the same code in ASCII digits.  Quantities and money that are not
    finite or absurd (more than 1,000,000 packs or smallest units, more than
    100,000,000 yuan) and event times outside the plausible window (see the
    option below) are quarantined.

    Every file is read within limits (--input-limit or environment variables
    raise them): gzip or XLSX inflating more than 200 times (max-ratio,
    RXRING_MAX_RATIO) or beyond 64 GiB (max-decompressed), a line longer than
    16 MiB (max-line-bytes), JSON nested deeper than 100 levels (max-json-depth),
    a document read whole over 256 MiB (max-document-bytes).  Beyond one, a record
    is quarantined or the file is an error (listed in manifest.json's "rejected",
    read again next time); the other files are read either way.  A FIFO, a broken
    symlink or a second copy of a file is listed too, never opened or read twice.

    An export whose headers or values rxring does not know: `--dry-run` shows how
    it would be read and suggests a column map; `--columns FILE` reads it with
    that map (recorded in manifest.json for each file it applied to).  A file
    already ingested with another map (or none) is not read again; the report
    says so.

    Exit code 0 when something usable was read (or was already in the workspace),
    2 when nothing was (with --dry-run: 0 when every file would give events or be
    accounted for, 2 when some file would be rejected whole).
    """
    from ..ingest import ingest
    from ..ingest.normalise import parse_time_window
    from ..ingest.sniff import limits_set

    assignments = list(input_limits)
    if time_window is not None:
        parse_time_window(time_window)  # a bad window stops here, before anything is read
        assignments.append(f"time-window={time_window}")
    column_map = opt.load_column_map_option(column_map)  # a bad map stops here too
    if dry_run:
        from ..ingest.dryrun import dry_run as look, format_dry_run

        with limits_set(assignments):
            files = look(inputs, column_map, workspace=workspace)
        if as_json:
            echo_json({"dry_run": True, "files": files})
        else:
            click.echo(format_dry_run(files))
        rejected = [f for f in files if f["status"] not in ("would be ingested", "already ingested")]
        if rejected:
            raise RxringError(f"{len(rejected)} of {len(files)} input file(s) would be rejected whole (dry run; "
                              "nothing written)")
        return
    if not workspace:
        raise click.UsageError("Missing option '--workspace' / '-w' (or RXRING_WORKSPACE), needed unless --dry-run.")
    with limits_set(assignments):  # seen by the readers and the normaliser (and its worker processes)
        # the library grants --reveal-pii (unmasked quarantine rows) and records it, once
        report = ingest(inputs, workspace, progress=progress, reveal_pii=reveal_pii, column_map=column_map)
    if as_json:
        echo_json(report.to_dict())
    else:
        echo_ingest_summary(report)
    if not report.usable:
        raise RxringError(f"nothing usable was read from {len(report.files)} input file(s)")


def echo_ingest_summary(report, brief: bool = False) -> None:
    """Print an ingest's accounting: per-file table, notes, totals, quarantine count, the invariant.

    Shared by ``rxring ingest`` and ``rxring analyze INPUT...``.  ``brief`` (analyze):
    one line when every file was read cleanly (nothing quarantined, nothing
    unreadable).  A file rejected whole with an error also gets one
    ``rxring: error: FILE: reason`` line on stderr.
    """
    totals = report.totals()
    if brief and not report.quarantined and not totals["unreadable"] and report.balanced:
        click.echo(f"ingest: {totals['files']} file(s), {report.invariant_line()}")
        return
    click.echo(report.format_table())
    for f in report.files:
        for note in f.notes:
            click.echo(f"note: {f.path}: {note}")
        if f.status == "already ingested":
            click.echo(f"note: {f.path}: already ingested (same SHA-256), nothing added")
    summary = (
        f"{totals['events']} events written, {totals['deletions']} deletion(s), "
        f"{totals['already_ingested']} file(s) already ingested, {totals['unreadable']} unreadable"
    )
    if report.quarantined:
        summary += f"; {report.quarantined} row(s) quarantined in {report.workspace}/quarantine.csv"
    click.echo(summary)
    click.echo(report.invariant_line())
    for f in report.files:
        if f.status == "error":
            click.echo(f"rxring: error: {f.path}: {f.message}", err=True)


@click.command("code")
@click.argument("code")
@opt.json_option("Print the parts as JSON.")
def code_command(code, as_json):
    """Show what a trace CODE contains (Chinese 20-digit code or GS1).

    GS1 codes may be written with brackets, with GS separators (type <GS> or \\x1d),
    with a symbology prefix (]d2, ]C1, ]Q3), or as an SGTIN URI.  Digits of any
    script (Arabic-Indic ٨, Devanagari ८, full-width ８, ...) and full-width letters
    are read as ASCII, exactly as `rxring ingest` reads them.  Exit code 2 and
    the reason when the text cannot be a pack's code.
    """
    from ..ingest.codes import CodeError, parse_code

    try:
        parsed = parse_code(code)
    except CodeError as exc:
        raise RxringError(f"not a valid trace code: {exc}") from None
    parts = parsed.to_dict()
    if as_json:
        echo_json(parts, indent=None)
        return
    labels = {
        "canonical": "canonical",
        "kind": "kind",
        "product": "product (GTIN-14)" if parsed.kind == "gs1" else "product (leading 7 digits)",
        "serial": "serial",
        "expiry": "expiry (AI 17)",
        "lot": "lot (AI 10)",
    }
    width = max(len(v) for v in labels.values())
    for key, label in labels.items():
        value = parts[key]
        if value is None:
            continue
        click.echo(f"{label.ljust(width)}  {value}")


COMMANDS: list = [ingest_command, code_command]
