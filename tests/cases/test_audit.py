"""The audit log: hash chain, verify names the first line edited, removed or inserted; secrets never logged."""

from __future__ import annotations

import json

import pytest

from rxring import audit


@pytest.fixture
def log(tmp_path):
    for n in range(1, 6):
        audit.append(tmp_path, "case_state", f"user{n}", {"case": n, "from": "new", "to": "assigned"})
    assert audit.verify(tmp_path).ok
    return tmp_path


def _lines(ws):
    return audit.audit_path(ws).read_bytes().decode("utf-8").splitlines()


def _write(ws, lines):
    audit.audit_path(ws).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_chain_links_each_line_to_the_previous(log):
    records = [json.loads(line) for line in _lines(log)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev"] == "0" * 64
    assert records[3]["prev"] == audit.line_hash(_lines(log)[2].encode("utf-8"))
    assert audit.verify(log) == audit.Verdict(True, 5)


@pytest.mark.parametrize("line", [1, 3, 5])
def test_an_edited_line_is_named(log, line):
    lines = _lines(log)
    lines[line - 1] = lines[line - 1].replace(f"user{line}", "mallory")
    _write(log, lines)
    verdict = audit.verify(log)
    assert not verdict.ok and verdict.line == line, verdict


@pytest.mark.parametrize("line", [1, 3, 5])
def test_a_removed_line_is_named(log, line):
    lines = _lines(log)
    del lines[line - 1]
    _write(log, lines)
    verdict = audit.verify(log)
    assert not verdict.ok and verdict.line == line and "missing" in verdict.problem, verdict


def test_an_inserted_line_is_named(log):
    lines = _lines(log)
    forged = json.loads(lines[2])
    forged["user"] = "mallory"          # a copy of line 3, same number, same link: inserted as line 3
    lines.insert(2, json.dumps(forged, ensure_ascii=False))
    _write(log, lines)
    verdict = audit.verify(log)
    assert not verdict.ok and verdict.line == 3 and "inserted" in verdict.problem, verdict


def test_a_line_appended_by_hand_is_named(log):
    lines = _lines(log)
    lines.append(json.dumps({"seq": 6, "prev": audit.line_hash(lines[-1].encode()), "event": "login"}))
    _write(log, lines)
    verdict = audit.verify(log)
    assert not verdict.ok and verdict.line == 6 and "inserted" in verdict.problem


def test_a_garbage_line_is_named(log):
    lines = _lines(log)
    lines.insert(1, "not json")
    _write(log, lines)
    assert audit.verify(log).line == 2


def test_secrets_are_refused_and_personal_ids_masked(tmp_path):
    with pytest.raises(ValueError, match="never logged"):
        audit.append(tmp_path, "login", "wang", {"password": "hunter2hunter2"})
    record = audit.append(tmp_path, "reveal", "wang", {"reason": "核查 110101199001011234"})
    assert "110101199001011234" not in json.dumps(record, ensure_ascii=False)
    assert "110101199001011234" not in audit.audit_path(tmp_path).read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="unknown audit event"):
        audit.append(tmp_path, "whatever", "wang")


def test_concurrent_appends_keep_the_chain(tmp_path):
    import threading

    def burst(n):
        for i in range(20):
            audit.append(tmp_path, "export", f"t{n}", {"i": i})

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert audit.verify(tmp_path) == audit.Verdict(True, 80)


def test_the_last_lines_removed_are_named(log):
    lines = _lines(log)
    _write(log, lines[:3])
    verdict = audit.verify(log)
    assert not verdict.ok and verdict.line == 4 and "lines 4..5 are missing at the end" in verdict.problem, verdict


def test_an_append_killed_before_the_head_was_written_is_taken_up_by_the_next(log):
    """kill -9 between writing the line and replacing audit.head: verify names that line (it cannot tell a
    crash from a forgery), and the next append chains from it instead of forking the chain."""
    head = (log / audit.HEAD_NAME).read_bytes()
    audit.append(log, "login", "wang", {})
    (log / audit.HEAD_NAME).write_bytes(head)          # the head as it was before the killed append
    verdict = audit.verify(log)
    assert not verdict.ok and verdict.line == 6 and "audit.head" in verdict.problem, verdict
    audit.append(log, "login", "li", {})
    assert audit.verify(log) == audit.Verdict(True, 7)
    assert [json.loads(line)["seq"] for line in _lines(log)] == [1, 2, 3, 4, 5, 6, 7]


def test_a_forged_last_line_is_not_taken_up(log):
    """Only a line that chains from the head is taken up; a line that does not stays named."""
    lines = _lines(log)
    lines.append(json.dumps({"seq": 6, "prev": "f" * 64, "event": "login"}))
    _write(log, lines)
    audit.append(log, "login", "li", {})
    assert audit.verify(log).line == 6


def test_a_line_cut_short_by_a_failed_write_stays_alone_and_is_named(log):
    """A write that stopped mid-line (disk full, power cut): the next line starts on a line of its own, so only
    the cut line is damaged, and verify names it."""
    with open(audit.audit_path(log), "ab") as handle:
        handle.write(b'{"seq": 6, "prev": "ab')
    audit.append(log, "login", "li", {})
    lines = _lines(log)
    assert lines[5] == '{"seq": 6, "prev": "ab' and json.loads(lines[6])["user"] == "li"
    verdict = audit.verify(log)
    assert not verdict.ok and verdict.line == 6 and "cut short" in verdict.problem, verdict
