"""Credentials: ``--creds`` strings, auth.json files and docker-credential helpers.

Lookup follows containers-auth.json(5) / containers/image:

* Files, in order: the explicit auth file (``--authfile`` or ``REGISTRY_AUTH_FILE``) *instead
  of* ``$XDG_RUNTIME_DIR/containers/auth.json``; then
  ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``; then ``$DOCKER_CONFIG/config.json``
  (default ``~/.docker/config.json``); then the legacy ``~/.dockercfg``. The first file with a
  matching credential wins.
* Within a file, keys are matched from the most specific namespace to the host:
  ``host/ns/img``, ``host/ns``, ``host``. Keys with a scheme or ``/v1/`` suffix (docker's
  ``https://index.docker.io/v1/``) are normalised to the host.
* ``credHelpers`` (per registry host) and ``credsStore`` in a file name a
  ``docker-credential-<helper>`` program that is asked with ``get``.

:func:`parse_auth_file` and :func:`lookup_in_config` are pure; the rest read files or run
helpers. The shape of a file is declared once (:data:`AUTH_FILE_SCHEMA`,
:data:`LEGACY_AUTH_FILE_SCHEMA`) and every file is checked against it when read, so a file of
the wrong shape is a :class:`~ociclient.errors.ConfigError` and a helper name that could not be
run (NUL, ``/``, thousands of characters) is refused before anything is executed.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import attrs

from .errors import ConfigError, CredentialHelperError
from .schema import HELPER_NAME, MapOf, Obj, Str, check, checked_json, opt

IDENTITY_TOKEN_USER = "<token>"

#: auth files are a few KiB; a larger one is refused rather than read into memory
MAX_AUTH_FILE_SIZE = 4 * 1024 * 1024

_ENTRY = Obj({
    "auth": opt(Str()), "username": opt(Str()), "password": opt(Str()),
    "identitytoken": opt(Str()), "email": opt(Str()),
})

AUTH_FILE_SCHEMA = Obj({
    "auths": opt(MapOf(_ENTRY)),
    "credHelpers": opt(MapOf(HELPER_NAME)),
    "credsStore": opt(HELPER_NAME),
})

#: ``~/.dockercfg``: the ``auths`` map is the whole file
LEGACY_AUTH_FILE_SCHEMA = MapOf(_ENTRY)

#: what ``docker-credential-<helper> get`` prints
HELPER_OUTPUT_SCHEMA = Obj({"Username": opt(Str()), "Secret": opt(Str()), "ServerURL": opt(Str())})


@attrs.frozen
class Credentials:
    """A username/password pair, or an OAuth2 identity (refresh) token."""

    username: str = ""
    password: str = attrs.field(default="", repr=False)
    identity_token: Optional[str] = attrs.field(default=None, repr=False)

    @classmethod
    def parse(cls, creds: str) -> "Credentials":
        """``USER[:PASSWORD]`` as given to ``--creds``."""
        user, _, password = creds.partition(":")
        if not user:
            raise ConfigError("credentials must be USERNAME[:PASSWORD] with a non-empty username")
        return cls(username=user, password=password)

    @property
    def basic(self) -> str:
        try:
            raw = f"{self.username}:{self.password}".encode()
        except UnicodeEncodeError:  # e.g. undecodable bytes from the command line
            raise ConfigError("username or password is not valid Unicode") from None
        return base64.b64encode(raw).decode()


def _normalize_key(key: str) -> str:
    if "://" in key:
        key = key.split("://", 1)[1]
    if key.endswith("/v1/") or key.endswith("/v1"):
        key = key.rsplit("/v1", 1)[0]
    key = key.rstrip("/")
    if key in ("index.docker.io", "registry-1.docker.io"):
        key = "docker.io"
    return key


def candidate_keys(registry: str, repository: Optional[str] = None) -> List[str]:
    """Keys to try, most specific first: ``host/a/b``, ``host/a``, ``host``."""
    keys = []
    if repository:
        parts = repository.split("/")
        for i in range(len(parts), 0, -1):
            keys.append(f"{registry}/{'/'.join(parts[:i])}")
    keys.append(registry)
    return keys


def _decode_auth(entry: Mapping[str, Any]) -> Optional[Credentials]:
    token = entry.get("identitytoken") or None
    auth = entry.get("auth")
    user = password = ""
    if auth:
        try:
            raw = base64.b64decode(auth).decode()
        except Exception:
            raise ConfigError("auth.json entry has an invalid base64 'auth' value") from None
        user, sep, password = raw.partition(":")
        if not sep:
            raise ConfigError("auth.json 'auth' value does not decode to user:password")
    elif entry.get("username") or entry.get("password"):
        user, password = entry.get("username", ""), entry.get("password", "")
    if not user and not token:
        return None
    return Credentials(username=user, password=password, identity_token=token)


def lookup_in_config(
    config: Mapping[str, Any], registry: str, repository: Optional[str] = None, *, legacy: bool = False
) -> Tuple[Optional[Credentials], Optional[str]]:
    """Find credentials for ``registry``/``repository`` in a parsed auth file.

    Returns ``(credentials, helper)``: a helper name when the file delegates the registry to
    ``credHelpers`` / ``credsStore`` (credentials is then ``None``).
    """
    helpers = config.get("credHelpers") or {}
    if not legacy:
        for key in (registry,):
            if key in helpers:
                return None, helpers[key]
    auths = config if legacy else (config.get("auths") or {})
    normalized: Dict[str, Mapping[str, Any]] = {}
    for k, v in auths.items():
        if isinstance(v, Mapping):
            nk = _normalize_key(k)
            # an exact key wins over a normalised duplicate
            if nk not in normalized or k == nk:
                normalized[nk] = v
    for key in candidate_keys(registry, repository):
        entry = normalized.get(key)
        if entry is not None:
            creds = _decode_auth(entry)
            if creds is not None:
                return creds, None
    store = None if legacy else config.get("credsStore")
    if store:
        return None, store
    return None, None


@attrs.frozen
class AuthFilePath:
    """One file credentials are looked up in; ``legacy`` for the old ``~/.dockercfg`` format (no
    ``auths`` wrapper, no helpers)."""

    path: str
    legacy: bool = False


def auth_file_paths(authfile: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> List[AuthFilePath]:
    """The files to search, in order (see the module docstring)."""
    env = os.environ if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    paths = [AuthFilePath(default_auth_file(authfile, env))]
    xdg_config = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    paths.append(AuthFilePath(os.path.join(xdg_config, "containers", "auth.json")))
    docker_config = env.get("DOCKER_CONFIG")
    if docker_config:
        paths.append(AuthFilePath(os.path.join(docker_config, "config.json")))
    else:
        paths.append(AuthFilePath(os.path.join(home, ".docker", "config.json")))
    paths.append(AuthFilePath(os.path.join(home, ".dockercfg"), legacy=True))
    return paths


def default_auth_file(authfile: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> str:
    """Where ``login`` writes: the explicit file, ``REGISTRY_AUTH_FILE``,
    ``$XDG_RUNTIME_DIR/containers/auth.json`` or ``/run/containers/<uid>/auth.json``."""
    env = os.environ if env is None else env
    if authfile:
        return authfile
    if env.get("REGISTRY_AUTH_FILE"):
        return env["REGISTRY_AUTH_FILE"]
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "containers", "auth.json")
    return os.path.join("/run/containers", str(os.getuid()), "auth.json")


def parse_auth_file(data: bytes, path: str = "auth.json", *, legacy: bool = False) -> Dict[str, Any]:
    """Parse and check the bytes of an auth file (``legacy``: ``~/.dockercfg``); an empty
    file is an empty object."""
    if not data.strip():
        return {}
    obj = checked_json(data, LEGACY_AUTH_FILE_SCHEMA if legacy else AUTH_FILE_SCHEMA, path, ConfigError)
    if not isinstance(obj, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return obj


def _read_json(path: str, legacy: bool = False) -> Optional[Dict[str, Any]]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_AUTH_FILE_SIZE + 1)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:  # ValueError: a path with NUL
        raise ConfigError(f"reading {path}: {e}") from None
    if len(data) > MAX_AUTH_FILE_SIZE:
        raise ConfigError(f"{path} is over {MAX_AUTH_FILE_SIZE} bytes")
    return parse_auth_file(data, path, legacy=legacy)


def helper_get(helper: str, server: str, env: Optional[Mapping[str, str]] = None) -> Optional[Credentials]:
    """Run ``docker-credential-<helper> get`` for ``server``; ``None`` if it has nothing."""
    check(helper, HELPER_NAME, "credential helper name", CredentialHelperError)
    prog = f"docker-credential-{helper}"
    try:
        p = subprocess.run(
            [prog, "get"], input=server.encode(), capture_output=True, timeout=60,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError:
        raise CredentialHelperError(f"credential helper {prog} not found in PATH") from None
    except subprocess.TimeoutExpired:
        raise CredentialHelperError(f"credential helper {prog} timed out") from None
    except OSError as e:
        raise CredentialHelperError(f"running credential helper {prog}: {e}") from None
    out = p.stdout.decode(errors="replace").strip()
    if p.returncode != 0:
        if "credentials not found" in (out + p.stderr.decode(errors="replace")).lower():
            return None
        raise CredentialHelperError(f"credential helper {prog} failed: {out or p.stderr.decode(errors='replace').strip()}")
    obj = checked_json(out, HELPER_OUTPUT_SCHEMA, f"output of credential helper {prog}", CredentialHelperError)
    if not isinstance(obj, dict):
        raise CredentialHelperError(f"credential helper {prog} did not print a JSON object")
    user, secret = obj.get("Username") or "", obj.get("Secret") or ""
    if user == IDENTITY_TOKEN_USER:
        return Credentials(identity_token=secret)
    if not user and not secret:
        return None
    return Credentials(username=user, password=secret)


def _helper_run(helper: str, verb: str, payload: bytes) -> None:
    check(helper, HELPER_NAME, "credential helper name", CredentialHelperError)
    prog = f"docker-credential-{helper}"
    try:
        p = subprocess.run([prog, verb], input=payload, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise CredentialHelperError(f"credential helper {prog} not found in PATH") from None
    except subprocess.TimeoutExpired:
        raise CredentialHelperError(f"credential helper {prog} timed out") from None
    except OSError as e:
        raise CredentialHelperError(f"running credential helper {prog}: {e}") from None
    if p.returncode != 0:
        raise CredentialHelperError(
            f"credential helper {prog} {verb} failed: {(p.stdout + p.stderr).decode(errors='replace').strip()}"
        )


def lookup_credentials(
    registry: str,
    repository: Optional[str] = None,
    *,
    authfile: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    credential_helpers: Sequence[str] = (),
) -> Optional[Credentials]:
    """Find credentials for a registry (host[:port]) and optional repository path.

    :param credential_helpers: extra helper names from registries.conf
        ``credential-helpers`` tried after the files (``containers-auth.json`` means the
        files and is skipped).
    """
    for ap in auth_file_paths(authfile, env):
        config = _read_json(ap.path, ap.legacy)
        if not config:
            continue
        creds, helper = lookup_in_config(config, registry, repository, legacy=ap.legacy)
        if creds is not None:
            return creds
        if helper:
            got = helper_get(helper, registry, env)
            if got is not None:
                return got
    for helper in credential_helpers:
        if helper == "containers-auth.json":
            continue
        got = helper_get(helper, registry, env)
        if got is not None:
            return got
    return None


def _write_json_atomic(path: str, obj: Mapping[str, Any]) -> None:
    from .fsutil import atomic_write
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    atomic_write(path, (json.dumps(obj, indent="\t") + "\n").encode(), mode=0o600)


def login_key(server: str) -> str:
    """The auth.json key for a ``login`` argument (host or host/namespace)."""
    key = _normalize_key(server)
    if key.startswith("docker.io/") or key == "docker.io":
        return key
    return key


def store_credentials(server: str, creds: Credentials, *, authfile: Optional[str] = None,
                      env: Optional[Mapping[str, str]] = None) -> str:
    """Write ``server`` → creds into the auth file (or its credHelper); returns the file path."""
    path = default_auth_file(authfile, env)
    config = _read_json(path) or {}
    key = login_key(server)
    helper = (config.get("credHelpers") or {}).get(key.split("/", 1)[0])
    if helper:
        _helper_run(helper, "store", json.dumps(
            {"ServerURL": key, "Username": creds.username, "Secret": creds.password}).encode())
        return path
    auths = config.setdefault("auths", {})
    entry: Dict[str, Any] = {"auth": creds.basic}
    if creds.identity_token:
        entry["identitytoken"] = creds.identity_token
    auths[key] = entry
    _write_json_atomic(path, config)
    return path


def remove_credentials(server: Optional[str], *, authfile: Optional[str] = None,
                       env: Optional[Mapping[str, str]] = None, all: bool = False) -> bool:
    """Remove the entry for ``server`` (or every entry with ``all``). True if something was removed."""
    path = default_auth_file(authfile, env)
    config = _read_json(path)
    if config is None:
        return False
    if all:
        removed = bool(config.get("auths"))
        config["auths"] = {}
        _write_json_atomic(path, config)
        return removed
    assert server is not None
    key = login_key(server)
    helper = (config.get("credHelpers") or {}).get(key.split("/", 1)[0])
    if helper:
        _helper_run(helper, "erase", key.encode())
        return True
    auths = config.get("auths") or {}
    removed = False
    for k in list(auths):
        if _normalize_key(k) == key:
            del auths[k]
            removed = True
    if removed:
        _write_json_atomic(path, config)
    return removed
