"""Installing a new machine: disk images (raw, qcow2) from a bootable
container image (:mod:`ostreepy.install.image`, ``ostreepy image build``),
with their partition tables (:mod:`ostreepy.install.gpt`, pure format code,
and :mod:`ostreepy.install.disk`, its I/O), the bootc-image-builder config
(:mod:`ostreepy.install.config`) and real owners for images built without
root (:mod:`ostreepy.install.owners`); ``bootc install to-filesystem``
(:mod:`ostreepy.install.tofs`) and ``to-disk`` (:mod:`ostreepy.install.todisk`).

Partition tables are the project's own; filesystems are made with the
standard tools a user already has for the job (e2fsprogs, dosfstools,
mtools, grub-mkimage).
"""
