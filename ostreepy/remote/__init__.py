"""OSTree's own transport: remotes and their configuration, fetchers (HTTP and
``file://``), summaries, signature policy, pulling between repositories, and
static deltas.

Named ``remote`` rather than ``pull`` because ``ostreepy.pull`` is the
high-level function (:func:`ostreepy.porcelain.pull`); a subpackage of that
name would replace the function on the package once imported.

Built as the rest of the house: the formats (summary, delta superblocks and
parts) as pure code over :mod:`ostreepy.store`, the fetchers a thin I/O layer,
progress as typed events.
"""
