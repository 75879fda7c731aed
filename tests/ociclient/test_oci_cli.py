"""The ociclient command line next to skopeo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ocitest_helpers import PASSWORD, USER, build_layout, build_multiarch_layout, sha256, skopeo

OCICLIENT = [sys.executable, "-m", "ociclient.cli"]


def oc(*args: str, check: bool = True, env=None, input=None) -> subprocess.CompletedProcess:
    p = subprocess.run([*OCICLIENT, *args], capture_output=True, text=True, timeout=120, env=env, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"ociclient {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def cli_env(tmp_path):
    env = dict(os.environ)
    env["HOME"] = str(tmp_path / "home")
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    env["CONTAINERS_REGISTRIES_CONF"] = str(tmp_path / "none.conf")
    env.pop("REGISTRY_AUTH_FILE", None)
    return env


def test_inspect_same_keys_and_values_as_skopeo(pushed_image, cli_env):
    ref, desc, layout = pushed_image
    for image in (f"docker://{ref}", f"oci:{layout}:v1"):
        ours = json.loads(oc("inspect", "--tls-verify=false", image, env=cli_env).stdout)
        theirs = json.loads(skopeo("inspect", "--tls-verify=false", image).stdout)
        assert list(ours) == list(theirs)
        assert ours == theirs
    raw = oc("inspect", "--raw", "--tls-verify=false", f"docker://{ref}", env=cli_env).stdout
    assert raw == skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout
    cfg = oc("inspect", "--config", "--raw", "--tls-verify=false", f"docker://{ref}", env=cli_env).stdout
    assert cfg == skopeo("inspect", "--config", "--raw", "--tls-verify=false", f"docker://{ref}").stdout
    assert json.loads(oc("inspect", "--config", f"oci:{layout}:v1", env=cli_env).stdout) == \
        json.loads(skopeo("inspect", "--config", f"oci:{layout}:v1").stdout)


def test_copy_override_arch_multi_arch_and_manifest_digest(plain_registry, tmp_path, cli_env):
    layout = str(tmp_path / "m")
    descs = build_multiarch_layout(layout)
    ref = f"docker://{plain_registry.host}/cli/multi:v1"
    oc("copy", "--multi-arch", "all", "--dest-tls-verify=false", f"oci:{layout}:multi", ref, env=cli_env)
    out = tmp_path / "arm"
    oc("--override-arch", "arm64", "copy", "--src-tls-verify=false", ref, f"oci:{out}:x", env=cli_env)
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == descs["arm64"]["digest"]
    out2 = tmp_path / "arm2"
    oc("copy", "--override-arch", "arm64", "--override-os", "linux", "--src-tls-verify=false", ref,
       f"dir:{out2}", env=cli_env)
    assert sha256((out2 / "manifest.json").read_bytes()) == descs["arm64"]["digest"]
    # skopeo reads our dir: copy
    assert json.loads(skopeo("inspect", f"dir:{out2}").stdout)["Architecture"] == "arm64"
    d = oc("manifest-digest", str(out2 / "manifest.json"), env=cli_env).stdout.strip()
    assert d == skopeo("manifest-digest", str(out2 / "manifest.json")).stdout.strip()
    sk = json.loads(skopeo("inspect", "--tls-verify=false", "--override-arch", "arm64", ref).stdout)
    ours = json.loads(oc("--override-arch", "arm64", "inspect", "--tls-verify=false", ref, env=cli_env).stdout)
    assert ours == sk
    idx = tmp_path / "idx"
    oc("copy", "--multi-arch", "index-only", "--src-tls-verify=false", ref, f"oci:{idx}:i", env=cli_env)
    entry = json.loads((idx / "index.json").read_text())["manifests"][0]
    assert entry["digest"] == descs["index"]["digest"]


def test_list_tags_delete_and_errors(plain_registry, tmp_path, cli_env):
    layout = str(tmp_path / "l")
    build_layout(layout, seed=51)
    repo = f"docker://{plain_registry.host}/cli/tags"
    for t in ("one", "two"):
        oc("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"{repo}:{t}", env=cli_env)
    ours = json.loads(oc("list-tags", "--tls-verify=false", repo, env=cli_env).stdout)
    theirs = json.loads(skopeo("list-tags", "--tls-verify=false", repo).stdout)
    assert ours == theirs and sorted(ours["Tags"]) == ["one", "two"]
    oc("delete", "--tls-verify=false", f"{repo}:one", env=cli_env)
    assert skopeo("inspect", "--tls-verify=false", f"{repo}:two", check=False).returncode != 0
    p = oc("inspect", "--tls-verify=false", f"{repo}:one", check=False, env=cli_env)
    assert p.returncode == 1
    assert p.stderr.startswith("error: ") and "Traceback" not in p.stderr
    assert "manifest unknown" in p.stderr.lower()
    p = oc("inspect", "docker://Bad/Name", check=False, env=cli_env)
    assert p.returncode == 1 and p.stderr.startswith("error: invalid reference")


def test_login_logout_and_creds(basic_registry, tmp_path, cli_env):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=52)
    authfile = str(tmp_path / "auth.json")
    ref = f"docker://{basic_registry.host}/cli/login:v1"
    p = oc("login", "--tls-verify=false", "--authfile", authfile, "-u", USER, "-p", "wrong",
           basic_registry.host, check=False, env=cli_env)
    assert p.returncode == 1 and "unauthorized" in p.stderr.lower()
    assert not os.path.exists(authfile)
    oc("login", "--tls-verify=false", "--authfile", authfile, "-u", USER, "--password-stdin",
       basic_registry.host, input=PASSWORD + "\n", env=cli_env)
    auths = json.load(open(authfile))["auths"]
    assert list(auths) == [basic_registry.host]
    # skopeo uses the file we wrote, we use it too
    oc("copy", "--dest-tls-verify=false", "--authfile", authfile, f"oci:{layout}:v1", ref, env=cli_env)
    assert json.loads(skopeo("inspect", "--tls-verify=false", "--authfile", authfile, ref).stdout)["Digest"] == desc["digest"]
    env = dict(cli_env, REGISTRY_AUTH_FILE=authfile)
    assert json.loads(oc("inspect", "--tls-verify=false", ref, env=env).stdout)["Digest"] == desc["digest"]
    assert oc("login", "--get-login", "--authfile", authfile, basic_registry.host, env=cli_env).stdout.strip() == USER
    oc("logout", "--authfile", authfile, basic_registry.host, env=cli_env)
    assert json.load(open(authfile))["auths"] == {}
    p = oc("inspect", "--tls-verify=false", "--authfile", authfile, ref, check=False, env=cli_env)
    assert p.returncode == 1 and "unauthorized" in p.stderr.lower()
    assert json.loads(oc("inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}", ref,
                         env=cli_env).stdout)["Digest"] == desc["digest"]
    # skopeo login writes a file we can read
    skopeo("login", "--tls-verify=false", "--authfile", authfile, "-u", USER, "-p", PASSWORD, basic_registry.host)
    assert json.loads(oc("inspect", "--tls-verify=false", "--authfile", authfile, ref,
                         env=cli_env).stdout)["Digest"] == desc["digest"]
