"""A workspace: the folder where ingest, analysis and reports keep their files.

Layout::

    DIR/events/part-<sha>.parquet   canonical events, one part per ingested input file
    DIR/deletions.parquet           NHSA 3507 deletions (record_no, event_type) to honour
    DIR/masters/<name>.parquet      sites, products, patients, prescribers
    DIR/quarantine.csv              rejected rows: source_file, source_line, reason, raw
    DIR/manifest.json               ingest manifest: every input, its SHA-256 and row counts
    DIR/findings.parquet            rule findings (schema.FINDING_COLUMNS)
    DIR/rings.parquet               scored rings (schema.RING_COLUMNS)
    DIR/analysis.json               parameters, seed and version of the last analysis
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .errors import RxringError
from .schema import EVENT_SCHEMA


__all__ = ["Workspace", "as_workspace"]


def as_workspace(workspace, create: bool = False) -> "Workspace":
    """*workspace* as a :class:`Workspace` (a path is opened; a Workspace is returned as it is)."""
    return workspace if isinstance(workspace, Workspace) else Workspace(workspace, create=create)


class Workspace:
    """Paths and readers for one workspace folder."""

    def __init__(self, root: str | Path, create: bool = False):
        self.root = Path(root)
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
            self.events_dir.mkdir(exist_ok=True)
            self.masters_dir.mkdir(exist_ok=True)
        elif not self.root.is_dir():
            raise RxringError(f"workspace {self.root} does not exist; run `rxring ingest ... --workspace {self.root}` first")

    @property
    def events_dir(self) -> Path:
        return self.root / "events"

    @property
    def masters_dir(self) -> Path:
        return self.root / "masters"

    @property
    def quarantine_path(self) -> Path:
        return self.root / "quarantine.csv"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def deletions_path(self) -> Path:
        return self.root / "deletions.parquet"

    @property
    def findings_path(self) -> Path:
        return self.root / "findings.parquet"

    @property
    def rings_path(self) -> Path:
        return self.root / "rings.parquet"

    @property
    def analysis_path(self) -> Path:
        return self.root / "analysis.json"

    def event_parts(self) -> list[Path]:
        return sorted(self.events_dir.glob("*.parquet")) if self.events_dir.is_dir() else []

    def events_dataset(self) -> ds.Dataset:
        """All event parts as one pyarrow dataset (streamable, nothing loaded yet)."""
        parts = self.event_parts()
        if not parts:
            raise RxringError(f"workspace {self.root} holds no events; ingest some input first")
        return ds.dataset([str(p) for p in parts], schema=EVENT_SCHEMA, format="parquet")

    def read_events(self, columns: list[str] | None = None):
        """The whole event table as a pandas DataFrame (small and medium cities)."""
        return self.events_dataset().to_table(columns=columns).to_pandas()

    def write_event_part(self, name: str, table: pa.Table) -> Path:
        path = self.events_dir / f"part-{name}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table.cast(EVENT_SCHEMA), tmp, compression="zstd")
        tmp.replace(path)
        return path

    def master(self, name: str):
        """A master table (sites, products, patients, prescribers) or None."""
        path = self.masters_dir / f"{name}.parquet"
        if not path.exists():
            return None
        import pandas as pd

        return pd.read_parquet(path)

    def manifest(self) -> dict:
        if not self.manifest_path.exists():
            return {"inputs": []}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: dict) -> None:
        tmp = self.manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self.manifest_path)
