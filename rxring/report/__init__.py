"""Investigator outputs: ring reports, offline ring visualisation, evidence packages.

Library first (the CLI commands in :mod:`rxring.commands.report` are shells over these)::

    from rxring.report import build_report, write_viz, build_evidence, verify_evidence
    build_report("ws", "xlsx", "zh", "rings.xlsx")
    write_viz("ws", ["R001"], "R001.html")
    pkg = build_evidence("ws", "R001", "case.zip")
    assert verify_evidence(pkg.path, pkg.digest).ok
"""

from .evidence import EvidencePackage, build_evidence
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
    "verify_evidence",
    "VerifyResult",
]
