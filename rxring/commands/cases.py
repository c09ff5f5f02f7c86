"""`rxring cases`, `rxring leads`, `rxring users`, `rxring audit`: the CLI twins of the workbench's case pages.

Thin shells over :mod:`rxring.cases` and :mod:`rxring.audit` (the web app calls the
same functions).  The CLI acts as the workspace's owner: whoever can write the
workspace folder can do anything the roles allow, so every command runs with the
``admin`` role and records ``--operator`` (or the OS user) as who did it.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import audit as audit_log
from ..errors import RxringError
from ..reveal import os_user
from . import options as opt
from .output import echo_json, table

_operator = click.option("--operator", metavar="NAME", envvar="RXRING_OPERATOR", default=None,
                         help="Who does it, recorded in the case history and audit log "
                              "[env RXRING_OPERATOR; default: the OS user].")
_version = click.option("--version", "version", type=int, default=None,
                        help="The case version your decision is based on (as `cases show` printed it); "
                             "a newer version means someone else changed it: the command then refuses.")


def _actor(operator):
    from ..cases.users import Actor

    return Actor((operator or os_user() or "local").strip(), "admin", "cli")


def _workspace(workspace):
    from ..workspace import as_workspace

    return as_workspace(workspace).root


def _show(case: dict) -> str:
    from ..cases.store import STATE_LABELS

    lines = [f"案件 case {case['id']} · {case['title']}",
             f"  状态 state: {STATE_LABELS[case['state']]} {case['state']} · 版本 version {case['version']}",
             f"  类型 kind: {case['kind']}" + (f" · 团伙 ring {case['ring_id']}" if case["ring_id"] else ""),
             f"  承办人 assignee: {case['assignee'] or '-'} · 期限 due: {case['due_date'] or '-'}",
             f"  追回 recovered: {case['amount_recovered'] if case['amount_recovered'] is not None else '-'} 元 · "
             f"罚款 fined: {case['amount_fined'] if case['amount_fined'] is not None else '-'} 元 · "
             f"移送编号 referral: {case['referral_no'] or '-'}",
             f"  疑点 findings: {len(case['finding_ids'])}"]
    return "\n".join(lines)


@click.group("cases")
def cases_group():
    """Cases (案件): verify leads and rings, decide, refer, export the 台账.

    States: new → assigned → verifying → confirmed | explained → referred | closed,
    and appealed (申诉).  Every change is kept in the case's history with who, when and why.
    """


@cases_group.command("list")
@opt.workspace
@click.option("--state", default=None, help="Only cases in this state.")
@click.option("--assignee", default=None, help="Only cases assigned to NAME.")
@click.option("--ring", "ring_id", default=None, help="Only the cases of this ring.")
@opt.as_json
def cases_list(workspace, state, assignee, ring_id, as_json):
    """List cases, newest first."""
    from ..cases.store import STATE_LABELS, list_cases

    rows = list_cases(_workspace(workspace), state=state, assignee=assignee, ring_id=ring_id)
    if as_json:
        return echo_json(rows)
    for row in rows:
        row["state"] = f"{STATE_LABELS[row['state']]} {row['state']}"
    click.echo(table(rows, [("id", "案件 case"), ("state", "状态 state"), ("title", "标题 title"),
                            ("assignee", "承办人 assignee"), ("due_date", "期限 due"), ("version", "版本 version")]))


@cases_group.command("show")
@click.argument("case_id", type=int)
@opt.workspace
@opt.as_json
def cases_show(case_id, workspace, as_json):
    """One case: its fields, leads, comments, attachments and full history."""
    from ..cases import leads, store

    ws = _workspace(workspace)
    case = store.get_case(ws, case_id)
    parts = {"case": case, "ring_fate": store.ring_fate_of(ws, case), "leads": leads.list_leads(ws, case_id=case_id), "comments": store.comments(ws, case_id),
             "attachments": store.attachments(ws, case_id), "history": store.history(ws, case_id)}
    if as_json:
        return echo_json(parts)
    click.echo(_show(case))
    fate = parts["ring_fate"]
    if fate:
        from ..cases.identity import LINEAGE_KINDS

        now = f" → {', '.join(fate['ring_ids'])}" if fate["ring_ids"] else ""
        click.echo(f"  ! 团伙 ring {case['ring_id']} 在最新分析中{LINEAGE_KINDS.get(fate['kind'], ('',))[0]}{now} · "
                   f"in the latest analysis: {fate['kind']}{now}")
    if parts["leads"]:
        click.echo("\n线索 leads:")
        click.echo(table(parts["leads"], [("source_line", "行 line"), ("key_value", "追溯码/结算ID key"),
                                         ("reason", "疑点原因 reason"), ("rules", "规则 rules"),
                                         ("explanation", "解释 explanation")]))
    for comment in parts["comments"]:
        click.echo(f"\n[{comment['at']}] {comment['actor']}: {comment['body']}")
    if parts["attachments"]:
        click.echo("\n附件 attachments:")
        click.echo(table(parts["attachments"], [("filename", "文件 file"), ("size", "大小 bytes"),
                                               ("sha256", "哈希 SHA-256"), ("actor", "人 by"), ("at", "时间 at")],
                         limit=64))
    click.echo("\n历史 history:")
    for row in parts["history"]:
        if row["field"] == "state":
            row["old_value"], row["new_value"] = (f"{store.STATE_LABELS[v]} {v}" if v in store.STATE_LABELS else v
                                                  for v in (row["old_value"], row["new_value"]))
        row["field"] = f"{store.FIELD_LABELS.get(row['field'], '')} {row['field']}".strip()
    click.echo(table(parts["history"], [("at", "时间 at"), ("actor", "人 who"), ("field", "项 field"),
                                       ("old_value", "原 from"), ("new_value", "新 to"), ("reason", "理由 why")]))


@cases_group.command("open")
@opt.workspace
@click.option("--ring", "ring_id", default=None, help="Open the case of this ring (its findings linked).")
@click.option("--finding", "finding_ids", multiple=True, help="A finding outside rings (repeatable).")
@click.option("--title", default=None, help="Title (default: from the ring or the findings).")
@_operator
def cases_open(workspace, ring_id, finding_ids, title, operator):
    """Open a case for a ring, or for findings outside rings."""
    from ..cases import store

    ws = _workspace(workspace)
    actor = _actor(operator)
    if bool(ring_id) == bool(finding_ids):
        raise RxringError("give either --ring R00N or one or more --finding ID")
    if ring_id:
        case = store.open_ring_case(ws, actor, ring_id)
    else:
        from ..results import load_findings

        known = set(load_findings(ws)["finding_id"])
        unknown = [f for f in finding_ids if f not in known]
        if unknown:
            raise RxringError(f"no finding {unknown[0]} in {ws}; `rxring findings -w {ws}` lists them")
        case = store.open_case(ws, actor, "findings", title or f"疑点 findings {', '.join(finding_ids)[:150]}",
                               finding_ids=finding_ids)
    click.echo(_show(case))


@cases_group.command("assign")
@click.argument("case_id", type=int)
@click.argument("assignee")
@opt.workspace
@click.option("--due", "due_date", default=None, help="Due date YYYY-MM-DD (办结期限).")
@click.option("--reason", default=None, help="Why (kept in the history).")
@_version
@_operator
def cases_assign(case_id, assignee, workspace, due_date, reason, version, operator):
    """Assign case CASE_ID to ASSIGNEE (a new case becomes assigned)."""
    from ..cases import store

    case = store.assign(_workspace(workspace), _actor(operator), case_id, assignee, version=version,
                        due_date=due_date, reason=reason)
    click.echo(_show(case))


@cases_group.command("state")
@click.argument("case_id", type=int)
@click.argument("state")
@opt.workspace
@click.option("--reason", required=True, help="Why (required; kept in the history and the audit log).")
@click.option("--recovered", "amount_recovered", type=float, default=None, help="Amount recovered, 元 (追回).")
@click.option("--fined", "amount_fined", type=float, default=None, help="Fine, 元 (罚款).")
@click.option("--referral-no", default=None, help="Referral number (移送编号); needed to move to referred.")
@_version
@_operator
def cases_state(case_id, state, workspace, reason, amount_recovered, amount_fined, referral_no, version, operator):
    """Move case CASE_ID to STATE (verifying, confirmed, explained, appealed, referred, closed)."""
    from ..cases import store

    case = store.transition(_workspace(workspace), _actor(operator), case_id, state, reason, version=version,
                            amount_recovered=amount_recovered, amount_fined=amount_fined, referral_no=referral_no)
    click.echo(_show(case))


@cases_group.command("comment")
@click.argument("case_id", type=int)
@click.argument("text")
@opt.workspace
@_operator
def cases_comment(case_id, text, workspace, operator):
    """Add a comment to case CASE_ID."""
    from ..cases import store

    row = store.comment(_workspace(workspace), _actor(operator), case_id, text)
    click.echo(f"已添加意见 {row['id']} · comment {row['id']} added to case {case_id}")


@cases_group.command("attach")
@click.argument("case_id", type=int)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@opt.workspace
@_operator
def cases_attach(case_id, files, workspace, operator):
    """Attach FILES (scanned delivery notes 随货同行单, invoices, prescriptions) to case CASE_ID.

    Stored once under their SHA-256 in WS/cases/files and never overwritten.
    """
    from ..cases import store

    ws = _workspace(workspace)
    for name in files:
        path = Path(name)
        if path.stat().st_size > store.MAX_ATTACHMENT_BYTES:
            raise RxringError(f"{path}: larger than the {store.MAX_ATTACHMENT_BYTES} bytes allowed")
        row = store.attach(ws, _actor(operator), case_id, path.name, path.read_bytes())
        click.echo(f"{path}：已附加到案件 {case_id} · sha256 {row['sha256']} ({row['size']} bytes) "
                   f"attached to case {case_id}")


@cases_group.command("export")
@opt.workspace
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file; .xlsx or .csv (UTF-8 with BOM, for Excel).")
@click.option("--state", default=None, help="Only cases in this state.")
@_operator
def cases_export(workspace, output, state, operator):
    """Export the cases as the bureau's 台账 (ledger): Chinese headers with English beside."""
    from ..cases import store

    ws = _workspace(workspace)
    fmt = Path(output).suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        raise RxringError(f"{output}: the ledger is written as .xlsx or .csv")
    rows = store.ledger_rows(ws, state=state)
    data = store.write_ledger(rows, fmt)
    try:
        Path(output).write_bytes(data)
    except OSError as exc:
        raise RxringError(f"cannot write {output}: {exc.strerror or exc}") from None
    audit_log.append(ws, "export", _actor(operator).name, {"what": "cases ledger", "rows": len(rows),
                                                           "file": Path(output).name, "via": "cli"})
    click.echo(f"{output}：台账 {len(rows)} 个案件 · {len(rows)} cases")


