"""OSTree's own transport (to come): remotes and their configuration, the HTTP
fetcher, summaries and static deltas, pulling between repositories.

Built as the rest of the house: the formats (summary, delta superblocks and
parts) as pure code over :mod:`ostreepy.store`, the fetcher a thin I/O layer,
progress as typed events. Nothing is here yet; the room exists so that the
capability starts in its place.
"""
