"""What ostree's own tests at v2026.4 (scripts/upstream-tests.sh) found in the admin verbs,
each checked against the upstream ostree 2026.4 peer."""

from __future__ import annotations

from upstream_peer import needs_upstream, peer_bin

from .conftest import commit, dump, loader_entries, ours, run, write_tree


@needs_upstream
def test_stateroot_init_is_os_init_as_ostree_2026(workdir):
    """libtest.sh's setup_os_repository calls `admin stateroot-init` since ostree 2023.6
    (os-init's new name); every admin script stopped there."""
    outs = {}
    for name in ("ours", "peer"):
        sr = workdir / name
        sr.mkdir()
        if name == "ours":
            def t(*a):
                return ours(*a)
        else:
            def t(*a):
                return run(peer_bin(), "admin", *a)
        t("init-fs", "--modern", str(sr))
        p = t("stateroot-init", f"--sysroot={sr}", "testos")
        outs[name] = (p.stdout, dump(sr))
    assert outs["ours"] == outs["peer"]
    assert outs["ours"][0] == "ostree/deploy/testos initialized as OSTree stateroot\n"
    # an empty var/ (ostree 2024.3+), where os-init keeps 2022.7's lib, log, tmp, run, lock
    assert [e for e in outs["ours"][1] if "/var/" in e] == []


@needs_upstream
def test_set_default_as_ostree_2026(workdir):
    """`admin set-default INDEX` (admin-test.sh's "ok set-default"): INDEX moves first,
    the rest keep their order; an index out of range is refused alike."""
    tree = workdir / "tree"
    outs = {}
    for name in ("ours", "peer"):
        if name == "ours":
            def t(*a, check=True):
                return ours(*a, check=check)
        else:
            def t(*a, check=True):
                return run(peer_bin(), "admin", *a, check=check)
        sr = workdir / name
        sr.mkdir()
        t("init-fs", str(sr))
        t(f"--sysroot={sr}", "stateroot-init", "myos")
        run("ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "none")
        log = []
        for day, ver in enumerate(("1.0", "2.0", "3.0"), 1):
            write_tree(tree, kernel=f"K{ver}\n".encode())
            commit(sr, "os/one", tree, ver, day=day)
            t(f"--sysroot={sr}", "deploy", "--os=myos", "--retain", "os/one")
        for index in ("1", "1", "2"):
            log.append(t(f"--sysroot={sr}", "set-default", index).stdout)
            log.append(t(f"--sysroot={sr}", "status").stdout)
            log.append(sorted(loader_entries(sr).items()))
        bad = t(f"--sysroot={sr}", "set-default", "3", check=False)
        log.append((bad.returncode, bad.stderr))
        outs[name] = log
    assert outs["ours"] == outs["peer"]
    assert outs["ours"][-1] == (1, "error: Out of range deployment index 3, expected < 3\n")
