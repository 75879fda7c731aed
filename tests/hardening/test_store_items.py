"""Regressions for the store hardening issue (items 4, 7, 8, 9, 11), each with the
input that found it, compared with the real ``ostree`` where it can run."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time

import pytest

import ociclient
from ociclient.manifest import Descriptor

from ostreepy.container.tarformat import import_commit_tar, write_commit_tar
from ostreepy.errors import CorruptObjectError, OstreeError
from ostreepy.store.keyfile import KeyFile
from ostreepy.store.repo import Repo

from .conftest import ostree, ostreepy


def _tree(root):
    for rel, data in (("usr/bin/a", b"a\n"), ("usr/lib/deep/b", b"b\n"), ("etc/c", b"c\n")):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    os.chmod(root / "usr/lib/deep", 0o700)


# ------------------------------------------------------------------ item 4


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _without_dirmeta(tar: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as src, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as dst:
        for m in src.getmembers():
            if m.name.endswith(".dirmeta"):
                continue
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    return out.getvalue()


def _push_layout(layout: str, layer_tar: bytes, commit: str) -> None:
    gz = gzip.compress(layer_tar, mtime=0)
    gz_d = Descriptor(media_type="application/vnd.oci.image.layer.v1.tar+gzip", digest=_sha(gz), size=len(gz))
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "config": {"Labels": {"ostree.final-diffid": _sha(layer_tar), "ostree.commit": commit}},
                      "rootfs": {"type": "layers", "diff_ids": [_sha(layer_tar)]}}).encode()
    cfg_d = Descriptor(media_type="application/vnd.oci.image.config.v1+json", digest=_sha(cfg), size=len(cfg))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": cfg_d.to_dict(), "layers": [gz_d.to_dict()]}).encode()
    with ociclient.open_destination(f"oci:{layout}:v1") as dest:
        dest.put_blob(io.BytesIO(gz), gz_d)
        dest.put_blob(io.BytesIO(cfg), cfg_d)
        dest.put_manifest(manifest, "application/vnd.oci.image.manifest.v1+json", tag="v1")


def test_import_without_dirmeta_stays_partial(tmp_path):
    """An ostree-ext tar whose .dirmeta entries were dropped: the import fails, the
    commit stays partial, no ref moves, and both fscks pass on what is left."""
    _tree(tmp_path / "t")
    src = tmp_path / "src"
    ostree(f"--repo={src}", "init", "--mode=archive", check=True)
    ostree(f"--repo={src}", "commit", "-b", "main", "--owner-uid=0", "--owner-gid=0", tmp_path / "t", check=True)
    buf = io.BytesIO()
    with Repo.open(str(src)) as r:
        commit = r.resolve_rev("main")
        write_commit_tar(r, "main", buf)
    bad = _without_dirmeta(buf.getvalue())
    with Repo.init(str(tmp_path / "api"), "bare-user") as r:
        with pytest.raises(CorruptObjectError, match="missing dirmeta"):
            import_commit_tar(r, io.BytesIO(bad))
        assert r.commit_is_partial(commit)
    # the same layer as an image, through the command line
    _push_layout(str(tmp_path / "img"), bad, commit)
    dst = tmp_path / "cli"
    ostreepy(f"--repo={dst}", "init", "--mode=bare-user", check=True)
    res = ostreepy("container", "image", "pull", dst, f"ostree-unverified-image:oci:{tmp_path / 'img'}:v1")
    assert res.returncode != 0 and "missing dirmeta" in res.stderr
    assert ostreepy(f"--repo={dst}", "refs", check=True).stdout == ""
    assert ostree(f"--repo={dst}", "fsck").returncode == 0
    assert ostreepy(f"--repo={dst}", "fsck").returncode == 0
    # the intact layer completes the same commit
    _push_layout(str(tmp_path / "good"), buf.getvalue(), commit)
    ostreepy("container", "image", "pull", dst, f"ostree-unverified-image:oci:{tmp_path / 'good'}:v1", check=True)
    with Repo.open(str(dst)) as r:
        assert not r.commit_is_partial(commit)
    assert ostree(f"--repo={dst}", "fsck").returncode == 0
    ostree(f"--repo={dst}", "checkout", commit, tmp_path / "co", check=True)


# ------------------------------------------------------------------ item 8

TRICKY = ["a\vparent=/x", "x\fy", "a\x1cb\x1dc\x1ed", "n\x85l", "u\u2028v\u2029w", "bare\rcr", "  lead",
          "\t\ttabs", "trail  ", "back\\slash", "new\nline", "semi;colon", "=eq", "#hash", "[grp]", ""]


@pytest.mark.parametrize("value", TRICKY, ids=repr)
def test_config_value_written_and_read_as_glib(tmp_path, value):
    """`config set core.x VALUE` gives byte-identical files with both tools, each
    reads the other's value back unchanged, and the repo stays usable."""
    a, b = tmp_path / "a", tmp_path / "b"
    ostree(f"--repo={a}", "init", "--mode=archive", check=True)
    ostree(f"--repo={b}", "init", "--mode=archive", check=True)
    ostree(f"--repo={a}", "config", "set", "core.x", value, check=True)
    ostreepy(f"--repo={b}", "config", "set", "core.x", value, check=True)
    assert (a / "config").read_bytes() == (b / "config").read_bytes()
    for tool in (ostree, ostreepy):
        got = tool(f"--repo={b}", "config", "get", "core.x", check=True, binary=True).stdout
        assert got == (value + "\n").encode()
    ostreepy(f"--repo={b}", "config", "unset", "core.x", check=True)
    assert ostree(f"--repo={b}", "config", "get", "core.mode", check=True).stdout == "archive-z2\n"


