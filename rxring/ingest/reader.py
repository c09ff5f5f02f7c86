"""Reading the workspace's events the way every engine should see them.

Two corrections are applied on read, never by rewriting parts:

* duplicate ``event_id`` across parts (the same NHSA message in two overlapping
  exports, the same file under two names) — the first ingested copy is kept;
* NHSA 3507 deletions (``deletions.parquet``: record_no, event_type, site_id) —
  events whose ``record_no`` (fixmedins_bchno / medins_prod_sel_no) matches a
  deletion are removed, when the deletion names a site only at that site, and when
  it names an event type only events of that type.  ``inv_data_type`` 1 盘存,
  2 库存变更, 3 采购/采购退货, 4 销售/销售退货 (or an infno 3501–3506) gives the
  types; a deletion without it matches any type.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.dataset as ds

from ..errors import RxringError
from ..schema import EVENT_SCHEMA
from ..workspace import Workspace
from .store import read_deletions

__all__ = ["read_events", "event_parts_in_order"]

_NEEDED = ("event_id", "record_no", "site_id", "event_type")


def event_parts_in_order(ws: Workspace) -> list:
    """Event parts in ingest order (manifest order), then any others by name."""
    parts = {p.name: p for p in ws.event_parts()}
    ordered = []
    for entry in ws.manifest().get("inputs", []):
        name = entry.get("part")
        if name and name in parts:
            ordered.append(parts.pop(name))
    return ordered + [parts[n] for n in sorted(parts)]


def read_events(workspace, columns: list[str] | None = None, apply_deletions: bool = True) -> pd.DataFrame:
    """The workspace's events, duplicates dropped and 3507 deletions honoured.

    Parameters
    ----------
    workspace : Workspace or str or Path
    columns : list of str, optional
        Columns to return (all of :data:`rxring.schema.EVENT_SCHEMA` by default).
    apply_deletions : bool
        Remove events deleted by NHSA 3507 messages (default True).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    RxringError
        When the workspace holds no events.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    parts = event_parts_in_order(ws)
    if not parts:
        raise RxringError(f"workspace {ws.root} holds no events; ingest some input first")
    wanted = list(columns) if columns else list(EVENT_SCHEMA.names)
    unknown = [c for c in wanted if c not in EVENT_SCHEMA.names]
    if unknown:
        raise RxringError(f"unknown event column(s): {', '.join(unknown)}")
    load = wanted + [c for c in _NEEDED if c not in wanted]
    dataset = ds.dataset([str(p) for p in parts], schema=EVENT_SCHEMA, format="parquet")
    table = dataset.to_table(columns=load)
    frame = table.to_pandas()
    frame = frame.drop_duplicates(subset="event_id", keep="first")
    if apply_deletions:
        frame = _apply_deletions(frame, read_deletions(ws))
    return frame[wanted].reset_index(drop=True)


def _apply_deletions(frame: pd.DataFrame, deletions: pd.DataFrame) -> pd.DataFrame:
    if deletions.empty or frame.empty:
        return frame
    candidates = frame[frame["record_no"].isin(set(deletions["record_no"].dropna()))]
    if candidates.empty:
        return frame
    drop = pd.Series(False, index=frame.index)
    for _, d in deletions.iterrows():
        hit = candidates["record_no"] == d["record_no"]
        if d["site_id"] is not None and not pd.isna(d["site_id"]):
            hit &= candidates["site_id"] == d["site_id"]
        if d["event_type"] is not None and not pd.isna(d["event_type"]):
            hit &= candidates["event_type"] == d["event_type"]
        drop.loc[candidates.index[hit.to_numpy()]] = True
    return frame[~drop]
