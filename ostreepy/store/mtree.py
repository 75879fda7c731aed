"""A mutable directory tree of checksums, built up before it is written as dirtrees.

A node is either *whole* (``files`` and ``dirs`` in memory) or *lazy*: only the
checksum of a dirtree already in the repository, as libostree's
OstreeMutableTree can be.  Writers seal a directory as soon as it is finished
(``seal``: its dirtree is written and its dicts dropped), so a commit of any
size holds the names and checksums of the directories still open, not of the
whole tree.  Touching a lazy node's ``files`` or ``dirs`` loads its dirtree back
(and forgets the checksum, since the caller may change it), so sealing is never
wrong, only wasted when a directory is reopened.  A sealed node's old children
are dropped: whoever seals must hold no references into the subtree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple

from ..errors import OstreeError
from .objects import DirTree, validate_filename

if TYPE_CHECKING:
    from .repo import Repo


class MutableTree:
    """Files map to content checksums, directories to subtrees; ``meta`` is the dirmeta checksum."""

    __slots__ = ("_files", "_dirs", "meta", "_contents", "_repo")

    def __init__(self) -> None:
        self._files: Dict[str, str] = {}
        self._dirs: Dict[str, MutableTree] = {}
        self.meta: Optional[str] = None
        self._contents: Optional[str] = None  # set only while lazy
        self._repo: Optional["Repo"] = None

    @classmethod
    def lazy(cls, repo: "Repo", contents: str, meta: str) -> "MutableTree":
        """A node standing for the dirtree ``contents`` (already in ``repo``) with dirmeta ``meta``."""
        t = cls()
        t.meta = meta
        t._make_lazy(repo, contents)
        return t

    def _make_lazy(self, repo: "Repo", contents: str) -> None:
        self._files = {}
        self._dirs = {}
        self._contents = contents
        self._repo = repo

    @property
    def contents_checksum(self) -> Optional[str]:
        """The dirtree checksum while the node is lazy (sealed), else None."""
        return self._contents

    def _whole(self) -> None:
        if self._contents is None:
            return
        assert self._repo is not None
        dt = self._repo.load_dirtree(self._contents)
        repo = self._repo
        self._contents = None
        self._repo = None
        self._files = dict(dt.files)
        self._dirs = {n: MutableTree.lazy(repo, t, m) for n, t, m in dt.dirs}

    @property
    def files(self) -> Dict[str, str]:
        self._whole()
        return self._files

    @property
    def dirs(self) -> Dict[str, "MutableTree"]:
        self._whole()
        return self._dirs

    def seal(self, repo: "Repo") -> str:
        """Write this subtree's dirtrees (bottom-up) and keep only the root's checksum."""
        if self._contents is not None:
            return self._contents
        csum = _write_tree(repo, self)
        self._make_lazy(repo, csum)
        return csum

    def ensure_dir(self, name: str) -> "MutableTree":
        validate_filename(name)
        self._whole()
        d = self._dirs.get(name)
        if d is None:
            if name in self._files:
                raise OstreeError(f"Can't replace file with directory: {name}")
            d = MutableTree()
            self._dirs[name] = d
        return d

    def replace_file(self, name: str, checksum: str) -> None:
        validate_filename(name)
        self._whole()
        if name in self._dirs:
            raise OstreeError(f"Can't replace directory with file: {name}")
        self._files[name] = checksum

    def remove(self, name: str) -> bool:
        self._whole()
        found = self._files.pop(name, None) is not None
        found = self._dirs.pop(name, None) is not None or found
        return found

    def lookup(self, name: str) -> Tuple[Optional[str], Optional["MutableTree"]]:
        self._whole()
        return self._files.get(name), self._dirs.get(name)

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


def _write_tree(repo: "Repo", mtree: MutableTree) -> str:
    # post-order with an explicit stack: trees thousands of levels deep are legal;
    # lazy nodes are leaves here, their dirtree is already written
    if mtree._contents is not None:
        return mtree._contents
    written: Dict[int, str] = {}
    stack: List[Tuple[MutableTree, bool]] = [(mtree, False)]
    while stack:
        node, children_done = stack.pop()
        if not children_done:
            stack.append((node, True))
            for name, sub in node._dirs.items():
                if sub.meta is None:
                    raise OstreeError(f"No metadata for directory {name}")
                if sub._contents is None:
                    stack.append((sub, False))
            continue
        subs = {name: (sub._contents if sub._contents is not None else written.pop(id(sub)), sub.meta)
                for name, sub in node._dirs.items()}
        written[id(node)] = repo.write_dirtree(node.to_dirtree(subs))  # type: ignore[arg-type]
    return written[id(mtree)]
