"""Start-up cost: the store and its command line load no HTTP or crypto stack."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_ostreepy_does_not_import_requests_or_cryptography():
    code = ("import sys, ostreepy, ostreepy.store.repo, ostreepy.store.commit, ostreepy.store.checkout, ostreepy.cli.main, "
            "ostreepy.container, ostreepy.container.store, ostreepy.sysroot.sysroot\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'cryptography', 'urllib3'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_cli_help_runs_without_the_network_stack():
    code = ("import sys\nfrom ostreepy.cli.main import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('requests' in sys.modules, 'cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"


def _imported(importtime: str) -> set:
    """The modules named in ``python -X importtime`` output (PYTHONPROFILEIMPORTTIME=1)."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime.splitlines() if line.startswith("import time:")}


def _modules_after(argv):
    code = ("import sys\nfrom ostreepy.cli.main import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('MODS ' + ' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ostreepy', 'ociclient', 'bootloader', 'attrs', 'requests', 'cryptography', 'shutil', 'hashlib', "
            "'typing', 'tempfile'))))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return set(p.stderr.rsplit("MODS ", 1)[1].split())


def test_help_imports_only_the_entry_point():
    """`ostreepy --help` lists every group without importing any: start-up stays
    near the interpreter's own (benchmarks/startup.py measures it)."""
    assert _modules_after(["--help"]) == {"ostreepy", "ostreepy._version", "ostreepy._process", "ostreepy.cli",
                                          "ostreepy.cli.run", "ostreepy.cli.main", "ostreepy.cli.glibhelp",
                                          "ostreepy.errors"}


def test_repo_verb_imports_only_the_store(tmp_path):
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "init"], check=True)
    mods = _modules_after([f"--repo={tmp_path}/r", "refs"])
    assert "ostreepy.store.repo" in mods
    rooms = {m.split(".")[1] for m in mods if m.startswith("ostreepy.") and m.count(".") >= 1}
    assert rooms <= {"_version", "_process", "cli", "errors", "fsutil", "store"}, rooms
    assert not any(m.split(".")[0] in ("bootloader", "ociclient", "requests", "cryptography") for m in mods)
    # listing refs parses no object: the attrs value classes (objects, gvariant), whose import
    # and creation were most of the command's 60 ms, are not loaded (issue 10)
    assert not {"attrs", "attr", "ostreepy.store.objects", "ostreepy.store.gvariant"} & mods, mods
    # nor OpenSSL (hashlib), nor shutil with its bz2 and lzma (argparse's formatter imported it),
    # nor typing (annotations only)
    assert not {"hashlib", "shutil", "typing"} & mods, mods


def test_composefs_create_from_a_dump_loads_only_the_writer(tmp_path):
    """`composefs create --from-file` (mkcomposefs) loads the dump parser and the EROFS writer
    and nothing of the store, nor attrs, typing, shutil, or hashlib when no digest is printed,
    nor argparse (its command line is read by the program's entry), nor the standard modules
    that bring collections: start-up is most of the time of a small image (issues 8, 10)."""
    dump = tmp_path / "d.dump"
    dump.write_bytes(b"/ 4096 40755 2 0 0 0 0.0 - - -\n/a 2 100644 1 0 0 0 0.0 - a\\x0a -\n")
    p = subprocess.run([sys.executable, "-m", "ostreepy", "composefs", "create", "--from-file", str(dump),
                        str(tmp_path / "out.cfs")], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    mods = _imported(p.stderr)
    assert (tmp_path / "out.cfs").stat().st_size > 0
    ours = {m for m in mods if m.split(".")[0] in ("ostreepy", "ociclient", "bootloader", "attrs")}
    assert ours == {"ostreepy", "ostreepy._version", "ostreepy.cli", "ostreepy.cli.entry", "ostreepy.cli.run",
                    "ostreepy.errors", "ostreepy._process", "ostreepy.cli.composefs", "ostreepy.composefs", "ostreepy.composefs.tree",
                    "ostreepy.composefs.dumpfile", "ostreepy.composefs.erofs"}, ours
    assert not {"argparse", "gettext", "locale", "hashlib", "shutil", "typing", "tempfile"} & mods, mods
    # beyond what the interpreter loads anyway, only C modules of the standard library (array, which
    # brings collections, types and bisect are not: a name or two each was taken from them)
    base = subprocess.run([sys.executable, "-c", "pass"], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}).stderr
    base_mods = _imported(base)
    assert mods - base_mods - ours <= {"runpy", "__future__", "gc", "itertools", "struct", "_struct", "binascii"}, \
        mods - base_mods - ours


