"""Every command that takes --workspace also takes it from RXRING_WORKSPACE (and says so in --help)."""

import json

import click
import pytest
from click.testing import CliRunner

from rxring.analysis import analyze
from rxring.cli import cli
from rxring.commands.options import WORKSPACE_HELP

# Unreachable at once (nothing listens on port 1): load and neo4j run fail after reading the workspace.
NOWHERE = "bolt://127.0.0.1:1"


def _workspace_commands(group: click.Group, prefix=()):
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _workspace_commands(command, path)
        elif any(p.name == "workspace" for p in command.params):
            yield " ".join(path), command


def test_every_workspace_option_is_the_shared_one():
    commands = dict(_workspace_commands(cli))
    assert set(commands) == set(CASES), "a command with --workspace needs a case below"
    for path, command in commands.items():
        option = next(p for p in command.params if p.name == "workspace")
        assert sorted(option.opts) == ["--workspace", "-w"], path
        assert option.envvar == "RXRING_WORKSPACE", path
        assert option.help.startswith(WORKSPACE_HELP), path


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from rxring.synth import generate

    root = tmp_path_factory.mktemp("envcity")
    summary = generate(root / "city", seed=5, patients=300, days=30)
    ws = root / "ws"
    analyze(ws, "embedded", inputs=[summary.inputs_dir])
    rings = json.loads(CliRunner().invoke(cli, ["rings", "-w", str(ws), "--json", "--reveal-pii"]).output)
    ring = rings[0]
    finding = json.loads(CliRunner().invoke(cli, ["findings", "-w", str(ws), "--json"]).output)[0]
    return {"inputs": str(summary.inputs_dir), "ws": ws, "ring": ring["ring_id"],
            "site": ring["laundering_sites"][0], "patient": ring["source_patients"][0],
            "code": finding["trace_codes"][0], "finding": finding["finding_id"]}


def _bad_options_workspace(tmp):
    ws = tmp / "bad-options"
    ws.mkdir()
    (ws / "analysis.json").write_text(json.dumps({"options": {"split_above": 1}}), encoding="utf-8")
    return ws


def _cases_workspace(c, tmp, case: bool = True):
    """A copy of the city with (when *case*) case 1, assigned to wang, and the account wang (a viewer)."""
    import shutil

    from rxring.cases.store import assign, open_case
    from rxring.cases.users import Actor, add_user

    ws = tmp / "cases-ws"
    shutil.copytree(c["ws"], ws)
    if case:
        boss = Actor("li", "admin", "cli")
        assign(ws, boss, open_case(ws, boss, "findings", "env case")["id"], "wang")
        add_user(ws, "wang", "viewer", "first-password-1")
    return ws


def _with_leads(c, tmp):
    """:func:`_cases_workspace` with a lead list of one code imported."""
    from rxring.cases.leads import import_leads
    from rxring.cases.users import Actor

    ws = _cases_workspace(c, tmp)
    import_leads(ws, _file(tmp, "l.csv", f"追溯码,疑点原因\n{c['code']},x\n"), Actor("li", "admin", "cli"))
    return ws


def _with_exception(c, tmp):
    """:func:`_cases_workspace` with exception 1 recorded by wang on the first finding."""
    from rxring.cases.exceptions import record_exception

    ws = _cases_workspace(c, tmp)
    record_exception(ws, c["finding"], "transfer", "调拨单", "wang")
    return ws


