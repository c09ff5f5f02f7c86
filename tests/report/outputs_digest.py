"""Every investigator output of a workspace, as digests that ignore when and where they were made.

Used by ``tests/report/test_outputs_unchanged.py``: the outputs of the shared demo city
(``city`` of tests/conftest.py) and of the hand-made report workspace
(``fixture_case`` of tests/report/conftest.py) must stay what rxring wrote before the
outputs learned to read only what they show (issue 20).  The digests of that earlier
rxring are kept in ``outputs_digest.json`` beside this file; regenerate them, after a
change that is meant to change the outputs, with::

    python -m tests.report.outputs_digest   # writes tests/report/outputs_digest.json

What is ignored: the generation time (``2026-03-01 09:00 UTC``, ``2026-03-01T09:00:00Z``,
the ``generated`` of JSON, the zip members' dates, the XLSX document properties, the bytes
of a PDF (its text is compared; the evidence package is sealed at :data:`SEALED`)), the
folders the workspace and the outputs lie in (replaced by ``<ROOT>``), and
MANIFEST.sha256 of the evidence package and the zip's sidecar digest (they hash the members
compared here), the digests the 提取笔录, the PDFs and the signed statement print (with the
file sizes beside them and the clock times of the ingest and the analysis), and the
run facts analysis.json records (``finished``, ``seconds``, ``cpu_seconds_by_step``, ``ingest_state``) where
the outputs embed it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

GOLDEN = Path(__file__).with_name("outputs_digest.json")
#: The evidence package's creation time (the 提取笔录, the PDFs and the signed statement carry it).
SEALED = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)

_NOW = (
    re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"),
    re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"),
)
#: A SHA-256 or SM3 value: the evidence package's digests (of files that embed times and folders) vary with them.
_HEX256 = re.compile(r"\b[0-9a-f]{64}\b")
_SIZE_BEFORE_DIGEST = re.compile(r"\b\d+(?=[\s|`]*<DIGEST>)")
_HEX_PIECE = re.compile(r"\b[0-9a-f]{16,}\b")
_PDF_NUMBER_LINE = re.compile(r"^\d+$", re.M)
_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
#: Files and zip members compared apart from the digests they print (MANIFEST.sha256 is not compared at all).
_SEALING = ("extraction_record.", "summary.zh.pdf", "summary.en.pdf", "signature/statement.json")
_GENERATED_JSON = re.compile(r'("generated"\s*:\s*)"[^"]*"')
#: What analysis.json records about the run of the analysis (time, durations, the state of the files
#: it read), not its results.
_RUN_KEYS = {"finished", "started", "seconds", "cpu_seconds_by_step", "ingest_state"}


def write_outputs(workspace: Path, out: Path, ring: str) -> None:
    """Write the report in every format, the visualisation of *ring* and of every ring, and *ring*'s evidence."""
    from rxring.report.build import FORMATS, build_report
    from rxring.report.evidence import build_evidence
    from rxring.report.seal import Seal
    from rxring.report.viz import write_viz

    out.mkdir(parents=True, exist_ok=True)
    for fmt in FORMATS:
        build_report(workspace, fmt, "zh", out / ("html" if fmt == "html" else f"report.{fmt}"))
    build_report(workspace, "json", "en", out / "report-en.json")
    write_viz(workspace, [ring], out / "viz-ring.html")
    write_viz(workspace, [], out / "viz-all.html", lang="en")
    build_evidence(workspace, ring, out / "evidence.zip", command_line="rxring evidence", seal=Seal(created=SEALED))


def _text(data: bytes, roots: list[str]) -> bytes:
    text = data.decode("utf-8")
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root, "<ROOT>")
    for pattern in _NOW:
        text = pattern.sub("<NOW>", text)
    return _GENERATED_JSON.sub(r'\1"<NOW>"', text).encode("utf-8")


