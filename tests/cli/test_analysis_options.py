"""`rxring analyze` has exactly one option per AnalysisOptions field, built from the field's metadata."""

import dataclasses
import re

import click
from click.testing import CliRunner

from rxring.cli import cli
from rxring.commands.analyze import analyze_command
from rxring.commands.options import analysis_options, options_from_values
from rxring.options import AnalysisOptions
from rxring.schema import EVENT_TYPES, RULES

FIELDS = dataclasses.fields(AnalysisOptions)
# The analyze options that are not analysis thresholds.
OTHER_FLAGS = {"--workspace", "--backend", "--engine", "--neo4j", "--spark-master", "--progress", "--no-progress",
               "--limit", "--json", "--reveal-pii", "--operator", "--help", "--input-limit", "--columns"}


def _flag(field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def test_help_lists_exactly_the_fields():
    text = CliRunner().invoke(cli, ["analyze", "--help"], terminal_width=200).output
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text.split("Options:", 1)[1]))
    assert flags - OTHER_FLAGS == {_flag(f) for f in FIELDS}
    # Tuple fields take one item per flag: their flags stay singular.
    assert {_flag(f) for f in FIELDS if isinstance(f.default, tuple)} == {"--provenance-type", "--ring-rule"}
    for field in FIELDS:
        default = field.default
        shown = ", ".join(default) if isinstance(default, tuple) else str(default)
        assert f"[default: {shown}" in text, field.name


def test_each_option_matches_its_field():
    params = {p.name: p for p in analyze_command.params}
    for field in FIELDS:
        param = params[field.name]
        assert param.opts == [_flag(field)]
        assert param.multiple == isinstance(field.default, tuple)
        assert param.default == field.default and param.show_default
        assert param.help == field.metadata["help"]
        bounds = field.metadata.get("range")
        if bounds:
            assert isinstance(param.type, (click.FloatRange, click.IntRange))
            assert (param.type.min, param.type.max, param.type.min_open) == (bounds["min"], bounds["max"],
                                                                            bounds["min_open"])
    assert tuple(params["provenance_types"].type.choices) == EVENT_TYPES
    assert tuple(params["ring_rules"].type.choices) == tuple(RULES)


def test_ranges_are_enforced_on_the_command_line_and_in_python():
    for field in FIELDS:
        bounds = field.metadata.get("range")
        if not bounds or bounds["min"] is None:
            continue
        below = bounds["min"] - 1
        result = CliRunner().invoke(cli, ["analyze", "-w", "unused", _flag(field), str(below)])
        assert result.exit_code == 2 and "Invalid value" in result.output, field.name
        try:
            AnalysisOptions(**{field.name: below})
        except Exception as exc:  # noqa: BLE001 - the message is what matters
            assert f"{field.name} must be" in str(exc)
        else:
            raise AssertionError(f"{field.name}={below} accepted")


def test_values_become_options():
    @click.command()
    @analysis_options
    def show(**values):
        options = options_from_values(values)
        assert not values  # every field was taken
        click.echo(repr(options))

    result = CliRunner().invoke(show, ["--seed", "7", "--ring-rule", "RESURFACE", "--ring-rule", "EXPIRED",
                                       "--provenance-type", "inbound"])
    assert result.exit_code == 0, result.output
    expected = AnalysisOptions(seed=7, ring_rules=("RESURFACE", "EXPIRED"), provenance_types=("inbound",))
    assert result.output.strip() == repr(expected)
    assert CliRunner().invoke(show, ["--provenance-type", "sold"]).exit_code == 2