@pytest.mark.parametrize("mode,flag", [("bare", "-H"), ("bare-user", "-U")])
def test_a_plain_checkout_loads_neither_attrs_nor_argparse_nor_the_porcelain(tmp_path, mode, flag):
    """A plain ``checkout`` command line is read without argparse and goes to the store with
    light options (ostreepy.cli.checkout): it builds no attrs value (the porcelain's options and
    result, DirTree, DirMeta, Commit, FileHeader), so neither attrs (~20 ms), argparse nor the
    porcelain is imported, nor the sysroot, bootloader or image code: an OS tree's checkout
    takes ~50 ms in ostree (issue 14). Empty files are copied (as ostree does) on that path too,
    and a bare-user repository's symlinks made from their objects, checked."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a").write_text("a\n")
    (src / "d" / "empty").write_bytes(b"")
    (src / "d" / "l").symlink_to("../a")
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "init", f"--mode={mode}"], check=True)
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "commit", "-b", "main", str(src)],
                   check=True, capture_output=True)
    mods = _modules_after([f"--repo={tmp_path}/r", "checkout", flag, "main", str(tmp_path / "co")])
    co = tmp_path / "co"
    assert (co / "a").read_text() == "a\n" and (co / "a").stat().st_nlink == 2
    assert (co / "d" / "empty").stat().st_size == 0 and (co / "d" / "empty").stat().st_nlink == 1
    assert os.readlink(co / "d" / "l") == "../a"
    assert not {"attrs", "attr", "argparse", "ostreepy.porcelain", "tempfile"} & mods, mods
    rooms = {m.split(".")[1] for m in mods if m.count(".") >= 1 and m.startswith("ostreepy.")}
    assert rooms <= {"_version", "_process", "_deferred", "cli", "errors", "fsutil", "store"}, rooms
    assert not any(m.split(".")[0] in ("bootloader", "ociclient", "requests", "cryptography") for m in mods)
    # the same checkout read by argparse (an abbreviated option) gives the same tree
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "checkout",
                    "--require-hard" if flag == "-H" else "--user-m", "main", str(tmp_path / "co2")], check=True)
    assert sorted(p.relative_to(tmp_path / "co2") for p in (tmp_path / "co2").rglob("*")) == \
        sorted(p.relative_to(co) for p in co.rglob("*"))


def test_a_composefs_checkout_loads_no_parser_nor_porcelain(tmp_path):
    """`checkout --composefs-noverity REF DEST` is read by the program's entry (cli.checkout),
    not argparse (with gettext and locale), and writes the image without the porcelain: start-up
    was an eighth of the 5,000-file image of benchmarks/composefs.py (issue 10)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    ostreepy = [sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r"]
    subprocess.run(ostreepy + ["init", "--mode=bare"], check=True)
    subprocess.run(ostreepy + ["commit", "-b", "main", str(src)], check=True, capture_output=True)
    p = subprocess.run(ostreepy + ["checkout", "--composefs-noverity", "main", str(tmp_path / "i.cfs")],
                       check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    mods = _imported(p.stderr)
    assert "ostreepy.composefs.erofs" in mods and (tmp_path / "i.cfs").stat().st_size > 0
    assert not {"argparse", "gettext", "locale", "ostreepy.cli.main", "ostreepy.cli.repo", "ostreepy.porcelain",
                "ostreepy.composefs.fsverity"} & mods, mods
    # nor, with no digest to check, any value of the store (the commit's root read through its
    # framing, dirtrees and dirmetas as entries and fields): no attrs, no typing
    assert not {"attrs", "attr", "typing"} & mods, mods


def test_image_pull_from_a_layout_loads_no_http_stack_nor_other_groups(tmp_path):
    """`container image pull` of an oci: layout (an import of local files) does not load the
    HTTP stack, the disk-image group (`image` is also a word of `container image pull`) or
    the bootc renderers when there is no progress to render: start-up is the fixed cost
    that dominates the import of a small image (issue 14)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ociclient"))
    from ocitest_helpers import build_layout
    build_layout(str(tmp_path / "oci"), tag="v1", layers=1, layer_size=2000)
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "init", "--mode=bare-user"], check=True)
    mods = _modules_after(["container", "image", "pull", f"{tmp_path}/r",
                           f"ostree-unverified-image:oci:{tmp_path}/oci:v1"])
    assert "ostreepy.container.layers" in mods  # it ran
    assert not {"ostreepy.cli.image", "ostreepy.bootc", "ociclient.registry", "requests"} & mods, mods


def test_only_the_named_verb_gets_a_parser():
    """`ostreepy refs` makes the parsers of `ostreepy` and `refs` only (an ArgumentParser
    costs ~80 us, and there are ~40 verbs); the others are placeholders the overall help
    lists from their help line, and a lookup still builds one in full."""
    import argparse

    from ostreepy.cli import glibhelp
    from ostreepy.cli.main import _register_extras, build_parser

    _register_extras(["refs"])  # as main() does: no command group named (another test's main() may have)

    def table(parser):
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    lazy, full = build_parser("refs"), build_parser()
    built = [name for name, p in dict.items(table(lazy)) if isinstance(p, argparse.ArgumentParser)]
    assert built == ["refs"]
    assert list(table(lazy)) == list(table(full))
    assert glibhelp.format_help([], build_parser("")) == glibhelp.format_help([], full)
    argv = ["commit", "-b", "x", "--tree=dir=/t", "--orphan"]
    assert lazy.parse_args(argv) == full.parse_args(argv)  # built on lookup, same options


def _after_a_directory_commit(tmp_path, probe: str) -> str:
    """The last line ``probe`` prints in a fresh interpreter that has just run ``ostreepy commit``
    of a one-file directory into a new bare-user repository."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "init", "--mode=bare-user"], check=True)
    code = ("import sys\nfrom ostreepy.cli.main import main\n"
            f"main(['--repo={tmp_path}/r', 'commit', '-b', 'main', '{src}'])\n" + probe)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[-1] if out.splitlines() else ""


def test_a_directory_commit_loads_no_tar_reader(tmp_path):
    """The tar and cpio readers (tarfile, with shutil, bz2, lzma and urllib.parse: ~4 ms) are
    imported where a tar or cpio is read, not by a commit of a directory."""
    out = _after_a_directory_commit(
        tmp_path, "print(' '.join(m for m in ('tarfile', 'bz2', 'lzma', 'ostreepy.store.readahead', "
        "'ostreepy.store.tarheader', 'ostreepy.store.cpioformat') if m in sys.modules))")
    assert out == ""


def test_a_commit_builds_only_the_progress_event_it_sends(tmp_path):
    """The progress events are attrs classes built on first use: a commit pays for
    FileWritten, not for the 26 events of every operation."""
    out = _after_a_directory_commit(
        tmp_path, "import ostreepy.progress as p\n"
        "print(' '.join(sorted(n for n in p.__all__ if n in vars(p) and isinstance(vars(p)[n], type))))")
    assert out.split() == ["FileWritten", "ProgressEvent"]


def _file_remote(tmp_path) -> list:
    """An archive repo ``s`` with ref main (one file) and a bare-user repo ``d`` whose remote
    ``o`` is it; the command that runs ostreepy."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    run = [sys.executable, "-m", "ostreepy"]
    subprocess.run(run + [f"--repo={tmp_path}/s", "init", "--mode=archive"], check=True)
    subprocess.run(run + [f"--repo={tmp_path}/s", "commit", "-b", "main", str(src)], check=True, capture_output=True)
    subprocess.run(run + [f"--repo={tmp_path}/d", "init", "--mode=bare-user"], check=True)
    subprocess.run(run + [f"--repo={tmp_path}/d", "remote", "add", "--no-gpg-verify", "o", f"file://{tmp_path}/s"],
                   check=True)
    return run


def test_a_pull_without_deltas_loads_no_delta_applier_nor_metalink_parser(tmp_path):
    """A pull that runs no static delta does not import the part applier (lzma, mmap,
    bspatch) nor the metalink's XML parser; nor shutil (with bz2, lzma, fnmatch: ~1.4 ms), nor
    the signapi verifiers of a remote without sign-verify (store.signing), and without a
    progress callback it builds none of the pull's event classes."""
    _file_remote(tmp_path)
    code = ("import sys\nfrom ostreepy.cli.main import main\n"
            f"rc = main(['--repo={tmp_path}/d', 'pull', 'o', 'main'])\n"
            "import ostreepy.progress as p\n"
            "built = [n for n in ('PullStarted', 'ObjectFetched', 'PullProgress', 'PullDone') if n in vars(p)]\n"
            "print(rc, ' '.join(sorted(m for m in sys.modules if m.startswith(('ostreepy.remote', 'xml', 'mmap', "
            "'lzma', 'shutil', 'bz2', 'ostreepy.store.signing')))), *built)")
    rc, mods = _listed(code)
    assert rc == "0" and "ostreepy.remote.pull" in mods
    assert not {"ostreepy.remote.deltas.apply", "ostreepy.remote.deltas.bsdiff", "ostreepy.remote.metalink",
                "xml.parsers.expat", "mmap", "shutil", "bz2", "lzma", "PullStarted", "ObjectFetched", "PullProgress",
                "PullDone", "ostreepy.store.signing"} & set(mods), mods


def _listed(code: str) -> tuple[str, list[str]]:
    """The exit code and the words ``code``'s last line prints (modules and built classes)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rc, *words = out.splitlines()[-1].split()
    return rc, words


def test_a_plain_pull_through_the_program_loads_no_parser_nor_what_it_does_not_use(tmp_path):
    """`ostreepy pull REMOTE REF` is read by the program's entry (cli.pull.plain_pull_args), not
    argparse (with gettext and locale); nor does a pull load datetime (a Last-Modified is read
    without it), random (a retry's delay) or the IDNA codec (an ASCII host): start-up is most
    of a pull with nothing to fetch (issue 8)."""
    run = _file_remote(tmp_path)
    p = subprocess.run(run + [f"--repo={tmp_path}/d", "pull", "o", "main"], capture_output=True, text=True,
                       check=True, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    mods = _imported(p.stderr)
    assert "ostreepy.remote.pull" in mods and "content objects" in p.stdout
    assert not {"argparse", "gettext", "locale", "ostreepy.cli.main", "ostreepy.cli.repo", "datetime", "random",
                "encodings.idna"} & mods, mods
    # nor queue.py (its SimpleQueue is _queue's), heapq, nor the cookie jar's module of a remote
    # without a jar (with its attrs class)
    assert not {"queue", "heapq", "ostreepy.remote.cookies"} & mods, mods


def test_a_plain_apply_offline_through_the_program_loads_no_parser_nor_the_generator(tmp_path):
    """`ostreepy static-delta apply-offline --repo=R PATH` is read by the program's entry
    (cli.delta.plain_apply_args), not argparse (with gettext and locale); the apply loads none of
    the generator's modules (store.sizes' writer, with its attrs class) and, without a progress
    callback, builds no progress event (issue 9)."""
    run = _file_remote(tmp_path)
    subprocess.run(run + [f"--repo={tmp_path}/s", "static-delta", "generate", "--empty", "--to=main"],
                   check=True, capture_output=True)
    superblock = next((tmp_path / "s" / "deltas").glob("*/*"))
    code = ("import sys\nfrom ostreepy.cli.entry import main\n"
            f"rc = main(['static-delta', 'apply-offline', '--repo={tmp_path}/d', {str(superblock)!r}])\n"
            "import ostreepy.progress as p\n"
            "built = [n for n in ('DeltaPartApplied', 'ProgressEvent') if n in vars(p)]\n"
            "print(rc, ' '.join(sorted(m for m in sys.modules if m.startswith(('argparse', 'gettext', 'locale', "
            "'ostreepy.cli', 'ostreepy.store.sizes', 'ostreepy.remote.deltas')))), *built)")
    rc, mods = _listed(code)
    assert rc == "0" and "ostreepy.remote.deltas.apply" in mods, mods
    assert not {"argparse", "gettext", "locale", "ostreepy.cli.main", "ostreepy.cli.repo", "ostreepy.store.sizes",
                "ostreepy.remote.deltas.compile", "DeltaPartApplied", "ProgressEvent"} & set(mods), mods
    commit = subprocess.run(run + [f"--repo={tmp_path}/s", "rev-parse", "main"], check=True, capture_output=True,
                            text=True).stdout.strip()
    fsck = subprocess.run(run + [f"--repo={tmp_path}/d", "fsck"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    shown = subprocess.run(run + [f"--repo={tmp_path}/d", "rev-parse", commit], capture_output=True, text=True)
    assert shown.stdout.strip() == commit


def test_a_plain_apply_offline_of_a_from_delta_builds_no_attrs_value(tmp_path):
    """A plain `static-delta apply-offline` of ostree's own from-delta (modified files built by
    bspatch and by copies of their old versions, new files, dirtrees, dirmetas) reads the
    superblock and the part into plain data and writes every object through the store's checks
    without a value class: neither attrs (~20 ms with inspect, ast and the rest) nor typing is
    imported, nor argparse, nor ostree.sign's modules for an unsigned superblock (issue 9). The
    commit is the delta's, and the peer's fsck finds the repository clean."""
    import random
    import shutil
    if shutil.which("ostree") is None:
        pytest.skip("ostree not installed")
    rng = random.Random(9)
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    for d in (v1, v2):
        (d / "usr" / "lib").mkdir(parents=True)
    for i in range(12):
        data = bytes(rng.getrandbits(8) for _ in range(3000 + 500 * i))
        (v1 / "usr" / "lib" / f"f{i}").write_bytes(data)
        if i % 3 == 0:
            data = data[:1000] + b"edited" + data[1006:]  # bsdiff's case
        elif i % 3 == 1:
            data = data + b"appended\n"
        (v2 / "usr" / "lib" / f"f{i}").write_bytes(data)
    (v2 / "usr" / "new.txt").write_text("new\n")
    (v2 / "usr" / "link").symlink_to("lib/f1")
    ostree = ["ostree", f"--repo={tmp_path}/s"]
    subprocess.run(ostree + ["init", "--mode=archive"], check=True)
    for v in (v1, v2):
        subprocess.run(ostree + ["commit", "-b", "main", str(v)], check=True, capture_output=True)
    rev = lambda r: subprocess.run(ostree + ["rev-parse", r], check=True, capture_output=True,  # noqa: E731
                                   text=True).stdout.strip()
    frm, to = rev("main^"), rev("main")
    subprocess.run(ostree + ["static-delta", "generate", f"--from={frm}", f"--to={to}"], check=True,
                   capture_output=True)
    shown = subprocess.run(ostree + ["static-delta", "show", f"{frm}-{to}"], check=True, capture_output=True,
                           text=True).stdout
    assert "bspatch=0" not in shown and "setread=0" not in shown, shown
    subprocess.run(["ostree", f"--repo={tmp_path}/d", "init", "--mode=bare-user"], check=True)
    subprocess.run(["ostree", f"--repo={tmp_path}/d", "pull-local", f"{tmp_path}/s", frm], check=True,
                   capture_output=True)
    superblock = next((tmp_path / "s" / "deltas").glob("*/*")) / "superblock"
    p = subprocess.run([sys.executable, "-m", "ostreepy", "static-delta", "apply-offline", f"--repo={tmp_path}/d",
                        str(superblock)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert p.returncode == 0, p.stderr[-2000:]
    mods = _imported(p.stderr)
    assert "ostreepy.remote.deltas.apply" in mods and "ostreepy.remote.deltas.bsdiff" in mods
    # (nor ctypes: the transaction's syncfs goes through _ctypes, made ready while the part inflates)
    unwanted = {"attrs", "attr", "typing", "inspect", "argparse", "ostreepy.store.signing", "ostreepy.progress",
                "ostreepy.remote.deltas.compile", "ctypes"}
    assert not unwanted & mods, p.stderr
    assert subprocess.run(["ostree", f"--repo={tmp_path}/d", "rev-parse", to], capture_output=True,
                          text=True).stdout.strip() == to
    fsck = subprocess.run(["ostree", f"--repo={tmp_path}/d", "fsck"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    co = tmp_path / "co"
    subprocess.run(["ostree", f"--repo={tmp_path}/d", "checkout", "-U", to, str(co)], check=True)
    for f in v2.rglob("*"):
        rel = f.relative_to(v2)
        if f.is_symlink():
            assert os.readlink(co / rel) == os.readlink(f)
        elif f.is_file():
            assert (co / rel).read_bytes() == f.read_bytes(), rel


def test_a_commit_through_the_porcelain_builds_only_the_result_types_it_uses(tmp_path):
    """The porcelain's result types are attrs classes built on first use, as the progress
    events: a commit pays for CommitInfo and TreeSource, not for the checkout, image, pull
    and boot-entry results too."""
    out = _after_a_directory_commit(
        tmp_path, "import ostreepy.porcelain as p\n"
        "print(' '.join(sorted(n for n in ('BootLoaderEntry', 'CheckoutResult', 'CommitInfo', 'EncapsulateResult', "
        "'PullResult', 'TreeSource') if n in vars(p))))")
    assert out.split() == ["CommitInfo", "TreeSource"]
    from ostreepy.porcelain import CheckoutResult  # built when named
    assert CheckoutResult("0" * 64, "/d").destination == "/d"


def test_a_checkout_imports_no_concurrent_futures(tmp_path):
    """A checkout runs on the calling thread: concurrent.futures (with logging, ~4 ms)
    is not imported for it."""
    src = tmp_path / "t"
    for i in range(3):
        for j in range(3):
            (src / f"d{i}" / f"e{j}").mkdir(parents=True)
            (src / f"d{i}" / f"e{j}" / "f").write_text(f"{i}{j}")
    repo = tmp_path / "r"
    ostreepy = [sys.executable, "-m", "ostreepy", f"--repo={repo}"]
    subprocess.run(ostreepy + ["init", "--mode=bare-user"], check=True)
    subprocess.run(ostreepy + ["commit", "-b", "m", f"--tree=dir={src}"], check=True, capture_output=True)
    p = subprocess.run(ostreepy + ["checkout", "-U", "m", str(tmp_path / "out")], check=True,
                       capture_output=True, text=True, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert (tmp_path / "out" / "d2" / "e1" / "f").read_text() == "21"
    mods = _imported(p.stderr)
    assert "ostreepy.store.checkout" in mods and "concurrent.futures" not in mods, mods


def test_the_value_modules_load_no_attrs():
    """attrs (with inspect, ast, dis, tokenize and platform: ~18 ms) is imported when the first
    attrs class is built, not by the modules that declare them: the store's values (gvariant,
    objects), the progress events and the porcelain's results are built on first use
    (ostreepy._deferred); a pure function of those modules needs no class."""
    code = ("import sys\nimport ostreepy.porcelain, ostreepy.progress\n"
            "from ostreepy.store import gvariant, objects\n"
            "before = 'attrs' in sys.modules\n"
            "tree = objects.parse_dirtree(bytes(1))\n"
            "meta = objects.parse_dirmeta(objects.serialize_dirmeta(0, 0, 0o40755, ()))\n"
            "v = gvariant.deserialize('(su)', gvariant.serialize('(su)', ('a', 1)))\n"
            "print(before, 'attrs' in sys.modules, tree, meta, v)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split(None, 2)[:2] == ["False", "False"], out
    # built when named, as attrs classes (frozen values); a deferred base with its subclass
    code = ("import attrs\nfrom ostreepy.store.objects import Commit, DirTree\nfrom ostreepy.store.gvariant import Variant\n"
            "from ostreepy.progress import FileWritten, ProgressEvent\nfrom ostreepy.porcelain import TreeSource\n"
            "c = Commit('0' * 64, '1' * 64)\nassert c.metadata == {} and DirTree.parse(DirTree().serialize()) == DirTree()\n"
            "assert all(attrs.has(k) for k in (Commit, DirTree, Variant, FileWritten, ProgressEvent, TreeSource))\n"
            "assert isinstance(FileWritten('p', 1), ProgressEvent) and not hasattr(FileWritten('p', 1), '__dict__')\n"
            "try:\n    TreeSource('zip', 'x')\nexcept ValueError as e:\n    print(e.args[0])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "'kind' must be in ('dir', 'tar', 'ref') (got 'zip')"


def test_read_verbs_that_build_no_value_load_no_attrs(tmp_path):
    """`refs` and `rev-parse` read refs only, and `show` of an unsigned commit loads none of the
    signature checking (keyrings, OpenPGP, the remote's config): none of it is paid by a
    command that does not use it (issues 8, 9)."""
    run = _file_remote(tmp_path)
    subprocess.run(run + [f"--repo={tmp_path}/d", "pull", "o", "main"], check=True, capture_output=True)
    for verb in (["refs"], ["rev-parse", "o:main"]):
        mods = _modules_after([f"--repo={tmp_path}/d", *verb])
        assert not {"attrs", "attr"} & mods, (verb, mods)
    p = subprocess.run(run + [f"--repo={tmp_path}/d", "show", "o:main"], capture_output=True, text=True,
                       check=True, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert p.stdout.startswith("commit ")
    mods = _imported(p.stderr)
    assert not {"ostreepy.remote.config", "ostreepy.remote.keyring", "ostreepy.remote.openpgp",
                "ostreepy.store.signing"} & mods, mods


def test_a_commit_and_fsck_import_no_concurrent_futures(tmp_path):
    """A directory commit hands its large files to ostreepy.parallel.Pool's threads (the small
    ones it writes itself) and fsck checks an archive repository's objects on them: neither
    imports concurrent.futures (with logging). The commit is ostree's, byte for byte."""
    src = tmp_path / "t"
    for i in range(3):
        (src / f"d{i}").mkdir(parents=True)
        for j in range(15):
            (src / f"d{i}" / f"f{j}").write_text(f"{i}{j}")
        (src / f"d{i}" / "big").write_bytes(bytes(range(256)) * (600 + i))  # past the inline size
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    csums = []
    for name, tool in (("ours", [sys.executable, "-m", "ostreepy"]), ("theirs", ["ostree"])):
        repo = tmp_path / name
        subprocess.run(tool + [f"--repo={repo}", "init", "--mode=archive"], check=True)
        p = subprocess.run(tool + [f"--repo={repo}", "commit", "-b", "m", "--timestamp=@0", str(src)],
                           check=True, capture_output=True, text=True, env=env)
        csums.append(p.stdout.strip())
        if name == "ours":
            mods = _imported(p.stderr)
            assert "ostreepy.store.commit" in mods and "concurrent.futures" not in mods, mods
            p = subprocess.run(tool + [f"--repo={repo}", "fsck"], check=True, capture_output=True, text=True,
                               env=env)
            assert "no errors found" in p.stdout
            mods = _imported(p.stderr)
            assert "ostreepy.store.fsck" in mods and "concurrent.futures" not in mods, mods
    assert csums[0] == csums[1]


