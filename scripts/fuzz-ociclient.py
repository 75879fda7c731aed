#!/usr/bin/env python3
"""Long fuzz run of ociclient's parsers: the targets of ``tests/ociclient/test_oci_fuzz.py``
(manifest/index, image config, auth.json, registries.conf, layout index.json) with many more
examples. Only OciError subclasses may escape a target; anything else is reported with the
input hypothesis shrank it to, and the exit status is 1.

    .venv/bin/python scripts/fuzz-ociclient.py [--examples N] [--seed S] [TARGET ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), "tests", "ociclient")]

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from ocifuzz_targets import TARGETS, run_target  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=20000, help="examples per target (default 20000)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a new one)")
    p.add_argument("targets", nargs="*", metavar="TARGET", help=f"default: all of {', '.join(sorted(TARGETS))}")
    args = p.parse_args()
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    failed = []
    for name in args.targets or sorted(TARGETS):
        fn, strategy = TARGETS[name]

        @settings(max_examples=args.examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def fuzz(value):
            run_target(fn, value)

        if args.seed is not None:
            fuzz = seed(args.seed)(fuzz)
        t0 = time.monotonic()
        try:
            fuzz()
        except Exception:
            failed.append(name)
            print(f"FAIL {name}:\n{traceback.format_exc()}", file=sys.stderr)
            continue
        print(f"ok   {name}: {args.examples} examples in {time.monotonic() - t0:.1f}s")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
