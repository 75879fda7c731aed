#!/usr/bin/env python3
"""Object-store benchmark: ostreepy against the real `ostree`, on a realistic OS tree.

The tree is built once and cached under benchmarks/.cache/ (gitignored):
Debian bookworm minbase from `debootstrap --variant=minbase` when the mirror is
reachable (about 50 s), else a synthetic tree of the same shape (about 5,000
files, 800 directories, 650 symlinks, 200 MB).  Either way it is made
ostree-ready: empty dev proc sys run tmp, etc moved to usr/etc, and a fake
kernel and initramfs in usr/lib/modules/<kver>/.

Each operation runs with both tools in one run, alternating which goes first,
each on a fresh repo (or a fresh destination):

  commit-bare, commit-bare-user, commit-archive   `commit -b bench --timestamp=... TREE`
  checkout-hardlink                               `checkout --require-hardlinks` from bare
  checkout-user                                   `checkout -U` from bare-user (hardlinks)
  fsck-bare, fsck-archive                         `fsck`

and prints wall time and peak RSS of the child (os.wait4 rusage) per tool, and
the ratio ostreepy/ostree.  Usage:

  .venv/bin/python benchmarks/store.py [--repeat N] [--only OP[,OP]] [--synthetic]
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
KVER = "6.1.0-bench"
TIMESTAMP = "2024-01-01 00:00:00 +0000"
MIRROR = "http://deb.debian.org/debian"

# op -> (kind, repo mode, target ratio)
OPS = {
    "commit-bare": ("commit", "bare", 1.0),
    "commit-bare-user": ("commit", "bare-user", 1.0),
    "commit-archive": ("commit", "archive", 1.0),
    "checkout-hardlink": ("checkout", "bare", 1.5),
    "checkout-user": ("checkout-user", "bare-user", 1.5),
    "fsck-bare": ("fsck", "bare", 1.0),
    "fsck-archive": ("fsck", "archive", 1.0),
}
RSS_TARGET_MB = 100.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The tree

def _mounts_under(path: Path) -> list:
    p = str(path.resolve())
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mnt = line.split()[1].encode().decode("unicode_escape")
            if mnt == p or mnt.startswith(p + "/"):
                out.append(mnt)
    return out


def _empty_dir(d: Path) -> None:
    if d.is_symlink() or (d.exists() and not d.is_dir()):
        d.unlink()
    if d.exists():
        if _mounts_under(d):
            raise SystemExit(f"refusing to empty {d}: something is mounted under it")
        for child in d.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    else:
        d.mkdir()
    os.chmod(d, 0o1777 if d.name == "tmp" else 0o755)


def make_ostree_ready(root: Path) -> None:
    for name in ("dev", "proc", "sys", "run", "tmp"):
        _empty_dir(root / name)
    if (root / "etc").is_dir() and not (root / "etc").is_symlink():
        if (root / "usr/etc").exists():
            shutil.rmtree(root / "usr/etc")
        os.rename(root / "etc", root / "usr/etc")
    # no sockets, fifos or devices anywhere (ostree refuses them)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            m = os.lstat(p).st_mode
            if not (stat.S_ISREG(m) or stat.S_ISLNK(m)):
                os.unlink(p)
    mod = root / "usr/lib/modules" / KVER
    mod.mkdir(parents=True, exist_ok=True)
    rng = random.Random(4242)
    (mod / "vmlinuz").write_bytes(rng.randbytes(8 << 20))
    (mod / "initramfs.img").write_bytes(rng.randbytes(30 << 20))


def mirror_reachable() -> bool:
    import urllib.request  # heavy (ssl, http, email): imported only when needed
    try:
        with urllib.request.urlopen(f"{MIRROR}/dists/bookworm/Release", timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


def build_debian(dest: Path) -> bool:
    if not shutil.which("debootstrap"):
        log("debootstrap is not installed")
        return False
    if not mirror_reachable():
        log(f"{MIRROR} is not reachable")
        return False
    tmp = dest.with_name(dest.name + ".partial")
    if tmp.exists():
        if _mounts_under(tmp):
            raise SystemExit(f"{tmp} has mounts under it; unmount them first")
        shutil.rmtree(tmp)
    log("debootstrap --variant=minbase bookworm (about a minute) ...")
    t = time.perf_counter()
    res = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(tmp), MIRROR],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        log(res.stdout.decode(errors="replace")[-3000:])
        log("debootstrap failed")
        if not _mounts_under(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        return False
    if _mounts_under(tmp):
        raise SystemExit(f"debootstrap left mounts under {tmp}: {_mounts_under(tmp)}")
    log(f"debootstrap done in {time.perf_counter() - t:.1f} s")
    make_ostree_ready(tmp)
    os.rename(tmp, dest)
    return True


_WORDS = ("the of and to in is for on that with as by this be from are or an at it not "
          "usr lib share doc locale config debian package version license copyright file "
          "return static const struct int char void if else while").split()


def build_synthetic(dest: Path) -> None:
    """A tree shaped like a Debian minbase: ~5,000 files, ~800 dirs, ~650 symlinks, ~200 MB."""
    log("building a synthetic tree ...")
    rng = random.Random(20240101)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    text = " ".join(rng.choice(_WORDS) for _ in range(400_000)).encode()  # ~2 MB compressible
    binary = rng.randbytes(4 << 20)  # incompressible

    top = ["usr/bin", "usr/sbin", "usr/lib/x86_64-linux-gnu", "usr/share/doc", "usr/share/locale",
           "usr/share/man/man1", "usr/share/zoneinfo", "usr/lib/python3", "etc", "var/lib/dpkg/info",
           "var/cache/debconf", "usr/include", "usr/share/perl5", "usr/lib/systemd/system"]
    dirs = []
    for t in top:
        (tmp / t).mkdir(parents=True, exist_ok=True)
        dirs.append(t)
    while len(dirs) < 800:
        parent = rng.choice(dirs)
        if parent.count("/") > 7:
            continue
        d = f"{parent}/d{len(dirs)}-{rng.choice(_WORDS)}"
        (tmp / d).mkdir()
        dirs.append(d)

    files = []
    total = 0
    budget = 160 << 20  # plus 38 MB of kernel and initramfs
    for i in range(5000):
        d = rng.choice(dirs)
        r = rng.random()
        if r < 0.55:
            size = int(rng.lognormvariate(6.5, 1.3))        # small text (~1 KB)
        elif r < 0.95:
            size = int(rng.lognormvariate(9.5, 1.2))        # medium (~15 KB)
        else:
            size = int(rng.lognormvariate(12.5, 1.0))       # large binaries (~300 KB)
        size = min(size, 4 << 20, max(0, budget - total))
        src = text if rng.random() < 0.5 else binary
        off = rng.randrange(0, len(src) - size) if size < len(src) else 0
        header = f"file {i}\n".encode()
        data = (header + src[off:off + size])[:max(size, len(header))] if size else b""
        p = f"{d}/f{i}.{rng.choice(['so', 'txt', 'gz', 'py', 'pm', 'conf', ''])}"
        (tmp / p).write_bytes(data)
        mode = 0o755 if "bin" in d or rng.random() < 0.1 else 0o644
        os.chmod(tmp / p, mode)
        files.append(p)
        total += len(data)
    for p in rng.sample(files, 6):
        os.chmod(tmp / p, 0o4755)
    for i, p in enumerate(rng.sample(files, 4)):
        os.link(tmp / p, tmp / f"{p}.hl{i}")
    for i in range(650):
        d = rng.choice(dirs)
        target = rng.choice(files)
        if rng.random() < 0.5:
            tgt = "/" + target
        else:
            tgt = os.path.relpath(target, d)
        os.symlink(tgt, tmp / d / f"link{i}")
    for d in ("bin", "sbin", "lib", "lib64"):
        os.symlink(f"usr/{d}" if d != "lib64" else "usr/lib", tmp / d)
    (tmp / "usr/lib").mkdir(exist_ok=True)
    for d in ("dev", "proc", "sys", "run", "tmp", "home", "root", "var/tmp", "boot", "mnt", "opt", "srv"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    make_ostree_ready(tmp)
    os.rename(tmp, dest)


def get_tree(synthetic: bool) -> Path:
    CACHE.mkdir(exist_ok=True)
    deb = CACHE / "rootfs-debian"
    syn = CACHE / "rootfs-synthetic"
    if not synthetic:
        if deb.is_dir():
            return deb
        if build_debian(deb):
            return deb
        log("falling back to a synthetic tree")
    if not syn.is_dir():
        build_synthetic(syn)
    return syn


def tree_stats(root: Path) -> dict:
    s = {"files": 0, "dirs": 0, "symlinks": 0, "bytes": 0}
    for dirpath, dirnames, filenames in os.walk(root):
        s["dirs"] += 1
        for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            st = os.lstat(os.path.join(dirpath, n))
            if stat.S_ISLNK(st.st_mode):
                s["symlinks"] += 1
            else:
                s["files"] += 1
                s["bytes"] += st.st_size
    return s


def warm_cache(root: Path) -> None:
    """Reads every file once so that neither tool pays for a cold page cache."""
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p):
                with open(p, "rb") as f:
                    while f.read(1 << 20):
                        pass


# ---------------------------------------------------------------------------
# Running and measuring

class Measurement:
    def __init__(self, wall, maxrss_kb, rc, out, err, cpu=0.0):
        self.wall = wall
        #: the child's user + system CPU seconds (os.wait4)
        self.cpu = cpu
        self.maxrss_mb = maxrss_kb / 1024.0
        self.rc = rc
        self.out = out
        self.err = err


def summarize(runs) -> tuple:
    """(median wall seconds, largest max RSS in MB) of one operation's runs: what every table shows."""
    return statistics.median(m.wall for m in runs), max(m.maxrss_mb for m in runs)


