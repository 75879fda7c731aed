"""Repos crafted to attack a checkout: names in a dirtree such as '..' or 'a/b'
must be refused, never followed outside the destination."""

import hashlib
import os

import pytest

from .conftest import assert_error, object_path


def _write_object(repo, data: bytes, kind: str) -> str:
    csum = hashlib.sha256(data).hexdigest()
    p = object_path(repo, csum, kind)
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(data)
    os.chmod(p, 0o644)
    return csum


def craft(ostree, tmp_path, mode, old: bytes, new: bytes):
    """A repo whose root dirtree has the entry name ``old`` replaced by ``new``
    (same length), re-hashed up to a commit on the ref 'evil'."""
    tree = tmp_path / "tree"
    for d in ("q", "xx"):
        (tree / d).mkdir(parents=True)
        (tree / d / "pwned").write_bytes(b"pwned\n")
    (tree / "yy").write_bytes(b"file yy\n")
    (tree / "zz").write_bytes(b"file zz\n")
    repo = ostree.init(tmp_path / "repo", mode)
    commit = ostree.commit(repo, tree=tree, branch="good")
    root_tree = ostree.run("ls", "-dC", "good", "/", repo=repo).out.split()[4]
    data = object_path(repo, root_tree, "dirtree").read_bytes()
    assert data.count(old + b"\0") == 1
    new_tree = _write_object(repo, data.replace(old + b"\0", new + b"\0"), "dirtree")
    cdata = object_path(repo, commit, "commit").read_bytes()
    assert cdata.count(bytes.fromhex(root_tree)) == 1
    new_commit = _write_object(repo, cdata.replace(bytes.fromhex(root_tree), bytes.fromhex(new_tree)), "commit")
    (repo / "refs/heads/evil").write_text(new_commit + "\n")
    return repo


CASES = {
    "dir-dotdot": (b"xx", b".."),   # directory '..' holding 'pwned'
    "dir-dot": (b"q", b"."),
    "file-dotdot": (b"yy", b".."),
    "dir-slash": (b"xx", b"/x"),    # would go to /x/pwned
    "file-slash": (b"zz", b"z/"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mode", ["bare-user", "archive"])
def test_checkout_refuses_crafted_names(ostree, ostreepy, tmp_path, mode, case):
    old, new = CASES[case]
    repo = craft(ostree, tmp_path, mode, old, new)
    outer = tmp_path / "outer"
    dest = outer / "inner" / "dest"
    dest.parent.mkdir(parents=True)
    res = ostreepy.run("checkout", "evil", dest, repo=repo, rc=None)
    assert_error(res)
    assert not (outer / "inner" / "pwned").exists() and not (outer / "pwned").exists()
    assert not os.path.exists("/x/pwned")


@pytest.mark.parametrize("case", ["dir-dotdot", "file-slash"])
def test_fsck_reports_crafted_names(ostree, ostreepy, tmp_path, case):
    old, new = CASES[case]
    repo = craft(ostree, tmp_path, "bare-user", old, new)
    ostree.run("fsck", repo=repo, rc=1)  # premise
    assert_error(ostreepy.run("fsck", repo=repo, rc=None))
