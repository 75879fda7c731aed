"""``OSTREE_SYSROOT_DEBUG``: libostree's test and debugging switches for a sysroot,
read once when a :class:`~ostreepy.sysroot.sysroot.Sysroot` opens, as
``ostree_sysroot_init`` reads them (``g_parse_debug_string``).

Pure parsing; what each flag changes lives where libostree has it:

* ``mutable-deployments``: deployment roots are not made immutable (so a test can
  ``rm -rf`` its sysroot);
* ``no-xattrs``: kernels and device trees are copied into /boot without xattrs;
* ``no-dtb``: a ``usr/lib/modules/KVER/`` kernel is taken without its
  ``devicetree``/``dtb/`` (nor do they count in the bootcsum);
* ``test-fifreeze``: the full sync fails as the freeze/thaw watchdog test does.
"""

from __future__ import annotations

from typing import FrozenSet, Optional, Sequence, Set

__all__ = ["DEBUG_ENV", "MUTABLE_DEPLOYMENTS", "NO_XATTRS", "NO_DTB", "TEST_FIFREEZE",
           "parse_debug_string", "sysroot_debug_flags"]

#: the environment variable libostree reads its sysroot debug flags from
DEBUG_ENV = "OSTREE_SYSROOT_DEBUG"
#: deployment roots are left mutable (no ``chattr +i``)
MUTABLE_DEPLOYMENTS = "mutable-deployments"
#: the full sync fails as the freeze/thaw watchdog test does
TEST_FIFREEZE = "test-fifreeze"
#: no xattrs copied into /boot
NO_XATTRS = "no-xattrs"
#: a modules-layout kernel's device tree is left out
NO_DTB = "no-dtb"
_KEYS = (MUTABLE_DEPLOYMENTS, TEST_FIFREEZE, NO_XATTRS, NO_DTB)


def parse_debug_string(value: Optional[str], keys: Sequence[str]) -> FrozenSet[str]:
    """GLib's ``g_parse_debug_string``: keys separated by any of ``:;, \\t``,
    matched case-insensitively with ``-`` and ``_`` equal; ``all`` selects every
    key; unknown keys are ignored."""
    if not value:
        return frozenset()
    for sep in ";, \t":
        value = value.replace(sep, ":")
    out: Set[str] = set()
    for tok in value.split(":"):
        t = tok.lower().replace("_", "-")
        if t == "all":
            out.update(keys)
        elif t in keys:
            out.add(t)
    return frozenset(out)


def sysroot_debug_flags(value: Optional[str]) -> FrozenSet[str]:
    """The flags an ``OSTREE_SYSROOT_DEBUG`` value sets."""
    return parse_debug_string(value, _KEYS)
