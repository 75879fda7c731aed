"""Fixtures for the remote (pull transport) tests.

``web_server``: Debian's nginx serving a directory (one per test session and xdist worker);
``fault_proxy``: a :class:`servers.FaultProxy` in front of it, fresh per test;
``served_repo``: makes an archive repository with the real ``ostree`` under the web root;
``peer``/``ours``: one command line run by the real ``ostree`` (a subprocess) and by ostreepy's CLI
(in this process: a subprocess per call would cost most of a test's time), each giving
(exit status, stdout, stderr) to compare.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Tuple

import attrs
import pytest

from ostreepy.cli.main import main

from .servers import NGINX, FaultProxy, Nginx

TOOL_ENV = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", TZ="UTC")
TOOL_ENV.pop("OSTREE_REPO", None)


def peer(*argv: object, tool: str = "ostree") -> Tuple[int, str, str]:
    p = subprocess.run([tool, *map(str, argv)], capture_output=True, text=True, env=TOOL_ENV)
    return p.returncode, p.stdout, p.stderr


def ours(*argv: object) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def last_error(stderr: str) -> str:
    """The last ``error:`` line (ostree prints GLib warnings before it, ostreepy none)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    return lines[-1] if lines else ""


def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, env=TOOL_ENV, **kw)
    if p.returncode:
        raise AssertionError(f"{cmd} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}")
    return p


@pytest.fixture(scope="session")
def web_server(tmp_path_factory) -> Iterator[Nginx]:
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (scripts/install-peers.sh installs nginx-light)")
    server = Nginx(tmp_path_factory.mktemp("nginx"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_pki(d: Path) -> Dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    d.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    later = now + datetime.timedelta(days=36500)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(k, path: Path) -> None:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now).not_valid_after(later)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    out = {"ca": d / "ca.pem"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for who, serial in (("server", 2), ("client", 3)):
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name(who)).issuer_name(ca.subject)
             .public_key(key.public_key()).serial_number(serial).not_valid_before(now).not_valid_after(later))
        if who == "server":
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        out[who] = d / f"{who}.pem"
        out[who].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[f"{who}_key"] = d / f"{who}.key"
        write_key(key, out[f"{who}_key"])
    return out


@pytest.fixture(scope="session")
def tls_web_server(tmp_path_factory) -> Iterator[Tuple[Nginx, Dict[str, Path]]]:
    """nginx over HTTPS (and HTTP) with a test CA; (server, PEM paths from :func:`make_pki`)."""
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (scripts/install-peers.sh installs nginx-light)")
    base = tmp_path_factory.mktemp("nginx-tls")
    pki = make_pki(base / "pki")
    server = Nginx(base / "srv", tls=(pki["server"], pki["server_key"], pki["ca"]))
    server.start()
    try:
        yield server, pki
    finally:
        server.stop()


@pytest.fixture
def fault_proxy(web_server: Nginx) -> Iterator[FaultProxy]:
    proxy = FaultProxy(("127.0.0.1", web_server.port)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@attrs.frozen
class ServedRepo:
    name: str
    path: Path
    ref: str
    commit: str
    #: URL path below the server's root, e.g. ``/r1``
    urlpath: str


def write_tree(root: Path, files: Dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def small_tree(seed: int = 0, n: int = 12) -> Dict[str, bytes]:
    files = {f"usr/share/d{i % 3}/f{i}.txt": (f"file {i} seed {seed}\n" * (i + 1)).encode() for i in range(n)}
    files["usr/bin/tool"] = bytes(range(256)) * 64 + str(seed).encode()
    files["etc/os-release"] = b"NAME=test\n"
    return files


def ostree_commit(repo: Path, tree: Path, ref: str, subject: str = "c") -> str:
    run("ostree", f"--repo={repo}", "commit", f"--branch={ref}", f"--subject={subject}",
        "--timestamp=2024-01-01 00:00:00 +0000", "--owner-uid=0", "--owner-gid=0",
        "--no-xattrs", "--canonical-permissions", str(tree))
    return run("ostree", f"--repo={repo}", "rev-parse", ref).stdout.decode().strip()


@pytest.fixture
def served_repo(web_server: Nginx, tmp_path: Path) -> Callable[..., ServedRepo]:
    """``make(name, files=None, ref="main")``: an archive repo committed by ``ostree`` at
    ``<web root>/<name>`` (replaced if it exists), with a summary."""

    def make(name: str, files: Optional[Dict[str, bytes]] = None, ref: str = "main") -> ServedRepo:
        path = web_server.root / name
        if path.exists():
            shutil.rmtree(path)
        run("ostree", f"--repo={path}", "init", "--mode=archive")
        tree = tmp_path / f"tree-{name}"
        if tree.exists():
            shutil.rmtree(tree)
        write_tree(tree, files if files is not None else small_tree())
        commit = ostree_commit(path, tree, ref)
        run("ostree", f"--repo={path}", "summary", "-u")
        return ServedRepo(name, path, ref, commit, f"/{name}")

    return make


def objects_fetched(entries, prefix: str) -> Dict[str, int]:
    """How many times each object path under ``prefix`` was served with 200."""
    out: Dict[str, int] = {}
    for e in entries:
        if e.status == 200 and e.path.startswith(prefix + "/objects/"):
            out[e.path] = out.get(e.path, 0) + 1
    return out


def tool_pull(repo: Path, url: str, ref: str, mode: str = "bare-user", ostree: str = "ostree") -> Tuple[str, str]:
    """``ostree`` (the peer) pulls ``ref`` from ``url`` into a new ``repo``; returns (commit, fsck output)."""
    run(ostree, f"--repo={repo}", "init", f"--mode={mode}")
    run(ostree, f"--repo={repo}", "remote", "add", "--no-gpg-verify", "origin", url)
    run(ostree, f"--repo={repo}", "pull", "origin", ref)
    commit = run(ostree, f"--repo={repo}", "rev-parse", f"origin:{ref}").stdout.decode().strip()
    fsck = run(ostree, f"--repo={repo}", "fsck").stdout.decode()
    return commit, fsck
