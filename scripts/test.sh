#!/usr/bin/env bash
# The whole test suite, as on CI: installs the test dependencies (Python packages,
# headless Chromium and CJK fonts from Debian), then runs pytest. Neo4j Community is
# downloaded from Maven Central into ~/.cache/rxring and started by the test session
# itself (or the server in NEO4J_URI is used). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e '.[test]'
bash scripts/install-browser.sh   # headless Chromium + CJK fonts (report and visualisation tests)
bash scripts/install-java.sh      # JDK 17 + Maven (the local Neo4j server and Spark)

# Byte-compiled modules are kept (PYTHONDONTWRITEBYTECODE, set on some machines, would have every
# process the tests start, CLI runs and ingest workers, compile rxring again, and pytest rewrite the
# test modules' asserts on every run): rxring is compiled once here, the tests on first import.
unset PYTHONDONTWRITEBYTECODE
python -m compileall -q -j 0 rxring >/dev/null

# Two worker processes (RXRING_TEST_WORKERS; 0 runs in this process): the Neo4j tests on one, the Spark
# tests on the other, every other folder as one unit on whichever is free (tests/conftest.py).
set +e
python -m pytest -n "${RXRING_TEST_WORKERS:-2}" --dist loadscope "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "scripts/test.sh: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$status"
