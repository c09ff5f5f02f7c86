"""CLI commands for investigator outputs: `report`, `viz`, `evidence` (+ `evidence verify`).

Thin shells over :mod:`rxring.report`; every option maps to a parameter there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..keys import read_passphrase
from ..report.evidence import build_evidence
from ..report.seal import Seal, add_timestamp, sidecar_path
from ..report.build import FORMATS, build_report
from ..report.verify import verify_evidence, verify_lines
from ..report.viz import write_viz
from .. import results
from . import options as opt
from .output import echo_json

_lang = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of labels.")
_reveal = opt.reveal_pii_option("Show patient/prescriber ids and names unmasked (recorded in the output).")


def _audit(workspace, event: str, details: dict) -> None:
    """One line in the workspace's audit log (rxring.audit) by --operator / RXRING_OPERATOR or the OS user."""
    from .. import audit
    from ..reveal import acting_user

    audit.append(workspace, event, acting_user(opt.current_operator()), details)


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
    sheets rings, findings, members; pdf is a printable dossier (the rings at a glance, then
    per ring its members by role, a ring diagram, findings and the chain of custody of its
    first 20 boxes; page numbers and the inputs' digest on every page).  Personal data is
    masked unless --reveal-pii.  SOURCE_DATE_EPOCH, when set, is the time the report says it
    was made.
    """
    results.stale_warning(workspace)
    paths = build_report(workspace, fmt=fmt, lang=lang, output=output, reveal_pii=reveal_pii, ring_ids=list(ring_ids))
    _audit(workspace, "export", {"what": "report", "format": fmt, "files": [Path(p).name for p in paths][:20],
                                 "rings": list(ring_ids) or "all", "reveal_pii": bool(reveal_pii)})
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
    missing and extra files; with --pubkey it checks the organisation's signature
    (`rxring keys init` makes the key, `--sign` uses it).  `rxring evidence
    timestamp case.zip --tsa URL` adds a trusted timestamp to a package made offline.
    """


_passphrase = click.option("--passphrase-file", type=click.Path(dir_okay=False),
                           help="File whose first line is the private key's passphrase.")


@evidence_group.command("create")
@click.argument("ring")
@opt.workspace
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Zip file (default WS/evidence/<ring>.zip).")
@click.option("--sign", "sign_key", type=click.Path(dir_okay=False),
              help="Organisation private key (rxring keys init): signs signature/statement.json.")
@_passphrase
@click.option("--tsa", "tsa_url", metavar="URL", help="RFC 3161 timestamp authority to timestamp the package digest.")
@click.option("--holder", metavar="NAME", help="Data holder named in the 提取笔录 (default: a line to fill in).")
@_reveal
def evidence_create(ring, workspace, output, sign_key, passphrase_file, tsa_url, holder, reveal_pii):
    """Write the evidence package of RING (same as `rxring evidence RING`).

    The package holds the 提取笔录 (extraction_record.zh.md / .en.md: case, holder,
    time, place, method, steps, every input and file with SHA-256 and SM3,
    signature lines) and signature/statement.json (package digest, creation time);
    --sign signs the statement, --tsa adds a trusted timestamp.  Beside the zip,
    ZIP.sha256 holds the zip's own SHA-256.  The same workspace, options, key and
    SOURCE_DATE_EPOCH give the same bytes, wherever the workspace, the key and the zip
    lie (the command line is recorded with WORKSPACE, OUTPUT, KEY for their paths).
    --operator names who made it.
    """
    results.stale_warning(workspace)
    seal = Seal(sign_key=sign_key, passphrase=read_passphrase(passphrase_file), tsa_url=tsa_url)
    package = build_evidence(workspace, ring, output, reveal_pii=reveal_pii,
                             operator=opt.current_operator(), holder=holder, seal=seal)
    _audit(workspace, "evidence", {"ring": ring, "file": package.path.name, "manifest_sha256": package.digest,
                                   "reveal_pii": package.reveal_pii})
    click.echo(f"{package.path}")
    click.echo(f"证据包摘要 package digest (SHA-256 of MANIFEST.sha256): {package.digest}")
    click.echo(f"zip 文件的 SHA-256 见 / zip SHA-256 in {sidecar_path(package.path).name}；"
               "提取笔录 extraction record: extraction_record.zh.md")
    click.echo(f"已用密钥签名 / signed with key {package.signer_key_id}" if package.signer_key_id
               else "未签名 / not signed (--sign)")
    if package.reveal_pii:
        click.echo("个人信息已显示（--reveal-pii），已记入证据包和工作区的 reveals.jsonl / personal data revealed "
                   "(--reveal-pii); this is recorded in the package and in the workspace's reveals.jsonl")


#: What `--check-inputs` found for an input (rxring.report.verify), in Chinese; any other status: not checked.
_INPUT_STATUS = {"matches": "相符", "differs": "不符", "not found": "未找到"}


@evidence_group.command("verify")
@click.argument("package", type=click.Path(dir_okay=False))
@click.option("--expect", "expect_digest", metavar="SHA256",
              help="Package digest (or the zip's SHA-256) recorded elsewhere when it was made.")
@click.option("--pubkey", type=click.Path(dir_okay=False), help="Organisation public key (PEM): check the signature.")
@click.option("--tsa-cert", type=click.Path(dir_okay=False),
              help="Timestamp authority certificates (PEM: root and chain): check the timestamp offline.")
@click.option("--check-inputs", "input_dirs", multiple=True, type=click.Path(file_okay=False), metavar="FOLDER",
              help="Folder holding the original inputs (repeatable): hash the files of inputs.sha256 found there; "
                   "nothing outside the folders is opened.")
@opt.json_option("Print the result as JSON (level, digests, signature, timestamp, problems).")
def evidence_verify(package, expect_digest, pubkey, tsa_cert, input_dirs, as_json):
    """Verify an evidence package: files, manifest, signature (and timestamp), each said apart.

    Exit 1 and list the files if anything was tampered with.  Nothing is
    extracted: members are hashed in memory with size and ratio limits.  Without
    --pubkey (or --expect) only integrity is checked: anyone who alters a file can
    recompute the manifest.
    """
    result = verify_evidence(package, expect_digest=expect_digest, input_dirs=list(input_dirs), pubkey=pubkey,
                             tsa_cert=tsa_cert)
    if as_json:
        echo_json(result.to_dict())
        sys.exit(0 if result.ok else 1)
    for line in verify_lines(result):
        click.echo(line)
    for name, status in result.input_checks:
        click.echo(f"  原始输入 original input {_INPUT_STATUS.get(status, '未能核对')} / {status}: {name}")
    if result.ok:
        for sha, name in result.inputs:
            click.echo(f"  原始输入 input {sha}  {name}")
        return
    for problem in result.problems:
        click.echo(f"问题 TAMPERED {problem}", err=False)
    click.echo(f"{len(result.problems)} 个问题 problem(s) in {result.path}", err=True)
    sys.exit(1)


@evidence_group.command("timestamp")
@click.argument("package", type=click.Path(dir_okay=False, exists=True))
@click.option("--tsa", "tsa_url", metavar="URL", required=True, help="RFC 3161 timestamp authority.")
def evidence_timestamp(package, tsa_url):
    """Add a trusted timestamp to a package made without one (one made offline, say).

    The package is verified first, then rewritten with signature/timestamp.tsr
    (over the unchanged package digest) and a new ZIP.sha256.
    """
    digest = add_timestamp(package, tsa_url)
    click.echo(f"{package}: 已加时间戳 / timestamped (证据包摘要 package digest {digest})；新的 zip SHA-256 见 / "
               f"new zip SHA-256 in {sidecar_path(Path(package)).name}")


COMMANDS = [report_command, viz_command, evidence_group]
