"""composefs (to come): fs-verity digests, the composefs EROFS image of a
commit byte for byte as libcomposefs writes it, and the commit metadata that
binds them.

The image writer is pure format code (bytes in, bytes out); deployments use
it from :mod:`ostreepy.sysroot`. Nothing is here yet; the room exists so that
the capability starts in its place.
"""
