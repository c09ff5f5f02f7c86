"""CLI: `rxring analyze` and the listings over its results (rings, ring, findings, box, site, patient).

A thin shell over :mod:`rxring.analysis` and :mod:`rxring.results` (and, for ``--backend neo4j`` on box, site
and patient, :mod:`rxring.backends.neo4j.listing`): parse options, call the library,
print.  Personal data (patient and prescriber ids) is masked in every table and in
``--json`` output unless ``--reveal-pii`` is given.
"""

from __future__ import annotations

import dataclasses
import json
import math
import unicodedata

import click
import pandas as pd

from .. import analysis, results
from ..backends import BACKENDS, default_backend
from ..errors import RxringError
from ..options import AnalysisOptions
from ..report.pii import mask_value
from ..schema import RULES

__all__ = ["COMMANDS", "mask_frame", "mask_id", "ring_table"]

_PEOPLE_COLUMNS = ("patients", "source_patients", "prescribers", "source_prescribers",
                   "patient_id", "prescriber_id", "pharmacist_id")

_DEFAULTS = AnalysisOptions()


def mask_id(value) -> str:
    """Mask a personal id for display (:func:`rxring.report.pii.mask_value`); '' for a missing value.

    Examples
    --------
    >>> mask_id("PSN1234567890")
    'PSN********90'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return mask_value(value)


def mask_frame(frame: pd.DataFrame, reveal: bool, columns=_PEOPLE_COLUMNS) -> pd.DataFrame:
    """Return ``frame`` with the personal ids in ``columns`` (scalars or lists) masked, unless ``reveal``."""
    if reveal:
        return frame
    out = frame.copy()
    for column in columns:
        if column in out.columns:
            out[column] = out[column].map(
                lambda v: [mask_id(x) for x in v] if isinstance(v, (list, tuple)) else (mask_id(v) if v is not None and not pd.isna(v) else v))
    return out


def _jsonable(value):
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _jsonable(value.tolist())
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _echo_json(payload) -> None:
    if isinstance(payload, pd.DataFrame):
        payload = [{k: _jsonable(v) for k, v in row.items()} for row in payload.to_dict("records")]
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]


# ---------------------------------------------------------------- plain tables


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value, limit: int = 48) -> str:
    if isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value[:3]) + (f" +{len(value) - 3}" if len(value) > 3 else "")
    elif isinstance(value, float):
        text = "" if math.isnan(value) else f"{value:,.2f}"
    elif isinstance(value, pd.Timestamp):
        text = "" if pd.isna(value) else value.strftime("%Y-%m-%d %H:%M")
    elif value is None or value is pd.NA or value is pd.NaT:
        text = ""
    else:
        text = str(value)
    return text if _width(text) <= limit else text[: limit - 1] + "…"


def _table(rows: list[dict], columns: list[tuple[str, str]], limit: int = 48) -> str:
    if not rows:
        return "(none)"
    cells = [[_cell(row.get(key), limit) for key, _ in columns] for row in rows]
    widths = [max(_width(title), *(_width(c[i]) for c in cells)) for i, (_, title) in enumerate(columns)]

    def line(values):
        return "  ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths)).rstrip()

    out = [line([title for _, title in columns]), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    return "\n".join(out)


_RING_TABLE = [("rank", "#"), ("ring_id", "ring"), ("score", "score"), ("boxes", "boxes"), ("fund_at_risk", "fund at risk"),
               ("n_patients", "src patients"), ("n_prescribers", "prescribers"), ("source_sites", "source sites"),
               ("laundering_sites", "laundering sites"), ("period", "period"), ("rules", "rules")]


def _ring_rows(rings: pd.DataFrame) -> list[dict]:
    rows = []
    for ring in rings.to_dict("records"):
        period = f"{_cell(ring['first_time'])[:10]}…{_cell(ring['last_time'])[:10]}"
        rows.append({**ring, "n_patients": len(ring["source_patients"]), "n_prescribers": len(ring["prescribers"]),
                     "period": period, "score": f"{ring['score']:.1f}"})
    return rows


def ring_table(rings: pd.DataFrame, limit: int | None = None) -> str:
    """The ranked ring table as printed by `rxring analyze` and `rxring rings` (ids masked by the caller)."""
    shown = rings if limit is None else rings.head(limit)
    text = _table(_ring_rows(shown), _RING_TABLE, limit=40)
    if limit is not None and len(rings) > limit:
        text += f"\n… {len(rings) - limit} more rings (use --limit 0 for all)"
    return text


_FINDING_TABLE = [("finding_id", "finding"), ("sites", "sites"), ("fund_amount", "fund"),
                  ("first_time", "first"), ("explanation", "explanation")]


def _findings_table(findings: pd.DataFrame) -> str:
    return _table(findings.to_dict("records"), _FINDING_TABLE, limit=140)


# ---------------------------------------------------------------- options

_workspace = click.option("--workspace", "-w", required=True, envvar="RXRING_WORKSPACE",
                          type=click.Path(file_okay=False), help="Workspace folder [env RXRING_WORKSPACE].")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table (for scripts).")
_reveal = click.option("--reveal-pii", is_flag=True, help="Show patient and prescriber ids unmasked.")
_workspace_for_graph = click.option(
    "--workspace", "-w", envvar="RXRING_WORKSPACE", type=click.Path(file_okay=False),
    help="Workspace folder [env RXRING_WORKSPACE]; required unless --backend neo4j, which then adds the "
         "workspace's findings and rings.")
_results_backend = click.option(
    "--backend", type=click.Choice(["embedded", "neo4j", "spark"]), default=None,
    help="Insist that the results come from this backend: they are the workspace's findings.parquet and "
         "rings.parquet, written by the last `rxring analyze`; with neo4j, those of `rxring analyze --backend "
         "neo4j` (the Cypher rules run on the server), else an error. [default: whichever backend analysed "
         "the workspace]")
_graph_backend = click.option(
    "--backend", type=click.Choice(["embedded", "neo4j"]), default=None,
    help="Where to look: embedded reads the workspace's Parquet files; neo4j queries the graph on the server "
         "of --neo4j / NEO4J_URI / `rxring neo4j start` (load it with `rxring load`). "
         "[default: neo4j when NEO4J_URI or --neo4j is set, else embedded]")
_neo4j_option = click.option(
    "--neo4j", "neo4j_uri", metavar="URI", default=None,
    help="Bolt URI for --backend neo4j [env NEO4J_URI; user, password and database from NEO4J_USER, "
         "NEO4J_PASSWORD, NEO4J_DATABASE].")
_limit = click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
                      help="Rows to print in tables (0 = all; --json prints all).")


def _analysis_options(func):
    """Every AnalysisOptions field as a CLI option, defaults shown in --help."""
    d = _DEFAULTS
    decorators = [
        click.option("--double-scan-minutes", type=click.FloatRange(min=0), default=d.double_scan_minutes, show_default=True,
                     help="Without a settlement id, two scans of one code at one site within this many minutes are one sale."),
        click.option("--provenance-min-coverage", type=click.FloatRange(0, 1), default=d.provenance_min_coverage,
                     show_default=True, help="NO_PROVENANCE: judge only sites with inbound records for this share of sold codes."),
        click.option("--provenance-grace-days", type=click.FloatRange(min=0), default=d.provenance_grace_days,
                     show_default=True, help="NO_PROVENANCE: ignore sales this many days after a site's first event (old stock)."),
        click.option("--opening-stocktake-days", type=click.FloatRange(min=0), default=d.opening_stocktake_days,
                     show_default=True, help="NO_PROVENANCE: stock-takes this soon after a site's first event list old stock."),
        click.option("--provenance-type", "provenance_types", multiple=True, default=d.provenance_types, show_default=True,
                     type=click.Choice(["inbound", "purchase_return", "dispense", "refund", "transfer_out", "transfer_in",
                                        "adjust", "inventory"]),
                     help="Event types at the site that show it received a pack (repeatable)."),
        click.option("--conflict-min-support", type=click.IntRange(min=1), default=d.conflict_min_support, show_default=True,
                     help="CODE_CONFLICT: codes needed to learn a product part's usual product."),
        click.option("--conflict-min-share", type=click.FloatRange(0, 1, min_open=True), default=d.conflict_min_share,
                     show_default=True, help="CODE_CONFLICT: share of codes the usual product must have."),
        click.option("--seed", type=int, default=d.seed, show_default=True, help="Seed of the ring community detection."),
        click.option("--split-above", type=click.IntRange(min=2), default=d.split_above, show_default=True,
                     help="Split resale-graph components with more members than this (Louvain)."),
        click.option("--min-modularity", type=click.FloatRange(-0.5, 1), default=d.min_modularity, show_default=True,
                     help="Split a large component only when the Louvain partition reaches this modularity."),
        click.option("--merge-share", type=click.FloatRange(0, 1, min_open=True), default=d.merge_share, show_default=True,
                     help="Merge a split community that sends at least this share of its box weight to the others."),
        click.option("--louvain-resolution", type=click.FloatRange(min=0, min_open=True), default=d.louvain_resolution,
                     show_default=True, help="Louvain resolution (higher: smaller rings)."),
        click.option("--ring-rule", "ring_rules", multiple=True, default=d.ring_rules, show_default=True,
                     type=click.Choice(RULES), help="Rules whose findings build rings (repeatable)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


_OPTION_NAMES = tuple(f.name for f in dataclasses.fields(AnalysisOptions))  # one CLI option per field


# ---------------------------------------------------------------- commands


@click.command("analyze")
@click.argument("inputs", nargs=-1, type=click.Path(exists=True))
@_workspace
@_analysis_options
@click.option("--backend", "--engine", "backend", type=click.Choice(BACKENDS), default=None,
              help="Where the rules run: embedded (DuckDB over the workspace, no server), neo4j (loads the "
                   "workspace into the server of --neo4j / NEO4J_URI / `rxring neo4j start` and runs the "
                   "Cypher rules), spark (Spark SQL, see --spark-master). Same findings on all three. "
                   "[default: neo4j when NEO4J_URI is set, else embedded]")
@click.option("--neo4j", "neo4j_uri", metavar="URI", default=None,
              help="Bolt URI for --backend neo4j [env NEO4J_URI; user, password and database from "
                   "NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE].")
@click.option("--spark-master", metavar="URL", default=None,
              help="Spark master for --backend spark [default: local[*]].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
@_limit
@_json
@_reveal
def analyze_command(inputs, workspace, backend, neo4j_uri, spark_master, progress, limit, as_json, reveal_pii,
                    **option_values):
    """Run the rules and find rings: ingest INPUT... (files, folders; none = what the workspace holds).

    Writes findings.parquet, rings.parquet and analysis.json to the workspace and
    prints the rings ranked by score.  The listing commands (rings, ring, findings,
    box, site, patient), report, viz and evidence read these results, whichever
    backend produced them (box, site and patient with --backend neo4j read the
    events from the graph).  With --backend neo4j the rings are also written back
    into the graph (`rxring neo4j run rings`).
    """
    options = AnalysisOptions(**{name: option_values[name] for name in _OPTION_NAMES})
    backend = backend or ("neo4j" if neo4j_uri else default_backend())
    backend_options = {"neo4j": neo4j_uri} if backend == "neo4j" else {"spark_master": spark_master} if backend == "spark" else {}
    result = analysis.analyze(workspace, backend, options, inputs=list(inputs), progress=progress and not as_json,
                              **backend_options)
    rings = mask_frame(result.rings, reveal_pii)
    if as_json:
        _echo_json({"stats": result.stats, "options": options.to_dict(), "rings": _records(rings)})
        return
    stats = result.stats
    by_rule = ", ".join(f"{rule} {n}" for rule, n in stats["findings_by_rule"].items())
    click.echo(f"{stats['events_used']:,} events analysed ({stats['events_read']:,} read) in {stats['seconds']} s; "
               f"{stats['findings']:,} findings ({by_rule}); {stats['rings']:,} rings.")
    click.echo(ring_table(rings, limit or None))
    click.echo(f"\nNext: rxring ring R001 -w {workspace}   rxring findings -w {workspace}   rxring report -w {workspace}")




@click.command("rings")
@_workspace
@_results_backend
@_limit
@_json
@_reveal
def rings_command(workspace, backend, limit, as_json, reveal_pii):
    """List the rings of an analysed workspace, ranked by score."""
    results.require_engine(workspace, backend)
    rings = mask_frame(results.load_rings(workspace), reveal_pii)
    if as_json:
        _echo_json(rings)
    else:
        click.echo(ring_table(rings, limit or None))


@click.command("ring")
@click.argument("ring_id")
@_workspace
@_results_backend
@_limit
@_json
@_reveal
def ring_command(ring_id, workspace, backend, limit, as_json, reveal_pii):
    """Show one ring: members by role, numbers, and the findings that prove it."""
    results.require_engine(workspace, backend)
    rings = results.load_rings(workspace)
    match = rings[rings["ring_id"].str.upper() == ring_id.upper()]
    if match.empty:
        raise RxringError(f"no ring {ring_id} in {workspace}; `rxring rings -w {workspace}` lists them")
    ring = mask_frame(match, reveal_pii).iloc[0].to_dict()
    findings = results.load_findings(workspace)
    findings = mask_frame(findings[findings["finding_id"].isin(ring["finding_ids"])], reveal_pii)
    if as_json:
        _echo_json({"ring": {k: _jsonable(v) for k, v in ring.items()}, "findings": _records(findings)})
        return
    click.echo(f"Ring {ring['ring_id']} (rank {ring['rank']}, score {ring['score']:.1f}): {ring['boxes']} boxes, "
               f"{ring['events']} events, fund at risk {ring['fund_at_risk']:,.2f} (total {ring['total_amount']:,.2f}), "
               f"{_cell(ring['first_time'])} … {_cell(ring['last_time'])}")
    for role, title in (("source_patients", "Source patients"), ("prescribers", "Prescribers"),
                        ("source_sites", "Source sites"), ("laundering_sites", "Laundering sites")):
        click.echo(f"  {title} ({len(ring[role])}): {', '.join(ring[role])}")
    click.echo(f"  Rules: {', '.join(ring['rules'])}\n")
    click.echo(_findings_table(findings if not limit else findings.head(limit)))
    if limit and len(findings) > limit:
        click.echo(f"… {len(findings) - limit} more findings (use --limit 0 for all)")


@click.command("findings")
@_workspace
@click.option("--rule", type=click.Choice(RULES, case_sensitive=False), help="Only this rule.")
@click.option("--site", help="Only findings involving this site id.")
@click.option("--code", help="Only findings on this trace code.")
@_results_backend
@_limit
@_json
@_reveal
def findings_command(workspace, rule, site, code, backend, limit, as_json, reveal_pii):
    """List findings (rule, trace code, sites, money, explanation), optionally filtered."""
    results.require_engine(workspace, backend)
    findings = results.findings_for(results.load_findings(workspace), rule=rule, site=site,
                                     code=results.canonical_code(code) if code else None)
    findings = mask_frame(findings, reveal_pii)
    if as_json:
        _echo_json(findings)
        return
    shown = findings if not limit else findings.head(limit)
    click.echo(_findings_table(shown))
    if limit and len(findings) > limit:
        click.echo(f"… {len(findings) - limit} more findings (use --limit 0 for all)")


_BOX_TABLE = [("event_time", "time"), ("event_type", "type"), ("site_id", "site"), ("patient_id", "patient"),
              ("quantity", "qty"), ("settlement_id", "settlement"), ("fund_amount", "fund"), ("where", "source"),
              ("note", "note")]


def _graph_backend_of(backend: str | None, neo4j_uri: str | None) -> str:
    if backend:
        return backend
    return "neo4j" if neo4j_uri else default_backend()


def _need_workspace(workspace, backend: str) -> None:
    if workspace is None and backend != "neo4j":
        raise RxringError("--workspace (or RXRING_WORKSPACE) is required unless --backend neo4j is given")


def _graph(neo4j_uri: str | None):
    """(config, open driver) of the Neo4j server to query."""
    from ..backends.neo4j.connect import connect, resolve_config

    config = resolve_config(neo4j_uri)
    return config, connect(config)


def _event_rows(timeline: pd.DataFrame) -> list[dict]:
    rows = []
    for event in timeline.to_dict("records"):
        where = f"{event['source_file']}:{event['source_line']}" if event.get("source_file") else ""
        rows.append({**event, "where": where, "quantity": f"{event['quantity']:g}" if pd.notna(event["quantity"]) else ""})
    return rows


def _workspace_findings(workspace, **where) -> pd.DataFrame | None:
    """The workspace's findings matching ``where`` (None when there is no workspace or no analysis)."""
    if workspace is None:
        return None
    try:
        return results.findings_for(results.load_findings(workspace), **where)
    except RxringError:
        return None


