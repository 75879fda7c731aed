"""What ostree's own test scripts (tests/*.sh at v2022.7, run by scripts/upstream-tests.sh)
found missing or different in ostreepy's command line, each checked here against the
real ostree so the project's suite guards it without the upstream checkout."""

import os
import stat

import pytest

from .conftest import REF, TIMESTAMP, assert_error


def _tree(root, kernels=("5.1",)):
    for k in kernels:
        os.makedirs(root / "usr/lib/modules" / k, exist_ok=True)
        (root / "usr/lib/modules" / k / "vmlinuz").write_text("kernel " + k)
    os.makedirs(root / "usr/bin", exist_ok=True)
    (root / "usr/bin/sh").write_text("a shell")
    os.chmod(root / "usr/bin/sh", 0o755)
    (root / "usr/bin/empty").write_text("")
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/conf").write_text("x")
    return root


@pytest.fixture
def repos(ostree, ostreepy, tmp_path):
    return (ostree.init(tmp_path / "ref", "archive"), ostreepy.init(tmp_path / "py", "archive"))


def _both(ostree, ostreepy, repos, *args, tree=None, **kw):
    a = ostree.commit(repos[0], *args, tree=tree, **kw)
    b = ostreepy.commit(repos[1], *args, tree=tree, **kw)
    assert a == b, f"commit {args} differs from ostree's"
    return a


def test_commit_bootable_and_its_errors(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, repos, "--bootable", tree=tree)
    for key in ("ostree.bootable", "ostree.linux"):
        assert (ostreepy.run("show", "-B", f"--print-metadata-key={key}", REF, repo=repos[1]).out
                == ostree.run("show", "-B", f"--print-metadata-key={key}", REF, repo=repos[0]).out)
    two = _tree(tmp_path / "two", kernels=("5.1", "6.0"))
    res = ostreepy.run("commit", "-b", "x", "--bootable", two, repo=repos[1], rc=1)
    assert_error(res, "Multiple kernels found in /usr/lib/modules")
    (tmp_path / "none").mkdir()
    res = ostreepy.run("commit", "-b", "x", "--bootable", tmp_path / "none", repo=repos[1], rc=1)
    assert_error(res, "usr/lib/modules")
    assert "x" not in ostreepy.run("refs", repo=repos[1]).out.split()


