"""`rxring evidence reproduce case.zip INPUTS…`: repeat the extraction and compare (重复提取核对).

Prosecutors check whether an extraction can be repeated with the same result
(2021 rules on network-crime evidence, arts. 30–32).  :func:`reproduce_evidence`
does it for an evidence package:

1. verifies the package (:func:`rxring.report.verify.verify_evidence`);
2. matches the given input files to the package's ``inputs.sha256`` by SHA-256
   (a file whose name matches but whose SHA-256 does not is a *changed* input and is
   used, so that what it changes can be shown; an input not given at all is an error);
3. ingests them, in the recorded order and with the recorded column maps, into a
   temporary workspace and analyses it with the options and seed recorded in
   ``queries/parameters.json`` (on the embedded engine: every engine gives the same
   findings and rings);
4. writes the package of the same ring again (the rerun ring is the one sharing most
   findings with the package's) and compares its findings, ring members and custody
   rows with the package's.

Rows are matched by what they are, not by generated numbers: findings by
``finding_id`` (rule and trace code), members by role and id, custody rows by trace
code, source file name, line and event type; event ids are compared as the source
lines they come from, and masked people without their alias numbers (``#12``, which
count people across the whole workspace).  A changed custody row names the findings
on its trace code: the finding that moved.

Only masked packages are compared (a package made with ``--reveal-pii`` holds data
a temporary rerun could not record its reveal of).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import RxringError
from .evidence import INPUTS_NAME, build_evidence, read_package_csv
from ..digests import sha256_file
from .verify import verify_evidence

__all__ = ["InputMatch", "Difference", "ReproduceResult", "reproduce_evidence", "RING_FIELDS", "FINDING_FIELDS",
           "MEMBER_FIELDS", "CUSTODY_FIELDS"]

#: What must come out the same for the ring as a whole (its findings one by one, below).
RING_FIELDS = ("rank", "score", "boxes", "events", "fund_at_risk", "total_amount", "first_time", "last_time", "rules",
               "source_sites", "laundering_sites")
#: What must come out the same, per finding (event_ids compared as source lines).
FINDING_FIELDS = ("rule", "trace_codes", "source_sites", "laundering_sites", "source_patients", "prescribers",
                  "patients", "fund_amount", "total_amount", "first_time", "last_time", "explanation", "event_ids")
#: Per ring member.
MEMBER_FIELDS = ("name", "boxes", "events", "fund_amount", "findings_count")
#: Per custody row (custody/timeline.csv), besides its key.
CUSTODY_FIELDS = ("event_time", "site_id", "site_name", "patient", "prescriber", "quantity", "fund_amount",
                  "settlement_id", "proving")

_ALIAS = re.compile(r"#\d+\b")
_MAX_READ = 256 << 20   # the members reproduce reads are text tables; a bigger one is not a package of ours


@dataclass(frozen=True)
class InputMatch:
    """One input of the package and the file given for it: ``same``, ``changed`` or ``extra`` (not in the package)."""

    name: str
    recorded_sha256: str | None
    given: Path | None
    given_sha256: str | None
    status: str


@dataclass(frozen=True)
class Difference:
    """One thing that did not come out the same.

    ``kind`` is ``ring``, ``finding``, ``member`` or ``custody``; ``key`` names the row;
    ``package`` and ``rerun`` what each holds (``None``: the row is missing there);
    ``findings`` the findings it touches (a custody row: those on its trace code; the ring:
    the findings only one side has).
    """

    kind: str
    key: str
    package: dict | None
    rerun: dict | None
    findings: tuple[str, ...] = ()

    def changed_fields(self) -> list[str]:
        """The fields that differ (all of them when the row is missing on one side)."""
        if self.package is None or self.rerun is None:
            return sorted((self.package or self.rerun or {}).keys())
        return [k for k in self.package if self.package.get(k) != self.rerun.get(k)]


@dataclass
class ReproduceResult:
    """What :func:`reproduce_evidence` found."""

    package: Path
    ring_id: str
    rerun_ring_id: str | None
    inputs: list[InputMatch]
    differences: list[Difference] = field(default_factory=list)
    engine: str = "embedded"
    compared: dict = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        """Every input the same and every finding, member and custody row the same."""
        return not self.differences and all(i.status in ("same", "extra") for i in self.inputs)


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise RxringError(f"{archive.filename}: no {name} in the package; it cannot be reproduced") from None
    if info.file_size > _MAX_READ:
        raise RxringError(f"{archive.filename}: {name} is larger than {_MAX_READ >> 20} MiB")
    return archive.read(info)


@dataclass
class _Package:
    """The parts of a package that a rerun is compared with."""

    ring: dict
    case: dict
    timeline: list[dict]
    analysis: dict
    inputs: list[tuple[str, str]]


def _load(archive: zipfile.ZipFile) -> _Package:
    case = json.loads(_read(archive, "case.json"))
    parameters = json.loads(_read(archive, "queries/parameters.json"))
    timeline = read_package_csv(_read(archive, "custody/timeline.csv"))
    inputs = []
    for number, line in enumerate(_read(archive, INPUTS_NAME).decode("utf-8").splitlines(), start=1):
        sha, sep, name = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}|-{64}", sha):
            raise RxringError(f"{archive.filename}: {INPUTS_NAME} line {number} is not 'SHA-256  path'")
        inputs.append((None if sha.startswith("-") else sha, name))
    return _Package(ring=case.get("ring") or {}, case=case, timeline=timeline,
                    analysis=parameters.get("analysis") or {}, inputs=inputs)


def _given_files(paths) -> list[Path]:
    out = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise RxringError(f"{path}: no such input file or folder")
    return out


def _match_inputs(recorded: list[tuple[str | None, str]], paths) -> list[InputMatch]:
    """Each recorded input with the given file of the same SHA-256 (else of the same name); extras last."""
    given = {p: sha256_file(p) for p in _given_files(paths)}
    by_sha: dict[str, Path] = {}
    for path, sha in given.items():
        by_sha.setdefault(sha, path)
    used: set[Path] = set()
    matches, missing = [], []
    for sha, name in recorded:
        base = PurePosixPath(name.replace("\\", "/")).name
        path = by_sha.get(sha) if sha else None
        if path is not None and path not in used:
            matches.append(InputMatch(name, sha, path, sha, "same"))
            used.add(path)
            continue
        same_name = [p for p in given if p.name == base and p not in used]
        if len(same_name) == 1:
            matches.append(InputMatch(name, sha, same_name[0], given[same_name[0]], "changed"))
            used.add(same_name[0])
        else:
            missing.append(f"{name} (SHA-256 {sha[:12] if sha else '?'}…)")
    if missing:
        raise RxringError(f"the package's inputs are not all given: {'; '.join(missing)}; "
                          "give the original files or the folders that hold them")
    matches += [InputMatch(p.name, None, p, sha, "extra") for p, sha in given.items() if p not in used]
    return matches


def _column_maps(case: dict) -> dict[str, dict | None]:
    """Recorded input path -> the column map it was read with (``{"path", "sha256", "content"}``) or None."""
    return {str(i.get("path")): i.get("column_map") for i in case.get("inputs") or [] if isinstance(i, dict)}


def _rerun(pkg: _Package, inputs: list[InputMatch], root: Path, ring_id: str):
    """Ingest and analyse the inputs in ``root``; return the rerun package's parts and its ring id."""
    from ..analysis import analyze
    from ..ingest.pipeline import ingest
    from ..options import AnalysisOptions
    from ..results import load_rings

    workspace = root / "ws"
    maps = _column_maps(pkg.case)
    groups: list[tuple[str | None, list[Path]]] = []
    for item in inputs:
        if item.status == "extra":
            continue
        cmap = maps.get(item.name)
        key = json.dumps(cmap, sort_keys=True) if cmap else None
        if groups and groups[-1][0] == key:
            groups[-1][1].append(item.given)
        else:
            groups.append((key, [item.given]))
    for number, (key, paths) in enumerate(groups):
        column_map = None
        if key is not None:
            column_map = root / f"columns-{number}.toml"
            column_map.write_text(json.loads(key).get("content") or "", encoding="utf-8")
        ingest(paths, workspace, progress=False, column_map=column_map)
    options = AnalysisOptions.from_dict(pkg.analysis.get("options") or {})
    analyze(workspace, "embedded", options)
    rings = load_rings(workspace)
    wanted = set(pkg.ring.get("finding_ids") or [])
    best, best_overlap = None, -1
    for row in rings.itertuples(index=False):
        overlap = len(wanted & set(row.finding_ids))
        if overlap > best_overlap or (overlap == best_overlap and row.ring_id == ring_id):
            best, best_overlap = row.ring_id, overlap
    if best is None or best_overlap == 0:
        return None, None
    rebuilt = build_evidence(workspace, best, root / "rerun.zip", command_line="rxring evidence reproduce")
    with zipfile.ZipFile(rebuilt.path) as archive:
        return _load(archive), best