@click.command("box")
@click.argument("code")
@_workspace_for_graph
@_graph_backend
@_neo4j_option
@_json
@_reveal
def box_command(code, workspace, backend, neo4j_uri, as_json, reveal_pii):
    """Chain of custody of one pack: every scan of CODE in time order, with source file and line.

    With --backend neo4j the chain is read from the graph, following
    (:Event)-[:NEXT]->(:Event) from the box's first event; the workspace, when given,
    adds its findings on CODE.
    """
    backend = _graph_backend_of(backend, neo4j_uri)
    _need_workspace(workspace, backend)
    canonical = results.canonical_code(code)
    source = ""
    if backend == "neo4j":
        from ..backends.neo4j.listing import box_chain

        config, driver = _graph(neo4j_uri)
        with driver:
            timeline = box_chain(driver, canonical, config.database, where=config.describe())
        source = f" (chain of custody in Neo4j at {config.describe()})"
    else:
        timeline = results.box_timeline(workspace, code)
    timeline = mask_frame(timeline, reveal_pii)
    findings = _workspace_findings(workspace, code=canonical)
    if as_json:
        _echo_json({"trace_code": canonical, "backend": backend, "events": _records(timeline),
                    "findings": [] if findings is None else _records(mask_frame(findings, reveal_pii))})
        return
    click.echo(f"Trace code {canonical}: {len(timeline)} events{source}")
    click.echo(_table(_event_rows(timeline), _BOX_TABLE, limit=60))
    if findings is not None and len(findings):
        click.echo("")
        click.echo(_findings_table(mask_frame(findings, reveal_pii)))


