"""Escaping arbitrary strings into ostree ref names, as ostree-ext's refescape.rs does.

Image references and layer digests contain characters ('@', ':', '.') that refs
cannot, so ostree-ext maps them reversibly; we use the same mapping so a repo
shared with bootc sees the same refs.
"""

from __future__ import annotations

from ..errors import InvalidRefError

IMAGE_PREFIX = "ostree/container/image/"
LAYER_PREFIX = "ostree/container/blob/"
BASE_IMAGE_PREFIX = "ostree/container/baseimage/"


def _quote_char(c: str) -> str:
    return f"_{ord(c):02X}_"


def escape_ref(s: str) -> str:
    """``s`` as ref components: ASCII letters and digits as they are, ``/``
    between them, ``_`` doubled, anything else as ``_XX_`` (its code point).

    ``-`` stays except where it would start a component (first, or after a
    ``/``): ostree's ref grammar forbids that, so an OCI layout under a folder
    named ``-x`` could not be pulled. Quoting it only there changes no ref that
    was valid before (ostree-ext's refescape.rs has the same hole)."""
    if not s:
        raise InvalidRefError("Invalid empty string for ref")
    out = []
    last = len(s) - 1
    prev_alnum = False
    for i, c in enumerate(s):
        if c == "\0":
            raise InvalidRefError("Invalid embedded NUL in string for ref")
        is_alnum = c.isascii() and c.isalnum()
        if is_alnum:
            out.append(c)
        elif c == "-" and out and out[-1] != "/":
            out.append(c)
        elif c == "/" and prev_alnum and i != last:
            out.append(c)
        elif c == "_":
            out.append("__")
        else:
            out.append(_quote_char(c))
        prev_alnum = is_alnum
    return "".join(out)


def unescape_ref(s: str) -> str:
    """The string :func:`escape_ref` escaped into ref name ``s``."""
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "_":
            if s.startswith("__", i):
                out.append("_")
                i += 2
                continue
            end = s.find("_", i + 1)
            if end < 0:
                raise InvalidRefError(f"Invalid escaped ref {s}")
            try:
                out.append(chr(int(s[i + 1:end], 16)))
            except ValueError:
                raise InvalidRefError(f"Invalid escaped ref {s}") from None
            i = end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def image_ref_for(imgref: str) -> str:
    """The ref under which the merge commit of image reference ``imgref`` is kept
    (``ostree/container/image/...``)."""
    return IMAGE_PREFIX + escape_ref(imgref)


def layer_ref_for(digest: str) -> str:
    """The ref under which the commit of layer ``digest`` is kept
    (``ostree/container/blob/...``)."""
    return LAYER_PREFIX + escape_ref(digest)