def test_commit_filters_as_ostree(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    so = tmp_path / "statoverride"
    so.write_text("+2048 /usr/bin/sh\n=420 /etc/conf\n")
    skip = tmp_path / "skip"
    skip.write_text("/usr/bin/empty\n/etc\n")
    _both(ostree, ostreepy, repos, f"--statoverride={so}", "--mode-ro-executables", f"--skip-list={skip}", tree=tree)
    ls = ostreepy.run("ls", "-R", REF, repo=repos[1]).out
    assert ls == ostree.run("ls", "-R", REF, repo=repos[0]).out
    assert "-04555 0 0      7 /usr/bin/sh" in ls and "/etc" not in ls
    skip.write_text("/nonexistent\n")
    before = ostreepy.rev_parse(repos[1], REF)
    res = ostreepy.run("commit", "-b", REF, f"--skip-list={skip}", tree, repo=repos[1], rc=1)
    assert_error(res, "Unmatched skip-list paths", "Unmatched skip-list path: /nonexistent")
    assert ostreepy.rev_parse(repos[1], REF) == before, "a refused commit moved the ref"


def test_commit_body_file_detached_metadata_base_consume(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    body = tmp_path / "body"
    body.write_text("from a file\n")
    _both(ostree, ostreepy, repos, "-F", body, "--add-detached-metadata-string=SIG=HANCOCK", tree=tree)
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        assert tool.run("show", "--print-detached-metadata-key=SIG", REF, repo=repo).out == "'HANCOCK'\n"
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "added").write_text("y")
    _both(ostree, ostreepy, repos, f"--base={REF}", tree=extra)
    (tmp_path / "eaten").mkdir()
    (tmp_path / "eaten/f").write_text("z")
    ostreepy.run("commit", "-b", "eat", "--consume", "--link-checkout-speedup", f"--tree=dir={tmp_path / 'eaten'}",
                 repo=repos[1])
    assert not (tmp_path / "eaten").exists()


def test_checkout_skip_list_and_allow_noent(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, repos, tree=tree)
    skip = tmp_path / "skip"
    skip.write_text("/usr/bin/sh\n/etc\n")
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        tool.run("checkout", "-U", f"--skip-list={skip}", REF, tmp_path / f"co-{tool}", repo=repo)
        tool.run("checkout", "-U", "--allow-noent", "--subpath=/enoent", REF, tmp_path / f"none-{tool}", repo=repo)
    assert sorted(os.listdir(tmp_path / "co-ostreepy/usr/bin")) == sorted(os.listdir(tmp_path / "co-ostree/usr/bin"))
    assert not (tmp_path / "co-ostreepy/etc").exists()
    assert not (tmp_path / "none-ostreepy").exists() and not (tmp_path / "none-ostree").exists()


def test_show_metadata_byteswapped_unless_B(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, repos, "--add-metadata=NUM=uint64 42", "--add-metadata=I=int32 -5", tree=tree)
    for args in (["--print-metadata-key=NUM"], ["-B", "--print-metadata-key=NUM"], ["--print-metadata-key=I"]):
        assert (ostreepy.run("show", *args, REF, repo=repos[1]).out
                == ostree.run("show", *args, REF, repo=repos[0]).out)
    assert ostreepy.run("show", "-B", "--print-metadata-key=NUM", REF, repo=repos[1]).out == "uint64 42\n"


def test_options_anywhere_and_repo_in_cwd(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, repos, "--add-metadata-string=K=V", tree=tree)
    # options before the verb (GLib parses them anywhere)
    argv = [f"--repo={repos[1]}", "--print-metadata-key=K", "show", REF]
    assert ostreepy.run(*argv).out == ostree.run(f"--repo={repos[0]}", *argv[1:]).out == "'V'\n"
    # options between positionals
    ostreepy.run("checkout", "-U", REF, "--union", tmp_path / "u", repo=repos[1])
    ostreepy.run("checkout", "-U", REF, "--union", tmp_path / "u", repo=repos[1])
    assert (tmp_path / "u/usr/bin/sh").exists()
    # the repository in the current directory
    assert ostreepy.run("refs", cwd=repos[1]).out == ostree.run("refs", cwd=repos[0]).out == REF + "\n"
    # a group's option before its verb (test-basic's `remote --set=tls-permissive=true add`)
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        tool.run("remote", "--set=tls-permissive=true", "add", "aremote", "http://remote.example.com/", repo=repo)
    assert (repos[0] / "config").read_text() == (repos[1] / "config").read_text()
    assert "tls-permissive=true" in (repos[1] / "config").read_text()


def test_rev_parse_single_and_reset(ostree, ostreepy, repos, tmp_path):
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        assert_error(tool.run("rev-parse", "-S", repo=repo, rc=1), "No commit objects found")
    tree = _tree(tmp_path / "t")
    first = _both(ostree, ostreepy, repos, tree=tree)
    assert ostreepy.run("rev-parse", "-S", repo=repos[1]).out == first + "\n"
    (tree / "new").write_text("n")
    _both(ostree, ostreepy, repos, tree=tree, timestamp="2024-02-01 00:00:00 +0000")
    assert_error(ostreepy.run("rev-parse", "-S", repo=repos[1], rc=1), "Multiple commit objects found")
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        tool.run("reset", REF, REF + "^", repo=repo)
        assert tool.rev_parse(repo, REF) == first
        assert_error(tool.run("reset", "nosuchref", first, repo=repo, rc=1), "Invalid ref 'nosuchref'")


def test_diff_and_checksum_as_ostree(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, repos, tree=tree, timestamp=TIMESTAMP)
    (tree / "etc/conf").write_text("changed")
    (tree / "usr/bin/empty").unlink()
    os.makedirs(tree / "new/dir")
    (tree / "new/dir/f").write_text("f")
    _both(ostree, ostreepy, repos, tree=tree, timestamp="2024-02-01 00:00:00 +0000")
    co = tmp_path / "co"
    ostreepy.run("checkout", "-U", REF, co, repo=repos[1])
    (co / "usr/bin/sh").unlink()
    (co / "usr/bin/sh").mkdir()
    (co / "local").write_text("l")
    cases = [[REF], [REF + "^", REF], ["--stats", REF + "^", REF], [REF, "./"],
             ["--no-xattrs", f"--owner-uid={os.getuid() + 1}", REF, "./"]]
    for args in cases:
        got = ostreepy.run("diff", *args, repo=repos[1], cwd=co).out
        want = ostree.run("diff", *args, repo=repos[0], cwd=co).out
        assert sorted(got.splitlines()) == sorted(want.splitlines()), f"diff {args}"
        assert got, f"diff {args} found nothing"
    for args in (["local"], ["--ignore-xattrs", "usr"]):
        assert ostreepy.run("checksum", *args, cwd=co).out == ostree.run("checksum", *args, cwd=co).out


def test_version_lists_features_and_cli_extensions(ostreepy, tmp_path):
    out = ostreepy.run("--version").out
    assert out.startswith("libostree:\n Version: ") and "\n Features:\n" in out
    assert "  - sign-ed25519\n" in out and "  - libarchive\n" in out
    assert "  - gpgme\n" in out and "  - composefs\n" in out and "p2p" not in out
    ext = tmp_path / "bin/ostree-hello"
    ext.parent.mkdir()
    ext.write_text("#!/bin/sh\necho \"hello $*\"\n")
    ext.chmod(ext.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{ext.parent}:{os.environ['PATH']}"}
    assert ostreepy.run("hello", "a", "b", env=env).out == "hello a b\n"
    assert_error(ostreepy.run("nosuchcommand", rc=1, env=env), "Unknown command 'nosuchcommand'")


def test_checkout_passthrough_whiteouts(ostree, ostreepy, tmp_path):
    tree = tmp_path / "t"
    (tree / "d").mkdir(parents=True)
    (tree / "d/.ostree-wh.gone").write_text("")
    os.chmod(tree / "d/.ostree-wh.gone", 0o640)
    (tree / "d/f").write_text("f")
    seen = []
    for tool in (ostree, ostreepy):
        repo = tool.init(tmp_path / f"repo-{tool}", "bare")
        tool.commit(repo, tree=tree)
        co = tmp_path / f"co-{tool}"
        tool.run("checkout", "--process-passthrough-whiteouts", REF, co, repo=repo)
        tool.run("checkout", "--union", "--process-passthrough-whiteouts", REF, co, repo=repo)
        st = os.lstat(co / "d/gone")
        seen.append((sorted(os.listdir(co / "d")), stat.S_ISCHR(st.st_mode), st.st_rdev, stat.S_IMODE(st.st_mode)))
    assert seen[0] == seen[1] == (["f", "gone"], True, 0, 0o640)


def test_ref_aliases_as_ostree(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, repos, tree=tree)
    outs = []
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        tool.run("refs", REF, "--create=os/26/server", repo=repo)
        tool.run("refs", "-A", "os/26/server", "--create=os/stable/server", repo=repo)
        link = os.readlink(repo / "refs/heads/os/stable/server")
        listed = tool.run("refs", "-A", repo=repo).out
        errs = [tool.run("refs", "--delete", "os/26/server", repo=repo, rc=1).err,
                tool.run("refs", "-A", "os/26/server", "--create=o:os/x", repo=repo, rc=1).err,
                tool.run("refs", "-A", "--create", "foo", "nonexistent", repo=repo, rc=1).err]
        tool.commit(repo, branch="os/26/server", tree=tree, timestamp="2024-03-01 00:00:00 +0000")
        moved = tool.rev_parse(repo, "os/stable/server") == tool.rev_parse(repo, "os/26/server")
        outs.append((link, listed, errs, moved))
    assert outs[0] == outs[1]
    assert outs[1][:2] == ("../../os/26/server", "os/stable/server -> os/26/server\n") and outs[1][3]


def test_fsck_verify_bindings_and_back_refs(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, repos, tree=tree)
    outs = []
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        tool.run("fsck", "--verify-bindings", "--verify-back-refs", repo=repo)
        tool.run("refs", REF, "--create=new-ref", repo=repo)
        res = tool.run("fsck", "--verify-bindings", repo=repo, rc=1)
        step1 = (res.out.splitlines()[:1], res.err)
        tool.run("refs", "--delete", REF, "new-ref", repo=repo)
        res = tool.run("fsck", "--verify-back-refs", repo=repo, rc=1)
        outs.append((step1, res.err))
    assert outs[0] == outs[1]
    assert "Commit has no requested ref ‘new-ref’ in ref binding metadata (‘edge/main’)" in outs[1][0][1]
    assert "Ref ‘edge/main’ in bindings for commit" in outs[1][1] and "does not exist" in outs[1][1]


def test_cat_follows_symlinks_and_config_argument_count(ostree, ostreepy, repos, tmp_path):
    tree = tmp_path / "t"
    (tree / "baz").mkdir(parents=True)
    (tree / "baz/cow").write_text("moo\n")
    (tree / "four").mkdir()
    os.symlink("four", tree / "four-link")
    os.symlink("baz/cow", tree / "cow-link")
    os.symlink("cow-link", tree / "cow-link-link")
    os.symlink("/baz/cow", tree / "abs-link")
    _both(ostree, ostreepy, repos, tree=tree)
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        for path in ("/cow-link", "/cow-link-link", "/abs-link"):
            assert tool.run("cat", REF, path, repo=repo).out == "moo\n", (tool, path)
        for path in ("/", "/four-link"):
            assert "open directory" in tool.run("cat", REF, path, repo=repo, rc=1).err
        for args in (["get", "--group=core", "mode", "extra"], ["set", "--group=core", "k", "v", "extra"]):
            assert_error(tool.run("config", *args, repo=repo, rc=1), "Too many arguments given")


def test_pre_commit_test_error_leaves_the_staging_directory(ostree, ostreepy, tmp_path):
    tree = _tree(tmp_path / "t")
    boot = "4072029c-8b10-60d1-d31b-8422eeff9b42"
    for tool in (ostree, ostreepy):
        # (with core.fsync=false ostreepy writes objects in place, without staging)
        repo = tool.init(tmp_path / f"fsync-{tool}", "archive", fsync=True)
        res = tool.run("commit", "-b", REF, tree, repo=repo, rc=1,
                       env={"OSTREE_REPO_TEST_ERROR": "pre-commit", "OSTREE_BOOTID": boot})
        assert "OSTREE_REPO_TEST_ERROR_PRE_COMMIT" in res.err
        assert [n for n in os.listdir(repo / "tmp") if n.startswith(f"staging-{boot}-")], tool
        assert tool.run("refs", repo=repo).out == ""
        # a transaction of another boot removes it
        tool.run("commit", "-b", REF, tree, repo=repo, env={"OSTREE_BOOTID": "5" + boot[1:]})
        assert not [n for n in os.listdir(repo / "tmp") if n.startswith(f"staging-{boot}-")], tool
        tool.run("fsck", repo=repo)
        # fsync off too: a failed transaction leaves its staging directory, as ostree's
        repo = tool.init(tmp_path / f"nofsync-{tool}", "archive", fsync=False)
        tool.run("commit", "-b", REF, tree, repo=repo, rc=1,
                 env={"OSTREE_REPO_TEST_ERROR": "pre-commit", "OSTREE_BOOTID": boot})
        assert [n for n in os.listdir(repo / "tmp") if n.startswith(f"staging-{boot}-")], tool


def test_fsck_words_and_collection_refs(ostree, ostreepy, tmp_path):
    # ostree's own test data: a dirtree with "../afile" in it
    import tarfile
    src = "/work/.mirror/ostreedev+ostree/repo"
    if not os.path.isdir(src):
        pytest.skip("needs the ostree source mirror (tests/ostree-path-traverse.tar.gz)")
    import subprocess
    blob = subprocess.run(["git", "-C", src, "show", "v2022.7:tests/ostree-path-traverse.tar.gz"],
                          capture_output=True, check=True).stdout
    (tmp_path / "pt.tar.gz").write_bytes(blob)
    with tarfile.open(tmp_path / "pt.tar.gz") as tf:
        tf.extractall(tmp_path)
    repo = tmp_path / "ostree-path-traverse/repo"
    assert ".dirtree: Invalid / in filename ../afile" in ostree.run("fsck", "-q", repo=repo, rc=1).err
    assert ".dirtree: Invalid / in filename ../afile" in ostreepy.run("fsck", "-q", repo=repo, rc=1).err
    # a collection–ref whose commit is gone fails fsck (test-fsck-collections.sh)
    for tool in (ostree, ostreepy):
        r = tmp_path / f"coll-{tool}"
        tool.run("init", "--mode=archive", "--collection-id=org.example.Collection", repo=r)
        c = tool.run("commit", "--orphan", "--bind-ref=ref2", "--add-metadata-string=ostree.collection-binding=x.Y",
                     tmp_path / "ostree-path-traverse", repo=r).out.strip()
        tool.run("refs", "--collections", "--create=x.Y:ref2", c, repo=r)
        tool.run("fsck", repo=r)
        os.unlink(r / "objects" / c[:2] / f"{c[2:]}.commit")
        assert "Loading commit for ref (x.Y, ref2)" in tool.run("fsck", repo=r, rc=1).err


def test_commit_collection_binding_given_wins(ostree, ostreepy, tmp_path):
    tree = _tree(tmp_path / "t")
    sums = []
    for tool in (ostree, ostreepy):
        repo = tmp_path / f"c-{tool}"
        tool.run("init", "--mode=archive", "--collection-id=org.example.Collection", repo=repo)
        sums.append(tool.commit(repo, "--orphan", "--bind-ref=ref2",
                                "--add-metadata-string=ostree.collection-binding=org.example.Collection2",
                                branch=None, tree=tree))
        out = tool.run("show", "--print-metadata-key=ostree.collection-binding", sums[-1], repo=repo).out
        assert out == "'org.example.Collection2'\n", tool
    assert sums[0] == sums[1]


def test_fsck_marks_commits_with_missing_objects_partial(ostree, ostreepy, repos, tmp_path):
    tree = _tree(tmp_path / "t")
    rev = _both(ostree, ostreepy, repos, tree=tree)
    fcsum = ostree.run("ls", "-C", REF, "/usr/bin/sh", repo=repos[0]).out.split()[4]
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        os.unlink(repo / "objects" / fcsum[:2] / f"{fcsum[2:]}.filez")
        err = tool.run("fsck", "-q", repo=repo, rc=1).err
        assert "Object missing" in err and f"Marking commit as partial: {rev}" in err, tool
        assert (repo / "state" / f"{rev}.commitpartial").exists(), tool


def test_remote_add_options_between_positionals(ostree, ostreepy, repos):
    # test-pull-contenturl.sh, test-pull-mirrorlist.sh, test-pre-signed-pull.sh:
    # GLib takes the innermost verb's options between its positionals
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        tool.run("remote", "add", "origin", "--set=gpg-verify=false", "--contenturl=http://c.example/r",
                 "http://u.example/r", repo=repo)
        tool.run("remote", "add", "ml", "--no-sign-verify", "mirrorlist=http://m.example/list", repo=repo)
    assert (repos[0] / "config").read_text() == (repos[1] / "config").read_text()
    assert (ostreepy.run("remote", "list", "-u", repo=repos[1]).out
            == ostree.run("remote", "list", "-u", repo=repos[0]).out)
    ostreepy.run("remote", "add", "broken", "badscheme://something", repo=repos[1])
    # ostree-fetcher-uri.c's wording, which test-pull-bare.sh matches
    assert_error(ostreepy.run("pull", "broken", "main", repo=repos[1], rc=1),
                 "Invalid URI scheme in badscheme://something")


def test_fsck_add_tombstones(ostree, ostreepy, repos, tmp_path):
    # test-prune.sh: the commit whose parent is missing goes, leaving a tombstone
    tree = _tree(tmp_path / "t")
    first = _both(ostree, ostreepy, repos, tree=tree)
    (tree / "etc/conf").write_text("y")
    second = _both(ostree, ostreepy, repos, "--timestamp=2024-02-01 00:00:00 +0000", tree=tree)
    outs = []
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        os.unlink(repo / "objects" / first[:2] / f"{first[2:]}.commit")
        out = tool.run("fsck", "--add-tombstones", repo=repo).out
        outs.append(out.splitlines()[-2:])
        assert f"Adding tombstone for commit {second}\n" in out, tool
        assert "tombstone-commits=true" in (repo / "config").read_text(), tool
        assert (repo / "objects" / second[:2] / f"{second[2:]}.tombstone-commit").exists(), tool
        assert not (repo / "objects" / second[:2] / f"{second[2:]}.commit").exists(), tool
    assert outs[0] == outs[1]


def test_commit_before_1970_and_relative_dates(ostree, ostreepy, repos, tmp_path):
    # test-prune.sh: a 1955 commit is stored as ostree stores it (the time_t in a uint64)
    tree = _tree(tmp_path / "t")
    rev = _both(ostree, ostreepy, repos, timestamp="November 05 1955 UTC", tree=tree)
    assert (ostreepy.run("log", rev, repo=repos[1]).out == ostree.run("log", rev, repo=repos[0]).out)
    assert "Date:  1955-11-05 00:00:00 +0000" in ostreepy.run("log", rev, repo=repos[1]).out
    # gnulib's "N UNIT ago"
    args = ("prune", "--keep-younger-than=1 week ago", "--no-prune")
    assert ostreepy.run(*args, repo=repos[1]).out == ostree.run(*args, repo=repos[0]).out


@pytest.fixture
def http_dir(tmp_path):
    """A directory served over loopback HTTP (ostree pulls file:// remotes as a local repo)."""
    import functools
    import http.server
    import threading
    root = tmp_path / "srv"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_pull_contenturl_and_mirrorlist(ostree, ostreepy, tmp_path, http_dir):
    # test-pull-contenturl.sh, test-pull-mirrorlist.sh: metadata where the URL says,
    # objects from contenturl; a mirrorlist's mirrors tried in turn
    import shutil
    root, base = http_dir
    src = ostree.init(root / "full", "archive")
    rev = ostree.commit(src, tree=_tree(tmp_path / "t"))
    shutil.copytree(src, root / "meta")
    shutil.rmtree(root / "meta/objects")
    shutil.copytree(src, root / "half")
    for p in sorted((root / "half/objects").rglob("*.filez"))[:2]:
        p.unlink()
    (root / "mirrorlist").write_text(f"\n# c\n{base}/nothing\n{base}/full\n")
    # ostree 2022.7 takes the 404 page http.server sends for a missing .filez as the
    # object (ostree-trivial-httpd sends none): that mirror is for ostreepy alone
    (root / "mirrorlist2").write_text(f"{base}/nothing\n{base}/half\n{base}/full\n")
    for tool in (ostree, ostreepy):
        cases = [["--contenturl", f"{base}/full", f"{base}/meta"], [f"mirrorlist={base}/mirrorlist"]]
        if tool is ostreepy:
            cases.append([f"mirrorlist={base}/mirrorlist2"])
        for n, args in enumerate(cases):
            repo = tool.init(tmp_path / f"{tool}-{n}", "archive")
            tool.run("remote", "add", "origin", "--no-gpg-verify", *args, repo=repo)
            tool.run("pull", "--http-header", "X-Test=1", "--per-object-fsync", "origin", REF, repo=repo)
            assert tool.run("rev-parse", f"origin:{REF}", repo=repo).out.strip() == rev, (tool, n)
            tool.run("fsck", repo=repo)


def _help_sections(text):
    """{section title: [lines]} of a GLib-shaped help text."""
    out, title = {}, None
    for line in text.split("\n"):
        if line and not line.startswith(" "):
            title = line
            out[title] = []
        elif line and title is not None:
            out[title].append(line)
    return out


def _option_head(line):
    return line.split(" ", 3)[2] if line.startswith("  -") else None


def test_help_in_ostree_shape(ostree, ostreepy):
    """test-help.sh: `CMD --help` prints GLib's help on stdout (one Usage line naming
    CMD), a group without a verb or with an unknown one prints it on stderr with
    ostree's error; the columns are GLib's and ot-main.c's."""
    for cmd in ([], ["admin"], ["checkout"], ["admin", "deploy"], ["admin", "instutil"], ["remote", "add"],
                ["cat"], ["pull-local"]):
        ours, real = ostreepy.run(*cmd, "--help"), ostree.run(*cmd, "--help")
        assert ours.err == "" and ours.out.count("\nUsage") + ours.out.startswith("Usage") == 1
        assert ours.out.split("\n")[:2] == real.out.split("\n")[:2], cmd  # "Usage:", "  ostree CMD [OPTION…] ARGS"
        o, r = _help_sections(ours.out), _help_sections(real.out)
        if cmd == ["checkout"]:  # the widest option the same: the same column (GLib's width + 4)
            assert o["Help Options:"] == r["Help Options:"]
        # where both list the same command, it is at the same column
        for title in (t for t in r if t.startswith("Builtin")):
            names = {line.split()[0]: line for line in o[title]}
            common = [line for line in r[title] if line.split()[0] in names]
            assert common, cmd
            def column(line):
                return len(line) - len(line[2 + len(line.split()[0]):].lstrip())
            for line in common:
                assert column(names[line.split()[0]]) == column(line), (cmd, line)
        # options both have are shown alike (-s, --long=ARG)
        if cmd in (["checkout"], ["admin", "deploy"]):
            ro = {_option_head(line): line for line in r["Application Options:"] if _option_head(line)}
            both = [line for line in o["Application Options:"] if _option_head(line) in ro]
            assert len(both) >= 5
    for cmd, last in (([], "error: No command specified"),
                      (["no-such-verb"], "error: Unknown command 'no-such-verb'"),
                      (["admin"], 'error: No "admin" subcommand specified'),
                      (["admin", "no-such"], "error: Unknown \"admin\" subcommand 'no-such'"),
                      (["admin", "instutil"], 'error: No "admin instutil" subcommand specified')):
        ours, real = ostreepy.run(*cmd, rc=1), ostree.run(*cmd, rc=1)
        assert ours.out == real.out == ""
        assert ours.err.rstrip("\n").split("\n")[-1] == real.err.rstrip("\n").split("\n")[-1] == last
        assert ours.err.startswith("Usage:\n  ostree") and real.err.startswith("Usage:\n  ostree")


def test_sign_verify_with_keys_that_fail_as_ostree(ostree, ostreepy, repos, tmp_path):
    """`sign --verify COMMIT KEY...` tries each key on its own and drops its error; none
    good is "No valid signatures found", also when the dummy type is not enabled
    (test-signed-commit's 'dummy sig requires env')."""
    tree = _tree(tmp_path / "t")
    on = {"OSTREE_DUMMY_SIGN_ENABLED": "1"}
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        tool.run("commit", "-b", "main", f"--tree=dir={tree}", "--sign=abc", "--sign-type=dummy", repo=repo, env=on)
    errs = []
    for tool, repo in ((ostree, repos[0]), (ostreepy, repos[1])):
        rev = tool.run("rev-parse", "main", repo=repo).stdout.decode().strip()
        assert b"Signature verified" in tool.run("sign", "--sign-type=dummy", "--verify", rev, "bad", "abc",
                                                 repo=repo, env=on).stdout
        errs.append(tool.run("sign", "--sign-type=dummy", "--verify", rev, "bad", repo=repo, env=on, rc=1).stderr)
        errs.append(tool.run("sign", "--sign-type=dummy", "--verify", rev, "abc", repo=repo, rc=1).stderr)
    assert {e.decode().strip().splitlines()[-1] for e in errs} == {"error: No valid signatures found"}
