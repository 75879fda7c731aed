"""Regressions for the store hardening issue (items 4, 7, 8, 9, 11), each with the
input that found it, compared with the real ``ostree`` where it can run."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

import ociclient
from ociclient.manifest import Descriptor

from ostreepy.container.tarformat import import_commit_tar, write_commit_tar
from ostreepy.errors import CorruptObjectError, OstreeError
from ostreepy.store.keyfile import KeyFile
from ostreepy.store.objects import ObjectType
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
