"""CLI commands for report (assembled by rxring.cli)."""

COMMANDS: list = []
