"""Worker process for :mod:`rxring.ingest.parallel` (``python -m rxring.ingest._piece_worker``).

Reads pickled tasks ``(path, encoding, start, end, first_line, sha16, display)``
(or ``"ping"``, answered with ``"pong"``) from standard input until it closes, and writes one pickled ``("ok", [Prepared,
...])`` or ``("error", exception)`` per task to standard output.  Interrupts are
ignored: the parent stops its workers.
"""

from __future__ import annotations

import pickle
import signal
import sys

__all__ = ["main"]


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from rxring.ingest.parallel import parse_piece

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the results stream
    while True:
        try:
            task = pickle.load(stdin)
        except EOFError:
            return
        if task == "ping":  # the parent checks that workers can start
            pickle.dump(("ok", "pong"), stdout, protocol=pickle.HIGHEST_PROTOCOL)
            stdout.flush()
            continue
        try:
            result = ("ok", parse_piece(*task))
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
            try:
                pickle.dumps(exc)
                result = ("error", exc)
            except Exception:  # noqa: BLE001 - an exception that cannot travel
                result = ("error", RuntimeError(f"{type(exc).__name__}: {exc}"))
        pickle.dump(result, stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


if __name__ == "__main__":
    main()
