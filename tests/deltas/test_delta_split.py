"""A part's instructions shared with a second process (ostreepy.remote.deltas.split): where
the command line owns the process and a second CPU is free, apply-offline forks once a part's
payload is whole and each process runs half of its instructions. The result must be the
one-process apply's (the exact to-commit, ``ostree fsck`` clean), a cut inside a read source's
state must set it again, and an error in either half must be the command's error, with no
commit written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ostreepy._process import error_from, error_record
from ostreepy.errors import ChecksumMismatchError, CorruptObjectError, FileSystemError, OstreeError
from ostreepy.remote.deltas import format as fmt
from ostreepy.remote.deltas import split
from ostreepy.remote.deltas.apply import open_part
from ostreepy.remote.deltas.compile import GenerateOptions, generate
from ostreepy.remote.deltas.format import DeltaError
from ostreepy.store.objects import ObjectType
from ostreepy.store.repo import Repo

from .conftest import ENV, fresh_repo, ostree

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                reason="a part is shared only where two CPUs are there to run it")

#: the command line in a process of its own, any part shared (however small, whatever the
#: machine's load), its forks counted; PATCH runs first (the parent's pid is PARENT)
_RUNNER = """
import os, sys
PARENT = os.getpid()
n = [0]
fork = os.fork
def counted():
    n[0] += 1
    return fork()
