"""`rxring evidence reproduce`: repeat an evidence package's extraction from its inputs (a subcommand of `evidence`).

A shell over :func:`rxring.report.reproduce.reproduce_evidence`; kept apart from
:mod:`rxring.commands.report` and added to its ``evidence`` group here.
"""

from __future__ import annotations

import sys

import click

from .report import evidence_group

__all__ = ["COMMANDS", "evidence_reproduce"]

_STATUS = {"same": "相同 same", "changed": "已改变 changed", "extra": "不属于本包 not in the package"}


@evidence_group.command("reproduce")
@click.argument("package", type=click.Path(dir_okay=False, exists=True))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--workdir", type=click.Path(file_okay=False), help="Folder for the temporary workspace [default: the "
              "system's temporary folder]; removed afterwards.")
def evidence_reproduce(package, inputs, workdir):
    """Repeat the extraction from the original INPUTS and compare (重复提取核对); exit 1 if anything differs.

    INPUTS are the original files, or folders holding them, matched to the package's
    inputs.sha256 by SHA-256 (a file of the same name with another SHA-256 is used and
    reported as changed).  They are ingested and analysed in a temporary workspace with
    the options and seed the package records, and the ring's findings, members and
    custody rows are compared with the package's; a changed custody row names the
    findings on its trace code.  Packages made with --reveal-pii are not compared.
    """
    from ..report.reproduce import reproduce_evidence

    result = reproduce_evidence(package, list(inputs), workdir=workdir)
    for item in result.inputs:
        extra = f" (SHA-256 {item.given_sha256})" if item.status == "changed" else ""
        click.echo(f"输入 input {_STATUS[item.status]}: {item.name} <- {item.given}{extra}")
    if result.engine != "embedded":
        click.echo(f"分析引擎 engine: 包由 {result.engine} 生成，重复时用 embedded / made on {result.engine}, "
                   "repeated on embedded (every engine gives the same findings and rings)")
    counts = ", ".join(f"{kind} {n}" for kind, n in result.compared.items())
    if result.identical:
        click.echo(f"一致 IDENTICAL: 团伙 {result.ring_id} 的线索、成员、流转记录与包内完全相同 / ring {result.ring_id}: "
                   f"findings, members and custody rows come out the same ({counts})")
        return
    for diff in result.differences:
        fields = diff.changed_fields()
        click.echo(f"不同 DIFFERS {diff.kind} {diff.key}: {', '.join(fields)}")
        for side, row in (("包内 package", diff.package), ("重复 rerun", diff.rerun)):
            shown = "—" if row is None else "; ".join(f"{k}={row.get(k)}" for k in fields)
            click.echo(f"    {side}: {shown}")
        if diff.findings:
            click.echo(f"    涉及线索 findings: {', '.join(diff.findings)}")
    click.echo(f"{len(result.differences)} 处不同 difference(s); ring {result.ring_id}, rerun ring "
               f"{result.rerun_ring_id or '—'}", err=True)
    sys.exit(1)


# Added to the `evidence` group above; nothing of its own for the top level.
COMMANDS: list = []
