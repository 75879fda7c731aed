"""auth.json lookup, credential helpers, registries.conf, certs.d."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from ociclient import copy_image, open_source
from ociclient.auth import auth_file_paths, lookup_credentials, lookup_in_config
from ociclient.errors import BlockedRegistry
from ociclient.image import Options
from ociclient.reference import parse_docker_reference
from ociclient.registries_conf import RegistriesConf, load_registries_conf
from ocitest_helpers import PASSWORD, USER, build_layout, skopeo


def _auth(user: str, pw: str) -> dict:
    return {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}


def _write(path, obj) -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)
    return str(path)


def test_auth_file_order(isolated_env, tmp_path, monkeypatch):
    home = isolated_env
    run_file = tmp_path / "run/containers/auth.json"
    cfg_file = home / ".config/containers/auth.json"
    docker_file = home / ".docker/config.json"
    legacy = home / ".dockercfg"
    _write(legacy, {"reg.example": _auth("legacy", "x")})
    assert lookup_credentials("reg.example").username == "legacy"
    _write(docker_file, {"auths": {"https://reg.example/v1/": _auth("docker", "x")}})
    assert lookup_credentials("reg.example").username == "docker"
    _write(cfg_file, {"auths": {"reg.example": _auth("config", "x")}})
    assert lookup_credentials("reg.example").username == "config"
    _write(run_file, {"auths": {"reg.example": _auth("runtime", "x")}})
    assert lookup_credentials("reg.example").username == "runtime"
    # an explicit file replaces the runtime one (the others remain as fallbacks)
    explicit = _write(tmp_path / "explicit.json", {"auths": {"other.example": _auth("explicit", "x")}})
    assert lookup_credentials("reg.example", authfile=explicit).username == "config"
    assert lookup_credentials("other.example", authfile=explicit).username == "explicit"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", explicit)
    assert auth_file_paths()[0].path == explicit
    assert lookup_credentials("nothing.example") is None


def test_auth_namespace_keys_most_specific_first():
    cfg = {"auths": {"reg.example": _auth("host", "1"), "reg.example/ns": _auth("ns", "2"),
                     "reg.example/ns/img": _auth("img", "3")}}
    assert lookup_in_config(cfg, "reg.example", "ns/img")[0].username == "img"
    assert lookup_in_config(cfg, "reg.example", "ns/other")[0].username == "ns"
    assert lookup_in_config(cfg, "reg.example", "x/y")[0].username == "host"
    assert lookup_in_config({"auths": {"https://index.docker.io/v1/": _auth("hub", "p")}}, "docker.io", "library/a")[0].password == "p"
    assert lookup_in_config({"credHelpers": {"reg.example": "foo"}}, "reg.example", "a")[1] == "foo"


def test_credential_helper_used_for_registry(basic_registry, isolated_env, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-ocitest"
    calls = tmp_path / "calls"
    helper.write_text(f"""#!/bin/sh
read server
echo "$1 $server" >> {calls}
if [ "$server" = "{basic_registry.host}" ]; then
  printf '{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
""")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    authfile = _write(tmp_path / "auth.json", {"auths": {}, "credHelpers": {basic_registry.host: "ocitest"}})
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=61)
    ref = f"docker://{basic_registry.host}/helper/img:v1"
    res = copy_image(f"oci:{layout}:v1", ref, dst_options=Options(tls_verify=False, authfile=authfile,
                                                                  registries_conf=False))
    assert res.digest == desc["digest"]
    assert calls.read_text().split("\n")[0] == f"get {basic_registry.host}"
    assert lookup_credentials("elsewhere.example", authfile=authfile) is None


REG_CONF = """
unqualified-search-registries = ["example.com"]

[[registry]]
prefix = "mirrored.example/team"
location = "{primary}/primary/team"

[[registry.mirror]]
location = "{mirror}/mirror/team"
insecure = true

[[registry]]
prefix = "digestonly.example"
location = "{primary}/primary"

[[registry.mirror]]
location = "{mirror}/mirror"
pull-from-mirror = "digest-only"

[[registry]]
location = "blocked.example"
blocked = true

[[registry]]
prefix = "*.wild.example"
location = "{primary}/wild"
"""


def test_registries_conf_rewrites_pure():
    conf = RegistriesConf.from_dict({
        "registry": [
            {"prefix": "a.example/x", "location": "m.example/y", "mirror": [{"location": "mm.example/z"}]},
            {"prefix": "a.example", "location": "b.example"},
            {"prefix": "*.w.example", "location": ""},
            {"location": "d.example", "mirror": [{"location": "tagm.example", "pull-from-mirror": "tag-only"}]},
        ]})
    r = parse_docker_reference("a.example/x/img:1")
    assert [s.reference.string() for s in conf.pull_sources(r)] == ["mm.example/z/img:1", "m.example/y/img:1"]
    assert conf.pull_sources(parse_docker_reference("a.example/xy:1"))[0].reference.string() == "b.example/xy:1"
    assert conf.pull_sources(parse_docker_reference("q.w.example/i:1"))[0].reference.string() == "q.w.example/i:1"
    dig = "sha256:" + "a" * 64
    assert [s.reference.registry for s in conf.pull_sources(parse_docker_reference(f"d.example/i@{dig}"))] == ["d.example"]
    assert [s.reference.registry for s in conf.pull_sources(parse_docker_reference("d.example/i:t"))] == ["tagm.example", "d.example"]


def test_registries_conf_mirror_blocked_insecure(plain_registry, tmp_path, isolated_env):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=62)
    host = plain_registry.host
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{host}/mirror/team/app:v1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{host}/primary/team/only:v1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{host}/primary/app:v1")
    conf_path = tmp_path / "registries.conf"
    conf_path.write_text(REG_CONF.format(primary=host, mirror=host))
    dropins = tmp_path / "registries.conf.d"
    dropins.mkdir()
    # a drop-in marks the primary insecure (plain HTTP)
    (dropins / "10-insecure.conf").write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    conf = load_registries_conf(str(conf_path), [str(dropins)])
    opts = Options(registries_conf=conf)
    # the mirror has app, the primary does not: pulled from the mirror
    with open_source("docker://mirrored.example/team/app:v1", opts) as src:
        assert src.get_manifest()[2] == desc["digest"]
        assert src.pulled_from.repository == "mirror/team/app"
    # not on the mirror: falls back to the primary location
    with open_source("docker://mirrored.example/team/only:v1", opts) as src:
        assert src.get_manifest()[2] == desc["digest"]
        assert src.pulled_from.repository == "primary/team/only"
    # digest-only mirror is skipped for tags
    with open_source("docker://digestonly.example/app:v1", opts) as src:
        assert src.get_manifest()[2] == desc["digest"]
        assert src.pulled_from.repository == "primary/app"
    with pytest.raises(BlockedRegistry):
        open_source("docker://blocked.example/x:1", opts)
    with pytest.raises(BlockedRegistry):
        copy_image(f"oci:{layout}:v1", "docker://blocked.example/x:1", dst_options=opts)
    # without the insecure drop-in plain HTTP is not used
    strict = load_registries_conf(str(conf_path), [])
    with pytest.raises(Exception):
        open_source("docker://digestonly.example/app:v1", Options(registries_conf=strict)).get_raw_manifest()
    # registries.conf is found through CONTAINERS_REGISTRIES_CONF
    os.environ["CONTAINERS_REGISTRIES_CONF"] = str(conf_path)
    with pytest.raises(BlockedRegistry):
        open_source("docker://blocked.example/x:1")
