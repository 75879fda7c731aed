"""Remotes: where ``remote add`` writes them and what the ``remote`` verbs print,
compared with Debian's ostree 2022.7 on copies of the same repository (and with
upstream 2026.4 for the ed25519 options 2022.7 lacks)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import List, Tuple

import pytest

from ostreepy.remote.config import (RemoteError, add_remote, delete_remote, list_remotes, load_remote,
                                    remote_option, remotes_dir)
from ostreepy.store.repo import Repo
from upstream_peer import needs_upstream, peer_bin

from .conftest import last_error, ours, peer


@pytest.fixture
def twin(tmp_path: Path) -> Tuple[Path, Path]:
    a, b = tmp_path / "peer", tmp_path / "ours"
    assert peer("init", f"--repo={a}", "--mode=archive")[0] == 0
    shutil.copytree(a, b, symlinks=True)
    return a, b


# every line: one command, run by both tools on their own copy
SCRIPT: List[List[str]] = [
    ["remote", "add", "origin", "https://example.com/repo", "main", "os/x86_64/stable"],
    ["remote", "add", "--no-gpg-verify", "--set=tls-permissive=true", "--contenturl=http://c.example/r",
     "--collection-id=org.example.Os", "--set=gpg-verify=true", "second", "file:///srv/repo"],
    ["remote", "add", "origin", "https://other"],
    ["remote", "add", "--if-not-exists", "origin", "https://other"],
    ["remote", "add", "b@d", "https://x"],
    ["remote", "add", "ml", "metalink=https://example.com/metalink.xml"],
    ["remote", "add", "--force", "second", "https://replaced", "only"],
    ["remote", "add", "--set=xa.title=Name with spaces", "--set=branches=x;y;", "zeta", "http://z"],
    ["remote", "list"],
    ["remote", "list", "-u"],
    ["remote", "show-url", "origin"],
    ["remote", "show-url", "nope"],
    ["remote", "show-url", "ml"],
    ["remote", "delete", "ml"],
    ["remote", "delete", "ml"],
    ["remote", "delete", "--if-exists", "ml"],
    ["remote", "list", "-u"],
]


def test_remote_verbs_match_ostree(twin: Tuple[Path, Path]) -> None:
    a, b = twin
    for cmd in SCRIPT:
        prc, pout, perr = peer(*cmd, f"--repo={a}")
        orc, oout, oerr = ours(*cmd, f"--repo={b}")
        assert (orc, oout, last_error(oerr)) == (prc, pout, last_error(perr)), cmd
        assert (a / "config").read_bytes() == (b / "config").read_bytes(), cmd


def test_keyring_goes_with_the_remote(twin: Tuple[Path, Path]) -> None:
    _, b = twin
    repo = Repo.open(str(b))
    add_remote(repo, "origin", "https://example.com")
    (b / "origin.trustedkeys.gpg").write_bytes(b"keys")
    assert delete_remote(repo, "origin") is True
    assert not (b / "origin.trustedkeys.gpg").exists()
    assert delete_remote(repo, "origin", if_exists=True) is False


def _sysroot(path: Path, deployment: bool) -> None:
    path.mkdir()
    assert peer("admin", "init-fs", path)[0] == 0
    if deployment:
        (path / "sysroot").mkdir()  # as in a booted deployment: not the physical root


@pytest.mark.parametrize("deployment", [False, True], ids=["physical", "deployment"])
def test_sysroot_remotes_go_where_ostree_puts_them(tmp_path: Path, deployment: bool) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _sysroot(a, deployment)
    _sysroot(b, deployment)
    for root, run in ((a, peer), (b, ours)):
        assert run("remote", "add", f"--sysroot={root}", "--no-gpg-verify", "os", "https://example.com/os")[0] == 0

    def files(root: Path) -> dict:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and (p.name == "config" or p.suffix == ".conf")}
    assert files(a) == files(b)
    conf = b / "etc/ostree/remotes.d/os.conf"
    assert conf.exists() == deployment
    repo = Repo.open(str(b / "ostree/repo"))
    assert [r.name for r in list_remotes(repo, sysroot=str(b))] == ["os"]
    assert load_remote(repo, "os", sysroot=str(b)).source == (str(conf) if deployment else "config")
    # same name again: ostree's message names the file
    rc, _, err = ours("remote", "add", f"--sysroot={b}", "os", "https://x")
    prc, _, perr = peer("remote", "add", f"--sysroot={a}", "os", "https://x")
    assert rc == prc == 1
    assert last_error(err) == last_error(perr).replace(str(a), str(b))
    for root, run in ((a, peer), (b, ours)):
        assert run("remote", "delete", f"--sysroot={root}", "os")[0] == 0
    assert files(a) == files(b)


def test_remotes_d_and_config_may_not_both_name_a_remote(tmp_path: Path) -> None:
    root = tmp_path / "sr"
    _sysroot(root, deployment=True)
    repo = Repo.open(str(root / "ostree/repo"))
    add_remote(repo, "os", "https://in-config")  # not a system repo without the sysroot: into config
    d = remotes_dir(repo, sysroot=str(root))
    assert d == str(root / "etc/ostree/remotes.d")
    os.makedirs(d)
    Path(d, "os.conf").write_text('[remote "os"]\nurl=https://in-remotes-d\n')
    Path(d, "ignored.txt").write_text('[remote "x"]\nurl=https://x\n')
    with pytest.raises(RemoteError, match='Multiple specifications found for remote "os"'):
        list_remotes(repo, sysroot=str(root))
    assert [r.url for r in list_remotes(repo)] == ["https://in-config"]


def test_options_and_parent_inheritance(tmp_path: Path) -> None:
    parent = Repo.init(str(tmp_path / "parent"), "archive")
    add_remote(parent, "up", "https://up", {"gpg-verify": False, "branches": ["a", "b"], "xa.note": " lead"})
    child = Repo.init(str(tmp_path / "child"), "archive")
    child.config.set("core", "parent", parent.path)
    child.write_config()
    child = Repo.open(child.path)
    add_remote(child, "own", "https://own")
    assert [r.name for r in list_remotes(child)] == ["own", "up"]
    up = load_remote(child, "up")
    assert (up.url, up.gpg_verify, up.branches) == ("https://up", False, ["a", "b"])
    assert remote_option(child, "up", "xa.note") == " lead"
    assert "xa.note=\\slead" in (tmp_path / "parent/config").read_text()
    # a file:// URL stands for a remote with default options
    assert load_remote(child, "file:///srv/repo").url == "file:///srv/repo"
    with pytest.raises(RemoteError, match='Remote "nope" not found'):
        load_remote(child, "nope")


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A repository with three refs and a summary made by ostree."""
    srv = tmp_path / "srv"
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x\n")
    assert peer("init", f"--repo={srv}", "--mode=archive")[0] == 0
    for ref, extra in (("main", []), ("os/x86_64/stable", ["--add-metadata-string=version=2.0"]), ("zz", [])):
        assert peer("commit", f"--repo={srv}", "-b", ref, "--timestamp=2024-01-01T00:00Z", *extra, tree)[0] == 0
    return srv


