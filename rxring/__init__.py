"""rxring: find resale rings of returned drugs (回流药) in drug traceability-code data.

The CLI (``rxring``) is a shell over this package: every command calls a function
that is also usable from Python.
"""

__version__ = "0.1.0"

from .errors import RxringError  # noqa: E402

__all__ = ["RxringError", "__version__"]
