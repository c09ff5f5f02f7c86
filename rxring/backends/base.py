"""What every backend implements, and nothing more.

A backend runs the rules' query files (:mod:`rxring.rules.render`) where the data
lives and returns the flat evidence rows (:class:`Evidence`); the ending is
shared and written once, in :mod:`rxring.analysis`: findings
(:func:`rxring.rules.findings.assemble_findings`), rings
(:func:`rxring.rings.build_rings`), stats and one atomic write of the results.

A backend implements

* :meth:`Backend.workspace_evidence` — the evidence of an ingested workspace;
* :meth:`Backend.frame_evidence` — the evidence of a pandas event table (tests,
  small tables, the library call :func:`rxring.analysis.run_rules`);

and may override :meth:`Backend.after_rings` (Neo4j writes the rings back into
the graph), :meth:`Backend.close` and :attr:`Backend.steps` (progress bar
length).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import pandas as pd

from ..options import AnalysisOptions
from ..workspace import Workspace

__all__ = ["Evidence", "Backend", "Steps", "progress_steps"]


@dataclass
class Evidence:
    """What a backend hands to the shared ending.

    Attributes
    ----------
    flat
        Flat evidence rows, columns :data:`rxring.rules.findings.EVIDENCE_COLUMNS`.
    events_read, events_used
        Rows the backend read, and of those the events that count
        (:mod:`rxring.rules.events`).
    stats
        Further figures for ``analysis.json``'s ``stats`` (backend-specific).
    meta
        Further top-level entries of ``analysis.json`` (``{"spark": {...}}``).
    """

    flat: pd.DataFrame
    events_read: int
    events_used: int
    stats: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


class Backend(ABC):
    """One engine behind :func:`rxring.analysis.analyze`."""

    #: The ``--backend`` name, recorded as ``engine`` in analysis.json.
    name: str = ""

    #: Progress steps the backend reports through its ``step`` callable.
    steps: int = 0

    @abstractmethod
    def workspace_evidence(self, ws: Workspace, options: AnalysisOptions, step) -> Evidence:
        """Run the rules over the events of *ws*; call ``step(label)`` before each step.

        *step* is a :class:`Steps` (or None: no progress to report)."""

    @abstractmethod
    def frame_evidence(self, events: pd.DataFrame, options: AnalysisOptions, products: pd.DataFrame | None,
                       deletions: pd.DataFrame | None) -> Evidence:
        """Run the rules over a pandas event table (schema.EVENT_SCHEMA columns)."""

    def after_rings(self, findings: pd.DataFrame, rings: pd.DataFrame) -> None:
        """Called with the finished findings and rings (before they are written)."""

    def close(self) -> None:
        """Release what the backend opened (connections, sessions it started)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Steps:
    """The ``step(label)`` callable a backend calls before each step; ``enabled`` says
    whether a progress bar is shown (a backend may show its own bars then)."""

    def __init__(self, bar, enabled: bool):
        self.bar = bar
        self.enabled = enabled

    def __call__(self, label: str) -> None:
        self.bar.set_postfix_str(label)
        self.bar.update(1)


def progress_steps(enabled: bool, total: int, desc: str):
    """A tqdm bar and its :class:`Steps` (``bar.close()`` when done)."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, disable=not enabled, unit="step", leave=False)
    return bar, Steps(bar, enabled)
