"""registries.conf v2 (containers-registries.conf(5)): mirrors, blocked and insecure registries.

:meth:`RegistriesConf.from_dict` and :meth:`RegistriesConf.pull_sources` are pure;
:func:`load_registries_conf` reads the files:

* ``$CONTAINERS_REGISTRIES_CONF`` if set, else ``~/.config/containers/registries.conf`` if it
  exists, else ``/etc/containers/registries.conf``;
* then the drop-ins ``*.conf`` of ``/etc/containers/registries.conf.d`` and
  ``~/.config/containers/registries.conf.d`` (lexical order; a later file replaces
  ``[[registry]]`` tables with the same prefix, ``[aliases]`` entries with the same name and
  the top-level keys it sets).

``unqualified-search-registries``, ``short-name-mode`` and ``[aliases]`` are validated here and
used by :mod:`ociclient.shortnames` to resolve short names for pulls.

The keys ociclient reads and their TOML types are declared once (:data:`REGISTRIES_CONF_SCHEMA`)
and every file is checked against it before it is used, so ``insecure = "false"`` is an error
instead of true, and a file of the wrong shape (or not UTF-8) is a
:class:`~ociclient.errors.ConfigError`.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import attrs

from .errors import BlockedRegistry, ConfigError, ReferenceInvalid
from .reference import DockerReference, is_short_name, parse_docker_reference
from .schema import HELPER_NAME, Bool, ListOf, MapOf, Obj, Str, check, opt

SHORT_NAME_MODES = ("enforcing", "permissive", "disabled")

#: registries.conf files are small; a larger one is refused rather than read into memory
MAX_CONF_SIZE = 1024 * 1024

_ENDPOINT = {"location": opt(Str()), "insecure": opt(Bool())}

REGISTRIES_CONF_SCHEMA = Obj({
    "registry": opt(ListOf(Obj({
        **_ENDPOINT, "prefix": opt(Str()), "blocked": opt(Bool()),
        "mirror-by-digest-only": opt(Bool()),
        "mirror": opt(ListOf(Obj({**_ENDPOINT, "pull-from-mirror": opt(Str())}))),
    }))),
    "unqualified-search-registries": opt(ListOf(Str())),
    "short-name-mode": opt(Str()),
    "credential-helpers": opt(ListOf(HELPER_NAME)),
    "aliases": opt(MapOf(Str())),
})


def validate_short_name(name: str) -> None:
    """The left-hand side of an alias: a name without registry, tag or digest."""
    try:
        ref = parse_docker_reference(name, normalize=False)
    except ReferenceInvalid as e:
        raise ConfigError(f"cannot parse short name {name!r}: {e}") from None
    if ref.digest:
        raise ConfigError(f"invalid short name {name!r}: must not contain digest")
    if ref.tag:
        raise ConfigError(f"invalid short name {name!r}: must not contain tag")
    if not is_short_name(name):
        raise ConfigError(f"invalid short name {name!r}: must not contain registry")


def parse_alias_value(value: str) -> str:
    """The right-hand side of an alias: ``registry/repository`` without tag or digest;
    returned normalised (``docker.io/alpine`` becomes ``docker.io/library/alpine``)."""
    try:
        ref = parse_docker_reference(value, normalize=False)
    except ReferenceInvalid as e:
        raise ConfigError(f"parsing alias {value!r}: {e}") from None
    if ref.digest:
        raise ConfigError(f"invalid alias {value!r}: must not contain digest")
    if ref.tag:
        raise ConfigError(f"invalid alias {value!r}: must not contain tag")
    if is_short_name(value):
        raise ConfigError(f"invalid alias {value!r}: must contain registry and repository")
    return parse_docker_reference(value).name


@attrs.frozen
class Alias:
    """One ``[aliases]`` entry: ``value`` is ``None`` for ``""`` (which resets an alias an
    earlier file set); ``origin`` is the file it came from."""

    name: str
    value: Optional[str]
    origin: str


def parse_aliases(table: Any, path: str) -> Tuple[Alias, ...]:
    """Validate an ``[aliases]`` table; every bad entry is reported in one :class:`ConfigError`."""
    if table is None:
        return ()
    check(table, MapOf(Str()), f"{path}: [aliases]", ConfigError)
    out: List[Alias] = []
    errors: List[str] = []
    for name, value in table.items():
        try:
            validate_short_name(str(name))
            if not isinstance(value, str):
                raise ConfigError(f"alias {name!r}: value must be a string")
            out.append(Alias(str(name), parse_alias_value(value) if value else None, path))
        except ConfigError as e:
            errors.append(str(e))
    if errors:
        raise ConfigError(f"{path}: " + "; ".join(errors))
    return tuple(out)


def read_toml_file(path: str) -> Optional[Dict[str, Any]]:
    """A TOML file parsed (``None`` if it does not exist); unreadable, too large, not UTF-8
    or not TOML is a :class:`ConfigError`."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONF_SIZE + 1)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ConfigError(f"reading {path}: {e}") from None
    if len(data) > MAX_CONF_SIZE:
        raise ConfigError(f"{path} is over {MAX_CONF_SIZE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 (byte {e.start})") from None
    return _toml_loads(text, path)


