"""Plain OCI images into the store, against umoci, skopeo, a real registry and ostree."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest

from ostreepy.container.layers import PathRules, import_layer, make_translate
from ostreepy.container.refescape import image_ref_for, layer_ref_for
from ostreepy.container.store import pull_image, query_image
from ostreepy.errors import OstreeError, TarError
from ostreepy.progress import LayerStarted
from ostreepy.store.repo import Repo

from .conftest import Layer, apply_path_rules, ostreepy, run, snapshot, standard_layers, umoci_unpack


def _init(tmp_path, mode="bare") -> Path:
    repo = tmp_path / f"repo-{mode}"
    ostreepy(f"--repo={repo}", "init", f"--mode={mode}")
    return repo


def _pull(repo: Path, imgref: str, *extra) -> str:
    res = ostreepy("container", "image", "pull", repo, imgref, "--insecure-skip-tls-verification", *extra)
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith(("Wrote: ", "No changes in ")), res.stdout
    return last.rsplit(" => ", 1)[1]


def test_pull_matches_umoci_unpack(tmp_path, pushed, image_layout):
    repo = _init(tmp_path)
    imgref = f"ostree-unverified-registry:{pushed['gzip']}"
    res = ostreepy("container", "image", "pull", repo, imgref, "--insecure-skip-tls-verification")
    assert "layers already present: 0; layers needed: 3" in res.stdout
    commit = res.stdout.strip().splitlines()[-1].rsplit(" => ", 1)[1]
    assert res.stdout.strip().splitlines()[-1] == f"Wrote: {imgref} => {commit}"
    # the children of run/ are dropped and said so
    assert "non-ostree compatible file paths: lock: 2" in res.stderr

    co = tmp_path / "co"
    run("ostree", f"--repo={repo}", "checkout", commit, co)
    expected = umoci_unpack(image_layout, "v1", tmp_path / "bundle")
    apply_path_rules(expected)
    ours, theirs = snapshot(co), snapshot(expected)
    assert ours == theirs
    # the things this image is made to exercise really are there
    assert "/usr/etc/removed.conf" not in ours and "/usr/share/opq/a" not in ours
    assert ours["/usr/share/opq/c"] and ours["/usr/bin/tool"][1] == 0o4755
    assert dict(ours["/usr/lib/xattr-file"][4]) == {"user.two": b"2"}
    assert os.stat(co / "usr/lib/libA.so").st_ino == os.stat(co / "usr/lib/libB.so").st_ino
    run("ostree", f"--repo={repo}", "fsck")

    # refs as ostree-ext names them
    refs = run("ostree", f"--repo={repo}", "refs").stdout.split()
    assert image_ref_for(f"docker://{pushed['gzip']}") in refs
    assert sum(r.startswith("ostree/container/blob/sha256_3A_") for r in refs) == 3

    # the merge commit's metadata
    meta = json.loads(run("ostree", f"--repo={repo}", "show", "--print-metadata-key=ostree.manifest", commit)
                      .stdout.strip()[1:-1])
    assert len(meta["layers"]) == 3
    st = query_image(Repo.open(str(repo)), imgref)
    assert st is not None and st.merge_commit == commit and st.version == "1.0"
    assert run("ostree", f"--repo={repo}", "show", commit).stdout.count("2024-01-02 03:04:05 +0000") == 1

    # pulling again changes nothing
    again = ostreepy("container", "image", "pull", repo, imgref, "--insecure-skip-tls-verification")
    assert again.stdout.strip() == f"No changes in {imgref} => {commit}"


def test_zstd_copy_gives_same_tree_without_refetching(tmp_path, pushed):
    repo = _init(tmp_path, "bare-user")
    c1 = _pull(repo, f"ostree-unverified-registry:{pushed['gzip']}")
    events = []
    r = Repo.open(str(repo))
    res = pull_image(r, f"ostree-unverified-registry:{pushed['zstd']}", progress=events.append,
                     options=__import__("ociclient").Options(tls_verify=False))
    assert res.layers_fetched == 0 and res.bytes_fetched == 0
    assert not [e for e in events if isinstance(e, LayerStarted)]
    a = run("ostree", f"--repo={repo}", "ls", "-dC", c1, "/").stdout.split()
    b = run("ostree", f"--repo={repo}", "ls", "-dC", res.merge_commit, "/").stdout.split()
    assert a[4:6] == b[4:6]  # same root dirtree and dirmeta
    assert res.merge_commit != c1  # the manifests differ
    run("ostree", f"--repo={repo}", "fsck")


def test_single_layer_commit_equals_ostree_commit_of_filtered_tar(tmp_path, image_layout):
    repo = _init(tmp_path, "archive")
    commit = _pull(repo, f"ostree-unverified-image:oci:{image_layout}:v1")
    r = Repo.open(str(repo))
    manifest = json.loads(query_image(r, f"oci:{image_layout}:v1").manifest)
    layers = standard_layers()
    for desc, data in zip(manifest["layers"], layers):
        layer_commit = r.read_ref(layer_ref_for(desc["digest"]))
        # the same rules applied by the test's own filter, then ostree itself
        filtered = _filter_tar(data)
        tarpath = tmp_path / "filtered.tar"
        tarpath.write_bytes(filtered)
        oref = tmp_path / "oref"
        run("ostree", f"--repo={oref}", "init", "--mode=archive")
        theirs = run("ostree", f"--repo={oref}", "commit", "--orphan", "--no-bindings", "--tar-autocreate-parents",
                     f"--tree=tar={tarpath}").stdout.strip()
        a = run("ostree", f"--repo={oref}", "ls", "-dC", theirs, "/").stdout.split()
        b = run("ostree", f"--repo={repo}", "ls", "-dC", layer_commit, "/").stdout.split()
        assert a[4:6] == b[4:6], desc["digest"]
        run("rm", "-rf", oref)
    assert commit


def _filter_tar(data: bytes) -> bytes:
    src = tarfile.open(fileobj=io.BytesIO(data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            parts = m.name.strip("/").split("/")
            if parts[0] in ("run", "tmp", "proc", "sys", "dev") and len(parts) > 1:
                continue
            if parts[0] == "etc":
                m.name = "/".join(["usr"] + parts)
            if m.islnk() and m.linkname.split("/")[0] == "etc":
                m.linkname = "usr/" + m.linkname
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    return out.getvalue()


def test_image_verbs(tmp_path, image_layout):
    repo = _init(tmp_path, "bare-user")
    imgref = f"oci:{image_layout}:v1"
    _pull(repo, f"ostree-unverified-image:{imgref}")
    assert ostreepy("container", "image", "list", "--repo", repo).stdout.split() == [imgref]
    meta = json.loads(ostreepy("container", "image", "metadata", "--repo", repo, imgref).stdout)
    assert meta["schemaVersion"] == 2
    cfg = json.loads(ostreepy("container", "image", "metadata", "--repo", repo, "--config", imgref).stdout)
    assert cfg["config"]["Labels"]["containers.bootc"] == "1"
    hist = ostreepy("container", "image", "history", "--repo", repo, imgref).stdout.splitlines()
    assert hist[0].split() == ["ID", "SIZE", "CRCEATED", "BY"] and len(hist) == 4
    assert ostreepy("container", "image", "prune-layers", "--repo", repo).stdout.strip() == "Removed layers: 0"
    out = ostreepy("container", "image", "remove", "--repo", repo, imgref).stdout.strip()
    assert out == "Removed images: 1 layers: 3"
    assert ostreepy("container", "image", "list", "--repo", repo).stdout == ""
    res = ostreepy("container", "image", "remove", "--repo", repo, imgref, check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: Missing images")


def test_corrupt_blob_leaves_no_ref(tmp_path, image_layout):
    bad = tmp_path / "bad"
    run("cp", "-a", image_layout, bad)
    manifest = _manifest(bad, "v1")
    blob = bad / "blobs" / "sha256" / manifest["layers"][2]["digest"].split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x55
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(data))
    repo = _init(tmp_path, "bare-user")
    res = ostreepy("container", "image", "pull", repo, f"ostree-unverified-image:oci:{bad}:v1", check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    refs = run("ostree", f"--repo={repo}", "refs").stdout.split()
    assert layer_ref_for(manifest["layers"][2]["digest"]) not in refs
    assert not [r for r in refs if r.startswith("ostree/container/image/")]


def test_wrong_diffid_is_refused(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    layer = Layer().dir("usr").file("usr/x", b"x").bytes()
    blob = gzip.compress(layer, mtime=0)
    import hashlib
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with pytest.raises(OstreeError, match="diffID"):
        import_layer(repo, io.BytesIO(blob), digest=digest, diff_id="sha256:" + "0" * 64,
                     media_type="application/vnd.oci.image.layer.v1.tar+gzip", size=len(blob),
                     ref=layer_ref_for(digest))
    assert repo.read_ref(layer_ref_for(digest)) is None


def _manifest(layout: Path, tag: str) -> dict:
    index = json.loads((layout / "index.json").read_text())
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return json.loads((layout / "blobs/sha256" / m["digest"].split(":")[1]).read_text())
    raise KeyError(tag)


# ------------------------------------------------------------------ hostile layers


def _ti(name, **kw):
    ti = tarfile.TarInfo(name)
    ti.mtime = 1700000000
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def _import_raw(tmp_path, data: bytes, **kw):
    repo = Repo.init(str(tmp_path / "hostile"), "bare-user")
    import hashlib
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    try:
        return import_layer(repo, io.BytesIO(data), digest=digest, diff_id=digest,
                            media_type="application/vnd.oci.image.layer.v1.tar", size=len(data),
                            ref=layer_ref_for(digest), **kw), repo
    finally:
        # whatever happened, nothing was written outside the repository
        assert not (tmp_path / "escape").exists()
        assert not (tmp_path.parent / "escape").exists()


HOSTILE = {
    "dotdot": lambda: Layer().file("../escape", b"x").bytes(),
    "dotdot-inner": lambda: Layer().dir("usr").file("usr/../../escape", b"x").bytes(),
    "symlink-then-through": lambda: Layer().symlink("usr", "/").file("usr/escape", b"x").bytes(),
    "hardlink-outside": lambda: Layer().dir("usr").hardlink("usr/x", "../../etc/passwd").bytes(),
    "hardlink-missing": lambda: Layer().dir("usr").hardlink("usr/x", "usr/nothere").bytes(),
    "device": lambda: Layer().dir("dev").dir("usr").raw(_ti("usr/null", type=tarfile.CHRTYPE, devmajor=1,
                                                                devminor=3, mode=0o666)).bytes(),
    "fifo": lambda: Layer().dir("usr").raw(_ti("usr/fifo", type=tarfile.FIFOTYPE, mode=0o644)).bytes(),
    "nul-in-pax-name": lambda: Layer().dir("usr").raw(_ti("usr/x", size=1, mode=0o644,
                                                          pax_headers={"path": "usr/a\x00b"}), b"x").bytes(),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_are_refused(tmp_path, case):
    with pytest.raises(OstreeError):
        _import_raw(tmp_path, HOSTILE[case]())


def test_absolute_paths_are_made_relative(tmp_path):
    res, repo = _import_raw(tmp_path, Layer().dir("/usr").file("/usr/abs", b"a").bytes())
    tree = repo.load_dirtree(repo.load_commit(res.commit).root_tree)
    assert [d for d, _, _ in tree.dirs] == ["usr"]


def test_truncated_layer(tmp_path):
    data = Layer().dir("usr").file("usr/big", os.urandom(200_000)).bytes()
    with pytest.raises(OstreeError):
        _import_raw(tmp_path, data[:100_000])


def test_lying_pax_size(tmp_path):
    data = Layer().dir("usr").raw(_ti("usr/x", size=5, mode=0o644, pax_headers={"size": "99999"}),
                                  b"hello").bytes()
    with pytest.raises(OstreeError):
        _import_raw(tmp_path, data)


def _set_header(data: bytearray, hdr: int, field: slice, value: bytes) -> None:
    data[hdr + field.start:hdr + field.stop] = value
    data[hdr + 148:hdr + 156] = b" " * 8
    data[hdr + 148:hdr + 156] = b"%06o\x00 " % sum(data[hdr:hdr + 512])


def test_negative_size(tmp_path):
    data = bytearray(Layer().dir("usr").file("usr/x", b"hello").bytes())
    # the file's header is the second block; base-256 encoded -1 in its size field
    _set_header(data, 512, slice(124, 136), b"\xff" * 12)
    with pytest.raises(OstreeError):
        _import_raw(tmp_path, bytes(data))


def test_corrupt_header_midway_is_not_taken_as_the_end(tmp_path):
    data = bytearray(Layer().dir("usr").file("usr/a", b"a").file("usr/b", b"b").bytes())
    data[512 * 3 + 10] ^= 0xFF  # a byte of the third header's name, checksum left stale
    with pytest.raises(TarError, match="Invalid tar header"):
        _import_raw(tmp_path, bytes(data))


def test_tar_bomb_is_bounded(tmp_path):
    # a tiny compressed blob that expands far beyond what its size allows
    raw = Layer().dir("usr").file("usr/zeros", b"\0" * (40 << 20)).bytes()
    blob = gzip.compress(raw, compresslevel=9, mtime=0)
    repo = Repo.init(str(tmp_path / "bomb"), "bare-user")
    import hashlib
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with pytest.raises(TarError, match="tar bomb"):
        import_layer(repo, io.BytesIO(blob), digest=digest, diff_id=None,
                     media_type="application/vnd.oci.image.layer.v1.tar+gzip", size=len(blob),
                     max_expansion=10, expansion_slack=0, ref=layer_ref_for(digest))
    assert repo.read_ref(layer_ref_for(digest)) is None


def test_umoci_truncated_end_of_archive_is_accepted(tmp_path):
    # umoci 0.4.7 writes layers whose last member has no padding and no end blocks
    data = Layer().dir("usr").file("usr/hi", b"hi\n").bytes()
    cut = 512 * 3 + 3
    res, repo = _import_raw(tmp_path, data[:cut])
    assert res.uncompressed_size == cut


def test_legacy_path_rules():
    filtered = {}
    tr = make_translate(PathRules.legacy(), filtered)
    ti = tarfile.TarInfo("x")
    assert tr("var/lib/x", ti, False) == "usr/share/factory/var/lib/x"
    assert tr("opt/x", ti, False) is None and filtered == {"opt": 1}
    assert tr("etc/a", ti, False) == "usr/etc/a"
    assert tr("etc/a", ti, True) == "usr/etc/a"
    assert tr("run", ti, False) == "run"
    assert tr("run/x/y", ti, False) is None and filtered["x"] == 1


def test_refuses_early_without_space(tmp_path, image_layout):
    mnt = tmp_path / "small"
    mnt.mkdir()
    run("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt)
    try:
        repo = mnt / "repo"
        ostreepy(f"--repo={repo}", "init", "--mode=bare-user")
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        res = ostreepy("container", "image", "pull", repo, f"ostree-unverified-image:oci:{image_layout}:v1",
                       check=False)
        assert res.returncode == 1
        assert "Not enough space" in res.stderr and "Traceback" not in res.stderr
        assert run("ostree", f"--repo={repo}", "refs").stdout == ""
    finally:
        run("umount", mnt)


def test_progress_fd_json_lines(tmp_path, image_layout):
    import subprocess
    import sys
    repo = _init(tmp_path, "bare-user")
    r, w = os.pipe()
    p = subprocess.Popen([sys.executable, "-m", "ostreepy", "container", "image", "pull", str(repo),
                          f"ostree-unverified-image:oci:{image_layout}:v1", "--progress-fd", str(w)],
                         pass_fds=(w,), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        lines = f.read().decode().splitlines()
    assert p.wait() == 0
    events = [json.loads(line) for line in lines]
    assert events[0] == {"type": "Start", "version": "0.1.0"}
    pulling = [e for e in events if e.get("task") == "pulling"]
    assert pulling and pulling[-1]["steps"] == pulling[-1]["stepsTotal"] == 3
    assert pulling[-1]["bytes"] == pulling[-1]["bytesTotal"]
    importing = [e for e in events if e.get("task") == "importing"]
    assert importing[-1]["steps"] == 1 and importing[-1]["subtasks"][0]["completed"] is True
    # canonical JSON: sorted keys, no spaces
    assert all(line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":")) for line in lines)


def test_a_library_import_leaves_the_callers_malloc_arenas_alone(tmp_path, image_layout):
    """glibc's arena cap is process-wide and for good: the command line sets it for an image
    import (its own process), a library caller's import does not (ostreepy._process)."""
    repo = _init(tmp_path, "bare-user")
    code = ("import sys; from ostreepy import _process; from ostreepy.store.repo import Repo; "
            "from ostreepy.container.store import pull_image; "
            "pull_image(Repo.open(sys.argv[1]), 'ostree-unverified-image:oci:' + sys.argv[2] + ':v1'); "
            "print(_process._arenas_limited); _process.claim(); _process.limit_malloc_arenas(); "
            "print(_process._arenas_limited)")
    p = run(sys.executable, "-c", code, str(repo), str(image_layout))
    assert p.stdout.split() == ["False", "True"]