@cases_group.command("evidence")
@click.argument("case_id", type=int)
@opt.workspace
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Zip file to write (default WS/evidence/case-<id>.zip).")
@_operator
def cases_evidence(case_id, workspace, output, operator):
    """Evidence package of case CASE_ID: the case, its history, comments, leads, attachments
    and its ring's evidence package, with a SHA-256 manifest (personal ids masked)."""
    from ..cases.evidence import case_evidence

    path, digest = case_evidence(_workspace(workspace), case_id, _actor(operator), output)
    click.echo(f"{path}  (MANIFEST.sha256 {digest})")


@click.group("leads")
def leads_group():
    """Lead lists (疑点线索) from the bureau: import, match to the workspace, triage into cases."""


@leads_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@opt.workspace
@_operator
@opt.progress_option(default=None, help="Progress bar on stderr.")
@opt.as_json
def leads_import(file, workspace, operator, progress, as_json):
    """Import a CSV/XLSX lead list: one row per trace code (追溯码/trace_code) or settlement id
    (结算ID/setl_id), with the sender's reason (疑点原因/reason).

    Each row is matched to the workspace's events, findings and rings and joins a case
    (its ring's; else the open case the same code joined in an earlier list; else one per
    site where the code was last seen).  Title rows above the header are skipped.  Rows
    without a key or repeating an earlier one are rejected with their line; every row is
    accounted for.
    """
    from ..cases.leads import import_leads

    import sys

    shown = sys.stderr.isatty() if progress is None else progress
    result = import_leads(_workspace(workspace), file, _actor(operator), progress=shown)
    if as_json:
        return echo_json({"batch": result.batch_id, "read": result.read, "matched": result.matched,
                          "unmatched": result.unmatched, "rejected": result.rejected,
                          "cases_opened": result.cases_opened, "cases_joined": result.cases_joined,
                          "problems": [{"line": line, "reason": why} for line, why in result.problems]})
    for line, why in result.problems[:50]:
        click.echo(f"{file}, line {line}: {why}", err=True)
    if len(result.problems) > 50:
        click.echo(f"... and {len(result.problems) - 50} more (see `rxring leads list`)", err=True)
    click.echo(result.summary())


