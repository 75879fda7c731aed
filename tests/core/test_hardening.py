"""Hostile or odd repository contents get our own errors (or ostree's behaviour), never a
traceback or silent acceptance."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest

from ostreepy.store.commit import create_commit, write_mtree, write_tar_to_mtree
from ostreepy.container.store import _created_timestamp
from ostreepy.errors import OstreeError
from ostreepy.store.gvariant import Variant
from ostreepy.store.mtree import MutableTree
from ostreepy.store.objects import Commit, ObjectType
from ostreepy.store.repo import Repo


def ostreepy(*argv, check=False):
    return subprocess.run([sys.executable, "-m", "ostreepy", *map(str, argv)], capture_output=True, text=True,
                          check=check)


def test_rewritten_bare_user_symlink_is_caught_by_fsck(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("target1", src / "link")
    repo = tmp_path / "r"
    ostreepy(f"--repo={repo}", "init", "--mode=bare-user", check=True)
    ostreepy(f"--repo={repo}", "commit", "-b", "main", src, check=True)
    for dirpath, _, files in os.walk(repo / "objects"):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                if fh.read(7) == b"target1":
                    with open(p, "wb") as out:
                        out.write(b"evil/../../etc\0")
    res = ostreepy(f"--repo={repo}", "fsck")
    assert res.returncode == 1 and "Corrupted file object" in res.stderr
    res = ostreepy(f"--repo={repo}", "checkout", "main", tmp_path / "co")
    assert res.returncode == 1 and not os.path.islink(tmp_path / "co" / "link")
    # -U takes the hardlinking fast path, which makes symlinks itself: the same refusal
    res_u = ostreepy(f"--repo={repo}", "checkout", "-U", "main", tmp_path / "co-u")
    assert res_u.returncode == 1 and not os.path.islink(tmp_path / "co-u" / "link")
    assert res_u.stderr == res.stderr


def test_deeply_nested_metadata_type_is_an_error_not_a_crash(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), "archive")
    data = bytearray(Commit("1" * 64, "2" * 64, metadata={"x": Variant("s", "y")}).serialize())
    # swap the variant's type string "s" for a deeply nested one, then re-frame by hand:
    # the reader must refuse it with its own error
    from ostreepy.store import gvariant
    raw = gvariant.serialize("a{sv}", {"x": Variant("s", "y")})
    evil = raw.replace(b"\x00s", b"\x00" + b"a" * 1500 + b"s")
    with pytest.raises(OstreeError):
        gvariant.deserialize("a{sv}", evil)
    del data, repo


def _tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, payload in entries:
            tf.addfile(ti, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def test_owner_out_of_range_in_tar(tmp_path):
    ti = tarfile.TarInfo("f")
    ti.size = 1
    ti.pax_headers = {"uid": str(2 ** 40)}
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    with pytest.raises(OstreeError, match="owner"):
        write_tar_to_mtree(repo, io.BytesIO(_tar([(ti, b"x")])), MutableTree(), autocreate_parents=True)


def test_non_utf8_name_in_tar(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tf:
        ti = tarfile.TarInfo("caf\xe9")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"x"))
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    with pytest.raises(OstreeError, match="UTF-8"):
        write_tar_to_mtree(repo, io.BytesIO(buf.getvalue()), MutableTree(), autocreate_parents=True)


def test_prune_skips_what_a_partial_commit_lacks(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("x")
    repo = tmp_path / "r"
    ostreepy(f"--repo={repo}", "init", "--mode=archive", check=True)
    c = ostreepy(f"--repo={repo}", "commit", "-b", "main", src, check=True).stdout.strip()
    r = Repo.open(str(repo))
    tree = r.load_dirtree(r.load_commit(c).root_tree)
    os.unlink(r.object_path(tree.dirs[0][1], ObjectType.DIR_TREE))
    r.mark_commit_partial(c, True)
    ours = ostreepy(f"--repo={repo}", "prune", "--no-prune")
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run(["ostree", f"--repo={repo}", "prune", "--no-prune"], capture_output=True, text=True)
    assert ours.stdout == theirs.stdout


def test_image_created_before_1970_wraps_like_ostree_ext(tmp_path):
    ts = _created_timestamp({}, {"created": "0001-01-01T00:00:00Z"})
    assert ts == (-62135596800) & 0xFFFFFFFFFFFFFFFF
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    with repo.transaction():
        mt = write_tar_to_mtree(repo, io.BytesIO(_tar([])), MutableTree(), autocreate_parents=True)
        tree, meta = write_mtree(repo, mt)
        create_commit(repo, tree, meta, timestamp=ts)
    assert _created_timestamp({}, {"created": 12345}) is None


def test_bad_numbers_in_config_are_repo_errors(tmp_path):
    repo = tmp_path / "r"
    ostreepy(f"--repo={repo}", "init", "--mode=archive", check=True)
    with open(repo / "config", "a") as f:
        f.write("[archive]\nzlib-level=fast\n")
    res = ostreepy(f"--repo={repo}", "refs")
    assert res.returncode == 1 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr


def test_checksums_and_refs_with_a_trailing_newline_are_invalid():
    from ostreepy.store.objects import is_checksum
    from ostreepy.store.refs import validate_ref
    assert not is_checksum("a" * 64 + "\n")
    with pytest.raises(OstreeError):
        validate_ref("main\n")


def test_very_deep_tree(tmp_path):
    ti = tarfile.TarInfo("d/" * 1200 + "f")
    ti.size = 1
    tar = tmp_path / "deep.tar"
    tar.write_bytes(_tar([(ti, b"x")]))
    repo = tmp_path / "r"
    ostreepy(f"--repo={repo}", "init", "--mode=bare-user", check=True)
    ours = ostreepy(f"--repo={repo}", "commit", "--orphan", "--tar-autocreate-parents", "--timestamp=@0",
                    f"--tree=tar={tar}")
    assert ours.returncode == 0, ours.stderr[-500:]
    oref = tmp_path / "o"
    subprocess.run(["ostree", f"--repo={oref}", "init", "--mode=bare-user"], check=True)
    theirs = subprocess.run(["ostree", f"--repo={oref}", "commit", "--orphan", "--tar-autocreate-parents",
                             "--timestamp=@0", f"--tree=tar={tar}"], capture_output=True, text=True, check=True)
    assert ours.stdout == theirs.stdout
    res = ostreepy(f"--repo={repo}", "checkout", "-U", ours.stdout.strip(), tmp_path / "co")
    assert res.returncode == 0, res.stderr[-500:]
    assert (tmp_path / "co" / ("d/" * 1200 + "f")).read_bytes() == b"x"
    # Python's rmtree (pytest's tmp_path cleanup) recurses per level; rm does not
    subprocess.run(["rm", "-rf", str(tmp_path / "co")], check=True)


# issue 14, item 3: a prefix that selects every ref must not reach a delete
def _repo_with_main(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    repo = tmp_path / "r"
    ostreepy(f"--repo={repo}", "init", "--mode=archive", check=True)
    ostreepy(f"--repo={repo}", "commit", "-b", "main", src, check=True)
    return repo


@pytest.mark.parametrize("prefix", ["", "/", "//"])
def test_refs_delete_refuses_empty_and_root_prefix(tmp_path, prefix):
    repo = _repo_with_main(tmp_path)
    ostreepy(f"--repo={repo}", "refs", "main", "--create=other/x", check=True)
    p = ostreepy(f"--repo={repo}", "refs", "--delete", prefix)
    assert p.returncode == 1
    assert p.stderr == f"error: Listing refs: Invalid refspec {prefix}\n"
    # a bad prefix among good ones deletes nothing either
    p = ostreepy(f"--repo={repo}", "refs", "--delete", "other", prefix)
    assert p.returncode == 1
    assert ostreepy(f"--repo={repo}", "refs", check=True).stdout == "main\nother/x\n"
    # ostree refuses the same prefixes the same way
    p = subprocess.run(["ostree", f"--repo={repo}", "refs", "--delete", prefix], capture_output=True, text=True)
    assert p.returncode == 1 and "Invalid refspec" in p.stderr
    assert ostreepy(f"--repo={repo}", "refs", check=True).stdout == "main\nother/x\n"


@pytest.mark.parametrize("prefix", ["", "/"])
def test_list_refs_api_refuses_empty_prefix(tmp_path, prefix):
    repo = Repo.init(str(tmp_path / "r"), "archive")
    with pytest.raises(OstreeError, match="Invalid refspec"):
        repo.list_refs(prefix)
    assert repo.list_refs(None) == {}


def test_refs_create_empty_name_is_refused_not_a_listing(tmp_path):
    repo = _repo_with_main(tmp_path)
    p = ostreepy(f"--repo={repo}", "refs", "main", "--create", "")
    assert p.returncode == 1 and p.stdout == ""
    assert "Invalid refspec" in p.stderr
    p = ostreepy(f"--repo={repo}", "refs", "--create", "x")
    assert p.returncode == 1 and "You must specify a revision" in p.stderr
    assert ostreepy(f"--repo={repo}", "refs", check=True).stdout == "main\n"


@pytest.mark.parametrize("body,message", [
    (b"", "Corrupted commit object"), (b"\x00" * 7, "Corrupted commit object"),
    (b"garbage that is no commit at all", "Corrupted commit object"), (bytes(range(256)), "Corrupted commit object"),
    # a commit's framing whose root dirtree checksum is 31 bytes long: Commit.parse's own words
    (None, "Invalid checksum of length 31 expected 32"),
])
@pytest.mark.parametrize("flags", [["-H"], ["--composefs-noverity"]])
def test_a_commit_framed_wrongly_is_refused_by_the_light_checkout(tmp_path, body, message, flags):
    """The command line's checkout reads only a commit's root through its framing
    (objects.commit_root): a commit object that hashes to its name but is not framed as a commit
    (or whose root checksums are not 32 bytes) is refused as Commit.parse refuses it, with
    nothing made at the destination."""
    import hashlib
    from ostreepy.store import gvariant
    from ostreepy.store.objects import COMMIT_TYPE, commit_root
    if body is None:
        body = gvariant.serialize(COMMIT_TYPE, ({}, b"", [], "s", "b", 0, b"\x01" * 31, b"\x02" * 32))
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        csum = hashlib.sha256(body).hexdigest()
        path = r.object_path(csum, ObjectType.COMMIT)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)
        r.set_ref("bad", csum)
    with pytest.raises(OstreeError, match=message):
        commit_root(body)
    with pytest.raises(OstreeError, match=message):
        Commit.parse(body)
    p = ostreepy(f"--repo={tmp_path}/r", "checkout", *flags, "bad", tmp_path / "co")
    assert p.returncode == 1 and p.stderr.startswith(f"error: {message}"), p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "co").exists()


def test_commit_root_is_the_parsed_commits(tmp_path):
    from ostreepy.store.objects import commit_links, commit_root
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("f\n")
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "init"], check=True)
    for _ in range(2):  # the second with a parent
        subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "commit", "-b", "m", "-s", "s",
                        "--add-metadata-string=version=1", str(src)], check=True, capture_output=True)
    with Repo.open(str(tmp_path / "r")) as r:
        csum = r.resolve_rev("m")
        data = r.load_metadata(ObjectType.COMMIT, csum)
        c = Commit.parse(data)
        assert commit_root(data) == (c.root_tree, c.root_meta)
        # and the links a walk reads (Repo.traverse_commit, prune's --keep-younger-than)
        assert commit_links(data) == (c.parent, c.timestamp, c.root_tree, c.root_meta) and c.parent
