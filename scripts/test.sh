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
# loadgroup is meant to keep the QEMU boots (tests/install/test_boot.py, one xdist group)
# on one worker; with pytest 9.2 + xdist 3.8 here the group did not hold (the boots ran on
# both workers, the qemu lock serialising them): still open
exec .venv/bin/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider "$@" tests
