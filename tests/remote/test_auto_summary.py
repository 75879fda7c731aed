"""``core.auto-update-summary`` (and its old name ``core.commit-update-summary``): every ref
change regenerates the summary, as ostree's test-auto-summary checks; the same steps run
with Debian's ostree give the same ref lists in the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostreepy.remote.summary import parse_summary

from .conftest import ours, peer


def _summary_refs(repo: Path):
    return {k: v.checksum for k, v in parse_summary((repo / "summary").read_bytes()).refs.items()}


def _ok(res):
    rc, out, err = res
    assert rc == 0, err
    return out


@pytest.mark.parametrize("key", ["auto-update-summary", "commit-update-summary"])
def test_ref_changes_regenerate_the_summary_as_ostree(tmp_path: Path, key: str):
    tree = tmp_path / "tree"
    tree.mkdir()
    seen = {}
    for name, tool in (("ours", ours), ("theirs", peer)):
        repo = tmp_path / name
        r = f"--repo={repo}"
        _ok(tool(r, "init", "--mode=archive"))
        (tree / "a").write_text("1\n")
        _ok(tool(r, "commit", "-b", "test", "-s", "c1", f"--tree=dir={tree}"))
        _ok(tool(r, "summary", "-u"))
        before = (repo / "summary").read_bytes()
        (tree / "a").write_text("2\n")
        _ok(tool(r, "commit", "-b", "test", "-s", "c2", f"--tree=dir={tree}"))
        assert (repo / "summary").read_bytes() == before  # off by default
        _ok(tool(r, "config", "set", f"core.{key}", "true"))
        steps = []
        (tree / "a").write_text("3\n")
        _ok(tool(r, "commit", "-b", "test", "-s", "c3", f"--tree=dir={tree}"))
        _ok(tool(r, "commit", "-b", "other", "-s", "c4", f"--tree=dir={tree}"))
        steps.append(_summary_refs(repo))
        _ok(tool(r, "reset", "test", "test^"))
        steps.append(_summary_refs(repo))
        assert steps[1]["test"] == _ok(tool(r, "rev-parse", "test")).strip() != steps[0]["test"]
        _ok(tool(r, "refs", "--delete", "test"))
        steps.append(_summary_refs(repo))
        refs = {k.split()[0]: None for k in _ok(tool(r, "refs")).split()}
        assert set(steps[-1]) == set(refs) == {"other"}
        seen[name] = [sorted(s) for s in steps]
    assert seen["ours"] == seen["theirs"] == [["other", "test"], ["other", "test"], ["other"]]
