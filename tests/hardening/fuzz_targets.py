"""Fuzz targets for every parser of the store and the bootloader.

Each target is a function taking one generated input; it fails (an assertion or
an unexpected exception) when the parser lets anything but the package's own
error escape (``OstreeError``; ``BootloaderError`` for :mod:`bootloader`), or
when a value it accepted does not survive a write and a re-read.  ``TARGETS``
pairs each with its hypothesis strategy, so that ``test_fuzz.py`` (a bounded
run in the test suite) and ``scripts/fuzz.py`` (a long run by hand) exercise
the same code.

Byte-level inputs are raw bytes and, more usefully, valid objects with bytes
flipped, inserted, or cut off: random bytes alone rarely get past a framing
offset.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import stat
import subprocess
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from hypothesis import strategies as st

from bootloader.bls import BLSEntry, format_entry, parse_entry
from bootloader.errors import BootloaderError
from bootloader.grub import generate_grub_config
from bootloader.kargs import KernelArgs
from ostreepy.errors import OstreeError
from ociclient import pgpformat
from ostreepy.store import gvariant
from ostreepy.store import objects as obj
from ostreepy.store.gvariant import Variant
from ostreepy.store.keyfile import KeyFile
from ostreepy.store.objects import Commit, DirMeta, DirTree, FileHeader

# ----------------------------------------------------------------------------- inputs

_CHAR = st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))
_CSUM = st.binary(min_size=32, max_size=32).map(bytes.hex)
_NAME = st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)), min_size=1,
                max_size=12).filter(lambda n: n not in (".", ".."))
_XATTRS = st.lists(st.tuples(st.binary(min_size=1, max_size=8).map(lambda b: b.replace(b"\0", b"x") + b"\0"),
                             st.binary(min_size=1, max_size=8)), max_size=3).map(obj.canonical_xattrs)
_SCALAR_VARIANTS = st.one_of(
    st.text(_CHAR, max_size=10).map(lambda s: Variant("s", s)),
    st.integers(0, 2 ** 64 - 1).map(lambda n: Variant("t", n)),
    st.integers(-2 ** 31, 2 ** 31 - 1).map(lambda n: Variant("i", n)),
    st.booleans().map(lambda b: Variant("b", b)),
    st.binary(max_size=10).map(lambda b: Variant("ay", b)),
    st.lists(st.text(_CHAR, max_size=5), max_size=3).map(lambda v: Variant("as", v)),
)
_METADATA = st.dictionaries(st.text(_CHAR, min_size=1, max_size=8), _SCALAR_VARIANTS, max_size=4)


def _dirmeta() -> st.SearchStrategy[DirMeta]:
    return st.builds(DirMeta, st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1),
                     st.integers(0, 0o7777).map(lambda m: stat.S_IFDIR | m), _XATTRS)


def _dirtree() -> st.SearchStrategy[DirTree]:
    files = st.dictionaries(_NAME, _CSUM, max_size=4).map(lambda d: tuple(sorted(d.items())))
    dirs = st.dictionaries(_NAME, st.tuples(_CSUM, _CSUM), max_size=3).map(
        lambda d: tuple(sorted((n, t, m) for n, (t, m) in d.items())))
    return st.builds(DirTree, files, dirs).filter(
        lambda t: not ({n for n, _ in t.files} & {n for n, _, _ in t.dirs}))


def _commit() -> st.SearchStrategy[Commit]:
    return st.builds(Commit, _CSUM, _CSUM, st.text(_CHAR, max_size=20), st.text(_CHAR, max_size=20),
                     st.integers(0, 2 ** 64 - 1), st.none() | _CSUM, _METADATA,
                     st.lists(st.tuples(st.text(_CHAR, max_size=6), _CSUM), max_size=2).map(tuple))


def _file_header() -> st.SearchStrategy[FileHeader]:
    reg = st.builds(FileHeader, st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1),
                    st.integers(0, 0o7777).map(lambda m: stat.S_IFREG | m), st.just(""), _XATTRS)
    lnk = st.builds(FileHeader, st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1),
                    st.just(stat.S_IFLNK | 0o777),
                    st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), min_size=1,
                            max_size=30), _XATTRS)
    return reg | lnk


@st.composite
def mutated(draw: Any, valid: st.SearchStrategy[bytes], set_values: Optional[Sequence[int]] = None,
            inserts: Optional[st.SearchStrategy[bytes]] = None) -> bytes:
    """Valid bytes with a few bytes flipped, set, inserted or removed, or cut short.  A format
    may name the octets worth setting (``set_values``; by default a few edges and the input's
    length) and what to insert (``inserts``; by default 1 to 4 random octets)."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "set"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            values = list(set_values) if set_values is not None else [0, 1, 0x7F, 0x80, 0xFF, len(data) & 0xFF]
            data[pos] = draw(st.sampled_from(values))
        elif op == "insert":
            data[pos:pos] = draw(inserts if inserts is not None else st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 4))]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


