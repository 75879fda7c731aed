"""``admin status`` of a deployment whose commit is GPG-signed, against ``ostree
admin status`` (2022.7) on the same sysroot: the ``GPG:`` lines (checked with
the keys of the remote named like the stateroot, as ostree looks them up) and
``--verify``'s text (test-admin-gpg.sh greps both)."""

from __future__ import annotations

import shutil

import pytest

from core.gpgkeys import shared_home
from ostreepy.remote.openpgp import gpg_sign_commit
from ostreepy.store.repo import Repo

from .conftest import NAMING_1_ENV, commit, make_sysroot, ours, real, run, write_tree

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None or shutil.which("ostree") is None,
                                reason="needs gpg and Debian's ostree (apt-get install gnupg ostree)")


def test_status_gpg_lines_as_ostree(workdir):
    home = shared_home()
    sr = make_sysroot(workdir / "ours", "ours")
    repo = sr / "ostree/repo"
    tree = workdir / "tree"
    write_tree(tree)
    csum = commit(sr, "main", tree, "1.0")
    with Repo.open(str(repo)) as r:
        gpg_sign_commit(r, "main", [home.email("rsa"), home.email("ed")], home.path)
    (workdir / "keys.asc").write_bytes(home.export("ed", armor=True))
    # "myos" is both the stateroot and the remote: ostree checks with the stateroot's name
    run("ostree", f"--repo={repo}", "remote", "add", f"--gpg-import={workdir / 'keys.asc'}", "myos", "file:///x")
    (repo / "refs/remotes/myos").mkdir(parents=True)
    (repo / "refs/remotes/myos/main").write_text(csum + "\n")
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "myos:main", env=NAMING_1_ENV)
    a = [f"--sysroot={sr}", "status"]
    mine, theirs = ours(*a).stdout, real(*a).stdout
    assert mine == theirs
    assert mine.count("    GPG: Signature made") == 2 and "    GPG: Can't check signature: public key not found" \
        in mine and 'GPG: Good signature from "Ed <ed@example.com>"' in mine, mine
    mine, theirs = ours(*a, "--verify").stdout, real(*a, "--verify").stdout
    assert mine == theirs and mine.endswith("\n\n")
    # a remote that does not verify: no lines, and --verify says why, as ostree says it
    run("ostree", f"--repo={repo}", "config", "set", 'remote "myos".gpg-verify', "false")
    assert ours(*a).stdout == real(*a).stdout and "GPG:" not in ours(*a).stdout
    p, q = ours(*a, "--verify", check=False), real(*a, "--verify", check=False)
    assert p.returncode == q.returncode == 1
    assert p.stderr.split("error: ")[-1] == q.stderr.split("error: ")[-1]
