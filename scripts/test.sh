#!/bin/bash
# Installs what the tests need (peer tools, the project with its test extra)
# and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
# --dist loadfile keeps each test file on one worker: the QEMU boots of
# tests/install/test_boot.py (one VM at a time, about 6 min in all) then run on one
# worker from the start, named first so they are handed out first, while the other
# worker takes the rest (xdist's loadgroup would say it per test, but with pytest 9.2
# its group marks are not seen: xdist renames item._nodeid, which pytest 9 no longer reads)
exec .venv/bin/python -m pytest -n 2 --dist loadfile -p no:cacheprovider "$@" tests/install/test_boot.py tests
