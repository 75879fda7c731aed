"""Start-up cost: the store and its command line load no HTTP or crypto stack."""

from __future__ import annotations

import os
import subprocess
import sys


def test_ostreepy_does_not_import_requests_or_cryptography():
    code = ("import sys, ostreepy, ostreepy.store.repo, ostreepy.store.commit, ostreepy.store.checkout, ostreepy.cli.main, "
            "ostreepy.container, ostreepy.container.store, ostreepy.sysroot.sysroot\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'cryptography', 'urllib3'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_cli_help_runs_without_the_network_stack():
    code = ("import sys\nfrom ostreepy.cli.main import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('requests' in sys.modules, 'cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"


def _modules_after(argv):
    code = ("import sys\nfrom ostreepy.cli.main import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('MODS ' + ' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ostreepy', 'ociclient', 'bootloader', 'attrs', 'requests', 'cryptography'))))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return set(p.stderr.rsplit("MODS ", 1)[1].split())


def test_help_imports_only_the_entry_point():
    """`ostreepy --help` lists every group without importing any: start-up stays
    near the interpreter's own (benchmarks/startup.py measures it)."""
    assert _modules_after(["--help"]) == {"ostreepy", "ostreepy._version", "ostreepy.cli", "ostreepy.cli.main",
                                          "ostreepy.cli.glibhelp", "ostreepy.errors"}


def test_repo_verb_imports_only_the_store(tmp_path):
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "init"], check=True)
    mods = _modules_after([f"--repo={tmp_path}/r", "refs"])
    assert "ostreepy.store.repo" in mods
    rooms = {m.split(".")[1] for m in mods if m.startswith("ostreepy.") and m.count(".") >= 1}
    assert rooms <= {"_version", "cli", "errors", "fsutil", "store"}, rooms
    assert not any(m.split(".")[0] in ("bootloader", "ociclient", "requests", "cryptography") for m in mods)


def test_checkout_through_the_porcelain_loads_no_sysroot(tmp_path):
    """Repository verbs that go through ostreepy.porcelain do not pay for the
    sysroot, bootloader or image code (the porcelain imports them where used)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "init"], check=True)
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "commit", "-b", "main", str(src)],
                   check=True, capture_output=True)
    mods = _modules_after([f"--repo={tmp_path}/r", "checkout", "main", str(tmp_path / "co")])
    assert "ostreepy.porcelain" in mods and (tmp_path / "co" / "a").read_text() == "a\n"
    rooms = {m.split(".")[1] for m in mods if m.count(".") >= 1 and m.startswith("ostreepy.")}
    assert rooms <= {"_version", "cli", "errors", "fsutil", "store", "progress", "porcelain"}, rooms
    assert not any(m.split(".")[0] in ("bootloader", "ociclient", "requests", "cryptography") for m in mods)


def test_image_pull_from_a_layout_loads_no_http_stack_nor_other_groups(tmp_path):
    """`container image pull` of an oci: layout (an import of local files) does not load the
    HTTP stack, the disk-image group (`image` is also a word of `container image pull`) or
    the bootc renderers when there is no progress to render: start-up is the fixed cost
    that dominates the import of a small image (issue 14)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ociclient"))
    from ocitest_helpers import build_layout
    build_layout(str(tmp_path / "oci"), tag="v1", layers=1, layer_size=2000)
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path}/r", "init", "--mode=bare-user"], check=True)
    mods = _modules_after(["container", "image", "pull", f"{tmp_path}/r",
                           f"ostree-unverified-image:oci:{tmp_path}/oci:v1"])
    assert "ostreepy.container.layers" in mods  # it ran
    assert not {"ostreepy.cli.image", "ostreepy.bootc", "ociclient.registry", "requests"} & mods, mods
