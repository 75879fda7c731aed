"""Image references as ref names: reversible, valid for ostree, and unchanged
for every reference that already gave a valid ref."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st

from ostreepy.container.refescape import IMAGE_PREFIX, escape_ref, unescape_ref
from ostreepy.store.refs import validate_ref

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bootable-image"


def _old_escape(s: str) -> str:
    # the mapping before '-' at a component start was quoted (ostree-ext's)
    out, prev_alnum = [], False
    for i, c in enumerate(s):
        is_alnum = c.isascii() and c.isalnum()
        if is_alnum or c == "-":
            out.append(c)
        elif c == "/" and prev_alnum and i != len(s) - 1:
            out.append(c)
        elif c == "_":
            out.append("__")
        else:
            out.append(f"_{ord(c):02X}_")
        prev_alnum = is_alnum
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1-_/.:@\u00e9"), min_size=1, max_size=30))
def test_escape_is_valid_reversible_and_keeps_valid_refs(s):
    ref = IMAGE_PREFIX + escape_ref(s)
    validate_ref(ref)
    assert unescape_ref(escape_ref(s)) == s
    old = IMAGE_PREFIX + _old_escape(s)
    try:
        validate_ref(old)
    except Exception:
        return
    assert ref == old  # a ref that was valid before is the same ref now


def test_layout_under_a_dash_folder_can_be_pulled(tmp_path):
    layout = tmp_path / "-images" / "-x"
    layout.parent.mkdir()
    shutil.copytree(EXAMPLE, layout)
    repo = tmp_path / "repo"
    py = [sys.executable, "-m", "ostreepy"]
    subprocess.run(py + [f"--repo={repo}", "init", "--mode=bare-user"], check=True)
    imgref = f"ostree-unverified-image:oci:{layout}:v1"
    p = subprocess.run(py + ["container", "image", "pull", str(repo), imgref], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    listed = subprocess.run(py + ["container", "image", "list", f"--repo={repo}"], capture_output=True,
                            text=True, check=True).stdout
    assert listed == f"oci:{layout}:v1\n"
    refs = subprocess.run(["ostree", f"--repo={repo}", "refs"], capture_output=True, text=True, check=True).stdout
    assert any("_2D_x" in r for r in refs.split())
    subprocess.run(["ostree", f"--repo={repo}", "fsck", "-q"], check=True, capture_output=True)
