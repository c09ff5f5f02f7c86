"""The evidence package of a case: its record, history, comments, leads, attachments and its ring's package.

One zip (``WS/evidence/case-<id>.zip`` by default).  A case that holds a ring gets
the ring's sealed package (:func:`rxring.report.build_evidence`, masked: 提取笔录,
manifest, signed statement) with the case as its ``case_record/`` section
(:class:`rxring.report.EvidenceSection`), so the manifest, the 提取笔录 and the
signature cover the case record too::

    case_record/case.json            the case, its findings, leads, comments and attachments (metadata)
    case_record/history.csv          every change: 时间 at, 人员 who, 项目 field, 原值 from, 新值 to, 理由 why
    case_record/attachments/<sha256>-<name>   each attached document, as stored
    ...                       the ring's package (case.json of the ring, custody, queries, 提取笔录 ...)

A case without a ring (leads only), or whose ring is gone from the current
results, gets the ``case_record/`` files alone, sealed the same way (manifest and statement).

Personal ids are masked as everywhere (the ring package is built masked); the
package is recorded in the audit log (event ``evidence``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .. import audit
from ..errors import RxringError
from ..jsonout import dumps
from .leads import list_leads
from .store import attachment_path, attachments, comments, get_case, history
from .users import Actor

__all__ = ["case_evidence"]
_HISTORY_HEADER = ["时间 at", "人员 who", "项目 field", "原值 from", "新值 to", "理由 why"]


def _history_csv(rows: list[dict]) -> bytes:
    from ..report.tables import csv_bytes

    return csv_bytes(list(_HISTORY_HEADER),
                     [[h[k] for k in ("at", "actor", "field", "old_value", "new_value", "reason")] for h in rows])


def case_evidence(workspace, case_id: int, actor: Actor, output=None) -> tuple[Path, str]:
    """Write the evidence package of case *case_id*; return (path, SHA-256 of its manifest).

    An investigator or above may.  Raises :class:`~rxring.errors.RxringError` when an
    attachment on disk no longer matches its SHA-256.
    """
    if not actor.may("investigator"):
        raise RxringError(f"{actor.name} ({actor.role}) may not build evidence packages: needs investigator")
    root = Path(os.fspath(workspace))
    case = get_case(root, case_id)
    files: dict[str, bytes] = {}
    attached = attachments(root, case_id)
    for row in attached:
        data = attachment_path(root, row["sha256"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise RxringError(f"attachment {row['filename']} of case {case_id} no longer matches its SHA-256 "
                              f"{row['sha256']}: the stored file was altered")
        files[f"case_record/attachments/{row['sha256']}-{row['filename']}"] = data
    record = {"case": case, "leads": list_leads(root, case_id=case_id), "comments": comments(root, case_id),
              "attachments": attached}
    output = Path(output) if output is not None else root / "evidence" / f"case-{case_id}.zip"
    digest = None
    if case["ring_id"]:
        from ..report import EvidenceSection, build_evidence

        section = {name.removeprefix("case_record/"): data for name, data in files.items()}
        section["history.csv"] = _history_csv(history(root, case_id))
        record["ring_package"] = {"ring_id": case["ring_id"], "sealed_with_this_case": True}
        section["case.json"] = dumps(record).encode("utf-8")
        try:
            package = build_evidence(root, case["ring_id"], output, operator=actor.name,
                                     sections=[EvidenceSection("case_record", "案件记录", "Case record", section)])
        except RxringError as exc:   # the ring is gone from the current results: say so in the package
            record["ring_package"] = f"not built: {exc}"
        else:
            digest = package.digest
    if digest is None:
        digest = _case_only_zip(output, files, record, history(root, case_id))
    audit.append(root, "evidence", actor.name, {"case": case_id, "ring": case["ring_id"], "file": output.name,
                                                "manifest_sha256": digest})
    return output, digest


def _case_only_zip(output: Path, files: dict[str, bytes], record: dict, changes: list[dict]) -> str:
    """Write the ``case_record/`` files alone as a package (manifest and unsigned statement, as every evidence
    package: :func:`rxring.report.seal.write_package`); return its digest."""
    from ..report.seal import Seal, creation_time, write_package

    files = {**files, "case_record/case.json": dumps(record).encode("utf-8"),
             "case_record/history.csv": _history_csv(changes)}
    digest, _, _ = write_package(output, files, lambda _digest: {}, Seal(), creation_time())
    return digest
