"""Against the real ostree 2022.7: the entries ``ostree admin deploy`` wrote,
and ``ostree admin instutil grub2-generate``."""

from __future__ import annotations

import os

import pytest

from bootloader.bls import format_entry, parse_entry
from bootloader.grub import generate_grub_config
from bootloader.kargs import KernelArgs
from bootloader.naming import DeploymentBoot, deployment_entry, parse_os_release, show_osname
from bootloader.sort import ostree_sort_entries

from .conftest import C1, C2, C3, DEPLOYS, KVER, run


def read_entries(sysroot):
    d = sysroot.entries_dir()
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_entries_round_trip_byte_for_byte(real_sysroot):
    files = read_entries(real_sysroot)
    assert sorted(files) == ["ostree-1-myos.conf", "ostree-2-myos.conf", "ostree-3-other.conf"]
    for name, data in files.items():
        entry = parse_entry(data)
        assert format_entry(entry).encode() == data, name


def _boot(osname, c, serial=0):
    return DeploymentBoot(
        osname=osname, bootcsum=c.bootcsum, bootserial=serial,
        kernel=f"vmlinuz-{KVER}",
        initramfs=f"initramfs-{KVER}.img" if c.initramfs is not None else None,
        devicetree=f"devicetree-{KVER}" if c.devicetree is not None else None,
        os_release=parse_os_release(c.os_release), commit_version=c.version,
    )


def _karg_ops(kargs, args):
    # what ``ostree admin deploy`` does with --karg / --karg-append / --karg-delete
    for a in args:
        if a.startswith("--karg="):
            kargs = kargs.set(a[len("--karg="):])
    for a in args:
        if a.startswith("--karg-append="):
            kargs = kargs.append(a[len("--karg-append="):])
    for a in args:
        if a.startswith("--karg-delete="):
            kargs = kargs.delete(a[len("--karg-delete="):])
    return kargs


def test_simulated_deploys_equal_ostree_entries(real_sysroot):
    """Replay the three ``ostree admin deploy`` runs with our functions: the
    final entry files equal ostree's byte for byte (older naming)."""
    bootversion = 0  # before the first deploy there is no loader link
    deployments = []  # newest first: (osname, commit, kargs)
    entries = {}  # osname+ref -> BLSEntry of the current bootversion
    for osname, c, args in DEPLOYS:
        merge = next((d for d in deployments if d[0] == osname), None)
        base = KernelArgs()
        if merge is not None:
            base = KernelArgs.parse(entries[merge[0] + merge[1].ref].options)
        kargs = _karg_ops(base, args)
        deployments.insert(0, (osname, c, kargs))
        bootversion = 1 - bootversion
        shown = show_osname([d[0] for d in deployments])
        new_entries = {}
        files = {}
        for i, (o, cc, ka) in enumerate(deployments):
            prev = entries.get(o + cc.ref)
            name, e = deployment_entry(
                _boot(o, cc), index=i, n_deployments=len(deployments), bootversion=bootversion,
                kargs=ka if prev is None else None, base=prev, show_osname=shown, naming_1=True,
            )
            new_entries[o + cc.ref] = e
            files[name] = format_entry(e).encode()
        entries = new_entries
    assert bootversion == real_sysroot.bootversion()
    assert files == read_entries(real_sysroot)


def test_second_deploy_kargs_as_ostree_edits_them(real_sysroot):
    e = parse_entry((real_sysroot.entries_dir() / "ostree-2-myos.conf").read_bytes())
    kargs = KernelArgs.parse(e.options)
    assert kargs.to_list()[:6] == ["root=LABEL=sys", "rw", 'foo="a b"', "console=ttyS0,115200",
                                   "quiet", kargs.to_list()[5]]
    assert kargs.values("console") == ("ttyS0,115200", "ttyS1")
    assert kargs.get_last_value("init").endswith("/usr/lib/ostree/ostree-prepare-root")


@pytest.mark.parametrize("efi", [False, True])
def test_grub_config_equals_grub2_generate(real_sysroot, efi, tmp_path):
    cache = "insmod ext2\nset root='hd0,msdos1'"
    env = {"GRUB2_BOOT_DEVICE_ID": "dev-1234", "GRUB2_PREPARE_ROOT_CACHE": cache}
    if efi:
        env["_OSTREE_GRUB2_IS_EFI"] = "1"
    expected = run("ostree", "admin", "instutil", f"--sysroot={real_sysroot.path}",
                   "grub2-generate", env=env).stdout
    pairs = [(n, parse_entry(d)) for n, d in read_entries(real_sysroot).items()]
    ours = generate_grub_config(ostree_sort_entries(pairs), boot_device_id="dev-1234",
                                prepare_root_cache=cache, efi=efi)
    assert ours == expected
    assert "'Bob'\\''s OS 2.0 beta (ostree:myos:1)'" in ours
    cfg = tmp_path / "grub.cfg"
    cfg.write_text(ours)
    run("grub-script-check", str(cfg))


def test_grub_script_check_rejects_broken_config(tmp_path):
    # the peer does check: an unbalanced block fails
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("menuentry 'x' {\nlinux /k\n")
    assert run("grub-script-check", str(cfg), check=False).returncode != 0


def test_ostree_status_order_is_our_ostree_sort(real_sysroot):
    pairs = [(n, parse_entry(d)) for n, d in read_entries(real_sysroot).items()]
    order = [n for n, _ in ostree_sort_entries(pairs)]
    assert order == ["ostree-3-other.conf", "ostree-2-myos.conf", "ostree-1-myos.conf"]
    status = run("ostree", "admin", f"--sysroot={real_sysroot.path}", "status").stdout
    osnames = [line.split()[0] for line in status.splitlines() if line.startswith("  ") and not line.startswith("    ")]
    assert osnames == ["other", "myos", "myos"]
    assert os.path.isdir(real_sysroot.boot / "ostree" / f"myos-{C1.bootcsum}")
    assert os.path.isdir(real_sysroot.boot / "ostree" / f"myos-{C2.bootcsum}")
    assert os.path.isdir(real_sysroot.boot / "ostree" / f"other-{C3.bootcsum}")
