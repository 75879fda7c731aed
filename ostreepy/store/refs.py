"""Ref names and refspecs, as ostree-core.c validates them."""

from __future__ import annotations

from ..errors import InvalidRefError

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from re import Match
    from typing import Optional, Tuple

# re is imported and the patterns compiled (re's cache keeps them) on the first name checked:
# at import they were ~2 ms of the start-up of every command that opens a repository, most of
# which (a prune, a checkout by checksum, fsck) checks no ref name
_FRAGMENT = r"[\w\d][-._\w\d]*"
_REF_RE = rf"^(?:{_FRAGMENT}/)*{_FRAGMENT}$"
_REMOTE_RE = rf"^{_FRAGMENT}$"
_REFSPEC_RE = rf"^(?:({_FRAGMENT}):)?((?:{_FRAGMENT}/)*{_FRAGMENT})$"


def _fullmatch(pattern: str, text: str) -> Optional[Match[str]]:
    import re
    return re.fullmatch(pattern, text, re.ASCII)


def validate_ref(ref: str) -> str:
    """Return ``ref`` if it is a valid ref name, else raise
    :class:`~ostreepy.errors.InvalidRefError`."""
    if not _fullmatch(_REF_RE, ref):
        raise InvalidRefError(f"Invalid ref name {ref}")
    return ref


def validate_remote_name(name: str) -> str:
    """Return ``name`` if it is a valid remote name, else raise
    :class:`~ostreepy.errors.InvalidRefError`."""
    if not _fullmatch(_REMOTE_RE, name):
        raise InvalidRefError(f"Invalid remote name {name}")
    return name


_COLLECTION_ELEMENT = r"[A-Za-z_][A-Za-z0-9_]*"


def validate_collection_id(collection_id: str) -> str:
    """As ostree_validate_collection_id (a D-Bus interface name): at least two
    dot-separated elements of ``[A-Za-z0-9_]``, none starting with a digit, at most
    255 characters."""
    parts = collection_id.split(".")
    if (len(collection_id) > 255 or len(parts) < 2
            or not all(_fullmatch(_COLLECTION_ELEMENT, p) for p in parts)):
        raise InvalidRefError(f"Invalid collection ID {collection_id}")
    return collection_id


def parse_refspec(refspec: str) -> Tuple[Optional[str], str]:
    """``remote:ref`` or ``ref`` -> (remote or None, ref)."""
    m = _fullmatch(_REFSPEC_RE, refspec)
    if not m:
        raise InvalidRefError(f"Invalid refspec {refspec}")
    return m.group(1), m.group(2)


def format_refspec(remote: Optional[str], ref: str) -> str:
    """``remote:ref``, or just ``ref`` for a local one."""
    return f"{remote}:{ref}" if remote else ref
