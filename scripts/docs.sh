#!/bin/bash
# Builds the documentation (docs/, Sphinx) with warnings as errors, then runs every
# code example in it and in README.md. Installs nothing: Sphinx comes with the test
# extra (pip install -e '.[test]'). Usage: scripts/docs.sh [OUTDIR] (default docs/_build);
# the pages are OUTDIR/html/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${1:-docs/_build}
if ! "$PY" -c 'import sphinx' 2>/dev/null; then
    echo "docs.sh: Sphinx is missing; install the test extra: pip install -e '.[test]'" >&2
    exit 2
fi
# One doctree cache for both builders: the doctest run reuses what the HTML build read.
"$PY" -m sphinx -b html -W --keep-going -q -d "$OUT/doctrees" docs "$OUT/html"
"$PY" -m sphinx -b doctest -W --keep-going -q -d "$OUT/doctrees" docs "$OUT/doctest"
"$PY" docs/readme_examples.py README.md
echo "docs.sh: built $OUT/html/index.html; every example ran"