@leads_group.command("list")
@opt.workspace
@click.option("--batch", "batch_id", type=int, default=None, help="Only this import batch.")
@opt.limit
def leads_list(workspace, batch_id, limit):
    """List imported leads: key, reason, match, ring, rules or explanation, case."""
    from ..cases.leads import list_batches, list_leads

    ws = _workspace(workspace)
    click.echo(table(list_batches(ws), [("id", "批次 batch"), ("source_file", "文件 file"),
                                        ("imported_at", "时间 at"), ("rows_read", "读取 read"),
                                        ("rows_matched", "匹配 matched"), ("rows_unmatched", "未匹配 unmatched"),
                                        ("rows_rejected", "拒绝 rejected")]))
    rows = list_leads(ws, batch_id=batch_id, limit=limit or 1_000_000)
    click.echo("")
    for row in rows:
        row["matched"] = "是 yes" if row["matched"] else "否 no"
    click.echo(table(rows, [("batch_id", "批次 batch"), ("source_line", "行 line"), ("key_value", "追溯码/结算ID key"),
                            ("matched", "匹配 matched"), ("ring_id", "团伙 ring"), ("rules", "规则 rules"),
                            ("case_id", "案件 case"), ("reason", "疑点原因 reason"),
                            ("explanation", "解释 explanation")]))


