"""Results generations (issue 14): one atomic publication, the workspace lock, stale results.

The fault-injection matrix kills a process publishing the new analysis
(``RXRING_FAULT_AT=<step>``: SIGKILL just before that step of
:func:`rxring.analysis.write_results`) at every publish step, and checks that the
workspace then serves the previous results or the new ones, whole, and that a rerun
gives exactly what a clean run gives.  The new analysis is computed once; one process
imports rxring and forks a child per step that publishes it and is killed (the
`rxring analyze` command itself publishes in the test of two analyses at once).  Two analyses
started at once both succeed, one after the other, and a reader polling meanwhile
only ever sees one analysis's files together.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rxring.analysis import PUBLISH_STEPS, AnalysisResult, analyze, write_results
from rxring.workspace import FAULT_ENV
from rxring.cli import cli
from rxring.ingest import ingest
from rxring.options import AnalysisOptions
from rxring.results import load_analysis, load_findings, load_rings, open_results, stale_warning
from rxring.workspace import LOCK_WAIT_ENV, RESULT_FILES, Workspace, workspace_lock

from tests.conftest import CITY_SEED

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"

#: The "new" analysis: its findings and rings differ from the city's (seed CITY_SEED, defaults).
NEW_ARGS = ["--conflict-min-support", "1000", "--ring-rule", "DUP_DISPENSE"]
NEW_OPTIONS = AnalysisOptions(conflict_min_support=1000, ring_rules=("DUP_DISPENSE",))

#: Steps killed before the new generation is current: the old results must still be served.
BEFORE_PUBLISHED = PUBLISH_STEPS[:PUBLISH_STEPS.index("publish-pointer") + 1]


def _served(ws) -> dict:
    """The three result files as the readers see them now (one pinned generation)."""
    pinned = Workspace(ws).pinned()
    return {name: (pinned.results_dir / name).read_bytes() for name in RESULT_FILES}


def _comparable(files: dict) -> tuple:
    """Findings and rings bytes, and analysis.json without its times."""
    meta = json.loads(files["analysis.json"])
    meta.pop("finished", None)
    meta["stats"].pop("seconds", None)
    meta["stats"].pop("cpu_seconds_by_step", None)
    return files["findings.parquet"], files["rings.parquet"], meta


def _rxring(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rxring", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def old(city) -> dict:
    """The session city's results (the generation every copy starts with)."""
    return _served(city.workspace)


@pytest.fixture(scope="module")
def new_result(city, tmp_path_factory) -> tuple[AnalysisResult, dict]:
    """The new analysis, run cleanly on a copy of the city: its result and the files it published."""
    ws = tmp_path_factory.mktemp("clean") / "ws"
    shutil.copytree(city.workspace, ws)
    result = analyze(ws, "embedded", NEW_OPTIONS)
    return result, _served(ws)


@pytest.fixture(scope="module")
def clean(new_result) -> dict:
    """The files of the new analysis, run cleanly."""
    return new_result[1]


#: Publishes a pickled result into each workspace named, each time in a forked child killed at the step named
#: (``RXRING_FAULT_AT``); prints each child's exit code (negative: the signal that ended it).
_PUBLISH_KILLED = """
import json, os, pickle, sys
from rxring.analysis import write_results
with open(sys.argv[1], "rb") as handle:
    result = pickle.load(handle)
codes = []
for ws, step in zip(sys.argv[2::2], sys.argv[3::2]):
    pid = os.fork()
    if pid == 0:
        os.environ[sys.argv[-1]] = step
        try:
            write_results(ws, result)
        finally:
            os._exit(0)  # published without being killed: exit code 0, which the test refuses
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
"""


@pytest.fixture(scope="module")
def killed(city, new_result, tmp_path_factory) -> dict:
    """One copy of the city per publish step, and a process publishing the new analysis killed at that step."""
    root = tmp_path_factory.mktemp("killed")
    pickled = root / "result.pickle"
    pickled.write_bytes(pickle.dumps(new_result[0]))
    args = []
    for step in PUBLISH_STEPS:
        shutil.copytree(city.workspace, root / step)
        args += [root / step, step]
    done = subprocess.run([sys.executable, "-c", _PUBLISH_KILLED, pickled, *args, FAULT_ENV], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout)
    return {step: (root / step, code, done.stderr) for step, code in zip(PUBLISH_STEPS, codes, strict=True)}