def test_remote_refs_and_summary_match_ostree(twin: Tuple[Path, Path], served: Path) -> None:
    a, b = twin
    for repo, run in ((a, peer), (b, ours)):
        assert run("remote", "add", f"--repo={repo}", "--no-gpg-verify", "srv", f"file://{served}")[0] == 0
        assert run("remote", "add", f"--repo={repo}", "--no-gpg-verify", "gone", f"file://{served}/nope")[0] == 0
    # no summary yet: both refuse the same way
    cmds = [["remote", "refs", "srv"], ["remote", "summary", "srv"]]
    for cmd in cmds:
        prc, pout, perr = peer(*cmd, f"--repo={a}")
        orc, oout, oerr = ours(*cmd, f"--repo={b}")
        assert (orc, oout, last_error(oerr)) == (prc, pout, last_error(perr)), cmd
    assert peer("summary", "-u", f"--repo={served}")[0] == 0
    cmds += [["remote", "summary", "--raw", "srv"], ["remote", "refs", "gone"]]
    for cmd in cmds:
        prc, pout, perr = peer(*cmd, f"--repo={a}")
        orc, oout, oerr = ours(*cmd, f"--repo={b}")
        assert (orc, oout, last_error(oerr)) == (prc, pout, last_error(perr)), cmd
    rc, out, _ = ours("remote", "refs", "--revision", "srv", f"--repo={b}")
    main_csum = peer("rev-parse", f"--repo={served}", "main")[1].strip()
    assert rc == 0 and out.splitlines()[0] == f"srv:main\t{main_csum}"