@click.group("users")
def users_group():
    """Accounts of `rxring serve` (viewer, investigator, supervisor, admin).

    Once a workspace has an account, the workbench asks for a name and password
    instead of the start token, and may listen beyond loopback (--host).
    """


def _password(password_file) -> str:
    if password_file:
        try:
            text = Path(password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise RxringError(f"{password_file}: cannot read ({exc.strerror or exc})") from None
        lines = text.splitlines()
        return lines[0] if lines else ""
    return click.prompt("password 密码", hide_input=True, confirmation_prompt=True)


_password_file = click.option("--password-file", type=click.Path(exists=True, dir_okay=False), default=None,
                              help="Read the password from the first line of this file instead of a prompt.")


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "investigator", "supervisor", "admin"]), required=True)
@opt.workspace
@_password_file
@_operator
def users_add(name, role, workspace, password_file, operator):
    """Create account NAME with a role; the password is stored as an argon2 hash only."""
    from ..cases.users import add_user

    ws = _workspace(workspace)
    add_user(ws, name, role, _password(password_file))
    audit_log.append(ws, "user_change", _actor(operator).name, {"account": name, "change": "added", "role": role})
    click.echo(f"已添加账户 {name}（{role}）· account {name} ({role}) added")


@users_group.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["viewer", "investigator", "supervisor", "admin"]))
@opt.workspace
@_operator
def users_role(name, role, workspace, operator):
    """Change the role of account NAME."""
    from ..cases.users import set_role

    ws = _workspace(workspace)
    set_role(ws, name, role)
    audit_log.append(ws, "user_change", _actor(operator).name, {"account": name, "change": "role", "role": role})
    click.echo(f"账户 {name} 的角色改为 {role} · account {name} is now {role}")