def _toml_loads(text: str, path: str) -> Dict[str, Any]:
    try:
        import tomllib  # Python >= 3.11
    except ImportError:  # pragma: no cover
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ConfigError("reading registries.conf needs Python >= 3.11 (tomllib)") from None
    try:
        doc = tomllib.loads(text)
    except Exception as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    _check_depth(doc, path)
    return doc


#: nesting no registries.conf needs; deeper is refused whatever the interpreter's
#: recursion limit lets tomllib parse (the limit differs between programs)
MAX_TOML_DEPTH = 32


def _check_depth(doc: object, path: str) -> None:
    stack = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_TOML_DEPTH:
            raise ConfigError(f"{path}: invalid TOML: nested more than {MAX_TOML_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


@attrs.frozen
class Endpoint:
    """A place to pull from: ``location`` replaces the matched prefix."""

    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"  # all | digest-only | tag-only


@attrs.frozen
class Registry:
    """One ``[[registry]]`` table: the ``prefix`` it matches, where it really is (``location``),
    its mirrors, and whether it is insecure or blocked."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: Tuple[Endpoint, ...] = ()


@attrs.frozen
class PullSource:
    """A rewritten reference to try, in order, and whether TLS may be skipped for it."""

    reference: DockerReference
    insecure: bool
    mirror: bool


def _prefix_matches(prefix: str, name: str) -> bool:
    if prefix.startswith("*."):
        host = name.split("/", 1)[0]
        return host.endswith(prefix[1:]) and len(host) > len(prefix) - 1
    if not name.startswith(prefix):
        return False
    return len(name) == len(prefix) or name[len(prefix)] in "/:@" or prefix.endswith("/")


def _rewrite(name: str, prefix: str, location: str) -> str:
    if prefix.startswith("*."):
        if not location:
            return name
        host, _, rest = name.partition("/")
        return f"{location}/{rest}" if rest else location
    return location + name[len(prefix):]


@attrs.frozen
class RegistriesConf:
    """The merged configuration of all registries.conf files read (``[[registry]]`` tables,
    search registries, short-name mode, aliases)."""

    registries: Tuple[Registry, ...] = ()
    unqualified_search_registries: Tuple[str, ...] = ()
    short_name_mode: str = "permissive"
    credential_helpers: Tuple[str, ...] = ()
    #: ``[aliases]`` of all files, later files first replaced earlier entries of the same name
    aliases: Tuple[Alias, ...] = ()
    #: the file that set ``unqualified-search-registries`` ("" if none did)
    search_registries_origin: str = ""
    #: the files read, in order
    files: Tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], path: str = "registries.conf") -> "RegistriesConf":
        """Build from one parsed TOML document (v2 only; a v1 ``[registries.*]`` table is an error)."""
        if "registries" in obj and isinstance(obj["registries"], dict):
            raise ConfigError(f"{path}: registries.conf v1 format is not supported")
        check(obj, REGISTRIES_CONF_SCHEMA, path, ConfigError)
        regs = []
        for i, r in enumerate(obj.get("registry") or []):
            location = (r.get("location") or "").rstrip("/")
            prefix = (r.get("prefix") or location).rstrip("/")
            if not prefix:
                raise ConfigError(f"{path}: [[registry]] #{i} needs a prefix or location")
            if not location and not prefix.startswith("*."):
                location = prefix
            mirrors = []
            for m in r.get("mirror") or []:
                pfm = m.get("pull-from-mirror") or "all"
                if pfm not in ("all", "digest-only", "tag-only"):
                    raise ConfigError(f"{path}: invalid pull-from-mirror {pfm!r}")
                mirrors.append(Endpoint(location=(m.get("location") or "").rstrip("/"),
                                        insecure=bool(m.get("insecure", False)),
                                        pull_from_mirror=pfm))
            regs.append(Registry(
                prefix=prefix, location=location,
                insecure=bool(r.get("insecure", False)), blocked=bool(r.get("blocked", False)),
                mirror_by_digest_only=bool(r.get("mirror-by-digest-only", False)),
                mirrors=tuple(mirrors),
            ))
        mode = obj.get("short-name-mode") or "permissive"
        if mode not in SHORT_NAME_MODES:
            raise ConfigError(f"{path}: invalid short-name-mode {mode!r} "
                              f"(one of {', '.join(SHORT_NAME_MODES)})")
        usr = obj.get("unqualified-search-registries") or ()
        for u in usr:
            if not u.rstrip("/") or "://" in u:
                raise ConfigError(f"{path}: invalid unqualified-search registry {u!r} "
                                  "(host[:port], no URI scheme)")
        return cls(
            registries=tuple(regs),
            unqualified_search_registries=tuple(u.rstrip("/") for u in usr),
            short_name_mode=mode,
            credential_helpers=tuple(obj.get("credential-helpers") or ()),
            aliases=parse_aliases(obj.get("aliases"), path),
            search_registries_origin=path if "unqualified-search-registries" in obj else "",
            files=(path,),
        )

    def merged_with(self, other: "RegistriesConf", other_obj: Mapping[str, Any]) -> "RegistriesConf":
        """Apply a drop-in: its registries replace ones with the same prefix; keys it sets win."""
        by_prefix = {r.prefix: r for r in self.registries}
        for r in other.registries:
            by_prefix[r.prefix] = r
        aliases = {a.name: a for a in self.aliases}
        for a in other.aliases:
            aliases[a.name] = a
        usr_set = "unqualified-search-registries" in other_obj
        return RegistriesConf(
            registries=tuple(by_prefix.values()),
            unqualified_search_registries=other.unqualified_search_registries
            if usr_set else self.unqualified_search_registries,
            short_name_mode=other.short_name_mode if other_obj.get("short-name-mode") else self.short_name_mode,
            credential_helpers=other.credential_helpers
            if "credential-helpers" in other_obj else self.credential_helpers,
            aliases=tuple(aliases.values()),
            search_registries_origin=other.search_registries_origin if usr_set else self.search_registries_origin,
            files=self.files + other.files,
        )

    def find_alias(self, name: str) -> Optional[Alias]:
        """The ``[aliases]`` entry for a short name (without tag/digest), if any."""
        for a in self.aliases:
            if a.name == name:
                return a
        return None

    def find_registry(self, name: str) -> Optional[Registry]:
        """The ``[[registry]]`` whose prefix matches ``name`` (host/repo[:tag][@digest]) longest."""
        best: Optional[Registry] = None
        best_len = -1
        for r in self.registries:
            if _prefix_matches(r.prefix, name):
                plen = len(r.prefix)
                if plen > best_len:
                    best, best_len = r, plen
        return best

    def is_insecure(self, host: str) -> bool:
        """Whether the ``[[registry]]`` table matching a host (host:port) says ``insecure``
        (TLS checks off, HTTP allowed)."""
        reg = self.find_registry(host)
        return bool(reg is not None and reg.insecure)

    def pull_sources(self, ref: DockerReference) -> List[PullSource]:
        """Where to try to pull ``ref`` from: the mirrors in order, then the primary location.

        Raises :class:`BlockedRegistry` if the matching table is blocked.
        """
        name = ref.string()
        reg = self.find_registry(name)
        if reg is None:
            return [PullSource(ref, self.is_insecure(ref.registry), False)]
        if reg.blocked:
            raise BlockedRegistry(f"registry {ref.registry} is blocked in registries.conf")
        by_digest = ref.digest is not None
        out: List[PullSource] = []
        for m in reg.mirrors:
            if m.pull_from_mirror == "digest-only" or reg.mirror_by_digest_only:
                if not by_digest:
                    continue
            if m.pull_from_mirror == "tag-only" and by_digest:
                continue
            r = _rewrite_ref(ref, reg.prefix, m.location)
            out.append(PullSource(r, m.insecure or self.is_insecure(r.registry), True))
        r = _rewrite_ref(ref, reg.prefix, reg.location)
        out.append(PullSource(r, reg.insecure or self.is_insecure(r.registry), False))
        return out

    def push_destination(self, ref: DockerReference) -> Tuple[DockerReference, bool]:
        """The rewritten reference to push to (no mirrors) and whether it is insecure."""
        reg = self.find_registry(ref.string())
        if reg is None:
            return ref, self.is_insecure(ref.registry)
        if reg.blocked:
            raise BlockedRegistry(f"registry {ref.registry} is blocked in registries.conf")
        r = _rewrite_ref(ref, reg.prefix, reg.location)
        return r, reg.insecure or self.is_insecure(r.registry)


def _rewrite_ref(ref: DockerReference, prefix: str, location: str) -> DockerReference:
    name = _rewrite(ref.name, prefix, location)
    try:
        new = parse_docker_reference(name + ":x", normalize=False)
    except ReferenceInvalid as e:
        raise ConfigError(f"registries.conf rewrites {ref.name} to invalid {name!r}: {e}") from None
    return DockerReference(new.registry, new.repository, ref.tag, ref.digest)


def default_paths(env: Optional[Mapping[str, str]] = None) -> Tuple[Optional[str], List[str]]:
    """The main file and the drop-in directories to read."""
    env = os.environ if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    user_dir = os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "containers")
    if env.get("CONTAINERS_REGISTRIES_CONF"):
        return env["CONTAINERS_REGISTRIES_CONF"], []
    user = os.path.join(user_dir, "registries.conf")
    main = user if os.path.exists(user) else "/etc/containers/registries.conf"
    return main, ["/etc/containers/registries.conf.d", os.path.join(user_dir, "registries.conf.d")]


def load_registries_conf(
    path: Optional[str] = None, dropin_dirs: Optional[Sequence[str]] = None,
    env: Optional[Mapping[str, str]] = None,
) -> RegistriesConf:
    """Read registries.conf and its drop-ins (see the module docstring)."""
    if path is None and dropin_dirs is None:
        path, dropin_dirs = default_paths(env)
    conf = RegistriesConf()
    files: List[str] = []
    if path and os.path.exists(path):
        files.append(path)
    for d in dropin_dirs or ():
        files.extend(sorted(glob.glob(os.path.join(d, "*.conf"))))
    for f in files:
        obj = read_toml_file(f)
        if obj is None:  # removed since it was listed
            continue
        conf = conf.merged_with(RegistriesConf.from_dict(obj, f), obj)
    return conf


_HOST_RE = re.compile(r"^[^/]+$")
