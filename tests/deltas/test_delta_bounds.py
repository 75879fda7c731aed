"""A hostile delta part cannot make us hold what it inflates to.

A part that inflates to far more than its header's uncompressed size declares (an xz
bomb: 200 MB of zeros in 30 KB, served with a matching checksum) is refused with a
DeltaError once its payload passes :func:`ostreepy.remote.deltas.format.payload_limit`,
inflating no further, in ``static-delta apply-offline`` and in a pull over HTTP; the peak
RSS of the process stays far under the bomb, and nothing lands (no commit, no object, no
ref).  The superblock's declared sizes are bounded as libostree's pull bounds them: their
sum against the repository's free space.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from ostreepy.errors import OstreeError
from ostreepy.remote.deltas import format as fmt
from ostreepy.remote.deltas.apply import open_part
from ostreepy.remote.deltas.partread import read_part
from ostreepy.store.gvariant import Variant
from ostreepy.store.objects import ObjectType

from .conftest import ENV, ostree, run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from remote.servers import NGINX, Nginx  # noqa: E402

# 200 MiB of zeros as one xz stream (lzma preset 0: 30,644 bytes), deflated to keep it
# short: zlib.compress(lzma.compress(bytes(200 << 20), format=lzma.FORMAT_XZ, preset=0), 9)
_BOMB_Z = (
    "eNrt0F9L03EAxeHvSstotq0/ZIJWWLk01N0UZSqNUGMs0EE5N7HAhMSallqE6CqUOYppaY2IvJASTTOlXEjJIiVi"
    "GEkUFmRpUxjICiPcmONXvoSgq/qcy8OBA094z4WCQiEiZt8/yl4mtsrkQgiH88BtSVLJyouEsIQlqcMl5WTmbjiz"
    "93jek2vq2Y7GlUG/N/7S29TRfftluv66V3a7PrUj+kP9va9XElSGL8aY0Wr79LnAYGu9vMw9WXWoZNpnNgxETCwc"
    "lN8vjj6V7Zt5UWNz3TjaM6ifOhlnCelsynKtx5ZlFo43h/t2qFsrN2c4tk1V3OlMKJ5TexrG25z2uqSW+cTqhU3u"
    "FU69MzzR965ZMbLdEPjZslsTefeh3/K8Qp8jH29Rdfceixt63Z8YYzY2+krzC4Z9NT1G74wpMir48mPvYig/uWos"
    "3rRFG/xkyAjsLFmVbvUklX9+nP595FlKcbciU1eqbV63RlJeD1SeNwZWj0lt6mxF12LtZOhWWsoRt6Phx+WL7hN/"
    "+fppbuJsQbuklCWLubOGzvDwg1pNbLvrqub0/2PwZ9d5iqwBwAADDDDAAAMMMMAAAwwwwAADDDDAAAMMMMAAAwww"
    "wAADDDDAAAMMMMAAAwwwwAADDDDAAAMMMMAAAwwwwAADDDDAAAMMMMAAAwwwwAADDDDAAAMMMMAAAwwwwAADDDDA"
    "AAMMMMAAAwwwwAADDDDAAAMMMMAAAwwwwAADDDDAAAMMMMAAAwwwwAADDDDAAAPsXwazFhWKqCWwJp13rVjKsGYo"
    "fv6myi9kTd9kVqu15He3y1QWu35jetrypUGEsfAXs4dHfw==")


def _bomb() -> bytes:
    return zlib.decompress(base64.b64decode(_BOMB_Z))


_CHILD = """
import sys
from ostreepy.cli.main import main
try:
    rc = main(sys.argv[1:])
except SystemExit as e:
    rc = e.code
with open("/proc/self/status") as f:
    hwm = [line.split()[1] for line in f if line.startswith("VmHWM:")][0]
