"""Click options shared by the commands, each defined once.

* ``workspace`` / :func:`workspace_option`: ``--workspace/-w``, always with the
  environment variable RXRING_WORKSPACE, required or (:func:`workspace_option`
  with ``required=False``) optional;
* ``as_json``, ``reveal_pii`` (with ``--operator``; every reveal is recorded, see
  :func:`reveal_pii_option`), ``limit``, ``progress``: output and display;
* ``input_limits``: ``--input-limit NAME=VALUE``, the input limits of an ingest;
* ``analysis_backend``, ``results_backend``, ``graph_backend``, ``neo4j_uri``,
  ``neo4j_database``: where the rules run, whose results to read, where to look
  things up;
* :func:`analysis_options`: one option per :class:`~rxring.options.AnalysisOptions`
  field, generated from the field's ``metadata`` (help, range, choices, flag), and
  :func:`options_from_values` to build the options object from the parsed values.

Examples
--------
>>> @click.command()
... @workspace
... @analysis_options
... def show(workspace, **values):
...     click.echo(options_from_values(values).seed)
>>> from click.testing import CliRunner
>>> CliRunner().invoke(show, ["--seed", "7"], env={"RXRING_WORKSPACE": "ws"}).output
'7\\n'
"""

from __future__ import annotations

import dataclasses
import functools

import click

from ..backends import BACKENDS
from ..options import AnalysisOptions
from ..report.graph_groups import MAX_NODES as GRAPH_MAX_NODES

__all__ = [
    "WORKSPACE_HELP", "workspace_option", "workspace", "JSON_KEY", "JSON_PRINTED_KEY", "json_option", "as_json",
    "reveal_pii_option", "reveal_pii", "OPERATOR_KEY",
    "limit_option", "limit", "progress_option", "input_limits", "column_map", "load_column_map_option", "analysis_backend", "results_backend", "graph_backend",
    "neo4j_uri", "neo4j_database", "max_nodes", "analysis_options", "options_from_values", "option_arguments",
    "ANALYSIS_OPTION_NAMES",
]

# ---------------------------------------------------------------- workspace

WORKSPACE_HELP = "Workspace folder [env RXRING_WORKSPACE]."


def workspace_option(required: bool = True, note: str = ""):
    """``--workspace/-w`` (parameter ``workspace``), from RXRING_WORKSPACE when not given.

    *note* is added to the help (what the workspace is for when it is optional).
    """
    return click.option("--workspace", "-w", "workspace", required=required, envvar="RXRING_WORKSPACE",
                        type=click.Path(file_okay=False), help=f"{WORKSPACE_HELP} {note}".strip())


#: The required workspace of most commands.
workspace = workspace_option()

# ---------------------------------------------------------------- output

#: ``ctx.meta`` keys: the command prints JSON (``--json``); JSON was printed (:func:`rxring.commands.output.echo_json`).
JSON_KEY, JSON_PRINTED_KEY = "rxring.json", "rxring.json_printed"


def _keep_json(ctx, param, value):
    ctx.meta[JSON_KEY] = bool(value)
    return value


def json_option(help: str = "Print JSON instead of a table (for scripts)."):
    """``--json`` (parameter ``as_json``).  Its output is always one valid JSON document on stdout:
    an error then prints ``{"error": "..."}`` there (and its ``rxring: error:`` line on stderr, exit 2)."""
    return click.option("--json", "as_json", is_flag=True, callback=_keep_json, help=help)


as_json = json_option()

#: ``ctx.meta`` key: the --operator of a command with --reveal-pii.
OPERATOR_KEY = "rxring.operator"


def _keep_operator(ctx, param, value):
    ctx.meta[OPERATOR_KEY] = value
    return value


