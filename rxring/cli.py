"""The `rxring` command line: parses options, calls the library, prints.

Each area keeps its commands in ``rxring/commands/<area>.py`` as a list ``COMMANDS``;
this module only assembles them and turns :class:`RxringError` into one line on
stderr (exit code 2) instead of a traceback; under ``--json`` stdout then holds
``{"error": "..."}``, so it is always valid JSON.
"""

from __future__ import annotations

import sys

import click

from .version import __version__
from .commands import analyze, cases, demo, exceptions, ingest, keys, neo4j, report, reproduce, serve, synth
from .commands.output import echo_json_error
from .errors import RxringError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RxringError as exc:
            echo_json_error(ctx, str(exc))  # --json: stdout stays valid JSON
            click.echo(f"rxring: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rxring")
def cli():
    """Find resale rings of returned drugs (回流药) in drug traceability-code data.

    Typical use: `rxring analyze INPUT... --workspace WS`, then `rxring rings`,
    `rxring report`, `rxring viz` and `rxring evidence` on the same workspace.
    Try `rxring demo` for a synthetic city end to end.
    """


for _module in (ingest, synth, demo, analyze, neo4j, report, keys, reproduce, serve, cases, exceptions):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="rxring")


if __name__ == "__main__":
    main()
