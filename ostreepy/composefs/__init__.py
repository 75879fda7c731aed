"""composefs: fs-verity digests, the composefs EROFS image of a tree byte for
byte as libcomposefs writes it, and OSTree's use of it (the commit metadata
``ostree.composefs.digest.v0``, ``checkout --composefs``, ``.ostree.cfs`` in
deployments).

Pure format code, bytes in and bytes out: :mod:`.fsverity` (the kernel's
file digest, streaming), :mod:`.tree` (the tree and libcomposefs's rules),
:mod:`.dumpfile` (the dump-file format both ways), :mod:`.erofs` (the image
writer, with its digest) and :mod:`.reader` (images read back, hostile ones
refused). Thin I/O layers over them: :mod:`.fromdir` (a directory on disk, as
``mkcomposefs`` reads it), :mod:`.commit_image` (the image of a commit in a
repository, as libostree builds it) and :mod:`.deploy` (``prepare-root.conf``
and the deployment's image), which :mod:`ostreepy.sysroot` calls.
"""
