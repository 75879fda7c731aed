"""init / commit / log / refs / checkout / fsck / prune through ``import
ostreepy`` only, checked against the real ``ostree`` 2022.7."""

from __future__ import annotations

import filecmp
import io
import os
import re
import tarfile
from pathlib import Path

import pytest

import ostreepy

from .conftest import TIMESTAMP, run


def ostree(repo: Path, *args: str) -> str:
    return run("ostree", f"--repo={repo}", *args).stdout


METADATA = {"version": "1.2", "count": 42, "flag": True, "raw": b"\x00\x01", "names": ["a", "b"]}
# the same values in ostree's GVariant text (int64 for ints, as the API stores them)
OSTREE_METADATA = ["--add-metadata-string=version=1.2", "--add-metadata=count=int64 42",
                   "--add-metadata=flag=true", "--add-metadata=raw=[byte 0x00, 0x01]",
                   "--add-metadata=names=['a', 'b']"]


@pytest.mark.parametrize("mode", ["bare", "archive", "bare-user"])
def test_commit_checksum_is_ostrees(work: Path, rootfs: Path, mode: str) -> None:
    ours, theirs = work / "ours", work / "theirs"
    with ostreepy.init(ours, mode=mode) as repo:
        info = ostreepy.commit(repo, rootfs, branch="os/stable", subject="First", body="The body\nof it",
                               metadata=METADATA, timestamp=TIMESTAMP)
    run("ostree", "init", f"--repo={theirs}", f"--mode={mode}")
    expected = ostree(theirs, "commit", "-b", "os/stable", "-s", "First", "-m", "The body\nof it",
                      "--timestamp=2024-01-01 00:00:00 +0000", *OSTREE_METADATA, f"--tree=dir={rootfs}").strip()
    assert info.checksum == expected
    assert isinstance(info, ostreepy.CommitInfo)
    assert info.version == "1.2" and info.timestamp == TIMESTAMP and info.parent is None
    assert info.metadata["count"] == 42 and info.metadata["flag"] is True
    assert info.metadata["raw"] == b"\x00\x01" and info.metadata["names"] == ["a", "b"]
    assert info.metadata["ostree.ref-binding"] == ["os/stable"]
    # ostree reads our repository: the commit and every object in it are sound
    assert "object fsck of 1 commits completed successfully" in ostree(ours, "fsck")
    assert ostree(ours, "rev-parse", "os/stable").strip() == expected


def test_commit_from_tar_file_and_stream(work: Path, rootfs: Path) -> None:
    tarpath = work / "rootfs.tar"
    with tarfile.open(tarpath, "w") as tf:
        tf.add(rootfs, arcname=".")
    repo = ostreepy.init(work / "repo", mode="bare-user")
    try:
        a = ostreepy.commit(repo, tarpath, branch="a", timestamp=TIMESTAMP)
        b = ostreepy.commit(repo, io.BytesIO(tarpath.read_bytes()), branch="b", timestamp=TIMESTAMP,
                            bindings=False)
    finally:
        repo.close()
    assert a.root_tree == b.root_tree and a.checksum != b.checksum  # only the bindings differ
    run("ostree", "init", f"--repo={work / 'theirs'}", "--mode=bare-user")
    theirs = ostree(work / "theirs", "commit", "-b", "a", "--timestamp=2024-01-01 00:00:00 +0000",
                    f"--tree=tar={tarpath}").strip()
    assert a.checksum == theirs


def test_log_agrees_with_ostree_log(work: Path, rootfs: Path) -> None:
    repo = work / "repo"
    ostreepy.init(repo, mode="archive").close()
    made = []
    for i in range(3):
        (rootfs / "usr/etc/counter").write_text(str(i))
        made.append(ostreepy.commit(str(repo), rootfs, branch="os/stable", subject=f"Commit {i}",
                                    metadata={"version": str(i)}, timestamp=TIMESTAMP + i * 86400))
    history = ostreepy.log(repo, "os/stable")
    assert [c.checksum for c in history] == [c.checksum for c in reversed(made)]
    assert [c.parent for c in history] == [made[1].checksum, made[0].checksum, None]
    text = ostree(repo, "log", "os/stable")
    assert re.findall(r"^commit (\w+)$", text, re.M) == [c.checksum for c in history]
    assert re.findall(r"^Version: (.*)$", text, re.M) == [c.version for c in history]
    assert re.findall(r"^    (Commit \d)$", text, re.M) == [c.subject for c in history]
    assert re.findall(r"^Date:  (.*)$", text, re.M) == [
        "2024-01-03 00:00:00 +0000", "2024-01-02 00:00:00 +0000", "2024-01-01 00:00:00 +0000"]
    assert ostreepy.refs(repo) == {"os/stable": made[2].checksum}
    assert ostreepy.show(repo, made[0].checksum[:10]) == made[0]


