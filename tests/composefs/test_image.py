"""The composefs EROFS image against libcomposefs's own test vectors, mkcomposefs
and Debian's erofs-utils; the dump-file format both ways."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys

import pytest

from ostreepy.composefs.dumpfile import dump_lines, escape, parse_dump
from ostreepy.composefs.erofs import image_bytes, write_image
from ostreepy.composefs.reader import read_image
from ostreepy.composefs.tree import ComposefsError

import upstream_peer
from upstream_peer import peer_bin

from .conftest import tool

DATA = os.path.join(os.path.dirname(__file__), "data")
# mkcomposefs 1.0.8 --from-file of test_hardlink_to_a_directory_as_mkcomposefs's dump
HARDLINKED_DIR_SHA256 = "f64362b6962763bbede98d667c1f757e07ae43d04af23fe873dcffde194f502e"

# containers/composefs 1.0.8 tests/assets/*.sha256: mkcomposefs of each dump (min=max=version where given)
ASSETS = {
    "bigfile-xattr.dump": ("5bdb37d78dcf03b4ab1adc9a2d5212d3d95213b41628939f5fe3769f93d927cc", None),
    "bigfile.dump": ("475838479da68b086445eca1f12dd30fc4513f3f88c66b40b58fd70f7495ea27", None),
    "config.dump": ("f93737bda1b19d79c8fe2828615b9dd24e4ec5d97410a1ce6e3716b1a778f00f", None),
    "honggfuzz-bigfile-with-acl.dump": ("49fcb98c1d331c3f4b414d99d17aac0a6a7e1f8fe7de0d33bbe53064fa55e88b", None),
    "honggfuzz-chardev-nonzero-size.dump": ("3e7ca8195f29cfd0583ed761c8eead21892ef0ec61d1402aa7f7d84ef8316947",
                                            None),
    "honggfuzz-long-symlink.dump": ("7939aa24a6499de3796792d8ad220138453803ab5f20c96a8c815bf212d44ff7", None),
    "honggfuzz-longlink-unterminated.dump": ("83857db405498de347043d0e00b9f094c30670ed577e0ef8f6150cf99345abbb",
                                             None),
    "longlink.dump": ("6747c908f88fc6c18626027f204159f3c2a6225b45e4de2f2d5ebf969bf5f24a", None),
    "no-newline.dump": ("99f02c3c63d0c4c14be6f63e87250adafc0e173a12354f50d9ba7cd320deeca7", 0),
    "special.dump": ("d344782ff962ab7d1c5533755c19c5bf3c3485f55bfaf228fc89524c7e2ba61e", 0),
    # special_v1.dump is a symlink to special.dump in the composefs tree, built with version 1
    "special.dump@1": ("2b1dfb9ffe6938cb3134c339059572e38cbd8cc515d54758fdff55cad5a37427", 1),
}
NONSTRICT = {"no-newline.dump", "longlink.dump", "honggfuzz-longlink-unterminated.dump"}
SHOULD_FAIL = sorted(f[:-3] for f in os.listdir(DATA) if f.startswith("should-fail-"))


def _as_mkcomposefs_writes_it(tmp_path, dump: bytes, img: bytes) -> None:
    """Where upstream's mkcomposefs runs: its image of ``dump`` is ``img``."""
    if upstream_peer.available():
        (tmp_path / "d").write_bytes(dump)
        subprocess.run([upstream_peer.peer_bin("mkcomposefs"), "--from-file", str(tmp_path / "d"),
                        str(tmp_path / "img")], check=True)
        assert (tmp_path / "img").read_bytes() == img


def load(name: str) -> bytes:
    with gzip.open(os.path.join(DATA, name.split("@")[0] + ".gz")) as f:
        return f.read()


def build(name: str) -> tuple[bytes, bytes]:
    digest, version = ASSETS[name]
    root = parse_dump(load(name), strict=name not in NONSTRICT)
    kw = {} if version is None else {"min_version": version, "max_version": version}
    return image_bytes(root, **kw)


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_libcomposefs_vectors(name: str) -> None:
    image, digest = build(name)
    assert hashlib.sha256(image).hexdigest() == ASSETS[name][0]
    # the streamed image digest is the fs-verity digest of those bytes
    from ostreepy.composefs.fsverity import fsverity_digest
    assert digest == fsverity_digest(image)


