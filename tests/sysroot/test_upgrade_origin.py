"""``admin upgrade`` from an origin's ``refspec=REMOTE:REF``, against
``ostree admin upgrade`` (2022.7), with ``--deploy-only`` (no transport: the
remote ref is moved by hand, as a pull would): the same deployments, status,
messages and errors, including the downgrade refusal and ``--override-commit``."""

from __future__ import annotations

from pathlib import Path

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