def test_old_and_new_results_differ(old, clean):
    assert old["findings.parquet"] != clean["findings.parquet"] and old["rings.parquet"] != clean["rings.parquet"]
    assert _comparable(old)[2]["options"] != _comparable(clean)[2]["options"]


@pytest.mark.parametrize("step", PUBLISH_STEPS)
def test_killed_at_each_publish_step_serves_old_or_new_and_a_rerun_is_clean(step, killed, old, clean):
    ws, returncode, stderr = killed[step]
    assert returncode == -signal.SIGKILL, stderr
    served = _served(ws)
    if step in BEFORE_PUBLISHED:
        assert served == old  # byte for byte: the previous generation, untouched
    else:
        assert _comparable(served) == _comparable(clean)
    # the readers agree with the files
    meta = load_analysis(ws)
    assert meta["options"] == json.loads(served["analysis.json"])["options"]
    assert len(load_findings(ws)) == meta["stats"]["findings"] and len(load_rings(ws)) == meta["stats"]["rings"]
    assert stale_warning(ws, echo=False) is None

    analyze(ws, "embedded", NEW_OPTIONS)
    again = _served(ws)
    assert _comparable(again) == _comparable(clean)
    current = Workspace(ws).current_generation()
    generations = Workspace(ws).generations()
    assert generations[-1] == current and len(generations) <= 3
    assert all((g / "analysis.json").is_file() for g in generations)  # a killed run's folder is gone
    assert not list(ws.glob("results/**/*.tmp")) and not list(ws.glob(".*.link-tmp"))
    for name in RESULT_FILES:  # the copies for other tools are the current files
        assert (ws / name).read_bytes() == (current / name).read_bytes()


def test_two_analyses_at_once_wait_for_each_other_and_never_mix(city_copy, old, clean):
    """One run with the city's own options, one with the new ones, started together; a reader
    polls the workspace meanwhile."""
    same = _rxring("analyze", "-w", city_copy, "--no-progress", "--seed", CITY_SEED)
    new = _rxring("analyze", "-w", city_copy, "--no-progress", *NEW_ARGS)
    expected = [_comparable(old), _comparable(clean)]
    reads = 0
    while same.poll() is None or new.poll() is None:
        pinned = open_results(city_copy, warn=False)
        files = {name: (pinned.results_dir / name).read_bytes() for name in RESULT_FILES}
        assert _comparable(files) in expected
        reads += 1
        time.sleep(0.05)
    for process in (same, new):
        stdout, stderr = process.communicate()
        assert process.returncode == 0 and "rings." in stdout, stderr
        assert "Traceback" not in stderr
    assert reads > 0
    generations = Workspace(city_copy).generations()
    assert len(generations) == 3  # the city's, then each run's
    published = [_comparable({n: (g / n).read_bytes() for n in RESULT_FILES}) for g in generations[1:]]
    assert sorted(map(str, published)) == sorted(map(str, expected))
    assert _comparable(_served(city_copy)) == published[-1]


def _hold_lock(ws: Path, what: str, release: threading.Event, held: threading.Event) -> threading.Thread:
    def hold():
        with workspace_lock(ws, what, wait=0):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    return thread


def test_a_busy_workspace_fails_after_the_wait_with_one_line(city_copy, monkeypatch):
    release, held = threading.Event(), threading.Event()
    thread = _hold_lock(city_copy, "ingest", release, held)
    try:
        monkeypatch.setenv(LOCK_WAIT_ENV, "0.3")
        begun = time.monotonic()
        result = CliRunner().invoke(cli, ["analyze", "-w", str(city_copy), "--no-progress"])
        assert time.monotonic() - begun >= 0.3
    finally:
        release.set()
        thread.join()
    assert result.exit_code == 2 and result.stdout == ""
    waiting, error = result.stderr.strip().splitlines()  # a note when the wait begins, then the error
    assert waiting.startswith("rxring: another rxring ingest (pid") and "waiting up to 0.3 s" in waiting
    assert error.startswith("rxring: error: another rxring ingest")
    assert f"(pid {os.getpid()}, since " in error and str(city_copy) in error and "waited 0.3 s" in error


