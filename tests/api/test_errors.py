"""One error story: every failure of an ostreepy call is an ``OstreeError``;
registry failures keep the ociclient error as ``__cause__``; wrong argument
types and missing paths name the Python parameter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ociclient
import ostreepy
from ociclient.auth import Credentials
from ociclient.errors import DigestMismatch, Unauthorized

from .conftest import EXAMPLE, TIMESTAMP, run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ociclient"))
from ocitest_helpers import PASSWORD, USER, Registry  # noqa: E402


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    """docker-registry with htpasswd auth, holding the example image as example/os:v1."""
    root = str(tmp_path_factory.mktemp("reg-api"))
    htpasswd = os.path.join(root, "htpasswd")
    with open(htpasswd, "w") as f:
        f.write(run("htpasswd", "-Bbn", USER, PASSWORD).stdout)
    reg = Registry(root, auth={"htpasswd": {"realm": "api-realm", "path": htpasswd}}).start()
    try:
        run("skopeo", "copy", "-q", "--dest-tls-verify=false", f"--dest-creds={USER}:{PASSWORD}",
            f"oci:{EXAMPLE}:v1", f"docker://{reg.host}/example/os:v1")
        yield reg
    finally:
        reg.stop()


def test_a_401_during_pull_is_an_ostree_error_caused_by_the_registry_error(work: Path, auth_registry) -> None:
    repo = work / "repo"
    ostreepy.init(repo, mode="bare-user").close()
    ref = f"ostree-unverified-registry:{auth_registry.host}/example/os:v1"
    anonymous = ociclient.Options(tls_verify=False, authfile=str(work / "no-auth.json"))
    with pytest.raises(ostreepy.OstreeError) as exc:
        ostreepy.pull(repo, ref, options=anonymous)
    err = exc.value
    assert isinstance(err, ostreepy.RegistryError)
    assert isinstance(err.__cause__, Unauthorized) and err.oci_error is err.__cause__
    assert err.status == 401
    assert ostreepy.refs(repo) == {}  # nothing half-imported
    # the same call with credentials goes through
    ok = ostreepy.pull(repo, ref, options=ociclient.Options(tls_verify=False, credentials=Credentials(USER, PASSWORD)))
    assert ok.version == "1" and ok.layers_fetched == 3


def test_a_corrupt_layer_is_a_registry_error_caused_by_digest_mismatch(work: Path) -> None:
    layout = work / "layout"
    shutil.copytree(EXAMPLE, layout)
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = next(m["digest"] for m in index["manifests"]
                           if m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
    manifest = json.loads((layout / "blobs/sha256" / manifest_digest.split(":")[1]).read_text())
    blob = layout / "blobs/sha256" / manifest["layers"][-1]["digest"].split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    repo = work / "repo"
    ostreepy.init(repo, mode="bare-user").close()
    with pytest.raises(ostreepy.RegistryError) as exc:
        ostreepy.pull(repo, f"oci:{layout}:v1")
    assert isinstance(exc.value.__cause__, DigestMismatch)
    assert not ostreepy.refs(repo, "ostree/container/image")


def test_wrong_argument_types_name_the_parameter(work: Path) -> None:
    cases = [
        (lambda: ostreepy.log(5, "x"), "repo: expected a Repo or a path, got int"),
        (lambda: ostreepy.refs(None), "repo: expected a Repo or a path, got NoneType"),
        (lambda: ostreepy.status(3.5), "sysroot: expected a Sysroot or a path, got float"),
        (lambda: ostreepy.init(work / "r", mode="tree"), "mode: unknown repository mode 'tree'"),
        (lambda: ostreepy.pull(work, 42), "image: expected an image reference"),
        (lambda: ostreepy.commit(work, 42, branch="b"), "tree: expected a path"),
        (lambda: ostreepy.commit(work, work, branch=["b"]), "branch: expected a str, got list"),
    ]
    for call, message in cases:
        with pytest.raises(ostreepy.ArgumentError) as exc:
            call()
        assert str(exc.value).startswith(message), str(exc.value)
        assert isinstance(exc.value, TypeError) and isinstance(exc.value, ostreepy.OstreeError)


def test_bad_metadata_and_missing_paths(work: Path, rootfs: Path) -> None:
    repo = ostreepy.init(work / "repo")
    try:
        with pytest.raises(ostreepy.ArgumentError, match=r"^metadata: 'when': cannot store a float"):
            ostreepy.commit(repo, rootfs, branch="b", metadata={"when": 1.5})
        with pytest.raises(ostreepy.ArgumentError, match=r"^tree: .*/missing: No such file or directory"):
            ostreepy.commit(repo, work / "missing", branch="b")
        assert ostreepy.refs(repo) == {}
        ostreepy.commit(repo, rootfs, branch="b", timestamp=TIMESTAMP)
        with pytest.raises(ostreepy.RefNotFoundError):
            ostreepy.log(repo, "no/such/ref")
    finally:
        repo.close()


def test_a_repo_that_is_not_there_or_a_file_is_a_repo_error_with_the_path(work: Path) -> None:
    afile = work / "file"
    afile.write_text("")
    for path in (afile, work / "missing"):
        with pytest.raises(ostreepy.RepoError, match=str(path)):
            ostreepy.open_repo(path)
        with pytest.raises(ostreepy.RepoError, match=str(path)):
            ostreepy.refs(path)
        with pytest.raises(ostreepy.RepoError, match=str(path)):
            ostreepy.Repo.open(str(path))


def test_not_booted_says_so_without_naming_a_command_line_flag(work: Path) -> None:
    sr = work / "sysroot"
    ostreepy.init_sysroot(sr)
    with pytest.raises(ostreepy.BootcError) as exc:
        ostreepy.upgrade(sr)
    assert "Not booted" in str(exc.value) and "--" not in str(exc.value)
    with pytest.raises(ostreepy.SysrootError):
        ostreepy.status(work / "nowhere")


def test_ostreepy_import_is_cheap_and_the_cli_help_does_not_load_the_porcelain() -> None:
    code = ("import sys, ostreepy\n"
            "print(sorted(m for m in sys.modules if m.startswith('ostreepy.')))\n"
            "from ostreepy.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('ostreepy.porcelain' in sys.modules, 'requests' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[0] == "['ostreepy._version']"
    assert lines[-1] == "False False"


def test_an_os_failure_is_an_ostree_error_and_still_an_oserror(work: Path, rootfs: Path) -> None:
    repo = work / "repo"
    ostreepy.init(repo, mode="bare-user").close()
    ostreepy.commit(repo, rootfs, branch="b", timestamp=TIMESTAMP)
    (work / "afile").write_text("")
    with pytest.raises(ostreepy.FileSystemError) as exc:
        ostreepy.checkout(repo, "b", work / "afile" / "dest", user_mode=True)
    err = exc.value
    assert isinstance(err, ostreepy.OstreeError) and isinstance(err, OSError)
    assert err.errno is not None and isinstance(err.__cause__, OSError)
    # the command line prints it as it prints any OSError
    p = run(sys.executable, "-m", "ostreepy", f"--repo={repo}", "checkout", "-U", "b", str(work / "afile" / "d"),
            check=False)
    assert p.returncode == 1 and p.stderr.startswith("error: Not a directory"), p.stderr


def test_ociclient_login_then_list_tags_and_pull_with_the_stored_credentials(work: Path, auth_registry) -> None:
    from ociclient.errors import OciError
    authfile = str(work / "auth.json")
    with pytest.raises(Unauthorized):
        ociclient.login(auth_registry.host, USER, "wrong", authfile=authfile, tls_verify=False)
    assert not os.path.exists(authfile)
    assert ociclient.login(f"http://{auth_registry.host}", USER, PASSWORD, authfile=authfile,
                           tls_verify=False) == auth_registry.host
    opts = ociclient.Options(tls_verify=False, authfile=authfile)
    assert ociclient.list_tags(f"docker://{auth_registry.host}/example/os", options=opts) == ("v1",)
    # skopeo reads what login stored
    skopeo = run("skopeo", "list-tags", "--tls-verify=false", f"--authfile={authfile}",
                 f"docker://{auth_registry.host}/example/os")
    assert json.loads(skopeo.stdout)["Tags"] == ["v1"]
    repo = work / "repo"
    ostreepy.init(repo, mode="bare-user").close()
    assert ostreepy.pull(repo, f"docker://{auth_registry.host}/example/os:v1", options=opts).version == "1"
    ociclient.logout(auth_registry.host, authfile=authfile)
    with pytest.raises(OciError):
        ociclient.logout(auth_registry.host, authfile=authfile)