def _norm(value) -> str:
    """A value as compared: text, masked people without their alias number."""
    text = "" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))
    return _ALIAS.sub("", text)


def _lines(timeline: list[dict]) -> dict[str, str]:
    """event id -> ``file:line`` of its source row."""
    return {row["event_id"]: f"{PurePosixPath(row['source_file'].replace(chr(92), '/')).name}:{row['source_line']}"
            for row in timeline}


def _ring(pkg: _Package) -> dict:
    """The ring's figures as compared (lists as sorted text)."""
    return {k: _norm(", ".join(sorted(map(str, v))) if isinstance(v, list) else v)
            for k, v in ((k, pkg.ring.get(k)) for k in RING_FIELDS)}


def _findings(pkg: _Package) -> dict[str, dict]:
    lines = _lines(pkg.timeline)
    out = {}
    for finding in pkg.case.get("findings") or []:
        row = {k: _norm(finding.get(k)) for k in FINDING_FIELDS}
        row["event_ids"] = ", ".join(sorted(lines.get(e.strip(), e.strip())
                                            for e in str(finding.get("event_ids") or "").split(",") if e.strip()))
        out[str(finding["finding_id"])] = row
    return out


def _members(pkg: _Package) -> dict[str, dict]:
    return {f"{m.get('role_key')}:{_norm(m.get('member_id'))}": {k: _norm(m.get(k)) for k in MEMBER_FIELDS}
            for m in pkg.case.get("members") or []}


