"""CLI: `rxring analyze` and the listings over its results (rings, ring, findings, box, site, patient).

A thin shell over :mod:`rxring.analysis` and :mod:`rxring.results` (which also
chooses where box, site and patient look: the workspace or, with ``--backend
neo4j``, the graph): parse options, call the library, print.  Personal data
(patient and prescriber ids) comes masked from the library calls, in every table
and in ``--json`` output, unless ``--reveal-pii`` is given, which those calls
record (:func:`rxring.reveal.permit_reveal`).
"""

from __future__ import annotations

import click
import pandas as pd

from .. import analysis, results
from ..backends import default_backend
from ..errors import RxringError
from ..schema import RULES
from . import options as opt
from ..reveal import reveal_frame
from .output import cell, echo_json, findings_table, jsonable, records, ring_table, table, tail_cell

__all__ = ["COMMANDS"]

_GRAPH_WORKSPACE = opt.workspace_option(
    required=False, note="Required unless --backend neo4j, which then adds the workspace's findings and rings.")


# ---------------------------------------------------------------- commands


@click.command("analyze")
@click.argument("inputs", nargs=-1, type=click.Path(exists=True))
@opt.workspace
@opt.analysis_options
@opt.analysis_backend
@opt.neo4j_uri
@click.option("--spark-master", metavar="URL", default=None,
              help="Spark master for --backend spark [default: local[*]].")
@opt.progress_option()
@opt.input_limits
@opt.column_map
@opt.limit
@opt.as_json
@opt.reveal_pii
def analyze_command(inputs, workspace, backend, neo4j_uri, spark_master, progress, input_limits, column_map, limit,
                    as_json, reveal_pii, **option_values):
    """Run the rules and find rings: ingest INPUT... (files, folders; none = what the workspace holds).

    Writes findings.parquet, rings.parquet and analysis.json to the workspace and
    prints the rings ranked by score.  The listing commands (rings, ring, findings,
    box, site, patient), report, viz and evidence read these results, whichever
    backend produced them (box, site and patient with --backend neo4j read the
    events from the graph).  With --backend neo4j the rings are also written back
    into the graph (`rxring neo4j run rings`).
    """
    options = opt.options_from_values(option_values)
    if column_map is not None and not inputs:
        raise RxringError("--columns applies to the INPUT files read first; name them (the workspace's files are "
                          "read already)")
    column_map = opt.load_column_map_option(column_map)
    backend = backend or ("neo4j" if neo4j_uri else default_backend())
    backend_options = {"neo4j": neo4j_uri} if backend == "neo4j" else {"spark_master": spark_master} if backend == "spark" else {}
    from ..ingest.sniff import limits_set

    try:
        with limits_set(input_limits):  # for the ingest of INPUT...
            result = analysis.analyze(workspace, backend, options, inputs=list(inputs),
                                      progress=progress and not as_json, column_map=column_map, **backend_options)
    except RxringError:
        if inputs:
            _echo_rejected(workspace, inputs)
        raise
    rings = reveal_frame(result.rings, reveal_pii, workspace, {"rings": "all"})
    report = result.ingest_report
    if as_json:
        payload = {"stats": result.stats, "options": options.to_dict(), "rings": records(rings)}
        if report is not None:
            payload["ingest"] = report.to_dict()
        echo_json(payload)
        return
    if report is not None:
        from .ingest import echo_ingest_summary

        echo_ingest_summary(report, brief=True)
    stats = result.stats
    by_rule = ", ".join(f"{rule} {n}" for rule, n in stats["findings_by_rule"].items())
    click.echo(f"{stats['events_used']:,} events analysed ({stats['events_read']:,} read) in {stats['seconds']} s; "
               f"{stats['findings']:,} findings ({by_rule}); {stats['rings']:,} rings.")
    click.echo(ring_table(rings, limit or None))
    click.echo(f"\nNext: rxring ring R001 -w {workspace}   rxring findings -w {workspace}   rxring report -w {workspace}")


def _echo_rejected(workspace, inputs) -> None:
    """After a failed analyze: the inputs the ingest rejected whole (from the manifest), one error line each."""
    from pathlib import Path

    from ..workspace import Workspace

    try:
        rejected = Workspace(workspace).manifest().get("rejected", [])
    except Exception:  # noqa: BLE001 - only a hint on top of the real error
        return
    roots = [Path(p).resolve() for p in inputs]
    for entry in rejected:
        path = Path(entry.get("abs_path") or entry.get("path", ""))
        if any(path == root or root in path.parents for root in roots):
            click.echo(f"rxring: error: {entry.get('path')}: {entry.get('status')}: {entry.get('reason')}", err=True)