@pytest.mark.parametrize("name", SHOULD_FAIL)
def test_should_fail(name: str) -> None:
    with pytest.raises(ComposefsError):
        root = parse_dump(load(name))
        image_bytes(root)


def test_dump_round_trip() -> None:
    """Our dump of a parsed tree parses back to the same image."""
    for name in ("special.dump", "honggfuzz-long-symlink.dump", "bigfile-xattr.dump"):
        root = parse_dump(load(name))
        text = b"".join(dump_lines(root))
        assert image_bytes(parse_dump(text))[0] == image_bytes(root)[0]


def test_erofs_utils_accept_our_images(tmp_path) -> None:
    fsck = tool("fsck.erofs", "erofs-utils")
    dump = tool("dump.erofs", "erofs-utils")
    for name in ("special.dump", "special.dump@1", "longlink.dump", "bigfile-xattr.dump",
                 "honggfuzz-long-symlink.dump"):
        p = tmp_path / "img"
        p.write_bytes(build(name)[0])
        subprocess.run([fsck, str(p)], check=True, capture_output=True)
        out = subprocess.run([dump, "-S", str(p)], check=True, capture_output=True, text=True).stdout
        assert "Filesystem total file count:" in out


def test_mkcomposefs_from_our_dump(tmp_path) -> None:
    """mkcomposefs --from-file of the dump we write gives our image, digest included."""
    mk = peer_bin("mkcomposefs")
    for name in ("special.dump@1", "config.dump"):
        root = parse_dump(load(name))
        version = ASSETS[name][1]
        kw = {} if version is None else {"min_version": version, "max_version": version}
        ours, digest = image_bytes(root, **kw)
        dump = tmp_path / "d"
        dump.write_bytes(b"".join(dump_lines(root)))
        args = [mk, "--print-digest", "--from-file", str(dump), str(tmp_path / "img")]
        if version is not None:
            args[1:1] = [f"--min-version={version}", f"--max-version={version}"]
        out = subprocess.run(args, check=True, capture_output=True, text=True,
                             env={**os.environ, "CFS_PARSE_STRICT": "1"}).stdout
        assert (tmp_path / "img").read_bytes() == ours
        assert out.strip() == digest.hex()


HOSTILE = [
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/a/../b 0 100644 1 0 0 0 0.0 - - -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/.. 0 100644 1 0 0 0 0.0 - - -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/x 0 @100644 1 0 0 0 0.0 /y - -\n/y 0 @100644 1 0 0 0 0.0 /x - -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - - -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/f 1 100644 1 0 0 0 0.0 - - 00\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/f 99999999999999999999 100644 1 0 0 0 0.0 - - -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/f 1 100644 1 0 0 0 0x1.0 - - -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/f 1 100644 1 0 0 0 0.0 - \\x4 -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/f 0 100644 1 0 0 0 0.0 - - - user.a=b  \n",
    b"/ 4096 40755 2 0 0 7 0.0 - - -\n",
    b"/ 4096 100644 2 0 0 0 0.0 - - -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - -\n/" + b"n" * 256 + b" 0 100644 1 0 0 0 0.0 - - -\n",
    b"/ 4096 40755 2 0 0 0 0.0 - - - " + b"user.x=" + b"v" * 70000 + b"\n",
    b"",
]


