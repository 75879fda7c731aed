"""A hostile registry and hostile files: every case ends quickly, in little memory, with an
OciError subclass (on the command line: ``error: ...`` and exit status 1).

The registry is :class:`ocitest_helpers.HostileRegistry` on 127.0.0.1; time limits are set small
(``request_timeout`` about a second) so the whole file runs in seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from ociclient import open_source
from ociclient.auth import lookup_credentials
from ociclient.cli import main
from ociclient.errors import (
    ConfigError, DeadlineExceeded, DigestMismatch, ImageConfigInvalid, ManifestInvalid,
    ManifestTooLarge, NotFound, OciError, RegistryError, ResponseTooLarge, SizeMismatch,
    TransportError, Unauthorized, UnsupportedMediaType,
)
from ociclient.image import Options
from ociclient.manifest import Descriptor, host_platform, parse_manifest
from ociclient.transport import RetryPolicy
from ocitest_helpers import HostileRegistry

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
GB10 = 10 * 1024 ** 3


@pytest.fixture(autouse=True)
def _no_user_config(isolated_env):
    """No real auth.json or registries.conf is read."""


def opts(**kw):
    # 5 s: a loaded machine can take over a second to answer from loopback; the
    # deadline tests give their own short request_timeout
    base = dict(tls_verify=False, registries_conf=False, retry=FAST, request_timeout=5.0,
                command_timeout=8.0)
    base.update(kw)
    return Options(**base)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(config: bytes = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
          **config_desc):
    cdesc = {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config), **config_desc}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc,
                           "layers": []}).encode()
    return manifest, {sha(config): config}


def cli(capsys, *args):
    """``ociclient ARGS`` in this process: (status, stderr)."""
    t0 = time.monotonic()
    rc = main(list(args))
    err = capsys.readouterr().err
    assert time.monotonic() - t0 < 10
    return rc, err


def assert_cli_error(capsys, *args, match: str = ""):
    rc, err = cli(capsys, *args)
    assert rc == 1, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert match.lower() in err.lower(), err
    return err


def raises_within(exc, seconds, fn):
    t0 = time.monotonic()
    with pytest.raises(exc) as info:
        fn()
    took = time.monotonic() - t0
    assert took < seconds, f"took {took:.1f}s"
    return info.value


def raw_manifest(h, **kw):
    with open_source(f"docker://{h.host}/x/y:1", opts(**kw)) as src:
        return src.get_raw_manifest()


def tags(h, **kw):
    with open_source(f"docker://{h.host}/x/y:1", opts(**kw)) as src:
        return src.list_tags()


# =========================================================================== item 5: memory
@pytest.mark.parametrize("setup,exc", [
    # /v2/ answers with a body that never ends: the ping does not read it at all
    (lambda h: h.route("/v2/", h.endless()).route("/manifests/", h.respond(200, image()[0], {"Content-Type": OCI_MANIFEST})), None),
    (lambda h: h.route("/manifests/", h.endless()), ManifestTooLarge),
    (lambda h: h.route("/manifests/", h.endless(content_length=GB10)), ManifestTooLarge),
    (lambda h: h.route("/manifests/", h.endless(status=404)), NotFound),
    (lambda h: h.route("/manifests/", h.endless(status=401)), Unauthorized),
    (lambda h: h.route("/manifests/", h.endless(status=401, content_length=GB10)), Unauthorized),
    (lambda h: h.route("/v2/", h.challenge(f'Bearer realm="http://{h.host}/token",service="s"'))
              .route("/token", h.endless()), ResponseTooLarge),
    (lambda h: h.route("/v2/", h.challenge(f'Bearer realm="http://{h.host}/token",service="s"'))
              .route("/token", h.endless(content_length=GB10)), ResponseTooLarge),
    (lambda h: h.route("/v2/", h.challenge(f'Bearer realm="http://{h.host}/token",service="s"'))
              .route("/token", h.endless(status=401)), Unauthorized),
], ids=["ping-endless", "manifest-endless", "manifest-10GB", "404-endless", "401-endless", "401-10GB",
        "token-endless", "token-10GB", "token-401-endless"])
def test_endless_bodies_are_capped(hostile, setup, exc):
    setup(hostile)
    if exc is None:
        t0 = time.monotonic()
        raw_manifest(hostile)
        assert time.monotonic() - t0 < 3
    else:
        raises_within(exc, 3, lambda: raw_manifest(hostile))
    assert hostile.bytes_sent < 64 * 1024 ** 2


@pytest.mark.parametrize("behaviour", ["endless", "10GB"])
def test_endless_tag_list_is_capped(hostile, behaviour):
    hostile.route("/tags/list", hostile.endless() if behaviour == "endless" else hostile.endless(content_length=GB10))
    raises_within(ResponseTooLarge, 3, lambda: tags(hostile))


def test_tag_list_of_wrong_shape(hostile):
    for body in (b"[]", b'{"tags": "latest"}', b'{"tags": [1]}', b"[" * 100000):
        hostile.route("/tags/list", hostile.respond(200, body))
        raises_within(RegistryError, 3, lambda: tags(hostile))


MEMORY_PROBE = textwrap.dedent("""
    import resource, sys, json
    from ociclient import open_source
    from ociclient.errors import OciError
    from ociclient.image import Options
    from ociclient.transport import RetryPolicy
    opts = Options(tls_verify=False, registries_conf=False, request_timeout=5.0, command_timeout=20.0,
                   retry=RetryPolicy(max_attempts=1))
    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    outcomes = []
    def run(host, repo, op):
        try:
            with open_source(f"docker://{host}/{repo}:1", opts) as src:
                src.get_raw_manifest() if op == "manifest" else src.list_tags()
            outcomes.append("ok")
        except OciError as e:
            outcomes.append(type(e).__name__)
    run(sys.argv[1], "warm/up", "manifest")
    base = rss()
    for repo, op in json.loads(sys.argv[3]):
        run(sys.argv[1], repo, op)
    run(sys.argv[2], "tok/en", "manifest")
    print(json.dumps({"growth": rss() - base, "outcomes": outcomes}))
