"""``ostreepy image build``: a disk image from the bundled example image, built
by an unprivileged user without mounts, then read by the standard tools
(sgdisk, sfdisk, fsck.vfat, e2fsck, mtools, debugfs) and, with root, by the
real ``ostree`` through read-only loop mounts of its partitions."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from ostreepy import porcelain
from ostreepy.install import gpt
from ostreepy.install.config import BuildConfigError, parse_config
from ostreepy.install.disk import read_gpt
from ostreepy.install.image import ImageBuildError, build_image
from ostreepy.progress import ImageBuildBytes, ImageBuildStage

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bootable-image"
NOBODY = pwd.getpwnam("nobody").pw_uid
MIB = 1024 * 1024
TOOLS = ("sgdisk", "sfdisk", "mkfs.vfat", "fsck.vfat", "mcopy", "mdir", "grub-mkimage", "debugfs", "e2fsck")

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}") and not os.path.exists(f"/sbin/{t}")
        for t in TOOLS) or not Path("/usr/lib/grub/x86_64-efi/normal.mod").exists(),
    reason="needs gdisk, fdisk, dosfstools, mtools, e2fsprogs, grub-efi-amd64-bin: scripts/install-peers.sh")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(list(args), capture_output=True, text=True)
    if check and p.returncode:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="install-test-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def extract(disk: Path, part: gpt.GptPartition, dest: Path) -> Path:
    """A partition's bytes as a sparse file, copying only the disk's data extents."""
    fd = os.open(disk, os.O_RDONLY)
    try:
        with open(dest, "wb") as out:
            pos, end = part.offset, part.offset + part.size
            while pos < end:
                try:
                    pos = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                if pos >= end:
                    break
                stop = min(os.lseek(fd, pos, os.SEEK_HOLE), end)
                while pos < stop:
                    chunk = os.pread(fd, min(stop - pos, 4 * MIB), pos)
                    out.seek(pos - part.offset)
                    out.write(chunk)
                    pos += len(chunk)
            out.truncate(part.size)
    finally:
        os.close(fd)
    return dest


def debugfs(img: Path, request: str) -> str:
    return run("debugfs", "-R", request, str(img)).stdout


@pytest.fixture(scope="module")
def rootless_image() -> Iterator[Tuple[Path, str]]:
    """A raw image built by ``nobody`` from a copy of the example (v1), with a
    config that gives root an SSH key; built once for the module."""
    d = Path(tempfile.mkdtemp(prefix="install-rootless-"))
    os.chmod(d, 0o755)
    run("skopeo", "copy", "-q", f"oci:{EXAMPLE}:v1", f"oci:{d}/img:latest")
    (d / "config.toml").write_text('[[customizations.user]]\nname = "root"\nkey = "ssh-ed25519 AAAAtest me@x"\n'
                                   '[[customizations.user]]\nname = "alice"\ngroups = ["wheel"]\n'
                                   '[customizations.kernel]\nappend = "quiet"\n')
    run("chown", "-R", f"{NOBODY}:{NOBODY}", str(d))
    p = run("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-m",
            "ostreepy", "image", "build", f"--config={d}/config.toml", f"oci:{d}/img:latest", f"{d}/out")
    yield d / "out/image/disk.raw", p.stdout
    shutil.rmtree(d, ignore_errors=True)


def test_rootless_raw_image_reads_with_standard_tools(rootless_image: Tuple[Path, str], work: Path) -> None:
    disk, out = rootless_image
    assert disk.stat().st_uid == NOBODY
    assert "No problems found" in run("sgdisk", "--verify", str(disk)).stdout
    dump = run("sfdisk", "--dump", str(disk)).stdout
    assert dump.count("type=") == 4 and "type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B" in dump
    table = read_gpt(disk)
    bios, esp, boot, root = table.partitions
    assert (bios.type_guid, esp.type_guid, boot.type_guid, root.type_guid) == (
        gpt.BIOS_BOOT, gpt.ESP, gpt.XBOOTLDR, gpt.ROOT_X86_64)
    assert (bios.size, esp.size, boot.size) == (MIB, 512 * MIB, 1024 * MIB)
    # sparse: the disk holds only what the filesystems wrote
    assert disk.stat().st_blocks * 512 < 200 * MIB

    esp_img = extract(disk, esp, work / "esp")
    assert run("fsck.vfat", "-n", str(esp_img)).returncode == 0
    assert "BOOTX64  EFI" in run("mdir", "-i", str(esp_img), "::/EFI/BOOT").stdout
    boot_img = extract(disk, boot, work / "boot")
    root_img = extract(disk, root, work / "root")
    for img in (boot_img, root_img):
        assert run("e2fsck", "-fn", str(img)).returncode == 0

    root_uuid = next(ln.split(": ")[1] for ln in out.splitlines() if ln.startswith("Root filesystem UUID"))
    assert run("blkid", "-o", "value", "-s", "UUID", str(root_img)).stdout.strip() == root_uuid
    grub_cfg = debugfs(boot_img, "cat /grub/grub.cfg")
    boot_uuid = run("blkid", "-o", "value", "-s", "UUID", str(boot_img)).stdout.strip()
    assert f"search --no-floppy --fs-uuid --set=root {boot_uuid}" in grub_cfg
    assert f"root=UUID={root_uuid} rw quiet ostree=/ostree/boot.1/default/" in grub_cfg
    assert "linux /ostree/default-" in grub_cfg and "initrd /ostree/default-" in grub_cfg
    entries = debugfs(boot_img, "ls /loader/entries")
    assert "ostree-1.conf" in entries or "ostree-1-default.conf" in entries

    # owners: root's everywhere, though nobody built it; the repository reads as bare
    listing = debugfs(root_img, "ls -l /ostree/deploy/default/deploy")
    assert " 0      0 " in listing and str(NOBODY) not in listing
    assert "mode=bare\n" in debugfs(root_img, "cat /ostree/repo/config")
    assert "user.ostreemeta" not in run("debugfs", "-R", "ea_list /ostree/repo/config", str(root_img)).stdout
    assert debugfs(root_img, "cat /ostree/deploy/default/var/roothome/.ssh/authorized_keys") == \
        "ssh-ed25519 AAAAtest me@x\n"
    dep = next(ln.split()[-1] for ln in listing.splitlines() if ln.rstrip().endswith(".0"))
    assert "u alice" in debugfs(root_img, f"cat /ostree/deploy/default/deploy/{dep}/etc/sysusers.d/"
                                          "ostreepy-image-build.conf")


@pytest.mark.skipif(os.geteuid() != 0, reason="loop mounts need root")
def test_real_ostree_reads_the_installed_sysroot(rootless_image: Tuple[Path, str], work: Path) -> None:
    disk, _ = rootless_image
    table = read_gpt(disk)
    _, _, boot, root = table.partitions
    mnt = work / "mnt"
    mnt.mkdir()
    run("mount", "-o", f"loop,ro,offset={root.offset},sizelimit={root.size}", str(disk), str(mnt))
    try:
        run("mount", "-o", f"loop,ro,offset={boot.offset},sizelimit={boot.size}", str(disk), str(mnt / "boot"))
        try:
            status = run("ostree", "admin", "status", f"--sysroot={mnt}").stdout
            fsck = run("ostree", "fsck", f"--repo={mnt}/ostree/repo").stdout
            ls = run("ls", "-ln", str(next((mnt / "ostree/deploy/default/deploy").glob("*.0")) / "usr/bin")).stdout
        finally:
            run("umount", str(mnt / "boot"))
    finally:
        run("umount", str(mnt))
    assert "default " in status and ".0" in status
    assert "no errors found" in fsck
    assert all(ln.split()[2:4] == ["0", "0"] for ln in ls.splitlines()[1:]), ls


def test_qcow2_and_progress(work: Path) -> None:
    if shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-img (qemu-utils): scripts/install-peers.sh")
    events = []
    res = build_image(f"ostree-unverified-image:oci:{EXAMPLE}:v2", work / "out", image_type="qcow2",
                      size=4 * 1024 * MIB, progress=events.append)
    assert res.path == work / "out/qcow2/disk.qcow2" and res.disk_size == 4 * 1024 * MIB
    info = run("qemu-img", "info", "--output=json", str(res.path)).stdout
    assert '"format": "qcow2"' in info and f'"virtual-size": {4 * 1024 * MIB}' in info
    run("qemu-img", "check", str(res.path))
    stages = [e.stage for e in events if isinstance(e, ImageBuildStage)]
    assert stages == ["deploy", "grub", "root-fs", "boot-fs", "esp", "partition", "convert"]
    done = [e for e in events if isinstance(e, ImageBuildBytes) and e.partition == "root"]
    assert done and done[-1].done == done[-1].total
    assert [p for p in (work / "out").iterdir()] == [work / "out/qcow2"]  # no staging left


def _image_without(work: Path, initramfs: bool) -> str:
    tree = work / "tree"
    (tree / "usr/lib/modules/6.1.0-x").mkdir(parents=True)
    (tree / "usr/etc").mkdir(parents=True)
    (tree / "usr/etc/os-release").write_text("ID=x\n")
    if initramfs:
        (tree / "usr/lib/modules/6.1.0-x/initramfs.img").write_bytes(b"I")
    else:
        (tree / "usr/lib/modules/6.1.0-x/vmlinuz").write_bytes(b"K")
    repo = work / "repo"
    porcelain.init(repo, mode="archive")
    porcelain.commit(repo, tree, branch="x")
    porcelain.encapsulate(repo, "x", f"oci:{work}/img:latest", labels={"containers.bootc": "1"})
    return f"ostree-unverified-image:oci:{work}/img:latest"


@pytest.mark.parametrize("what", ["kernel", "initramfs"])
def test_refuses_image_without_kernel_or_initramfs(work: Path, what: str) -> None:
    ref = _image_without(work, initramfs=(what == "kernel"))
    with pytest.raises(Exception, match=what) as e:
        build_image(ref, work / "out")
    assert isinstance(e.value, porcelain.OstreeError)
    assert list((work / "out").iterdir()) == []


def test_refuses_small_size_and_existing_output(work: Path) -> None:
    ref = f"ostree-unverified-image:oci:{EXAMPLE}:v1"
    with pytest.raises(ImageBuildError, match="too small for the image"):
        build_image(ref, work / "out", size=1024 * MIB)
    assert list((work / "out").iterdir()) == []
    (work / "out/image").mkdir()
    (work / "out/image/disk.raw").write_bytes(b"keep")
    with pytest.raises(ImageBuildError, match="exists"):
        build_image(ref, work / "out")
    assert (work / "out/image/disk.raw").read_bytes() == b"keep"
    with pytest.raises(ImageBuildError, match="raw or qcow2"):
        build_image(ref, work / "out2", image_type="vmdk")


def test_config_errors() -> None:
    cfg = parse_config(b'[[customizations.filesystem]]\nmountpoint = "/"\nminsize = "10 GiB"\n')
    assert cfg.min_size("/") == 10 * 1024 * MIB
    for bad, msg in ((b'[[customizations.filesystem]]\nmountpoint = "/var"\nminsize = 1\n', "only / and /boot"),
                     (b'[[customizations.user]]\nkey = "k"\n', "needs a name"),
                     (b'[[customizations.user]]\nname = "a"\npassword = "x"\n', "password"),
                     (b'[customizations\n', "config")):
        with pytest.raises(BuildConfigError, match=msg):
            parse_config(bad)


def test_owner_fixup_odd_names_and_bare_user_objects(work: Path) -> None:
    """systemd unit names carry backslashes (``system-systemd\\x2dcryptsetup.slice``); a
    bare-user object's real owner, mode and symlink-ness land in the image."""
    from ostreepy.install.owners import fix_owners
    from ostreepy.store.objects import BAREUSER_XATTR, bareuser_meta_serialize
    tree = work / "t"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "a\\x2db.slice").write_text("x")
    (tree / "d" / 'q"q').write_text("y")
    obj = tree / "d" / "obj.file"
    obj.write_text("z")
    os.setxattr(obj, BAREUSER_XATTR, bareuser_meta_serialize(7, 8, 0o100750, ((b"user.k\0", b"v"),)))
    link = tree / "d" / "link.file"
    link.write_bytes(b"../target\0")
    os.setxattr(link, BAREUSER_XATTR, bareuser_meta_serialize(0, 0, 0o120777, ()))
    img = work / "fs.img"
    with open(img, "wb") as f:
        f.truncate(16 * MIB)
    run("mkfs.ext4", "-q", "-d", str(tree), str(img))
    fix_owners("debugfs", img, tree)
    ls = debugfs(img, "ls -l /d")
    assert "100644 (1)      0      0" in ls  # the odd names: root's
    assert "100750 (1)      7      8" in ls
    assert "120777" in ls
    assert debugfs(img, "stat /d/link.file").count("../target") == 1
    ea = run("debugfs", "-R", "ea_list /d/obj.file", str(img)).stdout
    assert "user.k" in ea and "ostreemeta" not in ea


