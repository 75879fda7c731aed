"""Unit tests of the pure functions (BLS text, kargs, kargs.d, naming, GRUB)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings, strategies as st

from bootloader.bls import BLSEntry, EntryFileName, format_entry, parse_entry, parse_entry_filename
from bootloader.errors import (BootloaderError, EntryParseError, GrubConfigError, KargsConfigError,
                               KernelArgsError, OsReleaseError)
from bootloader.grub import generate_grub_config, grub_suffix, shell_quote
from bootloader.kargs import KernelArgs, split_kernel_args
from bootloader.kargsd import is_kargs_file, kargs_for_upgrade, kargs_from_files, parse_kargs_toml, rust_arch
from bootloader.naming import (DeploymentBoot, deployment_entry, entry_filename, entry_title,
                               parse_bls_append, parse_os_release, parse_sysroot_opts, shell_unquote)

# -- BLS text -----------------------------------------------------------------


def test_format_uses_ostree_key_order_and_keeps_unknown_keys():
    e = BLSEntry([("x-extra", "1"), ("initrd", "/a"), ("linux", "/k"), ("title", "T"),
                  ("initrd", "/b"), ("options", "rw"), ("version", "3"), ("devicetree", "/d"),
                  ("fdtdir", "/dtb")])
    assert format_entry(e) == ("title T\nversion 3\noptions rw\ndevicetree /d\nlinux /k\n"
                               "initrd /a\ninitrd /b\nx-extra 1\nfdtdir /dtb\n")
    assert format_entry(e, ostree_order=False).startswith("x-extra 1\ninitrd /a\n")


def test_parse_semantics():
    e = parse_entry("# c\n\ntitle  A  B \t\noptions a\noptions b\ntitle C\ninitrd /1\ninitrd /2\n")
    assert e.title == "C" and e.get_all("title") == ("A  B", "C")
    assert e.options == "a b" and e.initrds == ("/1", "/2")
    assert "initrd" in e and e.get("nope") is None
    assert e.with_value("title", "Z").get_all("title") == ("Z",)
    assert e.without("initrd").initrds == ()


@pytest.mark.parametrize("bad", [b"title \xff\n", "title x\0\n", " title x\n", "title x\r\n",
                                 "1title x\n", "title\n"])
def test_parse_strict_errors(bad):
    with pytest.raises(EntryParseError):
        parse_entry(bad)
    assert isinstance(EntryParseError("x"), BootloaderError)


def test_parse_lenient_skips_like_systemd():
    e = parse_entry(" title x\r\ntitle\nlinux /k\n", strict=False)
    assert e.items == (("title", "x"), ("linux", "/k"))


keys = st.sampled_from(["title", "version", "options", "linux", "initrd", "devicetree", "x-a", "sort-key"])
values = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs")), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(keys, values), max_size=8))
def test_format_parse_round_trip(items):
    e = BLSEntry(items)
    text = format_entry(e)
    again = parse_entry(text)
    assert format_entry(again) == text
    for k in e.keys():
        assert again.get_all(k) == e.get_all(k)


def test_entry_filenames():
    assert parse_entry_filename("ostree-2+3-0.conf") == EntryFileName("ostree-2", ".conf", "3", "0")
    n = parse_entry_filename("a+0-02.conf")
    assert n.bad and n.id == "a.conf" and n.tries_done == 2 and str(n) == "a+0-02.conf"
    assert not parse_entry_filename("a+x.conf").counting
    assert str(EntryFileName.make("ostree-1", 3)) == "ostree-1+3.conf"


# -- kernel args --------------------------------------------------------------


def test_split_kernel_args_like_ostree():
    assert split_kernel_args('  a b="x y"  c ') == ["a", 'b="x y"', "", "c"]
    assert split_kernel_args('a "b c') == ["a", '"b c']
    assert split_kernel_args("") == []


def test_kernel_args_edits():
    k = KernelArgs.parse("root=UUID=1 rw console=tty0 console=ttyS0 quiet")
    assert str(k.set("console=x")) == "root=UUID=1 rw console=x quiet"
    assert str(k.set("new")) == "root=UUID=1 rw console=tty0 console=ttyS0 quiet new"
    assert str(k.replace("console=tty0=tty1 quiet=1")) == "root=UUID=1 rw console=tty1 console=ttyS0 quiet=1"
    assert str(k.delete("console=ttyS0 rw")) == "root=UUID=1 console=tty0 quiet"
    assert str(k.append_if_missing("rw=1")) == str(k)
    assert str(k.append_if_missing("ro")).endswith(" ro")
    assert k.get_last_value("console") == "ttyS0" and k.get_last_value("rw") is None
    assert str(k.delete_key("console")) == "root=UUID=1 rw quiet"
    assert k.delete_if_present("nothere") == k
    for bad, op in [("console", k.replace), ("nope=1", k.replace), ("console=a=b", k.replace),
                    ("console", k.delete), ("rw=1", k.delete), ("nope", k.delete)]:
        with pytest.raises(KernelArgsError):
            op(bad)


def test_proc_cmdline_filter():
    k = KernelArgs.from_proc_cmdline("BOOT_IMAGE=/vmlinuz root=/dev/vda initrd=\\x rw\n")
    assert k.to_list() == ["root=/dev/vda", "rw"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet='ab=" x', max_size=6), max_size=6))
def test_kernel_args_parse_is_idempotent(parts):
    text = " ".join(parts)
    k = KernelArgs.parse(text)
    # a trailing empty argument prints as a trailing space, which ostree drops
    assume(not str(k).endswith(" "))
    assert KernelArgs.parse(str(k)) == k


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abc=,.0", min_size=1, max_size=6), max_size=6))
def test_kernel_args_str_round_trip(parts):
    text = " ".join(parts)
    assert str(KernelArgs.parse(text)) == text


# -- kargs.d --------------------------------------------------------------------


def test_kargs_d_files():
    files = [("20-b.toml", 'kargs = ["console=ttyS1"]'),
             ("10-a.toml", 'kargs = ["console=tty0", "nosmt"]\nmatch-architectures = ["x86_64"]\n'),
             ("30-arm.toml", 'kargs = ["arm"]\nmatch-architectures = ["aarch64"]'),
             ("README", "garbage"), (".toml", "garbage")]
    assert kargs_from_files(files, "x86_64") == ["console=tty0", "nosmt", "console=ttyS1"]
    assert kargs_from_files(files, "aarch64") == ["console=ttyS1", "arm"]
    assert is_kargs_file("a.toml") and not is_kargs_file(".toml") and not is_kargs_file("a.toml.bak")
    assert rust_arch("ppc64le") == "powerpc64" and rust_arch("arm64") == "aarch64"


@pytest.mark.parametrize("bad", ['kargs = ["a"]\nfoo = "bar"', 'foo = "bar"', 'kargs = "a"',
                                 'kargs = [1]', 'kargs = ["a"]\nmatch-architectures = "x86_64"',
                                 "kargs = [", b"kargs = ['\xff']"])
def test_kargs_toml_errors(bad):
    with pytest.raises(KargsConfigError):
        parse_kargs_toml(bad, "x86_64")


def test_kargs_for_upgrade_diff():
    old = [("a.toml", 'kargs = ["nosmt", "console=tty0"]')]
    new = [("a.toml", 'kargs = ["console=tty0", "quiet"]')]
    cur = 'root=x rw nosmt foo="a b" console=tty0 nosmt'
    assert kargs_for_upgrade(cur, old, new, "x86_64") == ["root=x", "rw", 'foo="a b"', "console=tty0", "quiet"]
    # no kargs.d in the new image: bootc appends the old kargs as they are
    assert kargs_for_upgrade("rw", old, None, "x86_64") == ["rw", "nosmt", "console=tty0"]
    assert kargs_for_upgrade(None, [], new, "x86_64") == ["console=tty0", "quiet"]


# -- naming -----------------------------------------------------------------------


def test_shell_unquote_and_os_release():
    assert shell_unquote("\"a \\\"b\\\" \\x\"") == 'a "b" \\x'
    assert shell_unquote("'it'\\''s'") == "it's"
    with pytest.raises(ValueError):
        shell_unquote('"open')
    osr = parse_os_release('# c\nNAME="A"\nBAD="x\nID=a\nPRETTY_NAME=\'A 1\'\n')
    assert osr == {"NAME": "A", "ID": "a", "PRETTY_NAME": "A 1"}


def test_titles():
    assert entry_title({"PRETTY_NAME": "Fedora 40"}, "40.1", 0) == "Fedora 40 40.1 (ostree:0)"
    assert entry_title({"PRETTY_NAME": "Fedora 40.1 X"}, "40.1", 1) == "Fedora 40.1 X (ostree:1)"
    assert entry_title({"ID": "fedora", "NAME": "Fedora"}, "", 2, osname="f", show_osname=True) == "fedora (ostree:f:2)"
    with pytest.raises(OsReleaseError):
        entry_title({"NAME": "x"}, None, 0)


def test_filenames_and_opts():
    assert entry_filename(0, 2, "os") == "ostree-2.conf"
    assert entry_filename(1, 2, "os", naming_1=True) == "ostree-1-os.conf"
    assert entry_filename(0, 1, "os", boot_counting_tries=3) == "ostree-1+3.conf"
    assert entry_filename(0, 1, "os", boot_counting_tries=3, previous_filename="ostree-1.conf") == "ostree-1.conf"
    assert entry_filename(0, 1, "os", boot_counting_tries=3, previous_filename="ostree-1+2-1.conf") == "ostree-1+2-1.conf"
    assert parse_sysroot_opts("skip-sync,Bootloader_Naming-1") == {"skip-sync", "bootloader-naming-1"}
    assert parse_bls_append("a=1;b=x=y;a=2") == (("a", "2"), ("b", "x=y"))


def test_deployment_entry_fdtdir_aboot_prefix_and_append():
    dep = DeploymentBoot(osname="os", bootcsum="cs", bootserial=1, kernel="vmlinuz-6", devicetree_dir="dtb",
                         aboot="aboot-6.img", deployment_dirpath="ostree/deploy/os/deploy/c.0",
                         os_release={"ID": "os"})
    name, e = deployment_entry(dep, index=1, n_deployments=2, bootversion=0, kargs="rw",
                               bootprefix=True, bls_append=[("grub_users", "\"\"")])
    assert name == "ostree-1.conf"
    assert format_entry(e) == (
        "title os (ostree:1)\nversion 1\n"
        "options rw init=/ostree/boot.0/os/cs/1/usr/lib/ostree/ostree-prepare-root ostree=/ostree/boot.0/os/cs/1\n"
        "linux /boot/ostree/os-cs/vmlinuz-6\naboot /ostree/os-cs/aboot-6.img\n"
        "abootcfg /ostree/deploy/os/deploy/c.0/usr/lib/ostree-boot/aboot.cfg\n"
        "fdtdir /boot/ostree/os-cs/dtb\ngrub_users \"\"\n")


# -- GRUB -------------------------------------------------------------------------


def test_grub_bits():
    assert shell_quote("it's") == "'it'\\''s'"
    assert grub_suffix(False, modern_grub=False) == "16" and grub_suffix(True, modern_grub=False) == "efi"
    assert grub_suffix(True, modern_grub=False, arch="aarch64") == "" and grub_suffix(False) == ""
    out = generate_grub_config([BLSEntry([("linux", "/k"), ("devicetree", "/d")])], boot_device_id="x",
                               prepare_root_cache="", suffix="16")
    assert "menuentry '(Untitled)'" in out and "linux16 /k\n" in out and "devicetree /d\n" in out
    with pytest.raises(GrubConfigError):
        generate_grub_config([BLSEntry([("title", "t")])], boot_device_id="x", prepare_root_cache="")