@pytest.mark.parametrize("dump", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_dumps_are_refused(dump: bytes) -> None:
    with pytest.raises(ComposefsError):
        image_bytes(parse_dump(io.BytesIO(dump)))


def test_escape() -> None:
    assert escape(b"a b=\\\n\x01-", escape_equal=True) == b"a\\x20b\\x3d\\\\\\n\\x01-"
    assert escape(b"-", escape_lone_dash=True) == b"\\x2d"
    assert escape(b"a b", noescape_space=True) == b"a b"


def test_write_image_streams(tmp_path) -> None:
    root = parse_dump(load("special.dump"))
    with open(tmp_path / "img", "wb") as f:
        digest = write_image(root, f.write, min_version=0, max_version=0)
    assert hashlib.sha256((tmp_path / "img").read_bytes()).hexdigest() == ASSETS["special.dump"][0]
    assert digest == image_bytes(root, max_version=0)[1]


def test_hardlink_to_a_directory_as_mkcomposefs(tmp_path) -> None:
    """mkcomposefs refuses a directory line marked as a link, not a link whose target is a
    directory: that gives a directory with two names (same bytes as mkcomposefs 1.0.8's), which
    the reader then refuses."""
    dump = b"/ 4096 40755 2 0 0 0 0.0 - - -\n/d 4096 40755 2 0 0 0 0.0 - - -\n/b 0 @100644 1 0 0 0 0.0 /d - -\n"
    img, _ = image_bytes(parse_dump(dump))
    assert hashlib.sha256(img).hexdigest() == HARDLINKED_DIR_SHA256
    with pytest.raises(ComposefsError, match="directory reached twice"):
        read_image(img)
    _as_mkcomposefs_writes_it(tmp_path, dump, img)


# hard links to lines the parser takes as plain (a file, a symlink), a link to a link among them
LINKS_TO_PLAIN = (b"/ 4096 40755 2 0 0 0 0.0 - - -\n/a 4097 100644 1 0 0 0 0.0 ab/cd - " + b"5a" * 32 + b"\n"
                  b"/d 4096 40755 2 0 0 0 0.0 - - -\n/d/l 3 120777 1 0 0 0 0.0 x/y - -\n"
                  b"/d/h 0 @120777 0 0 0 0 0.0 /d/l - -\n/h 0 @100644 0 0 0 0 0.0 /a - -\n"
                  b"/h2 0 @100644 0 0 0 0 0.0 /h - -\n")
LINKS_TO_PLAIN_SHA256 = "651e255001d1c3294bb51ecfe12211723cddff7ba41aeb3e20633d23e41523ea"


def test_hard_links_to_plain_lines_as_mkcomposefs(tmp_path) -> None:
    """A plain file or symlink line is held lean (a Leaf, no link count or name of its own); one
    a hard link names is made a full node, so its count and its path (dump_lines) are right."""
    root = parse_dump(LINKS_TO_PLAIN)
    img, _ = image_bytes(root)
    assert hashlib.sha256(img).hexdigest() == LINKS_TO_PLAIN_SHA256
    assert [line.split(b" ")[8] for line in dump_lines(parse_dump(LINKS_TO_PLAIN))][3:] == [b"/d/l", b"x/y", b"/a", b"/h"]
    _as_mkcomposefs_writes_it(tmp_path, LINKS_TO_PLAIN, img)


# mkcomposefs 1.0.8's image of RELATIVE_PATHS (sha256)
RELATIVE_PATHS = (b"/ 0 40755 2 0 0 0 0.0 - - -\nabc 0 100644 1 0 0 0 0.0 - - -\n/d 0 40755 2 0 0 0 0.0 - - -\n"
                  b"/d/f 0 100644 1 0 0 0 0.0 - - -\nd/g 0 100644 1 0 0 0 0.0 - - -\n")
RELATIVE_PATHS_SHA256 = "db130d3429f0674d5b2425aed95964ce0f3566f45af4416aa6b262fea44614e7"


def test_paths_without_a_leading_slash_as_mkcomposefs(tmp_path) -> None:
    """Paths without the leading '/' are taken from the root, right after a plain one too (the
    parser's remembered parent of the previous line must not apply to them)."""
    img, _ = image_bytes(parse_dump(RELATIVE_PATHS))
    assert hashlib.sha256(img).hexdigest() == RELATIVE_PATHS_SHA256
    _as_mkcomposefs_writes_it(tmp_path, RELATIVE_PATHS, img)


def test_create_without_a_digest_skips_hashing(tmp_path) -> None:
    """``composefs create --from-file`` without --print-digest neither hashes the image nor loads
    hashlib (a few ms of the start-up that dominates small trees); the image is the same."""
    dump = tmp_path / "d"
    dump.write_bytes(RELATIVE_PATHS)
    code = ("import sys; from ostreepy.cli.main import main; "
            f"rc = main(['composefs', 'create', '--from-file', {str(dump)!r}, {str(tmp_path / 'img')!r}]); "
            "sys.exit(rc or ('hashlib' in sys.modules and 3))")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert hashlib.sha256((tmp_path / "img").read_bytes()).hexdigest() == RELATIVE_PATHS_SHA256
    root = parse_dump(RELATIVE_PATHS)
    assert write_image(root, None, digest=False) == b""
    assert write_image(root, None) == image_bytes(root)[1]


def test_a_plain_create_run_as_the_program_ends_with_its_output_whole(tmp_path) -> None:
    """Run as the program, a plain create ends its process without the interpreter's teardown
    (os._exit): what it printed or streamed is all there, and a refusal still answers 1 with
    one line."""
    dump = tmp_path / "d"
    dump.write_bytes(RELATIVE_PATHS)
    create = [sys.executable, "-m", "ostreepy", "composefs", "create"]
    p = subprocess.run(create + ["--print-digest", "--from-file", str(dump), str(tmp_path / "img")],
                       capture_output=True, text=True, check=True)
    img, digest = image_bytes(parse_dump(RELATIVE_PATHS))
    assert p.stdout == digest.hex() + "\n" and (tmp_path / "img").read_bytes() == img
    assert subprocess.run(create + ["--from-file", str(dump), "-"], capture_output=True, check=True).stdout == img
    dump.write_bytes(b"/ 4096 40755 2 0 0 0 0.0 - - -\n/a 1 100644 1 0 0 0 0.0 - - zz\n")
    p = subprocess.run(create + ["--from-file", str(dump), str(tmp_path / "bad")], capture_output=True, text=True)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", "error: Invalid digest zz\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "img"]


