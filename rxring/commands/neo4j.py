"""CLI commands for neo4j (assembled by rxring.cli)."""

COMMANDS: list = []