_EVENT_TABLE = [("event_time", "time"), ("event_type", "type"), ("trace_code", "trace code"), ("site_id", "site"),
                ("patient_id", "patient"), ("prescriber_id", "prescriber"), ("fund_amount", "fund"),
                ("where", "source"), ("note", "note")]


def _findings_of(kind: str, key: str, findings: pd.DataFrame, rings: pd.DataFrame):
    """The findings and rings that name one site or patient."""
    if kind == "site":
        return results.findings_for(findings, site=key), results.rings_for(rings, site=key)
    found = results.findings_for(findings, patient=key)
    return found, results.rings_for(rings, patient=key, finding_ids=list(found["finding_id"]))


def _who_in_graph(kind: str, key: str, workspace, neo4j_uri, limit, as_json: bool, reveal_pii: bool) -> None:
    """site / patient --backend neo4j: the graph's events, plus the workspace's findings and rings."""
    from ..backends.neo4j.listing import patient_events, site_events

    shown_key = key if kind == "site" or reveal_pii else mask_id(key)
    config, driver = _graph(neo4j_uri)
    summary = None
    with driver:
        if kind == "site":
            summary, events = site_events(driver, key, config.database, limit=limit, where=config.describe())
        else:
            events = patient_events(driver, key, config.database, limit=limit, where=config.describe(),
                                    shown_id=shown_key)
    events = mask_frame(events, reveal_pii)
    found = found_rings = None
    if workspace is not None:
        try:
            findings, rings = results.load_findings(workspace), results.load_rings(workspace)
        except RxringError:
            findings = rings = None
        if findings is not None:
            found, found_rings = _findings_of(kind, key, findings, rings)
            found, found_rings = mask_frame(found, reveal_pii), mask_frame(found_rings, reveal_pii)
    if as_json:
        payload = {kind: shown_key, "backend": "neo4j", "events": _records(events)}
        if summary is not None:
            payload["summary"] = {k: _jsonable(v) for k, v in summary.items()}
        if found is not None:
            payload.update(rings=_records(found_rings), findings=_records(found))
        _echo_json(payload)
        return
    if summary is not None:
        facts = ", ".join(f"{k} {summary[k]}" for k in ("name", "kind", "chain", "region") if summary.get(k))
        click.echo(f"Site {shown_key}{' (' + facts + ')' if facts else ''}: {summary['events']:,} events "
                   f"({', '.join(summary['event_types'])}), {_cell(summary['first_time'])} … "
                   f"{_cell(summary['last_time'])}; in Neo4j at {config.describe()}")
        if limit and summary["events"] > len(events):
            click.echo(f"The latest {len(events)} events (use --limit 0 for all):")
    else:
        click.echo(f"Patient {shown_key}: {len(events)} events in Neo4j at {config.describe()}")
    click.echo(_table(_event_rows(events), _EVENT_TABLE, limit=40))
    if found is not None:
        click.echo(f"\n{len(found)} findings, {len(found_rings)} rings in {workspace}\n")
        click.echo(ring_table(found_rings))
        click.echo("")
        click.echo(_findings_table(found))


