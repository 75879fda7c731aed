"""Debian 13's skopeo (1.18, built with sigstore) as a test peer, run in a chroot.

Design: Debian 12's skopeo 1.9 is built with sigstore disabled, so the
sigstore tests need a newer one.  ``scripts/build-trixie-peer.sh`` (run by
``scripts/install-peers.sh``) debootstraps a minimal trixie with skopeo into
``/var/cache/ostreepy-peers/trixie`` once per machine, outside the clone.
A test runs it through :func:`skopeo`: a private mount namespace
(``unshare --mount``) binds the host's ``/tmp`` at the chroot's ``/tmp``, so
every path under /tmp (pytest's tmp_path) is the same inside and out, and
parallel tests never see each other's mounts; the network is the host's, so
the test registry on 127.0.0.1 is reachable.  Tests that need the peer are
marked :data:`needs_trixie_skopeo` and skip, saying how to build it, when it
is absent or the tests do not run as root.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
from typing import Mapping, Optional, Sequence

import pytest

TRIXIE_ROOT = os.environ.get("OSTREEPY_TRIXIE_PEER", "/var/cache/ostreepy-peers/trixie")
BUILD_HINT = "sudo scripts/build-trixie-peer.sh (or scripts/install-peers.sh)"


@functools.lru_cache(maxsize=None)
def trixie_skopeo_available() -> Optional[str]:
    """None when the peer can run (it is built, and this process may unshare and
    chroot: root in a container without CAP_SYS_ADMIN may not), else why not."""
    if not os.path.isfile(os.path.join(TRIXIE_ROOT, "usr/bin/skopeo")):
        return f"needs Debian 13's skopeo in {TRIXIE_ROOT}: run {BUILD_HINT}"
    if os.geteuid() != 0:
        return "needs root to chroot into the Debian 13 skopeo peer"
    try:
        p = skopeo(["--version"], check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run the Debian 13 skopeo peer: {e}"
    if p.returncode or "skopeo version" not in p.stdout:
        return f"cannot run the Debian 13 skopeo peer (unshare/chroot): {p.stderr.strip()[-200:]}"
    return None


def skopeo(args: Sequence[str], *, check: bool = True, input: Optional[str] = None,
           env: Optional[Mapping[str, str]] = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``skopeo ARGS`` in the trixie chroot, paths under /tmp shared with the host."""
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    inner = (f"mount --bind /tmp {shlex.quote(TRIXIE_ROOT)}/tmp && "
             f"exec chroot {shlex.quote(TRIXIE_ROOT)} env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "
             f"{envs} skopeo {' '.join(shlex.quote(a) for a in args)}")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner], input=input,
                       capture_output=True, text=True, timeout=timeout, cwd="/")
    if check and p.returncode:
        raise AssertionError(f"trixie skopeo {list(args)} failed ({p.returncode}): {p.stderr}")
    return p


needs_trixie_skopeo = pytest.mark.skipif(trixie_skopeo_available() is not None,
                                         reason=str(trixie_skopeo_available()))