@click.command("rings")
@opt.workspace
@opt.results_backend
@opt.limit
@opt.as_json
@opt.reveal_pii
def rings_command(workspace, backend, limit, as_json, reveal_pii):
    """List the rings of an analysed workspace, ranked by score."""
    workspace = results.open_results(workspace)  # one results generation; warns when stale
    results.require_engine(workspace, backend)
    rings = results.list_rings(workspace, reveal_pii=reveal_pii)
    if as_json:
        echo_json(rings)
    else:
        click.echo(ring_table(rings, limit or None))


def _echo_findings(findings: pd.DataFrame, limit: int) -> None:
    click.echo(findings_table(findings if not limit else findings.head(limit)))
    if limit and len(findings) > limit:
        click.echo(f"… {len(findings) - limit} more findings (use --limit 0 for all)")


@click.command("ring")
@click.argument("ring_id")
@opt.workspace
@opt.results_backend
@opt.limit
@opt.as_json
@opt.reveal_pii
def ring_command(ring_id, workspace, backend, limit, as_json, reveal_pii):
    """Show one ring: members by role, numbers, and the findings that prove it."""
    workspace = results.open_results(workspace)  # one results generation; warns when stale
    results.require_engine(workspace, backend)
    shown = results.ring_report(workspace, ring_id, reveal_pii=reveal_pii)
    ring, findings = shown.ring, shown.findings
    if as_json:
        echo_json({"ring": {k: jsonable(v) for k, v in ring.items()}, "findings": records(findings)})
        return
    click.echo(f"Ring {ring['ring_id']} (rank {ring['rank']}, score {ring['score']:.1f}): {ring['boxes']} boxes, "
               f"{ring['events']} events, fund at risk {ring['fund_at_risk']:,.2f} (total {ring['total_amount']:,.2f}), "
               f"{cell(ring['first_time'])} … {cell(ring['last_time'])}")
    for role, title in (("source_patients", "Source patients"), ("prescribers", "Prescribers"),
                        ("source_sites", "Source sites"), ("laundering_sites", "Laundering sites")):
        click.echo(f"  {title} ({len(ring[role])}): {', '.join(ring[role])}")
    click.echo(f"  Rules: {', '.join(ring['rules'])}\n")
    _echo_findings(findings, limit)


@click.command("findings")
@opt.workspace
@click.option("--rule", type=click.Choice(RULES, case_sensitive=False), help="Only this rule.")
@click.option("--site", help="Only findings involving this site id.")
@click.option("--code", help="Only findings on this trace code.")
@opt.results_backend
@opt.limit
@opt.as_json
@opt.reveal_pii
def findings_command(workspace, rule, site, code, backend, limit, as_json, reveal_pii):
    """List findings (rule, trace code, sites, money, explanation), optionally filtered."""
    workspace = results.open_results(workspace)  # one results generation; warns when stale
    results.require_engine(workspace, backend)
    findings = results.list_findings(workspace, rule=rule, site=site, code=code, reveal_pii=reveal_pii)
    if as_json:
        echo_json(findings)
        return
    _echo_findings(findings, limit)


_BOX_TABLE = [("event_time", "time"), ("event_type", "type"), ("site_id", "site"), ("patient_id", "patient"),
              ("quantity", "qty"), ("settlement_id", "settlement"), ("fund_amount", "fund"), ("where", "source"),
              ("note", "note")]

_EVENT_TABLE = [("event_time", "time"), ("event_type", "type"), ("trace_code", "trace code"), ("site_id", "site"),
                ("patient_id", "patient"), ("prescriber_id", "prescriber"), ("fund_amount", "fund"),
                ("where", "source"), ("note", "note")]


def _event_rows(timeline: pd.DataFrame, limit: int) -> list[dict]:
    rows = []
    for event in timeline.to_dict("records"):
        where = tail_cell(f"{event['source_file']}:{event['source_line']}", limit) if event.get("source_file") else ""
        rows.append({**event, "where": where, "quantity": f"{event['quantity']:g}" if pd.notna(event["quantity"]) else ""})
    return rows


