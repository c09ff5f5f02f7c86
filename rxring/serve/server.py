"""Running the workbench: uvicorn on loopback, the login URL with the start token."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import quote

__all__ = ["LOOPBACK", "is_loopback", "login_url", "serve"]

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_url(host: str, port: int, token: str) -> str:
    """The URL that opens a session (``/login?token=...``)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/login?token={quote(token, safe='')}"


def free_port(host: str = LOOPBACK) -> int:
    """A port free on *host* now (for tests and ``--port 0``)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve(workspace, host: str = LOOPBACK, port: int = 8765, user: str = "local", echo=print, **app_options) -> None:
    """Build the app over *workspace* and serve it until interrupted (after writing the workspace's
    look-up copies once per ingest, :func:`rxring.results.build_lookup`, which keep pages fast).
    *app_options* go to :func:`rxring.serve.app.create_app` (``max_nodes``, ``backend``, ``neo4j``)."""
    import uvicorn

    from ..results import build_lookup
    from .app import create_app

    from ..cases.users import has_accounts
    from ..errors import RxringError

    if not is_loopback(host) and not has_accounts(workspace):
        raise RxringError(f"--host {host} lets other machines connect: add accounts first "
                          f"(`rxring users add NAME --role admin -w {workspace}`), or keep the default 127.0.0.1")
    build_lookup(workspace, echo=echo)
    app = create_app(workspace, user=user, **app_options)
    if port == 0:
        port = free_port(host)
    where = "loopback only: other machines cannot connect" if is_loopback(host) else \
        "WARNING: not loopback, other machines on this network can connect (they still need an account)"
    echo(f"rxring serve: listening on {host}:{port} ({where}); Ctrl-C stops it")
    lookups = app.state.bench.lookups
    if lookups.backend == "neo4j":
        echo(f"boxes, sites, patients, prescribers and neighbourhoods: the Neo4j graph at {lookups.where}")
    if app.state.store.accounts():
        shown = f"[{host}]" if ":" in host else host
        echo(f"open: http://{shown}:{port}/login (sign in with an account of `rxring users list`)")
    else:
        echo(f"open: {login_url(host, port, app.state.store.token)}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)
