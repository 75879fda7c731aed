#!/bin/bash
# Installs ostreepy into .venv and runs the main job with no network: deploys the
# bundled bootable example image (an OCI layout) into a folder sysroot, upgrades it
# to v2, and shows `bootc status` and the boot entries.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    PY=python3
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -e . >/dev/null 2>&1 || .venv/bin/python -m pip install -q -e .
exec .venv/bin/python -m ostreepy.demo "$@"
