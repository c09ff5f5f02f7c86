"""What tests/conftest.py promises: the units of work under xdist, and conftest files that are not doctest
modules (collected as one, a conftest's fixtures are registered a second time and its autouse session
fixtures run twice on a worker: the reveal record of one fresh-clone run was set twice, and a test saw the
second)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import work_unit

TESTS = Path(__file__).parent


def test_a_folder_of_tests_is_one_unit_and_a_doctest_module_its_own():
    assert work_unit("tests/neo4j/test_city.py::test_x") == "neo4j"
    assert work_unit("tests/neo4j/sub/test_y.py::test_z[a/b]") == "neo4j"
    assert work_unit("tests/test_conftest.py::test_x") == "tests/test_conftest.py"
    assert work_unit("rxring/pii.py::rxring.pii.mask_id") == "rxring/pii.py"


def test_no_conftest_holds_a_doctest():
    holding = [str(path.relative_to(TESTS)) for path in TESTS.rglob("conftest.py")
               if ">>>" in path.read_text(encoding="utf-8")]
    assert holding == []