def current_operator() -> str | None:
    """``--operator`` of the running command (env RXRING_OPERATOR), None when not given."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(OPERATOR_KEY) if ctx is not None else None


def reveal_pii_option(help: str = "Show patient and prescriber ids unmasked."):
    """``--reveal-pii`` (parameter ``reveal_pii``) and ``--operator NAME``; a reveal is recorded.

    The command runs inside a :func:`rxring.reveal.reveal_session` naming it and
    its operator (``--operator`` or the OS user); the library calls it makes with
    ``reveal_pii`` record the reveal (:func:`rxring.reveal.permit_reveal`: one line
    in ``<workspace>/reveals.jsonl`` per command, written before anything is
    shown; nothing is revealed when it cannot be written).  Use it as the
    decorator nearest the function.
    """
    def decorate(func):
        @functools.wraps(func)
        def command(*args, **kwargs):
            from ..reveal import reveal_session

            ctx = click.get_current_context()
            name = " ".join(["rxring", *ctx.command_path.split()[1:]])  # the root's name differs under test runners
            with reveal_session(name, operator=ctx.meta.get(OPERATOR_KEY)):
                return func(*args, **kwargs)

        command = click.option(
            "--operator", metavar="NAME", envvar="RXRING_OPERATOR", expose_value=False, callback=_keep_operator,
            help="Who reveals, recorded with --reveal-pii [env RXRING_OPERATOR; default: the OS user].")(command)
        return click.option("--reveal-pii", "reveal_pii", is_flag=True,
                            help=f"{help} Recorded in the workspace's reveals.jsonl.")(command)
    return decorate


reveal_pii = reveal_pii_option()


def limit_option(note: str = ""):
    """``--limit N`` rows of a table (parameter ``limit``; 0 = all; default 50)."""
    return click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
                        help=f"Rows to print in tables (0 = all; --json prints all). {note}".strip())


limit = limit_option()


def progress_option(default: bool | None = True, help: str = "Progress bars on stderr."):
    """``--progress/--no-progress`` (parameter ``progress``); a None default means "when stderr is a terminal"."""
    if default is None:
        return click.option("--progress/--no-progress", default=None,
                            help=f"{help} [default: when stderr is a terminal]")
    return click.option("--progress/--no-progress", default=default, show_default=True, help=help)


# ---------------------------------------------------------------- input limits


def _input_limits_option():
    from ..ingest.sniff import limits_help

    return click.option(
        "--input-limit", "input_limits", multiple=True, metavar="NAME=VALUE",
        help="Set an input limit for this run, over its environment variable (repeat for several; sizes in "
             "bytes with K/M/G/T suffixes). NAME: " + limits_help() + ". A file beyond a limit is an error "
             "or one quarantined record; see the README's input limits.")


#: ``--input-limit NAME=VALUE`` (parameter ``input_limits``, a tuple): apply it with
#: :func:`rxring.ingest.sniff.limits_set` around the ingest.
input_limits = _input_limits_option()

# ---------------------------------------------------------------- column map

#: ``--columns FILE`` (parameter ``column_map``, a path or None): the user's column map (TOML) for the
#: tabular inputs; read it with :func:`load_column_map_option` (one-line errors, before anything is read).
column_map = click.option(
    "--columns", "column_map", metavar="FILE", default=None, type=click.Path(dir_okay=False),
    help="Column map (TOML) for CSV/XLSX/Parquet exports whose headers or values rxring does not know: "
         "[columns] header = column, [event_types] value = type, [times] formats = [strptime formats], "
         "[file] default_site_id, untyped_are_sales. Recorded in the manifest per file it applied to. "
         "A dry run of `rxring ingest` suggests one.")


def load_column_map_option(path):
    """The :class:`~rxring.ingest.columnmap.ColumnMap` of ``--columns`` (None when not given);
    a bad map raises one :class:`~rxring.errors.RxringError` line (file, key, reason)."""
    if path is None:
        return None
    from ..ingest.columnmap import load_column_map

    return load_column_map(path)


# ---------------------------------------------------------------- backends

analysis_backend = click.option(
    "--backend", "--engine", "backend", type=click.Choice(BACKENDS), default=None,
    help="Where the rules run: embedded (DuckDB over the workspace, no server), neo4j (loads the workspace "
         "into the server of --neo4j / NEO4J_URI / `rxring neo4j start` and runs the Cypher rules), spark "
         "(Spark SQL, see --spark-master). Same findings on all three. "
         "[default: neo4j when NEO4J_URI is set, else embedded]")

results_backend = click.option(
    "--backend", type=click.Choice(BACKENDS), default=None,
    help="Insist that the results come from this backend: they are the workspace's findings.parquet and "
         "rings.parquet, written by the last `rxring analyze`; with neo4j, those of `rxring analyze --backend "
         "neo4j` (the Cypher rules run on the server), else an error. [default: whichever backend analysed "
         "the workspace]")

graph_backend = click.option(
    "--backend", type=click.Choice(["embedded", "neo4j"]), default=None,
    help="Where to look: embedded reads the workspace's Parquet files; neo4j queries the graph on the server "
         "of --neo4j / NEO4J_URI / `rxring neo4j start` (load it with `rxring load`). "
         "[default: neo4j when NEO4J_URI or --neo4j is set, else embedded]")

neo4j_uri = click.option(
    "--neo4j", "neo4j_uri", metavar="URI", default=None,
    help="Bolt URI of the Neo4j server, e.g. bolt://localhost:7687 [env NEO4J_URI; default: the server of "
         "`rxring neo4j start`; user, password and database from NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE].")

max_nodes = click.option(
    "--max-nodes", type=click.IntRange(1, None), default=GRAPH_MAX_NODES, show_default=True,
    help="Node budget of a ring graph: above it, patients are grouped per site (then prescribers); "
         "a group shows its count.")

neo4j_database = click.option("--database", envvar="NEO4J_DATABASE",
                              help="[env NEO4J_DATABASE; default: the server's default]")

# ---------------------------------------------------------------- analysis options

#: The AnalysisOptions fields, one CLI option each (the parameter is the field's name).
ANALYSIS_OPTION_NAMES = tuple(f.name for f in dataclasses.fields(AnalysisOptions))


def _click_type(field: dataclasses.Field):
    """The click type of a field: a range from ``metadata["range"]``, a Choice from ``metadata["choices"]``."""
    meta = field.metadata
    if "choices" in meta:
        return click.Choice(meta["choices"])
    number = click.IntRange if isinstance(field.default, int) else click.FloatRange
    bounds = meta.get("range")
    if bounds is None:
        return int if number is click.IntRange else float
    return number(bounds["min"], bounds["max"], min_open=bounds["min_open"])


def _flag(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _field_option(field: dataclasses.Field):
    flag = _flag(field)
    return click.option(flag, field.name, type=_click_type(field), default=field.default, show_default=True,
                        multiple=isinstance(field.default, tuple), help=field.metadata["help"])


def analysis_options(func):
    """Add every :class:`AnalysisOptions` field as an option (defaults shown in --help).

    The command receives each as a keyword named after the field; pass them to
    :func:`options_from_values`.  Tuple fields are repeatable options with a
    singular flag (``--provenance-type``, ``--ring-rule``).
    """
    for field in reversed(dataclasses.fields(AnalysisOptions)):
        func = _field_option(field)(func)
    return func


def option_arguments(options: AnalysisOptions) -> list[str]:
    """The command-line options (of :func:`analysis_options`) that give *options*: those away from the default.

    >>> option_arguments(AnalysisOptions(double_scan_minutes=1, provenance_types=("inbound", "transfer_in")))
    ['--double-scan-minutes', '1', '--provenance-type', 'inbound', '--provenance-type', 'transfer_in']
    """
    out: list[str] = []
    for field in dataclasses.fields(AnalysisOptions):
        value = getattr(options, field.name)
        if value == field.default:
            continue
        for item in value if isinstance(value, tuple) else (value,):
            out += [_flag(field), str(item)]
    return out


def options_from_values(values: dict) -> AnalysisOptions:
    """The :class:`AnalysisOptions` of parsed values; the fields' keys are removed from *values*."""
    return AnalysisOptions(**{name: values.pop(name) for name in ANALYSIS_OPTION_NAMES if name in values})
