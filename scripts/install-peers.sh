#!/bin/bash
# Installs the real peer tools the test suite compares against, from Debian's
# packages, only when something is missing (a second run costs nothing).
set -euo pipefail

PACKAGES=(
    ostree            # the reference object store and `ostree admin`
    skopeo            # reference registry client
    docker-registry   # CNCF distribution, the registry server the tests run
    apache2-utils     # htpasswd for the Basic-auth registry set-up
    nginx-light       # the web server the HTTP pull tests and benchmark serve repos with
    umoci             # builds OCI images without a daemon
    grub-common       # grub-script-check
    grub2-common
    systemd-boot      # bootctl, to parse our BLS entries
    zstd
    cpio              # ostree's test-libarchive.sh makes a cpio archive to commit (scripts/upstream-tests.sh)
    attr              # getfattr/setfattr, handy when a test fails
    strace            # a pull's syncfs/fsync calls counted against ostree's (tests/remote/test_pull_http.py)
    erofs-utils       # fsck.erofs/dump.erofs must accept our composefs images
    fsverity          # fsverity-utils: the reference fs-verity digest
    openssl
    python3
    python3-venv
    gdisk             # sgdisk --verify: our GPT tables
    fdisk             # sfdisk --dump: our GPT tables
    mtools            # mformat/mcopy: the ESP of a disk image, without mounting
    dosfstools        # fsck.vfat on the ESP
    qemu-utils        # qemu-img: qcow2 disk images
    grub-efi-amd64-bin  # GRUB EFI modules when an image ships none
    grub-pc-bin       # GRUB i386-pc boot.img/core.img: the BIOS placement checked against it
    xfsprogs          # mkfs.xfs/xfs_repair: to-disk --filesystem=xfs
    debootstrap       # the Debian 13 skopeo chroot below, and the QEMU tests' bootable image
    qemu-system-x86   # the QEMU boot tests (SeaBIOS comes with it)
    ovmf              # UEFI firmware for the QEMU boot tests
    shim-signed       # Debian's signed shim (and MokManager): the ESP's shim layout, and its Secure Boot test
    grub-efi-amd64-signed  # Debian's signed GRUB, loaded by shim
    efibootmgr        # the peer of the Boot####/BootOrder writer (run on a fake efivarfs folder)
    parallel          # GNU parallel: ostree's test-admin-locking.sh (scripts/upstream-tests.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Upstream ostree (v2026.4: composefs, ed25519) and libcomposefs' tools, built for
# Debian 12, when the shared peers folder is beside the checkout (CI has it). A
# fresh clone without it still passes: the tests that need it skip and say how
# to get it. Unpacked once, to /opt/peers.
UPSTREAM=$(ls "$(dirname "$0")"/../../shared/peers/upstream-ostree-*-debian12-amd64.tar.xz 2>/dev/null | tail -1 || true)
if [ -n "$UPSTREAM" ] && [ ! -x /opt/peers/bin/ostree ] && grep -q 'VERSION_ID="12"' /etc/os-release; then
    echo "unpacking $(basename "$UPSTREAM") to /opt/peers"
    tar -C / -xJf "$UPSTREAM"
fi
if [ -x /opt/peers/bin/ostree ] && ldd /opt/peers/bin/ostree | grep -q 'not found'; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends libostree-1-1 libsodium23 libgpgme11 libcurl4 \
        libarchive13 >/dev/null || true
fi

# Debian 13's skopeo 1.18 (with sigstore, which Debian 12's lacks) in a chroot
# under /var/cache/ostreepy-peers, for the sigstore tests (about 2 minutes, once;
# tests/trixie_peer.py). A machine that cannot reach a Debian mirror skips those tests.
"$(dirname "$0")"/build-trixie-peer.sh || echo "warning: the Debian 13 skopeo peer could not be built; its tests will skip"