def fuzzed_bytes(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=200) | mutated(valid) | valid


# ----------------------------------------------------------------------------- store targets

_OBJECT_TYPES = [obj.COMMIT_TYPE, obj.DIRTREE_TYPE, obj.DIRMETA_TYPE, obj.FILE_HEADER_TYPE,
                 obj.ZLIB_FILE_HEADER_TYPE, obj.COMMITMETA_TYPE]
_VALID_BY_TYPE: Dict[str, st.SearchStrategy[bytes]] = {
    obj.COMMIT_TYPE: _commit().map(Commit.serialize),
    obj.DIRTREE_TYPE: _dirtree().map(DirTree.serialize),
    obj.DIRMETA_TYPE: _dirmeta().map(DirMeta.serialize),
    obj.FILE_HEADER_TYPE: _file_header().map(FileHeader.serialize),
    obj.ZLIB_FILE_HEADER_TYPE: st.builds(lambda h, n: h.serialize_zlib(n), _file_header(),
                                         st.integers(0, 2 ** 64 - 1)),
    obj.COMMITMETA_TYPE: _METADATA.map(obj.serialize_commitmeta),
}


def gvariant_deserialize(case: Tuple[str, bytes]) -> None:
    """Any bytes under each object type: a GVariant error or a value that, written
    again, reads back to itself (the normal form is a fixed point)."""
    type_string, data = case
    try:
        value = gvariant.deserialize(type_string, data)
    except OstreeError:
        return
    once = gvariant.serialize(type_string, value)
    again = gvariant.deserialize(type_string, once)
    assert gvariant.serialize(type_string, again) == once


gvariant_cases = st.sampled_from(_OBJECT_TYPES).flatmap(
    lambda t: st.tuples(st.just(t), fuzzed_bytes(_VALID_BY_TYPE[t])))


def _roundtrip(cls: Any, data: bytes, exact: bool = True) -> None:
    try:
        parsed = cls.parse(data)
    except OstreeError:
        return
    again = cls.parse(parsed.serialize())
    if exact:
        assert again == parsed
    else:
        # written in canonical (sorted) order: a fixed point from the first write
        assert again.serialize() == parsed.serialize()


def dirtree_parse(data: bytes) -> None:
    """The fast dirtree parser: our error or a tree that round-trips; where the
    generic decoder also reads the bytes, both agree.  (Entries out of order are
    read as they are, as libostree reads them.)"""
    _roundtrip(DirTree, data, exact=False)
    try:
        fast = DirTree.parse(data)
        files, dirs = gvariant.deserialize(obj.DIRTREE_TYPE, data)
    except OstreeError:
        return
    assert [n for n, _ in fast.files] == [n for n, _ in files]
    assert [n for n, _, _ in fast.dirs] == [n for n, _, _ in dirs]


def dirmeta_parse(data: bytes) -> None:
    _roundtrip(DirMeta, data)
    try:
        m = DirMeta.parse(data)
    except OstreeError:
        return
    # user.ostreemeta holds the same bytes and must read the same
    uid, gid, mode, xattrs = obj.bareuser_meta_parse(m.serialize())
    assert (uid, gid, mode, xattrs) == (m.uid, m.gid, m.mode, m.xattrs)


