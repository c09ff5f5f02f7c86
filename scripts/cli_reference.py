"""Write docs/cli.md from every command's --help, so the reference never drifts.

    python scripts/cli_reference.py          # rewrite docs/cli.md
    python scripts/cli_reference.py --check  # exit 1 if docs/cli.md is stale
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from rxring.cli import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _commands(group: click.Group, prefix: list[str]):
    for name in sorted(group.list_commands(None)):
        command = group.get_command(None, name)
        path = prefix + [name]
        yield path
        if isinstance(command, click.Group):
            yield from _commands(command, path)


def render() -> str:
    runner = CliRunner()
    parts = ["# rxring command reference", "",
             "Generated from each command's `--help` by `python scripts/cli_reference.py`; do not edit.", ""]
    for path in [[]] + list(_commands(cli, [])):
        result = runner.invoke(cli, path + ["--help"], prog_name="rxring", terminal_width=100)
        title = " ".join(["rxring"] + path)
        parts += [f"## `{title}`", "", "```text", result.output.rstrip(), "```", ""]
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is stale: run python scripts/cli_reference.py", file=sys.stderr)
            sys.stderr.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       "docs/cli.md", "--help now", n=1))
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
