"""A hardlink checkout shared with a second process (ostreepy.store.checkout's
``_checkout_shared``): where the command line owns the process and two CPUs are there, the
tree's top is made first and both processes link the rest, unit by unit. The result must be
the one-process checkout's and ostree's, an error in either process the command's error, and
a library caller's process is never forked."""

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import REF, assert_error
from .test_ostree_checkout import hardlinked_paths, user_view
from .treecompare import assert_same_tree, snapshot

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                reason="a checkout is shared only where two CPUs are there to run it")

ONE_CPU = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] if hasattr(os, "sched_getaffinity") else []


def _tree(root):
    """Three levels of directories (more than enough units to share), and in them the kinds
    of file a checkout treats apart: plain, executable, empty, setuid, with an xattr,
    symlinks, owned by another user."""
    for a in range(4):
        for b in range(5):
            for c in range(3):
                d = root / f"a{a}" / f"b{b}" / f"c{c}"
                d.mkdir(parents=True)
                (d / "plain").write_text(f"{a}{b}{c}\n")
                (d / "same").write_text("the same in every directory\n")
                (d / "empty").write_bytes(b"")
                (d / "link").symlink_to("plain")
            (root / f"a{a}" / f"b{b}" / "exe").write_text("#!/bin/sh\n")
            os.chmod(root / f"a{a}" / f"b{b}" / "exe", 0o755)
        (root / f"a{a}" / "suid").write_text("s\n")
        os.chmod(root / f"a{a}" / "suid", 0o4755)
        (root / f"a{a}" / "xattr").write_text("x\n")
        os.setxattr(root / f"a{a}" / "xattr", "user.k", b"v")
        (root / f"a{a}" / "owned").write_text("o\n")
        os.chown(root / f"a{a}" / "owned", 1000, 1000)
        os.chmod(root / f"a{a}", 0o750)
    (root / "top").write_text("top\n")
    os.chmod(root, 0o755)


def _forks_of(argv, tmp_path):
    """How many processes ostreepy's command line forks for ``argv`` (run in a process of its
    own, the command line's entry owning it)."""
    code = ("import os, sys\n"
            "n = [0]\nfork = os.fork\n"
            "def counted():\n    n[0] += 1\n    return fork()\n"
            "os.fork = counted\n"
            "from ostreepy.cli.entry import main\n"
            f"rc = main({[os.fspath(a) for a in argv]!r})\n"
            "print(n[0]); sys.exit(rc)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.split()[-1])


@pytest.mark.parametrize("mode,flag", [("bare", "-H"), ("bare-user", "-U")])
def test_a_shared_checkout_equals_the_one_process_checkout_and_ostrees(ostree, ostreepy, tmp_path, mode, flag):
    tree = tmp_path / "tree"
    _tree(tree)
    repo = ostree.init(tmp_path / "repo", mode)
    ostree.commit(repo, tree=tree)
    assert _forks_of([f"--repo={repo}", "checkout", flag, REF, tmp_path / "counted"], tmp_path) == 1
    shutil.rmtree(tmp_path / "counted")
    ostreepy.run("checkout", flag, REF, tmp_path / "shared", repo=repo)
    subprocess.run(ONE_CPU + ostreepy.argv + [f"--repo={repo}", "checkout", flag, REF, str(tmp_path / "one")],
                   check=True)
    ostree.run("checkout", flag, REF, tmp_path / "ostree", repo=repo)
    view = user_view if flag == "-U" else (lambda s: s)
    expected = view(snapshot(tmp_path / "ostree"))
    assert_same_tree(expected, view(snapshot(tmp_path / "shared")), "shared checkout")
    assert_same_tree(expected, view(snapshot(tmp_path / "one")), "one-process checkout")
    linked = hardlinked_paths(tmp_path / "ostree", repo)
    assert hardlinked_paths(tmp_path / "shared", repo) == hardlinked_paths(tmp_path / "one", repo) == linked
    assert not any(p.endswith("empty") for p in linked) and len(linked) > 100
    # the top's directories got their times after the units' entries went in, as ostree's
    assert os.stat(tmp_path / "shared" / "a1").st_mtime == os.stat(tmp_path / "ostree" / "a1").st_mtime == 0


def test_an_error_in_either_process_is_the_commands(ostree, ostreepy, tmp_path):
    """An object missing deep in the tree: whichever process meets it, the command fails as the
    one-process checkout does (exit 1, its error line), and nothing is left running."""
    tree = tmp_path / "tree"
    _tree(tree)
    (tree / "a3" / "b4" / "c2" / "plain").write_text("only here\n")
    repo = ostree.init(tmp_path / "repo", "bare")
    csum = ostree.commit(repo, tree=tree)
    listing = ostree.run("ls", "-C", csum, "/a3/b4/c2/plain", repo=repo).out.split()
    obj = repo / "objects" / listing[-2][:2] / (listing[-2][2:] + ".file")
    obj.unlink()
    shared = ostreepy.run("checkout", "-H", REF, tmp_path / "shared", repo=repo, rc=None)
    one = subprocess.run(ONE_CPU + ostreepy.argv + [f"--repo={repo}", "checkout", "-H", REF, str(tmp_path / "one")],
                         capture_output=True, text=True)
    assert_error(shared)
    assert one.returncode == 1 and shared.err == one.stderr, (shared.err, one.stderr)


def test_a_library_callers_process_is_not_forked(tmp_path, monkeypatch):
    from ostreepy import porcelain

    def no_fork():
        raise AssertionError("a library call forked its caller's process")

    tree = tmp_path / "tree"
    _tree(tree)
    porcelain.init(tmp_path / "repo", mode="bare")
    porcelain.commit(tmp_path / "repo", tree, branch="main")
    # (an earlier test of this process may have run the command line in it, which claims it)
    monkeypatch.setattr("ostreepy._process._owned", False)
    monkeypatch.setattr(os, "fork", no_fork)
    porcelain.checkout(tmp_path / "repo", "main", tmp_path / "co", require_hardlinks=True)
    assert (tmp_path / "co" / "a3" / "b4" / "c2" / "plain").read_text() == "342\n"


def test_a_second_process_killed_fails_the_checkout(ostree, tmp_path):
    """The second process killed (no error of its own to tell: a signal, the OOM killer): its
    units may be half done, so the checkout fails, saying how it ended, never exit 0."""
    tree = tmp_path / "tree"
    _tree(tree)
    repo = ostree.init(tmp_path / "repo", "bare")
    ostree.commit(repo, tree=tree)
    code = ("import os, signal, sys\n"
            "import ostreepy.store.checkout as co\n"
            "first = os.getpid()\ntake = co._take_units\n"
            "def dying(*a):\n"
            "    if os.getpid() != first:\n        os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return take(*a)\n"
            "co._take_units = dying\n"
            "from ostreepy.cli.entry import main\n"
            f"sys.exit(main(['--repo={repo}', 'checkout', '-H', {REF!r}, {str(tmp_path / 'co')!r}]))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stderr == "error: The checkout's second process ended abnormally (signal 9)\n", p.stderr
