"""The outputs read only what they show (issue 20) and still write what they wrote before.

The report in every format, the visualisations and an evidence package of the demo
city and of the hand-made report workspace are compared, file by file and zip member
by zip member, with the digests rxring 684ec17 wrote (tests/report/outputs_digest.json),
generation times and folders aside (tests/report/outputs_digest.py says what is ignored
and how to regenerate the digests after a change meant to change the outputs).
"""

from __future__ import annotations

import json

import pytest

from tests.report.outputs_digest import GOLDEN, digests, write_outputs


@pytest.mark.parametrize("which", ["city", "fixture"])
def test_outputs_unchanged(which, request, tmp_path):
    if which == "city":  # written once for the tests of the city's outputs (tests/report/conftest.py)
        out, roots = request.getfixturevalue("city_outputs").folder, [str(request.getfixturevalue("city").root)]
    else:
        case = request.getfixturevalue("fixture_case")
        out, roots = tmp_path / "out", [str(case.root.parent)]
        write_outputs(case.root, out, "R001")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[which]
    found = digests(out, [*roots, str(out)])
    assert sorted(found) == sorted(expected), "the outputs are not the same files"
    changed = sorted(name for name in expected if found[name] != expected[name])
    assert not changed, f"outputs changed: {', '.join(changed)}"
