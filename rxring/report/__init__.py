"""Investigator outputs: ring reports, offline ring visualisation, evidence packages.

Library first (the CLI commands in :mod:`rxring.commands.report` are shells over these)::

    from rxring.report import build_report, write_viz, build_evidence, verify_evidence
    build_report("ws", "xlsx", "zh", "rings.xlsx")
    write_viz("ws", ["R001"], "R001.html")
    pkg = build_evidence("ws", "R001", "case.zip")
    assert verify_evidence(pkg.path, pkg.digest).ok

Signed and timestamped (keys from :func:`rxring.keys.init_keys`)::

    pkg = build_evidence("ws", "R001", "case.zip", operator="李警官",
                         seal=Seal(sign_key="keys/rxring-signing-key.pem", tsa_url="http://tsa.example/"))
    verify_evidence(pkg.path, pubkey="keys/rxring-signing-key.pub.pem").level   # 'signed'
"""

from .evidence import EvidencePackage, EvidenceSection, build_evidence
from .seal import Seal, add_timestamp
from .build import FORMATS, build_report, report_data
from .verify import VerifyResult, verify_evidence
from .viz import build_ring_graph, render_viz, write_viz

__all__ = [
    "FORMATS",
    "build_report",
    "report_data",
    "write_viz",
    "build_ring_graph",
    "render_viz",
    "build_evidence",
    "EvidencePackage",
    "EvidenceSection",
    "Seal",
    "add_timestamp",
    "verify_evidence",
    "VerifyResult",
]
