"""The investigator workbench: `rxring serve`, a local web app over an analysed workspace.

:func:`create_app` builds the Starlette application (pages, JSON endpoints, CSV
export, per-page reveals with a reason); :func:`serve` runs it with uvicorn on
loopback.  Everything it loads ships in this package (``static/``, the vendored
Cytoscape.js with its licence and SHA-256 in ``static/vendor/MANIFEST.json``).
"""

from __future__ import annotations

from .app import create_app
from .server import LOOPBACK, is_loopback, login_url, serve

__all__ = ["create_app", "serve", "login_url", "is_loopback", "LOOPBACK"]
