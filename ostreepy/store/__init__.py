"""The object store: what ``libostree``'s ``OstreeRepo`` is, in layers.

Pure format code knows nothing of files: :mod:`~ostreepy.store.gvariant`
(the GVariant codec, with :mod:`~ostreepy.store.gvariant_text` for its text
form), :mod:`~ostreepy.store.objects` (commits, dirtrees, dirmetas, file
headers and their checksums), :mod:`~ostreepy.store.refs` (ref and refspec
rules), :mod:`~ostreepy.store.keyfile` (GLib keyfiles) and
:mod:`~ostreepy.store.mtree` (the in-memory tree a commit is built from).
Over it, :mod:`~ostreepy.store.repo` keeps objects and refs on disk in the
four repository modes, with transactions that stage objects and rename them
in only when verified, :mod:`~ostreepy.store.lock` the repository lock and
:mod:`~ostreepy.store.staging` the staging directories shared with libostree.
The operations are modules of their own: :mod:`~ostreepy.store.commit`,
:mod:`~ostreepy.store.checkout`, :mod:`~ostreepy.store.fsck`,
:mod:`~ostreepy.store.prune`, :mod:`~ostreepy.store.signing` and
:mod:`~ostreepy.store.tarexport`.

This room imports nothing of the rooms above it (sysroot, container, bootc,
the command line).
"""
