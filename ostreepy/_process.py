"""Process-wide settings, made only where the ostreepy program owns the process.

ostreepy is a library first: a tool that imports it keeps its own process's settings. A
setting that is the whole process's (glibc's malloc arenas) is made only once the command
line has claimed the process (:func:`claim`, from ``ostreepy.cli.run``); a library caller
may claim it too, knowingly. :class:`gc_paused` is the cycle collector's pause around work
that allocates many objects that live to its end. Work shared with a forked helper process
(a checkout's linking, a deploy's composefs image, a delta part's second half) asks
:func:`may_fork_a_helper` first, and sends its error back by :func:`error_record`. This module
imports nothing at load but the built-in gc: every command pays it."""

from __future__ import annotations

import gc

_owned = False
_arenas_limited = False


def claim() -> None:
    """The caller owns this process: process-wide settings may be made."""
    global _owned
    _owned = True


def owned() -> bool:
    """Whether the process is claimed (:func:`claim`): its resources are the caller's to use
    (a checkout may fork a second process to share its linking)."""
    return _owned


def may_fork_a_helper() -> bool:
    """Whether work may be shared with a forked second process: the process is claimed
    (a library caller's is not forked behind its back), no other thread runs (a fork copies
    only the calling one, with whatever locks the others held), and it may run on two CPUs
    or more (else the two take turns and the fork is only its cost). The checkout's sharing,
    a deploy's composefs image and a static delta part's second half each ask it."""
    if not _owned:
        return False
    import threading
    if threading.active_count() != 1:
        return False
    import os
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):  # (not Linux)
        return False


def limit_malloc_arenas(n: int = 1) -> None:
    """Cap glibc's malloc arenas at ``n`` (``mallopt(M_ARENA_MAX)``), once, where the process
    is claimed (:func:`claim`); elsewhere nothing.

    Why: every thread that allocates while another holds the main arena gets an arena of
    its own (up to eight per CPU), and memory freed into one is not free for the others; a
    layer import runs its reader and writers on threads of their own, anew for each layer,
    so a 50-layer image's peak RSS followed the layers' size (5,000-file image 44-51 MB,
    100,000-file 56-59 MB; one arena: 37 and 39 MB, no more CPU time: the threads take turns
    at the GIL anyway). It is for good (glibc fixes its limit at the first arena it would
    add), which suits a command but not a library caller's process."""
    global _arenas_limited
    if not _owned or _arenas_limited:
        return
    _arenas_limited = True
    import ctypes
    try:
        ctypes.CDLL(None).mallopt(-8, n)  # M_ARENA_MAX
    except (AttributeError, OSError):  # pragma: no cover - no mallopt in this C library
        pass


class gc_paused:  # a context manager used as a function: ``with gc_paused():``
    """The cycle collector off through work that allocates objects by the thousand that live
    to its end (a composefs tree built or written, a pull's walk), so that its passes over them
    find nothing (about 10% of a composefs create or checkout; ~25 passes of a second pull,
    measured). A class, not contextlib's decorator: contextlib is ~0.4 ms of the start-up that
    dominates a small image. Process-wide while it lasts, as the collector is."""

    __slots__ = ("was",)

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            gc.enable()


def describe_status(status: int) -> str:
    """A helper's wait status in words: ``signal N`` or ``exit status N``."""
    import os
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def error_record(e: BaseException) -> bytes:
    """A forked helper's error as the process that forked it rebuilds it (:func:`error_from`):
    its class, its arguments and attributes (an exception's pickle calls its ``__init__`` with
    its args, which not every class of ours takes back), or failing that its text as an
    OstreeError."""
    import pickle
    cls = type(e)
    # an OSError's filenames are not among its args: made again from all five
    made = e.args
    if isinstance(e, OSError) and e.errno is not None:
        made = (e.errno, e.strerror, e.filename, None, e.filename2)
    try:
        return pickle.dumps((cls.__module__, cls.__qualname__, made, e.args, dict(vars(e))))
    except Exception:
        text = (str(e) or cls.__name__,)
        return pickle.dumps(("ostreepy.errors", "OstreeError", text, text, {}))


def error_from(record: bytes) -> BaseException:
    """The error :func:`error_record` recorded, as it was: of its class where that is a built-in
    or one of ostreepy's (nothing else is imported by a record's say), else an OstreeError with
    its text."""
    import importlib
    import pickle
    module, name, made, args, attrs = pickle.loads(record)
    cls: object = None
    if module == "builtins" or module.startswith("ostreepy."):
        cls = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        from .errors import OstreeError
        return OstreeError(str(args[0]) if args else name)
    # made without its class's __init__ (whose parameters need not be its args), as it was
    e = cls.__new__(cls, *made)
    if isinstance(e, OSError):
        OSError.__init__(e, *made)  # (a subclass with an __init__ of its own is read here)
    e.args = args
    e.__dict__.update(attrs)
    return e