class Launcher:
    """Runs the measured commands from a small process forked at start-up.

    A child's ru_maxrss counts the memory it had before exec: with fork that is
    a copy of the parent's resident memory, with vfork/posix_spawn (what
    subprocess uses) the parent's *peak*.  So the children are not started from
    this process, which builds trees and may grow, but from this launcher,
    forked while small (a few MB, below anything measured); it fork()s and
    exec()s each command, and reports wall time and os.wait4's ru_maxrss.
    """

    def __init__(self):
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the launcher
            os.close(self.req_w)
            os.close(self.resp_r)
            self._serve(os.fdopen(req_r, "r"), os.fdopen(resp_w, "w"))
            os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        self.requests = os.fdopen(self.req_w, "w")
        self.responses = os.fdopen(self.resp_r, "r")

    @staticmethod
    def _serve(requests, responses):
        import json
        for line in requests:
            argv, out_path, err_path = json.loads(line)
            out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            t0 = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                try:
                    os.dup2(out_fd, 1)
                    os.dup2(err_fd, 2)
                    os.execvp(argv[0], argv)
                finally:
                    os._exit(127)
            _, status, rusage = os.wait4(pid, 0)
            wall = time.perf_counter() - t0
            os.close(out_fd)
            os.close(err_fd)
            responses.write(json.dumps([wall, rusage.ru_maxrss, os.waitstatus_to_exitcode(status),
                                        rusage.ru_utime + rusage.ru_stime]) + "\n")
            responses.flush()

    def measure(self, argv: list) -> Measurement:
        import json
        with tempfile.TemporaryDirectory() as d:
            out, err = os.path.join(d, "out"), os.path.join(d, "err")
            self.requests.write(json.dumps([argv, out, err]) + "\n")
            self.requests.flush()
            wall, maxrss, rc, cpu = json.loads(self.responses.readline())
            with open(out, "rb") as f_out, open(err, "rb") as f_err:
                return Measurement(wall, maxrss, rc, f_out.read(), f_err.read(), cpu)

    def close(self):
        self.requests.close()
        os.waitpid(self.pid, 0)


