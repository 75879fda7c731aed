#!/bin/bash
# Builds a small real bootable Debian 12 image as an OCI layout, for the QEMU
# boot tests (tests/install/test_boot.py): Debian's kernel, dracut with
# ostree-boot's module (ostree-prepare-root in the initramfs), systemd, the
# bootloaders' files an installer takes from the image (GRUB's x86_64-efi and
# i386-pc modules, systemd-boot, refind's ext4 driver), and a unit that prints a
# marker naming the booted deployment on the serial console, then powers off.
#
# Made to boot fast under TCG (every instruction emulated), without leaving out
# what is being tested (firmware, bootloader, kernel, ostree-prepare-root in a
# systemd initramfs, systemd in the deployment):
# - the initramfs holds only the dracut modules for a systemd initramfs with
#   ostree on a block device, and only the drivers for a virtio disk with ext4
#   or xfs (13 MB zstd, was 38 MB gzip with every storage driver, dm, crypt,
#   i18n...): GRUB reads it through BIOS calls or EFI block I/O, the kernel
#   unpacks it and udev's coldplug loads its modules, all emulated;
# - the default target is ostreepy-boot.target: the basic system (udev, fstab
#   mounts, ostree-remount), ostree-boot-complete and /boot, and the marker, not
#   multi-user's gettys and daemons;
# - dracut does not run during apt-get (INITRD=No skips Debian's kernel hook
#   and dracut's trigger, two full no-hostonly builds), only once at the end.
# Needs root (chroot) and the Debian mirror; 3-5 minutes on idle cores.
# Usage: build-bootable-image.sh OUTDIR (OUTDIR/oci is the layout, tag
# "latest"; OUTDIR/done marks a finished build).
set -euo pipefail
OUT=$(realpath -m "$1")
[ -e "$OUT/done" ] && exit 0
PY=${PYTHON:-python3}
rm -rf "$OUT"; mkdir -p "$OUT"
T="$OUT/tree"
debootstrap --variant=minbase --include=systemd-sysv,udev,kmod bookworm "$T" >"$OUT/debootstrap.log" 2>&1
cp /etc/resolv.conf "$T/etc/resolv.conf"
for d in proc sys dev; do mount --bind /$d "$T/$d"; done
trap 'for d in dev sys proc; do umount "$T/$d" 2>/dev/null || true; done' EXIT
# refind only for its ext4 EFI driver (systemd-boot reads an ext4 XBOOTLDR /boot
# through it); its postinst must not try to install itself to an ESP
echo "refind refind/install_to_esp boolean false" | chroot "$T" debconf-set-selections
chroot "$T" env DEBIAN_FRONTEND=noninteractive INITRD=No apt-get install -y -qq --no-install-recommends \
    linux-image-amd64 dracut ostree-boot grub-efi-amd64-bin grub-pc-bin systemd-boot-efi refind >"$OUT/apt.log" 2>&1
# in /etc so that the image says how its initramfs was made (ostree-boot's own
# ostree.conf adds the ostree and systemd modules)
cat > "$T/etc/dracut.conf.d/50-boot-test.conf" <<'CONF'
hostonly="no"
dracutmodules+=" systemd systemd-initrd dracut-systemd udev-rules kernel-modules rootfs-block fs-lib base ostree "
drivers+=" virtio_blk virtio_pci ext4 xfs vfat crc32c_generic "
compress="zstd"
CONF
KVER=$(ls "$T/lib/modules" | head -1)
chroot "$T" dracut -f /tmp/initramfs.img "$KVER" >"$OUT/dracut.log" 2>&1
for d in dev sys proc; do umount "$T/$d"; done
trap - EXIT
mkdir -p "$T/usr/lib/modules/$KVER"
cp "$T/boot/vmlinuz-$KVER" "$T/usr/lib/modules/$KVER/vmlinuz"
mv "$T/tmp/initramfs.img" "$T/usr/lib/modules/$KVER/initramfs.img"
rm -rf "$T"/boot/* "$T"/var/cache/apt/archives/*.deb "$T"/var/lib/apt/lists/* "$T/etc/resolv.conf"
S="$T/usr/lib/systemd/system"
cat > "$S/ostreepy-boot-marker.service" <<'UNIT'
[Unit]
Description=Report the boot on the serial console
# /boot is systemd-gpt-auto-generator's automount of the XBOOTLDR partition: mounted
# when first looked at, which multi-user's ostree-boot-complete.service does (its
# condition reads /boot/ostree); the marker waits for the same, so a /boot the booted
# system cannot mount fails the boot test
After=basic.target ostree-boot-complete.service
RequiresMountsFor=/boot
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "OSTREEPY-BOOT-OK $(tr " " "\\n" </proc/cmdline | grep ^ostree=)" >/dev/ttyS0; systemctl poweroff --no-block'
UNIT
cat > "$S/ostreepy-boot.target" <<'UNIT'
[Unit]
Description=The basic system and the boot test's marker
Requires=basic.target ostreepy-boot-marker.service
Wants=ostree-boot-complete.service
After=basic.target
AllowIsolate=yes
UNIT
ln -sf ostreepy-boot.target "$S/default.target"
mv "$T/etc" "$T/usr/etc"
rm -rf "$T/var"; mkdir -p "$T/var"
for d in dev proc sys run tmp boot sysroot; do rm -rf "$T/$d"; mkdir -p "$T/$d"; done
ln -s sysroot/ostree "$T/ostree"
"$PY" -m ostreepy init --repo="$OUT/repo" --mode=bare >/dev/null
"$PY" -m ostreepy commit --repo="$OUT/repo" --branch=os -s "bootable debian" --tree=dir="$T" >/dev/null
"$PY" -c "from ostreepy import porcelain as p; p.encapsulate('$OUT/repo', 'os', 'oci:$OUT/oci:latest', labels={'containers.bootc': '1'})"
rm -rf "$T" "$OUT/repo"
touch "$OUT/done"
