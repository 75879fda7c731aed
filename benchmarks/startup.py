#!/usr/bin/env python3
"""Start-up benchmark: how long a short command takes from exec to exit.

Runs, alternating, 10 times each (median shown):

  python -c pass             the interpreter alone (the floor for any Python tool)
  ostree --help              the C peer
  ostreepy --help
  ostree --repo=R refs       a small repository with a few refs
  ostreepy --repo=R refs
  ostreepy --version
  ociclient --help

and prints the wall time, the ratio against ostree's same command, and the
target (under 100 ms for ``ostreepy --help`` and ``ostreepy --repo=R refs`` on
this machine). It also lists the ostreepy modules a command imports, so that a
verb that pulls in more than it needs shows up.

  .venv/bin/python benchmarks/startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import store as sb  # noqa: E402  (bytecode compilation and the ostreepy launcher path)

TARGET_S = 0.100


def wall(cmd: List[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def imported_modules(cmd_args: List[str]) -> List[str]:
    code = ("import sys, runpy\nsys.argv = ['ostreepy'] + sys.argv[1:]\n"
            "from ostreepy.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ostreepy', 'ociclient', 'bootloader', 'attrs', 'requests', 'cryptography'))))\n")
    p = subprocess.run([sys.executable, "-c", code, *cmd_args], capture_output=True, text=True)
    return p.stderr.split()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args(argv)
    note = sb.compile_bytecode()
    ostreepy = sb.default_ostreepy()
    ociclient = [str(Path(ostreepy[0]).parent / "ociclient")] if Path(ostreepy[0]).name == "ostreepy" else \
        [sys.executable, "-m", "ociclient.cli"]
    work = Path(tempfile.mkdtemp(prefix="ostreepy-startup-"))
    repo = work / "repo"
    tree = work / "tree"
    tree.mkdir()
    (tree / "a").write_text("a\n")
    subprocess.run(["ostree", f"--repo={repo}", "init", "--mode=archive"], check=True)
    for ref in ("os/stable", "os/testing", "apps/x"):
        subprocess.run(["ostree", f"--repo={repo}", "commit", "-b", ref, str(tree)], check=True, capture_output=True)
    cases: Dict[str, List[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "ostree --help": ["ostree", "--help"],
        "ostreepy --help": ostreepy + ["--help"],
        "ostree --repo=R refs": ["ostree", f"--repo={repo}", "refs"],
        "ostreepy --repo=R refs": ostreepy + [f"--repo={repo}", "refs"],
        "ostreepy --version": ostreepy + ["--version"],
        "ociclient --help": ociclient + ["--help"],
    }
    times: Dict[str, List[float]] = {k: [] for k in cases}
    for name, cmd in cases.items():  # warm the page cache
        wall(cmd)
    for _ in range(args.repeat):
        for name, cmd in cases.items():
            times[name].append(wall(cmd))
    med = {k: statistics.median(v) for k, v in times.items()}
    peer = {"ostreepy --help": "ostree --help", "ostreepy --repo=R refs": "ostree --repo=R refs"}
    print(f"start-up, median of {args.repeat} runs{note}; load average {os.getloadavg()[0]:.2f}")
    print(f"| command | median ms | vs python -c pass | vs ostree | target |")
    print(f"|---|---|---|---|---|")
    for name in cases:
        vs_py = med[name] / med["python -c pass"]
        vs_peer = f"{med[name] / med[peer[name]]:.1f}x" if name in peer else "–"
        target = f"< {TARGET_S * 1000:.0f} ms {'ok' if med[name] < TARGET_S else 'MISSED'}" if name in peer else "–"
        print(f"| {name} | {med[name] * 1000:.1f} | {vs_py:.1f}x | {vs_peer} | {target} |")
    for label, cmd_args in (("--help", ["--help"]), ("refs", [f"--repo={repo}", "refs"])):
        mods = imported_modules(cmd_args)
        print(f"modules imported by `ostreepy {label}` ({len(mods)}): {' '.join(mods)}")
    subprocess.run(["rm", "-rf", str(work)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