LAUNCHER = None


def measure(argv: list) -> Measurement:
    """Runs argv; wall time and the child's own peak RSS (os.wait4, via the launcher)."""
    return LAUNCHER.measure(argv)


def run_checked(argv: list) -> Measurement:
    m = measure(argv)
    if m.rc != 0:
        raise SystemExit(f"command failed (rc {m.rc}): {shlex.join(argv)}\n{m.err.decode(errors='replace')[-3000:]}")
    return m


def rmtree(p: Path) -> None:
    if p.exists():
        subprocess.run(["rm", "-rf", "--", str(p)], check=True)


class Bench:
    def __init__(self, tools: dict, tree: Path, work: Path):
        self.tools = tools
        self.tree = tree
        self.work = work
        self.committed = {}  # (tool, mode) -> repo path
        self.checksums = {}  # (tool, mode) -> commit checksum
        self.serial = 0

    def fresh(self, name: str) -> Path:
        self.serial += 1
        return self.work / f"{self.serial:04d}-{name}"

    def commit_argv(self, tool, repo):
        return self.tools[tool] + [f"--repo={repo}", "commit", "-b", "bench", "-s", "bench",
                                   f"--timestamp={TIMESTAMP}", str(self.tree)]

    def new_repo(self, tool: str, mode: str) -> Path:
        repo = self.fresh(f"{tool}-{mode}")
        run_checked(self.tools[tool] + [f"--repo={repo}", "init", f"--mode={mode}"])
        return repo

    def repo_for(self, tool: str, mode: str) -> Path:
        """A repo of this mode with the tree committed by this tool (made untimed if needed)."""
        if (tool, mode) not in self.committed:
            repo = self.new_repo(tool, mode)
            m = run_checked(self.commit_argv(tool, repo))
            self._keep(tool, mode, repo, m)
        return self.committed[(tool, mode)]

    def _keep(self, tool, mode, repo, m):
        old = self.committed.get((tool, mode))
        if old is not None and old != repo:
            rmtree(old)
        self.committed[(tool, mode)] = repo
        self.checksums[(tool, mode)] = m.out.decode().strip()

    def run(self, op: str, tool: str) -> Measurement:
        kind, mode, _ = OPS[op]
        if kind == "commit":
            repo = self.new_repo(tool, mode)
            m = run_checked(self.commit_argv(tool, repo))
            self._keep(tool, mode, repo, m)
            return m
        repo = self.repo_for(tool, mode)
        if kind in ("checkout", "checkout-user"):
            dest = self.fresh(f"co-{tool}")
            flags = ["--require-hardlinks"] if kind == "checkout" else ["-U"]
            m = run_checked(self.tools[tool] + [f"--repo={repo}", "checkout", *flags, "bench", str(dest)])
            rmtree(dest)
            return m
        if kind == "fsck":
            return run_checked(self.tools[tool] + [f"--repo={repo}", "fsck"])
        raise AssertionError(kind)


