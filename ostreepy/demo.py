"""The README's first command: the bundled bootable example image, deployed
into a folder sysroot, then upgraded to version 2, as bootc does it.

Usage: ``python -m ostreepy.demo [--replace] [WORKDIR]`` (default: a new
temporary directory, kept afterwards; a WORKDIR that holds an earlier run is
refused unless ``--replace`` asks to remove that run first). No network: the image is the OCI layout in
``examples/bootable-image`` (tags ``v1`` and ``v2``), copied to
``WORKDIR/image:latest`` so that moving the tag publishes version 2.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from typing import List, Optional

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "bootable-image")


def _run(tool: str, *argv: str) -> str:
    """Run ``ostreepy``/``ociclient`` as a user would; show the command and its output."""
    print(f"$ {tool} " + " ".join(argv), flush=True)
    p = subprocess.run([sys.executable, "-m", "ociclient.cli" if tool == "ociclient" else tool, *argv],
                       capture_output=True, text=True)
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        sys.stdout.write(p.stderr)
        raise SystemExit(f"demo: `{tool} {argv[0]}` failed ({p.returncode})")
    print(flush=True)
    return p.stdout


def _show(title: str, text: str) -> None:
    print(f"$ {title}\n{text}", flush=True)


def _remove_previous(work: str) -> None:
    """An earlier run's deployments are immutable (as ostree leaves them): lift that first."""
    deploy = os.path.join(work, "sysroot", "ostree", "deploy")
    if os.path.isdir(deploy):
        subprocess.run(["chattr", "-R", "-i", deploy], capture_output=True)
    for name in ("sysroot", "image"):
        shutil.rmtree(os.path.join(work, name), ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ostreepy.demo",
        description="Deploy the bundled example image into a folder sysroot, upgrade it to "
                    "version 2, and show bootc status and the boot entries. No network.")
    parser.add_argument("workdir", nargs="?", metavar="WORKDIR",
                        help="folder for the sysroot and the image (default: a new temporary folder)")
    parser.add_argument("--replace", action="store_true",
                        help="remove an earlier run's sysroot and image in WORKDIR first")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not os.path.isfile(os.path.join(EXAMPLE, "index.json")):
        raise SystemExit(f"demo: the example image is missing ({EXAMPLE})")
    work = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="ostreepy-demo-")
    os.makedirs(work, exist_ok=True)
    sysroot, image = os.path.join(work, "sysroot"), os.path.join(work, "image")
    if os.path.lexists(sysroot) or os.path.lexists(image):
        if not args.replace:
            raise SystemExit(f"demo: {work} already holds a demo run (sysroot/, image/); "
                             "give a new folder, or --replace to start over")
        _remove_previous(work)
    os.makedirs(sysroot)
    imgref = f"ostree-unverified-image:oci:{image}:latest"
    # root gets a bare repository (real owners); anyone else a bare-user one
    mode = "bare" if os.geteuid() == 0 else "bare-user"

    print("# Version 1 of the example image is published as image:latest.")
    _run("ociclient", "copy", "--quiet", f"oci:{EXAMPLE}:v1", f"oci:{image}:latest")
    print("# A folder sysroot with one stateroot, and the image deployed into it.")
    _run("ostreepy", "admin", "init-fs", f"--repo-mode={mode}", sysroot)
    _run("ostreepy", "admin", "os-init", f"--sysroot={sysroot}", "default")
    _run("ostreepy", "container", "image", "deploy", f"--sysroot={sysroot}", "--stateroot=default",
         f"--imgref={imgref}")
    _run("ostreepy", "bootc", "status", f"--sysroot={sysroot}", "--format=humanreadable")

    print("# A local edit in /etc, which the upgrade will keep.")
    etc = glob.glob(os.path.join(sysroot, "ostree/deploy/default/deploy/*.0/etc"))[0]
    with open(os.path.join(etc, "motd"), "w") as f:
        f.write("Welcome to the example OS.\n")
    _show(f"echo 'Welcome to the example OS.' > {os.path.relpath(etc, work)}/motd", "")

    print("# Version 2 is published: the tag moves.")
    _run("ociclient", "copy", "--quiet", f"oci:{EXAMPLE}:v2", f"oci:{image}:latest")
    _run("ostreepy", "bootc", "upgrade", f"--sysroot={sysroot}", "--check")
    _run("ostreepy", "bootc", "upgrade", f"--sysroot={sysroot}")
    print("# In a folder sysroot --apply stands for the reboot: the staged deployment is finalized.")
    _run("ostreepy", "bootc", "upgrade", f"--sysroot={sysroot}", "--apply")
    _run("ostreepy", "bootc", "status", f"--sysroot={sysroot}", "--format=humanreadable")

    print("# The boot entries (Boot Loader Specification), newest first.")
    for path in sorted(glob.glob(os.path.join(sysroot, "boot/loader/entries/*.conf")), reverse=True):
        with open(path) as f:
            _show(f"cat {os.path.relpath(path, work)}", f.read())
    _run("ostreepy", "admin", "status", f"--sysroot={sysroot}")
    print(f"The sysroot is in {sysroot}. To remove it: "
          f"chattr -R -i {sysroot}/ostree/deploy 2>/dev/null; rm -rf {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
