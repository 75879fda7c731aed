"""The README's first command: a short tour of the store on a folder it makes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile


def _run(*argv: str) -> str:
    print("$ ostreepy " + " ".join(argv))
    out = subprocess.run([sys.executable, "-m", "ostreepy", *argv], check=True,
                         capture_output=True, text=True).stdout
    sys.stdout.write(out)
    return out.strip()


def main() -> int:
    work = tempfile.mkdtemp(prefix="ostreepy-demo-")
    tree = os.path.join(work, "tree")
    os.makedirs(os.path.join(tree, "usr/bin"))
    os.makedirs(os.path.join(tree, "usr/etc"))
    with open(os.path.join(tree, "usr/bin/hello"), "w") as f:
        f.write("#!/bin/sh\necho hello\n")
    os.chmod(os.path.join(tree, "usr/bin/hello"), 0o755)
    with open(os.path.join(tree, "usr/etc/os-release"), "w") as f:
        f.write('NAME="Demo OS"\nPRETTY_NAME="Demo OS 1"\n')
    os.symlink("usr/bin", os.path.join(tree, "bin"))
    repo = os.path.join(work, "repo")
    _run(f"--repo={repo}", "init", "--mode=bare-user")
    csum = _run(f"--repo={repo}", "commit", "-b", "demo/stable", "-s", "first",
                "--add-metadata-string=version=1.0", f"--tree=dir={tree}")
    _run(f"--repo={repo}", "log", "demo/stable")
    _run(f"--repo={repo}", "ls", "-R", csum)
    _run(f"--repo={repo}", "checkout", "-U", "--require-hardlinks", "demo/stable", os.path.join(work, "co"))
    _run(f"--repo={repo}", "fsck")
    print(f"\nrepository and checkout are in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
