"""`--input-limit NAME=VALUE` on `rxring ingest` and `rxring analyze`: one definition of the limits
(rxring.ingest.sniff), the option over the environment, one error line for a bad name or value."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from rxring.cli import cli
from rxring.ingest.sniff import _ENV, LIMIT_VARIABLES, Limits, limits, limits_set

MESSAGE = {"infno": "3505", "msgid": "M1", "fixmedins_code": "P1", "sel_retn_time": "2026-01-01 10:00:00",
           "drug_trac_codg": "81151257914085620001", "extra": {"a": {"b": {"c": 1}}}}  # nested 4 deep


def _inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "m.jsonl").write_text(json.dumps(MESSAGE) + "\n", encoding="utf-8")
    return folder


def test_every_limit_and_the_time_window_have_one_name():
    assert LIMIT_VARIABLES == {"max-decompressed": "RXRING_MAX_DECOMPRESSED", "max-ratio": "RXRING_MAX_RATIO",
                               "max-line-bytes": "RXRING_MAX_LINE_BYTES", "max-json-depth": "RXRING_MAX_JSON_DEPTH",
                               "max-document-bytes": "RXRING_MAX_DOCUMENT_BYTES", "time-window": "RXRING_TIME_WINDOW"}
    assert set(_ENV) == {f.name for f in Limits.__dataclass_fields__.values()}


def test_limits_set_overrides_the_environment_and_restores_it(monkeypatch):
    monkeypatch.setenv("RXRING_MAX_RATIO", "300")
    monkeypatch.delenv("RXRING_MAX_DECOMPRESSED", raising=False)
    with limits_set(["max-ratio=500", "MAX_DECOMPRESSED=128GiB", "max-ratio=600"]) as lim:
        assert (lim.max_ratio, lim.max_decompressed) == (600.0, 128 << 30)  # the last one wins
        assert limits() == lim
    assert os.environ["RXRING_MAX_RATIO"] == "300" and "RXRING_MAX_DECOMPRESSED" not in os.environ


@pytest.mark.parametrize("command", ["ingest", "analyze"])
def test_the_option_sets_a_limit_for_one_run(tmp_path, monkeypatch, command):
    monkeypatch.setenv("RXRING_MAX_JSON_DEPTH", "1000")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(cli, [command, str(_inputs(tmp_path)), "-w", str(ws), "--no-progress",
                                      "--input-limit", "max-json-depth=3"])
    assert result.exit_code in (0, 2), result.output
    with open(ws / "quarantine.csv", encoding="utf-8") as fh:
        text = fh.read()
    assert "JSON nested deeper than 3 levels" in text and "RXRING_MAX_JSON_DEPTH" in text
    assert os.environ["RXRING_MAX_JSON_DEPTH"] == "1000"  # the option does not outlive the command


@pytest.mark.parametrize("given, expected", [
    ("max-size=1G", "rxring: error: --input-limit 'max-size=1G': expected NAME=VALUE, NAME one of max-decompressed"),
    ("max-ratio", "rxring: error: --input-limit 'max-ratio': expected NAME=VALUE"),
    ("max-ratio=lots", "rxring: error: --input-limit max-ratio=lots: not a positive number"),
    ("max-line-bytes=-5M", "rxring: error: --input-limit max-line-bytes=-5M: not a positive number"),
    ("time-window=2030..2020", "rxring: error: --input-limit time-window=2030..2020: time window"),
])
@pytest.mark.parametrize("command", ["ingest", "analyze"])
def test_a_bad_name_or_value_is_one_error_line(tmp_path, given, expected, command):
    ws = tmp_path / "ws"
    result = CliRunner().invoke(cli, [command, str(_inputs(tmp_path)), "-w", str(ws), "--input-limit", given])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(expected), result.output
    assert "Traceback" not in result.output and not (ws / "manifest.json").exists()


def test_help_names_the_limits():
    for command in ("ingest", "analyze"):
        text = CliRunner().invoke(cli, [command, "--help"]).output
        assert "--input-limit NAME=VALUE" in text
        for variable in LIMIT_VARIABLES.values():
            assert variable in text