os.fork = counted
from ostreepy.remote.deltas import split, apply
from ostreepy.remote.deltas.format import DeltaError
split.SPLIT_MIN = {minimum}
split._others_running = lambda: 0
{patch}
from ostreepy.cli.entry import main
rc = main(sys.argv[1:])
print("forks", n[0])
sys.exit(rc)
"""


def _apply(repo: str, delta: str, patch: str = "", minimum: float = 0.0) -> subprocess.CompletedProcess:
    code = _RUNNER.format(minimum=repr(minimum).replace("inf", "float(\"inf\")"), patch=patch)
    return subprocess.run([sys.executable, "-c", code, f"--repo={repo}", "static-delta", "apply-offline", delta],
                          capture_output=True, text=True, env=ENV)


def _forks(p: subprocess.CompletedProcess) -> int:
    return int(p.stdout.split()[-1])


def _same_commit(source, dst: str) -> None:
    ostree("fsck", f"--repo={dst}")
    want = ostree("ls", "-R", "-X", f"--repo={source['repo']}", source["to"]).stdout
    assert ostree("ls", "-R", "-X", f"--repo={dst}", source["to"]).stdout == want


def _part(delta: str, i: int = 0):
    sb = fmt.parse_superblock(Path(delta, "superblock").read_bytes())
    header = sb.parts[i]
    payload = open_part(Path(delta, str(i)).read_bytes(), header.checksum)
    return header.objects, payload, fmt.decode_ops(payload.ops, header.objects)


# ------------------------------------------------------------------ the cut (pure)

def _op(code: str, *args: int, index: int = 0):
    return (ord(code), args, index)


def test_the_cut_falls_where_no_object_is_open_near_half_the_work() -> None:
    # a dirtree spliced (two operands), a file built, a file spliced (four), a file built
    ops = [_op("S", 100, 0, index=0),
           _op("o", 0, 0, 1000, index=1), _op("w", 1000, 0, index=1), _op("c", index=2),
           _op("S", 0, 0, 100, 0, index=2),
           _op("o", 0, 0, 1000, index=3), _op("w", 1000, 0, index=3), _op("c", index=4)]
    cut, source = split.plan(ops, minimum=0)
    assert cut == 4 and source is None  # after the first close: two objects each side
    assert split.plan(ops, minimum=1e9) is None  # too little work to share
    assert split.plan(ops[:1], minimum=0) is None  # nothing after the only boundary


def test_a_read_source_set_before_the_cut_is_set_again_after_it() -> None:
    r = _op("r", 7)
    # R r o B c: the source is set before its object opens (libostree's bsdiff'd files)
    ops = [_op("R"), r, _op("o", 0, 0, 10), _op("B", 5, 0), _op("c"), _op("R"), _op("r", 9)]
    assert split.source_at(ops, 2) is r  # between r and o
    assert split.source_at(ops, 5) is None  # close unsets it
    assert split.source_at(ops, 6) is None  # so does R
    assert split.source_at(ops, 1) is None
    assert split.source_at(ops, 7) == _op("r", 9)
    assert split.source_at([_op("r", 3), _op("S", 0, 0)], 2) is None  # S closes, as close does


@pytest.mark.parametrize("error", [
    ChecksumMismatchError("a" * 64, "b" * 64, "file object"),
    CorruptObjectError("Corrupted file object x: reading user.ostreemeta: nope", "c" * 64),
    DeltaError("Unexpected EOF reading object x"),
    FileNotFoundError(2, "No such file or directory", "/r/objects/ab/cd.file"),
    KeyboardInterrupt(),
    FileSystemError(28, "No space left on device", "/r/tmp"),
    FileSystemError("a plain one"),
])
def test_the_childs_error_is_raised_as_it_was(error: BaseException) -> None:
    back = error_from(error_record(error))
    assert type(back) is type(error) and str(back) == str(error) and back.args == error.args
    assert vars(back) == vars(error)
    if isinstance(error, OSError):
        assert (back.errno, back.strerror, back.filename) == (error.errno, error.strerror, error.filename)


def test_a_foreign_error_comes_back_as_its_text() -> None:
    class Strange(Exception):
        pass
    back = error_from(error_record(Strange("odd")))
    assert type(back) is OstreeError and str(back) == "odd"


# ------------------------------------------------------------------ shared applies

@pytest.mark.parametrize("mode", ["bare-user", "archive"])
@pytest.mark.parametrize("kind", ["from", "scratch"])
def test_a_shared_part_applies_as_one_process(source, tmp_path: Path, mode: str, kind: str) -> None:
    frm = source["from"] if kind == "from" else None
    delta = os.path.join(source["theirs"], fmt.delta_dir(frm, source["to"]))
    dst = fresh_repo(tmp_path, mode, source["from"] if frm else "", source["repo"])
    p = _apply(dst, delta)
    assert p.returncode == 0, p.stderr
    assert _forks(p) == 1
    _same_commit(source, dst)
    # the default threshold: this small part runs in one process
    dst2 = fresh_repo(tmp_path / "one", mode, source["from"] if frm else "", source["repo"])
    p = _apply(dst2, delta, minimum=split.SPLIT_MIN)
    assert p.returncode == 0, p.stderr
    assert _forks(p) == 0


def test_each_part_of_a_many_part_delta_is_shared(source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = str(tmp_path / "src")
    shutil.copytree(source["repo"], repo, symlinks=True)
    monkeypatch.setattr("ostreepy.remote.deltas.compile.MB", 1024)  # parts of ~32 KB
    res = generate(Repo.open(repo), source["from"], source["to"], GenerateOptions(min_fallback_size=1 << 20))
    assert res.n_parts >= 2
    delta = os.path.dirname(res.superblock_path)
    shared = sum(1 for i in range(res.n_parts) if split.plan(_part(delta, i)[2], 0))
    dst = fresh_repo(tmp_path, "bare-user", source["from"], source["repo"])
    p = _apply(dst, delta)
    assert p.returncode == 0, p.stderr
    assert _forks(p) == shared >= 2
    _same_commit(source, dst)


def test_a_cut_inside_read_source_state(source, tmp_path: Path) -> None:
    """Cut between a set-read-source and the open of the object patched from it: the child
    sets the source again before it runs the rest."""
    delta = os.path.join(source["theirs"], fmt.delta_dir(source["from"], source["to"]))
    objects, _payload, ops = _part(delta)
    inside = [k for k in range(1, len(ops)) if ops[k - 1][0] == fmt.OP_SET_READ_SOURCE
              and ops[k][0] == fmt.OP_OPEN]
    assert inside, "the delta sets a read source before opening an object"
    patch = f"""
