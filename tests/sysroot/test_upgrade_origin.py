"""``admin upgrade`` from an origin's ``refspec=REMOTE:REF``, against
``ostree admin upgrade`` (2022.7), with ``--deploy-only`` (no transport: the
remote ref is moved by hand, as a pull would): the same deployments, status,
messages and errors, including the downgrade refusal and ``--override-commit``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import NAMING_1_ENV, commit, make_sysroot, run, tool, write_tree


def _set_remote_ref(sr: Path, csum: str) -> None:
    d = sr / "ostree/repo/refs/remotes/origin"
    d.mkdir(parents=True, exist_ok=True)
    (d / "main").write_text(csum + "\n")


def test_upgrade_deploy_only_as_ostree(workdir):
    tree = workdir / "tree"

    def steps(sr: Path, t):
        a = [f"--sysroot={sr}"]
        log = []
        write_tree(tree, etc={"a.conf": "1\n"})
        c1 = commit(sr, "build", tree, "1.0", day=2)
        _set_remote_ref(sr, c1)
        log.append(t(*a, "deploy", "--os=myos", "origin:main", env=NAMING_1_ENV).stdout)
        # nothing moved
        log.append(t(*a, "upgrade", "--os=myos", "--deploy-only", env=NAMING_1_ENV).stdout)
        write_tree(tree, etc={"a.conf": "2\n"}, kernel=b"K2\n")
        c2 = commit(sr, "build", tree, "2.0", day=3)
        _set_remote_ref(sr, c2)
        log.append(t(*a, "upgrade", "--os=myos", "--deploy-only", env=NAMING_1_ENV).stdout)
        log.append(t(*a, "status").stdout)
        # an older commit is refused, then allowed
        write_tree(tree, etc={"a.conf": "0\n"}, kernel=b"K0\n")
        c0 = commit(sr, "old", tree, "0.9", day=1)
        _set_remote_ref(sr, c0)
        p = t(*a, "upgrade", "--os=myos", "--deploy-only", check=False, env=NAMING_1_ENV)
        log.append((p.returncode, p.stderr.strip().replace("ostree", "X").replace("ostreepy", "X")
                    .split("error: ", 1)[-1]))
        log.append(t(*a, "upgrade", "--os=myos", "--deploy-only", "--allow-downgrade", env=NAMING_1_ENV).stdout)
        # --override-commit moves the ref to the commit and records it in the origin
        log.append(t(*a, "upgrade", "--os=myos", "--deploy-only", f"--override-commit={c2}",
                     env=NAMING_1_ENV).stdout)
        log.append((sr / "ostree/repo/refs/remotes/origin/main").read_text())
        log.append(t(*a, "status").stdout)
        origins = sorted(p.read_text() for p in (sr / "ostree/deploy/myos/deploy").glob("*.origin"))
        p = t(*a, "upgrade", "--os=myos", "--pull-only", "--deploy-only", check=False)
        log.append((p.returncode, p.stderr.strip().split("error: ", 1)[-1]))
        return log, origins, (c0, c1, c2)

    outs = {}
    for which in ("ours", "real"):
        outs[which] = steps(make_sysroot(workdir / which, which), tool(which))
    (log_o, origins_o, c_o), (log_r, origins_r, c_r) = outs["ours"], outs["real"]
    assert c_o == c_r
    assert log_o == log_r
    assert log_o[1] == "No update available.\n"
    assert log_o[4][0] == 1 and "is chronologically older than current revision" in log_o[4][1], log_o[4]
    assert log_o[-1] == (1, "Cannot simultaneously specify --pull-only and --deploy-only")
    assert origins_o == origins_r
    assert any(f"override-commit={c_o[2]}" in o for o in origins_o)
    # the peer reads our sysroot as its own
    sr = workdir / "ours"
    assert run("ostree", "admin", f"--sysroot={sr}", "status").stdout == log_o[-2]


def test_deploy_remote_ref_then_upgrade_pulls_as_ostree(workdir):
    """The OSTree-native update path end to end over a ``file://`` remote:
    ``remote add``, ``pull``, ``admin deploy REMOTE:REF``, then ``admin
    upgrade`` pulling each new commit (``--pull-only``, ``--deploy-only``,
    "No update available."), side by side with ostree."""
    server = workdir / "server"
    run("ostree", f"--repo={server}", "init", "--mode=archive")
    tree = workdir / "tree"

    def publish(version: str, day: int) -> str:
        write_tree(tree, etc={"a.conf": f"{version}\n"}, kernel=f"K{version}\n".encode())
        return run("ostree", f"--repo={server}", "commit", "-b", "os/main", f"--subject=v{version}",
                   f"--add-metadata-string=version={version}", f"--timestamp=2024-01-{day:02d} 00:00:00 +0000",
                   str(tree)).stdout.strip()

    publish("1", 1)
    srs = {w: make_sysroot(workdir / w, w) for w in ("ours", "real")}
    cli = {"ours": [sys.executable, "-m", "ostreepy"], "real": ["ostree"]}
    for w, sr in srs.items():
        run(*cli[w], f"--repo={sr}/ostree/repo", "remote", "add", "--no-gpg-verify", "origin",
            f"file://{server}", "os/main")
        run(*cli[w], f"--repo={sr}/ostree/repo", "pull", "origin", "os/main")
        tool(w)(f"--sysroot={sr}", "deploy", "--os=myos", "origin:os/main", env=NAMING_1_ENV)
    logs = {w: [] for w in srs}
    steps = [(["upgrade", "--os=myos"], None), (["upgrade", "--os=myos"], ("2", 2)),
             (["upgrade", "--os=myos", "--pull-only"], ("3", 3)), (["upgrade", "--os=myos", "--deploy-only"], None),
             (["upgrade", "--os=myos"], None)]
    for args, new in steps:
        if new is not None:
            publish(*new)
        for w, sr in srs.items():
            out = tool(w)(f"--sysroot={sr}", *args, env=NAMING_1_ENV).stdout
            logs[w].append((out, tool(w)(f"--sysroot={sr}", "status").stdout,
                            run("ostree", f"--repo={sr}/ostree/repo", "rev-parse", "origin:os/main").stdout))
    assert logs["ours"] == logs["real"]
    assert logs["ours"][0][0] == "No update available.\n"
    assert logs["ours"][-1][0] == "No update available.\n"
    # --pull-only moved the remote ref but made no deployment; --deploy-only deployed it
    assert logs["ours"][2][1] == logs["ours"][1][1] and logs["ours"][3][1] != logs["ours"][2][1]
    sr = srs["ours"]
    assert "no errors found" in run("ostree", f"--repo={sr}/ostree/repo", "fsck").stdout
    assert run("ostree", "admin", f"--sysroot={sr}", "status").stdout == logs["ours"][-1][1]


def test_upgrade_ostree_porcelain(workdir):
    """The high-level API: a typed result saying whether the ref moved, and the
    new deployment; an older commit refused with an OstreeError."""
    import ostreepy
    server = workdir / "server"
    run("ostree", f"--repo={server}", "init", "--mode=archive")
    tree = workdir / "tree"
    csums = []
    for v, day in (("1", 2), ("2", 3), ("0", 1)):
        write_tree(tree, etc={"a.conf": f"{v}\n"})
        csums.append(run("ostree", f"--repo={server}", "commit", "--no-bindings", "-b", "os/main" if v != "0" else "old",
                         f"--timestamp=2024-01-{day:02d} 00:00:00 +0000", str(tree)).stdout.strip())
    sr = make_sysroot(workdir / "ours", "ours")
    ostreepy.add_remote(sr / "ostree/repo", "origin", f"file://{server}", options={"gpg-verify": False})
    ostreepy.pull_ostree(sr / "ostree/repo", "origin", ["os/main"])
    with ostreepy.open_sysroot(sr) as s:
        s.deploy("myos", "origin:os/main")
    res = ostreepy.upgrade_ostree(sr, stateroot="myos")
    assert (res.changed, res.deployment) == (False, None)
    run("ostree", f"--repo={server}", "reset", "os/main", csums[2])
    with pytest.raises(ostreepy.OstreeError, match="chronologically older"):
        ostreepy.upgrade_ostree(sr, stateroot="myos")
    res = ostreepy.upgrade_ostree(sr, stateroot="myos", allow_downgrade=True)
    assert res.changed and res.new_revision == csums[2] and res.deployment.csum == csums[2]
