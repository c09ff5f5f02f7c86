"""rxring: find resale rings of returned drugs (回流药) in drug traceability-code data.

The CLI (``rxring``) is a shell over these calls, each also usable from Python::

    import rxring
    rxring.ingest(["exports/"], "ws")                 # files -> canonical events (+ quarantine)
    result = rxring.analyze("ws")                     # rules + rings, backend "embedded" | "spark" | "neo4j"
    rxring.load_rings("ws"); rxring.box_timeline("ws", "8115...")

The package is laid out as the pipeline: ``ingest/`` (files to events),
``rules/`` (the rule registry and its SQL and Cypher), ``backends/`` (DuckDB,
Spark, Neo4j), ``analysis`` (the one call), ``rings`` (resale graph and
communities), ``results`` (reading what an analysis wrote), ``report/`` (reports,
visualisation, evidence), ``commands/`` and ``cli`` (the command line).
"""

from __future__ import annotations

from importlib import import_module

from .errors import RxringError
from .version import __version__

#: Public name -> module that defines it (imported on first use, so ``import rxring`` stays light).
_EXPORTS = {
    "analyze": "rxring.analysis",
    "run_rules": "rxring.analysis",
    "AnalysisResult": "rxring.analysis",
    "AnalysisOptions": "rxring.options",
    "ingest": "rxring.ingest",
    "read_events": "rxring.ingest",
    "load_findings": "rxring.results",
    "load_rings": "rxring.results",
    "load_analysis": "rxring.results",
    "box_timeline": "rxring.results",
    "box_report": "rxring.results",
    "entity_report": "rxring.results",
    "build_rings": "rxring.rings",
    "build_report": "rxring.report",
    "build_evidence": "rxring.report",
    "write_viz": "rxring.report",
    "RULES": "rxring.schema",
    "BACKENDS": "rxring.backends",
}

__all__ = ["RxringError", "__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rxring' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
