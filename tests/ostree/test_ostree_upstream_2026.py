"""Repository verbs that ostree's own tests at v2026.4 use (scripts/upstream-tests.sh),
each checked against the upstream ostree 2026.4 peer."""

from __future__ import annotations

import subprocess
import sys

from upstream_peer import needs_upstream, peer_bin


def _run(argv, check=True):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=check)


@needs_upstream
def test_show_lists_metadata_keys_as_ostree_2026(tmp_path):
    """`show --list-metadata-keys` / `--list-detached-metadata-keys` (basic-test.sh's
    "metadata commit with strings"): the keys in byte order, and ostree's error for a
    commit without detached metadata."""
    repo, tree = tmp_path / "repo", tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x\n")
    _run([peer_bin(), f"--repo={repo}", "init", "--mode=archive"])
    plain = _run([peer_bin(), f"--repo={repo}", "commit", "-b", "plain", f"--tree=dir={tree}",
                  "--add-metadata-string=kittens=1", "--add-metadata-string=FOO=2",
                  "--add-metadata-string=\u00e9t\u00e9=3"]).stdout.strip()
    _run([peer_bin(), f"--repo={repo}", "commit", "-b", "signed", f"--tree=dir={tree}",
          "--add-detached-metadata-string=SIGNATURE=HANCOCK", "--add-detached-metadata-string=A=b"])
    outs = {}
    for name, tool in (("ours", [sys.executable, "-m", "ostreepy"]), ("peer", [peer_bin()])):
        log = []
        for args in (["--list-metadata-keys", "plain"], ["--list-detached-metadata-keys", "signed"],
                     ["--list-detached-metadata-keys", "plain"], ["--print-detached-metadata-key=X", "plain"]):
            p = _run(tool + [f"--repo={repo}", "show"] + args, check=False)
            log.append((p.returncode, p.stdout, p.stderr))
        outs[name] = log
    assert outs["ours"] == outs["peer"]
    assert outs["ours"][0][1] == "FOO\nkittens\nostree.ref-binding\n\u00e9t\u00e9\n"
    assert outs["ours"][1][1] == "A\nSIGNATURE\n"
    assert outs["ours"][2] == (1, "", f"error: No detached metadata for commit {plain}\n")


@needs_upstream
def test_show_print_hex_as_ostree_2026(tmp_path):
    """`show --print-hex --print-metadata-key` (test-composefs reads the composefs digest
    so): a byte array as bare hex, any other value as without it; detached keys too."""
    repo, tree = tmp_path / "repo", tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x\n")
    _run([peer_bin(), f"--repo={repo}", "init", "--mode=archive"])
    _run([peer_bin(), f"--repo={repo}", "commit", "-b", "m", f"--tree=dir={tree}",
          "--add-metadata=k=[byte 0x13, 0xae, 0x00]", "--add-metadata=e=@ay []", "--add-metadata=n=uint32 7",
          "--add-detached-metadata-string=d=x"])
    outs = {}
    for name, tool in (("ours", [sys.executable, "-m", "ostreepy"]), ("peer", [peer_bin()])):
        runs = [_run(tool + [f"--repo={repo}", "show", "--print-hex", *args, "m"], check=False)
                for args in (["--print-metadata-key=k"], ["--print-metadata-key=e"],
                                   ["--print-metadata-key=n"], ["--print-detached-metadata-key=d"],
                             ["--print-metadata-key=zz"])]
        outs[name] = [(p.returncode, p.stdout, p.stderr) for p in runs]
    assert outs["ours"] == outs["peer"]
    assert outs["ours"][0][1] == "13ae00\n" and outs["ours"][2][1] == "uint32 117440512\n"  # byteswapped, as without it


@needs_upstream
def test_config_set_refuses_what_ostree_would_not_open(tmp_path):
    """test-config.sh's "config validation" (ostree 2025.3+): `config set` of a
    min-free-space value ostree cannot read is refused and the file kept."""
    outs = {}
    for name, tool in (("ours", [sys.executable, "-m", "ostreepy"]), ("peer", [peer_bin()])):
        repo = tmp_path / name
        _run([peer_bin(), f"--repo={repo}", "init", "--mode=archive"])
        log = []
        for key, value in (("size", "invalidvalue"), ("size", "100MB"), ("size", "99999999999999999TB"),
                           ("size", "1MB "), ("size", "16777215TB"), ("size", "16777216TB"), ("percent", "abc"),
                           ("percent", "100"), ("percent", "99"), ("percent", "")):
            p = _run(tool + [f"--repo={repo}", "config", "set", f"core.min-free-space-{key}", value], check=False)
            log.append((p.returncode, p.stderr, (repo / "config").read_text()))
        outs[name] = log
    assert outs["ours"] == outs["peer"]
    assert outs["ours"][0][:2] == (1, ("error: Invalid min-free-space-size 'invalidvalue': It should be of the "
                                       "format '123MB', '123GB' or '123TB'\n"))