def test_checkout_matches_ostree_checkout(work: Path, rootfs: Path) -> None:
    repo = work / "repo"
    ostreepy.init(repo, mode="bare-user").close()
    info = ostreepy.commit(repo, rootfs, branch="os/stable", timestamp=TIMESTAMP)
    res = ostreepy.checkout(repo, "os/stable", work / "ours", user_mode=True)
    assert res == ostreepy.CheckoutResult(info.checksum, str(work / "ours"))
    run("ostree", f"--repo={repo}", "checkout", "-U", "os/stable", str(work / "theirs"))
    cmp = filecmp.dircmp(work / "ours", work / "theirs")
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files
    assert (work / "ours/usr/share/big").read_bytes() == (rootfs / "usr/share/big").read_bytes()
    assert os.readlink(work / "ours/usr/lib/hello-link") == "../bin/hello"
    with pytest.raises(ostreepy.OstreeError):
        ostreepy.checkout(repo, "os/stable", work / "ours", user_mode=True)  # exists: no overwrite asked
    ostreepy.checkout(repo, "os/stable", work / "ours", user_mode=True, overwrite="union-files")


def test_fsck_finds_what_ostree_finds_and_prune_frees_what_ostree_would(work: Path, rootfs: Path) -> None:
    repo = work / "repo"
    ostreepy.init(repo, mode="archive").close()
    first = ostreepy.commit(repo, rootfs, branch="os/stable", timestamp=TIMESTAMP)
    (rootfs / "usr/share/big").write_bytes(os.urandom(100_000))
    ostreepy.commit(repo, rootfs, branch="os/stable", timestamp=TIMESTAMP + 1)
    assert ostreepy.fsck(repo).ok
    # prune history deeper than the branch head: the first commit and its big file go
    dry = ostreepy.prune(repo, depth=0, dry_run=True)
    assert ostreepy.log(repo, first.checksum)  # nothing deleted yet
    # the commit, the old big file and the three directories above it
    assert dry.n_objects_pruned == 5
    would = re.search(r"Would delete: (\d+) objects", ostree(repo, "prune", "--refs-only", "--depth=0", "--no-prune"))
    assert would and int(would.group(1)) == dry.n_objects_pruned
    res = ostreepy.prune(repo, depth=0)
    assert (res.n_objects_pruned, res.freed_bytes) == (dry.n_objects_pruned, dry.freed_bytes) and res.freed_bytes > 0
    assert "no errors found" in ostree(repo, "fsck")
    assert "No unreachable objects" in ostree(repo, "prune", "--refs-only", "--depth=0")
    # a corrupt object: ours and ostree's fsck both report it
    obj = next(p for p in (repo / "objects").rglob("*.filez") if p.stat().st_size > 50_000)
    data = bytearray(obj.read_bytes())
    data[-100] ^= 0xFF
    obj.write_bytes(bytes(data))
    result = ostreepy.fsck(repo)
    assert not result.ok and result.problems
    assert run("ostree", f"--repo={repo}", "fsck", check=False).returncode != 0


def test_an_opened_repo_is_used_as_it_is_and_stays_open(work: Path, rootfs: Path) -> None:
    with ostreepy.init(work / "repo") as repo:
        ostreepy.commit(repo, rootfs, branch="x", timestamp=TIMESTAMP)
        assert list(ostreepy.refs(repo)) == ["x"]
        assert repo.read_ref("x") is not None  # still open


def test_prune_drops_the_static_deltas_to_what_it_deleted_as_ostree_does(work: Path, rootfs: Path) -> None:
    """The library's prune, as `ostree prune`: the deltas to a commit it deleted go (and, with
    static_deltas_only, those to the commits named), the others stay; ostree lists what is left."""
    repo = work / "repo"
    ostreepy.init(repo, mode="archive").close()
    first = ostreepy.commit(repo, rootfs, branch="os/stable", timestamp=TIMESTAMP)
    (rootfs / "usr/share/new").write_text("new\n")
    second = ostreepy.commit(repo, rootfs, branch="os/stable", timestamp=TIMESTAMP + 1)
    ostree(repo, "static-delta", "generate", "--empty", f"--to={first.checksum}")
    ostree(repo, "static-delta", "generate", f"--from={first.checksum}", f"--to={second.checksum}")
    ostree(repo, "static-delta", "generate", "--empty", f"--to={second.checksum}")
    assert len(ostree(repo, "static-delta", "list").split()) == 3
    ostreepy.prune(repo, depth=0, dry_run=True)
    assert len(ostree(repo, "static-delta", "list").split()) == 3  # a dry run deletes no delta
    ostreepy.prune(repo, depth=0)  # the first commit goes, and the delta to it
    from ostreepy.remote.deltas.format import parse_delta_name
    left = [parse_delta_name(name) for name in ostree(repo, "static-delta", "list").split()]
    assert sorted(left, key=str) == sorted([(None, second.checksum), (first.checksum, second.checksum)], key=str)
    ostreepy.prune(repo, static_deltas_only=True, delete_commits=[second.checksum])
    assert "(No static deltas)" in ostree(repo, "static-delta", "list")
    assert ostreepy.log(repo, second.checksum)  # the commit itself stays