@pytest.mark.parametrize(("lines", "message"), [
    (b"/d/a 0 100644 1 0 0 0 0.0 - - -\n/d/a 0 100644 1 0 0 0 0.0 - - -\n", "already exists"),
    (b"/d/a 0 100644 1 0 0 0 0.0 - - -\n/d/.. 0 100644 1 0 0 0 0.0 - - -\n", "Invalid . or .."),
    (b"/d/a 0 100644 1 0 0 0 0.0 - - -\n/d/" + b"n" * 256 + b" 0 100644 1 0 0 0 0.0 - - -\n", "Name too long"),
])
def test_refusals_in_the_directory_of_the_line_before(lines: bytes, message: str) -> None:
    """The parser's shortcut for a path beside the line before still refuses as add() does."""
    dump = b"/ 4096 40755 2 0 0 0 0.0 - - -\n/d 4096 40755 2 0 0 0 0.0 - - -\n" + lines
    with pytest.raises(ComposefsError, match=message):
        parse_dump(io.BytesIO(dump))


@pytest.mark.parametrize("args", [
    "--from-file d o", "d --from-file o", "d o --from-file", "--from-file - o", "--from-file d -", "d",
    "--print-digest-only --from-file d", "--min-version 1 --from-file d o", "--min-version=0 --max-version=1 d o",
    "--max-version 0 d o", "--min-version 01 d o", "--from-file --from-file d o", "--print-digest --from-file d o",
    "--use-epoch --skip-devices --skip-xattrs --user-xattrs --digest-store=/x d o", "--digest-store /x d o",
])
def test_a_plain_create_command_line_reads_as_argparse_reads_it(args: str) -> None:
    """`composefs create` reads a plain command line without argparse (start-up is most of the
    time of a small image); it gets what argparse gets, and leaves the rest to it."""
    from ostreepy.cli.composefs import plain_create_args
    from ostreepy.cli.main import _parse_command_line
    argv = ["composefs", "create"] + args.split()
    plain = vars(plain_create_args(argv[2:]))
    assert plain.pop("ends_process") is False
    assert plain == vars(_parse_command_line(argv))


@pytest.mark.parametrize("args", ["--from d o", "--help", "-h d o", "--from-file=1 d o", "-- d o", "--min-version -1 d o",
                                  "a b c", "--min-version", "--digest-store=-x d o", "--min-version=x d o", "",
                                  "--min-version 1 --min-version 1 d o"])
def test_other_create_command_lines_are_left_to_argparse(args: str) -> None:
    from ostreepy.cli.composefs import plain_create_args
    assert plain_create_args(args.split()) is None


_SHORTCUT_BASE = (b"/ 4096 40755 2 0 0 0 0.0 - - -\n/d 4096 40755 2 0 0 0 0.0 - - -\n"
                  b"/d/e 4096 40755 2 0 0 0 0.0 - - -\n/d/e/f 0 100644 1 0 0 0 0.0 - - -\n"
                  b"/d/x 3 100644 1 0 0 0 0.0 - abc -\n")
