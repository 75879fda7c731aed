"""OSTree's own transport (to come): remotes and their configuration, the HTTP
fetcher, summaries and static deltas, pulling between repositories.

Named ``remote`` rather than ``pull`` because ``ostreepy.pull`` is the
high-level function (:func:`ostreepy.porcelain.pull`); a subpackage of that
name would replace the function on the package once imported.

Built as the rest of the house: the formats (summary, delta superblocks and
parts) as pure code over :mod:`ostreepy.store`, the fetcher a thin I/O layer,
progress as typed events. Nothing is here yet; the room exists so that the
capability starts in its place.
"""
