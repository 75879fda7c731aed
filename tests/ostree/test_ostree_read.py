"""Read commands: ostreepy's output must equal ostree's, byte for byte, on the
same repo (ostree-made repos in all four modes, and ostreepy-made ones)."""

import os
import subprocess
import sys

import pytest

from .conftest import REF, TOOL_ENV, assert_error, copy_repo

LS_CASES = {
    "ls-root": ["ls", REF],
    "ls-R": ["ls", "-R", REF],
    "ls-RC": ["ls", "-R", "-C", REF],
    "ls-RCX": ["ls", "-RCX", REF],
    "ls-RX-sub": ["ls", "-R", "-X", REF, "/xattrdir"],
    "ls-d": ["ls", "-d", REF, "/many"],
    "ls-dC-root": ["ls", "-dC", REF, "/"],
    "ls-file": ["ls", REF, "/hello.txt"],
    "ls-C-files": ["ls", "-C", REF, "/setuid", "/links/rel", "/links/long"],
    "ls-symlink": ["ls", REF, "/links/abs"],
    "ls-many": ["ls", "-C", REF, "/many"],
    "ls-deep": ["ls", "-R", REF, "/deep/d00/d01/d02"],
    "ls-unicode": ["ls", "-RX", REF, "/ünïcødé"],
    "ls-by-checksum": None,  # filled in with the commit checksum
}


@pytest.mark.parametrize("case", sorted(LS_CASES))
def test_ls_output(edge_repos, ostree, ostreepy, mode, case):
    repo, csum = edge_repos.get("ostree", mode)
    args = LS_CASES[case] or ["ls", "-RC", csum, "/usr"]
    expected = ostree.run(*args, repo=repo)
    got = ostreepy.run(*args, repo=repo)
    assert got.out == expected.out


def test_ls_missing_path_fails(edge_repos, ostreepy):
    repo, _ = edge_repos.get("ostree", "bare")
    assert_error(ostreepy.run("ls", REF, "/no/such/file", repo=repo, rc=None))


@pytest.mark.parametrize("path", ["/hello.txt", "/large.bin", "/empty", "/mode0000", "/ünïcødé/日本語.txt",
                                  "/many/hardlink-b"])
def test_cat(edge_repos, edge_tree, ostree, ostreepy, mode, path):
    repo, _ = edge_repos.get("ostree", mode)
    got = ostreepy.run("cat", REF, path, repo=repo)
    assert got.stdout == (edge_tree / path.lstrip("/")).read_bytes()


def test_cat_several_files(edge_repos, edge_tree, ostree, ostreepy):
    repo, _ = edge_repos.get("ostree", "archive")
    args = ["cat", REF, "/hello.txt", "/exec.sh"]
    assert ostreepy.run(*args, repo=repo).stdout == ostree.run(*args, repo=repo).stdout


def test_cat_directory_fails(edge_repos, ostree, ostreepy):
    repo, _ = edge_repos.get("ostree", "bare")
    ostree.run("cat", REF, "/many", repo=repo, rc=1)
    assert_error(ostreepy.run("cat", REF, "/many", repo=repo, rc=None))


# --- show / log / refs / rev-parse on a repo with history ------------------

def _history_cases(h):
    c = h["commits"]
    return {
        "show-ref": ["show", REF],
        "show-parent": ["show", f"{REF}^"],
        "show-checksum": ["show", c[0]],
        "show-other": ["show", "other/branch"],
        "show-orphan": ["show", h["orphan"]],
        "show-remote": ["show", "origin:main"],
        "log": ["log", REF],
        "log-other": ["log", "other/branch"],
        "refs": ["refs"],
        "refs-prefix": ["refs", "other"],
        "refs-remote": ["refs", "origin:"],
        "rev-parse": ["rev-parse", REF],
        "rev-parse-parent": ["rev-parse", f"{REF}^"],
        "rev-parse-grandparent": ["rev-parse", f"{REF}^^"],
        "rev-parse-remote": ["rev-parse", "origin:main"],
        "rev-parse-checksum": ["rev-parse", c[1]],
        "rev-parse-prefix": ["rev-parse", c[1][:10]],
        "rev-parse-short-prefix": ["rev-parse", h["orphan"][:4]],
        "ls-history": ["ls", "-RCX", f"{REF}^"],
        "ls-remote-ref": ["ls", "-R", "origin:main"],
    }


