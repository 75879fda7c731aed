"""The repository side of ostree's own test scripts (test-basic*, test-libarchive,
test-prune, ... at v2022.7, run by scripts/upstream-tests.sh): each thing they found
missing or different in ostreepy, checked here against Debian's ostree."""

import os
import stat
import subprocess

import pytest

from .conftest import REF, assert_error, assert_ostree_fsck_clean


def _tree(root):
    os.makedirs(root / "a/b")
    (root / "a/f").write_text("hello\n")
    (root / "a/b/r").write_bytes(bytes(range(256)) * 20)
    os.symlink("../f", root / "a/b/l")
    (root / "empty").write_text("")
    (root / "seq").write_text("".join(f"{i}\n" for i in range(3000)))
    return root


@pytest.fixture
def archives(ostree, ostreepy, tmp_path):
    return (ostree.init(tmp_path / "ref", "archive"), ostreepy.init(tmp_path / "py", "archive"))


def _both(ostree, ostreepy, repos, *args, tree=None, branch=REF):
    a = ostree.commit(repos[0], *args, tree=tree, branch=branch)
    b = ostreepy.commit(repos[1], *args, tree=tree, branch=branch)
    assert a == b, f"commit {args} differs from ostree's"
    return a


def test_generate_sizes_as_ostree(ostree, ostreepy, archives, tmp_path):
    """--generate-sizes: the same ostree.sizes (so the same commit) for a directory, a
    ref then a directory (the table starts afresh at each source), a directory then a
    ref (every object of the ref listed again) and a tar; `show --print-sizes` alike."""
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, archives, "--generate-sizes", tree=tree)
    out = [t.run("show", "--print-sizes", REF, repo=r).out for t, r in zip((ostree, ostreepy), archives)]
    assert out[0] == out[1] and "Number of objects (needed/total): 0/9\n" in out[1]
    _both(ostree, ostreepy, archives, "--generate-sizes", f"--tree=ref={REF}", f"--tree=dir={tree}/a", branch="m2")
    _both(ostree, ostreepy, archives, "--generate-sizes", f"--tree=dir={tree}/a", f"--tree=ref={REF}", branch="m3")
    tar = tmp_path / "t.tar.gz"
    subprocess.run(["tar", "-C", tree, "-czf", tar, "."], check=True)
    _both(ostree, ostreepy, archives, "--generate-sizes", f"--tree=tar={tar}", branch="m4")
    # only archive repositories get sizes, as in ostree
    bare = ostreepy.init(tmp_path / "bare", "bare-user")
    ostreepy.commit(bare, "--generate-sizes", tree=tree)
    assert_error(ostreepy.run("show", "--print-sizes", REF, repo=bare, rc=1), "No metadata key ostree.sizes")


def test_tar_pathname_filter_as_ostree(ostree, ostreepy, archives, tmp_path):
    """--tar-pathname-filter=REGEX,REPLACEMENT: every match replaced (g_regex_replace),
    groups in the replacement, hardlink targets translated too; ostree's errors."""
    tree = _tree(tmp_path / "t")
    os.link(tree / "a/f", tree / "a/b/hl")
    tar = tmp_path / "t.tar.gz"
    subprocess.run(["tar", "-C", tree, "-czf", tar, "."], check=True)
    auto = "--tar-autocreate-parents"
    for filt, expect in (("^,foo/", "/foo/a/b/l"), ("b,B", "/a/B/hl"), (r"(a)/(b),\2/x\1\0", "/b/xaa/b/hl"),
                         ("^nosuch/,x/", "/a/b/hl")):
        _both(ostree, ostreepy, archives, auto, f"--tree=tar={tar}", f"--tar-pathname-filter={filt}")
        assert expect in ostreepy.run("ls", "-R", REF, repo=archives[1]).out
    res = ostreepy.run("commit", "-b", "x", f"--tree=tar={tar}", "--tar-pathname-filter=e", repo=archives[1], rc=1)
    assert_error(res, "Missing ',' in --tar-pathname-filter")
    # without autocreated parents: ostree_mutable_tree_walk's error, the first missing name
    res = ostreepy.run("commit", "-b", "x", f"--tree=tar={tar}", "--tar-pathname-filter=^a,n/a",
                       repo=archives[1], rc=1)
    assert_error(res, "No such file or directory: n")
    assert ostree.run("commit", "-b", "x", f"--tree=tar={tar}", "--tar-pathname-filter=^a,n/a",
                      repo=archives[0], rc=1).err == res.err