def compile_bytecode() -> str:
    """An installed package has its bytecode compiled (pip does it); a checkout run with
    PYTHONDONTWRITEBYTECODE=1 would recompile every module on every start and measure
    that instead.  Returns a note for the report."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return ""
    os.environ.pop("PYTHONDONTWRITEBYTECODE")
    import compileall
    for pkg in ("ostreepy", "ociclient", "bootloader"):
        compileall.compile_dir(str(HERE.parent / pkg), quiet=1)
    return " (bytecode compiled first, as an install does)"


def default_ostreepy() -> list:
    """The ostreepy command the benchmarks time: $OSTREEPY_CMD if set, else ostreepy as a
    user installs it (:func:`installed_ostreepy`: this checkout, not its editable .venv)."""
    env = os.environ.get("OSTREEPY_CMD")
    if env:
        return shlex.split(env)
    return installed_ostreepy(HERE.parent)


_INSTALLED: dict = {}


def installed_ostreepy(src: Path) -> list:
    """The console script of ostreepy built from the checkout ``src`` as `pip install .`
    installs it (a wheel; bytecode compiled) into a venv of its own, made once per run.

    Not the .venv of README's first command: that is an editable install, and for this
    flat layout setuptools makes it a finder module that every Python start in the venv
    imports from a .pth (with pathlib, urllib.parse, importlib.util: ~10 ms of `python -c
    pass`, ~5 ms of a short ostreepy command) and that an installed package does not
    have. The dependencies are the running interpreter's (its site-packages named in a
    .pth of the new venv: a .pth there is not itself read, so its finder is not loaded)."""
    src = Path(src).resolve()
    if src in _INSTALLED:
        return _INSTALLED[src]
    import atexit
    import sysconfig
    base = Path(tempfile.mkdtemp(prefix="ostreepy-installed-"))
    atexit.register(shutil.rmtree, base, True)
    log(f"installing ostreepy from {src} (a wheel, as `pip install .`) into {base}")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # pip compiles the installed modules, as for a user
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + ["wheel", "--no-deps", "-w", str(base / "wheel"), str(src)], check=True, env=env)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
    py = base / "venv" / "bin" / "python"
    subprocess.run(pip + ["--python", str(py), "install", "--no-deps", "--no-index",
                          *map(str, (base / "wheel").glob("*.whl"))], check=True, env=env)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "_benchmark_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _INSTALLED[src] = [str(base / "venv" / "bin" / "ostreepy")]
    return _INSTALLED[src]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per operation and tool (median is shown)")
    ap.add_argument("--only", action="append", default=[],
                    help="operation(s) to run, comma-separated or repeated: " + ", ".join(OPS))
    ap.add_argument("--synthetic", action="store_true", help="use the synthetic tree even if debootstrap works")
    ap.add_argument("--ostreepy", default=None, help="ostreepy command (default: the venv's console script)")
    ap.add_argument("--workdir", default=None, help="where repos go (default: a temporary dir under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)

    ops = [o for spec in args.only for o in spec.split(",") if o] or list(OPS)
    for o in ops:
        if o not in OPS:
            ap.error(f"unknown operation {o!r}; known: {', '.join(OPS)}")
    tools = {"ostree": ["ostree"],
             "ostreepy": shlex.split(args.ostreepy) if args.ostreepy else default_ostreepy()}
    global LAUNCHER
    compiled_note = compile_bytecode()  # before the launcher forks: it inherits the environment
    LAUNCHER = Launcher()  # first, while this process is small
    floor = measure(["true"]).maxrss_mb

    tree = get_tree(args.synthetic)
    stats = tree_stats(tree)
    log(f"tree {tree}: {stats['files']} files, {stats['dirs']} dirs, {stats['symlinks']} symlinks, "
        f"{stats['bytes'] / 1e6:.1f} MB")
    warm_cache(tree)

    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ostreepy-bench-", dir=args.workdir))
    results = {op: {"ostree": [], "ostreepy": []} for op in ops}
    try:
        bench = Bench(tools, tree, work)
        for r in range(args.repeat):
            for i, op in enumerate(ops):
                order = ["ostree", "ostreepy"] if (r + i) % 2 == 0 else ["ostreepy", "ostree"]
                for tool in order:
                    m = bench.run(op, tool)
                    results[op][tool].append(m)
                    log(f"  run {r + 1}/{args.repeat} {op:18s} {tool:8s} {m.wall:7.2f} s {m.maxrss_mb:7.1f} MB")
        cs = bench.checksums
        mismatched = sorted({mode for (_, mode) in cs if ("ostree", mode) in cs and ("ostreepy", mode) in cs
                             and cs[("ostree", mode)] != cs[("ostreepy", mode)]})
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            rmtree(work)

    print()
    print(f"Tree: {tree.name} - {stats['files']} files, {stats['dirs']} dirs, {stats['symlinks']} symlinks, "
          f"{stats['bytes'] / 1e6:.1f} MB; {args.repeat} run(s) each, median shown{compiled_note}")
    hdr = ("operation", "ostree s", "ostreepy s", "ratio", "target", "ostree MB", "ostreepy MB", "verdict")
    rows = []
    for op in ops:
        wa, ra = summarize(results[op]["ostree"])
        wb, rb = summarize(results[op]["ostreepy"])
        target = OPS[op][2]
        ratio = wb / wa if wa > 0 else float("inf")
        ok = ratio <= target and rb < RSS_TARGET_MB
        rows.append((op, f"{wa:.2f}", f"{wb:.2f}", f"{ratio:.2f}x", f"<={target:.1f}x", f"{ra:.1f}", f"{rb:.1f}",
                     "ok" if ok else "MISSED"))
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(hdr))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    print(f"(peak memory target: under {RSS_TARGET_MB:.0f} MB for ostreepy; peak RSS is os.wait4's ru_maxrss, "
          f"which cannot go below the launcher's {floor:.1f} MB)")
    LAUNCHER.close()
    if mismatched:
        print(f"WARNING: commit checksums differ between ostree and ostreepy for: {', '.join(mismatched)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
