"""Short names: registries.conf aliases, unqualified-search registries and short-name-mode
(containers-registries.conf(5), containers-shortnames(5)), against real registries."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from ociclient import copy_image, open_source
from ociclient.docker import RegistrySource
from ociclient.errors import BlockedRegistry, ConfigError, NotFound, ReferenceInvalid, ShortNameError
from ociclient.image import Options
from ociclient.reference import is_short_name, parse_reference
from ociclient.registries_conf import RegistriesConf, load_registries_conf
from ociclient.shortnames import (
    load_user_aliases, record_alias, resolve_short_name, terminal_prompt,
)
from ocitest_helpers import FaultProxy, Registry, build_layout, skopeo

D = "sha256:" + "cd" * 32


# --------------------------------------------------------------------------- pure
@pytest.mark.parametrize("name,short", [
    ("alpine", True), ("alpine:3", True), ("library/fedora", True), ("a/b/c:t", True),
    ("x@" + D, True), ("x:t@" + D, True),
    ("quay.io/image", False), ("localhost/image:tag", False), ("server.org:5000/lib/image", False),
    ("docker.io/alpine", False), ("127.0.0.1:5000/x", False),
])
def test_is_short_name(name, short):
    assert is_short_name(name) is short
    ref = parse_reference(name)
    assert (ref.short_name is not None) is short  # type: ignore[union-attr]
    # with the docker:// prefix a name is never resolved: docker.io, as in skopeo
    assert parse_reference("docker://" + name).short_name is None  # type: ignore[union-attr]


def _conf(**kw) -> RegistriesConf:
    return RegistriesConf.from_dict(kw, "test.conf")


def _cands(name: str, conf: RegistriesConf, **kw):
    ref = parse_reference(name)
    r = resolve_short_name(ref, conf, **kw)  # type: ignore[arg-type]
    return r.rationale, [c.string() for c in r.candidates]


def test_resolution_rules():
    two = {"unqualified-search-registries": ["reg.one", "reg.two:5000"]}
    # fully qualified names are untouched
    assert _cands("quay.io/a/b:1", _conf(**two)) == ("none", ["quay.io/a/b:1"])
    # several search registries, permissive (the default): all, in order, the name as written
    assert _cands("x:v1", _conf(**two)) == ("search", ["reg.one/x:v1", "reg.two:5000/x:v1"])
    assert _cands("library/x", _conf(**two)) == ("search", ["reg.one/library/x:latest",
                                                            "reg.two:5000/library/x:latest"])
    assert _cands("x@" + D, _conf(**two))[1] == [f"reg.one/x@{D}", f"reg.two:5000/x@{D}"]
    assert _cands("x:t@" + D, _conf(**two))[1][0] == f"reg.one/x:t@{D}"
    # docker.io as a search registry gets library/ like podman's ParseNormalizedNamed
    assert _cands("x", _conf(**{"unqualified-search-registries": ["docker.io"]}))[1] == \
        ["docker.io/library/x:latest"]
    # disabled: all candidates, no error
    assert len(_cands("x", _conf(**two, **{"short-name-mode": "disabled"}))[1]) == 2
    # enforcing: one registry is fine, several are refused without a prompt
    assert _cands("x", _conf(**{"unqualified-search-registries": ["reg.one"], "short-name-mode": "enforcing"}))[1] \
        == ["reg.one/x:latest"]
    with pytest.raises(ShortNameError) as e:
        _cands("x:v1", _conf(**two, **{"short-name-mode": "enforcing"}))
    assert isinstance(e.value, ReferenceInvalid)
    assert "enforcing" in str(e.value) and "reg.one/x:v1" in str(e.value) and "test.conf" in str(e.value)
    # ... a prompt picks one (and asks for it to be recorded)
    r = resolve_short_name(parse_reference("x:v1"), _conf(**two, **{"short-name-mode": "enforcing"}),  # type: ignore[arg-type]
                           prompt=lambda c: c[1])
    assert r.rationale == "selection" and r.record and [c.string() for c in r.candidates] == ["reg.two:5000/x:v1"]
    # an alias always wins, whatever the mode; tag and digest go onto it
    conf = _conf(**two, **{"short-name-mode": "enforcing",
                           "aliases": {"x": "quay.io/ns/x", "hub": "docker.io/alpine"}})
    assert _cands("x:v1", conf) == ("alias", ["quay.io/ns/x:v1"])
    assert _cands("x@" + D, conf)[1] == [f"quay.io/ns/x@{D}"]
    assert _cands("hub", conf)[1] == ["docker.io/library/alpine:latest"]
    # the alias is looked up by the name as written: library/x is not x
    with pytest.raises(ShortNameError):
        _cands("library/x", conf)
    # no search registries: docker.io (podman would refuse; ociclient keeps docker's default)
    assert _cands("x:v1", _conf()) == ("docker-hub", ["docker.io/library/x:v1"])


def test_invalid_config_is_refused():
    with pytest.raises(ConfigError, match="short-name-mode"):
        _conf(**{"short-name-mode": "strict"})
    with pytest.raises(ConfigError) as e:
        _conf(aliases={"quay.io/x": "quay.io/x", "y:1": "quay.io/y", "z": "z", "w": "quay.io/w:1",
                       "ok": "quay.io/ok"})
    msg = str(e.value)  # every bad entry is reported at once
    assert "must not contain registry" in msg and "must not contain tag" in msg
    assert "must contain registry and repository" in msg and msg.count("invalid") >= 4
    with pytest.raises(ConfigError, match="URI scheme"):
        _conf(**{"unqualified-search-registries": ["https://reg.one"]})


def test_dropins_and_user_cache(tmp_path):
    main = tmp_path / "registries.conf"
    main.write_text('unqualified-search-registries = ["reg.one", "reg.two"]\n'
                    '[aliases]\n"a" = "reg.one/a"\n"b" = "reg.one/b"\n"c" = "reg.one/c"\n')
    d = tmp_path / "registries.conf.d"
    d.mkdir()
    (d / "10-a.conf").write_text('short-name-mode = "enforcing"\n[aliases]\n"a" = "reg.two/a"\n')
    (d / "20-b.conf").write_text('[aliases]\n"b" = ""\n')
    conf = load_registries_conf(str(main), [str(d)])
    assert conf.short_name_mode == "enforcing"
    assert conf.unqualified_search_registries == ("reg.one", "reg.two")
    assert _cands("a", conf) == ("alias", ["reg.two/a:latest"])  # a later drop-in wins
    with pytest.raises(ShortNameError):  # "" resets b: back to the (enforced) search
        _cands("b", conf)
    r = resolve_short_name(parse_reference("a"), conf)  # type: ignore[arg-type]
    assert r.origin == str(d / "10-a.conf") and "as an alias" in r.description()
    # the user's short-name-aliases.conf comes first; "" there hides a registries.conf alias
    cache = tmp_path / "cache" / "short-name-aliases.conf"
    record_alias(str(cache), "c", "reg.two/c")
    record_alias(str(cache), "hub", "docker.io/alpine")
    user = load_user_aliases(str(cache))
    assert {a.name: a.value for a in user} == {"c": "reg.two/c", "hub": "docker.io/library/alpine"}
    assert _cands("c", conf, user_aliases=user)[1] == ["reg.two/c:latest"]
    cache.write_text(cache.read_text().replace('"reg.two/c"', '""'))
    with pytest.raises(ShortNameError):
        _cands("c", conf, user_aliases=load_user_aliases(str(cache)))
    assert load_user_aliases(str(tmp_path / "missing.conf")) == ()


def test_terminal_prompt():
    err = io.StringIO()
    assert terminal_prompt(["a/x", "b/x"], stdin=io.StringIO("9\n2\n"), stderr=err) == "b/x"
    assert "1) a/x" in err.getvalue()
    with pytest.raises(ShortNameError):
        terminal_prompt(["a/x"], stdin=io.StringIO(""), stderr=err)


# --------------------------------------------------------------------------- real registries
@pytest.fixture(scope="module")
def setup(plain_registry, tmp_path_factory):
    """An image under HOST/library/x:v1 (pushed by skopeo), an empty second registry."""
    root = tmp_path_factory.mktemp("shortnames")
    layout = str(root / "img")
    desc = build_layout(layout, seed=71)
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1",
           f"docker://{plain_registry.host}/library/x:v1")
    empty = Registry(str(root / "empty")).start()
    yield plain_registry.host, empty, desc, layout
    empty.stop()


def _write_conf(path, usr, mode="permissive", aliases=None, insecure=()):
    text = f"unqualified-search-registries = {json.dumps(list(usr))}\nshort-name-mode = \"{mode}\"\n"
    for h in insecure:
        text += f'[[registry]]\nlocation = "{h}"\ninsecure = true\n'
    if aliases:
        text += "[aliases]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in aliases.items())
    path.write_text(text)
    return str(path)


def test_search_registries_first_that_has_it_wins(setup, tmp_path):
    host, empty, desc, _ = setup
    front = FaultProxy(empty.host)  # to see that the empty registry is asked first
    try:
        conf = _write_conf(tmp_path / "r.conf", [front.host, host], insecure=[front.host, host])
        opts = Options(registries_conf=conf, short_name_aliases=False)
        with open_source("library/x:v1", opts) as src:
            assert src.get_manifest()[2] == desc["digest"]
            assert isinstance(src, RegistrySource)
            assert src.reference.string() == f"{host}/library/x:v1"
            assert src.resolved is not None and src.resolved.rationale == "search"
            assert src.list_tags() == ["v1"]
        assert len(front.requests_matching("/v2/library/x/manifests/v1", "GET")) == 1
        # the name is used as written: x is HOST/x, which does not exist anywhere
        with pytest.raises(NotFound) as e:
            open_source("x:v1", opts).get_raw_manifest()
        assert f"{front.host}/x:v1" in str(e.value) and f"{host}/x:v1" in str(e.value)
        assert "unqualified-search registries" in str(e.value)
        # the same through copy_image
        res = copy_image("library/x:v1", f"oci:{tmp_path / 'out'}:v1", src_options=opts)
        assert res.digest == desc["digest"]
        # a blocked candidate is skipped, not fatal
        blocked = tmp_path / "b.conf"
        blocked.write_text(open(conf).read() + f'[[registry]]\nlocation = "{front.host}"\nblocked = true\n')
        with open_source("library/x:v1", Options(registries_conf=str(blocked), short_name_aliases=False)) as src:
            assert src.get_manifest()[2] == desc["digest"]
    finally:
        front.stop()


def test_one_search_registry_and_alias_and_enforcing(setup, tmp_path):
    host, empty, desc, _ = setup
    # exactly one search registry: no ambiguity, even when enforcing
    conf = _write_conf(tmp_path / "one.conf", [host], mode="enforcing", insecure=[host])
    with open_source("library/x:v1", Options(registries_conf=conf, short_name_aliases=False)) as src:
        assert src.get_manifest()[2] == desc["digest"]
    # two, enforcing: refused before any request; an alias still works
    conf = _write_conf(tmp_path / "two.conf", [empty.host, host], mode="enforcing",
                       aliases={"x": f"{host}/library/x"}, insecure=[empty.host, host])
    opts = Options(registries_conf=conf, short_name_aliases=False)
    with pytest.raises(ShortNameError, match="enforcing"):
        open_source("library/x:v1", opts)
    with open_source("x:v1", opts) as src:
        assert src.get_manifest()[2] == desc["digest"]
        assert src.reference.string() == f"{host}/library/x:v1"
        assert src.resolved is not None and src.resolved.rationale == "alias"
    # fully qualified and docker:// names are never resolved
    with open_source(f"{host}/library/x:v1", opts) as src:
        assert src.get_manifest()[2] == desc["digest"]
    assert RegistrySource(parse_reference("docker://x:v1"), opts).reference.string() == "docker.io/library/x:v1"  # type: ignore[arg-type]
    # without registries.conf (or with it switched off) a short name is docker.io as before
    assert RegistrySource(parse_reference("x:v1"), Options(registries_conf=False)).reference.registry == "docker.io"  # type: ignore[arg-type]
    none = tmp_path / "none.conf"
    none.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    src = RegistrySource(parse_reference("x:v1"), Options(registries_conf=str(none), short_name_aliases=False))  # type: ignore[arg-type]
    assert src.reference.string() == "docker.io/library/x:v1" and src.resolved.rationale == "docker-hub"  # type: ignore[union-attr]


def test_prompt_selection_is_recorded(setup, tmp_path):
    host, empty, desc, _ = setup
    conf = _write_conf(tmp_path / "two.conf", [empty.host, host], mode="enforcing", insecure=[empty.host, host])
    cache = tmp_path / "cache" / "short-name-aliases.conf"
    asked = []

    def prompt(cands):
        asked.append(list(cands))
        return cands[1]

    opts = Options(registries_conf=conf, short_name_aliases=str(cache), short_name_prompt=prompt)
    with open_source("library/x:v1", opts) as src:
        assert src.get_manifest()[2] == desc["digest"]
    assert asked == [[f"{empty.host}/library/x:v1", f"{host}/library/x:v1"]]
    assert {a.name: a.value for a in load_user_aliases(str(cache))} == {"library/x": f"{host}/library/x"}
    # next time the recorded alias answers, without a prompt
    with open_source("library/x:v1", Options(registries_conf=conf, short_name_aliases=str(cache))) as src:
        assert src.get_manifest()[2] == desc["digest"]
        assert src.resolved.rationale == "alias"  # type: ignore[attr-defined]


OCICLIENT = [sys.executable, "-m", "ociclient.cli"]


def test_cli_inspect_and_copy_short_names_match_skopeo(setup, tmp_path):
    host, empty, desc, layout = setup
    conf = _write_conf(tmp_path / "r.conf", [empty.host, host], aliases={"x": f"{host}/library/x"},
                       insecure=[empty.host, host])
    env = {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run"),
           "PATH": "/usr/bin:/bin", "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "unused.conf")}

    def oc(*args, check=True):
        p = subprocess.run([*OCICLIENT, *args], capture_output=True, text=True, timeout=60, env=env,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0 or not check, p.stderr
        return p

    # skopeo has no short-name resolution (docker://x:v1 is docker.io); the fully qualified
    # name our resolution arrives at must give skopeo's answer
    theirs = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{host}/library/x:v1").stdout)
    for name in ("x:v1", "library/x:v1"):  # via the alias, via the search registries
        ours = json.loads(oc("--registries-conf", conf, "inspect", "--tls-verify=false", name).stdout)
        assert ours["Digest"] == theirs["Digest"] == desc["digest"]
        assert ours == theirs
    oc("--registries-conf", conf, "copy", "-q", "--src-tls-verify=false", "x:v1", f"oci:{tmp_path / 'o'}:v1")
    idx = json.loads((tmp_path / "o" / "index.json").read_text())
    assert idx["manifests"][0]["digest"] == desc["digest"]
    out = json.loads(skopeo("inspect", f"oci:{tmp_path / 'o'}:v1").stdout)
    assert out["Digest"] == desc["digest"]
    # CONTAINERS_REGISTRIES_CONF is the other way to point at the file
    env["CONTAINERS_REGISTRIES_CONF"] = conf
    assert json.loads(oc("inspect", "--tls-verify=false", "x:v1").stdout)["Digest"] == desc["digest"]
    # enforcing without a terminal: a clear error, exit status 1
    strict = _write_conf(tmp_path / "s.conf", [empty.host, host], mode="enforcing", insecure=[empty.host, host])
    p = oc("--registries-conf", strict, "inspect", "--tls-verify=false", "library/x:v1", check=False)
    assert p.returncode == 1 and p.stderr.startswith("error: short name 'library/x:v1' is ambiguous")
    with pytest.raises(BlockedRegistry):  # blocked applies to resolved names too
        bl = tmp_path / "bl.conf"
        bl.write_text(f'unqualified-search-registries = ["{host}"]\n[[registry]]\nlocation = "{host}"\nblocked = true\n')
        open_source("library/x:v1", Options(registries_conf=str(bl), short_name_aliases=False))
