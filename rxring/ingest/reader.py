"""Reading the workspace's events the way every engine sees them.

Ingest never rewrites a part to correct it; two corrections are applied on read,
by the one definition every backend uses (:mod:`rxring.rules.events`):

* NHSA 3507 deletions (``deletions.parquet``) — events whose ``record_no``
  (fixmedins_bchno / medins_prod_sel_no) matches a deletion are removed, at the
  deletion's site when it names one, for the event types its ``inv_data_type``
  names;
* repeated ``event_id`` (the same NHSA message in two overlapping exports, the
  same file under two names) — the first copy by source file and line is kept.
"""

from __future__ import annotations

import pandas as pd

from ..errors import RxringError
from ..schema import EVENT_SCHEMA
from ..workspace import as_workspace

__all__ = ["read_events"]


def read_events(workspace, columns: list[str] | None = None) -> pd.DataFrame:
    """The workspace's events that count: duplicates dropped, 3507 deletions honoured.

    Parameters
    ----------
    workspace : Workspace or str or Path
    columns : list of str, optional
        Columns to return (all of :data:`rxring.schema.EVENT_SCHEMA` by default).

    Returns
    -------
    pandas.DataFrame
        In input order (part files by name, rows in each part).

    Raises
    ------
    RxringError
        When the workspace holds no events, or for an unknown column.

    See Also
    --------
    rxring.workspace.Workspace.read_events : the raw parts, duplicates and deleted events included.
    """
    from ..backends.duckdb import counted_events

    ws = as_workspace(workspace)
    if not ws.event_parts():
        raise RxringError(f"workspace {ws.root} holds no events; ingest some input first")
    wanted = list(columns) if columns else list(EVENT_SCHEMA.names)
    unknown = [c for c in wanted if c not in EVENT_SCHEMA.names]
    if unknown:
        raise RxringError(f"unknown event column(s): {', '.join(unknown)}")
    return counted_events(ws, columns=wanted).to_pandas()
