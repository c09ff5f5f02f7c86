"""CLI commands for analyze (assembled by rxring.cli)."""

COMMANDS: list = []