def _deltas(tool, repo):
    return sorted(tool.run("static-delta", "list", repo=repo).out.split())


def test_prune_static_deltas_as_ostree(ostree, ostreepy, archives, tmp_path):
    """prune --static-deltas-only --delete-commit=C drops the deltas to C and keeps C;
    without --delete-commit it is refused; a plain prune drops the deltas to commits
    it deleted (ostree_repo_prune_static_deltas)."""
    tree = _tree(tmp_path / "t")
    for tool, repo in zip((ostree, ostreepy), archives):
        tool.commit(repo, tree=tree)
        (tree / "new").write_text("x")
        tool.commit(repo, tree=tree, timestamp="2024-01-02 00:00:00 +0000")
        (tree / "new").unlink()
        tip = tool.rev_parse(repo, REF)
        tool.run("static-delta", "generate", REF, repo=repo)
        tool.run("static-delta", "generate", "--empty", f"{REF}^", repo=repo)
        res = tool.run("prune", "--static-deltas-only", "--keep-younger-than=1 week ago", repo=repo, rc=1)
        assert "--static-deltas-only requires --delete-commit" in res.err
        tool.run("prune", "--static-deltas-only", f"--delete-commit={tip}", repo=repo)
        assert len(_deltas(tool, repo)) == 1, f"{tool}: the delta to the tip is not the only one gone"
        assert tool.rev_parse(repo, REF) == tip
        tool.run("static-delta", "generate", REF, repo=repo)
        tool.run("reset", REF, f"{REF}^", repo=repo)
        tool.run("prune", "--refs-only", repo=repo)
        assert len(_deltas(tool, repo)) == 1, f"{tool}: the delta to the pruned commit is still there"
    assert _deltas(ostree, archives[0]) == _deltas(ostreepy, archives[1])


def _speedup_tree(root):
    os.makedirs(root / "baz")
    (root / "baz/cow").write_text("cow\n")
    (root / "baz/cowro").write_text("ro\n")
    os.symlink("cow", root / "baz/l")
    return root


def test_link_checkout_speedup_and_table_output_as_ostree(ostree, ostreepy, tmp_path):
    """--link-checkout-speedup takes a bare-user hardlink checkout's files as their objects
    (owner and xattrs the object's, not the checkout's user.ostreemeta), and
    --table-output counts as ostree's transaction stats do: same lines, same commits."""
    tree = _speedup_tree(tmp_path / "t")
    so = tmp_path / "so"
    so.write_text("=384 /baz/cow\n")
    outs = []
    for tool in (ostree, ostreepy):
        repo = tool.init(tmp_path / f"{tool}-repo", "bare-user")
        tool.commit(repo, "--owner-uid=0", "--owner-gid=0", tree=tree)
        co = tmp_path / f"{tool}-co"
        tool.run("checkout", "-U", "-H", REF, co, repo=repo)
        args = ["commit", "-b", "t2", "--timestamp=2024-01-01", "--table-output", "--link-checkout-speedup"]
        outs.append([tool.run(*args, f"--statoverride={so}", co, repo=repo).out,
                     tool.run(*args, co, repo=repo).out,
                     tool.run(*args, "--owner-uid=7", co, repo=repo).out,
                     # -I (--devino-canonical): a hit is its object whatever --owner-uid says
                     tool.run(*args[:-1], "-I", "--owner-uid=7", co, repo=repo).out])
    assert outs[0] == outs[1]
    assert "Content Cache Hits: 2\n" in outs[1][1] and "Content Written: 1\n" in outs[1][0]
    assert "Content Cache Hits: 2\n" in outs[1][3]