@needs_upstream
def test_export_hard_links_duplicate_content_as_ostree_2026(tmp_path):
    """test-export.sh's "export hard links" (ostree 2023.7+): a file whose content was
    already written is a hard link to the first path; the peer imports both tars to
    the same tree."""
    import tarfile
    repo, tree = tmp_path / "repo", tmp_path / "tree"
    for sub in ("sub1", "sub2"):
        (tree / "baz" / sub).mkdir(parents=True)
    for rel in ("baz/sub1/duplicate_a", "baz/sub1/duplicate_b", "baz/sub2/duplicate_c"):
        (tree / rel).write_text("SAME_CONTENT\n")
    (tree / "baz/other").write_text("other\n")
    _run([peer_bin(), f"--repo={repo}", "init", "--mode=bare-user"])
    _run([peer_bin(), f"--repo={repo}", "commit", "-b", "t", f"--tree=dir={tree}", "--no-xattrs"])
    members, trees = {}, {}
    for name, tool in (("ours", [sys.executable, "-m", "ostreepy"]), ("peer", [peer_bin()])):
        tar = tmp_path / f"{name}.tar"
        _run(tool + [f"--repo={repo}", "export", "t", "-o", tar])
        with tarfile.open(tar) as tf:
            members[name] = [(m.name.removeprefix("./"), m.type, m.linkname.removeprefix("./"))
                             for m in tf.getmembers() if m.isfile() or m.islnk()]
        out = _run([peer_bin(), f"--repo={repo}", "commit", "-b", f"from-{name}", f"--tree=tar={tar}",
                    "--no-xattrs"]).stdout.strip()
        trees[name] = _run([peer_bin(), f"--repo={repo}", "ls", "-R", "-C", out]).stdout
    assert members["ours"] == members["peer"]
    assert ("baz/sub2/duplicate_c", tarfile.LNKTYPE, "baz/sub1/duplicate_a") in members["ours"]
    assert trees["ours"] == trees["peer"]


@needs_upstream
def test_commit_sign_from_file_as_ostree_2026(tmp_path):
    """`commit --sign-from-file=PATH` (ostree 2025.2+, test-signed-pull.sh at v2026.4): the key
    is the file's first line; the same commit signed by the peer and by us carries the same
    detached metadata (ed25519 is deterministic), and an empty first line is refused."""
    import base64
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    seed = bytes(range(32))
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = tmp_path / "key"
    key.write_text(base64.b64encode(seed + pub).decode() + "\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x\n")
    metas = {}
    for name, tool in (("ours", [sys.executable, "-m", "ostreepy"]), ("peer", [peer_bin()])):
        repo = tmp_path / f"repo-{name}"
        _run([peer_bin(), f"--repo={repo}", "init", "--mode=archive"])
        csum = _run(tool + [f"--repo={repo}", "commit", "-b", "main", f"--tree=dir={tree}",
                            "--timestamp=2020-01-01T00:00:00Z", "--sign-type=ed25519",
                            f"--sign-from-file={key}"]).stdout.strip()
        metas[name] = (csum, (repo / f"objects/{csum[:2]}/{csum[2:]}.commitmeta").read_bytes())
        pubkey = base64.b64encode(pub).decode()
        assert _run([peer_bin(), f"--repo={repo}", "sign", "--verify", "--sign-type=ed25519", csum, pubkey],
                    check=False).returncode == 0
    assert metas["ours"] == metas["peer"]
    bad = tmp_path / "bad"
    bad.write_text("\n" + key.read_text())
    p = _run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/repo-ours", "commit", "-b", "x",
              f"--tree=dir={tree}", f"--sign-from-file={bad}"], check=False)
    assert p.returncode == 1 and "Invalid base64 blob format" in p.stderr
    # refused before anything is written (ostree 2026.4 commits first, then fails on the key)
    assert _run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/repo-ours", "rev-parse", "x"],
                check=False).returncode == 1
