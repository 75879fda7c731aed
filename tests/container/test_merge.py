"""container/merge.py's directory-at-a-time merge against the layer-at-a-time overlay it
replaced (kept here as the reference): random layers with whiteouts, opaque directories,
files replacing directories and back, over a base whose own ``.wh.`` files are kept."""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from ostreepy.container.merge import OPAQUE_WHITEOUT_NAME, WHITEOUT_PREFIX, merge_layers
from ostreepy.store.commit import create_commit, write_mtree, write_tar_to_mtree
from ostreepy.store.mtree import MutableTree
from ostreepy.store.repo import Repo


def _reference(repo: Repo, commits: list[str], base: str | None) -> str:
    def has_wh(t: str) -> bool:
        dt = repo.load_dirtree(t)
        return any(n.startswith(WHITEOUT_PREFIX) for n, _ in dt.files) or any(has_wh(s) for _, s, _ in dt.dirs)

    def overlay(dst: MutableTree, t: str, wh: bool) -> None:
        dt = repo.load_dirtree(t)
        for name, csum in dt.files:
            if wh and name.startswith(WHITEOUT_PREFIX):
                if name != OPAQUE_WHITEOUT_NAME:
                    dst.remove(name[len(WHITEOUT_PREFIX):])
                continue
            dst.dirs.pop(name, None)
            dst.files[name] = csum
        for name, st, sm in dt.dirs:
            existing = dst.dirs.get(name)
            opaque = wh and any(f == OPAQUE_WHITEOUT_NAME for f, _ in repo.load_dirtree(st).files)
            if existing is None or opaque:
                dst.files.pop(name, None)
                if not wh or not has_wh(st):
                    dst.dirs[name] = MutableTree.lazy(repo, st, sm)
                    continue
                existing = MutableTree()
                existing.meta = sm
                dst.dirs[name] = existing
            overlay(existing, st, wh)

    root = MutableTree()
    for c, wh in ([(base, False)] if base else []) + [(c, True) for c in commits]:
        commit = repo.load_commit(c)
        root.meta = root.meta or commit.root_meta
        overlay(root, commit.root_tree, wh)
    etc = root.dirs.get("usr")
    etc = etc.dirs.get("etc") if etc is not None else None
    for name in ("hostname", "resolv.conf"):
        if etc is not None and name in etc.files and repo.content_size(etc.files[name]) == 0:
            del etc.files[name]
    return write_mtree(repo, root)[0]


def _layer(rng: random.Random, n: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        names = ["a", "b", "c", "d"]
        dirs: set[str] = set()
        files: set[str] = set()
        for _ in range(n):
            d = "usr/etc" if rng.random() < 0.2 else "/".join(rng.choice(names) for _ in range(rng.randint(1, 3)))
            parts = d.split("/")
            prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
            if any(p in files for p in prefixes):
                continue  # within one layer a name is a file or a directory, not both
            for p in prefixes:
                if p not in dirs:
                    dirs.add(p)
                    ti = tarfile.TarInfo(p)
                    ti.type, ti.mode = tarfile.DIRTYPE, rng.choice([0o755, 0o700])
                    tf.addfile(ti)
            r = rng.random()
            name = WHITEOUT_PREFIX + rng.choice(names) if r < 0.15 else (
                OPAQUE_WHITEOUT_NAME if r < 0.22 else rng.choice(names + ["hostname"]))
            path = f"{d}/{name}"
            if path in files or path in dirs:
                continue
            files.add(path)
            empty = name == "hostname" or name.startswith(WHITEOUT_PREFIX)
            data = b"" if empty else rng.randbytes(rng.randint(0, 3))
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("seed", range(12))
def test_merge_matches_layer_at_a_time_overlay(tmp_path, seed: int) -> None:
    rng = random.Random(seed)
    repo = Repo.init(str(tmp_path / "repo"), "bare-user")
    commits = []
    with repo.transaction():
        for _ in range(rng.randint(2, 6)):
            mt = write_tar_to_mtree(repo, io.BytesIO(_layer(rng, rng.randint(3, 25))), MutableTree(),
                                    autocreate_parents=True)
            tree, meta = write_mtree(repo, mt)
            commits.append(create_commit(repo, tree, meta, timestamp=0))
        base = commits.pop(0) if seed % 2 else None
        got = write_mtree(repo, merge_layers(repo, commits, base))[0]
        assert got == _reference(repo, commits, base)
