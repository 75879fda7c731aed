"""``remote add-cookie``/``delete-cookie``/``list-cookies`` and the cookies a pull sends
(ostree's test-remote-cookies), against Debian's ostree: the same jar bytes, each tool reading
the other's jar, and both sending the same ``Cookie`` header from it."""

from __future__ import annotations

import re
from pathlib import Path

from ostreepy.remote.cookies import Cookie, cookie_header, parse_jar

from .conftest import ours, peer, run

EXPIRY = re.compile(r"\t(\d+)\t")


def _masked(text: str) -> str:
    return EXPIRY.sub("\tEXPIRES\t", text)


def test_jar_lines_are_ostrees_and_each_tool_edits_the_others(tmp_path: Path):
    for who, tool in (("ours", ours), ("theirs", peer)):
        repo = tmp_path / who
        assert tool(f"--repo={repo}", "init", "--mode=archive")[0] == 0
        assert tool(f"--repo={repo}", "remote", "add", "--no-gpg-verify", "o", "http://127.0.0.1:1/r")[0] == 0
        for args in (("127.0.0.1", "/", "foo", "bar"), (".example.com", "/p", "baz", "a b")):
            assert tool(f"--repo={repo}", "remote", "add-cookie", "o", *args)[0] == 0
    a = (tmp_path / "ours" / "o.cookies.txt").read_text()
    b = (tmp_path / "theirs" / "o.cookies.txt").read_text()
    assert _masked(a) == _masked(b) == (
        "127.0.0.1\tFALSE\t/\tFALSE\tEXPIRES\tfoo\tbar\n.example.com\tTRUE\t/p\tFALSE\tEXPIRES\tbaz\ta b\n")
    # 25 years ahead, as ostree's
    assert abs(int(EXPIRY.search(a).group(1)) - int(EXPIRY.search(b).group(1))) < 120
    # each deletes from the other's jar; the line kept is kept byte for byte
    assert peer(f"--repo={tmp_path / 'ours'}", "remote", "delete-cookie", "o", "127.0.0.1", "/", "foo")[0] == 0
    assert (tmp_path / "ours" / "o.cookies.txt").read_text() == a.splitlines(True)[1]
    assert ours(f"--repo={tmp_path / 'theirs'}", "remote", "delete-cookie", "o", ".example.com", "/p", "baz")[0] == 0
    assert (tmp_path / "theirs" / "o.cookies.txt").read_text() == b.splitlines(True)[0]
    # a cookie that is not there: both fail with the same message
    for tool in (ours, peer):
        rc, _, err = tool(f"--repo={tmp_path / 'theirs'}", "remote", "delete-cookie", "o", "x", "/", "nosuch")
        assert rc == 1 and "error: Cookie not found in jar" in err
    rc, out, _ = ours(f"--repo={tmp_path / 'theirs'}", "remote", "list-cookies", "o")
    assert rc == 0 and out.startswith("--\nDomain: 127.0.0.1\nPath: /\nName: foo\nSecure: FALSE\nExpires: ")
    assert out.endswith(" +0000\nValue: bar\n")


def test_which_cookies_go_with_a_request():
    jar = parse_jar("# Netscape HTTP Cookie File\n\n"
                    "127.0.0.1\tFALSE\t/\tFALSE\t0\ta\t1\n"
                    ".example.com\tTRUE\t/\tFALSE\t0\tsub\t2\n"
                    "example.com\tFALSE\t/repo\tTRUE\t0\tsec\t3\n"
                    "127.0.0.1\tFALSE\t/\tFALSE\t1\told\t4\n"
                    "127.0.0.1\tFALSE\t/\tFALSE\t0\ta\t5\n"
                    "not a cookie line\n")
    assert [c.name for c in jar] == ["a", "sub", "sec", "old", "a"]
    # the later line of a name wins; expired ones are not sent
    assert cookie_header(jar, "127.0.0.1", "/r/", https=False, now=100) == "a=5"
    assert cookie_header(jar, "mirror.example.com", "/", https=False, now=100) == "sub=2"
    assert cookie_header(jar, "example.com", "/repo/objects", https=False, now=100) == "sub=2"
    assert cookie_header(jar, "example.com", "/repo/objects", https=True, now=100) == "sec=3; sub=2"
    assert cookie_header(jar, "example.com", "/repository", https=True, now=100) == "sub=2"
    assert cookie_header(jar, "other.org", "/", https=True, now=100) is None
    assert Cookie("h", "/", "n", "v").to_line() == "h\tFALSE\t/\tFALSE\t0\tn\tv\n"


def test_pull_sends_the_jars_cookies_as_ostree_does(served_repo, fault_proxy, tmp_path: Path):
    r = served_repo("cookies")
    url = f"{fault_proxy.url}{r.urlpath}"
    for who, tool in (("ours", ours), ("theirs", peer)):
        repo = tmp_path / who
        assert tool(f"--repo={repo}", "init", "--mode=archive")[0] == 0
        assert tool(f"--repo={repo}", "remote", "add", "--no-gpg-verify", "origin", url)[0] == 0
    # one jar, written by us, read by both
    assert ours(f"--repo={tmp_path / 'ours'}", "remote", "add-cookie", "origin", "127.0.0.1", "/", "foo", "bar")[0] == 0
    assert ours(f"--repo={tmp_path / 'ours'}", "remote", "add-cookie", "origin", "127.0.0.1", "/", "baz",
                "badger")[0] == 0
    assert ours(f"--repo={tmp_path / 'ours'}", "remote", "add-cookie", "origin", "elsewhere.org", "/", "no",
                "no")[0] == 0
    (tmp_path / "theirs" / "origin.cookies.txt").write_bytes((tmp_path / "ours" / "origin.cookies.txt").read_bytes())
    sent = {}
    for who in ("theirs", "ours"):
        fault_proxy.headers.clear()
        if who == "ours":
            rc, _, err = ours(f"--repo={tmp_path / who}", "pull", "origin", "main")
            assert rc == 0, err
        else:
            run("ostree", f"--repo={tmp_path / who}", "pull", "origin", "main")
        cookies = {tuple(sorted(h.get("Cookie", "").split("; "))) for h in fault_proxy.headers}
        sent[who] = cookies
    assert sent["ours"] == sent["theirs"] == {("baz=badger", "foo=bar")}
