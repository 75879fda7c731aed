"""A GnuPG home directory with the keys the OpenPGP and trust tests need, made
once per test process by the real gpg (never used by library code).

Keys (by user ID e-mail): ``ed`` ed25519 [SC]; ``rsa`` rsa3072 [SC]; ``sub``
ed25519 [C] with an ed25519 signing subkey; ``old`` made in 2020 and expired
in 2021; ``rev`` revoked after it signed; ``other`` never given to a keyring;
``pw`` protected by a passphrase.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Dict, List, Optional

import attrs
import pytest

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed (apt-get install gnupg)")

OLD_TIME = "20200101T000000!"


@attrs.define
class GpgHome:
    path: str
    fpr: Dict[str, str] = attrs.field(factory=dict)

    def gpg(self, *args: str, input: Optional[bytes] = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["gpg", "--homedir", self.path, "--batch", "--no-tty", "-q", *args],
                              input=input, capture_output=True, check=check)

    def export(self, *names: str, armor: bool = False) -> bytes:
        return self.gpg("--export", *(["--armor"] if armor else []), *(self.email(n) for n in names)).stdout

    @staticmethod
    def email(name: str) -> str:
        return f"{name}@example.com"

    def detach_sign(self, name: str, data: bytes, *extra: str) -> bytes:
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "data")
            with open(src, "wb") as f:
                f.write(data)
            self.gpg("--local-user", self.email(name), *extra, "--detach-sign", "-o", src + ".sig", src)
            with open(src + ".sig", "rb") as f:
                return f.read()

    def verify(self, data: bytes, sig: bytes) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory() as d:
            for n, b in (("data", data), ("data.sig", sig)):
                with open(os.path.join(d, n), "wb") as f:
                    f.write(b)
            return self.gpg("--status-fd", "1", "--verify", os.path.join(d, "data.sig"), os.path.join(d, "data"),
                            check=False)

    def copy(self, dest: str) -> "GpgHome":
        """A private copy (without the agent's sockets): for a test that changes keys, such
        as a revocation, which would otherwise reach every later test of the process."""
        shutil.copytree(self.path, dest, ignore=shutil.ignore_patterns("S.*", "*.lock"))
        os.chmod(dest, 0o700)
        return GpgHome(str(dest), dict(self.fpr))

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", self.path, "--kill", "gpg-agent"], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


def _fprs(home: GpgHome, name: str) -> List[str]:
    out = home.gpg("--with-colons", "--list-keys", home.email(name)).stdout.decode()
    return [ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:")]


def make_home() -> GpgHome:
    home = GpgHome(tempfile.mkdtemp(prefix="ostreepy-gpg-"))
    os.chmod(home.path, 0o700)
    with open(os.path.join(home.path, "gpg-agent.conf"), "w") as f:
        f.write("s2k-count 65536\n")  # else protecting the "pw" key calibrates for seconds
    nopw = ("--passphrase", "")
    for name, algo, usage in (("ed", "ed25519", "sign"), ("rsa", "rsa3072", "sign"), ("sub", "ed25519", "cert"),
                              ("rev", "ed25519", "sign"), ("other", "ed25519", "sign")):
        home.gpg(*nopw, "--quick-gen-key", f"{name.title()} <{home.email(name)}>", algo, usage)
    home.gpg(*nopw, "--quick-add-key", _fprs(home, "sub")[0], "ed25519", "sign")
    home.gpg(*nopw, "--faked-system-time", OLD_TIME, "--quick-gen-key", f"Old <{home.email('old')}>",
             "ed25519", "sign", "1y")
    home.gpg("--pinentry-mode", "loopback", "--passphrase", "secret", "--quick-gen-key",
             f"Pw <{home.email('pw')}>", "ed25519", "sign")
    for name in ("ed", "rsa", "sub", "rev", "other", "old", "pw"):
        fprs = _fprs(home, name)
        home.fpr[name] = fprs[0]
        if len(fprs) > 1:
            home.fpr[name + "-sub"] = fprs[1]
    return home


def revoke(home: GpgHome, name: str) -> None:
    """Import the revocation certificate gpg stored when it made the key."""
    with open(os.path.join(home.path, "openpgp-revocs.d", home.fpr[name] + ".rev"), "rb") as f:
        text = f.read().replace(b":-----BEGIN", b"-----BEGIN")
    home.gpg("--import", input=text)


_SHARED: List[GpgHome] = []


def shared_home() -> GpgHome:
    """One key set per test process (RSA key generation takes seconds), removed at exit."""
    if not _SHARED:
        import atexit
        _SHARED.append(make_home())
        atexit.register(_SHARED[0].close)
    return _SHARED[0]