def _json(data: bytes, roots: list[str]) -> bytes:
    """A JSON document with the analysis' run times replaced (they are embedded where the analysis is)."""

    def walk(value):
        if isinstance(value, dict):
            return {k: ("<RUN>" if k in _RUN_KEYS else walk(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    document = walk(json.loads(_text(data, roots)))
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


@functools.lru_cache(maxsize=8)
def pdf_pages(data: bytes) -> tuple[str, ...]:
    """The text of each page of a PDF (pypdf), extracted once for every test that reads the same bytes."""
    from pypdf import PdfReader

    return tuple(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _pdf(data: bytes, roots: list[str]) -> bytes:
    """A PDF's text, page by page (its bytes hold its making time)."""
    return _text("\n\f\n".join(text or "" for text in pdf_pages(data)).encode("utf-8"), roots)


def _sealing_text(data: bytes, pdf: bool = False) -> bytes:
    """The sealing files' text with digests, the sizes they stand beside, and the run's clock times taken out
    (a PDF's table cells wrap a digest over lines and put a size on a line of its own)."""
    text = _HEX256.sub("<DIGEST>", data.decode("utf-8"))
    if pdf:
        text = _PDF_NUMBER_LINE.sub("<SIZE>", _HEX_PIECE.sub("<DIGEST>", text))
    text = _SIZE_BEFORE_DIGEST.sub("<SIZE>", text)
    return _CLOCK.sub("<TIME>", text).encode("utf-8")


def _reader(name: str):
    read = _json if name.endswith(".json") else _pdf if name.endswith(".pdf") else _text
    if not name.startswith(_SEALING):
        return read
    return lambda data, roots: _sealing_text(read(data, roots), pdf=name.endswith(".pdf"))


def _xlsx(path: Path, roots: list[str]) -> bytes:
    """The workbook's sheets, cell values and number formats as text (the file's own bytes hold its save time)."""
    from openpyxl import load_workbook

    book = load_workbook(path)
    lines = []
    for sheet in book.worksheets:
        lines.append(f"## {sheet.title} {sheet.freeze_panes} {sheet.auto_filter.ref}")
        for row in sheet.iter_rows():
            lines.append("\t".join(f"{cell.value!r}|{cell.number_format}" for cell in row))
    return _text("\n".join(lines).encode("utf-8"), roots)


def digests(out: Path, roots: list[str]) -> dict[str, str]:
    """``{relative name: sha256}`` of every output under *out* (zip members one by one), normalised."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".zip.sha256")):
        name = path.relative_to(out).as_posix()
        if path.suffix == ".xlsx":
            found[name] = hashlib.sha256(_xlsx(path, roots)).hexdigest()
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if member != "MANIFEST.sha256":
                        found[f"{name}/{member}"] = hashlib.sha256(_reader(member)(archive.read(member),
                                                                                    roots)).hexdigest()
        else:
            found[name] = hashlib.sha256(_reader(path.name)(path.read_bytes(), roots)).hexdigest()
    return found


def _golden_sets(tmp: Path) -> dict[str, dict[str, str]]:
    """The digests of both workspaces, built as the test fixtures build them."""
    from rxring.analysis import analyze
    from rxring.options import AnalysisOptions
    from rxring.synth import generate
    from tests.conftest import CITY_SEED, CITY_SIZE
    from tests.report.conftest import build_workspace

    summary = generate(tmp / "city" / "gen", seed=CITY_SEED, fmt="nhsa", **CITY_SIZE)
    analyze(tmp / "city" / "ws", "embedded", AnalysisOptions(seed=CITY_SEED), inputs=[summary.inputs_dir])
    write_outputs(tmp / "city" / "ws", tmp / "city-out", "R001")
    case = build_workspace(tmp / "fixture")
    write_outputs(case.root, tmp / "fixture-out", "R001")
    return {"city": digests(tmp / "city-out", [str(tmp / "city"), str(tmp / "city-out")]),
            "fixture": digests(tmp / "fixture-out", [str(tmp / "fixture"), str(tmp / "fixture-out")])}


if __name__ == "__main__":  # pragma: no cover - run by hand to regenerate the digests
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        sets = _golden_sets(Path(folder))
    GOLDEN.write_text(json.dumps(sets, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({sum(len(v) for v in sets.values())} digests)", file=sys.stderr)