def test_keyfile_lines_split_on_newline_only():
    text = "[core]\r\nmode=bare\nx=a\vb\x1cc\x85d\u2028e\rf\n  y = \t v  \n[core]\nz=1\nx=last\n"
    kf = KeyFile.parse(text)
    assert kf.get("core", "mode") == "bare"
    assert kf.get("core", "y") == "v  "
    assert kf.get("core", "z") == "1"
    assert kf.get("core", "x") == "last"  # the last of repeated keys, as GLib
    assert kf.keys("core") == ["mode", "x", "y", "z", "x"]


def test_keyfile_invalid_escape_is_an_error_on_read(tmp_path):
    r = tmp_path / "r"
    ostree(f"--repo={r}", "init", "--mode=archive", check=True)
    with open(r / "config", "a") as f:
        f.write("bad=x\\qy\n")
    for tool in (ostree, ostreepy):
        res = tool(f"--repo={r}", "config", "get", "core.bad")
        assert res.returncode == 1 and "cannot be interpreted" in res.stderr
        assert tool(f"--repo={r}", "config", "get", "core.mode", check=True).stdout == "archive-z2\n"
    with pytest.raises(OstreeError):
        KeyFile().set("core", "a=b", "v")


# ------------------------------------------------------------------ item 9

_KILLED_TXN = """
import os, sys
from ostreepy.store.repo import Repo
from ostreepy.store.mtree import MutableTree
from ostreepy.store.commit import write_directory_to_mtree, write_mtree, create_commit
repo = Repo.open(sys.argv[1])
with repo.transaction():
    tree, meta = write_mtree(repo, write_directory_to_mtree(repo, sys.argv[2], MutableTree()))
    c = create_commit(repo, tree, meta, subject="s", timestamp=0)
    repo.set_ref("x", c)
    print(c, flush=True)
    os._exit(9)
"""


def _killed_transaction(repo, src, boot=None):
    env = dict(os.environ)
    if boot:
        env["OSTREE_BOOTID"] = boot
    p = subprocess.run([sys.executable, "-c", _KILLED_TXN, str(repo), str(src)], capture_output=True, text=True,
                       env=env)
    assert p.returncode == 9, p.stderr
    return p.stdout.strip()


def _staging(repo):
    return sorted(n for n in os.listdir(repo / "tmp") if n.startswith("staging-"))