HISTORY_CASES = sorted(_history_cases({"commits": ["x" * 64] * 3, "orphan": "y" * 64}))


def assert_same_refs_listing(expected: str, got: str):
    """`ostree refs` 2022.7 prints refs in GHashTable order; upstream ostree sorts them
    with strcmp since.  ostreepy must print the same refs, sorted."""
    from .conftest import SELFTEST
    lines = got.splitlines()
    assert sorted(lines) == sorted(expected.splitlines())
    if not SELFTEST:
        assert lines == sorted(lines, key=lambda l: l.encode()), "refs are not listed in strcmp order"
    assert got.endswith("\n") or got == ""


@pytest.mark.parametrize("case", HISTORY_CASES)
def test_history_output(history_repos, ostree, ostreepy, mode, case):
    h = history_repos(mode)
    args = _history_cases(h)[case]
    expected = ostree.run(*args, repo=h["repo"])
    got = ostreepy.run(*args, repo=h["repo"])
    if args[0] == "refs":
        assert_same_refs_listing(expected.out, got.out)
    else:
        assert got.out == expected.out


@pytest.mark.parametrize("args", [
    pytest.param(["rev-parse", "no/such/ref"], id="rev-parse-missing"),
    pytest.param(["rev-parse", "edge/main^^^"], id="rev-parse-past-root"),
    pytest.param(["rev-parse", "0000000000"], id="rev-parse-unknown-prefix"),
    pytest.param(["show", "no/such/ref"], id="show-missing"),
    pytest.param(["log", "no/such/ref"], id="log-missing"),
    pytest.param(["rev-parse", "bad..ref"], id="rev-parse-invalid"),
])
def test_read_errors(history_repos, ostree, ostreepy, args):
    h = history_repos("bare")
    assert ostree.run(*args, repo=h["repo"], rc=None).rc == 1  # premise
    assert_error(ostreepy.run(*args, repo=h["repo"], rc=None))


def test_reading_ostreepy_made_repo(ostree, ostreepy, tmp_path, edge_tree, mode):
    """The same read commands on a repo ostreepy wrote: both tools must print the same."""
    from . import treebuilder
    small = treebuilder.build_small_tree(tmp_path / "small")
    repo = ostreepy.init(tmp_path / "repo", mode)
    ostreepy.commit(repo, "--add-metadata-string=version=1", tree=small, subject="first")
    ostreepy.commit(repo, "-m", "body", tree=edge_tree, subject="second", timestamp="2024-02-03 04:05:06 +0000")
    mismatches = []
    for args in (["ls", "-RCX", REF], ["log", REF], ["show", REF], ["rev-parse", f"{REF}^"],
                 ["ls", "-RCX", f"{REF}^"]):
        a, b = ostree.run(*args, repo=repo).out, ostreepy.run(*args, repo=repo).out
        if a != b:
            mismatches.append(f"{' '.join(args)}:\n--- ostree\n{a[:1500]}\n--- ostreepy\n{b[:1500]}")
    assert not mismatches, "\n".join(mismatches)


# --- refs --create / --delete -------------------------------------------------

