"""Sysroots: the physical root holding ``ostree/repo``, the deployments of each
stateroot, and ``/boot`` with their kernels and boot entries.

Pure rules first: :mod:`~ostreepy.sysroot.deployment` (deployments, origins,
serials, which deployments a write keeps), :mod:`~ostreepy.sysroot.etcmerge`
(the three-way ``/etc`` merge as a plan, then its application) and
:mod:`~ostreepy.sysroot.kernel` (finding the kernel, initramfs and
devicetree of a tree); :mod:`~ostreepy.sysroot.bootconfig` does the atomic
file work of ``/boot`` (bootversion, bootlinks, the one-rename swap), and
:mod:`~ostreepy.sysroot.sysroot` ties them into
:class:`~ostreepy.sysroot.sysroot.Sysroot`, following libostree's
``ostree-sysroot*.c`` step by step so that ``ostree admin`` reads and keeps
managing what is written here. Boot entry text comes from the
:mod:`bootloader` package.
"""
