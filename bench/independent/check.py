"""Run rxring as a user would on the independent city and score it against the truth.

``python bench/independent/check.py --seed 1 --scale 0.3`` generates the city into a
temporary folder, runs ``rxring analyze`` on its inputs, reads ``rxring findings --json``
and ``rxring rings --json`` (with ``--reveal-pii`` so ids can be compared) and prints:

* per-rule precision / recall at trace-code level (ambiguous codes are not scored), with
  false positives and false negatives grouped by what the simulation did to the pack;
* each planted ring's best rxring ring by member-set Jaccard (roles kept apart: source
  patients, prescribers, source sites, laundering sites), found when >= 0.8;
* rxring rings that match no planted ring;
* ingest accounting: rows read / accepted / quarantined against the rows written.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import city as city_mod  # noqa: E402

__all__ = ["run_check", "score_rules", "score_rings", "jaccard", "ROLES"]

ROLES = ("source_patients", "prescribers", "source_sites", "laundering_sites")
FOUND_JACCARD = 0.8
_PLANTED = ("ring:", "missed_inbound", "expired", "code_swap", "split_over_limit")


def _rxring(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rxring", *args], capture_output=True, text=True, encoding="utf-8")


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _members(ring: dict) -> set:
    return {(role, m) for role in ROLES for m in ring.get(role) or []}


_PRIORITY = ("chain_negative_refund_row", "refund_stamped_with_sale_time", "double_beep_in_line", "retransmit",
             "inbound_backfilled_after_sale", "refund_return_reship", "refund_then_split", "split_refund_resplit",
             "refund_resale", "dup_scan", "dup_scan_cash", "purchase_return", "late_joiner_opening",
             "opening_stock", "sold_on_expiry_day", "transfer", "overlap_file", "split", "gs1", "chain_csv")


def _why(tags) -> str:
    """The most telling tag of a pack, for grouping disagreements."""
    tags = sorted(tags or ())
    planted = [t for t in tags if t.startswith(_PLANTED)]
    if planted:
        return "+".join(planted)
    return next((t for t in _PRIORITY if t in tags), "plain")


def score_rules(findings: list, truth: dict) -> dict:
    """Per-rule code-level precision/recall with grouped disagreements."""
    tags = truth["tags"]
    out = {}
    for rule, want in truth["rules"].items():
        flagged = {c for f in findings if f["rule"] == rule for c in f["trace_codes"]}
        expected, ambiguous = set(want["expected"]), set(want["ambiguous"])
        tp = flagged & expected
        fp = flagged - expected - ambiguous
        fn = expected - flagged
        out[rule] = {
            "expected": len(expected), "flagged": len(flagged), "tp": len(tp), "fp": len(fp), "fn": len(fn),
            "ambiguous_flagged": len(flagged & ambiguous),
            "precision": len(tp) / (len(tp) + len(fp)) if tp or fp else 1.0,
            "recall": len(tp) / len(expected) if expected else 1.0,
            "fp_by_pattern": dict(Counter(_why(tags.get(c)) for c in fp).most_common()),
            "fn_by_pattern": dict(Counter(_why(tags.get(c)) for c in fn).most_common()),
            "fp_examples": sorted(fp)[:3],
            "fn_examples": sorted(fn)[:3],
        }
    return out


def score_rings(rings: list, truth: dict) -> dict:
    """Best rxring ring for each planted ring, and rxring rings that match none."""
    planted = []
    matched = set()
    for ring in truth["rings"]:
        want = _members(ring)
        best, best_j = None, 0.0
        for r in rings:
            j = jaccard(want, _members(r))
            if j > best_j:
                best, best_j = r, j
        entry = {"name": ring["name"], "members": len(want), "best_ring": best["ring_id"] if best else None,
                 "jaccard": round(best_j, 3), "found": best_j >= FOUND_JACCARD}
        if best is not None:
            got = _members(best)
            entry["missing"] = sorted(f"{r}:{m}" for r, m in want - got)[:6]
            entry["extra"] = sorted(f"{r}:{m}" for r, m in got - want)[:6]
            entry["n_missing"], entry["n_extra"] = len(want - got), len(got - want)
            if best_j >= FOUND_JACCARD:
                matched.add(best["ring_id"])
        planted.append(entry)
    unmatched = [{"ring_id": r["ring_id"], "rules": r["rules"], "boxes": r["boxes"],
                  "source_sites": r["source_sites"], "laundering_sites": r["laundering_sites"],
                  "n_members": len(_members(r))} for r in rings if r["ring_id"] not in matched]
    return {"planted": planted, "found": sum(e["found"] for e in planted), "of": len(planted),
            "unmatched_rxring_rings": unmatched}


def _quarantine(ws: Path) -> dict:
    path = ws / "quarantine.csv"
    if not path.exists():
        return {"rows": 0, "reasons": {}}
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    reasons = Counter(f"{Path(r['source_file']).name}: {r['reason'][:90]}" for r in rows)
    return {"rows": len(rows), "reasons": dict(reasons.most_common(8))}


def run_check(seed: int = 1, scale: float = 0.3, workdir: str | Path | None = None, extra_args=(),
              disable=()) -> dict:
    """Generate the city, run rxring on it, and score the result.

    Returns
    -------
    dict with keys ``rules``, ``rings``, ``ingest``, ``analyze`` (rxring's summary line).
    """
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="rxring-independent-")
        workdir = tmp.name
    workdir = Path(workdir)
    try:
        truth = city_mod.generate_city(workdir, seed=seed, scale=scale, disable=disable)
        ws = workdir / "ws"
        done = _rxring("analyze", str(workdir / "inputs"), "-w", str(ws), "--no-progress", *extra_args)
        if done.returncode != 0:
            return {"error": f"rxring analyze exited {done.returncode}: {done.stderr.strip()[-2000:]}",
                    "rules": {}, "rings": {}}
        summary = next((line for line in done.stdout.splitlines() if "findings" in line), "")
        found = _rxring("findings", "-w", str(ws), "--json", "--limit", "0", "--reveal-pii")
        rings = _rxring("rings", "-w", str(ws), "--json", "--limit", "0", "--reveal-pii")
        for step in (found, rings):
            if step.returncode != 0:
                return {"error": f"{step.args[3]} exited {step.returncode}: {step.stderr.strip()[-2000:]}",
                        "rules": {}, "rings": {}}
        findings = json.loads(found.stdout)
        ring_list = json.loads(rings.stdout)
        manifest = json.loads((ws / "manifest.json").read_text(encoding="utf-8"))
        read = {Path(i["path"]).name: i.get("read") for i in manifest.get("inputs", [])}
        mismatches = {name: {"written": n, "read": read.get(name)}
                      for name, n in truth["render"]["files"].items() if read.get(name) != n}
        return {
            "analyze": summary,
            "rules": score_rules(findings, truth),
            "rings": score_rings(ring_list, truth),
            "ingest": {"rows_written": truth["render"]["rows"], "junk_rows": truth["render"]["junk_rows"],
                       "simulated_events": truth["events"],
                       "manifest_totals": manifest.get("totals"), "file_mismatches": mismatches,
                       "quarantine": _quarantine(ws)},
            "truth_expected": {r: len(v["expected"]) for r, v in truth["rules"].items()},
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


def _print(result: dict) -> None:
    if "error" in result:
        print("ERROR:", result["error"])
        return
    print(result["analyze"])
    print(f"\n{'rule':15} {'expect':>6} {'flag':>6} {'TP':>5} {'FP':>5} {'FN':>5} {'prec':>6} {'recall':>6}")
    for rule, s in result["rules"].items():
        print(f"{rule:15} {s['expected']:6} {s['flagged']:6} {s['tp']:5} {s['fp']:5} {s['fn']:5} "
              f"{s['precision']:6.3f} {s['recall']:6.3f}")
        if s["ambiguous_flagged"]:
            print(f"   (also flagged {s['ambiguous_flagged']} codes whose expectation is a judgement call, not scored)")
        if s["fp"]:
            print(f"   FP by pattern: {s['fp_by_pattern']}  e.g. {s['fp_examples']}")
        if s["fn"]:
            print(f"   FN by pattern: {s['fn_by_pattern']}  e.g. {s['fn_examples']}")
    rings = result["rings"]
    print(f"\nplanted rings found (Jaccard >= {FOUND_JACCARD}): {rings['found']}/{rings['of']}")
    for e in rings["planted"]:
        print(f"  {e['name']:40} members={e['members']:3} best={e['best_ring']} J={e['jaccard']:.3f} "
              f"{'FOUND' if e['found'] else 'MISSED'}  missing={e.get('n_missing')} extra={e.get('n_extra')}")
        if not e["found"]:
            print(f"     missing e.g. {e.get('missing')}\n     extra e.g. {e.get('extra')}")
    if rings["unmatched_rxring_rings"]:
        print("rxring rings matching no planted ring:")
        for r in rings["unmatched_rxring_rings"]:
            print(f"  {r}")
    ing = result["ingest"]
    print(f"\ningest: rows written {ing['rows_written']} (junk {ing['junk_rows']}), "
          f"manifest {ing['manifest_totals']}, quarantine {ing['quarantine']}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--keep", help="write the city and workspace here instead of a temp folder")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--disable", action="append", default=[], choices=city_mod.QUIRKS,
                        help="leave a quirk out of the city (repeatable)")
    args = parser.parse_args(argv)
    result = run_check(args.seed, args.scale, args.keep, disable=args.disable)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    else:
        _print(result)


if __name__ == "__main__":
    main()