def test_refs_create_and_delete(history_repos, ostree, ostreepy, tmp_path):
    h = history_repos("archive")
    repos = {name: copy_repo(h["repo"], tmp_path / name) for name in ("ostree", "ostreepy")}
    steps = [
        ["refs", "--create=new/ref", REF],
        ["refs", "--create=from-checksum", h["orphan"]],
        ["refs", "--create=short", h["orphan"][:12]],
        ["refs", "--delete", "other/branch"],
        ["refs"],
        ["rev-parse", "new/ref"],
        ["rev-parse", "from-checksum"],
    ]
    for step in steps:
        a = ostree.run(*step, repo=repos["ostree"])
        b = ostreepy.run(*step, repo=repos["ostreepy"])
        if step == ["refs"]:
            assert_same_refs_listing(a.out, b.out)
        else:
            assert b.out == a.out, f"output of {step}"
    for name in ("new/ref", "from-checksum", "short", REF):
        assert (repos["ostreepy"] / "refs/heads" / name).read_text() == (repos["ostree"] / "refs/heads" / name).read_text()
    assert not (repos["ostreepy"] / "refs/heads/other/branch").exists()
    # ostree reads what ostreepy did
    assert sorted(ostree.run("refs", repo=repos["ostreepy"]).out.splitlines()) == \
        sorted(ostree.run("refs", repo=repos["ostree"]).out.splitlines())


def test_refs_create_existing_fails(history_repos, ostree, ostreepy, tmp_path):
    h = history_repos("bare")
    repo = copy_repo(h["repo"], tmp_path / "r")
    ostree.run("refs", "--create=other/branch", REF, repo=repo, rc=1)  # premise
    assert_error(ostreepy.run("refs", "--create=other/branch", REF, repo=repo, rc=None))
    assert ostree.rev_parse(repo, "other/branch") == h["other"]


# --- config -------------------------------------------------------------------

def test_config_get_set(history_repos, ostree, ostreepy, tmp_path):
    h = history_repos("bare-user")
    repo = copy_repo(h["repo"], tmp_path / "r")
    (repo / "config").write_text((repo / "config").read_text() + "# a comment\n[custom]\nkeep=me\n")
    assert ostreepy.run("config", "get", "core.mode", repo=repo).out == "bare-user\n"
    assert ostreepy.run("config", "get", "custom.keep", repo=repo).out == "me\n"
    ostreepy.run("config", "set", "core.fsync", "false", repo=repo)
    ostreepy.run("config", "set", "newgroup.newkey", "some value", repo=repo)
    assert ostree.run("config", "get", "core.fsync", repo=repo).out == "false\n"
    assert ostree.run("config", "get", "newgroup.newkey", repo=repo).out == "some value\n"
    assert ostree.run("config", "get", "custom.keep", repo=repo).out == "me\n"
    assert ostree.run("config", "get", "core.repo_version", repo=repo).out == "1\n"
    ostree.run("config", "get", "core.nosuchkey", repo=repo, rc=1)
    assert_error(ostreepy.run("config", "get", "core.nosuchkey", repo=repo, rc=None))


def test_python_dash_m_entry_point(history_repos, ostree):
    """`python -m ostreepy` is the same command line."""
    h = history_repos("bare")
    argv = [sys.executable, "-m", "ostreepy", f"--repo={h['repo']}", "rev-parse", f"{REF}^"]
    from .conftest import SELFTEST
    if SELFTEST:
        argv = ["ostree"] + argv[3:]
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=TOOL_ENV)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode() == h["commits"][1] + "\n"


def test_log_and_show_with_missing_parent(history_repos, ostree, ostreepy, tmp_path):
    """History cut short (a pulled commit without its parent): log says so, like ostree."""
    from .conftest import object_path
    h = history_repos("archive")
    repo = copy_repo(h["repo"], tmp_path / "r")
    os.unlink(object_path(repo, h["commits"][0], "commit"))
    for args in (["log", REF], ["show", f"{REF}^"], ["rev-parse", f"{REF}^"]):
        a = ostree.run(*args, repo=repo)
        b = ostreepy.run(*args, repo=repo)
        assert b.out == a.out, f"output of {args}"
    ostree.run("show", f"{REF}^^", repo=repo, rc=1)
    assert_error(ostreepy.run("show", f"{REF}^^", repo=repo, rc=None))
