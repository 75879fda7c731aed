"""Static deltas as libostree reads and writes them: :mod:`.format` (pure
superblock, part and opcode code), :mod:`.bsdiff` (the endsley bsdiff/bspatch
stream without bzip2), :mod:`.rollsum` (bup rolling-checksum chunk matching),
:mod:`.apply` (executing parts into a repository), :mod:`.compile` (generating
deltas with libostree's heuristics) and :mod:`.store` (the ``deltas/`` and
``delta-indexes/`` directories of a repository).
"""

from .format import (DeltaError, Fallback, PartHeader, Superblock, delta_path, index_path,  # noqa: F401
                     parse_superblock)