def commit_parse(data: bytes) -> None:
    _roundtrip(Commit, data)


def commitmeta_parse(data: bytes) -> None:
    try:
        meta = obj.parse_commitmeta(data)
    except OstreeError:
        return
    once = obj.serialize_commitmeta(meta)
    assert obj.serialize_commitmeta(obj.parse_commitmeta(once)) == once


def file_header_parse(data: bytes) -> None:
    _roundtrip(FileHeader, data)
    try:
        h, size = FileHeader.parse_zlib(data)
    except OstreeError:
        pass
    else:
        assert FileHeader.parse_zlib(h.serialize_zlib(size)) == (h, size)
    try:
        obj.bareuser_meta_parse(data)
    except OstreeError:
        pass


_KF_CHARS = st.characters(blacklist_categories=("Cs",))
_KF_TRICKY = st.sampled_from(list("[]=#;\\ \t\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029\0sntr"))
_KF_TEXT = st.lists(st.one_of(_KF_TRICKY, _KF_CHARS,
                              st.sampled_from(["[core]\n", "[a b]\n", "mode=bare\n", "k=v\n", "\\s", "\\n"])),
                    max_size=60).map("".join)


def keyfile_parse(text: str) -> None:
    """Any text: our error, or a key file whose text form reads back the same."""
    try:
        kf = KeyFile.parse(text)
    except OstreeError:
        return
    out = kf.to_text()
    again = KeyFile.parse(out)
    assert again.to_text() == out
    for g in kf.groups():
        for k in kf.keys(g):
            try:
                v = kf.get(g, k)
            except OstreeError:
                continue
            assert again.get(g, k) == v


_KF_VALUE = st.lists(_KF_TRICKY | _KF_CHARS, max_size=20).map("".join)


def keyfile_set_get(case: Tuple[str, str]) -> None:
    """Any key and value set: refused with our error, or read back unchanged
    after writing the file and parsing it again."""
    key, value = case
    kf = KeyFile.parse("[core]\nrepo_version=1\n")
    try:
        kf.set("core", key, value)
    except OstreeError:
        return
    again = KeyFile.parse(kf.to_text())
    assert again.get("core", key) == value
    assert again.get("core", "repo_version") == ("1" if key != "repo_version" else value)


keyfile_set_cases = st.tuples(st.one_of(st.sampled_from(["x", "core.x", "a-b", "k"]), _KF_VALUE), _KF_VALUE)


def origin_parse(text: str) -> None:
    """An origin file as a deployment reads it: its refspec, pin, unlock state and
    container image reference give our errors only."""
    from ostreepy.bootc.status import origin_imgref
    from ostreepy.sysroot.deployment import Deployment
    d = Deployment("os", "a" * 64, 0, origin_text=text)
    try:
        origin = d.origin
    except OstreeError:
        return
    assert origin is not None
    for fn in (lambda: d.origin_refspec, lambda: d.pinned, lambda: d.unlocked, lambda: origin_imgref(origin)):
        try:
            fn()
        except OstreeError:
            pass


origin_texts = st.one_of(
    _KF_TEXT,
    st.tuples(st.sampled_from(["refspec", "container-image-reference", "unlocked"]),
              st.sampled_from(["ostree-unverified-registry:", "ostree-remote-image:r:docker://",
                               "ostree-image-signed:oci:", "docker://", "hotfix", "os:x/y", ""]),
              st.text(max_size=30)).map(lambda t: f"[origin]\n{t[0]}={t[1]}{t[2]}\n[libostree-transient]\npinned=maybe\n"),
)


_TAR_CACHE: Dict[str, bytes] = {}


