"""The case store: the transition table, history rows, roles, optimistic concurrency, attachments, the ledger."""

from __future__ import annotations

import io
import sqlite3
import threading

import pytest

from rxring import audit
from rxring.cases import db, store
from rxring.cases.store import TRANSITIONS, CaseConflict, Forbidden
from rxring.cases.users import Actor
from rxring.errors import RxringError

BOSS = Actor("li", "supervisor")
WANG = Actor("wang", "investigator")
VIEW = Actor("zhao", "viewer")


@pytest.fixture
def ws(tmp_path):
    return tmp_path


def _new(ws):
    return store.open_case(ws, WANG, "findings", "疑点 RESURFACE:1", finding_ids=["RESURFACE:1:1", "DUP:2"])


def test_migrations_are_applied_once_and_recorded(ws):
    con = db.connect(ws)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    applied = [tuple(r) for r in con.execute("SELECT number, name FROM schema_version ORDER BY number")]
    assert applied == [(m.number, m.name) for m in db.MIGRATIONS]
    con.close()
    db.connect(ws).close()   # a second open applies nothing again
    con = db.connect(ws)
    assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(db.MIGRATIONS)
    con.close()


def test_register_migration_refuses_a_taken_number():
    with pytest.raises(ValueError, match="already"):
        db.register_migration(1, "other", "CREATE TABLE x (a)")


def test_a_case_walks_the_whole_way_and_every_change_is_a_history_row(ws):
    case = _new(ws)
    assert case["state"] == "new" and case["version"] == 1 and case["finding_ids"] == ["DUP:2", "RESURFACE:1:1"]
    case = store.assign(ws, BOSS, case["id"], "wang", version=1, due_date="2026-12-31", reason="区域 A")
    case = store.transition(ws, WANG, case["id"], "verifying", "requested 随货同行单", version=case["version"])
    case = store.transition(ws, BOSS, case["id"], "confirmed", "invoices missing", version=case["version"],
                            amount_recovered="1234.5", amount_fined=500)
    case = store.transition(ws, BOSS, case["id"], "referred", "移送公安", version=case["version"],
                            referral_no="GA-2026-17")
    case = store.transition(ws, BOSS, case["id"], "closed", "done", version=case["version"])
    assert (case["state"], case["assignee"], case["due_date"], case["amount_recovered"], case["amount_fined"],
            case["referral_no"], case["version"]) == ("closed", "wang", "2026-12-31", 1234.5, 500.0, "GA-2026-17", 6)
    steps = [(h["actor"], h["field"], h["old_value"], h["new_value"]) for h in store.history(ws, case["id"])]
    assert steps == [
        ("wang", "state", None, "new"),
        ("li", "assignee", None, "wang"), ("li", "due_date", None, "2026-12-31"), ("li", "state", "new", "assigned"),
        ("wang", "state", "assigned", "verifying"),
        ("li", "state", "verifying", "confirmed"), ("li", "amount_recovered", None, "1234.5"),
        ("li", "amount_fined", None, "500.0"),
        ("li", "state", "confirmed", "referred"), ("li", "referral_no", None, "GA-2026-17"),
        ("li", "state", "referred", "closed"),
    ]
    reasons = [h["reason"] for h in store.history(ws, case["id"]) if h["field"] == "state"]
    assert reasons[1:] == ["区域 A", "requested 随货同行单", "invoices missing", "移送公安", "done"]
    states = [(r["details"]["from"], r["details"]["to"]) for r in audit.read(ws, "case_state")]
    assert states == [("assigned", "verifying"), ("verifying", "confirmed"), ("confirmed", "referred"),
                      ("referred", "closed")]


@pytest.mark.parametrize("start,to", [("new", "confirmed"), ("new", "verifying"), ("assigned", "referred"),
                                      ("verifying", "closed"), ("explained", "referred")])
def test_moves_outside_the_table_are_refused(ws, start, to):
    case = _new(ws)
    path = {"new": [], "assigned": [], "verifying": ["verifying"], "explained": ["verifying", "explained"]}[start]
    if start != "new":
        case = store.assign(ws, BOSS, case["id"], "wang")
    for state in path:
        case = store.transition(ws, BOSS, case["id"], state, "step")
    assert (case["state"], to) not in TRANSITIONS or (start, to) == ("new", "assigned")
    with pytest.raises(RxringError, match=f"cannot move to {to}"):
        store.transition(ws, BOSS, case["id"], to, "try")
    assert store.get_case(ws, case["id"])["state"] == start


def test_roles_are_enforced_by_the_store(ws):
    case = _new(ws)
    with pytest.raises(Forbidden):
        store.assign(ws, WANG, case["id"], "wang")
    case = store.assign(ws, BOSS, case["id"], "wang")
    with pytest.raises(Forbidden):
        store.transition(ws, VIEW, case["id"], "verifying", "look")
    case = store.transition(ws, WANG, case["id"], "verifying", "look")
    with pytest.raises(Forbidden, match="needs supervisor"):
        store.transition(ws, WANG, case["id"], "confirmed", "sure")
    for call in (lambda: store.comment(ws, VIEW, case["id"], "hi"),
                 lambda: store.attach(ws, VIEW, case["id"], "a.pdf", b"x"),
                 lambda: store.open_case(ws, VIEW, "findings", "t")):
        with pytest.raises(Forbidden):
            call()
    assert store.allowed_moves(store.get_case(ws, case["id"]), WANG) == []
    assert store.allowed_moves(store.get_case(ws, case["id"]), BOSS) == ["confirmed", "explained"]


