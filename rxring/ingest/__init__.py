"""Ingest: input files → canonical scan events (+ quarantine, + row accounting).

Public API
----------
ingest(paths, workspace, progress=True) -> IngestReport
    Read files or folders into a workspace (see :mod:`rxring.ingest.pipeline`).
read_events(workspace, columns=None) -> DataFrame
    The workspace's events with duplicate event ids dropped and NHSA 3507
    deletions honoured (see :mod:`rxring.ingest.reader`).
parse_code(text) -> ParsedCode
    Take a trace code apart (see :mod:`rxring.ingest.codes`).
"""

import sys
import types

from .accounting import FileReport, IngestReport
from .codes import CodeError, ParsedCode, parse_code
from .pipeline import ingest
from .reader import read_events

__all__ = ["ingest", "IngestReport", "FileReport", "read_events", "parse_code", "ParsedCode", "CodeError"]


class _CallableModule(types.ModuleType):
    """This package, callable as :func:`ingest`: ``rxring.ingest`` names both the package and the
    library call the README shows (``rxring.ingest(["exports/"], "ws")``), and once the package is
    imported Python binds the package, not the function, to ``rxring.ingest``."""

    def __call__(self, *args, **kwargs):
        return ingest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
