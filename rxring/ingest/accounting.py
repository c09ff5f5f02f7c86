"""Row accounting: what each input gave, and the invariant ``read = accepted + quarantined + skipped``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["FileReport", "IngestReport"]

# statuses a file can end in
INGESTED = "ingested"
ALREADY = "already ingested"
UNKNOWN = "unknown format"
EMPTY = "empty"
ERROR = "error"


@dataclass
class FileReport:
    """One input file's row accounting.

    ``read`` counts code-level records (see :mod:`rxring.ingest.formats`);
    ``accepted`` those written to the events table, deletions, fee details or a
    master table; ``quarantined`` those written to quarantine.csv; ``skipped`` the
    NHSA messages of interfaces that carry no trace code (9001 sign-in, 1101 ...),
    counted by infno in ``skipped_infno``.  ``events`` is how many rows the file's
    events part holds, ``deletions`` how many deletions it gave (3507, 2208/2305,
    2601), ``fee_details`` how many 2204/2301 fee-detail lines, ``blank`` how many
    blank rows were skipped (not counted as read).  ``notes`` are remarks for the
    reader, data-quality notes among them (records accepted with a caveat, counted).
    """

    path: str
    size: int = 0
    sha256: str = ""
    #: SM3 of the same bytes (GB/T 32905-2016), for the 提取笔录 of evidence packages.
    sm3: str = ""
    #: The file's modification time when it was hashed (ns): a later check re-hashes only if it or the size changed.
    mtime_ns: int | None = None
    format: str = ""
    encoding: str | None = None
    table: str = ""
    status: str = INGESTED
    message: str = ""
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    events: int = 0
    deletions: int = 0
    fee_details: int = 0
    skipped: int = 0
    skipped_infno: dict = field(default_factory=dict)
    blank: int = 0
    part: str | None = None
    notes: list[str] = field(default_factory=list)
    #: The user's column map the file was read with (path, sha256, content), None without one.
    column_map: dict | None = None

    @property
    def balanced(self) -> bool:
        return self.read == self.accepted + self.quarantined + self.skipped

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestReport:
    """The result of one :func:`rxring.ingest.ingest` call."""

    workspace: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def balanced(self) -> bool:
        return all(f.balanced for f in self.files)

    @property
    def usable(self) -> bool:
        """True when something was accepted now, or the inputs were already in the workspace."""
        return any(f.accepted > 0 or f.status == ALREADY for f in self.files)

    def totals(self) -> dict:
        return {
            "files": len(self.files),
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "events": self.events,
            "skipped": self.skipped,
            "deletions": sum(f.deletions for f in self.files),
            "fee_details": sum(f.fee_details for f in self.files),
            "already_ingested": sum(1 for f in self.files if f.status == ALREADY),
            "unreadable": sum(1 for f in self.files if f.status in (UNKNOWN, EMPTY, ERROR)),
        }

    def to_dict(self) -> dict:
        return {"workspace": self.workspace, "files": [f.to_dict() for f in self.files], "totals": self.totals()}

    def invariant_line(self) -> str:
        mark = "OK" if self.balanced else "VIOLATED"
        skipped = f" + skipped {self.skipped}" if self.skipped else ""
        return f"read {self.read} = accepted {self.accepted} + quarantined {self.quarantined}{skipped}  [{mark}]"

    def format_table(self) -> str:
        """A plain-text table, one line per input, then totals and the invariant.

        A ``skipped`` column (with the skipped infnos in the status) is shown when a file skipped messages.
        """
        skips = any(f.skipped for f in self.files)
        headers = ("file", "format", "read", "accepted", "quarantined", *(("skipped",) if skips else ()), "status")
        rows = []
        for f in self.files:
            status = f.status if not f.message else f"{f.status}: {f.message}"
            if f.skipped_infno:
                status += " (skipped " + ", ".join(f"{n} x {infno}" for infno, n in sorted(f.skipped_infno.items())) + ")"
            fmt = f.format + (f"/{f.encoding}" if f.encoding and f.encoding not in ("utf-8",) else "")
            if f.table and f.table != "events":
                fmt += f" ({f.table})"
            rows.append((f.path, fmt, str(f.read), str(f.accepted), str(f.quarantined),
                         *((str(f.skipped),) if skips else ()), status))
        rows.append(("TOTAL", "", str(self.read), str(self.accepted), str(self.quarantined),
                     *((str(self.skipped),) if skips else ()), ""))
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:-1])]
        lines = []
        for row in [headers, *rows]:
            cells = [row[i].ljust(widths[i]) if i < 2 else row[i].rjust(widths[i]) for i in range(len(widths))]
            lines.append("  ".join(cells + [row[-1]]).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths) + "  ------")
        lines.insert(len(lines) - 1, lines[1])
        return "\n".join(lines)