_SHORTCUT_LINES = [
    b"/d/e/t 4096 40755 2 0 0 0 0.0 - - -", b"/d/e/t 3 100644 1 0 0 0 0.0 - abc -",
    b"/d/e/t 4097 100755 1 0 0 0 0.0 ab/cd - " + b"5a" * 32, b"/d/e/t 1 120777 1 0 0 0 0.0 t - -",
]
_NUMBERS = [b"0", b"1", b"2", b"3", b"1023", b"1024", b"4097", b"9" * 18, b"9" * 19, b"1" * 25, b"", b"+1", b"-1",
            b"0x1", b"\t1"]
_SHORTCUT_FIELDS = [
    [b"/d/x/t", b"/d/e/.", b"/d/e/..", b"/d/e/", b"/d/e/" + b"n" * 255, b"/d/e/" + b"n" * 256, b"/d/e//t",
     b"/d/e/f", b"/d/q/t", b"d/e/t", b"/d//e/t", b"/d/./e/t", b"/t"],
    _NUMBERS,
    [b"40755", b"100755", b"100644", b"120777", b"20644", b"10644", b"@100644", b"0", b"77777777777", b"+100644",
     b"100648", b"60644", b"140755"],
    *[_NUMBERS] * 4,
    [b"5.7", b"1", b"1.", b".1", b"9" * 18 + b".1", b"9" * 19 + b".1", b"1." + b"9" * 9, b"1." + b"9" * 10,
     b"-1.0", b"0.00"],
    [b"-", b"", b"ab/cd", b"x" * 4095, b"x" * 4096, b"t", b"/d/e/f"],
    [b"-", b"", b"abc", b"ab", b"a" * 5001, b"t"],
    [b"-", b"", b"ab", b"5a" * 32, b"zz" * 32, b"A" * 64, b"a" * 65],
]


def _shortcut_cases():
    yield from (b"/d/e/t %d 100644 1 0 0 0 0.0 - %s -" % (n, b"a" * n) for n in (4096, 5000, 5001))
    for template in _SHORTCUT_LINES:
        fields = template.split(b" ")
        for k, values in enumerate(_SHORTCUT_FIELDS):
            for v in values:
                yield b" ".join(fields[:k] + [v] + fields[k + 1:])


def test_the_shortcut_for_plain_lines_parses_as_each_line_alone() -> None:
    """The parser's shortcut for the lines most dumps are made of gives the tree, or the refusal,
    of taking each line alone (_DumpBuilder.line), for every field of each kind of line it takes
    set to values about the edges of what it takes; with a line after it in the same directory
    and one below it, so that where it leaves the parser is checked too."""
    from .fuzz_targets import shortcut_results

    accepted = refused = 0
    for line in _shortcut_cases():
        for after in (b"/d/e/z 0 100644 1 0 0 0 0.0 - - -\n/d/e/t/u 0 100644 1 0 0 0 0.0 - - -\n",
                      b"/d/e/z 0 100644 1 0 0 0 0.0 - - -\n"):
            try:
                results = shortcut_results(_SHORTCUT_BASE + line + b"\n" + after)
            except AssertionError as e:
                raise AssertionError((line, e.args)) from None
            for got in results:
                if got.startswith(b"\x9a\x62\x78\xd0"):
                    accepted += 1
                else:
                    refused += 1
    assert accepted > 200 and refused > 200, (accepted, refused)


# mkcomposefs 1.0.8 --from-file of DEEP_WHITEOUTS (a version 1 image: it has whiteouts)
DEEP_WHITEOUTS = (b"/ 4096 40755 2 0 0 0 0.0 - - -\n/d 4096 40755 2 0 0 0 0.0 - - -\n"
                  b"/d/a 4097 100644 1 0 0 0 0.0 ab/cd - -\n/d/e 4096 40755 2 0 0 0 0.0 - - -\n"
                  b"/d/e/w 0 20644 1 0 0 0 0.0 - - -\n/d/e/x 0 20644 1 0 0 0 0.0 - - -\n")
DEEP_WHITEOUTS_SHA256 = "03fbfa78915562670291470ef707871c20799d5d7a7fbcbddd62daacbd36c93f"


