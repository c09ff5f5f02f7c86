"""CLI commands for investigator outputs: `report`, `viz`, `evidence` (+ `evidence verify`).

Thin shells over :mod:`rxring.report`; every option maps to a parameter there.
"""

from __future__ import annotations

import sys

import click

from ..report.evidence import build_evidence
from ..report.build import FORMATS, build_report
from ..report.verify import verify_evidence
from ..report.viz import write_viz
from .. import results
from . import options as opt

_lang = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of labels.")
_reveal = opt.reveal_pii_option("Show patient/prescriber ids and names unmasked (recorded in the output).")


@click.command("report")
@opt.workspace
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
@_lang
@click.option("-o", "--output", type=click.Path(dir_okay=True), help="Output file (html: folder or index file).")
@click.option("--ring", "ring_ids", multiple=True, help="Only this ring (repeatable); default all rings.")
@_reveal
def report_command(workspace, fmt, lang, output, ring_ids, reveal_pii):
    """Ring report: ring table, and each ring's findings and members.

    html writes a folder (index.html, one page per ring, visualisations of the top
    rings); csv writes PATH plus PATH-findings.csv and PATH-members.csv; xlsx has the
    sheets rings, findings, members.  Personal data is masked unless --reveal-pii.
    """
    results.stale_warning(workspace)
    paths = build_report(workspace, fmt=fmt, lang=lang, output=output, reveal_pii=reveal_pii, ring_ids=list(ring_ids))
    for path in paths:
        click.echo(str(path))


@click.command("viz")
@click.argument("rings", nargs=-1)
@opt.workspace
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="HTML file (default WS/viz/<ring>.html).")
@_lang
@opt.max_nodes
@_reveal
def viz_command(rings, workspace, output, lang, max_nodes, reveal_pii):
    """Offline ring visualisation (one self-contained HTML file, no network needed).

    RINGS are ring ids (e.g. R001); none means every ring.  Colour = role, size =
    fund at risk, edge label = boxes; click a node to list its events.
    """
    results.stale_warning(workspace)
    path = write_viz(workspace, list(rings), output, lang=lang, reveal_pii=reveal_pii, max_nodes=max_nodes)
    click.echo(str(path))


class _EvidenceGroup(click.Group):
    """`evidence RING ...` creates a package; `evidence verify ZIP` checks one."""

    def parse_args(self, ctx, args):
        # Anything that is not a subcommand name is a ring id for the default action.
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group("evidence", cls=_EvidenceGroup, invoke_without_command=False)
def evidence_group():
    """Evidence package for a police referral: `rxring evidence RING -w WS -o case.zip`.

    `rxring evidence verify case.zip` recomputes every hash and names changed,
    missing and extra files.
    """


@evidence_group.command("create")
@click.argument("ring")
@opt.workspace
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Zip file (default WS/evidence/<ring>.zip).")
@_reveal
def evidence_create(ring, workspace, output, reveal_pii):
    """Write the evidence package of RING (same as `rxring evidence RING`)."""
    results.stale_warning(workspace)
    command_line = " ".join(["rxring", *sys.argv[1:]])
    package = build_evidence(workspace, ring, output, reveal_pii=reveal_pii, command_line=command_line)
    click.echo(f"{package.path}")
    click.echo(f"package digest (SHA-256 of MANIFEST.sha256): {package.digest}")
    if package.reveal_pii:
        click.echo("personal data revealed (--reveal-pii); this is recorded in the package and in the workspace's "
                   "reveals.jsonl")


@evidence_group.command("verify")
@click.argument("package", type=click.Path(dir_okay=False))
@click.option("--expect", "expect_digest", help="Package digest recorded when it was made.")
@click.option("--check-inputs", is_flag=True, help="Also hash the original input files where they exist here.")
def evidence_verify(package, expect_digest, check_inputs):
    """Verify an evidence package; exit 1 and list the files if anything was tampered with.

    Nothing is extracted: members are hashed in memory with size and ratio limits.
    """
    result = verify_evidence(package, expect_digest=expect_digest, check_inputs=check_inputs)
    for name, status in result.input_checks:
        click.echo(f"  original input {status}: {name}")
    if result.ok:
        click.echo(f"OK: {result.checked} files match MANIFEST.sha256 (digest {result.digest})")
        for sha, name in result.inputs:
            click.echo(f"  input {sha}  {name}")
        return
    for problem in result.problems:
        click.echo(f"TAMPERED {problem}", err=False)
    click.echo(f"{len(result.problems)} problem(s) in {result.path}", err=True)
    sys.exit(1)


COMMANDS = [report_command, viz_command, evidence_group]
