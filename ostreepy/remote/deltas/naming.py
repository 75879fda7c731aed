"""Where a static delta lies on a server or in a repository: ostree's "modified base64"
names of checksums, the ``deltas/`` and ``delta-indexes/`` paths built from them, and the
summary metadata keys that say a remote has deltas and how they are listed.

Pure and light on purpose: a pull asks for a delta's index or superblock on every run, and
needs these names without the delta format's parsers (:mod:`.format`, which also uses them).
The encoding is done on the checksum's integer rather than with the base64 module: 256 bits
and two zero bits of padding are 43 digits of six bits, base64's own digits but ``_`` for
``/``, and no padding character.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (a pull's and an apply's start-up)
if TYPE_CHECKING:
    from typing import Optional

__all__ = ["INDEXED_DELTAS", "SUMMARY_STATIC_DELTAS", "mbase64_from_checksum", "path_base"]

#: summary metadata: the remote's static deltas, name -> superblock digest
SUMMARY_STATIC_DELTAS = "ostree.static-deltas"
#: summary metadata: deltas are listed per target under ``delta-indexes/``
INDEXED_DELTAS = "ostree.summary.indexed-deltas"

_MBASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_"


def mbase64_from_checksum(checksum: str) -> str:
    """ostree's "modified base64" of a hex checksum: no padding, ``_`` for ``/``."""
    v = int(checksum, 16) << 2
    return "".join(_MBASE64[(v >> (6 * i)) & 63] for i in range(42, -1, -1))


def path_base(prefix: str, from_checksum: Optional[str], to_checksum: str) -> str:
    """``PREFIX xx/rest[-to]`` (a delta from ``from_checksum``) or ``PREFIX xx/rest`` (from
    scratch, or an index), the names ostree gives them."""
    to64 = mbase64_from_checksum(to_checksum)
    if from_checksum:
        from64 = mbase64_from_checksum(from_checksum)
        return f"{prefix}{from64[:2]}/{from64[2:]}-{to64}"
    return f"{prefix}{to64[:2]}/{to64[2:]}"
