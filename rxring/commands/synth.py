"""CLI commands for synth (assembled by rxring.cli)."""

COMMANDS: list = []
