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

from .accounting import FileReport, IngestReport
from .codes import CodeError, ParsedCode, parse_code
from .pipeline import ingest
from .reader import read_events

__all__ = ["ingest", "IngestReport", "FileReport", "read_events", "parse_code", "ParsedCode", "CodeError"]
