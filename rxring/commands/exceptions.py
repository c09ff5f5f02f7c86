"""`rxring exceptions` (explained findings) and `rxring triage` (what explains a code's repeats).

Thin shells over :mod:`rxring.cases.exceptions` and :mod:`rxring.cases.triage`.
"""

from __future__ import annotations

import click

from ..reveal import os_user
from . import options as opt
from .output import echo_json, table

_operator = click.option("--operator", metavar="NAME", envvar="RXRING_OPERATOR", default=None,
                         help="Who does it, recorded with the exception [env RXRING_OPERATOR; default: the OS user].")


def _who(operator) -> str:
    return (operator or os_user() or "local").strip()


def _reason_kinds() -> list[str]:
    from ..cases.exceptions import REASONS

    return list(REASONS)


@click.group("exceptions")
def exceptions_group():
    """Explained findings (已核实排除): a finding with an innocent explanation, set aside.

    An exception names the finding, why (a reason kind and the words), until when,
    who recorded it and who approved it (someone else).  The next `rxring analyze`
    honours every approved, unrevoked, unexpired exception: the finding stays listed
    as explained but no ring counts it, and the reports say how many were set aside.
    """


@exceptions_group.command("add")
@click.argument("finding_id")
@opt.workspace
@click.option("--kind", "reason_kind", type=click.Choice(_reason_kinds()), required=True,
              help="Why: data_entry 录入错误, retransmission 重复上传, transfer 合规调拨, "
                   "refund_unreported 退货未上报, split_sale 拆零销售, other 其他.")
@click.option("--reason", required=True, help="The explanation in words (what the documents showed).")
@click.option("--until", metavar="YYYY-MM-DD", default=None, help="Last day it holds [default: until revoked].")
@click.option("--approved-by", metavar="NAME", default=None,
              help="The supervisor approving it now (not the operator); else approve it later.")
@_operator
def exceptions_add(finding_id, workspace, reason_kind, reason, until, approved_by, operator):
    """Record why FINDING_ID (as `rxring findings` prints it) is explained."""
    from ..cases.exceptions import record_exception

    exception = record_exception(workspace, finding_id, reason_kind, reason, _who(operator), until=until,
                                 approved_by=approved_by)
    state = f"approved by {exception.approved_by}" if exception.approved_by else "awaiting approval 待审批"
    click.echo(f"exception {exception.id}: {exception.finding_id} ({reason_kind}), {state}")


@exceptions_group.command("approve")
@click.argument("exception_id", type=int)
@opt.workspace
@_operator
def exceptions_approve(exception_id, workspace, operator):
    """Approve exception EXCEPTION_ID (the operator must not be who recorded it)."""
    from ..cases.exceptions import approve_exception

    exception = approve_exception(workspace, exception_id, _who(operator))
    click.echo(f"exception {exception.id}: {exception.finding_id} approved by {exception.approved_by}; "
               f"the next `rxring analyze` sets it aside")


@exceptions_group.command("revoke")
@click.argument("exception_id", type=int)
@opt.workspace
@click.option("--reason", required=True, help="Why the explanation no longer holds.")
@_operator
def exceptions_revoke(exception_id, workspace, reason, operator):
    """Revoke exception EXCEPTION_ID (kept on record); the next analysis counts the finding again."""
    from ..cases.exceptions import revoke_exception

    exception = revoke_exception(workspace, exception_id, _who(operator), reason)
    click.echo(f"exception {exception.id}: {exception.finding_id} revoked by {exception.revoked_by}")


@exceptions_group.command("list")
@opt.workspace
@opt.as_json
def exceptions_list(workspace, as_json):
    """Every exception, revoked and expired ones included, oldest first."""
    from ..cases.exceptions import list_exceptions

    frame = list_exceptions(workspace)
    if as_json:
        return echo_json(frame)
    click.echo(table(frame.to_dict("records"), [
        ("id", "编号 id"), ("finding_id", "疑点 finding"), ("reason_kind", "原因 kind"), ("until", "至 until"),
        ("recorded_by", "登记 by"), ("approved_by", "审批 approved"), ("revoked_by", "撤销 revoked"),
        ("reason", "说明 reason")]))


@click.command("triage")
@click.argument("code")
@opt.workspace
@opt.as_json
def triage(code, workspace, as_json):
    """What explains the repeats of trace code CODE (研判): refund then resale, a transfer, the same sale
    reported again, undone records, split sales within the pack — or nothing, and it is worth a visit.

    Lists the findings on the code too.  Sentences name sites, dates and event ids, never people.
    """
    from ..cases.triage import explain

    found = explain(workspace, code)
    if as_json:
        return echo_json({"trace_code": found.trace_code, "finding_ids": found.finding_ids,
                          "explanations": [{"kind": e.kind, "zh": e.zh, "en": e.en, "event_ids": e.event_ids}
                                           for e in found.explanations]})
    click.echo(f"追溯码 trace code {found.trace_code}")
    click.echo(f"  疑点 findings: {', '.join(found.finding_ids) or '无 none'}")
    for explanation in found.explanations:
        click.echo(f"  - {explanation.zh}")
        click.echo(f"    {explanation.en}")


COMMANDS = [exceptions_group, triage]
