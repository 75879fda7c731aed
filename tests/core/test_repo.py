"""The store layer: verified writes, strict reads, refs, config, lock — with ostree as the peer."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time

import pytest

from ostreepy.store.checkout import CheckoutOptions, checkout
from ostreepy.store.commit import (create_commit, write_directory_to_mtree, write_mtree,
                             write_tar_to_mtree)
from ostreepy.errors import (AmbiguousRefError, ChecksumMismatchError, CorruptObjectError, InvalidObjectError,
                             InvalidRefError, ObjectNotFoundError, RefNotFoundError, RepoError, RepoLockedError,
                             TarError, UnsupportedFileTypeError)
from ostreepy.store.lock import EXCLUSIVE
from ostreepy.store.mtree import MutableTree
from ostreepy.store.objects import FileHeader, ObjectType, content_checksum
from ostreepy.store.repo import Repo

MODES = ["archive", "bare", "bare-user", "bare-user-only"]


def ostree(*args, check=True, **kw):
    return subprocess.run(["ostree", *map(str, args)], capture_output=True, text=True, check=check, **kw)


@pytest.fixture(params=MODES)
def repo(request, tmp_path):
    r = Repo.init(str(tmp_path / "repo"), request.param)
    yield r
    r.close()


def _objects(repo):
    return sorted(repo.list_objects())


def _tmp_empty(repo):
    return [n for n in os.listdir(repo.tmp_dir) if n.startswith("tmpobj-")] == []


def _commit_tree(repo, path, **kw):
    with repo.transaction():
        mt = write_directory_to_mtree(repo, str(path), MutableTree(), kw.pop("modifier", None))
        tree, meta = write_mtree(repo, mt)
        c = create_commit(repo, tree, meta, subject="s", timestamp=0, **kw)
        return c


def test_init_matches_ostree_layout(tmp_path):
    for mode in MODES:
        Repo.init(str(tmp_path / mode), mode).close()
        ostree(f"--repo={tmp_path / ('o' + mode)}", "init", f"--mode={mode}")
        ours = open(tmp_path / mode / "config").read()
        theirs = open(tmp_path / ("o" + mode) / "config").read()
        assert ours == theirs
        assert sorted(os.listdir(tmp_path / mode)) == sorted(os.listdir(tmp_path / ("o" + mode)))
        ostree(f"--repo={tmp_path / mode}", "fsck")


def test_wrong_expected_checksum_leaves_nothing(repo):
    header = FileHeader(0, 0, 0o100644)
    with pytest.raises(ChecksumMismatchError):
        repo.write_content_bytes(header, b"data", expected="0" * 64)
    assert _objects(repo) == []
    assert _tmp_empty(repo)
    good = repo.write_content_bytes(header, b"data")
    assert good == content_checksum(header, b"data")
    assert _objects(repo) == [(good, ObjectType.FILE)]


def test_stream_failing_midway_leaves_nothing(repo):
    class Broken(io.RawIOBase):
        def __init__(self):
            self.n = 0

        def readable(self):
            return True

        def read(self, size=-1):
            self.n += 1
            if self.n > 2:
                raise OSError(5, "Input/output error")
            return b"x" * 1000

    with pytest.raises(OSError):
        repo.write_content(FileHeader(0, 0, 0o100644), Broken(), 10_000)
    assert _objects(repo) == []
    assert _tmp_empty(repo)


def test_short_stream_is_refused(repo):
    with pytest.raises(CorruptObjectError):
        repo.write_content(FileHeader(0, 0, 0o100644), io.BytesIO(b"abc"), 10)
    assert _objects(repo) == []


def test_metadata_write_is_validated(repo):
    with pytest.raises(OstreeError_any()):
        repo.write_metadata(ObjectType.DIR_TREE, b"\x01\x02\x03")
    with pytest.raises(ChecksumMismatchError):
        repo.write_metadata(ObjectType.DIR_META, bytes.fromhex("00000000000000000000" "41ed"), expected="1" * 64)
    assert _objects(repo) == []


def OstreeError_any():
    from ostreepy.errors import OstreeError
    return OstreeError


def test_missing_objects_raise(repo):
    with pytest.raises(ObjectNotFoundError):
        repo.load_commit("a" * 64)
    with pytest.raises(ObjectNotFoundError):
        repo.load_file("b" * 64)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_metadata_is_an_error_not_data(repo, tmp_path, damage):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("x")
    c = _commit_tree(repo, src)
    commit = repo.load_commit(c)
    path = repo.object_path(commit.root_tree, ObjectType.DIR_TREE)
    data = open(path, "rb").read()
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data[:-3] if damage == "truncate" else bytes([data[0] ^ 1]) + data[1:])
    with pytest.raises(CorruptObjectError):
        repo.load_dirtree(commit.root_tree)


def test_corrupt_content_is_detected_on_read(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"hello world\n" * 1000)
    c = _commit_tree(repo, src)
    fcsum = repo.load_dirtree(repo.load_commit(c).root_tree).files[0][1]
    path = repo.object_path(fcsum, ObjectType.FILE)
    data = bytearray(open(path, "rb").read())
    data[-5] ^= 0xFF
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data)
    _, stream = repo.load_file(fcsum)
    with pytest.raises(CorruptObjectError):
        while stream.read(4096):
            pass
    # a copying checkout refuses it and leaves no corrupt file behind
    dest = tmp_path / "co"
    with pytest.raises(CorruptObjectError):
        checkout(repo, c, str(dest), CheckoutOptions(force_copy=True))
    assert not (dest / "f").exists()


def test_bare_user_only_refuses_what_it_cannot_store(tmp_path):
    r = Repo.init(str(tmp_path / "r"), "bare-user-only")
    with pytest.raises(InvalidObjectError):
        r.write_content_bytes(FileHeader(0, 0, 0o104755), b"x")
    with pytest.raises(InvalidObjectError):
        r.write_content_bytes(FileHeader(1000, 0, 0o100644), b"x")


def test_devices_and_fifos_are_refused(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "fifo")
    with pytest.raises(UnsupportedFileTypeError, match="Not a regular file or symlink: fifo"):
        _commit_tree(repo, src)


def test_refs(repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    c1 = _commit_tree(repo, src)
    (src / "f").write_text("1")
    c2 = _commit_tree(repo, src, parent=c1)
    repo.set_ref("os/x86_64/stable", c2)
    assert repo.resolve_rev("os/x86_64/stable") == c2
    assert repo.resolve_rev("os/x86_64/stable^") == c1
    assert repo.resolve_rev(c2[:10]) == c2
    with pytest.raises(RefNotFoundError):
        repo.resolve_rev("os/x86_64/stable^^")
    with pytest.raises(RefNotFoundError):
        repo.resolve_rev("nope")
    assert repo.resolve_rev("nope", allow_noent=True) is None
    for bad in ["", "/abs", "a//b", "-x", "a/../b", "sp ace"]:
        with pytest.raises((InvalidRefError,)):
            repo.set_ref(bad, c1)
    repo.set_ref("origin:os/stable", c1)
    assert repo.list_refs() == {"origin:os/stable": c1, "os/x86_64/stable": c2}
    assert repo.list_refs("os", cut_prefix=True) == {"x86_64/stable": c2}
    out = ostree(f"--repo={repo.path}", "refs").stdout.split()
    assert sorted(out) == ["origin:os/stable", "os/x86_64/stable"]
    assert ostree(f"--repo={repo.path}", "rev-parse", "os/x86_64/stable^").stdout.strip() == c1
    repo.set_ref("os/x86_64/stable", None)
    assert repo.read_ref("os/x86_64/stable") is None


def test_ambiguous_prefix(tmp_path):
    r = Repo.init(str(tmp_path / "r"), "bare-user")
    src = tmp_path / "src"
    src.mkdir()
    c = _commit_tree(r, src)
    # a second commit object whose name shares the first 6 characters
    twin = c[:6] + ("0" if c[6] != "0" else "1") + c[7:]
    with open(r.object_path(c, ObjectType.COMMIT), "rb") as f:
        data = f.read()
    with open(r.object_path(twin, ObjectType.COMMIT), "wb") as f:
        f.write(data)
    assert r.resolve_rev(c[:7]) == c
    with pytest.raises(AmbiguousRefError):
        r.resolve_rev(c[:6])
    with pytest.raises(AmbiguousRefError):
        r.resolve_rev(c[:2])


def test_config_keeps_unknown_keys(tmp_path):
    path = tmp_path / "r"
    ostree(f"--repo={path}", "init", "--mode=bare-user")
    ostree(f"--repo={path}", "config", "set", "core.min-free-space-percent", "0")
    ostree(f"--repo={path}", "config", "set", "custom.some-key", "v")
    with open(path / "config", "a") as f:
        f.write("# a comment\n")
    r = Repo.open(str(path))
    r.config.set("core", "fsync", "false")
    r.write_config()
    text = open(path / "config").read()
    assert "# a comment" in text and "some-key=v" in text and "min-free-space-percent=0" in text
    assert ostree(f"--repo={path}", "config", "get", "core.fsync").stdout.strip() == "false"
    assert Repo.open(str(path)).fsync is False


@pytest.mark.parametrize("text", ["", "[core]\nrepo_version=2\n", "[core]\nmode=weird\n", "[core\n", "garbage"])
def test_bad_config_is_a_repo_error(tmp_path, text):
    d = tmp_path / "r"
    d.mkdir()
    (d / "config").write_text(text)
    with pytest.raises(RepoError):
        Repo.open(str(d))


def test_open_missing_repo(tmp_path):
    with pytest.raises(RepoError):
        Repo.open(str(tmp_path / "nope"))


def test_exclusive_lock_blocks_ostree_writer(tmp_path):
    path = tmp_path / "r"
    ostree(f"--repo={path}", "init", "--mode=bare-user")
    ostree(f"--repo={path}", "config", "set", "core.lock-timeout-secs", "1")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    r = Repo.open(str(path))
    with r.locked(EXCLUSIVE):
        res = ostree(f"--repo={path}", "commit", "-b", "x", str(src), check=False)
        assert res.returncode != 0 and "lock" in res.stderr.lower()
    ostree(f"--repo={path}", "commit", "-b", "x", str(src))


def test_shared_lock_held_by_another_process_blocks_prune(tmp_path):
    path = tmp_path / "r"
    Repo.init(str(path), "bare-user").close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from ostreepy.store.repo import Repo; r=Repo.open(sys.argv[1]); r.lock.push('shared');"
         "print('locked', flush=True); time.sleep(30)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = Repo.open(str(path))
        r.lock.timeout = 0.3
        t0 = time.monotonic()
        with pytest.raises(RepoLockedError):
            with r.locked(EXCLUSIVE):
                pass
        assert time.monotonic() - t0 >= 0.3
    finally:
        holder.kill()
        holder.wait()


def _tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _ti(name, **kw):
    ti = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


@pytest.mark.parametrize("name", ["../escape", "a/../../b", "./x/../y"])
def test_tar_path_traversal_refused(repo, name):
    data = _tar_bytes([(_ti("./", type=tarfile.DIRTYPE, mode=0o755), None),
                       (_ti(name, size=1, mode=0o644), b"x")])
    with pytest.raises(TarError):
        with repo.transaction():
            write_tar_to_mtree(repo, io.BytesIO(data), MutableTree())


def test_tar_device_refused(repo):
    data = _tar_bytes([(_ti("./", type=tarfile.DIRTYPE, mode=0o755), None),
                       (_ti("dev", type=tarfile.CHRTYPE, mode=0o644, devmajor=1, devminor=3), None)])
    with pytest.raises(UnsupportedFileTypeError):
        write_tar_to_mtree(repo, io.BytesIO(data), MutableTree())


def test_truncated_tar_refused(repo):
    data = _tar_bytes([(_ti("./", type=tarfile.DIRTYPE, mode=0o755), None),
                       (_ti("big", size=100_000, mode=0o644), os.urandom(100_000))])
    with pytest.raises((TarError, CorruptObjectError)):
        write_tar_to_mtree(repo, io.BytesIO(data[:50_000]), MutableTree())


def test_tar_matches_ostree_and_round_trips_through_export(tmp_path):
    data = _tar_bytes([
        (_ti("./", type=tarfile.DIRTYPE, mode=0o755), None),
        (_ti("./usr", type=tarfile.DIRTYPE, mode=0o755), None),
        (_ti("./usr/bin", type=tarfile.DIRTYPE, mode=0o755), None),
        (_ti("./usr/bin/sh", size=5, mode=0o4755, uid=0, gid=0), b"shell"),
        (_ti("./usr/bin/link", type=tarfile.LNKTYPE, linkname="./usr/bin/sh", mode=0o4755), None),
        (_ti("./usr/bin/sym", type=tarfile.SYMTYPE, linkname="sh", mode=0o777), None),
        (_ti("./usr/owned", size=1, mode=0o640, uid=42, gid=7,
             pax_headers={"SCHILY.xattr.user.b": "2", "SCHILY.xattr.user.a": "1"}), b"o"),
    ])
    tar = tmp_path / "t.tar"
    tar.write_bytes(data)
    for mode in ["archive", "bare", "bare-user"]:
        ours = Repo.init(str(tmp_path / f"ours-{mode}"), mode)
        with ours.transaction():
            mt = write_tar_to_mtree(ours, io.BytesIO(data), MutableTree())
            tree, meta = write_mtree(ours, mt)
            c = create_commit(ours, tree, meta, subject="t", timestamp=0)
        theirs = tmp_path / f"theirs-{mode}"
        ostree(f"--repo={theirs}", "init", f"--mode={mode}")
        expected = ostree(f"--repo={theirs}", "commit", "--orphan", "--no-bindings", "-s", "t",
                          "--timestamp=@0", f"--tree=tar={tar}").stdout.strip()
        assert c == expected, mode
        ostree(f"--repo={ours.path}", "fsck")
    # export and re-import with ostree gives the same root tree
    out = tmp_path / "x.tar"
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path / 'ours-archive'}", "export",
                    f"--output={out}", c], check=True)
    ostree(f"--repo={tmp_path / 'theirs-archive'}", "commit", "-b", "re", f"--tree=tar={out}")
    a = ostree(f"--repo={tmp_path / 'theirs-archive'}", "ls", "-dC", "re", "/").stdout.split()
    b = ostree(f"--repo={tmp_path / 'ours-archive'}", "ls", "-dC", c, "/").stdout.split()
    assert a[4:6] == b[4:6]


def test_parallel_and_serial_commit_agree(tmp_path):
    src = tmp_path / "src"
    for i in range(60):
        d = src / f"d{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(os.urandom(i * 100))
    results = set()
    for threads in (1, 4):
        r = Repo.init(str(tmp_path / f"r{threads}"), "archive")
        with r.transaction():
            mt = write_directory_to_mtree(r, str(src), MutableTree(), threads=threads)
            results.add(write_mtree(r, mt))
    assert len(results) == 1


def test_cli_errors_are_one_line(tmp_path):
    for argv in (["--repo", str(tmp_path / "nope"), "log", "x"],
                 ["log", "x"],
                 ["--repo", str(tmp_path), "rev-parse", "x"]):
        env = dict(os.environ)
        env.pop("OSTREE_REPO", None)
        res = subprocess.run([sys.executable, "-m", "ostreepy", *argv], capture_output=True, text=True, env=env)
        assert res.returncode == 1
        assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr


def test_a_fresh_commit_moves_whole_staging_dirs_into_objects_as_ostree_lays_them_out(tmp_path):
    """A transaction's staging xx/ directories go into a fresh repository's objects/ whole
    (one rename each): the same objects, directory modes and commit as ostree's; a second
    commit into the now filled objects/xx/ moves object by object, and fsck passes."""
    src = tmp_path / "t"
    for i in range(40):
        (src / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 4}" / f"f{i}").write_text(f"file {i}\n")

    def layout(repo):
        top = repo / "objects"
        return sorted((str(p.relative_to(top)), oct(p.stat().st_mode)) for p in top.rglob("*"))

    ostree("init", f"--repo={tmp_path / 'theirs'}", "--mode=bare-user")
    theirs = ostree("commit", f"--repo={tmp_path / 'theirs'}", "-b", "m", "--no-bindings", "--timestamp=@0",
                    str(src)).stdout.strip()
    r = Repo.init(str(tmp_path / "ours"), "bare-user")
    with r.transaction():
        tree, meta = write_mtree(r, write_directory_to_mtree(r, str(src), MutableTree()))
        ours = create_commit(r, tree, meta, timestamp=0)
        r.set_ref("m", ours)
    assert ours == theirs
    assert [n for n, _ in layout(tmp_path / "ours")] == [n for n, _ in layout(tmp_path / "theirs")]
    assert {m for n, m in layout(tmp_path / "ours") if "/" not in n} == \
        {m for n, m in layout(tmp_path / "theirs") if "/" not in n}
    assert not [n for n in os.listdir(tmp_path / "ours" / "tmp") if n.startswith("staging-")]
    (src / "d0" / "new").write_text("another\n")
    with r.transaction():
        tree, meta = write_mtree(r, write_directory_to_mtree(r, str(src), MutableTree()))
        second = create_commit(r, tree, meta, timestamp=0)
    assert r.load_commit(second).root_tree == tree
    assert "no errors found" in ostree("fsck", f"--repo={tmp_path / 'ours'}").stdout
