#!/usr/bin/env python3
"""Run the fuzz targets for longer than the test suite does (which runs each for a
few hundred examples): the store's and the bootloader's parsers
(tests/hardening/fuzz_targets.py) and ociclient's (tests/ociclient/ocifuzz_targets.py,
named ``ociclient.<target>`` here).

    .venv/bin/python scripts/fuzz.py                      # every target, 20x the test-suite examples
    .venv/bin/python scripts/fuzz.py --scale 200 tar_import kargs_parse
    .venv/bin/python scripts/fuzz.py --examples 100000 --seed 7 keyfile_parse
    .venv/bin/python scripts/fuzz.py --examples 20000 ociclient.manifest

Each run is random (unless --seed); a failure prints the smallest input found and
the script exits 1.  Prints, per target: examples run and seconds taken.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "ociclient"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from composefs.fuzz_targets import TARGETS as COMPOSEFS_TARGETS  # noqa: E402
from hardening.fuzz_targets import TARGETS as STORE_TARGETS  # noqa: E402
from ocifuzz_targets import TARGETS as OCI_TARGETS, run_target  # noqa: E402

OCI_SUITE_EXAMPLES = 150  # what tests/ociclient/test_oci_fuzz.py runs each for


def _oci(fn):  # type: ignore[no-untyped-def]
    return lambda value: run_target(fn, value)


# (name, target, strategy, examples in the test suite)
TARGETS = list(STORE_TARGETS) + list(COMPOSEFS_TARGETS) + [(f"ociclient.{name}", _oci(fn), strategy, OCI_SUITE_EXAMPLES)
                                 for name, (fn, strategy) in sorted(OCI_TARGETS.items())]


def _counting(target, runs):  # type: ignore[no-untyped-def]
    def counted(value):  # type: ignore[no-untyped-def]
        runs[0] += 1
        target(value)
    return counted


def main(argv: "list[str] | None" = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("targets", nargs="*", help="target names (default: all)")
    p.add_argument("--scale", type=int, default=20, help="multiple of the test-suite example counts")
    p.add_argument("--examples", type=int, help="examples per target (overrides --scale)")
    p.add_argument("--seed", type=int, help="fixed random seed")
    p.add_argument("--list", action="store_true", help="list the targets and exit")
    args = p.parse_args(argv)
    known = {t[0]: t for t in TARGETS}
    if args.list:
        for name, _, _, n in TARGETS:
            print(f"{name}\t{n}")
        return 0
    unknown = [t for t in args.targets if t not in known]
    if unknown:
        p.error(f"unknown targets: {', '.join(unknown)} (see --list)")
    failed = []
    for name, target, inputs, n in [known[t] for t in args.targets] if args.targets else TARGETS:
        count = args.examples or n * args.scale
        runs = [0]
        counted = _counting(target, runs)

        test = settings(max_examples=count, deadline=None, database=None,
                        suppress_health_check=list(HealthCheck))(given(inputs)(counted))
        if args.seed is not None:
            test = seed(args.seed)(test)
        t0 = time.monotonic()
        try:
            test()
        except Exception as e:  # noqa: BLE001 - report and go on with the other targets
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"{name}: {runs[0]} examples in {time.monotonic() - t0:.1f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