print("VmHWM", hwm, file=sys.stderr)
sys.exit(rc)
"""
#: far under the bomb (200 MiB, twice that joined): the interpreter, the store, and the
#: at most 48 MiB apply-offline's read-ahead of part 0 keeps before it knows the header
_RSS_CEILING_KB = 150 << 10


def _ostreepy_peak(*args: str) -> "tuple[subprocess.CompletedProcess, int]":
    """Our command line in a child of its own; its peak RSS in kB from /proc/self/status
    (VmHWM is the child's own address space: ru_maxrss would count the parent's too
    when the child was forked from it)."""
    p = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, env=ENV)
    hwm = [int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("VmHWM ")]
    assert hwm, p.stderr
    return p, hwm[0]


def _bomb_delta(root: Path, source: Dict[str, str], usize: int = 1000, inline: bool = False) -> bytes:
    """A from-scratch delta to ``source['to']`` under ``root``: one part, an xz bomb whose
    checksum and size its header states truly, its usize ``usize`` (one content object)."""
    to = source["to"]
    part = b"x" + _bomb()
    header = fmt.PartHeader(0, hashlib.sha256(part).hexdigest(), len(part), usize,
                            fmt.pack_objects([(ObjectType.FILE, "ab" * 32)]))
    meta = {"ostree.endianness": Variant("y", ord("l"))}
    if inline:
        meta[fmt.part_path(None, to, 0)] = Variant("(yay)", (part[0], part[1:]))
    commit = Path(source["repo"], "objects", to[:2], to[2:] + ".commit").read_bytes()
    d = root / fmt.delta_dir(None, to)
    d.mkdir(parents=True)
    (d / "superblock").write_bytes(fmt.serialize_superblock(meta, 0, None, to, commit, [header], []))
    if not inline:
        (d / "0").write_bytes(part)
    return part


def _landed(repo: Path) -> List[str]:
    return sorted(p.name for p in (repo / "objects").rglob("*") if p.is_file())


def test_part_past_its_header_is_not_inflated() -> None:
    part = b"x" + _bomb()
    digest = hashlib.sha256(part).hexdigest()
    raw = read_part(io.BytesIO(part), 1 << 20)
    # stopped inflating, but the whole file hashed: the checksum is judged first, as libostree
    assert raw.error is not None and raw.size == 0 and raw.digest == digest
    with pytest.raises(fmt.DeltaError, match="Checksum mismatch"):
        open_part(part, "00" * 32, 1 << 20)
    with pytest.raises(fmt.DeltaError, match="larger than its header allows"):
        open_part(part, digest, 1 << 20)
    plain = b"\0" + bytes(3 << 20)
    with pytest.raises(fmt.DeltaError, match="larger than its header allows"):
        open_part(plain, hashlib.sha256(plain).hexdigest(), 1 << 20)
    header = fmt.PartHeader(0, digest, len(part), 1000, fmt.pack_objects([(ObjectType.FILE, "ab" * 32)]))
    assert fmt.payload_limit(header) < 2 << 20


def test_apply_offline_refuses_an_xz_bomb_in_bounded_memory(source, tmp_path: Path) -> None:
    _bomb_delta(tmp_path / "d", source)
    dst = tmp_path / "dst"
    ostree("init", f"--repo={dst}", "--mode=bare-user")
    delta = tmp_path / "d" / fmt.delta_dir(None, source["to"])
    p, peak = _ostreepy_peak(f"--repo={dst}", "static-delta", "apply-offline", str(delta))
    assert p.returncode == 1 and "error: Executing delta part 0: Delta part payload is larger than its header" \
        " allows" in p.stderr, p.stderr
    assert peak < _RSS_CEILING_KB, peak
    assert _landed(dst) == []
    # inline in the superblock: bounded the same way
    _bomb_delta(tmp_path / "i", source, inline=True)
    p, peak = _ostreepy_peak(f"--repo={dst}", "static-delta", "apply-offline",
                             str(tmp_path / "i" / fmt.delta_dir(None, source["to"])))
    assert p.returncode == 1 and "larger than its header allows" in p.stderr, p.stderr
    assert peak < _RSS_CEILING_KB, peak
    assert _landed(dst) == []


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Nginx]:
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (scripts/install-peers.sh installs nginx-light)")
    s = Nginx(tmp_path_factory.mktemp("nginx-bounds"))
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _serve_bomb(server: Nginx, source: Dict[str, str], name: str, usize: int) -> str:
    path = server.root / name
    shutil.copytree(source["repo"], path, symlinks=True, ignore=shutil.ignore_patterns("deltas", "delta-indexes"))
    _bomb_delta(path, source, usize=usize)
    ostree("summary", f"--repo={path}", "-u")
    return f"{server.url}/{name}"


def _dest(tmp: Path, url: str) -> Path:
    dest = tmp / "dest"
    ostree("init", f"--repo={dest}", "--mode=bare-user")
    ostree("remote", "add", f"--repo={dest}", "--no-gpg-verify", "origin", url)
    return dest


def test_pull_refuses_an_xz_bomb_in_bounded_memory(server, source, tmp_path: Path) -> None:
    dest = _dest(tmp_path, _serve_bomb(server, source, "bomb", 1000))
    p, peak = _ostreepy_peak(f"--repo={dest}", "pull", "origin", "main")
    assert p.returncode == 1 and "part 0: Delta part payload is larger than its header allows" in p.stderr, p.stderr
    assert peak < _RSS_CEILING_KB, peak
    # the to-commit, marked partial (as libostree writes it before the parts), and nothing else
    assert _landed(dest) == [source["to"][2:] + ".commit"]
    assert run(["ostree", "rev-parse", f"--repo={dest}", "origin:main"], check=False).returncode != 0


def test_pull_refuses_sizes_past_the_free_space(server, source, tmp_path: Path) -> None:
    from ostreepy.remote.pull import pull_remote
    from ostreepy.store.repo import Repo
    dest = _dest(tmp_path, _serve_bomb(server, source, "huge", 1 << 48))
    mark = server.mark()
    repo = Repo.open(str(dest))
    try:
        with pytest.raises(OstreeError, match=r"Delta requires 281\.5\xa0TB free space, but only .* available"):
            pull_remote(repo, "origin", ["main"])
    finally:
        repo.close()
    assert not [e for e in server.entries(mark) if e.path.endswith("/0")]  # no part fetched
    assert _landed(dest) == []


def test_read_ahead_keeps_no_more_than_its_limit(tmp_path: Path) -> None:
    from ostreepy.remote.deltas import partread
    part = tmp_path / "0"
    part.write_bytes(b"x" + _bomb())
    partread.prefetch(str(part), 1 << 20)
    raw = partread.take(str(part), 1 << 20)
    assert raw is not None and raw.error == partread.OVERSIZE and raw.size == 0
    # cut off at a smaller limit than the applier's: not taken, the applier reads it itself
    partread.prefetch(str(part), 1 << 20)
    assert partread.take(str(part), 2 << 20) is None


def test_show_refuses_an_xz_bomb(source, tmp_path: Path) -> None:
    from ostreepy.remote.deltas.store import show_lines
    from ostreepy.store.repo import Repo
    repo = tmp_path / "r"
    ostree("init", f"--repo={repo}", "--mode=archive")
    _bomb_delta(repo, source)
    r = Repo.open(str(repo))
    try:
        with pytest.raises(fmt.DeltaError, match="larger than its header allows"):
            show_lines(r, source["to"])
    finally:
        r.close()


def test_pull_probe_fetches_a_superblock_no_bigger_than_ostree_allows(server, source, tmp_path: Path) -> None:
    """No summary lists a delta, so the pull's own probe asks for the from-scratch superblock:
    a hostile server's 200 MiB answer is refused past OSTREE_MAX_METADATA_SIZE, as libostree's
    start_fetch_delta_superblock bounds it (10 MiB, 2022.7's value and ours; upstream made it
    128 MiB in 4bac96a8), not read into memory (the probe allowed apply-offline's 512 MiB)."""
    from ostreepy.store.objects import MAX_METADATA_SIZE
    path = server.root / "bigsb"
    shutil.copytree(source["repo"], path, symlinks=True,
                    ignore=shutil.ignore_patterns("deltas", "delta-indexes", "summary", "summary.sig"))
    superblock = path / fmt.delta_path(None, source["to"])
    superblock.parent.mkdir(parents=True)
    with open(superblock, "wb") as f:
        f.truncate(200 << 20)  # sparse: nothing written, 200 MiB served
    dest = _dest(tmp_path, f"{server.url}/bigsb")
    p, peak = _ostreepy_peak(f"--repo={dest}", "pull", "origin", "main")
    assert p.returncode == 1 and f"exceeded maximum size of {MAX_METADATA_SIZE} bytes" in p.stderr, p.stderr
    assert peak < _RSS_CEILING_KB, peak
    assert run(["ostree", "rev-parse", f"--repo={dest}", "origin:main"], check=False).returncode != 0


def test_a_part_file_read_whole_reads_as_one_streamed(tmp_path: Path) -> None:
    """A part file (read at once, hashed on a thread while it inflates) gives what the same
    bytes read piece by piece from a stream give: the payload, the error, and the digest of
    what a streaming read had read where it stopped (a stream broken half-way: its prefix)."""
    import lzma
    import random
    rnd = random.Random(5)
    good = b"x" + lzma.compress(rnd.randbytes(3 << 20) + bytes(3 << 20), format=lzma.FORMAT_XZ)
    cases = [good, good + b"after the stream", good[:len(good) // 2], good[:-5], b"", b"x", b"\0plain", b"q"]
    for _ in range(12):
        broken = bytearray(good)
        broken[rnd.randrange(1, len(broken))] ^= 1 << rnd.randrange(8)
        cases.append(bytes(broken))
    path = tmp_path / "part"
    for data in cases:
        path.write_bytes(data)
        for limit in (None, 1000, 5 << 20, 48 << 20):
            with open(path, "rb") as f:
                whole = read_part(f, limit)
            streamed = read_part(io.BytesIO(data), limit)
            assert (whole.comp, whole.chunks, whole.digest, whole.error, whole.size) == \
                (streamed.comp, streamed.chunks, streamed.digest, streamed.error, streamed.size)