@needs_upstream
def test_sign_verify_options_match_upstream(twin: Tuple[Path, Path]) -> None:
    a, b = twin
    tool = peer_bin("ostree")
    pub = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    for cmd in (["remote", "add", f"--sign-verify=ed25519=inline:{pub}", "--sign-verify=ed25519=file:/k",
                 "--set=sign-verify-summary=true", "s", "https://s"],
                ["remote", "add", "--no-sign-verify", "n", "https://n"],
                ["remote", "add", "--no-sign-verify", "--sign-verify=ed25519=inline:x", "bad", "https://b"],
                ["remote", "add", "--sign-verify=ed25519=disk:x", "bad", "https://b"]):
        prc, pout, perr = peer(*cmd, f"--repo={a}", tool=tool)
        orc, oout, oerr = ours(*cmd, f"--repo={b}")
        assert (orc, oout, last_error(oerr)) == (prc, pout, last_error(perr)), cmd
        assert (a / "config").read_bytes() == (b / "config").read_bytes(), cmd


def test_sign_verify_options_fixed_vector(twin: Tuple[Path, Path]) -> None:
    """What upstream 2026.4 writes for ``--sign-verify`` (checked by the test above)."""
    _, b = twin
    pub = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    assert ours("remote", "add", f"--repo={b}", f"--sign-verify=ed25519=inline:{pub}",
                "--set=sign-verify-summary=true", "s", "https://s")[0] == 0
    assert (b / "config").read_text().endswith(
        '\n[remote "s"]\nurl=https://s\nsign-verify-summary=true\n'
        f"verification-ed25519-key={pub}\nsign-verify=ed25519\n")


def test_porcelain_remotes_and_summary(tmp_path: Path) -> None:
    import ostreepy
    repo = ostreepy.init(tmp_path / "repo", mode="archive")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x\n")
    ostreepy.commit(repo, tree, branch="main")
    r = ostreepy.add_remote(tmp_path / "repo", "origin", "https://example.com/repo",
                            options={"gpg-verify": False, "branches": ["main"]})
    assert isinstance(r, ostreepy.Remote) and r.branches == ["main"] and not r.gpg_verify
    assert [x.name for x in ostreepy.list_remotes(tmp_path / "repo")] == ["origin"]
    upd = ostreepy.update_summary(tmp_path / "repo", metadata={"note": "hello"})
    assert isinstance(upd, ostreepy.SummaryUpdate) and upd.refs == ("main",) and upd.signatures == ()
    assert "\nnote: 'hello'\n" in peer("summary", "--view", f"--repo={tmp_path / 'repo'}")[1]
    assert ostreepy.remove_remote(tmp_path / "repo", "origin") is True
    assert ostreepy.remove_remote(tmp_path / "repo", "origin", if_exists=True) is False
    with pytest.raises(ostreepy.OstreeError, match='Remote "origin" not found'):
        ostreepy.remove_remote(tmp_path / "repo", "origin")
