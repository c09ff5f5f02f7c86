"""Fixtures for the ingest tests (plain helpers: tests/ingest/helpers.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from rxring.ingest import ingest, read_events

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def run_ingest(tmp_path):
    """Ingest paths into a fresh workspace; returns (report, events, quarantine)."""

    def run(*paths, workspace=None):
        ws = workspace or tmp_path / "ws"
        report = ingest([str(p) for p in paths], ws, progress=False)
        try:
            events = read_events(ws)
        except Exception:  # noqa: BLE001 - no events is a valid outcome in some tests
            events = pd.DataFrame()
        qpath = Path(ws) / "quarantine.csv"
        quarantine = pd.read_csv(qpath, dtype={"raw": str}, keep_default_na=False) if qpath.exists() else pd.DataFrame(
            columns=["source_file", "source_line", "reason", "raw"]
        )
        return report, events, quarantine

    return run


@pytest.fixture
def copy_fixture(tmp_path):
    """Copy a fixture file into tmp_path (so its source_file is short and stable)."""

    def copy(name: str, target: str | None = None) -> Path:
        dest = tmp_path / "in" / (target or name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / name, dest)
        return dest

    return copy