@click.command("box")
@click.argument("code")
@_GRAPH_WORKSPACE
@opt.graph_backend
@opt.neo4j_uri
@opt.as_json
@opt.reveal_pii
def box_command(code, workspace, backend, neo4j_uri, as_json, reveal_pii):
    """Chain of custody of one pack: every scan of CODE in time order, with source file and line.

    With --backend neo4j the chain is read from the graph, following
    (:Event)-[:NEXT]->(:Event) from the box's first event; the workspace, when given,
    adds its findings on CODE.
    """
    workspace = results.open_results(workspace)
    box = results.box_report(workspace, code, backend, neo4j_uri, reveal_pii=reveal_pii)
    events, findings = box.events, box.findings
    if as_json:
        echo_json({"trace_code": box.trace_code, "backend": box.backend, "events": records(events),
                   "findings": [] if findings is None else records(findings)})
        return
    source = f" (chain of custody in Neo4j at {box.where})" if box.backend == "neo4j" else ""
    click.echo(f"Trace code {box.trace_code}: {len(events)} events{source}")
    click.echo(table(_event_rows(events, 60), _BOX_TABLE, limit=60))
    if findings is not None and len(findings):
        click.echo("")
        click.echo(findings_table(findings))


def _show_entity(kind: str, key: str, workspace, backend, neo4j_uri, limit, as_json: bool, reveal_pii: bool) -> None:
    """site / patient: the graph's events with --backend neo4j, and the workspace's findings and rings."""
    workspace = results.open_results(workspace)
    found = results.entity_report(kind, key, workspace, backend, neo4j_uri, limit=limit, reveal_pii=reveal_pii)
    shown_key, findings, rings = found.key, found.findings, found.rings
    if found.backend != "neo4j":
        if as_json:
            echo_json({kind: shown_key, "rings": records(rings), "findings": records(findings)})
            return
        click.echo(f"{kind.capitalize()} {shown_key}: {len(findings)} findings, {len(rings)} rings\n")
        click.echo(ring_table(rings))
        click.echo("")
        click.echo(findings_table(findings))
        return
    events, summary = found.events, found.summary
    if as_json:
        payload = {kind: shown_key, "backend": "neo4j", "events": records(events)}
        if summary is not None:
            payload["summary"] = {k: jsonable(v) for k, v in summary.items()}
        if findings is not None:
            payload.update(rings=records(rings), findings=records(findings))
        echo_json(payload)
        return
    if summary is not None:
        facts = ", ".join(f"{k} {summary[k]}" for k in ("name", "kind", "chain", "region") if summary.get(k))
        click.echo(f"Site {shown_key}{' (' + facts + ')' if facts else ''}: {summary['events']:,} events "
                   f"({', '.join(summary['event_types'])}), {cell(summary['first_time'])} … "
                   f"{cell(summary['last_time'])}; in Neo4j at {found.where}")
        if limit and summary["events"] > len(events):
            click.echo(f"The latest {len(events)} events (use --limit 0 for all):")
    else:
        click.echo(f"Patient {shown_key}: {len(events)} events in Neo4j at {found.where}")
    click.echo(table(_event_rows(events, 40), _EVENT_TABLE, limit=40))
    if findings is not None:
        click.echo(f"\n{len(findings)} findings, {len(rings)} rings in {workspace}\n")
        click.echo(ring_table(rings))
        click.echo("")
        click.echo(findings_table(findings))


@click.command("site")
@click.argument("site_id")
@_GRAPH_WORKSPACE
@opt.graph_backend
@opt.neo4j_uri
@opt.limit
@opt.as_json
@opt.reveal_pii
def site_command(site_id, workspace, backend, neo4j_uri, limit, as_json, reveal_pii):
    """Findings and rings that involve one site (pharmacy or hospital code).

    With --backend neo4j: the site's events in the graph (counts, and the latest
    --limit events), then the workspace's findings and rings when it is given.
    """
    _show_entity("site", site_id, workspace, backend, neo4j_uri, limit, as_json, reveal_pii)


@click.command("patient")
@click.argument("patient_id")
@_GRAPH_WORKSPACE
@opt.graph_backend
@opt.neo4j_uri
@opt.limit
@opt.as_json
@opt.reveal_pii
def patient_command(patient_id, workspace, backend, neo4j_uri, limit, as_json, reveal_pii):
    """Findings and rings that involve one patient (psn_no; printed masked).

    With --backend neo4j: the events the graph links to the patient ((:Event)-[:TO]->(:Patient)),
    then the workspace's findings and rings when it is given.
    """
    _show_entity("patient", patient_id, workspace, backend, neo4j_uri, limit, as_json, reveal_pii)


COMMANDS: list = [analyze_command, rings_command, ring_command, findings_command, box_command, site_command,
                  patient_command]