def test_a_whiteout_below_the_root_makes_a_version_1_image(tmp_path) -> None:
    """The writer raises the version to 1 when its walk meets the first whiteout, wherever it is
    (a walk of its own first cost ~3% of the write): the same image as mkcomposefs's."""
    img, _ = image_bytes(parse_dump(DEEP_WHITEOUTS))
    assert img[12:16] == b"\x01\x00\x00\x00"
    assert hashlib.sha256(img).hexdigest() == DEEP_WHITEOUTS_SHA256
    assert image_bytes(parse_dump(DEEP_WHITEOUTS), min_version=1, max_version=1)[0] == img
    assert image_bytes(parse_dump(DEEP_WHITEOUTS), min_version=0, max_version=0)[0][12:16] == b"\x00\x00\x00\x00"
    _as_mkcomposefs_writes_it(tmp_path, DEEP_WHITEOUTS, img)


# mkcomposefs 1.0.8 --from-file of HUGE_EXTERNAL: external files too large for one chunk address,
# with and without a digest, a shared and an own redirect, and one with an xattr of its own
HUGE_EXTERNAL = (b"/ 4096 40755 2 0 0 0 0.0 - - -\n"
                 b"/a 17592186044417 100644 1 0 0 0 0.0 ab/cdef - " + b"35d02f81" * 8 + b"\n"
                 b"/b 17592186044417 100644 1 0 0 0 0.0 ab/cdef - -\n"
                 b"/c 17592186044417 100644 1 0 0 0 0.0 xy/zzz - " + b"35d02f81" * 8 + b"\n"
                 b"/d 99999999999999 100644 1 0 0 0 0.0 ab/cdef - " + b"35d02f81" * 8 + b" user.x=1\n")
HUGE_EXTERNAL_SHA256 = "a946eed52cb315888fecd53f513b39bd5e7a7b7377ed75b602ead240403df1f0"


def test_chunked_external_files_lay_out_as_mkcomposefs(tmp_path) -> None:
    """An external file the common path does not take (chunked: over 8 TiB) goes through the
    general xattr layout, metacopy and redirect listed with its own xattrs."""
    img, _ = image_bytes(parse_dump(HUGE_EXTERNAL))
    assert hashlib.sha256(img).hexdigest() == HUGE_EXTERNAL_SHA256
    _as_mkcomposefs_writes_it(tmp_path, HUGE_EXTERNAL, img)


def _noverity_files_dump() -> bytes:
    """External files as `checkout --composefs-noverity` gives them (a redirect, no digest: the
    empty metacopy shared by all) beside a few with digests, compact and extended inodes (an owner
    or a size over 16 or 32 bits, an mtime not the least), a redirect shared by two files."""
    lines = [b"/ 4096 40755 2 0 0 0 0.0 - - -"]
    for i in range(120):
        size = (1, 100, 4096, 4097, 1 << 20, 5 << 30)[i % 6]
        uid = 70000 if i % 5 == 0 else 0
        mtime = b"5.7" if i % 7 == 0 else b"0.0"
        payload = b"aa/shared.file" if i % 11 == 0 else b"%02x/%s%04d.file" % (i % 7, b"ab" * 31, i)
        digest = b"%064x" % (i * 0x9E3779B97F4A7C15) if i % 4 == 0 else b"-"
        lines.append(b"/f%d %d 100644 1 %d 0 0 %s %s - %s" % (i, size, uid, mtime, payload, digest))
    return b"\n".join(lines) + b"\n"


# mkcomposefs 1.0.8's image of _noverity_files_dump() (sha256)
NOVERITY_FILES_SHA256 = "324d082dc82ed0bcd1750ba76d386a79647d1f0d437335a99abc927694c48a3d"


def test_files_without_digests_as_mkcomposefs(tmp_path) -> None:
    """A file with no digest, its redirect its own, is written by the writer's shortcut (as one
    with a digest is): the same bytes as the general path gave, and as mkcomposefs's."""
    dump = _noverity_files_dump()
    img, _ = image_bytes(parse_dump(dump))
    assert hashlib.sha256(img).hexdigest() == NOVERITY_FILES_SHA256
    _as_mkcomposefs_writes_it(tmp_path, dump, img)


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_libcomposefs_vectors_with_repeats_found_by_sorting(name: str, monkeypatch) -> None:
    """The shared xattr values of a long list are found by sorting it (a count for each value
    held ~5 MB more at 100,000 files): the same images, with every list taken that way."""
    import ostreepy.composefs.erofs as erofs
    monkeypatch.setattr(erofs, "_COUNT_BY_HASH_MAX", 0)
    image, _ = build(name)
    assert hashlib.sha256(image).hexdigest() == ASSETS[name][0]
