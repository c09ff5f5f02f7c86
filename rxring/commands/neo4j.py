"""CLI commands for the Neo4j backend: `rxring load` and `rxring neo4j start|stop|status|queries|run|import`.

Thin shells over :mod:`rxring.backends.neo4j.server`, :mod:`rxring.backends.neo4j.connect`
and :mod:`rxring.backends.neo4j.load`.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import RxringError
from . import options as opt
from ..pii import is_personal_key
from ..reveal import reveal_frame
from .output import echo_json, records, table

__all__ = ["COMMANDS"]


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


@click.command("load")
@opt.workspace
@opt.neo4j_uri
@click.option("--user", envvar="NEO4J_USER", help="[env NEO4J_USER; default neo4j]")
@click.option("--password", envvar="NEO4J_PASSWORD", help="[env NEO4J_PASSWORD; prefer the environment]")
@opt.neo4j_database
@click.option("--suspicious-only", is_flag=True,
              help="Load only the packs named in the workspace's findings, with their whole chains and actors.")
@click.option("--batch-size", default=10000, show_default=True, type=click.IntRange(min=1),
              help="Events per transaction.")
@click.option("--writers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Concurrent write transactions of a first load (into a database without events).")
@click.option("--restart", is_flag=True,
              help="Write every batch again, ignoring the progress an earlier load of this workspace recorded.")
@opt.progress_option(None, "Progress bar on stderr.")
def load_command(workspace, neo4j_uri, user, password, database, suspicious_only, batch_size, writers, restart,
                 progress):
    """Load a workspace into Neo4j (idempotent; run again to resume an interrupted load).

    Creates constraints and indexes, then writes Box, Site, Patient, Prescriber,
    Product and Event nodes with OF, AT, TO, BY, NEXT and IS relationships
    (DESIGN §4) in batches.  Into a database without events each batch creates
    whole boxes with their events, relationships and custody chain; into one that
    has some, batches of UNWIND + MERGE keyed on ids.
    """
    from ..backends.neo4j.connect import resolve_config
    from ..backends.neo4j.load import load_workspace

    config = resolve_config(neo4j_uri, user, password, database)
    if progress is None:
        progress = sys.stderr.isatty()
    report = load_workspace(config, workspace, suspicious_only=suspicious_only, batch_size=batch_size,
                            progress=progress, restart=restart, writers=writers)
    what = "suspicious packs' events" if suspicious_only else "events"
    click.echo(f"loaded {report.events:,} {what} into {config.describe()} in {report.seconds:.1f}s "
               f"({report.events_per_second:,.0f} events/s; {report.batches} batches written, "
               f"{report.skipped_batches} already done)")
    click.echo("nodes: " + ", ".join(f"{k} {v:,}" for k, v in report.nodes.items()))
    click.echo("relationships: " + ", ".join(f"{k} {v:,}" for k, v in report.relationships.items()))
    click.echo(f"next: rxring analyze --backend neo4j -w {workspace}   (the Cypher rules; then "
               "`rxring neo4j run rings`)")
    others = report.nodes.get("Event", 0) - report.events
    if others > 0:
        _echo_err(f"note: the database also holds {others:,} events that are not this workspace's; the Cypher rules "
                  "judge every event in it (use an empty database to analyse this workspace alone)")


@click.group("neo4j")
def neo4j_group():
    """A local Neo4j Community 5.26 server for rxring (downloaded from Maven Central once).

    Not needed when NEO4J_URI points at your own server.
    """


_INSTANCE = click.option("--instance", default="default", show_default=True,
                         help="Name of the local server (each has its own data, ports and password).")
_LOCAL = click.option("--local", is_flag=True,
                      help="Manage the local server even when NEO4J_URI names another one.")


def _external_server() -> str | None:
    """NEO4J_URI, when it names the server to use instead of a local one."""
    return os.environ.get("NEO4J_URI") or None


def _describe_external(uri: str) -> None:
    from ..backends.neo4j.connect import connect, resolve_config

    config = resolve_config()
    with connect(config) as driver:
        agent = driver.get_server_info().agent
    click.echo(f"NEO4J_URI={uri} is set: rxring uses that server ({agent}, answering); nothing to manage here "
               "(--local to manage rxring's own server)")


@neo4j_group.command("start")
@_INSTANCE
@_LOCAL
@click.option("--heap-mb", type=click.IntRange(min=256), help="JVM heap [env RXRING_NEO4J_HEAP_MB; 768].")
@click.option("--pagecache-mb", type=click.IntRange(min=64), help="Page cache [env RXRING_NEO4J_PAGECACHE_MB; 384].")
def start_command(instance, local, heap_mb, pagecache_mb):
    """Start the local server (or report the one already running).

    Prints the Bolt URI and where the generated password is stored; `rxring load`
    and `--backend neo4j` find it without any environment variables.  When NEO4J_URI
    is set, checks that server instead and starts nothing.  Other Neo4j settings go in
    RXRING_NEO4J_SETTINGS ("name=value; name=value"), JVM options in RXRING_JAVA_OPTIONS.
    """
    from ..backends.neo4j.server import start_server

    if _external_server() and not local:
        _describe_external(_external_server())
        return

    state = start_server(instance, heap_mb=heap_mb, pagecache_mb=pagecache_mb, log=_echo_err)
    click.echo(f"NEO4J_URI={state.uri}")
    click.echo(f"NEO4J_USER={state.user}")
    click.echo(f"# password: \"password\" in {state.state_path} (mode 0600); browser/HTTP API: {state.http_uri}")


@neo4j_group.command("stop")
@_INSTANCE
@_LOCAL
@click.option("--delete-data", is_flag=True, help="Also delete the server's database files.")
def stop_command(instance, local, delete_data):
    """Stop the local server (never a server named by NEO4J_URI)."""
    from ..backends.neo4j.server import stop_server

    if _external_server() and not local:
        raise RxringError(f"NEO4J_URI={_external_server()} names a server rxring does not manage; "
                          "stop it yourself (or pass --local to stop rxring's own server)")

    was_running = stop_server(instance, delete_data=delete_data)
    click.echo(f"Neo4j instance {instance!r} " + ("stopped" if was_running else "was not running")
               + (" (data deleted)" if delete_data else ""))


@neo4j_group.command("status")
@_INSTANCE
@_LOCAL
def status_command(instance, local):
    """Is the server running, where, and where is its password stored (exit 1 if not running).

    With NEO4J_URI set, checks that server (exit 2 with the reason if it does not answer).
    """
    from ..backends.neo4j.server import server_status

    if _external_server() and not local:
        _describe_external(_external_server())
        return

    status = server_status(instance)
    for key, value in status.items():
        click.echo(f"{key}: {value}")
    if not status["running"]:
        sys.exit(1)


@neo4j_group.command("import")
@opt.workspace
@_INSTANCE
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Keep the CSV files in this folder (default: a temporary folder).")
@click.option("--files-only", is_flag=True,
              help="Only write the CSV files (needs --out) and print the neo4j-admin command for your own server.")
@click.option("--suspicious-only", is_flag=True, help="Only the packs named in the workspace's findings.")
def import_command(workspace, instance, out_dir, files_only, suspicious_only):
    """Bulk first load with `neo4j-admin database import` (much faster than `rxring load`).

    Replaces the local server's neo4j database with the workspace's graph (the
    server is stopped for the import and started again).  With --files-only, writes
    the CSV files for your own server and prints the command to run there.
    """
    from ..backends.neo4j.bulk import bulk_load_instance, write_workspace_import_files

    if files_only:
        if not out_dir:
            raise click.UsageError("--files-only needs --out DIR")
        files = write_workspace_import_files(workspace, out_dir, suspicious_only=suspicious_only)
        click.echo(f"wrote {files.events:,} events as neo4j-admin import files in {files.out_dir}")
        click.echo("with the server stopped, run:")
        click.echo(files.command())
        click.echo("then start it and create rxring's constraints and indexes: "
                   "rxring neo4j queries schema | cypher-shell -u neo4j")
        return
    report = bulk_load_instance(workspace, instance, out_dir=out_dir, suspicious_only=suspicious_only,
                                log=_echo_err)
    click.echo(f"imported {report.events:,} events into {report.uri} in "
               f"{report.write_seconds + report.import_seconds:.1f}s ({report.events_per_second:,.0f} events/s)")
    click.echo("nodes: " + ", ".join(f"{k} {v:,}" for k, v in report.nodes.items()))
    click.echo("relationships: " + ", ".join(f"{k} {v:,}" for k, v in report.relationships.items()))


@neo4j_group.command("queries")
@click.argument("name", required=False)
def queries_command(name):
    """List the shipped Cypher files, or print one (paste it into Neo4j Browser)."""
    from ..rules.render import cypher_header, cypher_names, cypher_text

    if name:
        click.echo(cypher_text(name), nl=False)
        return
    for query in cypher_names():
        first = cypher_header(query).splitlines()
        click.echo(f"{query:15} {first[0] if first else ''}")


def _param_value(text: str):
    """--param values: JSON when it parses (numbers, lists, quoted strings), else the text itself.

    A whole number beyond Neo4j's 64-bit integers stays text: a 20-digit trace code
    (``--param code=81234560000000000011``) is an id, not a number.
    """
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, int) and not isinstance(value, bool) and not -2 ** 63 <= value < 2 ** 63:
        return text
    return value


@neo4j_group.command("run")
@click.argument("name")
@opt.workspace_option(required=False, note="Take the rule parameters from its last analysis [default: the defaults].")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A query parameter, e.g. --param ring=R001 or --param limit=20 (repeatable; JSON values).")
@opt.neo4j_uri
@opt.neo4j_database
@opt.limit_option("Also $limit when the query uses it.")
@opt.as_json
@opt.reveal_pii
def run_command(name, workspace, params, neo4j_uri, database, limit, as_json, reveal_pii):
    """Run a shipped read query (`rxring neo4j queries` lists them) on the server and print its rows.

    For a server without Neo4j Browser (the one `rxring neo4j start` runs): e.g.
    `rxring neo4j run rings` lists the rings of the last `rxring analyze --backend
    neo4j`, `rxring neo4j run ring_boxes --param ring=R001` the custody chains of a
    ring's boxes, `rxring neo4j run RESURFACE` a rule's evidence rows.  Patient and
    prescriber ids are masked unless --reveal-pii.
    """
    from ..backends.neo4j.connect import connect, resolve_config
    from ..backends.neo4j.queries import run_query
    from ..options import AnalysisOptions
    from ..results import load_analysis
    from ..rules.render import cypher_parameters

    options = AnalysisOptions.from_dict(load_analysis(workspace).get("options", {})) if workspace else AnalysisOptions()
    values = {**cypher_parameters(options), "limit": limit or 2 ** 62}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RxringError(f"--param {item!r}: write NAME=VALUE")
        values[key.strip()] = _param_value(value)
    config = resolve_config(neo4j_uri, database=database)
    with connect(config) as driver:
        rows = run_query(driver, name, values, config.database)
    person = [c for c in rows.columns if is_personal_key(c)]
    if person:  # masked unless --reveal-pii, which is recorded in the workspace (or the user's own record)
        rows = reveal_frame(rows, reveal_pii, workspace, {"query": name, "params": dict(p.split("=", 1) for p in params)},
                            columns=person)
    if as_json:
        echo_json(rows)
        return
    shown = rows if not limit else rows.head(limit)
    click.echo(table(records(shown), [(c, c) for c in rows.columns], limit=60))
    if limit and len(rows) > limit:
        click.echo(f"… {len(rows) - limit} more rows (use --limit 0 for all)")


COMMANDS: list = [load_command, neo4j_group]
