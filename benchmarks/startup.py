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

and, with ``--verbs``, the short commands whose fixed cost is mostly start-up (issues 8, 9,
14), on a bare-user repository pulled from a local archive one over file://:

  rev-parse, ls -R, show       a 3-file commit (with a parent)
  checkout -U -H               that commit, and the realistic OS tree (benchmarks/.cache)
  static-delta apply-offline   a from-to delta of that commit, its objects already there
  pull (no-op)                 the remote's ref, which the repository has already

with, for each, whether ostreepy imported attrs and how many attrs classes it built
(``attrs classes``: a run of the verb in-process with attrs' class builder counted), beside
``python -c 'import attrs'`` against the same without attrs: the ceiling of what a lazier
attrs could take off that verb. It prints wall, CPU and RSS, the ratios against ostree's same command, and the
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


_ATTRS_PROBE = r"""
import sys, time
t = time.perf_counter()
import attrs, attr._make as m
took = time.perf_counter() - t
built = []
build = m._ClassBuilder.build_class
def counted(self):
    built.append(self._cls.__module__ + "." + self._cls.__name__)
    return build(self)
m._ClassBuilder.build_class = counted
from ostreepy.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
ours = [c.split("ostreepy.", 1)[1] for c in built if c.startswith("ostreepy.")]
sys.stderr.write(f"\nPROBE {len(ours)} {' '.join(ours)}\n")
"""


def attrs_classes(cmd_args: list[str], src: str) -> str:
    """Whether ostreepy (from ``src``) imports attrs for a command, and the attrs classes it
    builds: the command run in-process, attrs imported first and its builder counted."""
    env = {**os.environ, "PYTHONPATH": src}
    code = ("import sys\nfrom ostreepy.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
            "    pass\nsys.stderr.write('\\nATTRS ' + str('attrs' in sys.modules))")
    plain = subprocess.run([sys.executable, "-P", "-c", code, *cmd_args],
                           capture_output=True, text=True, env=env, check=False)
    imported = plain.stderr.rsplit("ATTRS ", 1)[-1].strip() == "True"
    p = subprocess.run([sys.executable, "-P", "-c", _ATTRS_PROBE, *cmd_args], capture_output=True, text=True, env=env,
                       check=False)
    n, _, names = p.stderr.rsplit("PROBE ", 1)[-1].strip().partition(" ")
    return f"imports attrs: {'yes' if imported else 'no'}, {n} attrs classes built ({names or '-'})"


def _verb_cases(work: Path, tools: dict[str, list[str]], pythons: dict[str, list[str]],
                counter) -> dict[str, dict[str, object]]:
    """The short verbs of ``--verbs``, on repositories made here by ostree (see the docstring)."""
    def ostree(*argv: str) -> None:
        subprocess.run(["ostree", *argv], check=True, capture_output=True)

    tiny, arch, bu = work / "tiny", work / "arch", work / "bu"
    tiny.mkdir()
    for i in (1, 2, 3):
        (tiny / f"f{i}").write_text(f"file {i}\n")
    ostree(f"--repo={arch}", "init", "--mode=archive")
    ostree(f"--repo={arch}", "commit", "-b", "main", "-s", "one", str(tiny))
    (tiny / "f4").write_text("four\n")
    ostree(f"--repo={arch}", "commit", "-b", "main", "-s", "two", str(tiny))
    ostree(f"--repo={arch}", "static-delta", "generate", "--from=main^", "--to=main", "--inline",
           f"--filename={work / 'delta'}")
    ostree(f"--repo={bu}", "init", "--mode=bare-user")
    ostree(f"--repo={bu}", "remote", "add", "--no-gpg-verify", "o", f"file://{arch}")
    ostree(f"--repo={bu}", "pull", "--depth=1", "o", "main")
    realistic = HERE / ".cache" / "rootfs-debian"
    if realistic.is_dir():
        ostree(f"--repo={bu}", "commit", "-b", "real", str(realistic))

    def checkout(tool: list[str], rev: str) -> Callable[[], list[str]]:
        return lambda: tool + [f"--repo={bu}", "checkout", "-U", "-H", rev, str(work / f"co-{next(counter)}")]

    py = next(iter(pythons.values()))[0]
    verbs: dict[str, dict[str, object]] = {
        "python -c 'import attrs'": {"with attrs": [py, "-c", "import attrs"], "without": [py, "-c", "import typing"]},
        "rev-parse": {t: cmd + [f"--repo={bu}", "rev-parse", "o:main"] for t, cmd in tools.items()},
        "ls -R": {t: cmd + [f"--repo={bu}", "ls", "-R", "o:main"] for t, cmd in tools.items()},
        "show": {t: cmd + [f"--repo={bu}", "show", "o:main"] for t, cmd in tools.items()},
        "checkout -U -H (3 files)": {t: checkout(cmd, "o:main") for t, cmd in tools.items()},
    }
    if realistic.is_dir():
        verbs["checkout -U -H (realistic)"] = {t: checkout(cmd, "real") for t, cmd in tools.items()}
    verbs["static-delta apply-offline"] = {t: cmd + [f"--repo={bu}", "static-delta", "apply-offline",
                                                     str(work / "delta")] for t, cmd in tools.items()}
    verbs["pull (no-op, file://)"] = {t: cmd + [f"--repo={bu}", "pull", "o", "main"] for t, cmd in tools.items()}
    return verbs


def main(argv=None) -> int:
    import shlex
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--verbs", action="store_true",
                    help="also the short repository verbs (rev-parse, ls, show, checkout, delta apply, no-op pull)")
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

    verb_cases: dict[str, dict[str, object]] = _verb_cases(work, tools, pythons, counter) if args.verbs else {}

    # case -> tool -> argv, or a function making it (untimed set-up)
    cases: Dict[str, Dict[str, object]] = {
        "python -c pass": pythons,
        "--help": {t: cmd + ["--help"] for t, cmd in short.items()},
        "--version": {t: cmd + ["--version"] for t, cmd in tools.items()},
        "--repo=R refs": {t: cmd + [f"--repo={repo}", "refs"] for t, cmd in short.items()},
        "--repo=R commit (10 files)": {t: commit_cmd(cmd) for t, cmd in tools.items()},
        "ociclient --help": {"ociclient": ociclient + ["--help"]},
        **verb_cases,
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
    if args.verbs:
        print("attrs per verb (ostreepy: this checkout, in-process; before: the same of --before-src):")
        for case, per in verb_cases.items():
            if case.startswith("python"):
                continue
            argv = per["ostreepy"]() if callable(per["ostreepy"]) else per["ostreepy"]
            line = f"  {case}: ostreepy {attrs_classes(argv[1:], str(HERE.parent))}"
            if args.before_src:
                line += f"; before {attrs_classes(argv[1:], str(Path(args.before_src).resolve()))}"
            print(line)
    sb.LAUNCHER.close()
    subprocess.run(["rm", "-rf", str(work)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