def _who(kind: str, key: str, workspace, as_json: bool, reveal_pii: bool) -> None:
    found, found_rings = _findings_of(kind, key, results.load_findings(workspace), results.load_rings(workspace))
    shown_key = key if kind == "site" or reveal_pii else mask_id(key)
    if found.empty and found_rings.empty:
        raise RxringError(f"{kind} {shown_key} appears in no finding of {workspace}")
    found, found_rings = mask_frame(found, reveal_pii), mask_frame(found_rings, reveal_pii)
    if as_json:
        _echo_json({kind: shown_key, "rings": _records(found_rings), "findings": _records(found)})
        return
    click.echo(f"{kind.capitalize()} {shown_key}: {len(found)} findings, {len(found_rings)} rings\n")
    click.echo(ring_table(found_rings))
    click.echo("")
    click.echo(_findings_table(found))


def _show_who(kind: str, key: str, workspace, backend, neo4j_uri, limit, as_json: bool, reveal_pii: bool) -> None:
    """site / patient: from the graph with --backend neo4j, else from the workspace's results."""
    backend = _graph_backend_of(backend, neo4j_uri)
    _need_workspace(workspace, backend)
    if backend == "neo4j":
        _who_in_graph(kind, key, workspace, neo4j_uri, limit, as_json, reveal_pii)
    else:
        _who(kind, key, workspace, as_json, reveal_pii)


@click.command("site")
@click.argument("site_id")
@_workspace_for_graph
@_graph_backend
@_neo4j_option
@_limit
@_json
@_reveal
def site_command(site_id, workspace, backend, neo4j_uri, limit, as_json, reveal_pii):
    """Findings and rings that involve one site (pharmacy or hospital code).

    With --backend neo4j: the site's events in the graph (counts, and the latest
    --limit events), then the workspace's findings and rings when it is given.
    """
    _show_who("site", site_id, workspace, backend, neo4j_uri, limit, as_json, reveal_pii)


@click.command("patient")
@click.argument("patient_id")
@_workspace_for_graph
@_graph_backend
@_neo4j_option
@_limit
@_json
@_reveal
def patient_command(patient_id, workspace, backend, neo4j_uri, limit, as_json, reveal_pii):
    """Findings and rings that involve one patient (psn_no; printed masked).

    With --backend neo4j: the events the graph links to the patient ((:Event)-[:TO]->(:Patient)),
    then the workspace's findings and rings when it is given.
    """
    _show_who("patient", patient_id, workspace, backend, neo4j_uri, limit, as_json, reveal_pii)


COMMANDS: list = [analyze_command, rings_command, ring_command, findings_command, box_command, site_command,
                  patient_command]