def _file(tmp, name: str, text: str):
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# command -> (workspace to put in RXRING_WORKSPACE, arguments, what the output must show)
CASES = {
    # cases, lead lists, accounts, the audit log (rxring.commands.cases)
    "audit show": (_cases_workspace, lambda c, tmp: ["audit", "show"], "case_open"),
    "audit verify": (_cases_workspace, lambda c, tmp: ["audit", "verify"], "chain intact"),
    "cases assign": (_cases_workspace, lambda c, tmp: ["cases", "assign", "1", "zhao"], "assignee: zhao"),
    "cases attach": (_cases_workspace, lambda c, tmp: ["cases", "attach", "1", _file(tmp, "note.txt", "scan")],
                     "attached to case 1"),
    "cases comment": (_cases_workspace, lambda c, tmp: ["cases", "comment", "1", "ok"], "added to case 1"),
    "cases evidence": (_cases_workspace, lambda c, tmp: ["cases", "evidence", "1", "-o", str(tmp / "c.zip")],
                       "MANIFEST.sha256"),
    "cases export": (_cases_workspace, lambda c, tmp: ["cases", "export", "-o", str(tmp / "l.csv")], "1 cases"),
    "cases list": (_cases_workspace, lambda c, tmp: ["cases", "list"], "env case"),
    "cases open": (lambda c, tmp: _cases_workspace(c, tmp, case=False),
                   lambda c, tmp: ["cases", "open", "--ring", c["ring"]], "案件 case 1"),
    "cases show": (_cases_workspace, lambda c, tmp: ["cases", "show", "1"], "历史 history"),
    "cases state": (_cases_workspace, lambda c, tmp: ["cases", "state", "1", "verifying", "--reason", "go"],
                    "verifying"),
    "leads import": (_cases_workspace, lambda c, tmp: ["leads", "import", "--no-progress",
                                                       _file(tmp, "l.csv", f"追溯码,疑点原因\n{c['code']},x\n")],
                     "1 rows read = 1 matched"),
    "leads list": (lambda c, tmp: _with_leads(c, tmp), lambda c, tmp: ["leads", "list"], "l.csv"),
    "users add": (_cases_workspace, lambda c, tmp: ["users", "add", "sun", "--role", "viewer", "--password-file",
                                                    _file(tmp, "pw", "a-long-password\n")], "account sun (viewer)"),
    "users disable": (_cases_workspace, lambda c, tmp: ["users", "disable", "wang"], "account wang disabled"),
    "users list": (_cases_workspace, lambda c, tmp: ["users", "list"], "wang"),
    "users passwd": (_cases_workspace, lambda c, tmp: ["users", "passwd", "wang", "--password-file",
                                                       _file(tmp, "pw", "a-long-password\n")], "password of wang"),
    # explained findings and triage (rxring.commands: exceptions, triage)
    "exceptions add": (_cases_workspace, lambda c, tmp: ["exceptions", "add", c["finding"], "--kind", "transfer",
                                                         "--reason", "调拨单", "--operator", "wang"],
                       "awaiting approval"),
    "exceptions approve": (lambda c, tmp: _with_exception(c, tmp),
                           lambda c, tmp: ["exceptions", "approve", "1", "--operator", "li"], "approved by li"),
    "exceptions list": (lambda c, tmp: _with_exception(c, tmp), lambda c, tmp: ["exceptions", "list"], "transfer"),
    "exceptions revoke": (lambda c, tmp: _with_exception(c, tmp),
                          lambda c, tmp: ["exceptions", "revoke", "1", "--reason", "no", "--operator", "li"],
                          "revoked by li"),
    "triage": (lambda c, tmp: c["ws"], lambda c, tmp: ["triage", c["code"]], "追溯码 trace code"),
    "users role": (_cases_workspace, lambda c, tmp: ["users", "role", "wang", "admin"], "wang is now admin"),
    "ingest": (lambda c, tmp: tmp / "fresh", lambda c, tmp: ["ingest", c["inputs"], "--no-progress"], "events written"),
    "analyze": (lambda c, tmp: c["ws"], lambda c, tmp: ["analyze", "--no-progress"], "rings."),
    "rings": (lambda c, tmp: c["ws"], lambda c, tmp: ["rings"], "R001"),
    "ring": (lambda c, tmp: c["ws"], lambda c, tmp: ["ring", c["ring"]], "Laundering sites"),
    "findings": (lambda c, tmp: c["ws"], lambda c, tmp: ["findings", "--limit", "3"], "more findings"),
    "box": (lambda c, tmp: c["ws"], lambda c, tmp: ["box", c["code"], "--backend", "embedded"], "Trace code"),
    "site": (lambda c, tmp: c["ws"], lambda c, tmp: ["site", c["site"], "--backend", "embedded"], "findings"),
    "patient": (lambda c, tmp: c["ws"], lambda c, tmp: ["patient", c["patient"], "--backend", "embedded"],
                "findings"),
    "report": (lambda c, tmp: c["ws"], lambda c, tmp: ["report", "--format", "csv", "-o", str(tmp / "r.csv")],
               "r.csv"),
    "viz": (lambda c, tmp: c["ws"], lambda c, tmp: ["viz", c["ring"], "-o", str(tmp / "v.html")], "v.html"),
    "evidence create": (lambda c, tmp: c["ws"],
                        lambda c, tmp: ["evidence", c["ring"], "-o", str(tmp / "e.zip")], "package digest"),
    "load": (lambda c, tmp: c["ws"], lambda c, tmp: ["load", "--neo4j", NOWHERE, "--no-progress"],
             f"cannot reach Neo4j at {NOWHERE}"),
    # stops at its own check, after the options (--workspace among them) were accepted
    "neo4j import": (lambda c, tmp: c["ws"], lambda c, tmp: ["neo4j", "import", "--files-only"],
                     "--files-only needs --out DIR"),
    # an unanalysed workspace stops it before the server starts, after --workspace was taken from the environment
    "serve": (lambda c, tmp: tmp, lambda c, tmp: ["serve", "--port", "0"], "run `rxring analyze --workspace"),
    # optional workspace: its (bad) analysis options stop the command before it connects
    "neo4j run": (lambda c, tmp: _bad_options_workspace(tmp), lambda c, tmp: ["neo4j", "run", "rings", "--neo4j",
                                                                              NOWHERE],
                  "bad analysis option: split_above"),
}


@pytest.mark.parametrize("command", sorted(CASES))
def test_workspace_from_the_environment(command, city, tmp_path, monkeypatch):
    for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    workspace, arguments, expected = CASES[command]
    env = {"RXRING_WORKSPACE": str(workspace(city, tmp_path))}
    result = CliRunner().invoke(cli, arguments(city, tmp_path), env=env)
    assert "Missing option" not in result.output, result.output
    assert expected in result.output, result.output
    if command in ("load", "neo4j run", "serve"):
        assert result.exit_code == 2 and result.output.startswith("rxring: error:"), result.output
    elif command == "neo4j import":
        assert result.exit_code == 2, result.output
    else:
        assert result.exit_code == 0, result.output
