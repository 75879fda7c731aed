"""Peer-to-peer distribution: ``find-remotes``, ``create-usb`` and the finders.

The choice of remotes is tested with summary bytes (no repository); the layout is
checked against Debian's ``ostree`` (2022.7, which has both verbs): what our
``create-usb`` writes is read by its ``find-remotes``/``pull``, and what its
``create-usb`` writes is found by our mount finder and pulled by our ``find-remotes``.
Commits are GPG-signed by a one-key home made here, since ``find-remotes --pull``
always checks GPG signatures (libostree forces gpg-verify).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from ostreepy.remote.config import Remote
from ostreepy.remote.finder import CollectionRef, FinderResult, FindRemotesError, latest_results, summary_refs
from ostreepy.remote.p2p import find_remotes, finders_by_name, pull_from_remotes
from ostreepy.remote.finder_mount import MountFinder, dynamic_remote_name, mount_points, repo_candidates
from ostreepy.remote.summary import SUMMARY_TYPE, parse_summary
from ostreepy.store import gvariant
from ostreepy.store.gvariant import Variant
from ostreepy.store.repo import Repo

from .conftest import ours, peer

PEER = shutil.which("ostree")
needs_peer = pytest.mark.skipif(PEER is None or shutil.which("gpg") is None,
                                reason="Debian's ostree and gpg are needed (apt-get install ostree gnupg)")
CID = "org.example.Apps"


# ---------------------------------------------------------------- bytes only

def _summary(refs: Dict[str, tuple], cid: Optional[str] = None, cmap: Optional[Dict[str, Dict[str, tuple]]] = None,
             last_modified: int = 0) -> bytes:
    """Summary bytes; a ref is (checksum, commit size, timestamp or None)."""
    def entries(rs: Dict[str, tuple]) -> list:
        out = []
        for name, (csum, size, ts) in sorted(rs.items()):
            meta = {} if ts is None else {"ostree.commit.timestamp": Variant("t", gvariant.bswap64(ts))}
            out.append((name, (size, bytes.fromhex(csum), meta)))
        return out
    meta: Dict[str, Variant] = {"ostree.summary.last-modified": Variant("t", gvariant.bswap64(last_modified))}
    if cid is not None:
        meta["ostree.summary.collection-id"] = Variant("s", cid)
    if cmap:
        meta["ostree.summary.collection-map"] = Variant(
            "a{sa(s(taya{sv}))}", {c: entries(rs) for c, rs in cmap.items()})
    return gvariant.serialize(SUMMARY_TYPE, (entries(refs), meta))


def _cand(name: str, priority: int = 100) -> FinderResult:
    return FinderResult(remote=Remote(name=name, url=f"file:///{name}"), name=name, finder="OstreeRepoFinderConfig",
                        priority=priority, ref_to_checksum={})


OLD, NEW = "a" * 64, "b" * 64


def test_summary_refs_read_main_list_and_collection_map() -> None:
    s = parse_summary(_summary({"app1": (OLD, 100, 10)}, cid=CID, cmap={"org.example.Os": {"os": (NEW, 5, 20)}}))
    want = [CollectionRef(CID, "app1"), CollectionRef("org.example.Os", "os"), CollectionRef(CID, "os")]
    assert {str(k): v.checksum for k, v in summary_refs(s, want).items()} == {
        f"({CID}, app1)": OLD, "(org.example.Os, os)": NEW}
    # a summary without a collection ID offers its main refs to nobody
    assert summary_refs(parse_summary(_summary({"app1": (OLD, 1, 1)})), want) == {}


def test_latest_commit_wins_and_an_outdated_mirror_is_dropped() -> None:
    ref, other = CollectionRef(CID, "app1"), CollectionRef(CID, "app2")
    upstream = parse_summary(_summary({"app1": (NEW, 100, 20)}, cid=CID, last_modified=5))
    mirror = parse_summary(_summary({"app1": (OLD, 90, 10), "app2": (OLD[:-1] + "c", 7, None)}, cid=CID))
    asked: List[str] = []

    def timestamp(csum: str, cand: FinderResult) -> Optional[int]:
        asked.append(csum)
        return 1
    out = latest_results([_cand("mirror", 50), _cand("upstream")], [mirror, upstream], [ref, other], timestamp)
    # the mirror keeps app2 (nobody has newer) but not app1; only app2's time had to be asked for
    assert [(r.name, {str(k): v for k, v in r.ref_to_checksum.items()}) for r in out] == [
        ("mirror", {f"({CID}, app1)": None, f"({CID}, app2)": OLD[:-1] + "c"}),
        ("upstream", {f"({CID}, app1)": NEW, f"({CID}, app2)": None})]
    assert asked == [OLD[:-1] + "c"] and out[1].summary_last_modified == 5
    # a summary that disagrees on a commit's size is not believed at all; one not fetched neither
    liar = parse_summary(_summary({"app1": (NEW, 1, 20)}, cid=CID))
    out = latest_results([_cand("upstream"), _cand("liar"), _cand("gone")], [upstream, liar, None], [ref], timestamp)
    assert [r.name for r in out] == ["upstream"]


def test_mount_finder_pure_parts() -> None:
    info = ("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
            "23 22 0:5 / /proc rw - proc proc rw\n"
            "40 22 8:17 / /media/USB\\040stick rw,nosuid - vfat /dev/sdb1 rw\n"
            "41 22 0:30 / /tmp/x rw - tmpfs tmpfs rw\n")
    assert mount_points(info) == ["/media/USB stick"]
    assert repo_candidates(["b", "00-generated"]) == [
        ".ostree/repos.d/00-generated", ".ostree/repos.d/b", ".ostree/repo", "ostree/repo", "var/lib/flatpak/repo"]
    # the name ostree's own test (test-create-usb.sh) expects of a mount finder's remote
    assert dynamic_remote_name("file:///tmp/t/dest-mount1/.ostree/repo", "remote1.trustedkeys.gpg") == \
        "file_3A_2F_2F_2Ftmp_2Ft_2Fdest-mount1_2F.ostree_2Frepo_remote1.trustedkeys.gpg"
    with pytest.raises(FindRemotesError, match="duplicate finder type.*‘config’"):
        finders_by_name(["config", "config"])
    with pytest.raises(FindRemotesError, match="without Avahi"):
        finders_by_name(["lan"])


# ---------------------------------------------------------------- against the peer

@pytest.fixture
def gpg(tmp_path: Path) -> Dict[str, str]:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    g = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "-q"]
    subprocess.run(g + ["--passphrase", "", "--quick-gen-key", "P2P <p2p@example.com>", "ed25519", "sign"],
                   check=True, capture_output=True)
    key = tmp_path / "key.asc"
    key.write_bytes(subprocess.run(g + ["--export", "--armor"], check=True, capture_output=True).stdout)
    yield {"home": str(home), "id": "p2p@example.com", "key": str(key)}
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


def _ok(res: tuple) -> str:
    rc, out, err = res
    assert rc == 0, err
    return out


def _upstream(tmp_path: Path, gpg: Dict[str, str], tool=peer) -> Dict[str, str]:
    """A signed collection repository with two refs, and a local repository pulled from it."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "a").write_text("a\n")
    up = tmp_path / "up"
    _ok(tool(f"--repo={up}", "init", "--mode=archive", f"--collection-id={CID}"))
    sums = {}
    for ref in ("app1", "app2"):
        sums[ref] = _ok(tool(f"--repo={up}", "commit", "-b", ref, "-s", ref, f"--gpg-homedir={gpg['home']}",
                             f"--gpg-sign={gpg['id']}", str(files))).strip()
    _ok(tool(f"--repo={up}", "summary", "-u", f"--gpg-homedir={gpg['home']}", f"--gpg-sign={gpg['id']}"))
    local = tmp_path / "local"
    _ok(tool(f"--repo={local}", "init", "--mode=archive"))
    _ok(tool(f"--repo={local}", "remote", "add", "up", f"file://{up}", f"--collection-id={CID}",
             f"--gpg-import={gpg['key']}"))
    _ok(tool(f"--repo={local}", "pull", "up", "app1", "app2"))
    return sums


