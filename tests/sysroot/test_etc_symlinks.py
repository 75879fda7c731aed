"""The /etc merge resolves symlinks inside the new deployment, never on the host."""

from __future__ import annotations

import os

from ostreepy.sysroot.etcmerge import apply_etc_merge


def test_symlink_in_new_etc_cannot_reach_the_host(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "a").write_text("precious\n")
    old = tmp_path / "old"
    (old / "usr/etc/d").mkdir(parents=True)
    (old / "usr/etc/d/a").write_text("vendor a\n")
    (old / "etc/d").mkdir(parents=True)
    (old / "etc/d/b").write_text("local b\n")  # a removed locally, b added locally
    new = tmp_path / "new"
    (new / "etc").mkdir(parents=True)
    os.symlink(str(victim), new / "etc/d")  # shipped by the new image
    apply_etc_merge(str(old), str(new))
    assert (victim / "a").read_text() == "precious\n"
    assert not (victim / "b").exists()
    # the change landed where the booted deployment will see it: inside the deployment
    inside = new / str(victim).lstrip("/") / "b"
    assert inside.read_text() == "local b\n"