@users_group.command("passwd")
@click.argument("name")
@opt.workspace
@_password_file
@_operator
def users_passwd(name, workspace, password_file, operator):
    """Set a new password for account NAME."""
    from ..cases.users import set_password

    ws = _workspace(workspace)
    set_password(ws, name, _password(password_file))
    audit_log.append(ws, "user_change", _actor(operator).name, {"account": name, "change": "new password"})
    click.echo(f"已修改账户 {name} 的密码 · password of {name} changed")


@users_group.command("disable")
@click.argument("name")
@opt.workspace
@click.option("--enable", is_flag=True, help="Enable the account again.")
@_operator
def users_disable(name, workspace, enable, operator):
    """Disable (or --enable) account NAME; a disabled account cannot sign in."""
    from ..cases.users import disable_user

    ws = _workspace(workspace)
    disable_user(ws, name, disabled=not enable)
    audit_log.append(ws, "user_change", _actor(operator).name,
                     {"account": name, "change": "enabled" if enable else "disabled"})
    click.echo(f"账户 {name} {'已启用' if enable else '已停用'} · account {name} {'enabled' if enable else 'disabled'}")


@users_group.command("list")
@opt.workspace
def users_list(workspace):
    """List the accounts and their roles."""
    from ..cases.users import list_users

    rows = list_users(_workspace(workspace))
    for row in rows:
        row["disabled"] = "是 yes" if row["disabled"] else "否 no"
    click.echo(table(rows, [("name", "账户 name"), ("role", "角色 role"), ("disabled", "停用 disabled"),
                            ("created_at", "创建 at")]))


@click.group("audit")
def audit_group():
    """The workspace's audit log (audit.jsonl): sign-ins, reveals, case changes, exports."""


@audit_group.command("verify")
@opt.workspace
def audit_verify(workspace):
    """Check the audit log's hash chain; name the first line altered, removed or inserted (exit 1)."""
    ws = _workspace(workspace)
    verdict = audit_log.verify(ws)
    click.echo(verdict.message(audit_log.audit_path(ws)), err=not verdict.ok)
    if not verdict.ok:
        raise SystemExit(1)
    seq, sha = audit_log.head(ws)
    click.echo(f"最后一行 last line: {seq} sha256 {sha}（另行记录，可发现日志末尾被删 · note it elsewhere to "
               "tell lines later cut off the end）")


@audit_group.command("show")
@opt.workspace
@click.option("--event", type=click.Choice(sorted(audit_log.EVENTS)), default=None, help="Only this event.")
@opt.limit
@opt.as_json
def audit_show(workspace, event, limit, as_json):
    """Print the latest audit records (masked as written)."""
    rows = audit_log.read(_workspace(workspace), event=event)
    rows = rows[-limit:] if limit else rows
    if as_json:
        return echo_json(rows)
    for row in rows:
        row["details"] = ", ".join(f"{k}={v}" for k, v in row.get("details", {}).items())
    click.echo(table(rows, [("seq", "#"), ("time", "时间 time"), ("event", "事件 event"), ("user", "人 user"),
                            ("details", "内容 details")], limit=80))


COMMANDS = [cases_group, leads_group, users_group, audit_group]
