"""CLI commands for ingest (assembled by rxring.cli)."""

COMMANDS: list = []
