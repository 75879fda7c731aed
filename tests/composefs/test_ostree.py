"""composefs in OSTree commits and checkouts, against upstream ostree 2026.4 built with composefs."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from ostreepy import porcelain
from ostreepy.cli.main import main as cli_main
from ostreepy.composefs.commit_image import DIGEST_KEY_V0
from ostreepy.errors import OstreeError
from ostreepy.store.repo import Repo

from upstream_peer import peer_bin

TIMESTAMP = 1700000000
# Facts established with upstream ostree 2026.4 (composefs, libcomposefs 1.4.0) on the tree of make_tree():
# `ostree commit --generate-composefs-metadata --owner-uid=0 --owner-gid=0 --no-xattrs --timestamp=@1700000000`
# gives this commit, whose ostree.composefs.digest.v0 is DIGEST; `ostree checkout --composefs[-noverity]` of it
# writes images with these SHA-256s.
COMMIT = "21a1fead38a8daca9737f91bd9c59a427d7c6777eca30b94cb6a76876d56864d"
DIGEST = "25e93fa1cc1411a5d69465ed1b639c1a60eddcb2a2adf631c9ce8a2ec35f0edf"
IMAGE_SHA256 = "587f16466a5066ac4b25036d74613b2f63d3cdd7eb7e435ee99e6ec83965f08f"
IMAGE_NOVERITY_SHA256 = "f6b7d98da5e73b06cacb996b2b5140903d41b2714a73c466430498d383076b10"


def make_tree(root) -> None:
    os.makedirs(root / "usr/bin")
    os.makedirs(root / "usr/share/empty")
    os.makedirs(root / "etc")
    (root / "usr/bin/tool").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "usr/bin/big").write_bytes(bytes(range(256)) * 40)
    (root / "usr/share/name with space").write_bytes(b"x")
    (root / "etc/empty").write_bytes(b"")
    (root / "etc/dup").write_bytes(b"x")
    os.symlink("tool", root / "usr/bin/link")
    os.symlink("/" + "t" * 300, root / "usr/long")
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o644)
    os.chmod(root / "usr/bin/tool", 0o755)
    os.chmod(root / "usr/bin/big", 0o4755)


@pytest.fixture
def committed(tmp_path):
    tree = tmp_path / "tree"
    make_tree(tree)
    repo = tmp_path / "repo"
    Repo.init(str(repo), "bare-user").close()
    info = porcelain.commit(str(repo), str(tree), branch="main", timestamp=TIMESTAMP, owner_uid=0, owner_gid=0,
                            no_xattrs=True, generate_composefs_metadata=True)
    return tmp_path, tree, repo, info.checksum


def _facts(tmp_path, repo, csum):
    porcelain.checkout_composefs(str(repo), "main", tmp_path / "v.cfs")
    porcelain.checkout_composefs(str(repo), "main", tmp_path / "nv.cfs", verity=False)
    with Repo.open(str(repo)) as r:
        digest = bytes(r.load_commit(csum).metadata[DIGEST_KEY_V0].value).hex()
    v = (tmp_path / "v.cfs").read_bytes()
    nv = (tmp_path / "nv.cfs").read_bytes()
    return digest, hashlib.sha256(v).hexdigest(), hashlib.sha256(nv).hexdigest()


def test_commit_and_checkout_fixed_vectors(committed) -> None:
    tmp_path, tree, repo, csum = committed
    digest, v, nv = _facts(tmp_path, repo, csum)
    assert (csum, digest, v, nv) == (COMMIT, DIGEST, IMAGE_SHA256, IMAGE_NOVERITY_SHA256)
    assert os.stat(tmp_path / "v.cfs").st_mode & 0o777 == 0o644
    from ostreepy.composefs.fsverity import fsverity_digest
    assert fsverity_digest((tmp_path / "v.cfs").read_bytes()).hex() == DIGEST


def test_same_as_upstream_ostree(committed) -> None:
    ostree = peer_bin("ostree")
    tmp_path, tree, repo, csum = committed
    peer_repo = tmp_path / "peer-repo"
    subprocess.run([ostree, "init", f"--repo={peer_repo}", "--mode=bare-user"], check=True)
    out = subprocess.run([ostree, "commit", f"--repo={peer_repo}", "-b", "main", "--generate-composefs-metadata",
                          "--owner-uid=0", "--owner-gid=0", "--no-xattrs", f"--timestamp=@{TIMESTAMP}", str(tree)],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out == csum
    for flag, name in (("--composefs", "v"), ("--composefs-noverity", "nv")):
        subprocess.run([ostree, "checkout", f"--repo={repo}", flag, "main", str(tmp_path / f"peer-{name}.cfs")],
                       check=True)
    porcelain.checkout_composefs(str(repo), "main", tmp_path / "v.cfs")
    porcelain.checkout_composefs(str(repo), "main", tmp_path / "nv.cfs", verity=False)
    assert (tmp_path / "v.cfs").read_bytes() == (tmp_path / "peer-v.cfs").read_bytes()
    assert (tmp_path / "nv.cfs").read_bytes() == (tmp_path / "peer-nv.cfs").read_bytes()


@pytest.mark.parametrize("mode", ["bare-user", "archive"])
def test_noverity_reads_each_object_once(tmp_path, mode, monkeypatch) -> None:
    """--composefs-noverity takes an object's header and size from one lstat (from its header in
    an archive repo): the same image in every mode."""
    make_tree(tmp_path / "tree")
    repo = tmp_path / "repo"
    Repo.init(str(repo), mode).close()
    porcelain.commit(str(repo), str(tmp_path / "tree"), branch="main", timestamp=TIMESTAMP, owner_uid=0,
                     owner_gid=0, no_xattrs=True)
    stats: list[str] = []
    real = os.lstat

    def lstat(path, *a, **kw):
        if "/objects/" in os.fspath(path):
            stats.append(os.fspath(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(os, "lstat", lstat)
    porcelain.checkout_composefs(str(repo), "main", tmp_path / "nv.cfs", verity=False)
    assert len(stats) == len(set(stats))
    assert hashlib.sha256((tmp_path / "nv.cfs").read_bytes()).hexdigest() == IMAGE_NOVERITY_SHA256


def test_cli(committed, capsys) -> None:
    tmp_path, tree, repo, csum = committed
    assert cli_main(["checkout", f"--repo={repo}", "--composefs", "main", str(tmp_path / "c.cfs")]) == 0
    porcelain.checkout_composefs(str(repo), "main", tmp_path / "p.cfs")
    assert (tmp_path / "c.cfs").read_bytes() == (tmp_path / "p.cfs").read_bytes()
    assert cli_main(["checkout", f"--repo={repo}", "--composefs", "--union", "main", str(tmp_path / "d")]) != 0


@pytest.mark.parametrize("args", [
    "checkout --composefs main o", "checkout --composefs-noverity main", "--repo=r checkout --composefs main o",
    "checkout main --repo r o --composefs-noverity", "checkout --composefs --composefs-noverity main o",
    "checkout --composefs - o", "checkout --composefs --union main o", "checkout -U --composefs main o",
    "checkout main o", "checkout -H main o", "checkout -U -H --repo=r main", "checkout -C -z main o",
    "checkout --union-add --whiteouts main o", "checkout --process-whiteouts -M main o",
    "checkout --subpath=/usr --allow-noent main o", "checkout --fsync true --skip-list l main o",
    "checkout --union-identical --require-hardlinks --disable-cache --process-passthrough-whiteouts main o",
])
def test_a_plain_checkout_reads_as_argparse_reads_it(args: str) -> None:
    """`checkout [FLAGS] REF [DEST]` (hardlink or composefs) is read by the program's entry without
    argparse (its import and parse were ~10 ms of an 80 ms checkout): the same namespace."""
    from ostreepy.cli.checkout import plain_checkout_args
    from ostreepy.cli.main import _command_first, _parse_command_line
    argv = args.split()
    plain = plain_checkout_args(argv)
    assert plain is not None
    assert vars(plain) == vars(_parse_command_line(_command_first(argv)))


@pytest.mark.parametrize("args", [
    "checkout --composefs", "checkout --composefs a b c", "checkout -UH main o", "checkout --union=1 main o",
    "checkout --composefs=1 main o", "checkout --composef main o",
    "checkout --composefs -- main o", "checkout --composefs --help main", "--repo=a checkout --composefs --repo=b m",
    "checkout --composefs --repo", "ls --composefs main", "--repo= checkout --composefs main",
])
def test_other_checkout_command_lines_are_left_to_argparse(args: str) -> None:
    from ostreepy.cli.checkout import plain_checkout_args
    assert plain_checkout_args(args.split()) is None


def test_a_plain_composefs_checkout_run_as_the_program(committed) -> None:
    """Run as the program, a plain composefs checkout ends its process without the interpreter's
    teardown: the image is whole (upstream's bytes), and a refusal answers 1 with one line."""
    import sys
    tmp_path, tree, repo, csum = committed
    ostreepy = [sys.executable, "-m", "ostreepy"]
    for flag, sha in (("--composefs", IMAGE_SHA256), ("--composefs-noverity", IMAGE_NOVERITY_SHA256)):
        p = subprocess.run(ostreepy + ["checkout", f"--repo={repo}", flag, "main", "i.cfs"], cwd=tmp_path,
                           capture_output=True, text=True)
        assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
        assert hashlib.sha256((tmp_path / "i.cfs").read_bytes()).hexdigest() == sha
        assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".i.cfs")) == []
    p = subprocess.run(ostreepy + ["checkout", f"--repo={repo}", "--composefs-noverity", "nosuchref", "x.cfs"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "x.cfs").exists()


def test_digest_mismatch_is_refused(committed) -> None:
    """A commit whose recorded digest does not match its tree: the image is not written."""
    tmp_path, tree, repo, csum = committed
    from ostreepy.store.commit import create_commit
    from ostreepy.store.gvariant import Variant
    with Repo.open(str(repo)) as r:
        c = r.load_commit(csum)
        with r.transaction():
            bad = create_commit(r, c.root_tree, c.root_meta, metadata={DIGEST_KEY_V0: Variant("ay", bytes(32))},
                                timestamp=TIMESTAMP)
    with pytest.raises(OstreeError, match="doesn't match expected digest"):
        porcelain.checkout_composefs(str(repo), bad, tmp_path / "x.cfs")
    assert not os.path.exists(tmp_path / "x.cfs")
    assert [n for n in os.listdir(tmp_path) if n.startswith(".x.cfs")] == []


def test_signed_composefs(tmp_path) -> None:
    """``enabled = signed``: the commit's ed25519 signature and digest, checked as ostree-prepare-root does."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ostreepy.composefs.deploy import (verify_deployment_image, verify_signed_commit,
                                           write_deployment_image)
    from ostreepy.store.signing import ED25519, Signer, sign_commit

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pub = key.public_key().public_bytes_raw()
    secret = base64.b64encode(bytes(range(32)) + pub).decode()
    pub64 = base64.b64encode(pub).decode()
    other = base64.b64encode(Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key().public_bytes_raw()).decode()

    tree = tmp_path / "tree"
    make_tree(tree)
    (tree / "usr/lib/ostree").mkdir(parents=True)
    (tree / "usr/lib/ostree/prepare-root.conf").write_text("[composefs]\nenabled = signed\n")
    (tree / "etc/ostree").mkdir()
    (tree / "etc/ostree/initramfs-root-binding.key").write_text(pub64 + "\n")
    repo = tmp_path / "repo"
    Repo.init(str(repo), "bare-user").close()
    csum = porcelain.commit(str(repo), str(tree), branch="main", timestamp=TIMESTAMP, owner_uid=0, owner_gid=0,
                            no_xattrs=True, generate_composefs_metadata=True).checksum
    with Repo.open(str(repo)) as r:
        with pytest.raises(OstreeError, match="No commitmeta for deploy"):
            verify_signed_commit(r, csum, [pub64])
        sign_commit(r, csum, Signer(ED25519, secret=secret))
        digest = verify_signed_commit(r, csum, [other, pub64])
        assert digest == bytes(r.load_commit(csum).metadata[DIGEST_KEY_V0].value)
        with pytest.raises(OstreeError, match="Checking commit signature"):
            verify_signed_commit(r, csum, [other])
        dep = tmp_path / "deploy"
        porcelain.checkout(str(repo), csum, dep)
        assert write_deployment_image(r, csum, str(dep)) == digest
        assert verify_deployment_image(r, csum, str(dep)) == digest
        (dep / "etc/ostree/initramfs-root-binding.key").write_text(other + "\n")
        with pytest.raises(OstreeError, match="Checking commit signature"):
            verify_deployment_image(r, csum, str(dep))


def test_bare_repo_fast_path_as_the_general_one(tmp_path, monkeypatch) -> None:
    """A plain bare repository's objects are read from one open (or one lstat when nothing is
    measured), files without xattrs as Leaf nodes: the same images as the general path, which
    reads each header through the store, for a tree with an xattr, a setuid file, symlinks, an
    empty file and a duplicated object (and as upstream's, when it runs)."""
    import gc

    from ostreepy.composefs import commit_image
    from ostreepy.composefs.erofs import write_image
    tree = tmp_path / "tree"
    make_tree(tree)
    os.setxattr(tree / "usr/bin/tool", "user.test", b"value")
    repo = tmp_path / "repo"
    Repo.init(str(repo), "bare").close()
    porcelain.commit(str(repo), str(tree), branch="main", timestamp=TIMESTAMP, owner_uid=0, owner_gid=0)
    fast = {}
    for verity in (True, False):
        porcelain.checkout_composefs(str(repo), "main", tmp_path / "f.cfs", verity=verity)
        fast[verity] = (tmp_path / "f.cfs").read_bytes()
    with Repo.open(str(repo)) as r:
        root = commit_image.tree_from_commit(r, r.resolve_rev("main"), commit_image.Verity.NO)
        kinds = {name: type(node).__name__ for name, node in root.children[b"usr"].children[b"bin"].children.items()}
        assert kinds == {b"big": "Leaf", b"link": "Leaf", b"tool": "Node"}
        # written and dropped, the tree leaves no cycles for the collector to find
        gc.collect()
        was = gc.isenabled()
        gc.disable()
        try:
            write_image(root, None, consume=True)
            del root
            assert gc.collect() == 0
        finally:
            if was:
                gc.enable()
    real_init = commit_image._Builder.__init__

    def general(self, *a, **kw):
        real_init(self, *a, **kw)
        self.prefix = None

    monkeypatch.setattr(commit_image._Builder, "__init__", general)
    for verity in (True, False):
        porcelain.checkout_composefs(str(repo), "main", tmp_path / "g.cfs", verity=verity)
        assert (tmp_path / "g.cfs").read_bytes() == fast[verity]
    import upstream_peer
    if upstream_peer.available():
        ostree = upstream_peer.peer_bin("ostree")
        for flag, verity in (("--composefs", True), ("--composefs-noverity", False)):
            subprocess.run([ostree, "checkout", f"--repo={repo}", flag, "main", str(tmp_path / "p.cfs")],
                           check=True, cwd=tmp_path)
            assert (tmp_path / "p.cfs").read_bytes() == fast[verity]
            os.unlink(tmp_path / "p.cfs")


def _root_level_tree(root) -> None:
    """Entries straight in the root (plain, empty, executable, a symlink), which the image
    writer takes apart from those below it, beside one below."""
    os.makedirs(root / "usr")
    (root / "top").write_bytes(b"top\n")
    (root / "empty").write_bytes(b"")
    (root / "run-me").write_bytes(b"#!/bin/sh\n")
    os.symlink("usr/below", root / "to-below")
    (root / "usr/below").write_bytes(b"below\n")
    for p in (root, root / "usr"):
        os.chmod(p, 0o755)
    for p in (root / "top", root / "empty", root / "usr/below"):
        os.chmod(p, 0o644)
    os.chmod(root / "run-me", 0o755)


# established with upstream ostree 2026.4's checkout --composefs[-noverity] of that tree's commit
ROOT_LEVEL_SHA256 = {"--composefs": "a752a57063e2975a7b007a57c2d6d540063d55cacff6d8cb77d2b0bb627e05b6",
                     "--composefs-noverity": "5eff0adbf40a45905fca36be0cee1780357b0ea7c45a9b22b344925c0f2ee938"}


@pytest.mark.parametrize("flag", ["--composefs", "--composefs-noverity"])
def test_files_in_the_root_as_upstream_writes_them(tmp_path, flag) -> None:
    import sys
    _root_level_tree(tmp_path / "tree")
    repo = tmp_path / "repo"
    Repo.init(str(repo), "bare-user").close()
    porcelain.commit(str(repo), str(tmp_path / "tree"), branch="main", timestamp=TIMESTAMP, owner_uid=0,
                     owner_gid=0, no_xattrs=True)
    subprocess.run([sys.executable, "-m", "ostreepy", "checkout", f"--repo={repo}", flag, "main", "i.cfs"],
                   cwd=tmp_path, check=True)
    ours = hashlib.sha256((tmp_path / "i.cfs").read_bytes()).hexdigest()
    import upstream_peer
    if upstream_peer.available():
        subprocess.run([peer_bin("ostree"), f"--repo={repo}", "checkout", flag, "main", str(tmp_path / "u.cfs")], check=True)
        assert ours == hashlib.sha256((tmp_path / "u.cfs").read_bytes()).hexdigest()
    assert ours == ROOT_LEVEL_SHA256[flag], ours
