"""Static deltas as libostree reads and writes them: :mod:`.format` (pure
superblock, part and opcode code), :mod:`.bsdiff` (the endsley bsdiff/bspatch
stream without bzip2), :mod:`.rollsum` (bup rolling-checksum chunk matching),
:mod:`.apply` (executing parts into a repository), :mod:`.compile` (generating
deltas with libostree's heuristics), :mod:`.fetch` (deltas in a pull) and :mod:`.store` (the ``deltas/`` and
``delta-indexes/`` directories of a repository).

The pull engine goes through :mod:`.fetch` (choosing a delta, fetching and
running it), which calls, in order: :func:`delta_path` (where a delta's
superblock and parts are on the server), :func:`parse_superblock` (its
commit, parts, fallbacks, inline parts via :meth:`Superblock.inline_part`),
:func:`part_have_all_objects` (skip a part), :func:`execute_part` (checksums
a fetched part against its header, then writes its objects, each verified),
and, for ``summary -u``, :func:`list_deltas` / :func:`delta_index_entries` and :func:`.store.reindex`.
"""

from .apply import apply_offline, execute_part, open_part, part_have_all_objects  # noqa: F401
from .format import (DeltaError, Fallback, PartHeader, Superblock, delta_path, index_path,  # noqa: F401
                     parse_superblock, part_path)
from .store import delta_index_entries, list_deltas  # noqa: F401
