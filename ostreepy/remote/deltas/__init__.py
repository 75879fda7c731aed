"""Static deltas as libostree reads and writes them: :mod:`.format` (pure
superblock, part and opcode code), :mod:`.bsdiff` (the endsley bsdiff/bspatch
stream without bzip2), :mod:`.rollsum` (bup rolling-checksum chunk matching),
:mod:`.apply` (executing parts into a repository), :mod:`.partread` (reading a
part file, ahead on a thread for apply-offline), :mod:`.compile` (generating
deltas with libostree's heuristics), :mod:`.fetch` (deltas in a pull) and :mod:`.store` (the ``deltas/`` and
``delta-indexes/`` directories of a repository).

The pull engine goes through :mod:`.fetch` (choosing a delta, fetching and
running it), which calls, in order: :func:`delta_path` (where a delta's
superblock and parts are on the server), :func:`.format.read_superblock` (its
commit, parts, fallbacks, inline parts via ``inline_part``, as plain data; :func:`parse_superblock`
gives the attrs value),
:func:`part_have_all_objects` (skip a part), :func:`execute_part` (checksums
a fetched part against its header, then writes its objects, each verified),
and, for ``summary -u``, :func:`list_deltas` / :func:`delta_index_entries` and :func:`.store.reindex`.
"""

# The names below are loaded on first use: a pull imports .fetch (and with it this
# package) on every run, and applying a part (lzma, mmap, bspatch) only when there is one.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .apply import apply_offline, execute_part, open_part, part_have_all_objects  # noqa: F401
    from .format import (DeltaError, Fallback, PartHeader, Superblock, delta_path, index_path,  # noqa: F401
                         parse_superblock, part_path)
    from .store import delta_index_entries, list_deltas  # noqa: F401

_LAZY = {**{n: "apply" for n in ("apply_offline", "execute_part", "open_part", "part_have_all_objects")},
         **{n: "format" for n in ("DeltaError", "Fallback", "PartHeader", "Superblock", "delta_path", "index_path",
                                  "parse_superblock", "part_path")},
         **{n: "store" for n in ("delta_index_entries", "list_deltas")}}


def __getattr__(name: str) -> object:
    try:
        modname = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{modname}"), name)
    globals()[name] = value
    return value
