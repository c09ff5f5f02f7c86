"""The shipped Cypher files (rxring/rules/cypher): each stands alone with a header an
investigator reads, `rxring neo4j queries` lists them all, `rxring neo4j run` runs only
the read ones.  (Each read file runs against the server in test_city.py, the write
files in every load and analysis.)"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rxring.backends.neo4j.queries import run_query
from rxring.cli import cli
from rxring.errors import RxringError
from rxring.rules.render import CYPHER_WRITE_QUERIES, cypher_header, cypher_names, cypher_statements

from .cypher_files import LISTING_QUERIES, parameters, read_queries

def test_the_listing_queries_are_shipped_files():
    assert set(LISTING_QUERIES) <= set(read_queries())
    assert set(CYPHER_WRITE_QUERIES) <= set(cypher_names())


@pytest.mark.parametrize("name", cypher_names())
def test_each_file_has_a_header_naming_its_parameters(name):
    header = cypher_header(name)
    assert header and header.splitlines()[0].strip(), f"{name}.cypher has no // header"
    for param in parameters(name):
        assert f"${param}" in header, f"{name}.cypher uses ${param} but its header does not say what it is"
    if name not in ("prepare", "schema", "clear_rings", "write_rings"):
        assert len(cypher_statements(name)) == 1, f"{name}.cypher must be one statement"


def test_queries_command_lists_every_file_with_its_description():
    listing = CliRunner().invoke(cli, ["neo4j", "queries"])
    assert listing.exit_code == 0, listing.output
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1].strip() for line in listing.output.splitlines()}
    assert sorted(lines) == cypher_names()
    for name, description in lines.items():
        assert description == cypher_header(name).splitlines()[0], name
    shown = CliRunner().invoke(cli, ["neo4j", "queries", "box_chain"])
    assert shown.output.startswith("// Box chain:") and "$code" in shown.output


@pytest.mark.parametrize("name", CYPHER_WRITE_QUERIES)
def test_run_refuses_every_writing_query(name):
    with pytest.raises(RxringError, match="writes to the graph"):
        run_query(None, name)
