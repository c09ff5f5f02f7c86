"""docs/cli.md is generated from --help and must match the code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_command_has_help_text():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in ("ingest", "analyze", "rings", "ring", "findings", "box", "site", "patient",
                    "report", "viz", "evidence", "load", "neo4j", "synth", "demo", "code"):
        assert f"## `rxring {command}`" in text