def _grub_titles(disk: Path, boot: gpt.GptPartition, work: Path) -> Tuple[str, list]:
    """The menu GRUB's own ext2 driver reads from the image's /boot."""
    img = extract(disk, boot, work / "boot.img")
    cfg = run("grub-fstest", str(img), "cat", "/grub/grub.cfg").stdout
    (work / "seen.cfg").write_text(cfg)
    run("grub-script-check", str(work / "seen.cfg"))
    img.unlink()
    return cfg, re.findall(r"^menuentry '([^']*)'", cfg, re.M)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("grub-fstest") is None,
                    reason="needs root (loop mounts) and grub-fstest (grub-common)")
def test_offline_upgrade_and_rollback_regenerate_the_menu(rootless_image: Tuple[Path, str], work: Path) -> None:
    """Issue 11: a deploy into the installed disk's sysroot, and a rollback,
    each leave a /boot/grub/grub.cfg whose entry 0 is the new default."""
    disk = work / "disk.raw"
    run("cp", "--sparse=always", str(rootless_image[0]), str(disk))
    table = read_gpt(disk)
    _, _, boot, root = table.partitions
    _, before = _grub_titles(disk, boot, work)
    assert len(before) == 1 and "(ostree:0)" in before[0]
    mnt = work / "mnt"
    mnt.mkdir()

    def mounted(fn):
        run("mount", "-o", f"loop,offset={root.offset},sizelimit={root.size}", str(disk), str(mnt))
        try:
            run("mount", "-o", f"loop,offset={boot.offset},sizelimit={boot.size}", str(disk), str(mnt / "boot"))
            try:
                return fn()
            finally:
                run("umount", str(mnt / "boot"))
        finally:
            run("umount", str(mnt))

    def upgrade() -> None:
        repo = f"--repo={mnt}/ostree/repo"
        csum = run("ostree", "admin", f"--sysroot={mnt}", "status").stdout.split()[1].split(".")[0]
        new = run("ostree", repo, "commit", "--orphan", f"--tree=ref={csum}", "--subject=v2",
                  "--add-metadata-string=version=v2-offline").stdout.strip()
        run(sys.executable, "-m", "ostreepy", "admin", f"--sysroot={mnt}", "deploy", "--os=default", new)

    mounted(upgrade)
    cfg, titles = _grub_titles(disk, boot, work)
    assert len(titles) == 2 and "v2-offline (ostree:0)" in titles[0] and titles[1] == before[0].replace(
        "(ostree:0)", "(ostree:1)")
    assert "search --no-floppy --fs-uuid --set=root" in cfg

    # booted from entry 0 (v2), `bootc rollback` makes v1 the default again
    cmdline = re.search(r"^linux \S+ (.*)$", cfg, re.M).group(1)
    mounted(lambda: porcelain.rollback(str(mnt), booted=cmdline))
    _, titles = _grub_titles(disk, boot, work)
    assert titles[0] == before[0] and "v2-offline (ostree:1)" in titles[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs: needs root")
def test_refuses_before_mkfs_when_the_output_folder_is_short_of_space(work: Path) -> None:
    """The need (the trees once, written in place into the disk file) is
    stated and checked against the output folder's free space once the
    staging tree is there, before any filesystem is made; nothing is left."""
    out = work / "small"
    out.mkdir()
    # the example's staging takes about 1 MiB; the need is its trees plus 2 MiB
    run("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(out))
    try:
        with pytest.raises(ImageBuildError, match=r"MiB free, the build needs about \d+ MiB"):
            build_image(f"ostree-unverified-image:oci:{EXAMPLE}:v1", out)
        assert list(out.iterdir()) == []
    finally:
        run("umount", str(out))
