"""The layer's read-ahead thread (LayerFeed) and the uncompressed layer whose diffID is its digest."""

from __future__ import annotations

import hashlib
import io
import threading
import time

import pytest

from ociclient.digest import VerifyingReader
from ociclient.errors import DigestMismatch
from ostreepy.container.layerfeed import LayerFeed
from ostreepy.container.layers import import_layer
from ostreepy.container.refescape import layer_ref_for
from ostreepy.store.repo import Repo

from .conftest import Layer

TAR = "application/vnd.oci.image.layer.v1.tar"


def test_feed_gives_the_chunks_in_order_then_the_producers_error_where_it_happened():
    chunks = [b"abc", b"defg", b"h"]

    def produce() -> bytes:
        if chunks:
            return chunks.pop(0)
        raise ValueError("broken at the end")

    feed = LayerFeed(produce, depth=1)
    try:
        assert feed.read(2) == b"ab"
        assert feed.read(10) == b"c"  # the rest of a chunk, never more than one
        assert feed.read(4) == b"defg"
        assert feed.read(1) == b"h"
        with pytest.raises(ValueError, match="broken at the end"):
            feed.read(1)
        with pytest.raises(ValueError):  # and again, as a stream that broke stays broken
            feed.read(1)
    finally:
        feed.close()


def test_close_stops_a_producer_blocked_on_a_full_queue():
    calls = []

    def produce() -> bytes:
        calls.append(1)
        return b"x" * 10

    feed = LayerFeed(produce, depth=2)
    assert feed.read(3) == b"xxx"
    time.sleep(0.05)  # the producer fills the queue and waits
    t = time.monotonic()
    feed.close()
    assert time.monotonic() - t < 2
    assert not any(th.name == "ostreepy-layer-read" and th.is_alive() for th in threading.enumerate())
    n = len(calls)
    time.sleep(0.05)
    assert len(calls) == n  # nothing runs after close


def _layer() -> bytes:
    return Layer().dir("usr").file("usr/a", b"a" * 5000).file("usr/b", b"b" * 300).bytes()


def test_uncompressed_layer_whose_diffid_is_its_digest(tmp_path):
    data = _layer()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    blob = VerifyingReader(io.BytesIO(data), digest, len(data))
    res = import_layer(repo, blob, digest=digest, diff_id=digest, media_type=TAR, size=len(data),
                       ref=layer_ref_for(digest))
    assert res.diff_id == digest and res.uncompressed_size == len(data)
    assert repo.read_ref(layer_ref_for(digest)) == res.commit

    # one byte changed in a file's data: the tar still parses, the blob's digest (which is
    # also the diffID, not hashed a second time) refuses it, and nothing is recorded
    bad = bytearray(data)
    bad[bad.index(b"b" * 300) + 7] ^= 1
    repo2 = Repo.init(str(tmp_path / "r2"), "bare-user")
    with pytest.raises(DigestMismatch):
        import_layer(repo2, VerifyingReader(io.BytesIO(bytes(bad)), digest, len(bad)), digest=digest,
                     diff_id=digest, media_type=TAR, size=len(bad), ref=layer_ref_for(digest))
    assert repo2.read_ref(layer_ref_for(digest)) is None
    assert not repo2.list_refs()
