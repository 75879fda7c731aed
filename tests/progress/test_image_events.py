"""Image pull (the bundled example image), encapsulate and unencapsulate: the
events received, checked against the manifests skopeo reads and the refs and
objects the real ``ostree`` finds."""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

from ociclient.progress import BlobDone, BlobProgress, BlobStarted

from ostreepy.container.encapsulate import encapsulate, unencapsulate
from ostreepy.container.refescape import layer_ref_for
from ostreepy.container.store import image_ref_name, pull_image
from ostreepy.container.imgref import OstreeImageReference
from ostreepy.progress import (ImageEncapsulated, ImportDone, ImportStarted, LayerBytes, LayerDone, LayerImported,
                               LayerStarted, LayerUploadBytes, LayerWritten, ObjectExported, ObjectImported,
                               ProgressEvent)
from ostreepy.store.repo import Repo

from .conftest import EXAMPLE, kinds, ostree, run, write_tree


def _manifest(layout: Path, tag: str) -> dict:
    return json.loads(run("skopeo", "inspect", "--raw", f"oci:{layout}:{tag}").stdout)


def _by_layer(events: List[ProgressEvent]) -> Dict[str, List[ProgressEvent]]:
    out: Dict[str, List[ProgressEvent]] = defaultdict(list)
    for e in events:
        digest = getattr(e, "digest", None)
        if digest is not None:
            out[digest].append(e)
    return out


def _pull(repo: Repo, imgref: str) -> "tuple":
    events: List[ProgressEvent] = []
    res = pull_image(repo, imgref, progress=events.append)
    return res, events


def test_pull_example_image(workdir):
    layout = workdir / "image"
    shutil.copytree(EXAMPLE, layout)
    imgref = f"ostree-unverified-image:oci:{layout}:v1"
    manifest = _manifest(layout, "v1")
    config = json.loads(run("skopeo", "inspect", "--config", "--raw", f"oci:{layout}:v1").stdout)
    sizes = {x["digest"]: x["size"] for x in manifest["layers"]}
    diff_ids = dict(zip(sizes, config["rootfs"]["diff_ids"]))
    repo = workdir / "repo"
    with Repo.init(str(repo), "bare") as r:
        res, events = _pull(r, imgref)
    # the layers' events (interleaved: they are fetched in parallel), then the merge
    assert kinds(events)[-2:] == ["ImportStarted", "ImportDone"]
    first_import = next(i for i, e in enumerate(events) if isinstance(e, ImportStarted))
    assert all(isinstance(e, (LayerStarted, LayerBytes, LayerImported, LayerDone)) for e in events[:first_import])
    per_layer = _by_layer(events)
    assert set(per_layer) == set(sizes)
    overall = 0
    for digest, evs in per_layer.items():
        assert kinds(evs) == ["LayerStarted", "LayerBytes", "LayerImported", "LayerDone"], digest
        start, done = evs[0], evs[-1]
        assert (start.size, start.kind) == (sizes[digest], "layer")
        assert isinstance(start.source, BlobStarted) and start.source.digest == digest
        nbytes = [e for e in evs if isinstance(e, LayerBytes)]
        # the last count of each layer is its size in the manifest
        assert nbytes[-1].done == nbytes[-1].total == sizes[digest]
        assert [e.done for e in nbytes] == sorted(e.done for e in nbytes)
        for e in nbytes:
            assert isinstance(e.source, BlobProgress) and (e.source.digest, e.source.done) == (digest, e.done)
            overall = max(overall, e.source.overall_done)
            assert e.source.overall_total == sum(sizes.values())
        imported = next(e for e in evs if isinstance(e, LayerImported))
        assert imported.diff_id == diff_ids[digest]
        assert imported.commit == ostree(repo, "rev-parse", layer_ref_for(digest)).stdout.strip()
        assert done.size == sizes[digest] and isinstance(done.source, BlobDone)
    assert overall == sum(sizes.values()) == res.bytes_fetched
    last = events[-1]
    assert isinstance(last, ImportDone) and last.commit == res.merge_commit
    ref = image_ref_name(OstreeImageReference.parse(imgref))
    assert last.commit == ostree(repo, "rev-parse", ref).stdout.strip()
    index = json.loads((layout / "index.json").read_text())
    assert last.manifest_digest == next(m["digest"] for m in index["manifests"]
                                        if m["annotations"]["org.opencontainers.image.ref.name"] == "v1")

    # version 2 shares two layers: only the third is fetched
    v2 = _manifest(layout, "v2")
    with Repo.open(str(repo)) as r:
        res2, events2 = _pull(r, f"ostree-unverified-image:oci:{layout}:v2")
    new = [x for x in v2["layers"] if x["digest"] not in sizes]
    assert [e.digest for e in events2 if isinstance(e, LayerStarted)] == [x["digest"] for x in new]
    last_bytes = [e for e in events2 if isinstance(e, LayerBytes)][-1]
    assert last_bytes.done == new[0]["size"] and last_bytes.source.overall_total == new[0]["size"]
    assert isinstance(events2[-1], ImportDone) and events2[-1].commit == res2.merge_commit
    # the same image again: nothing to do, nothing sent
    with Repo.open(str(repo)) as r:
        res3, events3 = _pull(r, f"ostree-unverified-image:oci:{layout}:v2")
    assert res3.already_present and events3 == []


