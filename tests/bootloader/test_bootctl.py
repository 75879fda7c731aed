"""``bootctl list`` (systemd 252) reads the entries we write."""

from __future__ import annotations

import random

import pytest

from bootloader.bls import BLSEntry, format_entry, parse_entry_filename
from bootloader.naming import DeploymentBoot, deployment_entry, parse_os_release
from bootloader.sort import sort_entries

from .conftest import bootctl_list


def _write(boot, files):
    d = boot / "loader" / "entries"
    d.mkdir(parents=True)
    for name, entry in files:
        (d / name).write_text(format_entry(entry))


def test_bootctl_reads_our_ostree_entries(tmp_path):
    osr = parse_os_release('NAME="Fedora Linux"\nID=fedora\nPRETTY_NAME="Fedora Linux 40 (Forty)"\n')
    files = []
    n = 3
    for i in range(n):
        dep = DeploymentBoot(
            osname="default", bootcsum=f"{i:064x}", bootserial=0, kernel="vmlinuz-6.8.5",
            initramfs="initramfs-6.8.5.img", os_release=osr, commit_version=f"40.{20240101 - i}",
            devicetree="devicetree-6.8.5" if i == 1 else None,
            overlay_initrds=("ab" * 32,) if i == 2 else (),
        )
        files.append(deployment_entry(dep, index=i, n_deployments=n, bootversion=1,
                                      kargs='root=UUID=42 rw quiet foo="a b"',
                                      bls_append=[("grub_users", "root")]))
    assert [name for name, _ in files] == ["ostree-3.conf", "ostree-2.conf", "ostree-1.conf"]
    _write(tmp_path, files)
    listed = bootctl_list(tmp_path)
    ours = sort_entries(files, systemd_ids=True)
    assert [x["id"] for x in listed] == [name for name, _ in ours]
    for (name, e), got in zip(ours, listed):
        assert got["title"] == e.title
        assert got["version"] == e.version
        assert got["linux"] == e.linux
        assert got["initrd"] == list(e.initrds)
        assert got["options"] == e.options
        if e.devicetree:
            assert got["devicetree"] == e.devicetree
    assert listed[0]["title"] == "Fedora Linux 40 (Forty) 40.20240101 (ostree:0)"
    assert listed[0]["options"].endswith(f"ostree=/ostree/boot.1/default/{0:064x}/0")
    assert len(listed[2]["initrd"]) == 2


@pytest.mark.parametrize("seed", [5, 11, 23])
def test_bootctl_order_matches_sort_entries(tmp_path, seed):
    # file names only from the BLS character set (bootctl skips others)
    rng = random.Random(seed)
    files = []
    names = set()
    while len(files) < 14:
        stem = rng.choice(["a", "b", "fedora", "ostree", "x"]) + rng.choice(["", "-1", "-10", "-2.1", "-2_1", "-02"])
        counter = rng.choice(["", "", "+3", "+0-2", "+1-0"])
        name = f"{stem}{counter}.conf"
        if stem in names:
            continue
        names.add(stem)
        items = [("title", stem), ("linux", "/vmlinuz")]
        if rng.random() < 0.5:
            items.append(("sort-key", rng.choice(["fedora", "debian"])))
            if rng.random() < 0.6:
                items.append(("machine-id", rng.choice(["1" * 32, "2" * 32])))
            if rng.random() < 0.7:
                items.append(("version", rng.choice(["6.1", "6.10", "6.2~rc1", "6.2"])))
        files.append((name, BLSEntry(items)))
    _write(tmp_path, files)
    listed = bootctl_list(tmp_path)
    ours = sort_entries(files, systemd_ids=True)
    assert [x["id"] for x in listed] == [parse_entry_filename(n).id for n, _ in ours]
