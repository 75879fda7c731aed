#!/bin/bash
# Builds Debian 13 ("trixie") with its skopeo 1.18 (sigstore enabled; Debian 12's
# skopeo 1.9 has it disabled) into a chroot the sigstore tests run it from
# (tests/trixie_peer.py), once per machine, outside the clone. A second run
# costs nothing. Measured on the CI machine: debootstrap 1m29s + skopeo 24s.
#   OSTREEPY_TRIXIE_PEER  where (default /var/cache/ostreepy-peers/trixie)
#   OSTREEPY_TRIXIE_MIRROR  the Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail

DEST=${OSTREEPY_TRIXIE_PEER:-/var/cache/ostreepy-peers/trixie}
MIRROR=${OSTREEPY_TRIXIE_MIRROR:-http://deb.debian.org/debian}
[ -x "$DEST/usr/bin/skopeo" ] && exit 0
command -v debootstrap >/dev/null || { echo "build-trixie-peer: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

# built beside its final place and renamed in, so a half-built tree is never taken for the peer
TMP="$DEST.tmp.$$"
trap 'rm -rf --one-file-system "$TMP"' EXIT
mkdir -p "$(dirname "$DEST")"
echo "building the Debian 13 skopeo peer in $DEST (about 2 minutes)"
debootstrap --variant=minbase trixie "$TMP" "$MIRROR" >/dev/null
chroot "$TMP" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo >/dev/null
chroot "$TMP" apt-get clean
chroot "$TMP" skopeo --version
mv -T "$TMP" "$DEST"
trap - EXIT