def test_encapsulate_and_back(workdir):
    tree = workdir / "tree"
    write_tree(tree)
    src = workdir / "src"
    ostree(src, "init", "--mode=bare")
    csum = ostree(src, "commit", "-b", "main", "--timestamp=2024-01-01 00:00:00 +0000", str(tree)).stdout.strip()
    out = workdir / "oci"
    events: List[ProgressEvent] = []
    with Repo.open(str(src)) as r:
        digest = encapsulate(r, "main", f"oci:{out}:v1", progress=events.append)
    assert kinds(events) == ["ObjectExported", "LayerWritten", "LayerUploadBytes", "ImageEncapsulated"]
    # one ObjectExported per content object of the commit, as the real ostree lists them
    objects = {line.split()[4] for line in ostree(src, "ls", "-RC", csum).stdout.splitlines() if line[0] in "-l"}
    exported = [e for e in events if isinstance(e, ObjectExported)]
    assert [e.done for e in exported] == list(range(1, len(objects) + 1))
    assert {e.checksum for e in exported} == objects and {e.total for e in exported} == {len(objects)}
    manifest = _manifest(out, "v1")
    config = json.loads(run("skopeo", "inspect", "--config", "--raw", f"oci:{out}:v1").stdout)
    layer = manifest["layers"][0]
    written = next(e for e in events if isinstance(e, LayerWritten))
    assert (written.digest, written.size) == (layer["digest"], layer["size"])
    assert written.diff_id == config["rootfs"]["diff_ids"][0]
    assert exported[-1].bytes < written.uncompressed  # the end-of-archive blocks come after
    up = [e for e in events if isinstance(e, LayerUploadBytes)]
    assert up[-1].done == up[-1].total == layer["size"] and isinstance(up[-1].source, BlobProgress)
    assert events[-1] == ImageEncapsulated(digest, csum)
    assert digest == json.loads(run("skopeo", "inspect", f"oci:{out}:v1").stdout)["Digest"]

    dst = workdir / "dst"
    events = []
    with Repo.init(str(dst), "bare") as r:
        assert unencapsulate(r, f"ostree-unverified-image:oci:{out}:v1", write_ref="main",
                             progress=events.append) == csum
    assert kinds(events)[:3] == ["LayerStarted", "LayerBytes", "ObjectImported"]
    assert kinds(events)[-1] == "LayerDone"
    start = events[0]
    assert (start.digest, start.size, start.kind) == (layer["digest"], layer["size"], "ostree chunk")
    assert [e for e in events if isinstance(e, LayerBytes)][-1].done == layer["size"]
    imported = [e for e in events if isinstance(e, ObjectImported)]
    assert (imported[0].checksum, imported[0].object_type, imported[0].done) == (csum, "commit", 0)
    # a fresh repository: every other object the commit reaches was written, which
    # is what the real ostree fsck counts besides the commit
    m = re.findall(r"fsck objects \((\d+)/(\d+)\)", ostree(dst, "fsck").stdout)
    assert imported[-1].done == int(m[-1][1]) - 1 and imported[-1].skipped == 0
    # and the bytes are those of its regular file objects, each once
    regular = {f[4]: int(f[3]) for f in (line.split() for line in ostree(dst, "ls", "-RC", csum).stdout.splitlines())
               if f[0][0] == "-"}
    assert imported[-1].bytes == sum(regular.values())