def test_consume_adopts_files_as_ostree(ostree, ostreepy, tmp_path):
    """commit --consume in a bare-user-only repository renames the files into the store
    (adopt_and_commit_regfile: the inode lives on as the object, mode & 0755) and
    removes the source; the commit is ostree's."""
    csums = []
    for tool in (ostree, ostreepy):
        repo = tool.init(tmp_path / f"{tool}-repo", "bare-user-only")
        co = _speedup_tree(tmp_path / f"{tool}-co")
        (co / "eatme").write_text("a file to consume\n")
        os.chmod(co / "eatme", 0o664)
        os.link(co / "eatme", tmp_path / f"{tool}-saved")
        csums.append(tool.commit(repo, "--consume", f"--tree=dir={co}"))
        assert not co.exists()
        saved = os.stat(tmp_path / f"{tool}-saved")
        assert saved.st_nlink == 2 and stat.S_IMODE(saved.st_mode) == 0o644, tool
        assert_ostree_fsck_clean(ostree, repo)
    assert csums[0] == csums[1]


def test_repo_cli_wordings_as_ostree(ostree, ostreepy, tmp_path):
    """What basic-test.sh greps for: `init` ignores extra words, checkout's option
    conflicts, `refs` without refs/remotes, `ls` through a file; checkout
    --disable-cache is taken."""
    tree = _speedup_tree(tmp_path / "t")
    for tool in (ostree, ostreepy):
        repo = tmp_path / f"{tool}-repo"
        tool.run("init", "init", "--mode=archive", repo=repo)
        tool.commit(repo, tree=tree)
        res = tool.run("checkout", "--union-identical", REF, tmp_path / f"{tool}-co", repo=repo, rc=1)
        assert "error: --union-identical requires --require-hardlinks" in res.err, tool
        res = tool.run("checkout", "-H", "-C", REF, tmp_path / f"{tool}-co", repo=repo, rc=1)
        assert "Cannot specify both --require-hardlinks and --force-copy" in res.err, tool
        tool.run("checkout", "--disable-cache", REF, tmp_path / f"{tool}-co", repo=repo)
        res = tool.run("ls", REF, "/baz/cow/notadir", repo=repo, rc=1)
        assert res.err == "error: Inspecting path '/baz/cow/notadir': Not a directory\n", tool
        os.rename(repo / "refs/remotes", repo / "refs/remotes.orig")
        res = tool.run("refs", "--list", repo=repo, rc=1)
        assert res.err == "error: Listing refs: opendir(refs/remotes): No such file or directory\n", tool


def _newc(entries):
    """A cpio newc archive as GNU cpio writes one: (name, mode, ino, nlink, data) each,
    a hardlinked file's data on its last name only."""
    out = b""
    for name, mode, ino, nlink, data in entries + [("TRAILER!!!", 0, 0, 1, b"")]:
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, nlink, 1700000000, len(data), 8, 1, 0, 0, len(raw), 0]
        hdr = b"070701" + b"".join(b"%08X" % f for f in fields) + raw
        out += hdr + b"\0" * (-len(hdr) % 4) + data + b"\0" * (-len(data) % 4)
    return out + b"\0" * (-len(out) % 512)


