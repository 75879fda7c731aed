"""The README's first command: ``python -m ostreepy.demo`` end to end."""

from __future__ import annotations

import subprocess
import sys

from .conftest import example_digest, run


def test_demo_runs_end_to_end(workdir):
    out = run(sys.executable, "-m", "ostreepy.demo", str(workdir / "demo")).stdout
    # the commands it runs are shown as a user would type them
    for cmd in ("$ ostreepy container image deploy", "$ ostreepy bootc upgrade", "$ ostreepy bootc status",
                "$ ociclient copy"):
        assert cmd in out
    # upgrade --check saw version 2, the upgrade kept the local /etc addition
    assert "Update available for: ostree-unverified-image:oci:" in out
    assert "  keep (added): /etc/motd" in out
    # the final status: version 2 booted, version 1 as rollback
    final = out[out.rindex("$ ostreepy bootc status"):]
    assert f"\u25cf Booted image: oci:{workdir}/demo/image:latest\n" in final
    assert f"Digest: {example_digest('v2')} (amd64)\n       Version: 2 (2024-02-01T00:00:00Z)" in final
    assert "Rollback image:" in final and example_digest("v1") in final
    # and the boot entries, newest first, with the kargs.d kernel arguments
    assert final.index("title Example OS 2 (ostree:0)") < final.index("title Example OS 1 (ostree:1)")
    assert "options console=ttyS0,115200 example.debug=1 ostree=/ostree/boot." in final
    motd = list((workdir / "demo/sysroot/ostree/deploy/default/deploy").glob("*/etc/motd"))
    assert len(motd) == 2


def test_demo_help_makes_no_folder_and_a_second_run_is_refused(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    p = run(sys.executable, "-m", "ostreepy.demo", "--help")
    assert "usage: python -m ostreepy.demo" in p.stdout
    assert list(workdir.iterdir()) == []
    (workdir / "d" / "sysroot").mkdir(parents=True)
    p = subprocess.run([sys.executable, "-m", "ostreepy.demo", str(workdir / "d")], capture_output=True, text=True)
    assert p.returncode == 1
    assert "already holds a demo run" in p.stderr and "Traceback" not in p.stderr
    out = run(sys.executable, "-m", "ostreepy.demo", "--replace", str(workdir / "d")).stdout
    assert "Booted image" in out