def test_syncfs_is_the_c_librarys_without_ctypes(tmp_path):
    """The transaction's syncfs (store.repo._syncfs) is libc's, called through _ctypes without
    ctypes' Python part (~1.5 ms of every pull): it syncs a directory's filesystem and raises
    the C library's errno as OSError."""
    code = ("import errno, os, sys\nfrom ostreepy.store.repo import _syncfs\n"
            f"fd = os.open({str(tmp_path)!r}, os.O_RDONLY)\n_syncfs(fd)\n_syncfs(fd)\nos.close(fd)\n"
            "try:\n    _syncfs(fd)\nexcept OSError as e:\n    print(e.errno == errno.EBADF)\n"
            "print('ctypes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]
    trace = subprocess.run(["strace", "-f", "-e", "trace=syncfs", sys.executable, "-c", code],
                           capture_output=True, text=True)
    if trace.returncode == 0:  # (strace where there is one)
        assert trace.stderr.count("syncfs(") == 3, trace.stderr


@pytest.mark.parametrize("ref", [False, True])
def test_a_plain_prune_loads_no_parser_nor_porcelain_nor_attrs(tmp_path, ref):
    """`prune --refs-only --depth=0` is read by the program's entry (cli.prune.plain_prune_args),
    not argparse, and runs on the store, walking commits and dirtrees through their framing
    (objects.commit_links, parse_dirtree): it builds no attrs value (the store's PruneResult, the
    porcelain's, a Commit or DirTree), so neither argparse, typing, attrs nor the porcelain is
    imported, nor the delta or summary-cache modules of a repository with neither: a prune of an
    OS tree is ~60 ms in ostree, most of it the kernel's unlinks (issue 14). What it prints and
    what it leaves are ostree's."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a").write_text("a\n")
    (src / "d" / "b").write_text("b\n")
    (src / "d" / "l").symlink_to("../a")
    subprocess.run(["ostree", f"--repo={tmp_path}/r", "init", "--mode=bare-user"], check=True)
    for i in range(2):
        (src / "a").write_text(f"a{i}\n")
        subprocess.run(["ostree", f"--repo={tmp_path}/r", "commit", "-b", "main", f"--timestamp=@{i}", str(src)],
                       check=True, capture_output=True)
    if not ref:
        subprocess.run(["ostree", f"--repo={tmp_path}/r", "refs", "--delete", "main"], check=True)
    for name in ("ours", "theirs"):
        subprocess.run(["cp", "-a", f"{tmp_path}/r", f"{tmp_path}/{name}"], check=True)
    argv = [f"--repo={tmp_path}/ours", "prune", "--refs-only", "--depth=0"]
    code = ("import sys\nfrom ostreepy.cli.entry import main\n"
            f"rc = main({argv!r})\n"
            "print(rc, ' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('argparse', 'typing', 'attrs', "
            "'attr') or m.startswith(('ostreepy.porcelain', 'ostreepy.remote')) or m in ('ostreepy.cli.main', "
            "'ostreepy.cli.repo', 'ostreepy.cli.prune'))))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    *lines, last = p.stdout.splitlines()
    # (remote.tidy: the few lines that look for deltas and a summary cache, shared with the porcelain)
    assert last.split() == ["0", "ostreepy.cli.prune", "ostreepy.remote", "ostreepy.remote.tidy"], p.stdout
    theirs = subprocess.run(["ostree", f"--repo={tmp_path}/theirs", "prune", "--refs-only", "--depth=0"],
                            capture_output=True, text=True, check=True).stdout
    assert lines == theirs.splitlines() and lines[0].startswith("Total objects: ")
    assert ("Deleted 3 objects" in lines[1]) if ref else ("Deleted 10 objects" in lines[1]), lines

    def objects(repo):
        return sorted(str(p.relative_to(repo)) for p in (repo / "objects").rglob("*") if not p.is_dir())
    assert objects(tmp_path / "ours") == objects(tmp_path / "theirs")
    fsck = subprocess.run(["ostree", f"--repo={tmp_path}/ours", "fsck"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