def test_a_waiting_writer_publishes_after_the_holder(city, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    release, held = threading.Event(), threading.Event()
    thread = _hold_lock(out, "analyze", release, held)
    timer = threading.Timer(0.4, release.set)
    timer.start()
    monkeypatch.setenv(LOCK_WAIT_ENV, "30")
    begun = time.monotonic()
    folder = write_results(out, city.result)
    assert time.monotonic() - begun >= 0.3
    thread.join()
    assert Workspace(out).current_generation() == folder
    assert (folder / "findings.parquet").read_bytes() == (Workspace(city.workspace).findings_path).read_bytes()


def test_ingest_into_a_workspace_being_analysed_is_refused_at_once(city_copy):
    release, held = threading.Event(), threading.Event()
    thread = _hold_lock(city_copy, "analyze", release, held)
    try:
        begun = time.monotonic()
        with pytest.raises(Exception, match="another rxring analyze \\(pid"):
            ingest([FIXTURES / "sales_gbk.csv"], city_copy, progress=False)
        assert time.monotonic() - begun < 2
    finally:
        release.set()
        thread.join()


def test_results_older_than_the_data_are_flagged(city_copy, tmp_path):
    """As after `rxring analyze NEW -w W` killed between its ingest and the analysis."""
    assert stale_warning(city_copy, echo=False) is None
    junk = tmp_path / "notes.txt"
    junk.write_text("not a scan export\n", encoding="utf-8")
    ingest([junk], city_copy, progress=False)  # a rejected file changes no data
    assert stale_warning(city_copy, echo=False) is None
    ingest([FIXTURES / "sales_gbk.csv"], city_copy, progress=False)
    ring_id = load_rings(city_copy)["ring_id"].iloc[0]
    runner = CliRunner()
    for args in (["rings"], ["ring", ring_id], ["findings", "--limit", "1"],
                 ["report", "--format", "csv", "-o", tmp_path / "r.csv"], ["viz", ring_id, "-o", tmp_path / "v.html"]):
        result = runner.invoke(cli, [*map(str, args), "-w", str(city_copy)])
        assert result.exit_code == 0, result.output
        warning = [line for line in result.stderr.splitlines() if "warning" in line]
        assert len(warning) == 1 and "changed after these results were computed" in warning[0], args
        assert f"rxring analyze -w {city_copy}" in warning[0]
    analyze(city_copy, "embedded", AnalysisOptions(seed=CITY_SEED))
    result = runner.invoke(cli, ["rings", "-w", str(city_copy)])
    assert result.exit_code == 0 and result.stderr == ""


def test_a_pinned_reader_keeps_its_generation(city_copy, city):
    pinned = open_results(city_copy, warn=False)
    before = load_rings(pinned)
    write_results(city_copy, AnalysisResult(findings=city.result.findings.head(3), rings=city.result.rings.head(0),
                                            meta={"engine": "test"}))
    assert load_rings(city_copy).empty and load_analysis(city_copy) == {"engine": "test"}
    assert len(load_rings(pinned)) == len(before) > 0 and load_analysis(pinned)["engine"] == "embedded"


def test_old_generations_are_pruned_and_killed_folders_removed(city, tmp_path):
    out = tmp_path / "out"
    small = AnalysisResult(findings=city.result.findings.head(2), rings=city.result.rings.head(1), meta={"n": 0})
    write_results(out, small)
    (out / "results" / "gen-000002").mkdir()  # what a run killed before its findings leaves
    for n in range(1, 5):
        small.meta = {"n": n}
        write_results(out, small)
    names = [g.name for g in Workspace(out).generations()]
    assert names == ["gen-000004", "gen-000005", "gen-000006"]
    assert load_analysis(out) == {"n": 4} and json.loads((out / "analysis.json").read_text()) == {"n": 4}


def test_workspaces_analysed_before_generations_read_their_root_files(city_copy):
    shutil.rmtree(city_copy / "results")  # what an older rxring left: the results in the folder itself
    ws = Workspace(city_copy)
    assert ws.current_generation() is None and ws.findings_path == city_copy / "findings.parquet"
    assert len(load_findings(city_copy)) == load_analysis(city_copy)["stats"]["findings"]
    result = CliRunner().invoke(cli, ["rings", "-w", str(city_copy)])
    assert result.exit_code == 0 and "R001" in result.output
