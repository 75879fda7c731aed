#!/usr/bin/env python3
"""Start-up benchmark: how long a short command takes from exec to exit, beside ostree's.

Runs, alternating, ``--repeat`` times each (median shown), every command from the
small launcher of benchmarks/store.py (wall time, the child's CPU seconds and peak RSS
from os.wait4):

  python -c pass             the interpreter alone (the floor for any Python tool), that of
                             the installed ostreepy's venv and that of the editable .venv
  --help                     ostree and ostreepy
  --version                  ostree and ostreepy
  --repo=R refs              a small repository with a few refs
  --repo=R commit            a 10-file tree into a fresh bare-user repository (its init untimed)
  ociclient --help

and prints wall, CPU and RSS, the ratios against ostree's same command, and the
target (under 100 ms for ``ostreepy --help``, 35 ms for ``ostreepy --repo=R refs`` on
a quiet machine). ``--before CMD`` runs an older ostreepy in the same rotation (e.g.
``'env PYTHONPATH=OLD .venv/bin/python -P -m ostreepy'`` for a `git archive` of it in
OLD), so that before/after come from the same load; ``--before-src OLD`` installs that
checkout as this one is (better: the same kind of install on both sides). It also lists
the ostreepy modules a command imports, so that a verb that pulls in more than it needs
shows up.

ostreepy is timed as a user installs it (benchmarks/store.py's installed_ostreepy: a
wheel of this checkout in a venv of its own), not as the editable .venv that README's
first command makes: setuptools' editable finder for this flat layout costs every Python
start in that venv ~10 ms (``python -c pass`` of both venvs shows it), which an installed
package does not pay. The editable install's own --help and refs are shown too
("ostreepy-editable").

  .venv/bin/python benchmarks/startup.py [--repeat N] [--before CMD | --before-src OLD]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import store as sb  # noqa: E402  (bytecode compilation and the ostreepy launcher path)

TARGET_S = {"--help": 0.100, "--repo=R refs": 0.035}


def imported_modules(cmd_args: List[str]) -> List[str]:
    code = ("import sys, runpy\nsys.argv = ['ostreepy'] + sys.argv[1:]\n"
            "from ostreepy.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ostreepy', 'ociclient', 'bootloader', 'attrs', 'requests', 'cryptography'))))\n")
    p = subprocess.run([sys.executable, "-c", code, *cmd_args], capture_output=True, text=True)
    return p.stderr.split()


def main(argv=None) -> int:
    import shlex
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--before", default=None, metavar="CMD", help="an older ostreepy, run in the same rotation")
    ap.add_argument("--before-src", default=None, metavar="DIR",
                    help="an older checkout, installed as this one is and run in the same rotation")
    args = ap.parse_args(argv)
    note = sb.compile_bytecode()
    sb.LAUNCHER = sb.Launcher()  # first, while this process is small
    ostreepy = sb.default_ostreepy()
    ociclient = [str(Path(ostreepy[0]).parent / "ociclient")] if Path(ostreepy[0]).name == "ostreepy" else \
        [sys.executable, "-m", "ociclient.cli"]
    tools = {"ostree": ["ostree"], "ostreepy": ostreepy}
    if args.before:
        tools["before"] = shlex.split(args.before)
    elif args.before_src:
        tools["before"] = sb.installed_ostreepy(Path(args.before_src))
    pythons = {"python": [sys.executable, "-c", "pass"]}
    if Path(ostreepy[0]).name == "ostreepy" and (Path(ostreepy[0]).parent / "python").exists():
        pythons = {"python (installed)": [str(Path(ostreepy[0]).parent / "python"), "-c", "pass"],
                   "python (.venv)": [sys.executable, "-c", "pass"]}
    editable = HERE.parent / ".venv/bin/ostreepy"
    short = dict(tools)
    if editable.exists() and str(editable) != ostreepy[0]:
        short["ostreepy-editable"] = [str(editable)]
    work = Path(tempfile.mkdtemp(prefix="ostreepy-startup-"))
    repo = work / "repo"
    tree = work / "tree"
    tree.mkdir()
    (tree / "a").write_text("a\n")
    subprocess.run(["ostree", f"--repo={repo}", "init", "--mode=archive"], check=True)
    for ref in ("os/stable", "os/testing", "apps/x"):
        subprocess.run(["ostree", f"--repo={repo}", "commit", "-b", ref, str(tree)], check=True, capture_output=True)
    small = work / "small"
    small.mkdir()
    for i in range(10):
        (small / f"file{i}").write_text(f"{i}\n" * (i + 1))
    counter = iter(range(1 << 30))

    def commit_cmd(tool: List[str]) -> Callable[[], List[str]]:
        def prepare() -> List[str]:
            dest = work / f"commit-{next(counter)}"
            subprocess.run(["ostree", f"--repo={dest}", "init", "--mode=bare-user"], check=True)
            return tool + [f"--repo={dest}", "commit", "-b", "x", "-s", "x", "--timestamp=2024-01-01", str(small)]
        return prepare

    # case -> tool -> argv, or a function making it (untimed set-up)
    cases: Dict[str, Dict[str, object]] = {
        "python -c pass": pythons,
        "--help": {t: cmd + ["--help"] for t, cmd in short.items()},
        "--version": {t: cmd + ["--version"] for t, cmd in tools.items()},
        "--repo=R refs": {t: cmd + [f"--repo={repo}", "refs"] for t, cmd in short.items()},
        "--repo=R commit (10 files)": {t: commit_cmd(cmd) for t, cmd in tools.items()},
        "ociclient --help": {"ociclient": ociclient + ["--help"]},
    }
    runs: Dict[tuple, list] = {(c, t): [] for c, per in cases.items() for t in per}

    def run_once(cmd: object) -> sb.Measurement:
        argv = cmd() if callable(cmd) else cmd
        return sb.measure(argv)  # type: ignore[arg-type]

    for case, per in cases.items():  # warm the page cache
        for cmd in per.values():
            run_once(cmd)
    for r in range(args.repeat):
        for case, per in cases.items():
            order = list(per) if r % 2 == 0 else list(reversed(per))
            for t in order:
                m = run_once(per[t])
                if m.rc != 0:
                    raise SystemExit(f"{case} ({t}) failed: {m.err.decode(errors='replace')[-2000:]}")
                runs[(case, t)].append(m)
    med = {k: (statistics.median(m.wall for m in v), statistics.median(m.cpu for m in v),
               max(m.maxrss_mb for m in v)) for k, v in runs.items()}
    print(f"start-up, median of {args.repeat} runs{note}; load average {os.getloadavg()[0]:.2f}")
    print("| command | tool | wall ms | CPU ms | RSS MB | wall vs ostree | CPU vs ostree | target |")
    print("|---|---|---|---|---|---|---|---|")
    for case, per in cases.items():
        for t in per:
            w, c, rss = med[(case, t)]
            peer = med.get((case, "ostree")) if t != "ostree" else None
            wr = f"{w / peer[0]:.1f}x" if peer else "–"
            cr = f"{c / peer[1]:.1f}x" if peer and peer[1] > 0 else "–"
            target = "–"
            if t == "ostreepy" and case in TARGET_S:
                target = f"< {TARGET_S[case] * 1000:.0f} ms {'ok' if w < TARGET_S[case] else 'MISSED'}"
            print(f"| {case} | {t} | {w * 1000:.1f} | {c * 1000:.1f} | {rss:.1f} | {wr} | {cr} | {target} |")
    for label, cmd_args in (("--help", ["--help"]), ("refs", [f"--repo={repo}", "refs"])):
        mods = imported_modules(cmd_args)
        print(f"modules imported by `ostreepy {label}` ({len(mods)}): {' '.join(mods)}")
    sb.LAUNCHER.close()
    subprocess.run(["rm", "-rf", str(work)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