def test_cpio_archives_as_ostree(ostree, ostreepy, archives, tmp_path):
    """--tree=tar= takes cpio (newc, plain or gzipped, also from stdin) as ostree's
    libarchive does: libarchive's hardlink records, the data GNU cpio puts on a file's
    last name given to all its names (ostree's deferred hardlinks)."""
    import gzip
    d, f, lnk = 0o40755, 0o100644, 0o120777
    cpio = tmp_path / "t.cpio"
    cpio.write_bytes(_newc([
        (".", d, 1, 2, b""), ("usr", d, 2, 2, b""), ("usr/bin", d, 3, 2, b""),
        ("usr/bin/foo", f, 4, 3, b""), ("usr/bin/bar", f, 4, 3, b""),
        ("usr/bin/sl", lnk, 5, 2, b"foo"), ("usr/bin/empty", f, 6, 1, b""),
        ("usr/local", d, 7, 2, b""), ("usr/local/bin", d, 8, 2, b""),
        ("usr/local/bin/baz", f, 4, 3, b"contents\n"), ("usr/local/bin/slhl", lnk, 5, 2, b"foo"),
    ]))
    gz = tmp_path / "t.cpio.gz"
    gz.write_bytes(gzip.compress(cpio.read_bytes()))
    _both(ostree, ostreepy, archives, f"--tree=tar={cpio}")
    ls = ostreepy.run("ls", "-R", REF, repo=archives[1]).out
    assert "-00644 0 0      9 /usr/bin/foo\n" in ls and "/usr/local/bin/slhl -> foo" in ls
    _both(ostree, ostreepy, archives, f"--tree=tar={gz}", "--tar-pathname-filter=bin,sbin", branch="gz")
    outs = [t.run("commit", "-b", "stdin", "--timestamp=2024-01-01", "--tree=tar=-", repo=r,
                  input=gz.read_bytes()).out for t, r in zip((ostree, ostreepy), archives)]
    assert outs[0] == outs[1]


def test_fsck_corruption_wording_as_ostree(ostree, ostreepy, tmp_path):
    """test-fsck-delete.sh: without --delete the corrupt object is the error itself
    (`error: In commits C: ...`); with --delete it is reported, deleted, its commit
    marked partial, and the run ends in `error: Repository corruption encountered`."""
    tree = _speedup_tree(tmp_path / "t")
    for tool in (ostree, ostreepy):
        repo = tool.init(tmp_path / f"{tool}-repo", "archive")
        csum = tool.commit(repo, tree=tree)
        obj = sorted((repo / "objects").rglob("*.filez"))[-1]
        obj.unlink()
        obj.write_text("whoops\n")
        res = tool.run("fsck", repo=repo, rc=1)
        assert res.err.startswith(f"error: In commits {csum}: fsck content object "), (tool, res.err)
        res = tool.run("fsck", "--delete", repo=repo, rc=1)
        lines = res.err.splitlines()
        assert lines[0].startswith(f"In commits {csum}: ") and f"Marking commit as partial: {csum}" in lines, tool
        assert lines[-1] == "error: Repository corruption encountered", tool


def _commits(repo):
    return sorted(p.name for p in (repo / "objects").rglob("*.commit"))


def test_prune_per_branch_as_ostree(ostree, ostreepy, tmp_path):
    """prune --retain-branch-depth=BRANCH=DEPTH and --only-branch=BRANCH (the other refs
    keep their whole history), alone and with --depth, --keep-younger-than and
    --commit-only: the same commits kept, the same summary printed; the same errors."""
    tree = _speedup_tree(tmp_path / "t")
    base = ostree.init(tmp_path / "base", "archive")
    for day in (1, 2, 3):
        for branch in ("stable", "dev"):
            (tree / "n").write_text(f"{branch} {day}")
            ostree.commit(base, tree=tree, branch=branch, timestamp=f"1985-10-0{day} 00:00:00 +0000")
    for branch in ("stable", "dev"):
        (tree / "n").write_text(f"{branch} new")
        ostree.commit(base, tree=tree, branch=branch, timestamp=None)
    variants = [["--depth=0", "--retain-branch-depth=stable=-1"], ["--only-branch=dev", "--depth=0"],
                ["--only-branch=dev", "--only-branch=stable", "--depth=0", "--retain-branch-depth=stable=1"],
                ["--keep-younger-than=1 week ago", "--retain-branch-depth=stable=1"],
                ["--commit-only", "--only-branch=dev", "--depth=1"]]
    for i, args in enumerate(variants):
        kept, outs = [], []
        for tool in (ostree, ostreepy):
            repo = tmp_path / f"{tool}-{i}"
            subprocess.run(["cp", "-a", base, repo], check=True)
            outs.append(tool.run("prune", *args, repo=repo).out)
            kept.append(_commits(repo))
        assert kept[0] == kept[1] and outs[0] == outs[1], args
    for args, msg in ((["--retain-branch-depth=stable=BACON"], "error: Invalid depth BACON"),
                      (["--retain-branch-depth=stable"], "error: Invalid value stable, must specify BRANCH=DEPTH"),
                      (["--only-branch=BACON"], "error: Refspec 'BACON' not found")):
        for tool in (ostree, ostreepy):
            assert tool.run("prune", *args, repo=base, rc=1).err.startswith(msg), (tool, args)


