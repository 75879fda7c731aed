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
# loadgroup: the QEMU boots (tests/install/test_boot.py, one xdist group) run on one
# worker from the start while the other takes the rest; other tests go one by one
exec .venv/bin/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider "$@" tests