@needs_peer
def test_our_usb_is_read_by_ostree(tmp_path: Path, gpg: Dict[str, str]) -> None:
    sums = _upstream(tmp_path, gpg, tool=ours)
    usb = tmp_path / "usb"
    usb.mkdir()
    out = _ok(ours(f"--repo={tmp_path / 'local'}", "create-usb", "--destination-repo=some-dest", str(usb),
                   CID, "app1", CID, "app2"))
    assert out == (f"Copied 2/2 refs successfully from ‘{tmp_path / 'local'}’ to ‘some-dest’ repository"
                   f" in ‘{usb}’.\n")
    assert os.readlink(usb / ".ostree/repos.d/00-generated") == "../../some-dest"
    linked = usb / ".ostree/repos.d/00-generated"
    listed = _ok(peer(f"--repo={linked}", "refs", "--collections")).splitlines()
    assert sorted(listed) == [f"({CID}, app1)", f"({CID}, app2)"]  # in its hash table's order
    _ok(peer(f"--repo={linked}", "fsck"))
    # a second run with another commit adds nothing to repos.d
    _ok(ours(f"--repo={tmp_path / 'local'}", "create-usb", "--destination-repo=some-dest", str(usb), CID, "app1"))
    assert os.listdir(usb / ".ostree/repos.d") == ["00-generated"]
    # ostree finds the refs there (through a remote, since its mount finder reads real mounts) and pulls them
    dest = tmp_path / "dest"
    _ok(peer(f"--repo={dest}", "init", "--mode=bare-user"))
    _ok(peer(f"--repo={dest}", "remote", "add", "usb", f"file://{linked}", f"--collection-id={CID}",
             f"--gpg-import={gpg['key']}"))
    found = _ok(peer(f"--repo={dest}", "find-remotes", "--finders=config", "--pull", CID, "app2"))
    assert f"    - ({CID}, app2) = {sums['app2']}\n" in found and "Pulled 1/1 refs successfully.\n" in found
    assert _ok(peer(f"--repo={dest}", "rev-parse", "usb:app2")).strip() == sums["app2"]


