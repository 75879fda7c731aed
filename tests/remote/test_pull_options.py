"""Pull features ostree's own scripts use (test-pull-metalink, test-pull-summary-caching,
test-pull-override-url, test-pull-localcache, pull-test.sh's bareuseronly, corruption,
unconfigured, custom-backend and HTML-ref blocks), each checked against Debian's ostree on the
same served repository: the same outcome and, where scripts match on it, the same words."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Tuple

import pytest

from ostreepy.remote.metalink import MetalinkError, MetalinkFile, check_target, parse_metalink

from .conftest import last_error, ours, peer, run, small_tree, write_tree

# a fixed ed25519 key: seed 00..1f (as test_summary.py)
SEED = bytes(range(32))


def _keys() -> Tuple[str, str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    pub = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
    return base64.b64encode(SEED + pub).decode(), base64.b64encode(pub).decode()


def _init_both(tmp_path: Path, *remote_add: str, mode: str = "archive") -> Tuple[Path, Path]:
    a, b = tmp_path / "ours", tmp_path / "theirs"
    for repo, tool in ((a, ours), (b, peer)):
        assert tool(f"--repo={repo}", "init", f"--mode={mode}")[0] == 0
        if remote_add:
            rc, _, err = tool(f"--repo={repo}", "remote", "add", *remote_add)
            assert rc == 0, err
    return a, b


# ------------------------------------------------------------------ metalink

def _metalink(summary: bytes, urls, *, sha512: str = "", size: int = -1, hashes: str = "") -> bytes:
    if not hashes:
        hashes = (f'<hash type="md5">{hashlib.md5(summary).hexdigest()}</hash>'
                  f'<hash type="sha256">{hashlib.sha256(summary).hexdigest()}</hash>'
                  f'<hash type="sha512">{sha512 or hashlib.sha512(summary).hexdigest()}</hash>')
    res = "".join(f'<url protocol="http" type="http" location="US" preference="{100 - i}">{u}</url>'
                  for i, u in enumerate(urls))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<metalink version="3.0" xmlns="http://www.metalinker.org/">'
            f'<deeply><nested><file name="summary"/></nested></deeply>'
            f'<files><file name="other"><size>1</size></file><file name="summary">'
            f'<size>{len(summary) if size < 0 else size}</size><verification>{hashes}</verification>'
            f'<resources maxconnections="1">{res}</resources></file></files></metalink>').encode()


def test_metalink_is_read_and_refused_as_ostree_does():
    s = b"summary bytes"
    m = parse_metalink(_metalink(s, ["http://h/r/summary.bad", "http://h/r/summary"]))
    assert m == MetalinkFile("summary", len(s), hashlib.sha256(s).hexdigest(), hashlib.sha512(s).hexdigest(),
                             ("http://h/r/summary.bad", "http://h/r/summary"))
    check_target(m, s)
    for data, message in (
            (_metalink(s, ["http://h/s"], sha512="bacon"), "Invalid hash digest for sha512"),
            (_metalink(s, ["http://h/s"], hashes='<hash type="md5">00</hash>'),
             "No <verification> element with known <hash type=> found"),
            # the last <hash> decides whether the type is known, as in ostree-metalink.c
            (_metalink(s, ["http://h/s"], hashes=f'<hash type="sha256">{hashlib.sha256(s).hexdigest()}</hash>'
                                                 '<hash type="md5">00</hash>'),
             "No <verification> element with known <hash type=> found"),
            (_metalink(s, []), "No <url method='http'> elements found"),
            (_metalink(s, ["http://h/s"], size=0), "No <size> element found or it is zero"),
            (b"bacon\n", "Document must begin with an element (e.g. <book>)"),
            (b'<metalink><files><file name="x"/></files></metalink>', "No <file name='summary'> found")):
        with pytest.raises(MetalinkError) as e:
            parse_metalink(data)
        assert str(e.value) == message
    with pytest.raises(MetalinkError, match="^Expected size is 13 bytes but content is 3 bytes$"):
        check_target(m, b"moo")
    with pytest.raises(MetalinkError, match="^Expected checksum is [0-9a-f]{128} but actual is [0-9a-f]{128}$"):
        check_target(m, b"summary bytez")


def test_pull_through_a_metalink_as_ostree_does(web_server, served_repo, tmp_path):
    r = served_repo("ml")
    summary = (r.path / "summary").read_bytes()
    (r.path / "summary.bad").write_bytes(b"broken")
    base = f"{web_server.url}{r.urlpath}"
    ml = web_server.root / "metalink.xml"
    ml.write_bytes(_metalink(summary, [f"{base}/summary.bad", f"{base}/nosuchfile", f"{base}/summary"]))
    a, b = _init_both(tmp_path, "--no-gpg-verify", "origin", f"metalink={web_server.url}/metalink.xml")
    for repo, tool in ((a, ours), (b, peer)):
        rc, _, err = tool(f"--repo={repo}", "pull", "origin:main")
        assert rc == 0, err
        assert tool(f"--repo={repo}", "rev-parse", "origin:main")[1].strip() == r.commit
        rc, out, _ = tool(f"--repo={repo}", "remote", "refs", "origin")
        assert rc == 0 and out.split() == ["origin:main"]
    run("ostree", f"--repo={a}", "fsck")
    # every target failing: the same words from both, naming the count and the last failure
    ml.write_bytes(_metalink(summary, [f"{base}/summary.bad", f"{base}/summary"], sha512="0" * 128))
    errs = []
    for repo, tool in ((a, ours), (b, peer)):
        rc, _, err = tool(f"--repo={repo}", "pull", "origin:main")
        assert rc == 1
        errs.append(re.sub(r"actual is [0-9a-f]+", "actual is X", last_error(err)))
    assert errs[0] == errs[1] == f"error: Exhausted 2 metalink targets, last error: Expected checksum is {'0' * 128}" \
                                 " but actual is X"


# ------------------------------------------------------------------ summary cache

def _signed_served(served_repo, name: str):
    sec, pub = _keys()
    r = served_repo(name)
    rc, _, err = ours(f"--repo={r.path}", "summary", "-u", f"--sign={sec}", "--sign-type=ed25519")
    assert rc == 0, err
    return r, pub


def test_summary_cache_is_kept_revalidated_and_read_by_ostree(served_repo, fault_proxy, tmp_path, monkeypatch):
    monkeypatch.delenv("OSTREE_SKIP_CACHE", raising=False)
    r, pub = _signed_served(served_repo, "cache")
    url = f"{fault_proxy.url}{r.urlpath}"
    a, b = _init_both(tmp_path)
    # Debian's ostree has no ed25519: its copy of the remote checks no signature
    assert ours(f"--repo={a}", "remote", "add", "--no-sign-verify", "--set=sign-verify-summary=true",
                f"--set=verification-ed25519-key={pub}", "origin", url)[0] == 0
    assert peer(f"--repo={b}", "remote", "add", "--no-gpg-verify", "origin", url)[0] == 0
    cache = a / "tmp/cache/summaries"
    assert ours(f"--repo={a}", "pull", "origin", "main")[0] == 0
    assert (cache / "origin").read_bytes() == (r.path / "summary").read_bytes()
    assert (cache / "origin.sig").read_bytes() == (r.path / "summary.sig").read_bytes()
    # the server's validators kept as libostree keeps them: ETag in user.etag, Last-Modified as mtime
    etag = os.getxattr(cache / "origin.sig", "user.etag").decode()
    assert etag.startswith('"') and int((cache / "origin.sig").stat().st_mtime) == int(
        (r.path / "summary.sig").stat().st_mtime)
    inodes = {p.name: p.stat().st_ino for p in cache.iterdir()}
    fault_proxy.clear()
    fault_proxy.headers.clear()
    assert ours(f"--repo={a}", "pull", "origin", "main")[0] == 0
    asked = [p for p, _ in fault_proxy.requests]
    assert f"{r.urlpath}/summary.sig" in asked and f"{r.urlpath}/summary" not in asked  # 304: both current
    assert fault_proxy.headers[asked.index(f"{r.urlpath}/summary.sig")]["If-None-Match"] == etag
    assert {p.name: p.stat().st_ino for p in cache.iterdir()} == inodes
    # Debian's ostree reads our cache: it revalidates with our ETag and fetches no summary
    (b / "tmp/cache").mkdir(parents=True, exist_ok=True)
    shutil.copytree(cache, b / "tmp/cache/summaries")
    os.setxattr(b / "tmp/cache/summaries/origin.sig", "user.etag", etag.encode())
    fault_proxy.clear()
    fault_proxy.headers.clear()
    env_pull = run("env", "-u", "OSTREE_SKIP_CACHE", "ostree", f"--repo={b}", "remote", "refs", "origin")
    assert env_pull.stdout.decode().split() == ["origin:main"]
    asked = [p for p, _ in fault_proxy.requests]
    assert asked == [f"{r.urlpath}/summary.sig"]
    assert fault_proxy.headers[0]["If-None-Match"] == etag
    # a cached summary that no longer matches its signature is fetched again, whole
    (cache / "origin").write_bytes(b"stale" + (cache / "origin").read_bytes())
    (cache / "origin.sig").write_bytes((r.path / "summary.sig").read_bytes())
    fault_proxy.clear()
    rc, _, err = ours(f"--repo={a}", "pull", "origin", "main")
    assert rc == 0, err
    assert (cache / "origin").read_bytes() == (r.path / "summary").read_bytes()


def test_summary_cache_is_off_with_ostree_skip_cache(served_repo, tmp_path, monkeypatch, web_server):
    monkeypatch.setenv("OSTREE_SKIP_CACHE", "1")
    r, _pub = _signed_served(served_repo, "nocache")
    a, _b = _init_both(tmp_path, "--no-gpg-verify", "origin", f"{web_server.url}{r.urlpath}")
    assert ours(f"--repo={a}", "pull", "origin", "main")[0] == 0
    assert not (a / "tmp/cache/summaries").exists()


# ------------------------------------------------------------------ --url, refusals, messages

def test_url_override_and_refusals_as_ostree(web_server, served_repo, tmp_path):
    r = served_repo("ovr")
    a, b = _init_both(tmp_path, "--no-gpg-verify", "origin", f"{web_server.url}/nowhere")
    for repo, tool in ((a, ours), (b, peer)):
        rc, out, err = tool(f"--repo={repo}", "pull", f"--url={web_server.url}{r.urlpath}", "origin", "main")
        assert rc == 0, err
        assert tool(f"--repo={repo}", "rev-parse", "origin:main")[1].strip() == r.commit
    # the status line counts as ostree >= 2023.9's: a .commitmeta the server does not have is
    # no metadata fetch (c8ed1c7a); Debian's 2022.7 counts that request, one more (against
    # 2026.4: test_pull_http.test_status_line_counts_as_ostree_2026)
    counts = []
    for repo, tool in ((a, ours), (b, peer)):
        shutil.rmtree(repo / "objects")
        (repo / "objects").mkdir()
        rc, out, err = tool(f"--repo={repo}", "pull", f"--url={web_server.url}{r.urlpath}", "origin", "main")
        assert rc == 0, err
        counts.append(out.split(";")[0])
    (n_ours, rest_ours), (n_deb, rest_deb) = (c.split(" ", 1) for c in counts)
    assert rest_ours == rest_deb and int(n_deb) == int(n_ours) + 1
    errs = []
    for repo, tool in ((a, ours), (b, peer)):
        assert tool(f"--repo={repo}", "remote", "add", "--no-gpg-verify",
                    "--set=unconfigured-state=Access requires ONE BILLION DOLLARS.", "sub",
                    f"{web_server.url}{r.urlpath}")[0] == 0
        assert tool(f"--repo={repo}", "remote", "add", "--custom-backend=ostree-rs-ext", "ctr",
                    "docker://quay.io/x/y")[0] == 0
        out = []
        for name in ("sub", "ctr"):
            rc, _, err = tool(f"--repo={repo}", "pull", name, "main")
            assert rc == 1
            out.append(last_error(err))
        errs.append(out)
    assert errs[0] == errs[1] == ["error: remote unconfigured-state: Access requires ONE BILLION DOLLARS.",
                                  "error: Cannot fetch via libostree - remote 'ctr' uses custom backend "
                                  "'ostree-rs-ext'"]


def test_html_served_for_a_ref_is_reported_as_ostree_does(web_server, tmp_path):
    srv = web_server.root / "html"
    if srv.exists():
        shutil.rmtree(srv)
    run("ostree", f"--repo={srv}", "init", "--mode=archive")
    (srv / "refs/heads/main").write_text("lots of html here \n" * 20)
    a, b = _init_both(tmp_path, "--no-gpg-verify", "origin", f"{web_server.url}/html")
    errs = [last_error(tool(f"--repo={repo}", "pull", "origin", "main")[2]) for repo, tool in ((a, ours), (b, peer))]
    assert errs[0] == errs[1] == ("error: Fetching checksum for ref ((empty), main): Invalid rev "
                                  "lots of html here  lots of html here  lots of html here  lots of")


# ------------------------------------------------------------------ bareuseronly, trusted imports

def test_bareuseronly_files_refuses_setuid_content_as_ostree(web_server, tmp_path):
    srv = web_server.root / "suid"
    if srv.exists():
        shutil.rmtree(srv)
    tree = tmp_path / "tree"
    write_tree(tree, {"usr/bin/plain": b"plain\n", "usr/bin/asetuid": b"suid\n"})
    (tmp_path / "so.txt").write_text("2048 /usr/bin/asetuid\n")
    run("ostree", f"--repo={srv}", "init", "--mode=archive")
    run("ostree", f"--repo={srv}", "commit", "-b", "suid", f"--statoverride={tmp_path / 'so.txt'}",
        "--owner-uid=0", "--owner-gid=0", f"--tree=dir={tree}")
    run("ostree", f"--repo={srv}", "summary", "-u")
    a, b = _init_both(tmp_path, "--no-gpg-verify", "origin", f"{web_server.url}/suid")
    errs = []
    for repo, tool in ((a, ours), (b, peer)):
        for flags in ((), ("--mirror",)):
            rc, _, err = tool(f"--repo={repo}", "pull", *flags, "--bareuseronly-files", "origin", "suid")
            assert rc == 1
            errs.append(last_error(err))
        assert tool(f"--repo={repo}", "refs")[1] == ""  # no ref moved
    assert len(set(errs)) == 1
    assert re.fullmatch(r"error: Content object [0-9a-f]{64}: invalid mode 0104[0-7]{3} with bits 040[0-7]{2}",
                        errs[0]), errs[0]
    # pull-local too
    c = tmp_path / "local"
    assert ours(f"--repo={c}", "init", "--mode=archive")[0] == 0
    rc, _, err = ours(f"--repo={c}", "pull-local", "--bareuseronly-files", str(srv), "suid")
    assert rc == 1 and last_error(err) == errs[0]


def test_trusted_pull_local_refuses_a_corrupt_object_ostree_keeps(tmp_path):
    """pull-local without --untrusted: ostree copies content into another mode unchecked
    (its TRUSTED import), so a corrupt source object lands under its name and only fsck
    finds it. ostreepy checks every object it copies (the write's own hash), so the same
    pull is refused and nothing moves: where we knowingly differ from the peer."""
    src = tmp_path / "src"
    tree = tmp_path / "tree"
    write_tree(tree, {"f": b"the content\n"})
    run("ostree", f"--repo={src}", "init", "--mode=bare-user")
    run("ostree", f"--repo={src}", "commit", "-b", "main", f"--tree=dir={tree}")
    obj = next(p for p in (src / "objects").glob("*/*.file"))
    csum = obj.parent.name + obj.name[:-5]
    data = obj.read_bytes()
    os.chmod(obj, 0o644)
    obj.write_bytes(data[::-1])  # xattrs (user.ostreemeta) stay
    a, b = _init_both(tmp_path)
    rc, _, err = peer(f"--repo={b}", "pull-local", str(src), "main")
    assert rc == 0, err
    rc, _, err = peer(f"--repo={b}", "fsck")
    assert rc == 1 and re.search(f"Corrupted.*{csum}", err), err
    rc, _, err = ours(f"--repo={a}", "pull-local", str(src), "main")
    assert rc == 1 and re.search(f"Corrupted.*{csum}", err), err
    assert ours(f"--repo={a}", "refs")[1] == ""
    assert not list((a / "objects").glob(f"{csum[:2]}/{csum[2:]}.*"))
    rc, _, err = peer(f"--repo={a}", "fsck")
    assert rc == 0, err
    # --untrusted refuses it as well
    c = tmp_path / "untrusted"
    assert ours(f"--repo={c}", "init", "--mode=archive")[0] == 0
    rc, _, err = ours(f"--repo={c}", "pull-local", "--untrusted", str(src), "main")
    assert rc == 1 and re.search(f"Corrupted.*{csum}", err), err


def test_pull_local_of_a_repo_with_remote_refs_fails_as_ostree(tmp_path):
    src = tmp_path / "src"
    tree = tmp_path / "tree"
    write_tree(tree, small_tree(n=2))
    run("ostree", f"--repo={src}", "init", "--mode=archive")
    run("ostree", f"--repo={src}", "commit", "-b", "localbranch", f"--tree=dir={tree}")
    rev = run("ostree", f"--repo={src}", "rev-parse", "localbranch").stdout.decode().strip()
    run("ostree", f"--repo={src}", "refs", "--create=origin:main", rev)
    a, b = _init_both(tmp_path)
    errs = [last_error(tool(f"--repo={repo}", "pull-local", str(src))[2]) for repo, tool in ((a, ours), (b, peer))]
    assert errs[0] == errs[1] == "error: Invalid ref name origin:main"


def test_a_dirtree_naming_a_parent_is_refused_in_ostrees_words(web_server, tmp_path):
    from .test_pull import _hostile_source
    evil = web_server.root / "traverse"
    if evil.exists():
        shutil.rmtree(evil)
    _hostile_source(evil, "../afile")
    tree = next((evil / "objects").glob("*/*.dirtree"))
    tcsum = tree.parent.name + tree.name[: -len(".dirtree")]
    a, b = _init_both(tmp_path, "--no-gpg-verify", "origin", f"{web_server.url}/traverse")
    for repo, tool in ((a, ours), (b, peer)):
        rc, _, err = tool(f"--repo={repo}", "pull", "origin", "main")
        assert rc == 1 and f"{tcsum}.dirtree: Invalid / in filename ../afile" in last_error(err), err
        # not even staged
        assert not [p for p in (repo / "tmp").rglob(f"*{tcsum[2:]}*")]


def test_a_bare_repository_is_pulled_over_file_urls_but_not_over_http(web_server, tmp_path):
    bare = web_server.root / "bare"
    if bare.exists():
        shutil.rmtree(bare)
    tree = tmp_path / "tree"
    write_tree(tree, small_tree(n=3))
    run("ostree", f"--repo={bare}", "init", "--mode=bare-user")
    run("ostree", f"--repo={bare}", "commit", "-b", "main", f"--tree=dir={tree}")
    rev = run("ostree", f"--repo={bare}", "rev-parse", "main").stdout.decode().strip()
    a, b = _init_both(tmp_path)
    errs = []
    for repo, tool in ((a, ours), (b, peer)):
        assert tool(f"--repo={repo}", "remote", "add", "--no-gpg-verify", "web", f"{web_server.url}/bare")[0] == 0
        assert tool(f"--repo={repo}", "remote", "add", "--no-gpg-verify", "disk", f"file://{bare}")[0] == 0
        rc, _, err = tool(f"--repo={repo}", "pull", "web", "main")
        assert rc == 1
        errs.append(last_error(err))
        rc, out, err = tool(f"--repo={repo}", "pull", "disk", "main")
        assert rc == 0, err
        assert "content objects imported" in out
        assert tool(f"--repo={repo}", "rev-parse", "disk:main")[1].strip() == rev
    # both refuse it over HTTP; ostree only once an object it asks for is not there ("Server
    # returned HTTP 404"), we as soon as the remote's config says what it is
    assert errs == ['error: Can\'t pull from archives with mode "bare-user"', "error: Server returned HTTP 404"]
    run("ostree", f"--repo={a}", "fsck")


def test_a_metalink_summary_is_refused_where_the_policy_wants_its_signature(web_server, served_repo, tmp_path):
    r = served_repo("mlsig")
    summary = (r.path / "summary").read_bytes()
    (web_server.root / "metalink-sig.xml").write_bytes(
        _metalink(summary, [f"{web_server.url}{r.urlpath}/summary"]))
    repo = tmp_path / "repo"
    assert ours(f"--repo={repo}", "init", "--mode=archive")[0] == 0
    assert ours(f"--repo={repo}", "remote", "add", "--no-gpg-verify", "--set=gpg-verify-summary=true", "origin",
                f"metalink={web_server.url}/metalink-sig.xml")[0] == 0
    rc, _, err = ours(f"--repo={repo}", "pull", "origin:main")
    assert rc == 1 and "no summary.sig found" in err, err
    assert ours(f"--repo={repo}", "refs")[1] == ""


def test_cache_dir_holds_the_summary_cache(served_repo, web_server, tmp_path, monkeypatch):
    monkeypatch.setenv("OSTREE_SKIP_CACHE", "1")  # --cache-dir overrides it, as ostree_repo_set_cache_dir
    r, _pub = _signed_served(served_repo, "cachedir")
    a, _b = _init_both(tmp_path, "--no-gpg-verify", "origin", f"{web_server.url}{r.urlpath}")
    cachedir = tmp_path / "cachedir"
    cachedir.mkdir()
    assert ours(f"--repo={a}", "pull", f"--cache-dir={cachedir}", "origin", "main")[0] == 0
    assert not (a / "tmp/cache/summaries/origin").exists()
    assert (cachedir / "summaries/origin.sig").read_bytes() == (r.path / "summary.sig").read_bytes()
    (cachedir / "summaries/origin").unlink()
    rc, out, _ = ours(f"--repo={a}", "remote", "refs", f"--cache-dir={cachedir}", "origin")
    assert rc == 0 and out.split() == ["origin:main"]
    assert (cachedir / "summaries/origin").read_bytes() == (r.path / "summary").read_bytes()


def test_gpg_list_keys_without_a_remote_lists_the_global_keyrings_as_ostree(tmp_path, monkeypatch):
    from core.gpgkeys import shared_home
    home = shared_home()
    trusted = tmp_path / "trusted.gpg.d"
    trusted.mkdir()
    (trusted / "one.gpg").write_bytes(home.export("rsa"))
    a, b = _init_both(tmp_path)
    outs = []
    for repo, tool in ((a, ours), (b, peer)):
        for home_dir in (tmp_path / "empty", trusted):
            monkeypatch.setenv("OSTREE_GPG_HOME", str(home_dir))
            if tool is peer:
                rc, out, err = run_env(repo, home_dir)
            else:
                rc, out, err = tool(f"--repo={repo}", "remote", "gpg-list-keys")
            assert rc == 0, err
            outs.append(out)
    assert outs[0] == outs[2] == ""
    assert outs[1] == outs[3] and outs[1].startswith("Key: ")


def run_env(repo: Path, home_dir: Path):
    import subprocess
    from .conftest import TOOL_ENV
    p = subprocess.run(["ostree", f"--repo={repo}", "remote", "gpg-list-keys"], capture_output=True, text=True,
                       env=dict(TOOL_ENV, OSTREE_GPG_HOME=str(home_dir)))
    return p.returncode, p.stdout, p.stderr


def test_a_revoked_keys_uids_and_subkeys_are_listed_revoked_as_ostree(tmp_path):
    import subprocess
    from core.gpgkeys import shared_home
    home = shared_home()
    gh = tmp_path / "gnupg"
    shutil.copytree(home.path, gh, ignore=shutil.ignore_patterns("S.*", "*.lock"))
    os.chmod(gh, 0o700)
    rev = (gh / "openpgp-revocs.d" / f"{home.fpr['sub']}.rev").read_bytes().replace(b":-----BEGIN", b"-----BEGIN")
    subprocess.run(["gpg", "--batch", "--homedir", str(gh), "--import"], input=rev, check=True, capture_output=True)
    key = subprocess.run(["gpg", "--batch", "--homedir", str(gh), "--export", home.fpr["sub"]], check=True,
                         capture_output=True).stdout
    subprocess.run(["gpgconf", "--homedir", str(gh), "--kill", "all"], capture_output=True)
    (tmp_path / "key.gpg").write_bytes(key)
    a, b = _init_both(tmp_path, "--no-gpg-verify", "origin", "http://127.0.0.1:1/r")
    outs = []
    for repo, tool in ((a, ours), (b, peer)):
        assert tool(f"--repo={repo}", "remote", "gpg-import", "-k", str(tmp_path / "key.gpg"), "origin")[0] == 0
        rc, out, err = tool(f"--repo={repo}", "remote", "gpg-list-keys", "origin")
        assert rc == 0, err
        outs.append(out)
    assert outs[0] == outs[1]
    assert re.search(r"^Key: [0-9A-F]+ \(revoked\)$", outs[0], re.M)
    assert re.search(r"^  UID: .* \(revoked\)$", outs[0], re.M) and re.search(r"^  Subkey: [0-9A-F]+ \(revoked\)$",
                                                                             outs[0], re.M)


def test_a_pull_by_checksum_finds_indexed_deltas_without_the_summary(served_repo, fault_proxy, tmp_path):
    r = served_repo("idx", small_tree(1))
    tree = tmp_path / "tree2"
    write_tree(tree, small_tree(2))
    run("ostree", f"--repo={r.path}", "commit", "-b", "main", f"--tree=dir={tree}")
    new = run("ostree", f"--repo={r.path}", "rev-parse", "main").stdout.decode().strip()
    run("ostree", f"--repo={r.path}", "static-delta", "generate", "main")
    run("ostree", f"--repo={r.path}", "summary", "-u")
    assert "indexed-deltas=true" in (r.path / "config").read_text()
    repo = tmp_path / "repo"
    assert ours(f"--repo={repo}", "init", "--mode=bare-user")[0] == 0
    assert ours(f"--repo={repo}", "remote", "add", "--no-gpg-verify", "origin", f"{fault_proxy.url}{r.urlpath}")[0] == 0
    assert ours(f"--repo={repo}", "pull", "origin", f"main@{r.commit}")[0] == 0
    fault_proxy.clear()
    rc, out, err = ours(f"--repo={repo}", "pull", "--require-static-deltas", "origin", new)
    assert rc == 0 and out.startswith("1 delta parts"), err
    asked = [p for p, _ in fault_proxy.requests]
    # as ostree: every ref asked for names its commit and the config says deltas are indexed
    assert f"{r.urlpath}/summary" not in asked and any("/delta-indexes/" in p for p in asked)
    run("ostree", f"--repo={repo}", "fsck")


@pytest.mark.parametrize("args", [
    "pull o main", "--repo=r pull o main", "pull --repo=r o", "pull o --repo r a b", "pull o a --mirror --dry-run",
    "pull --commit-metadata-only --disable-static-deltas --require-static-deltas --timestamp-check o a",
    "pull --untrusted --disable-fsync --per-object-fsync --disable-verify-bindings o --bareuseronly-files",
    "--http-trusted pull o:main", "pull o", "pull - main", "pull o -",
])
def test_a_plain_pull_command_line_reads_as_argparse_reads_it(args: str) -> None:
    """A plain `pull` is read by the program's entry without argparse (its import, the parsers
    and the parse were a few ms of a pull with nothing to fetch): the same namespace."""
    from ostreepy.cli.main import _command_first, _parse_command_line
    from ostreepy.cli.pull import plain_pull_args
    argv = args.split()
    plain = plain_pull_args(argv)
    assert plain is not None
    assert vars(plain) == vars(_parse_command_line(_command_first(argv)))


@pytest.mark.parametrize("args", ["pull", "pull o --help", "-h pull o", "pull --depth 1 o", "pull --mirr o",
                                  "pull -- o a", "pull --mirror=yes o", "--repo=a pull --repo=b o", "pull --repo",
                                  "pull --repo -x o", "pull-local a", "refs pull o", "pull -T o", "--repo= pull o"])
def test_other_pull_command_lines_are_left_to_argparse(args: str) -> None:
    from ostreepy.cli.pull import plain_pull_args
    assert plain_pull_args(args.split()) is None


def test_a_plain_pull_run_as_the_program_ends_with_its_output_whole(served_repo, web_server, tmp_path):
    """Run as the program, a plain pull ends its process without the interpreter's teardown
    (os._exit): its status line is all there, the ref and objects are in, and a refusal
    still answers 1 with one line, as ostree's."""
    import subprocess
    import sys
    r = served_repo("exit")
    repo = tmp_path / "repo"
    assert ours(f"--repo={repo}", "init", "--mode=bare")[0] == 0
    assert ours(f"--repo={repo}", "remote", "add", "--no-gpg-verify", "origin",
                f"{web_server.url}{r.urlpath}")[0] == 0
    pull = [sys.executable, "-m", "ostreepy", f"--repo={repo}", "pull", "origin"]
    p = subprocess.run(pull + ["main"], capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (0, "") and re.fullmatch(
        r"\d+ metadata, \d+ content objects fetched; \d+ KiB transferred in \d+ seconds; [\d.]+ \w+ content"
        r" written\n", p.stdout), p.stdout
    assert (repo / "refs/remotes/origin/main").read_text().strip() == r.commit
    run("ostree", f"--repo={repo}", "fsck")
    p = subprocess.run(pull + ["nosuch"], capture_output=True, text=True)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", "error: No such branch 'nosuch' in repository summary\n")