def test_a_stale_write_gets_a_conflict_not_a_lost_update(ws):
    case = _new(ws)
    case = store.assign(ws, BOSS, case["id"], "wang", version=1)
    seen = case["version"]
    store.transition(ws, WANG, case["id"], "verifying", "first", version=seen)
    with pytest.raises(CaseConflict, match=r"changed by wang .*your page had 2"):
        store.assign(ws, BOSS, case["id"], "sun", version=seen, reason="second")
    assert store.get_case(ws, case["id"])["assignee"] == "wang"


def test_two_writers_at_once_one_wins_one_conflicts(ws):
    case = store.assign(ws, BOSS, _new(ws)["id"], "wang")
    case = store.transition(ws, WANG, case["id"], "verifying", "go")
    barrier, outcome = threading.Barrier(2), []

    def decide(to):
        barrier.wait()
        try:
            store.transition(ws, BOSS, case["id"], to, f"says {to}", version=case["version"])
            outcome.append(("ok", to))
        except CaseConflict as exc:
            outcome.append(("conflict", str(exc)))

    threads = [threading.Thread(target=decide, args=(to,)) for to in ("confirmed", "explained")]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(kind for kind, _ in outcome) == ["conflict", "ok"]
    winner = next(to for kind, to in outcome if kind == "ok")
    assert store.get_case(ws, case["id"])["state"] == winner
    assert len([h for h in store.history(ws, case["id"]) if h["field"] == "state"]) == 4


def test_attachments_are_stored_by_hash_once_and_never_overwritten(ws):
    case = _new(ws)
    first = store.attach(ws, WANG, case["id"], "../../etc/随货同行单.pdf", b"%PDF-1 scan")
    again = store.attach(ws, WANG, case["id"], "copy.pdf", b"%PDF-1 scan")
    assert first["sha256"] == again["sha256"] and first["filename"] == "随货同行单.pdf"
    path = store.attachment_path(ws, first["sha256"])
    assert path.read_bytes() == b"%PDF-1 scan" and path.parent.parent.name == "files"
    assert len(list(path.parent.iterdir())) == 1
    assert path.stat().st_mode & 0o222 == 0          # stored read-only
    path.chmod(0o600)
    path.write_bytes(b"changed behind rxring's back")
    with pytest.raises(RxringError, match="does not match its SHA-256"):   # never silently replaced
        store.attach(ws, WANG, case["id"], "again.pdf", b"%PDF-1 scan")
    assert path.read_bytes() == b"changed behind rxring's back"
    with pytest.raises(RxringError, match="more than"):
        store.attach(ws, WANG, case["id"], "big.bin", b"0" * (store.MAX_ATTACHMENT_BYTES + 1))
    assert [h["field"] for h in store.history(ws, case["id"])][-2:] == ["attachment", "attachment"]


def test_referral_needs_its_number_and_amounts_must_be_amounts(ws):
    case = store.assign(ws, BOSS, _new(ws)["id"], "wang")
    case = store.transition(ws, WANG, case["id"], "verifying", "go")
    with pytest.raises(RxringError, match="not an amount"):
        store.transition(ws, BOSS, case["id"], "confirmed", "xx", amount_recovered="lots")
    case = store.transition(ws, BOSS, case["id"], "confirmed", "yes")
    with pytest.raises(RxringError, match="referral needs its number"):
        store.transition(ws, BOSS, case["id"], "referred", "to police")
    with pytest.raises(RxringError, match="reason"):
        store.transition(ws, BOSS, case["id"], "closed", " ")


def test_the_ledger_has_chinese_headers_with_english_and_no_formulas(ws):
    from openpyxl import load_workbook

    store.open_case(ws, WANG, "findings", "=HYPERLINK(\"http://x\")")
    rows = store.ledger_rows(ws)
    csv_text = store.write_ledger(rows, "csv").decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("案件编号 (case),类型 (kind),标题 (title)")
    assert "'=HYPERLINK" in csv_text
    sheet = load_workbook(io.BytesIO(store.write_ledger(rows, "xlsx"))).worksheets[0]
    assert sheet["A1"].value == "案件编号 (case)" and sheet["E2"].value == "新建 new"
    assert sheet["C2"].value.startswith("'=") and sheet["B2"].value == "疑点 findings"


def test_the_ledger_says_why_each_case_is_where_it_is(ws):
    case = _new(ws)
    store.assign(ws, BOSS, case["id"], "wang", reason="按区域分派")
    store.transition(ws, WANG, case["id"], "verifying", "要求提供随货同行单")
    store.comment(ws, WANG, case["id"], "机构无法提供发票")        # a comment is not a decision
    other = _new(ws)
    rows = {row["id"]: row for row in store.ledger_rows(ws)}
    assert rows[case["id"]]["last_reason"] == "要求提供随货同行单" and rows[other["id"]]["last_reason"] is None
    header = store.write_ledger(list(rows.values()), "csv").decode("utf-8-sig").splitlines()[0].split(",")
    assert header[4:6] == ["状态 (state)", "处理理由 (reason of the last state change)"]


def test_comment_and_unknown_case(ws):
    case = _new(ws)
    store.comment(ws, WANG, case["id"], "机构已提供发票")
    assert [c["body"] for c in store.comments(ws, case["id"])] == ["机构已提供发票"]
    with pytest.raises(store.CaseNotFound):
        store.comment(ws, WANG, 999, "x")
    with pytest.raises(sqlite3.IntegrityError):   # foreign keys are on
        con = db.connect(ws)
        con.execute("INSERT INTO case_comments (case_id, at, actor, body) VALUES (999, 'now', 'x', 'y')")