def _valid_export() -> bytes:
    """A small ostree-ext tar of a commit made by this code (cached)."""
    if "tar" not in _TAR_CACHE:
        from ostreepy.container.tarformat import write_commit_tar
        from ostreepy.store.commit import create_commit, write_directory_to_mtree, write_mtree
        from ostreepy.store.mtree import MutableTree
        from ostreepy.store.repo import Repo
        d = tempfile.mkdtemp(prefix="fuzz-src-")
        try:
            src = os.path.join(d, "t")
            os.makedirs(os.path.join(src, "usr/bin"))
            with open(os.path.join(src, "usr/bin/a"), "w") as f:
                f.write("a\n")
            os.symlink("a", os.path.join(src, "usr/bin/l"))
            os.makedirs(os.path.join(src, "etc"))
            with Repo.init(os.path.join(d, "r"), "archive") as r:
                tree, meta = write_mtree(r, write_directory_to_mtree(r, src, MutableTree()))
                c = create_commit(r, tree, meta, subject="s", timestamp=0)
                buf = io.BytesIO()
                write_commit_tar(r, c, buf)
            _TAR_CACHE["tar"] = buf.getvalue()
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return _TAR_CACHE["tar"]


@st.composite
def _tar_mutated(draw: Any) -> bytes:
    data = bytearray(_valid_export())
    # aim mostly at the headers and metadata objects at the front
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1) | st.integers(0, min(len(data) - 1, 4096)))
        op = draw(st.sampled_from(["flip", "zero", "cut", "digit"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "zero":
            data[pos:pos + 8] = bytes(len(data[pos:pos + 8]))
        elif op == "digit":
            data[pos] = draw(st.sampled_from(b"0127 \0x"))
        else:
            del data[pos:]
    return bytes(data)


tar_inputs = st.one_of(st.binary(max_size=2048), _tar_mutated())


def tar_import(data: bytes) -> None:
    """An ostree-ext tar stream from fuzzed bytes: our error, or a complete commit
    every object of which is present and checks out."""
    from ostreepy.container.tarformat import import_commit_tar
    from ostreepy.store.fsck import fsck
    from ostreepy.store.repo import Repo
    d = tempfile.mkdtemp(prefix="fuzz-tar-")
    try:
        with Repo.init(os.path.join(d, "r"), "bare-user") as r:
            try:
                c = import_commit_tar(r, io.BytesIO(data))
            except OstreeError:
                return
            assert not r.commit_is_partial(c)
            result = fsck(r)
            assert not result.problems, result.problems
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------- bootloader targets

_BLS_TEXT = st.lists(st.one_of(
    st.sampled_from(["title ", "linux ", "options ", "initrd ", "version ", "# c", "\n", " ", "\t", "\r",
                     "\v", "\f", "\0", "x", "=", "\"", "sort-key ", "devicetree-overlay"]),
    st.characters(blacklist_categories=("Cs",))), max_size=40).map("".join)


def bls_parse(data: Any) -> None:
    """Entry text (str or bytes), strict or not: our error, or an entry that reads
    back the same once written."""
    for strict in (True, False):
        try:
            e = parse_entry(data, strict=strict)
        except BootloaderError:
            continue
        for order in (True, False):
            text = format_entry(e, ostree_order=order)
            again = parse_entry(text)
            if not order:
                assert again == e
            assert format_entry(again, ostree_order=order) == text


bls_inputs = _BLS_TEXT | st.binary(max_size=60)

_KARGS_TEXT = st.lists(st.one_of(st.sampled_from([" ", "  ", "\"", "=", "a", "b=c", "\t", "\r", "\v", "\f"]),
                                 st.characters(blacklist_categories=("Cs",))), max_size=30).map("".join)


def kargs_parse(text: str) -> None:
    """A command line: parsing never fails, printing and parsing again is a fixed
    point, and edits fail only with our error."""
    k = KernelArgs.parse(text)
    # arguments without empty ones print and parse back unchanged (an empty one,
    # from two spaces, is kept as ostree keeps it, but may be lost at the end)
    if all(a for a in k.to_list()):
        assert KernelArgs.parse(str(k)) == k
    KernelArgs.from_proc_cmdline(text)
    for edit in (k.replace, k.delete, k.append, k.delete_if_present):
        try:
            edit(text)
        except BootloaderError:
            pass
    if k.args:
        key = k.args[0][0]
        k.delete_key(key)
        k.set(key + "=x")
    # kargs written into an entry and read back are the same kargs
    try:
        entry = BLSEntry([("title", "t"), ("options", str(k)), ("linux", "/vmlinuz")])
    except BootloaderError:
        return
    assert KernelArgs.parse(parse_entry(format_entry(entry)).options) == KernelArgs.parse(str(k))


_GRUB_VALUE = st.text(st.characters(blacklist_characters="\n\0\r", blacklist_categories=("Cs",)), min_size=1,
                      max_size=20)


@st.composite
def grub_entries(draw: Any) -> List[BLSEntry]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        items = [("title", draw(_GRUB_VALUE | st.sampled_from(["a'b", "x $y", "}{"])))]
        items.append(("linux", draw(st.sampled_from(["/vmlinuz", "/ostree/a b/vmlinuz"]) | _GRUB_VALUE)))
        if draw(st.booleans()):
            items.append(("options", draw(_KARGS_TEXT)))
        for _ in range(draw(st.integers(0, 2))):
            items.append(("initrd", draw(_GRUB_VALUE)))
        if draw(st.booleans()):
            items.append(("devicetree", draw(_GRUB_VALUE)))
        try:
            out.append(BLSEntry(items))
        except BootloaderError:
            continue
    return out


def grub_generate(entries: List[BLSEntry]) -> None:
    """GRUB script from fuzzed entries: our error, or a script grub-script-check
    (the real GRUB parser) accepts, with one menuentry per entry."""
    try:
        script = generate_grub_config(entries, boot_device_id="dev", prepare_root_cache="search --no-floppy x")
    except BootloaderError:
        return
    assert script.count("\n}\n") == len(entries)
    if entries and shutil.which("grub-script-check"):
        p = subprocess.run(["grub-script-check"], input=script.encode(), capture_output=True)
        assert p.returncode == 0, (script, p.stderr)


# ----------------------------------------------------------------------------- the set


# ----------------------------------------------------------------------------- OpenPGP targets

# made by gpg 2.2 (tests/core/gpgkeys.py): an ed25519 [C] key with an ed25519
# signing subkey, a detached signature by the subkey over _PGP_DATA, and an
# unprotected GnuPG secret key file (extended key format)
_PGP_KEY = base64.b64decode(
    'mDMEaxNB6xYJKwYBBAHaRw8BAQdA8Csh5jXnfYlGATnCga4lhE7fiCNgZ6C5ZVg+zjAPaGC0FVN1YiA8c3ViQGV4YW1wbGUuY29t'
    'PoiWBBMWCAA+FiEExrqbq4kEsedoVPAWjrVbB2t9bNYFAmsTQesCGwEFCQPCZwAFCwkIBwIGFQoJCAsCBBYCAwECHgECF4AACgkQ'
    'jrVbB2t9bNbN0wEA6Ym4sYOSacPa0bnG1XX/iBFQ7ypMIRlBODGxFIurrnsBAPYLxufAEs3wQflWBaJex16yLI80mUTuRei+NZMh'
    '3X8HuDMEaxNB6xYJKwYBBAHaRw8BAQdAonPNH7BPpr7reEYKTKEQMhArTF+RpgZ0cUhj0e0fSM+I7wQYFggAIBYhBMa6m6uJBLHn'
    'aFTwFo61WwdrfWzWBQJrE0HrAhsCAIEJEI61WwdrfWzWdiAEGRYIAB0WIQT3qWrojYvuaR5ku+/9J80UWH5AvAUCaxNB6wAKCRD9'
    'J80UWH5AvHTUAQDqtMdEDwRbX26y4xFU8pUs74+Xb8EsrDHNKb6lRBsZhgD/eBVY8ZPAyAxlvz7tDSKq27Z8udfcMIf0mZIaYRkF'
    'RQ6dwAEAqshQR88ErJ6/kExwbeK8gA9c5xA4skqk+GnyYMBHuIEA/03VMSaLqMUkEFojv2xZl8g6NF1OUBPubTmG6HrR6MMG')
_PGP_SIG = base64.b64decode(
    'iIYEABYIAC4WIQT3qWrojYvuaR5ku+/9J80UWH5AvAUCaxNB7hAcc3ViQGV4YW1wbGUuY29tAAoJEP0nzRRYfkC8b5cBAPGNxZNT'
    'ObnezJ3QUh/iXulRJbiPmkOCGUZ8Nrm6BM4zAQD6FXjBnDhrcZ3AOmp7WTvp9LSrF7YCVoJ39JYc8uHxCQ==')
_PGP_SECRET = (  # a throwaway test key
    b'Created: 20200101T000000\n'
    b'Key: (private-key (ecc (curve Ed25519)(flags eddsa)(q\n'
    b'  #40444C7A4D8B193A648DC4F4F553662E42C5D9938BE42A793A43A41EFFF2992A05#)\n'
    b' (d #A665711543EECD4BD376865F763F5EEBB09500BC1F812B97B320133FA2399F27#)\n'
    b' ))\n')
_PGP_DATA = b"ostreepy fuzz vector\n"
_PGP_VALID = st.sampled_from([_PGP_KEY, _PGP_SIG, _PGP_KEY + _PGP_SIG, pgpformat.armor(_PGP_KEY, "PUBLIC KEY BLOCK"),
                              pgpformat.armor(_PGP_SIG)])
_PGP_KEYRING = pgpformat.Keyring.from_bytes(_PGP_KEY)


def openpgp_parse(data: bytes) -> None:
    """Keyrings and signatures: only OpenPGPError escapes, and nothing mutated
    verifies as the original's signature unless the signature bytes survived."""
    try:
        kr = pgpformat.Keyring.from_bytes(data)
        for c in kr.certificates:
            assert c.primary.packet.version != 4 or len(c.fingerprint) == 40
    except pgpformat.OpenPGPError:
        pass
    try:
        checks = pgpformat.verify_detached(_PGP_DATA, data, _PGP_KEYRING)
    except pgpformat.OpenPGPError:
        return
    signer = _PGP_KEYRING.certificates[0].subkeys[0].fingerprint
    for c in checks:
        assert not c.valid or c.fingerprint == signer


def openpgp_secret_key(data: bytes) -> None:
    try:
        sk = pgpformat.parse_gnupg_key_file(data)
    except pgpformat.OpenPGPError:
        return
    assert sk.algorithm in ("rsa", "ed25519")


TARGETS: List[Tuple[str, Callable[[Any], None], st.SearchStrategy[Any], int]] = [
    # name, target, inputs, examples in the bounded run
    ("gvariant_deserialize", gvariant_deserialize, gvariant_cases, 300),
    ("dirtree_parse", dirtree_parse, fuzzed_bytes(_VALID_BY_TYPE[obj.DIRTREE_TYPE]), 200),
    ("dirmeta_parse", dirmeta_parse, fuzzed_bytes(_VALID_BY_TYPE[obj.DIRMETA_TYPE]), 200),
    ("commit_parse", commit_parse, fuzzed_bytes(_VALID_BY_TYPE[obj.COMMIT_TYPE]), 200),
    ("commitmeta_parse", commitmeta_parse, fuzzed_bytes(_VALID_BY_TYPE[obj.COMMITMETA_TYPE]), 150),
    ("file_header_parse", file_header_parse,
     fuzzed_bytes(_VALID_BY_TYPE[obj.FILE_HEADER_TYPE]) | fuzzed_bytes(_VALID_BY_TYPE[obj.ZLIB_FILE_HEADER_TYPE]),
     200),
    ("keyfile_parse", keyfile_parse, _KF_TEXT, 300),
    ("keyfile_set_get", keyfile_set_get, keyfile_set_cases, 300),
    ("origin_parse", origin_parse, origin_texts, 150),
    ("bls_parse", bls_parse, bls_inputs, 300),
    ("kargs_parse", kargs_parse, _KARGS_TEXT, 300),
    ("grub_generate", grub_generate, grub_entries(), 40),
    ("tar_import", tar_import, tar_inputs, 60),
    ("openpgp_parse", openpgp_parse, fuzzed_bytes(_PGP_VALID), 200),
    ("openpgp_secret_key", openpgp_secret_key, fuzzed_bytes(st.just(_PGP_SECRET)), 200),
]
