"""The one exception type for mistakes a user can make (bad file, bad option, no server).

The CLI catches :class:`RxringError` once and prints it as a single line; anything
else is a bug and keeps its traceback.
"""


class RxringError(Exception):
    """A problem the user can fix: the message says what, where, and ideally how."""
