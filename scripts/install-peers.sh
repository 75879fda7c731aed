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
    attr              # getfattr/setfattr, handy when a test fails
    openssl
    python3
    python3-venv
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