""")


def test_memory_stays_small_against_endless_bodies(hostile):
    """The RSS of a client process grows by a few MiB, not gigabytes (it grew ~250 MB/s)."""
    hostile.route("/v2/", hostile.endless())
    cases = [("a/endless", "manifest"), ("b/huge", "manifest"), ("c/tags", "tags"),
             ("d/unauth", "manifest"), ("e/missing", "manifest")]
    hostile.route("/v2/a/endless/manifests/", hostile.endless())
    hostile.route("/v2/b/huge/manifests/", hostile.endless(content_length=GB10))
    hostile.route("/v2/c/tags/tags/list", hostile.endless())
    hostile.route("/v2/d/unauth/manifests/", hostile.endless(status=401))
    hostile.route("/v2/e/missing/manifests/", hostile.endless(status=404, content_length=GB10))
    token = HostileRegistry()
    try:
        token.route("/v2/", token.challenge(f'Bearer realm="http://{token.host}/token"'))
        token.route("/token", token.endless())
        p = subprocess.run([sys.executable, "-c", MEMORY_PROBE, hostile.host, token.host, json.dumps(cases)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": REPO_ROOT})
    finally:
        token.stop()
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["outcomes"][1:] == ["ManifestTooLarge", "ManifestTooLarge", "ResponseTooLarge",
                                   "Unauthorized", "NotFound", "ResponseTooLarge"], out
    assert out["growth"] < 48 * 1024 ** 2, out


# =========================================================================== item 6: deadlines
def test_slow_headers_end_at_the_request_deadline(hostile):
    hostile.route("/v2/", hostile.slow_headers(delay=0.2))
    e = raises_within(DeadlineExceeded, 3, lambda: raw_manifest(hostile, request_timeout=1.0))
    # not retried: three attempts would have taken three times as long
    assert "within 1 s" in str(e)


def test_slowloris_manifest_ends_at_the_request_deadline(hostile):
    hostile.route("/manifests/", hostile.trickle(delay=0.2))
    raises_within(DeadlineExceeded, 3, lambda: raw_manifest(hostile, request_timeout=1.0))
    assert len([x for x in hostile.hits if "/manifests/" in x]) == 1


def test_slowloris_token_ends_at_the_request_deadline(hostile):
    hostile.route("/v2/", hostile.challenge(f'Bearer realm="http://{hostile.host}/token"'))
    hostile.route("/token", hostile.trickle(delay=0.2))
    raises_within(DeadlineExceeded, 3, lambda: raw_manifest(hostile, request_timeout=1.0))


def test_slowloris_blob_ends_at_the_command_deadline(hostile):
    """A blob body has no per-request limit (large blobs take long), but the operation has."""
    manifest, blobs = image()
    hostile.serve_image(manifest, OCI_MANIFEST, blobs)
    desc = Descriptor(OCI_CONFIG, "sha256:" + "a" * 64, 10 ** 6)
    hostile.route("/blobs/", hostile.trickle(length=10 ** 6, delay=0.1))

    def read():
        with open_source(f"docker://{hostile.host}/x/y:1", opts(request_timeout=30.0, command_timeout=1.5)) as src:
            with src.open_blob(desc) as f:
                f.read()
    e = raises_within(DeadlineExceeded, 4, read)
    assert "operation's time limit" in str(e)


def test_retry_waits_do_not_outlast_the_command_deadline(hostile):
    hostile.route("/manifests/", hostile.respond(503, headers={"Retry-After": "60"}))
    raises_within(DeadlineExceeded, 3, lambda: raw_manifest(
        hostile, command_timeout=1.0, retry=RetryPolicy(max_attempts=5, max_retry_after=120)))


def test_cli_command_timeout(hostile, capsys):
    hostile.route("/manifests/", hostile.trickle(delay=0.2))
    assert_cli_error(capsys, "--command-timeout", "1s", "inspect", "--tls-verify=false",
                     f"docker://{hostile.host}/x/y:1", match="time limit")
    assert_cli_error(capsys, "--request-timeout", "500ms", "inspect", "--tls-verify=false",
                     f"docker://{hostile.host}/x/y:1", match="within 0.5 s")


def test_cli_slow_headers_in_a_real_process(hostile):
    """The whole command line, as a user runs it: ``error: ...``, status 1, bounded time."""
    hostile.route("/v2/", hostile.slow_headers(delay=0.2))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "ociclient.cli", "--command-timeout", "1.5s", "inspect",
                        "--tls-verify=false", f"docker://{hostile.host}/x/y:1"],
                       capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": REPO_ROOT})
    assert time.monotonic() - t0 < 10
    assert p.returncode == 1 and p.stderr.startswith("error: ") and "Traceback" not in p.stderr, p.stderr


# =========================================================================== item 7: redirects, realms
@pytest.mark.parametrize("location,exc", [
    ("file:///etc/passwd", RegistryError),
    ("http://[::1", RegistryError),
    ("http://127.0.0.1:notaport/x", RegistryError),
    ("gopher://127.0.0.1/x", RegistryError),
    ("https:///x", RegistryError),
    ("/v2/x/y/manifests/1", TransportError),  # a loop
], ids=["file", "bad-ipv6", "bad-port", "gopher", "no-host", "loop"])
def test_redirects_to_odd_places(hostile, location, exc):
    hostile.route("/manifests/", hostile.redirect(location))
    raises_within(exc, 3, lambda: raw_manifest(hostile))


@pytest.mark.parametrize("realm", ["file:///etc/passwd", "::garbage::", "http://[::1", "", "http://"])
def test_bearer_realms_that_are_not_http(hostile, realm):
    hostile.route("/v2/", hostile.challenge(f'Bearer realm="{realm}",service="s"'))
    raises_within((RegistryError, Unauthorized), 3, lambda: raw_manifest(hostile))


def test_cli_redirect_to_file(hostile, capsys):
    hostile.route("/manifests/", hostile.redirect("file:///etc/passwd"))
    assert_cli_error(capsys, "inspect", "--tls-verify=false", f"docker://{hostile.host}/x/y:1",
                     match="not an http(s) URL")


# =========================================================================== item 7: documents
def _deep(n: int) -> bytes:
    return b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","x":' + b"[" * n + b"]" * n + b"}"


def _with_config(**changes):
    cfg = {"mediaType": OCI_CONFIG, "digest": "sha256:" + "a" * 64, "size": 2}
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": []}
    for k, v in changes.items():
        target, _, key = k.rpartition("__")
        (m[target] if target else m)[key] = v
    return json.dumps(m).encode()


def _index_with(**platform):
    d = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 2,
         "platform": {"os": "linux", "architecture": "amd64", **platform}}
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [d]}).encode()


HOSTILE_MANIFESTS = {
    "nested-100000": (_deep(100000), OCI_MANIFEST),
    "nested-500": (_deep(500), OCI_MANIFEST),
    "index-nested-100000": (b'{"schemaVersion":2,"manifests":' + b"[" * 100000 + b"]" * 100000 + b"}", OCI_INDEX),
    "annotations-list": (_with_config(annotations=["a"]), OCI_MANIFEST),
    "annotations-values": (_with_config(annotations={"a": 1}), OCI_MANIFEST),
    "config-annotations-string": (_with_config(config__annotations="x"), OCI_MANIFEST),
    "urls-string": (_with_config(config__urls="http://x"), OCI_MANIFEST),
    "urls-numbers": (_with_config(config__urls=[1, 2]), OCI_MANIFEST),
    "size-string": (_with_config(config__size="2"), OCI_MANIFEST),
    "layers-object": (_with_config(layers={}), OCI_MANIFEST),
    "os-features-string": (_index_with(**{"os.features": "sse4"}), OCI_INDEX),
    "os-features-numbers": (_index_with(**{"os.features": [1]}), OCI_INDEX),
    "variant-list": (_index_with(variant=["v8"]), OCI_INDEX),
    "variant-number": (_index_with(variant=8), OCI_INDEX),
    "platform-list": (json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 1, "platform": []}]}).encode(), OCI_INDEX),
    "not-utf8": (b'{"schemaVersion":2,"x":"\xff"}', OCI_MANIFEST),
    "surrogate": (_with_config(annotations={"a": "\ud800"}), OCI_MANIFEST),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_MANIFESTS))
def test_cli_inspect_hostile_manifests(hostile, capsys, name):
    data, mtype = HOSTILE_MANIFESTS[name]
    hostile.route("/v2/", hostile.respond(200, b"{}"))
    hostile.route("/manifests/", hostile.respond(200, data, {"Content-Type": mtype}))
    with pytest.raises((ManifestInvalid, UnsupportedMediaType)):
        with open_source(f"docker://{hostile.host}/x/y:1", opts()) as src:
            parse_manifest(*src.get_manifest()[:2])
    assert_cli_error(capsys, "inspect", "--tls-verify=false", f"docker://{hostile.host}/x/y:1")


def test_cli_inspect_index_of_an_index(hostile, capsys):
    inner = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    plat = host_platform()
    entry = {"mediaType": OCI_INDEX, "digest": sha(inner), "size": len(inner),
             "platform": {"os": plat.os, "architecture": plat.architecture,
                          **({"variant": plat.variant} if plat.variant else {})}}
    top = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
    hostile.route("/v2/", hostile.respond(200, b"{}"))
    hostile.route("/manifests/", hostile.respond(200, top, {"Content-Type": OCI_INDEX}))
    hostile.route(f"/manifests/{sha(inner)}", hostile.respond(200, inner, {"Content-Type": OCI_INDEX}))
    assert_cli_error(capsys, "inspect", "--tls-verify=false", f"docker://{hostile.host}/x/y:1",
                     match="nested image indexes are not supported")


HOSTILE_CONFIGS = {
    "list": b"[]",
    "nested-100000": b"[" * 100000 + b"]" * 100000,
    "nested-object": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "rootfs-string": b'{"rootfs":"x"}',
    "labels-list": b'{"config":{"Labels":["a=b"]}}',
    "labels-values": b'{"config":{"Labels":{"a":1}}}',
    "env-string": b'{"config":{"Env":"PATH=/bin"}}',
    "diff-ids-object": b'{"rootfs":{"type":"layers","diff_ids":{"a":"b"}}}',
    "diff-ids-numbers": b'{"rootfs":{"type":"layers","diff_ids":[1]}}',
    "diff-ids-not-digests": b'{"rootfs":{"type":"layers","diff_ids":["x"]}}',
    "rootfs-no-type": b'{"rootfs":{"diff_ids":[]}}',
    "history-strings": b'{"history":["x"]}',
    "architecture-number": b'{"architecture":64}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CONFIGS))
def test_cli_inspect_hostile_configs(hostile, capsys, name):
    manifest, blobs = image(HOSTILE_CONFIGS[name])
    hostile.serve_image(manifest, OCI_MANIFEST, blobs)
    with pytest.raises(ImageConfigInvalid):
        with open_source(f"docker://{hostile.host}/x/y:1", opts()) as src:
            from ociclient.config import parse_config
            parse_config(src.get_config(src.get_manifest()[0]))
    assert_cli_error(capsys, "inspect", "--tls-verify=false", f"docker://{hostile.host}/x/y:1",
                     match="image config")
    if name in ("list", "labels-list"):  # --config prints the config: it is checked first too
        assert_cli_error(capsys, "inspect", "--config", "--tls-verify=false", f"docker://{hostile.host}/x/y:1",
                         match="image config")


@pytest.mark.parametrize("data", ["!!not base64!!", "YQ", "e30=\n", "\u00e9"])
def test_cli_inspect_config_data_not_base64(hostile, capsys, data):
    config = b"{}"
    manifest, blobs = image(config, data=data)
    hostile.serve_image(manifest, OCI_MANIFEST, blobs)
    assert_cli_error(capsys, "inspect", "--tls-verify=false", f"docker://{hostile.host}/x/y:1")


def test_cli_inspect_config_data_valid_still_works(hostile, capsys):
    config = b'{"architecture":"amd64","os":"linux"}'
    manifest, _ = image(config, data=base64.b64encode(config).decode())
    hostile.serve_image(manifest, OCI_MANIFEST, {})
    rc, err = cli(capsys, "inspect", "--tls-verify=false", f"docker://{hostile.host}/x/y:1")
    assert rc == 0, err


# =========================================================================== item 7: files
HOSTILE_REGISTRIES_CONF = {
    "not-utf8": b"unqualified-search-registries = [\"\xff\xfe\"]\n",
    "latin1": "[[registry]]\nlocation = \"caf\u00e9\"\n".encode("latin-1"),
    "location-number": b"[[registry]]\nlocation = 5\n",
    "prefix-list": b"[[registry]]\nprefix = [\"a\"]\nlocation = \"b\"\n",
    "insecure-string": b"[[registry]]\nlocation = \"a\"\ninsecure = \"false\"\n",
    "blocked-number": b"[[registry]]\nlocation = \"a\"\nblocked = 1\n",
    "registry-string": b"registry = \"x\"\n",
    "registry-numbers": b"registry = [1, 2]\n",
    "mirror-string": b"[[registry]]\nlocation = \"a\"\nmirror = \"b\"\n",
    "mirror-numbers": b"[[registry]]\nlocation = \"a\"\nmirror = [1]\n",
    "mirror-location-table": b"[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = {x = 1}\n",
    "pull-from-mirror-bool": b"[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = \"b\"\npull-from-mirror = true\n",
    "search-string": b"unqualified-search-registries = \"docker.io\"\n",
    "short-name-mode-number": b"short-name-mode = 1\n",
    "credential-helpers-numbers": b"credential-helpers = [1]\n",
    "credential-helpers-nul": b"credential-helpers = [\"a\\u0000b\"]\n",
    "aliases-string": b"aliases = \"x\"\n",
    "alias-value-number": b"[aliases]\nx = 1\n",
    "nested-arrays": b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "v1": b"[registries.search]\nregistries = [\"a\"]\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_REGISTRIES_CONF))
def test_cli_hostile_registries_conf(tmp_path, capsys, name):
    path = tmp_path / "registries.conf"
    path.write_bytes(HOSTILE_REGISTRIES_CONF[name])
    assert_cli_error(capsys, "--registries-conf", str(path), "inspect", "docker://127.0.0.1:1/x/y:1",
                     match=str(path))


def test_hostile_registries_conf_dropin_and_alias_cache(tmp_path, monkeypatch):
    from ociclient.registries_conf import load_registries_conf
    from ociclient.shortnames import load_user_aliases

    d = tmp_path / "d"
    d.mkdir()
    (d / "50-x.conf").write_bytes(b"\xff\xfe[[registry]]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_registries_conf(None, [str(d)])
    cache = tmp_path / "short-name-aliases.conf"
    cache.write_bytes(b"[aliases]\n\"x\" = \"\xff\"\n")
    with pytest.raises(ConfigError):
        load_user_aliases(str(cache))
    cache.write_bytes(b"[aliases]\nx = [1]\n")
    with pytest.raises(ConfigError):
        load_user_aliases(str(cache))


HOSTILE_AUTH_FILES = {
    "nested-100000": b"[" * 100000 + b"]" * 100000,
    "nested-object": b'{"auths":' * 5000 + b"{}" + b"}" * 5000,
    "list": b"[]",
    "string": b'"x"',
    "auths-list": b'{"auths": []}',
    "entry-string": b'{"auths": {"127.0.0.1:5000": "x"}}',
    "auth-number": b'{"auths": {"127.0.0.1:5000": {"auth": 5}}}',
    "username-list": b'{"auths": {"127.0.0.1:5000": {"username": ["a"], "password": "b"}}}',
    "identitytoken-object": b'{"auths": {"127.0.0.1:5000": {"identitytoken": {}}}}',
    "auth-surrogate": b'{"auths": {"127.0.0.1:5000": {"username": "\\ud800", "password": "b"}}}',
    "credhelpers-list": b'{"credHelpers": ["x"]}',
    "credhelpers-number": b'{"credHelpers": {"127.0.0.1:5000": 1}}',
    "credsstore-number": b'{"credsStore": 5}',
    "credsstore-nul": b'{"credsStore": "a\\u0000b"}',
    "credsstore-5000": b'{"credsStore": "' + b"a" * 5000 + b'"}',
    "credsstore-surrogate": b'{"credsStore": "\\ud800"}',
    "credsstore-slash": b'{"credsStore": "../../bin/sh"}',
    "not-utf8": b'{"auths": {"\xff": {}}}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_AUTH_FILES))
def test_hostile_auth_json(tmp_path, capsys, name):
    path = tmp_path / "auth.json"
    path.write_bytes(HOSTILE_AUTH_FILES[name])
    with pytest.raises(ConfigError):
        lookup_credentials("127.0.0.1:5000", "x/y", authfile=str(path))
    assert_cli_error(capsys, "login", "--get-login", "--authfile", str(path), "127.0.0.1:5000/x")


def test_hostile_auth_json_when_a_registry_asks_for_credentials(hostile, tmp_path, capsys):
    path = tmp_path / "auth.json"
    path.write_bytes(HOSTILE_AUTH_FILES["credsstore-nul"])
    hostile.route("/v2/", hostile.challenge('Basic realm="r"'))
    assert_cli_error(capsys, "inspect", "--tls-verify=false", "--authfile", str(path),
                     f"docker://{hostile.host}/x/y:1", match="credsStore")


def test_hostile_legacy_dockercfg(isolated_env):
    (isolated_env / ".dockercfg").write_bytes(b'{"127.0.0.1:5000": "x"}')
    with pytest.raises(ConfigError):
        lookup_credentials("127.0.0.1:5000", "x/y")


# =========================================================================== item 10: blob sizes
BLOB = b"0123456789"
BLOB_DESC = Descriptor("application/octet-stream", sha(BLOB), len(BLOB))


def _read_blob(h):
    with open_source(f"docker://{h.host}/x/y:1", opts()) as src:
        with src.open_blob(BLOB_DESC) as f:
            return f.read()


def _unsized(h, body: bytes, then_endless: bool = False):
    def go(handler):
        h.raw(handler, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
        handler.close_connection = True
        while then_endless and not h.stopping.is_set():
            h.raw(handler, b"x" * 65536)
    return go


@pytest.mark.parametrize("behaviour", [
    # the first 10 bytes are the blob, so only the size can tell
    lambda h: _unsized(h, BLOB, then_endless=True),
    lambda h: _unsized(h, BLOB + b"!"),
    lambda h: h.respond(200, BLOB + b"!"),
    lambda h: h.endless(content_length=GB10),
    lambda h: h.respond(200, BLOB[:5]),
    lambda h: _unsized(h, BLOB[:5]),
    lambda h: h.respond(200, b""),
], ids=["longer-endless", "longer-by-one", "length-longer", "length-10GB", "length-shorter",
        "shorter", "empty"])
def test_blob_size_is_checked_before_the_digest(hostile, behaviour):
    hostile.serve_image(*image()[:1], OCI_MANIFEST, {})
    hostile.route(f"/blobs/{BLOB_DESC.digest}", behaviour(hostile))
    e = raises_within(SizeMismatch, 3, lambda: _read_blob(hostile))
    assert type(e) is SizeMismatch
    assert hostile.bytes_sent < 16 * 1024 ** 2


def test_blob_size_checked_when_copying_to_a_layout(hostile, tmp_path):
    from ociclient import copy_image

    layer = b"x" * 1000
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha(b"{}"), "size": 2},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": sha(layer), "size": len(layer)}]}).encode()
    hostile.serve_image(manifest, OCI_MANIFEST, {sha(b"{}"): b"{}"})
    hostile.route(f"/blobs/{sha(layer)}", _unsized(hostile, layer, then_endless=True))
    out = tmp_path / "out"
    raises_within(SizeMismatch, 5, lambda: copy_image(f"docker://{hostile.host}/x/y:1", f"oci:{out}:v1",
                                                      src_options=opts(), max_parallel=1))
    assert not (out / "blobs/sha256" / sha(layer).split(":")[1]).exists()
    partial = out / ".ociclient-partial"
    assert not partial.exists() or os.listdir(partial) == []


def test_right_size_wrong_bytes_is_a_digest_mismatch(hostile):
    hostile.serve_image(*image()[:1], OCI_MANIFEST, {})
    hostile.route(f"/blobs/{BLOB_DESC.digest}", hostile.respond(200, b"x" * len(BLOB)))
    e = raises_within(DigestMismatch, 3, lambda: _read_blob(hostile))
    assert type(e) is DigestMismatch


def test_every_error_here_is_an_oci_error():
    for cls in (DeadlineExceeded, ResponseTooLarge, ImageConfigInvalid, SizeMismatch):
        assert issubclass(cls, OciError)


def test_deep_registries_conf_refused_whatever_the_recursion_limit(tmp_path):
    """A process that raised its recursion limit (the ostreepy command line
    does) parses 5,000 nested arrays without RecursionError: the depth is
    refused on its own, so the answer does not depend on the caller."""
    import sys
    from ociclient.errors import OciError
    from ociclient.registries_conf import load_registries_conf
    path = tmp_path / "registries.conf"
    path.write_bytes(HOSTILE_REGISTRIES_CONF["nested-arrays"])
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20000))
    try:
        with pytest.raises(OciError, match="nested more than"):
            load_registries_conf(str(path))
    finally:
        sys.setrecursionlimit(old)
