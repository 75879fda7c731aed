"""Shared fixtures for the ociclient tests (servers are started on free 127.0.0.1 ports,
keep their files under tmp paths and are stopped by PID)."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from ocitest_helpers import (
    PASSWORD, USER, FaultProxy, Registry, TokenServer, build_layout, make_ca_and_cert, run, skopeo,
)


# tests/ holds the peers every package shares (trixie_peer); appended, so nothing there shadows a real module
_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TESTS not in sys.path:
    sys.path.append(_TESTS)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def plain_registry(tmp_path_factory):
    r = Registry(str(tmp_path_factory.mktemp("reg-plain"))).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("reg-basic"))
    htpasswd = os.path.join(root, "htpasswd")
    p = run(["htpasswd", "-Bbn", USER, PASSWORD])
    with open(htpasswd, "w") as f:
        f.write(p.stdout)
    r = Registry(root, auth={"htpasswd": {"realm": "basic-realm", "path": htpasswd}}).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory):
    return make_ca_and_cert(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory, tls_certs):
    root = str(tmp_path_factory.mktemp("reg-tls"))
    r = Registry(root, tls=(tls_certs["cert"], tls_certs["key"])).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory, tls_certs):
    d = str(tmp_path_factory.mktemp("cadir"))
    shutil.copy(tls_certs["ca"], os.path.join(d, "ca.crt"))
    return d


@pytest.fixture(scope="session")
def token_setup(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("reg-token"))
    ts = TokenServer(os.path.join(root, "tok"), {USER: PASSWORD})
    r = Registry(root, auth=ts.registry_auth()).start()
    yield r, ts
    r.stop()
    ts.stop()


@pytest.fixture
def proxy(plain_registry):
    p = FaultProxy(plain_registry.host)
    yield p
    p.stop()


@pytest.fixture(scope="session")
def pushed_image(plain_registry, tmp_path_factory):
    """An image pushed by skopeo to the plain registry: (reference, manifest descriptor, layout)."""
    layout = str(tmp_path_factory.mktemp("img"))
    desc = build_layout(layout, seed=3, layers=3, layer_size=300000)
    ref = f"{plain_registry.host}/fixtures/img:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{ref}")
    return ref, desc, layout


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """HOME/XDG dirs under tmp_path so no real auth.json or registries.conf is read."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "registries.conf"))
    return home


@pytest.fixture
def hostile():
    """A :class:`HostileRegistry` (a misbehaving registry on 127.0.0.1), stopped after the test."""
    from ocitest_helpers import HostileRegistry

    h = HostileRegistry()
    yield h
    h.stop()
