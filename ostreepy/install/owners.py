"""Real owners in a filesystem image built by someone who is not root.

``mkfs.ext4 -d`` copies each file's owner, mode and xattrs from the staging
tree, and a builder without root cannot give files to root there: its staging
sysroot has a ``bare-user`` repository, whose objects carry the real uid, gid,
mode and xattrs in ``user.ostreemeta``, and whose deployment files are
hardlinks to those objects. So the fix is made in the image afterwards with
``debugfs -w`` (e2fsprogs, no root needed on a file): every inode becomes
root's, a file with ``user.ostreemeta`` gets the owner, mode and xattrs it
names and loses the attribute, and a ``bare-user`` symlink object (a regular
file holding its target) becomes a real symlink, so that the repository reads
as the ``bare`` one a root install would have made.

Directories and symlinks of the deployment become root's: ostree's commits of
bootable images own them that way, and the rare other owner is kept by
``/etc`` and ``/var`` content only, which systemd-tmpfiles settles at boot.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, List

from ..errors import OstreeError
from ..store.objects import BAREUSER_XATTR, bareuser_meta_parse

__all__ = ["OwnerFixError", "debugfs_commands", "fix_owners"]


class OwnerFixError(OstreeError):
    """The staging tree holds a name debugfs cannot be given (a newline), or debugfs failed."""


def _q(rel: str) -> str:
    # debugfs (libss) reads "..." with "" for a quote and backslashes as they are
    if "\n" in rel:
        raise OwnerFixError(f"cannot set the owner of {rel!r} in the image: name with a newline")
    return '"/' + rel.replace('"', '""') + '"'


def debugfs_commands(tree: Path, xattr_dir: Path) -> Iterator[str]:
    """The debugfs commands that give ``tree``'s image real owners; xattr
    values go through files in ``xattr_dir`` (debugfs reads binary values from
    files)."""
    seen = set()
    n = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, tree)
        rel_dir = "" if rel_dir == "." else rel_dir
        if not rel_dir:
            yield 'sif "/" uid 0'
            yield 'sif "/" gid 0'
        for name in dirnames + sorted(filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.join(rel_dir, name)
            st = os.lstat(p)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            meta = None
            if stat.S_ISREG(st.st_mode):
                try:
                    meta = os.getxattr(p, BAREUSER_XATTR, follow_symlinks=False)
                except OSError:
                    meta = None
            if meta is None:
                yield f"sif {_q(rel)} uid 0"
                yield f"sif {_q(rel)} gid 0"
                continue
            uid, gid, mode, xattrs = bareuser_meta_parse(meta)
            if stat.S_ISLNK(mode):
                # the target, NUL-terminated as ostree writes bare-user symlink objects
                target = Path(p).read_bytes().split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                if st.st_nlink > 1:
                    raise OwnerFixError(f"{rel}: a bare-user symlink object with other links")
                yield f"rm {_q(rel)}"
                yield f"symlink {_q(rel)} {_q_rel(target)}"
            else:
                yield f"ea_rm {_q(rel)} {BAREUSER_XATTR.decode()}"
                yield f"sif {_q(rel)} mode 0{mode:o}"
            yield f"sif {_q(rel)} uid {uid}"
            yield f"sif {_q(rel)} gid {gid}"
            for k, v in xattrs:
                n += 1
                vf = xattr_dir / f"x{n}"
                vf.write_bytes(v)
                key = k.rstrip(b"\0").decode("utf-8", "surrogateescape")
                yield f"ea_set -f {vf} {_q(rel)} {key}"


def _q_rel(target: str) -> str:
    if "\n" in target:
        raise OwnerFixError(f"symlink target {target!r} cannot be given to debugfs")
    return '"' + target.replace('"', '""') + '"'


def fix_owners(debugfs: str, image: Path, tree: Path, offset: int = 0) -> int:
    """Run the commands of :func:`debugfs_commands` on ``image`` (the
    filesystem ``offset`` bytes into it, as in a partition of a disk file); the count."""
    image = Path(os.path.abspath(image))
    with tempfile.TemporaryDirectory(prefix="owners-", dir=image.parent) as tmp:
        cmds: List[str] = list(debugfs_commands(tree, Path(tmp)))
        script = Path(tmp) / "cmds"
        script.write_text("\n".join(cmds) + "\n")
        # libext2fs takes I/O options after a "?" in the name: run beside the
        # image, so that only its own name is parsed
        device = image.name + (f"?offset={offset}" if offset else "")
        if offset and "?" in image.name:
            raise OwnerFixError(f"{image.name}: a name with '?' cannot be given an offset")
        p = subprocess.run([debugfs, "-w", "-f", str(script), device], capture_output=True, text=True,
                           cwd=image.parent)
        # debugfs exits 0 whatever its commands did; its complaints are on stderr
        errors = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("debugfs ")]
        if p.returncode != 0 or errors:
            raise OwnerFixError(f"debugfs on {image.name}: {'; '.join(errors[:3]) or p.returncode}")
        return len(cmds)