def _custody(pkg: _Package) -> dict[str, dict]:
    out, seen = {}, {}
    for row in pkg.timeline:
        name = PurePosixPath(row["source_file"].replace("\\", "/")).name
        key = f"{row['trace_code']} {name}:{row['source_line']} {row['event_type']}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key += f" #{seen[key]}"
        out[key] = {k: _norm(row.get(k)) for k in CUSTODY_FIELDS}
    return out


def _on_code(pkg: _Package, code: str) -> set[str]:
    return {str(f["finding_id"]) for f in pkg.case.get("findings") or []
            if code in [c.strip() for c in str(f.get("trace_codes") or "").split(",")]}


def _compare(kind: str, ours: dict[str, dict], theirs: dict[str, dict], touched) -> list[Difference]:
    out = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if a != b:
            out.append(Difference(kind, key, a, b, tuple(sorted(touched(key)))))
    return out


def reproduce_evidence(package: str | Path, inputs, workdir: str | Path | None = None) -> ReproduceResult:
    """Repeat the extraction of an evidence package from its original inputs and compare the results.

    Parameters
    ----------
    package : path
        An evidence package (``rxring evidence RING``), made without ``--reveal-pii``.
    inputs : list of paths
        The original input files, or folders holding them (other files are listed as extra).
    workdir : path, optional
        Where the temporary workspace goes (default: the system's temporary folder; removed after).

    Returns
    -------
    ReproduceResult
        ``identical`` when every input matched by SHA-256 and every finding, ring
        member and custody row came out the same; else its ``differences``.

    Raises
    ------
    RxringError
        The package fails verification, was made with personal data revealed, or an
        input is not given.

    Examples
    --------
    >>> result = reproduce_evidence("case.zip", ["exports/"])  # doctest: +SKIP
    >>> result.identical  # doctest: +SKIP
    True
    """
    package = Path(package)
    checked = verify_evidence(package)
    if not checked.ok:
        raise RxringError(f"{package}: the package fails verification ({'; '.join(map(str, checked.problems[:3]))}); "
                          "run `rxring evidence verify` for the details")
    with zipfile.ZipFile(package) as archive:
        pkg = _load(archive)
    if pkg.case.get("personal_data") == "revealed":
        raise RxringError(f"{package}: made with --reveal-pii; reproduce compares packages with personal data masked "
                          "(make one without --reveal-pii)")
    ring_id = str(pkg.ring.get("ring_id") or "")
    matches = _match_inputs(pkg.inputs, inputs)
    engine = str(pkg.analysis.get("engine") or "embedded")
    with tempfile.TemporaryDirectory(prefix="rxring-reproduce-", dir=workdir) as tmp:
        rerun, rerun_ring = _rerun(pkg, matches, Path(tmp), ring_id)
    result = ReproduceResult(package=package, ring_id=ring_id, rerun_ring_id=rerun_ring, inputs=matches, engine=engine)
    if rerun is None:
        result.differences.append(Difference("ring", ring_id, {"ring_id": ring_id}, None,
                                             tuple(sorted(pkg.ring.get("finding_ids") or []))))
        return result
    ours = {"finding": _findings(pkg), "member": _members(pkg), "custody": _custody(pkg)}
    theirs = {"finding": _findings(rerun), "member": _members(rerun), "custody": _custody(rerun)}
    result.compared = {"ring": 1} | {kind: len(rows) for kind, rows in ours.items()}
    result.differences += _compare("ring", {ring_id: _ring(pkg)}, {ring_id: _ring(rerun)},
                                   lambda key: sorted(set(pkg.ring.get("finding_ids") or [])
                                                      ^ set(rerun.ring.get("finding_ids") or [])))
    result.differences += _compare("finding", ours["finding"], theirs["finding"], lambda key: [key])
    result.differences += _compare("member", ours["member"], theirs["member"], lambda key: [])
    result.differences += _compare("custody", ours["custody"], theirs["custody"],
                                   lambda key: _on_code(pkg, key.split(" ", 1)[0]) | _on_code(rerun, key.split(" ", 1)[0]))
    return result