LOST = False
def plan(ops, minimum=None):
    cut = {inside[len(inside) // 2]}
    assert ops[cut - 1][0] == ord("r") and split.source_at(ops, cut) is ops[cut - 1]
    return cut, None if LOST else split.source_at(ops, cut)
split.plan = plan
"""
    dst = fresh_repo(tmp_path, "bare-user", source["from"], source["repo"])
    p = _apply(dst, delta, patch)
    assert p.returncode == 0, p.stderr
    assert _forks(p) == 1
    _same_commit(source, dst)
    # without the source set again the child's first bspatch has none: refused, no commit
    dst2 = fresh_repo(tmp_path / "lost", "bare-user", source["from"], source["repo"])
    p = _apply(dst2, delta, patch + "\nLOST = True\n")
    assert p.returncode == 1 and "opcode bspatch: no read source" in p.stderr
    assert not Repo.open(dst2).has_object(source["to"], ObjectType.COMMIT)


def test_a_corrupt_object_in_the_childs_half_is_refused(source, tmp_path: Path) -> None:
    """A read source of the second half damaged in the repository: the object the child
    builds from it does not hash to its name; the command fails as the one-process apply
    does (the same words), and the to-commit is not written."""
    delta = os.path.join(source["theirs"], fmt.delta_dir(source["from"], source["to"]))
    objects, payload, ops = _part(delta)
    cut, _source = split.plan(ops, minimum=0)
    late = [op for op in ops[cut:] if op[0] == fmt.OP_SET_READ_SOURCE]
    assert late, "a read source in the second half"
    bad = payload.payload[late[-1][1][0]:late[-1][1][0] + 32].hex()
    stderr = {}
    for name, minimum in (("shared", 0.0), ("one", float("inf"))):
        dst = fresh_repo(tmp_path / name, "bare-user", source["from"], source["repo"])
        path = Repo.open(dst).object_path(bad, ObjectType.FILE)
        with open(path, "r+b") as f:  # the same size, other bytes
            data = f.read()
            f.seek(0)
            f.write(bytes(b ^ 0x55 for b in data))
        p = _apply(dst, delta, minimum=minimum)
        assert p.returncode == 1
        assert _forks(p) == (1 if name == "shared" else 0)
        assert not Repo.open(dst).has_object(source["to"], ObjectType.COMMIT)
        stderr[name] = p.stderr.splitlines()[-1]
    assert stderr["shared"] == stderr["one"] and "Corrupted file object" in stderr["one"]


def test_a_child_that_dies_fails_the_apply(source, tmp_path: Path) -> None:
    """A child killed (a signal, the OOM killer) leaves no record: the apply fails with a
    DeltaError and writes no commit; so does a child's error however it is raised."""
    delta = os.path.join(source["theirs"], fmt.delta_dir(source["from"], source["to"]))
    killed = """
run = apply._Executor.run
def dying(self, ops):
    if os.getpid() != PARENT:
        os.kill(os.getpid(), 9)
    return run(self, ops)
apply._Executor.run = dying
"""
    dst = fresh_repo(tmp_path / "killed", "bare-user", source["from"], source["repo"])
    p = _apply(dst, delta, killed)
    assert p.returncode == 1
    assert "error: Executing delta part 0: the second process applying the part ended abnormally (signal 9)" \
        in p.stderr
    assert not Repo.open(dst).has_object(source["to"], ObjectType.COMMIT)
    failing = """
run = apply._Executor.run
def failing(self, ops):
    if os.getpid() != PARENT:
        raise OSError(28, "No space left on device")
    return run(self, ops)
apply._Executor.run = failing
"""
    dst = fresh_repo(tmp_path / "failing", "bare-user", source["from"], source["repo"])
    p = _apply(dst, delta, failing)
    assert p.returncode == 1 and "No space left on device" in p.stderr, p.stderr
    assert not Repo.open(dst).has_object(source["to"], ObjectType.COMMIT)


def test_the_parents_error_comes_first(source, tmp_path: Path) -> None:
    """Both halves failing: the first half's error (the parent's) is the command's, as the
    one-process apply would stop at it; the child is waited for all the same."""
    delta = os.path.join(source["theirs"], fmt.delta_dir(source["from"], source["to"]))
    both = """
run = apply._Executor.run
def failing(self, ops):
    raise DeltaError("parent" if os.getpid() == PARENT else "child")
apply._Executor.run = failing
"""
    dst = fresh_repo(tmp_path, "bare-user", source["from"], source["repo"])
    p = _apply(dst, delta, both)
    assert p.returncode == 1 and p.stderr.splitlines()[-1] == "error: Executing delta part 0: parent"
    assert not Repo.open(dst).has_object(source["to"], ObjectType.COMMIT)


def test_a_library_callers_process_is_never_forked(source, tmp_path: Path) -> None:
    delta = os.path.join(source["theirs"], fmt.delta_dir(source["from"], source["to"]))
    dst = fresh_repo(tmp_path, "bare-user", source["from"], source["repo"])
    code = ("import os, sys\nn = [0]\nfork = os.fork\n"
            "def counted():\n    n[0] += 1\n    return fork()\nos.fork = counted\n"
            "from ostreepy.remote.deltas import split\nsplit.SPLIT_MIN = 0\n"
            "split._others_running = lambda: 0\n"
            "from ostreepy.remote.deltas.apply import apply_offline\nfrom ostreepy.store.repo import Repo\n"
            f"apply_offline(Repo.open({dst!r}), {delta!r})\nprint(n[0])\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[-1] == "0"
    _same_commit(source, dst)


_MOVES = """
from ostreepy.store.repo import Repo
real_move = Repo.move_staged
def move_staged(self, staging, subs, made):
    with open({log!r}, "a") as f:
        f.write(f"{{'parent' if os.getpid() == PARENT else 'child'}} {{len(subs)}}\\n")
    {die}
    return real_move(self, staging, subs, made)
Repo.move_staged = move_staged
"""


@pytest.mark.parametrize("die", [False, True])
def test_the_last_parts_child_shares_the_renames(source, tmp_path: Path, die: bool) -> None:
    """The last part's second process waits for the transaction's end and renames every
    other staging subdirectory in, after the sync; one that dies there leaves its share to
    the parent, and the apply is whole all the same."""
    delta = os.path.join(source["theirs"], fmt.delta_dir(None, source["to"]))
    log = tmp_path / "moves"
    kill = "if os.getpid() != PARENT: os.kill(os.getpid(), 9)" if die else "pass"
    dst = fresh_repo(tmp_path, "bare-user")
    p = _apply(dst, delta, _MOVES.format(log=str(log), die=kill))
    assert p.returncode == 0, p.stderr
    moves = [line.split() for line in log.read_text().splitlines()]
    parent = [int(n) for who, n in moves if who == "parent"]
    child = [int(n) for who, n in moves if who == "child"]
    assert len(child) == 1 and child[0] > 0
    if die:
        assert parent[1] == child[0]  # its share, moved here
    else:
        assert len(parent) == 1 and abs(parent[0] - child[0]) <= 1
    _same_commit(source, dst)
    assert not [n for n in os.listdir(Path(dst, "tmp")) if n.startswith("staging-")]


def test_no_fork_while_a_prefetch_is_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part read ahead on a thread of _thread's (which threading does not count) and not
    taken yet keeps the process from forking."""
    from ostreepy import _process
    from ostreepy.remote.deltas import partread
    monkeypatch.setattr(_process, "_owned", True)
    monkeypatch.setattr(split, "_others_running", lambda: 0)
    # (whatever threads and prefetches the tests before left in this process: none here)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(partread, "_pending", {})
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    assert split.allowed(repo)
    part = tmp_path / "part"
    part.write_bytes(b"\0" * 1000)
    release = threading.Event()
    real_read = partread.read_part

    def slow_read(f, limit=None):
        release.wait(10)
        return real_read(f, limit)
    monkeypatch.setattr(partread, "read_part", slow_read)
    partread.prefetch(str(part))
    assert partread.reading() and not split.allowed(repo)
    release.set()
    assert partread.take(str(part), 1 << 20) is not None
    assert not partread.reading() and split.allowed(repo)