@needs_peer
def test_ostrees_usb_is_found_by_our_finders(tmp_path: Path, gpg: Dict[str, str]) -> None:
    sums = _upstream(tmp_path, gpg)
    usb = tmp_path / "usb"
    usb.mkdir()
    _ok(peer(f"--repo={tmp_path / 'local'}", "create-usb", str(usb), CID, "app1", CID, "app2"))
    dest = tmp_path / "dest"
    _ok(ours(f"--repo={dest}", "init", "--mode=bare-user"))
    # the remote that gives the keyring; its own URL is never used by the mount finder
    _ok(ours(f"--repo={dest}", "remote", "add", "keys", "file:///nonexistent", f"--collection-id={CID}",
             f"--gpg-import={gpg['key']}"))
    refs = [CollectionRef(CID, "app1"), CollectionRef(CID, "nope")]
    with Repo.open(str(dest)) as repo:
        results = find_remotes(repo, refs, [MountFinder([str(usb)])])
        assert [(r.finder, r.priority, r.keyring, dict(r.ref_to_checksum)) for r in results] == [
            ("OstreeRepoFinderMount", 50, "keys.trustedkeys.gpg", {refs[0]: sums["app1"], refs[1]: None})]
        assert results[0].name == dynamic_remote_name(f"file://{usb}/.ostree/repo", "keys.trustedkeys.gpg")
        assert pull_from_remotes(repo, results) == 1
        assert repo.read_ref("keys:app1") == sums["app1"]
    # through a configured remote, our find-remotes prints what ostree's prints
    _ok(ours(f"--repo={dest}", "remote", "add", "usb", f"file://{usb}/.ostree/repo", f"--collection-id={CID}",
             f"--gpg-import={gpg['key']}"))
    theirs = _ok(peer(f"--repo={dest}", "find-remotes", "--finders=config", CID, "app2"))
    mine = _ok(ours(f"--repo={dest}", "find-remotes", "--finders=config", CID, "app2"))
    assert mine == theirs
    assert "Result 0: file://" in mine
    mirror = tmp_path / "mirror"
    _ok(ours(f"--repo={mirror}", "init", "--mode=archive"))
    _ok(ours(f"--repo={mirror}", "remote", "add", "usb", f"file://{usb}/.ostree/repo", f"--collection-id={CID}",
             f"--gpg-import={gpg['key']}"))
    out = _ok(ours(f"--repo={mirror}", "find-remotes", "--finders=config", "--pull", "--mirror", CID, "app2"))
    assert out.endswith("Pulled 1/1 refs successfully.\n")
    assert (mirror / f"refs/mirrors/{CID}/app2").read_text().strip() == sums["app2"]
    # a plain mirror pull from a collection's repository lands in refs/mirrors too, in both
    for tool, name in ((ours, "m-ours"), (peer, "m-peer")):
        _ok(tool(f"--repo={tmp_path / name}", "init", "--mode=archive"))
        _ok(tool(f"--repo={tmp_path / name}", "remote", "add", "--no-gpg-verify", "up", f"file://{tmp_path / 'up'}",
                 f"--collection-id={CID}"))
        _ok(tool(f"--repo={tmp_path / name}", "pull", "--mirror", "up", "app1"))
        assert (tmp_path / name / f"refs/mirrors/{CID}/app1").read_text().strip() == sums["app1"], name
        assert not os.listdir(tmp_path / name / "refs/heads"), name
