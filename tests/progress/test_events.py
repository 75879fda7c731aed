"""The event classes themselves: one frozen attrs class per event under
``ProgressEvent``, each documented and listed in the module's table; callbacks
never entered from two threads at once."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import List

import attrs
import pytest

import ostreepy.progress as progress
from ostreepy.progress import FileCheckedOut, FileWritten, LayerBytes, ProgressEvent, serialized
from ostreepy.store.checkout import checkout
from ostreepy.store.commit import create_commit, write_directory_to_mtree, write_mtree
from ostreepy.store.mtree import MutableTree
from ostreepy.store.repo import Repo

from .conftest import write_tree

EVENTS = [getattr(progress, n) for n in progress.__all__
          if isinstance(getattr(progress, n), type) and issubclass(getattr(progress, n), ProgressEvent)
          and getattr(progress, n) is not ProgressEvent]


def test_every_event_is_a_documented_frozen_class():
    assert len(EVENTS) == 26  # 19 + the four of a pull (PullStarted, ObjectFetched, PullProgress, PullDone) + DeltaPartApplied
    # + the image build's ImageBuildStage and ImageBuildBytes
    doc = progress.__doc__ or ""
    for cls in EVENTS:
        assert attrs.has(cls) and cls.__doc__ and cls.__doc__ != ProgressEvent.__doc__, cls
        assert f":class:`{cls.__name__}`" in doc, cls  # in the table by operation
        ev = cls(*[0] * len(attrs.fields(cls))) if attrs.fields(cls) else cls()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            ev.x = 1  # type: ignore[attr-defined]
        assert not hasattr(ev, "kind") or cls.__name__ == "LayerStarted"
        assert not hasattr(ev, "fields") and not hasattr(ev, "get") and not hasattr(ev, "__getitem__")


@pytest.mark.skipif(sys.version_info < (3, 10), reason="match needs Python 3.10")
def test_match_on_events():
    code = compile("""
def describe(ev):
    match ev:
        case FileWritten(path=p, size=s):
            return f"wrote {p} {s}"
        case LayerBytes(digest, done, total):
            return f"{digest} {done}/{total}"
        case ProgressEvent():
            return "other"
""", "<match>", "exec")
    ns = {"FileWritten": FileWritten, "LayerBytes": LayerBytes, "ProgressEvent": ProgressEvent}
    exec(code, ns)
    assert ns["describe"](FileWritten("/a", 3)) == "wrote /a 3"
    assert ns["describe"](LayerBytes("sha256:x", 1, 2)) == "sha256:x 1/2"
    assert ns["describe"](FileCheckedOut("/a", True)) == "other"


def test_serialized_keeps_none():
    assert serialized(None) is None


def _never_concurrent():
    busy = threading.Lock()
    seen: List[ProgressEvent] = []
    overlaps = []

    def cb(ev: ProgressEvent) -> None:
        if not busy.acquire(blocking=False):
            overlaps.append(ev)
            return
        try:
            time.sleep(0.0005)  # long enough for another thread to arrive
            seen.append(ev)
        finally:
            busy.release()

    return cb, seen, overlaps


def test_threaded_commit_and_checkout_call_one_at_a_time(workdir: Path):
    tree = workdir / "tree"
    write_tree(tree)
    for i in range(200):
        (tree / "usr/share" / f"f{i}").write_text(str(i))
    with Repo.init(str(workdir / "repo"), "bare") as r:
        cb, seen, overlaps = _never_concurrent()
        with r.transaction():
            mtree = write_directory_to_mtree(r, str(tree), MutableTree(), progress=cb, threads=4)
            root, meta = write_mtree(r, mtree)
            csum = create_commit(r, root, meta, timestamp=1700000000)
        assert not overlaps and len(seen) > 200
        cb, seen, overlaps = _never_concurrent()
        checkout(r, csum, str(workdir / "co"), progress=cb)
        assert not overlaps and len(seen) > 200


def test_tty_bar_names_the_layer_that_read():
    """Layers are fetched a few at once: the bar shows the one whose bytes came in."""
    import io

    from ostreepy.bootc.progress import TtyBar
    from ostreepy.progress import ImportStarted, LayerDone, LayerStarted

    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    out = io.StringIO()
    bar = TtyBar(out)
    bar(LayerStarted(a, 2048, "layer"))
    bar(LayerStarted(b, 4096, "ostree chunk"))
    bar(LayerBytes(a, 1024, 2048))
    last = out.getvalue().rsplit("\r", 1)[-1]
    assert last.startswith("\x1b[KFetching layer " + "a" * 19 + " [############            ]")
    assert last.endswith("] 1.00 KiB/2.00 KiB")
    bar(LayerDone(a, 2048))
    bar(LayerBytes(b, 4096, 4096))
    assert out.getvalue().rsplit("\r", 1)[-1].startswith("\x1b[KFetching ostree chunk " + "b" * 19 + " [" + "#" * 24)
    bar(ImportStarted())
    assert out.getvalue().endswith("\r\x1b[K") and not bar.shown
