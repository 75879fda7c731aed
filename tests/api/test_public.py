"""What is public is marked (``__all__``), documented, and typed: every
exported class and function has a docstring, the high-level modules pass
``mypy --strict``, and mypy rejects a wrong call to them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]

PUBLIC = ["ostreepy", "ostreepy.porcelain", "ostreepy.container", "ostreepy.errors", "ociclient",
          "ociclient.porcelain", "bootloader"]

#: the modules kept clean under mypy --strict (errors in what they import are not theirs)
STRICT = ["ostreepy/__init__.py", "ostreepy/porcelain.py", "ostreepy/errors.py", "ostreepy/container/__init__.py",
          "ostreepy/bootc/results.py", "ostreepy/bootc/host.py", "ostreepy/bootc/verbs.py", "ociclient/porcelain.py"]


def _mypy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir=/dev/null", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_every_public_name_resolves_and_is_documented() -> None:
    # in a child process: tests/ has packages named like ours (tests/bootloader)
    code = textwrap.dedent("""\
        import importlib, inspect, sys
        for modname in sys.argv[1:]:
            mod = importlib.import_module(modname)
            if not (mod.__doc__ or "").strip():
                print(modname, "(module)")
            names = list(mod.__all__)
            if len(set(names)) != len(names):
                print(modname, "(duplicates in __all__)")
            for name in names:
                obj = getattr(mod, name)  # raises if an exported name does not exist
                if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (obj.__doc__ or "").strip():
                    print(modname, name)
    """)
    res = subprocess.run([sys.executable, "-c", code, *PUBLIC], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "", res.stdout + res.stderr


def test_the_lazy_tables_match_all() -> None:
    import ostreepy
    import ostreepy.container
    assert set(ostreepy._LAZY) | {"__version__"} == set(ostreepy.__all__)
    assert set(ostreepy.container._LAZY) == set(ostreepy.container.__all__)
    assert ostreepy.container._LAZY["pull_image"] == "ostreepy.container.store"
    assert ostreepy.container._LAZY["unencapsulate"] == "ostreepy.container.encapsulate"
    assert ostreepy.container._LAZY["SigVerify"] == "ostreepy.container.imgref"


def test_the_porcelain_is_all_reexported_by_ostreepy() -> None:
    import ostreepy
    import ostreepy.porcelain
    assert set(ostreepy.porcelain.__all__) <= set(ostreepy.__all__)
    for name in ostreepy.porcelain.__all__:
        assert getattr(ostreepy, name) is getattr(ostreepy.porcelain, name)
    # the errors and result types a caller catches and reads are there too
    for name in ("OstreeError", "RegistryError", "ArgumentError", "RepoError", "Repo", "Sysroot", "Host",
                 "UpgradeResult", "FsckResult", "PruneResult", "ProgressCallback"):
        assert name in ostreepy.__all__


def test_the_public_modules_are_clean_under_mypy_strict() -> None:
    res = _mypy("--strict", "--follow-imports=silent", *STRICT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_rejects_wrong_calls(tmp_path: Path) -> None:
    bad = tmp_path / "bad_calls.py"
    bad.write_text(textwrap.dedent("""\
        import ostreepy
        from ostreepy.container.store import pull_image
        from ostreepy.bootc.verbs import upgrade

        ostreepy.log(5, "os/stable")
        ostreepy.pull("repo", "oci:/x:y", options={"tls_verify": False})
        pull_image(ostreepy.open_repo("repo"), "oci:/x", platform="linux/amd64")
        upgrade("/sysroot")
        host: ostreepy.Host = ostreepy.status("/sysroot")
        order: int = host.spec.boot_order
    """))
    res = _mypy("--strict", "--follow-imports=silent", str(bad))
    errors = [line for line in res.stdout.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    assert lines == [5, 6, 7, 8, 10], res.stdout