def _ostree_commit_blocked(repo, tmp_path, boot):
    """A real `ostree commit` holding its transaction open: it reads its tree from a FIFO."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(["ostree", f"--repo={repo}", "commit", "-b", "peer", f"--tree=tar={fifo}"],
                            env=dict(os.environ, OSTREE_BOOTID=boot), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not _staging(repo) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, fifo


@pytest.mark.parametrize("next_tool", ["ostree", "ostreepy"])
def test_killed_transaction_staging_is_reused_this_boot(tmp_path, next_tool):
    """A transaction killed with its objects staged: the next transaction, of either
    tool, takes the staging directory over, moves its objects in and removes it."""
    _tree(tmp_path / "t")
    repo = tmp_path / "r"
    ostree(f"--repo={repo}", "init", "--mode=bare-user", check=True)
    killed = _killed_transaction(repo, tmp_path / "t")
    left = _staging(repo)
    assert len(left) == 2 and left[1] == left[0] + "-lock"  # the directory and its (free) lock
    tool = ostree if next_tool == "ostree" else ostreepy
    (tmp_path / "u").mkdir()
    (tmp_path / "u/f").write_text("other\n")
    tool(f"--repo={repo}", "commit", "-b", "y", tmp_path / "u", check=True)
    assert _staging(repo) == []
    # the killed transaction's verified objects went in; its ref did not
    assert ostreepy(f"--repo={repo}", "refs", check=True).stdout == "y\n"
    assert ostree(f"--repo={repo}", "fsck", "-a").returncode == 0  # no partial or corrupt object
    assert ostree(f"--repo={repo}", "show", killed).returncode == 0
    ostree(f"--repo={repo}", "checkout", killed, tmp_path / "co", check=True)
    assert (tmp_path / "co/usr/lib/deep/b").read_bytes() == b"b\n"


@pytest.mark.parametrize("next_tool", ["ostree", "ostreepy"])
def test_killed_transaction_of_another_boot_is_removed(tmp_path, next_tool):
    _tree(tmp_path / "t")
    repo = tmp_path / "r"
    ostree(f"--repo={repo}", "init", "--mode=archive", check=True)
    killed = _killed_transaction(repo, tmp_path / "t", boot="0ld-b00t")
    assert _staging(repo)
    tool = ostree if next_tool == "ostree" else ostreepy
    (tmp_path / "u").mkdir()
    tool(f"--repo={repo}", "commit", "-b", "y", tmp_path / "u", check=True)
    assert _staging(repo) == []
    # data of another boot may not have reached the disk: nothing of it is kept
    assert ostree(f"--repo={repo}", "show", killed).returncode == 1
    assert ostree(f"--repo={repo}", "fsck").returncode == 0


def test_peer_live_staging_survives_our_cleanup(tmp_path):
    """A real ostree mid-transaction (another boot id, so that only its lock protects
    it): an ostreepy commit and an explicit cleanup leave its staging alone, and
    the ostree commit then completes."""
    repo = tmp_path / "r"
    ostree(f"--repo={repo}", "init", "--mode=bare-user", check=True)
    proc, fifo = _ostree_commit_blocked(repo, tmp_path, "peer-boot")
    try:
        theirs = _staging(repo)
        assert len(theirs) == 2
        (tmp_path / "u").mkdir()
        (tmp_path / "u/f").write_text("ours\n")
        ostreepy(f"--repo={repo}", "commit", "-b", "ours", tmp_path / "u", check=True)
        with Repo.open(str(repo)) as r:
            r.cleanup_tmp(max_age=-1, keep_current_boot=False)
        assert _staging(repo) == theirs
        (tmp_path / "t").mkdir()
        (tmp_path / "t/a").write_text("peer\n")
        with open(fifo, "wb") as f:
            with tarfile.open(fileobj=f, mode="w|") as t:
                t.add(tmp_path / "t", arcname=".")
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _staging(repo) == []
    assert ostree(f"--repo={repo}", "fsck").returncode == 0
    assert ostreepy(f"--repo={repo}", "refs", check=True).stdout == "ours\npeer\n"


def test_our_live_staging_survives_peer_cleanup(tmp_path):
    """ostreepy mid-transaction with its objects staged; a real `ostree commit` of
    another boot id (which removes every free staging of other boots) runs to the
    end without touching ours; ours then completes."""
    _tree(tmp_path / "t")
    repo = tmp_path / "r"
    ostree(f"--repo={repo}", "init", "--mode=bare-user", check=True)
    from ostreepy.store.commit import create_commit, write_directory_to_mtree, write_mtree
    from ostreepy.store.mtree import MutableTree
    with Repo.open(str(repo)) as r:
        with r.transaction():
            tree, meta = write_mtree(r, write_directory_to_mtree(r, str(tmp_path / "t"), MutableTree()))
            c = create_commit(r, tree, meta, subject="s", timestamp=0)
            r.set_ref("ours", c)
            ours = _staging(repo)
            assert len(ours) == 2
            (tmp_path / "u").mkdir()
            ostree(f"--repo={repo}", "commit", "-b", "peer", tmp_path / "u", check=True,
                   env={"OSTREE_BOOTID": "peer-boot"})
            assert _staging(repo) == ours
    assert _staging(repo) == []
    assert ostree(f"--repo={repo}", "fsck").returncode == 0
    assert ostree(f"--repo={repo}", "refs", check=True).stdout == "ours\npeer\n"


def test_tmp_expiry_and_missing_tmp(tmp_path):
    """Unknown leftovers in tmp/ go once older than core.tmp-expiry-secs, as with
    ostree; a removed tmp/ is made again on open (item 11)."""
    repo = tmp_path / "r"
    ostreepy(f"--repo={repo}", "init", "--mode=archive", check=True)
    old, new = repo / "tmp/tmpobj-1-2-3", repo / "tmp/fresh"
    old.write_text("x")
    new.write_text("y")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    ostreepy(f"--repo={repo}", "config", "set", "core.tmp-expiry-secs", "600", check=True)
    (tmp_path / "u").mkdir()
    ostreepy(f"--repo={repo}", "commit", "-b", "y", tmp_path / "u", check=True)
    assert not old.exists() and new.exists()
    import shutil
    shutil.rmtree(repo / "tmp")
    ostreepy(f"--repo={repo}", "commit", "-b", "z", tmp_path / "u", check=True)
    assert (repo / "tmp/cache").is_dir()
    assert ostree(f"--repo={repo}", "fsck").returncode == 0


# ------------------------------------------------------------------ item 11 (found by ostree's own tests)


def _src(tmp_path):
    src = tmp_path / "src"
    (src / "baz").mkdir(parents=True)
    (src / "d").mkdir()
    (src / "a").write_text("a\n")
    (src / "baz/saucer").write_text("alien\n")
    (src / "d/f").write_text("f\n")
    return src


def test_union_checkout_twice_leaves_no_temp_files(tmp_path, tool):
    src = _src(tmp_path)
    repo = tmp_path / "r"
    tool(f"--repo={repo}", "init", "--mode=bare-user-only", check=True)
    tool(f"--repo={repo}", "commit", "-b", "t", "--canonical-permissions", src, check=True)
    for _ in range(2):
        tool(f"--repo={repo}", "checkout", "-U", "--union", "t", tmp_path / "co", check=True)
    names = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "co")
                   for d, _, fs in os.walk(tmp_path / "co") for f in fs)
    assert names == ["a", "baz/saucer", "d/f"]


def test_ref_deleted_then_its_directory_name_created(tmp_path, tool):
    src = _src(tmp_path)
    repo = tmp_path / "r"
    tool(f"--repo={repo}", "init", "--mode=archive", check=True)
    tool(f"--repo={repo}", "commit", "-b", "ctest", src, check=True)
    tool(f"--repo={repo}", "refs", "ctest", "--create=foo/ctest", check=True)
    tool(f"--repo={repo}", "refs", "foo/ctest", "--delete", check=True)
    tool(f"--repo={repo}", "refs", "ctest", "--create=foo", check=True)
    assert tool(f"--repo={repo}", "refs", check=True).stdout == "ctest\nfoo\n"
    # a directory that still holds refs is a conflict, for both
    tool(f"--repo={repo}", "refs", "ctest", "--create=bar/x", check=True)
    res = tool(f"--repo={repo}", "refs", "ctest", "--create=bar")
    assert res.returncode == 1 and "Conflict" in res.stderr
    assert tool(f"--repo={repo}", "rev-parse", "bar/x").returncode == 0


def test_commit_tree_ref_applies_owner(tmp_path):
    src = _src(tmp_path)
    out = {}
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        repo = tmp_path / name
        tool(f"--repo={repo}", "init", "--mode=bare-user", check=True)
        tool(f"--repo={repo}", "commit", "-b", "t", "--timestamp=2020-01-01", src, check=True)
        out[name] = tool(f"--repo={repo}", "commit", "-b", "t2", "--tree=ref=t", "--owner-uid=1", "--owner-gid=2",
                         "--timestamp=2020-01-01", check=True).stdout
        listing = ostree(f"--repo={repo}", "ls", "-R", "t2", check=True).stdout
        assert all(line.split()[1:3] == ["1", "2"] for line in listing.splitlines()), listing
        assert ostree(f"--repo={repo}", "fsck").returncode == 0
    assert out["ostree"] == out["ostreepy"]  # the very same commit


@pytest.mark.parametrize("value,message", [
    ("invalid", "Failed to convert SOURCE_DATE_EPOCH"),
    ("", "Failed to convert SOURCE_DATE_EPOCH"),
    ("12345678901234567890", "Numerical result out of range"),
    ("-9223372036854775809", "Numerical result out of range"),
    ("  42junk", None),
    ("+7", None),
])
def test_source_date_epoch(tmp_path, value, message):
    src = _src(tmp_path)
    results = {}
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        repo = tmp_path / name
        tool(f"--repo={repo}", "init", "--mode=archive", check=True)
        res = tool(f"--repo={repo}", "commit", "-b", "t", src, env={"SOURCE_DATE_EPOCH": value})
        if message is None:
            assert res.returncode == 0, res.stderr
        else:
            assert res.returncode == 1 and message in res.stderr and "Traceback" not in res.stderr
        results[name] = res.stdout
    assert results["ostree"] == results["ostreepy"]


def test_init_fs_epoch_2(tmp_path):
    """ostree 2022.7 predates --epoch: upstream's rule (ostree/ made 0700, only boot/
    beside it) is checked by itself, and the result is a sysroot ostree accepts."""
    root = tmp_path / "sysroot"
    root.mkdir()
    ostreepy("admin", "init-fs", "--epoch=2", root, check=True)
    assert sorted(os.listdir(root)) == ["boot", "ostree"]
    assert os.stat(root / "ostree").st_mode & 0o7777 == 0o700
    assert ostree(f"--repo={root / 'ostree/repo'}", "fsck").returncode == 0
    assert ostree("admin", "status", f"--sysroot={root}").returncode == 0
    res = ostreepy("admin", "init-fs", "--epoch=-1", tmp_path)
    assert res.returncode == 1 and "Invalid epoch: -1" in res.stderr


def test_checkout_file_subpath_into_current_directory(tmp_path, tool):
    src = _src(tmp_path)
    repo = tmp_path / "r"
    tool(f"--repo={repo}", "init", "--mode=archive", check=True)
    tool(f"--repo={repo}", "commit", "-b", "test2", src, check=True)
    here = tmp_path / "t"
    here.mkdir()
    tool(f"--repo={repo}", "checkout", "--subpath", "/baz/saucer", "test2", ".", check=True, cwd=str(here))
    assert (here / "saucer").read_text() == "alien\n"
    # only the file itself may clash
    res = tool(f"--repo={repo}", "checkout", "--subpath", "/baz/saucer", "test2", ".", cwd=str(here))
    assert res.returncode == 1
    tool(f"--repo={repo}", "checkout", "--union", "--subpath", "/baz/saucer", "test2", ".", check=True,
         cwd=str(here))
    # a directory subpath into an existing directory is refused, as by ostree
    res = tool(f"--repo={repo}", "checkout", "--subpath", "/baz", "test2", ".", cwd=str(here))
    assert res.returncode == 1 and "File exists" in res.stderr


def test_refs_collections(tmp_path, tool):
    src = _src(tmp_path)
    repo = tmp_path / "r"
    tool(f"--repo={repo}", "init", "--mode=archive", "--collection-id=org.example.Os", check=True)
    tool(f"--repo={repo}", "commit", "-b", "C", src, check=True)
    assert tool(f"--repo={repo}", "refs", "--collections", check=True).stdout == "(org.example.Os, C)\n"
    res = tool(f"--repo={repo}", "refs", "--collections", "--delete", "C")
    assert res.returncode == 1 and "Invalid collection ID C" in res.stderr
    assert tool(f"--repo={repo}", "refs", check=True).stdout == "C\n"
    tool(f"--repo={repo}", "refs", "--collections", "--create=org.other.Id:m", "C", check=True)
    out = tool(f"--repo={repo}", "refs", "--collections", check=True).stdout
    # (ostree 2022.7 prints them in hash order)
    assert sorted(out.splitlines()) == ["(org.example.Os, C)", "(org.other.Id, m)"]
    tool(f"--repo={repo}", "refs", "--collections", "--delete", "org.example.Os", check=True)
    assert tool(f"--repo={repo}", "refs", "--collections", check=True).stdout == "(org.other.Id, m)\n"
    assert tool(f"--repo={repo}", "refs", check=True).stdout == ""


# ------------------------------------------------------------------ item 7 (the ostreepy side)


def test_long_ref_name_is_an_ostree_error(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), "archive")
    c = "a" * 64
    for name in ("x" * 300, "os/" + "y" * 256):
        with pytest.raises(OstreeError):
            repo.set_ref(name, c)
        with pytest.raises(OstreeError):
            with repo.transaction():
                repo.set_ref(name, c)
        with pytest.raises(OstreeError):
            repo.read_ref(name)
        with pytest.raises(OstreeError):
            repo.resolve_rev(name)
    res = ostreepy(f"--repo={tmp_path / 'r'}", "refs", "--create=" + "x" * 300, "a" * 64)
    assert res.returncode == 1 and "Traceback" not in res.stderr


def test_parent_cycles_are_a_repo_error(tmp_path):
    """(ostree itself recurses until it runs out of file descriptors here.)"""
    from ostreepy.errors import RepoError
    a, b = tmp_path / "a", tmp_path / "b"
    for r in (a, b):
        ostree(f"--repo={r}", "init", "--mode=archive", check=True)

    def set_parent(repo, parent):
        kf = KeyFile.parse((repo / "config").read_text())
        if parent is None:
            kf.remove_key("core", "parent")
        else:
            kf.set("core", "parent", str(parent))
        (repo / "config").write_text(kf.to_text())

    set_parent(a, a)
    with pytest.raises(RepoError, match="cycle"):
        Repo.open(str(a))
    res = ostreepy(f"--repo={a}", "refs")
    assert res.returncode == 1 and "cycle" in res.stderr and "Traceback" not in res.stderr
    set_parent(a, b)
    set_parent(b, str(a) + "/.")
    with pytest.raises(RepoError, match="cycle"):
        Repo.open(str(a))
    # a chain without a cycle still opens
    set_parent(b, None)
    with Repo.open(str(a)) as r:
        assert r.parent is not None and r.parent.path == str(b)


# ------------------------------------------------------------------ found by the fuzz targets


def test_file_header_rdev_round_trips():
    """file_header_parse: rdev was read little-endian but written big-endian."""
    from ostreepy.store.objects import FileHeader
    data = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x00\x01\x00\x11"
    h = FileHeader.parse(data)
    assert h.rdev == 1 and h.serialize() == data and FileHeader.parse(h.serialize()) == h
    z = h.serialize_zlib(5)
    assert FileHeader.parse_zlib(z) == (h, 5)


def test_keyfile_carriage_returns_survive_a_save():
    """keyfile_parse: a CR left at a line's end was taken for a CRLF once saved."""
    for text in ("\r\r", "[g]\nk=v\r\r\n", "[g]\n#c\r\r\n"):
        kf = KeyFile.parse(text)
        out = kf.to_text()
        assert KeyFile.parse(out).to_text() == out
    assert KeyFile.parse(KeyFile.parse("[g]\nk=v\r\r\n").to_text()).get("g", "k") == "v\r"
    with pytest.raises(OstreeError):
        KeyFile().set("g", "k", "a\0b")
