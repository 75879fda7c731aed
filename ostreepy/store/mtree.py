"""A mutable directory tree of checksums, built up before it is written as dirtrees."""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

from ..errors import OstreeError
from .objects import DirTree, validate_filename


class MutableTree:
    """Files map to content checksums, directories to subtrees; ``meta`` is the dirmeta checksum."""

    __slots__ = ("files", "dirs", "meta", "_cached")

    def __init__(self) -> None:
        self.files: Dict[str, str] = {}
        self.dirs: Dict[str, MutableTree] = {}
        self.meta: Optional[str] = None
        self._cached: Optional[str] = None

    def ensure_dir(self, name: str) -> "MutableTree":
        validate_filename(name)
        d = self.dirs.get(name)
        if d is None:
            if name in self.files:
                raise OstreeError(f"Can't replace file with directory: {name}")
            d = MutableTree()
            self.dirs[name] = d
        return d

    def replace_file(self, name: str, checksum: str) -> None:
        validate_filename(name)
        if name in self.dirs:
            raise OstreeError(f"Can't replace directory with file: {name}")
        self.files[name] = checksum

    def remove(self, name: str) -> bool:
        found = self.files.pop(name, None) is not None
        found = self.dirs.pop(name, None) is not None or found
        return found

    def lookup(self, name: str) -> Tuple[Optional[str], Optional["MutableTree"]]:
        return self.files.get(name), self.dirs.get(name)

    def walk(self, components: List[str]) -> "MutableTree":
        """The subtree at ``components``; raises when a component is missing."""
        t = self
        for c in components:
            sub = t.dirs.get(c)
            if sub is None:
                raise FileNotFoundError(f"No such file or directory: {c}")
            t = sub
        return t

    def to_dirtree(self, subtree_checksums: Dict[str, Tuple[str, str]]) -> DirTree:
        return DirTree(tuple(self.files.items()),
                       tuple((n, t, m) for n, (t, m) in subtree_checksums.items()))

    def iter_dirs(self) -> Iterator[Tuple[str, "MutableTree"]]:
        return iter(self.dirs.items())
