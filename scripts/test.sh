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
exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@" tests
