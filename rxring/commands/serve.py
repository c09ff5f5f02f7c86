"""`rxring serve`: the investigator workbench over an analysed workspace (assembled by rxring.cli)."""

from __future__ import annotations

import click

from .. import results
from ..reveal import os_user
from . import options as opt


@click.command("serve")
@opt.workspace
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default is loopback: only this machine can connect; "
                   "another address (e.g. 0.0.0.0) needs accounts (`rxring users add`).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free port).")
@click.option("--operator", metavar="NAME", envvar="RXRING_OPERATOR", default=None,
              help="Who uses the workbench, recorded with every reveal [env RXRING_OPERATOR; default: the OS user].")
@opt.max_nodes
@opt.graph_backend
@opt.neo4j_uri
def serve_command(workspace, host, port, operator, max_nodes, backend, neo4j_uri):
    """Investigator workbench: a local web app to explore rings, boxes, sites and people.

    Without accounts: prints a URL with a token made at start; open it in a browser
    on this machine (one local user, who may do everything).  With accounts (`rxring
    users add NAME --role ...`): sign in with a name and password; roles decide who
    reads, works cases, decides and manages accounts.  Pages are in Chinese with an
    English switch; personal data is masked unless a page is revealed with a reason
    (recorded in the workspace's reveals.jsonl and audit.jsonl).  Nothing is loaded
    from the internet.

    With --backend neo4j, box, site, patient and prescriber pages and the ring
    explorer's expand read the graph `rxring load` wrote (the same Cypher files as
    `rxring box|site|patient --backend neo4j`); findings, rings, the overview, search
    and settlements still come from the workspace.
    """
    from ..serve import serve

    results.load_findings(workspace)   # an unanalysed workspace is an error before the server starts
    results.stale_warning(workspace)
    serve(workspace, host=host, port=port, user=(operator or os_user() or "local"), echo=click.echo,
          max_nodes=max_nodes, backend=backend, neo4j=neo4j_uri)


COMMANDS = [serve_command]