def test_static_delta_bad_names_as_ostree(ostree, ostreepy, archives):
    """static-delta show/delete of a name that is no FROM-TO: _ostree_parse_delta_name's
    errors (test-delta.sh greps `Invalid rev GARBAGE`)."""
    good = "8f595524ff2440b8eec542f45841d80058184dad8aec61591655451cf01ac812"
    for name in ("GARBAGE", f"{good}-x", "a-b-c", good[:-2] + "X2", "x" * 100):
        for verb in ("show", "delete"):
            errs = [t.run("static-delta", verb, name, repo=r, rc=1).err for t, r in zip((ostree, ostreepy), archives)]
            assert errs[0] == errs[1], (verb, name)


def test_union_identical_over_copies_and_bare_user_only_errors_as_ostree(ostree, ostreepy, tmp_path):
    """checkout -U -H --union-identical over a copied (not hardlinked) checkout: an equal
    file is the same object by its checksum (ostree's last resort), a changed one is
    refused as ostree refuses it; bare-user-only's refusal of a setuid file and commit's
    of an empty metadata key in ostree's words (basic-test.sh greps them)."""
    pkgs = []
    for x in (1, 2):
        p = tmp_path / f"pkg{x}"
        os.makedirs(p / "usr/share/licenses")
        (p / f"usr/pkg{x}").write_text(f"binary for pkg{x}\n")
        (p / "usr/share/licenses/COPYING").write_text("this is the GPL\n")
        os.symlink("COPYING", p / "usr/share/licenses/LICENSE")
        pkgs.append(p)
    suid = tmp_path / "suid"
    suid.mkdir()
    (suid / "f").write_text("setuid\n")
    os.chmod(suid / "f", 0o4644)
    for tool in (ostree, ostreepy):
        repo = tool.init(tmp_path / f"{tool}-repo", "bare-user-only")
        for x, p in enumerate(pkgs, 1):
            tool.commit(repo, tree=p, branch=f"p{x}")
        co = tmp_path / f"{tool}-co"
        tool.run("checkout", "--force-copy", "p1", co, repo=repo)
        tool.run("checkout", "-U", "-H", "--union-identical", "p2", co, repo=repo)
        (co / "usr/share/licenses/COPYING").write_text("changed\n")
        res = tool.run("checkout", "-U", "-H", "--union-identical", "p2", co, repo=repo, rc=1)
        assert res.err.startswith("error: Hardlinking ") and res.err.endswith(" to COPYING: File exists\n"), tool
        src = tool.init(tmp_path / f"{tool}-src", "archive")
        tool.commit(src, tree=suid, branch="suid")
        res = tool.run("pull-local", src, "suid", repo=repo, rc=1)
        assert "Content object " in res.err and ": invalid mode 0104644 with bits 04000" in res.err, (tool, res.err)
        res = tool.run("commit", "-b", "x", "--add-metadata-string==FOO", suid, repo=src, rc=1)
        assert res.err == "error: Empty metadata key\n", tool
