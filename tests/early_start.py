"""Start something slow (a JVM) in a thread as soon as collection finds the tests that need it.

The Neo4j server and the SparkSession each take many seconds to boot; begun when
collection ends, the boot overlaps with the tests that run before their folder (one
Python core busy, the other idle), and the session fixture only waits for what is
left.  tests/neo4j/conftest.py and tests/spark/conftest.py each keep one
:class:`EarlyStart` and call :meth:`EarlyStart.begin_for` from their
``pytest_collection_finish``.
"""

from __future__ import annotations

import threading


class EarlyStart:
    """``start()`` run once, in a daemon thread; its value (or what it raised) kept for the fixture."""

    def __init__(self, name: str, start):
        self.name = name
        self._start = start
        self.thread: threading.Thread | None = None
        self.outcome: dict = {}

    def begin(self) -> None:
        if self.thread is not None:
            return

        def run():
            try:
                self.outcome["value"] = self._start()
            except BaseException as exc:  # noqa: BLE001 - handed to the fixture, which fails or skips
                self.outcome["error"] = exc

        self.thread = threading.Thread(target=run, name=f"{self.name}-early-start", daemon=True)
        self.thread.start()

    def begin_for(self, session, marker: str) -> None:
        """Begin when a collected test carries *marker* (not in an xdist worker: it may never get them)."""
        if hasattr(session.config, "workerinput"):
            return
        if any(item.get_closest_marker(marker) for item in session.items):
            self.begin()

    def wait(self) -> None:
        """Until the start has ended, if it was begun."""
        if self.thread is not None:
            self.thread.join()

    def result(self):
        """The value of ``start()`` (begun now if collection did not); raises what it raised."""
        self.begin()
        self.wait()
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]

    @property
    def started(self) -> bool:
        """True once ``start()`` returned a value."""
        self.wait()
        return "value" in self.outcome
