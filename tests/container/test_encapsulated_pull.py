"""An ostree commit through an image and back: encapsulate, push, pull, import."""

from __future__ import annotations

import json

from .conftest import ostreepy, run


def test_commit_round_trip_through_registry(tmp_path, registry):
    tree = tmp_path / "tree"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/app").write_text("#!/bin/sh\necho app\n")
    (tree / "usr/bin/app").chmod(0o4755)
    (tree / "usr/etc").mkdir()
    (tree / "usr/etc/app.conf").write_text("x=1\n")
    (tree / "usr/lib").mkdir()
    (tree / "usr/lib/data").write_bytes(bytes(range(256)) * 100)
    run("setfattr", "-n", "user.test", "-v", "0x00ff", tree / "usr/lib/data")
    (tree / "usr/bin/link").symlink_to("app")
    src = tmp_path / "src"
    run("ostree", f"--repo={src}", "init", "--mode=archive")
    commit = run("ostree", f"--repo={src}", "commit", "-b", "os/stable", "-s", "the subject",
                 "--add-metadata-string=version=42", "--timestamp=2024-01-01 00:00:00 +0000", tree).stdout.strip()

    layout = tmp_path / "layout"
    digest = ostreepy("container", "encapsulate", "--repo", src, "os/stable", f"oci:{layout}:v1",
                      "--label", "containers.bootc=1").stdout.strip()
    assert digest.startswith("sha256:")
    host = registry.host
    run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{host}/enc/os:v1")
    # skopeo copies our image back out unchanged
    run("skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/enc/os:v1", f"oci:{tmp_path / 'back'}:v1")
    inspect = json.loads(run("skopeo", "inspect", "--tls-verify=false", f"docker://{host}/enc/os:v1").stdout)
    assert inspect["Labels"]["ostree.commit"] == commit
    assert inspect["Labels"]["org.opencontainers.image.version"] == "42"

    dest = tmp_path / "dest"
    ostreepy(f"--repo={dest}", "init", "--mode=bare")
    res = ostreepy("container", "image", "pull", dest, f"ostree-unverified-registry:{host}/enc/os:v1",
                   "--insecure-skip-tls-verification")
    merge = res.stdout.strip().splitlines()[-1].rsplit(" => ", 1)[1]
    # the carried commit is back under its own checksum, and is the image commit's parent
    assert run("ostree", f"--repo={dest}", "show", commit).returncode == 0
    assert f"Parent:  {commit}" in run("ostree", f"--repo={dest}", "show", merge).stdout
    a = run("ostree", f"--repo={src}", "ls", "-dC", commit, "/").stdout.split()
    b = run("ostree", f"--repo={dest}", "ls", "-dC", merge, "/").stdout.split()
    assert a[4:6] == b[4:6]
    run("ostree", f"--repo={dest}", "fsck")
    co = tmp_path / "co"
    run("ostree", f"--repo={dest}", "checkout", merge, co)
    assert (co / "usr/bin/app").stat().st_mode & 0o7777 == 0o4755
    import os
    assert os.getxattr(co / "usr/lib/data", "user.test") == b"\x00\xff"
