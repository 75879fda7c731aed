"""Basic, TLS and Bearer token set-ups against the real registry."""

from __future__ import annotations

import json

import pytest

from ociclient import copy_image, open_source
from ociclient.auth import Credentials
from ociclient.errors import OciError, TransportError, Unauthorized
from ociclient.image import Options
from ocitest_helpers import PASSWORD, USER, build_layout, skopeo

CREDS = Credentials(USER, PASSWORD)


def test_basic_auth_push_and_pull(basic_registry, tmp_path, isolated_env):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=21)
    ref = f"docker://{basic_registry.host}/basic/img:v1"
    opts = Options(tls_verify=False, credentials=CREDS)
    res = copy_image(f"oci:{layout}:v1", ref, dst_options=opts)
    assert res.digest == desc["digest"]
    out = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}", ref).stdout)
    assert out["Digest"] == desc["digest"]
    with open_source(ref, opts) as src:
        assert src.get_manifest()[2] == desc["digest"]
    with pytest.raises(Unauthorized):
        open_source(ref, Options(tls_verify=False)).get_raw_manifest()
    with pytest.raises(Unauthorized):
        open_source(ref, Options(tls_verify=False, credentials=Credentials(USER, "wrong"))).get_raw_manifest()


def test_tls_with_test_ca(tls_registry, ca_dir, tmp_path, isolated_env):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=22)
    ref = f"docker://{tls_registry.host}/tls/img:v1"
    # unknown CA: refused, and no silent fallback to plain HTTP
    with pytest.raises(TransportError) as e:
        copy_image(f"oci:{layout}:v1", ref, dst_options=Options(registries_conf=False))
    assert "certificate" in str(e.value).lower()
    res = copy_image(f"oci:{layout}:v1", ref, dst_options=Options(cert_dir=ca_dir, registries_conf=False))
    assert res.digest == desc["digest"]
    out = json.loads(skopeo("inspect", "--cert-dir", ca_dir, ref).stdout)
    assert out["Digest"] == desc["digest"]
    # certs.d/<host:port>/ca.crt is found by host
    certs_d = tmp_path / "certs.d"
    (certs_d / tls_registry.host).mkdir(parents=True)
    (certs_d / tls_registry.host / "ca.crt").write_bytes(open(f"{ca_dir}/ca.crt", "rb").read())
    with open_source(ref, Options(certs_d=(str(certs_d),), registries_conf=False)) as src:
        assert src.get_manifest()[2] == desc["digest"]
    # --tls-verify=false works over TLS without the CA
    with open_source(ref, Options(tls_verify=False, registries_conf=False)) as src:
        assert src.get_manifest()[2] == desc["digest"]


def test_bearer_token_flow(token_setup, tmp_path, isolated_env):
    registry, tokens = token_setup
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=23)
    private = f"docker://{registry.host}/private/img:v1"
    public = f"docker://{registry.host}/public/img:v1"
    opts = Options(tls_verify=False, credentials=CREDS)
    for ref in (private, public):
        res = copy_image(f"oci:{layout}:v1", ref, dst_options=opts)
        assert res.digest == desc["digest"]
    # token requests carried the account, Basic credentials and a push scope
    pushes = [r for r in tokens.requests if any("push" in s for s in r["query"].get("scope", []))]
    assert pushes and pushes[0]["query"]["account"] == [USER]
    assert pushes[0]["auth"].startswith("Basic ")
    # skopeo can read what we pushed through the same token server
    out = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}", private).stdout)
    assert out["Digest"] == desc["digest"]
    # anonymous: public pull works, private is refused
    anon = Options(tls_verify=False)
    with open_source(public, anon) as src:
        assert src.get_manifest()[2] == desc["digest"]
        cfg = src.get_config(src.get_manifest()[0])
        assert json.loads(cfg)["config"]["Labels"]["seed"] == "23"
    with pytest.raises(OciError) as e:
        open_source(private, anon).get_raw_manifest()
    assert e.value.status == 401
    # wrong password: the token server says 401
    with pytest.raises(Unauthorized):
        open_source(private, Options(tls_verify=False, credentials=Credentials(USER, "nope"))).get_raw_manifest()


def test_bearer_token_cached(token_setup, tmp_path, isolated_env):
    registry, tokens = token_setup
    layout = str(tmp_path / "l")
    build_layout(layout, seed=24, layers=3)
    opts = Options(tls_verify=False, credentials=CREDS)
    copy_image(f"oci:{layout}:v1", f"docker://{registry.host}/private/cache:v1", dst_options=opts)
    before = len(tokens.requests)
    with open_source(f"docker://{registry.host}/private/cache:v1", opts) as src:
        m = src.get_manifest()[0]
        src.get_config(m)
        from ociclient.manifest import parse_manifest
        for layer in parse_manifest(m).layers:
            with src.open_blob(layer) as f:
                f.read()
    assert len(tokens.requests) - before == 1


def test_identity_token_oauth2_and_registry_token(token_setup, tmp_path, isolated_env):
    import base64
    registry, tokens = token_setup
    tokens.refresh_tokens["refresh-abc"] = USER
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=25)
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {registry.host: {
        "auth": base64.b64encode(b"<token>:").decode(), "identitytoken": "refresh-abc"}}}))
    ref = f"docker://{registry.host}/private/oauth:v1"
    res = copy_image(f"oci:{layout}:v1", ref, dst_options=Options(tls_verify=False, authfile=str(authfile),
                                                                  registries_conf=False))
    assert res.digest == desc["digest"]
    posts = [r for r in tokens.requests if r.get("method") == "POST"]
    assert posts and posts[0]["query"]["grant_type"] == ["refresh_token"]
    # a ready-made token, as --registry-token
    tok = tokens.sign(USER, [{"type": "repository", "name": "private/oauth", "actions": ["pull"]}])
    before = len(tokens.requests)
    with open_source(ref, Options(tls_verify=False, registry_token=tok, registries_conf=False)) as src:
        assert src.get_manifest()[2] == desc["digest"]
    assert len(tokens.requests) == before


def test_client_certificate_from_cert_dir(tmp_path_factory, tls_certs, ca_dir, tmp_path, isolated_env):
    import shutil
    from ocitest_helpers import Registry
    reg = Registry(str(tmp_path_factory.mktemp("reg-mtls")), tls=(tls_certs["cert"], tls_certs["key"]),
                   client_ca=tls_certs["ca"]).start()
    try:
        layout = str(tmp_path / "l")
        desc = build_layout(layout, seed=26)
        ref = f"docker://{reg.host}/mtls/img:v1"
        with pytest.raises(TransportError):
            copy_image(f"oci:{layout}:v1", ref, dst_options=Options(cert_dir=ca_dir, registries_conf=False,
                                                                    retry=__import__("ociclient.transport", fromlist=["x"]).RetryPolicy(max_attempts=1)))
        full = tmp_path / "full"
        full.mkdir()
        shutil.copy(f"{ca_dir}/ca.crt", full / "ca.crt")
        shutil.copy(tls_certs["client_cert"], full / "client.cert")
        shutil.copy(tls_certs["client_key"], full / "client.key")
        res = copy_image(f"oci:{layout}:v1", ref, dst_options=Options(cert_dir=str(full), registries_conf=False))
        assert res.digest == desc["digest"]
        out = json.loads(skopeo("inspect", "--cert-dir", str(full), ref).stdout)
        assert out["Digest"] == desc["digest"]
    finally:
        reg.stop()
