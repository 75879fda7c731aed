"""Remotes as libostree keeps them: ``[remote "NAME"]`` groups of a repository's
config, ``remotes.d/*.conf`` beside it, and a sysroot's ``/etc/ostree/remotes.d``.

Where remotes live follows ``ostree-repo.c`` (``reload_remote_config``,
``get_remotes_d_dir``, ``impl_repo_remote_add``/``_delete``):

- the repository config is read first, then every regular ``*.conf`` file of
  the remotes directory; a name found twice is an error ("Multiple
  specifications found"), never a silent override;
- there is a remotes directory only for a *system* repository: one opened
  through a sysroot (``sysroot=``, as ``--sysroot`` does) that is not the
  physical root (it has a ``sysroot/`` directory: a deployment), where it is
  ``SYSROOT/etc/ostree/remotes.d``; or ``/ostree/repo`` itself, where it is
  ``/etc/ostree/remotes.d``;
- a new remote is written as ``remotes.d/NAME.conf`` when that directory
  exists for the repository and ``core.add-remotes-config-dir`` (default: the
  repository is a system one) allows; otherwise into the repository config;
- a ``parent`` repository's remotes are visible, and its options fill in keys
  a child's group of the same name lacks (``ostree_repo_get_remote_option``).

Every change is written whole to a temporary file and renamed over the old one.
Option values are text as the keyfile holds them; :func:`add_remote` takes
``str``, ``bool`` and lists of strings as ``ostree_repo_remote_add`` maps its
``a{sv}`` (``s``, ``b``, ``as``).
"""

from __future__ import annotations

import os

from .._deferred import Deferred
from ..errors import OstreeError
from ..store.keyfile import KeyFile
from ..store.refs import validate_remote_name
from ..fsutil import write_file_atomic
from ..store.repo import Repo

__all__ = ["Remote", "RemoteError", "RemoteFields", "RemoteOptions", "list_remotes", "load_remote",
           "load_remote_fields", "add_remote", "replace_remote", "delete_remote", "remote_option", "remote_url",
           "remotes_dir", "jar_path"]

# Remote is an attrs class built on first use (ostreepy._deferred): a pull reads its remote as
# RemoteFields, and builds no Remote (nor imports attrs)
_DEFERRED = Deferred(globals())

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

    from attrs import frozen as _value

    OptionValue = Union[str, bool, Sequence[str]]
else:
    _value = _DEFERRED.register

#: in the repository's own config (libostree prints "(in config)" for it)
IN_CONFIG = "config"
SYSCONF_REMOTES = "etc/ostree/remotes.d"


class RemoteError(OstreeError):
    """A remote that does not exist, or whose configuration is not usable."""


class RemoteOptions:
    """What a remote's options say (its URL, signature policy, branches...), read from its
    ``name``, ``url`` and ``options``: the methods of :class:`Remote` and of :class:`RemoteFields`."""

    __slots__ = ()

    if TYPE_CHECKING:
        name: str
        url: str
        options: Tuple[Tuple[str, str], ...]
        source: Optional[str]

    def option(self, key: str, default: Optional[str] = None) -> Optional[str]:
        for k, v in self.options:
            if k == key:
                return v
        return default

    def option_bool(self, key: str, default: bool) -> bool:
        v = self.option(key)
        if v is None:
            return default
        return v.strip().lower() in ("true", "1", "yes")

    @property
    def gpg_verify(self) -> bool:
        return self.option_bool("gpg-verify", True)

    @property
    def gpg_verify_summary(self) -> bool:
        return self.option_bool("gpg-verify-summary", False)

    def sign_types(self, key: str) -> Optional[Tuple[str, ...]]:
        """The signature types ``key`` (``sign-verify``, ``sign-verify-summary``)
        turns on, read as libostree's verifiers_from_config reads it: unset, empty,
        ``false`` or ``0`` is off (None); ``true`` or ``1`` is every type this build
        has, with whatever keys are configured (``()``); anything else is a list of
        type names (GKeyFile's, ``;``-separated), each then needing keys of its
        own. ``no`` is such a list, and an unknown type is refused where it is used,
        as libostree refuses it."""
        raw = self.option(key)
        if raw is None or raw == "":
            return None
        if raw in ("true", "1"):
            return ()
        if raw in ("false", "0"):
            return None
        return tuple(t for t in raw.split(";") if t)

    @property
    def sign_verify(self) -> bool:
        return self.sign_types("sign-verify") is not None

    @property
    def sign_verify_summary(self) -> bool:
        return self.sign_types("sign-verify-summary") is not None

    @property
    def branches(self) -> List[str]:
        v = self.option("branches")
        return [b for b in (v or "").split(";") if b]

    @property
    def collection_id(self) -> Optional[str]:
        return self.option("collection-id") or None

    @property
    def contenturl(self) -> str:
        """Where content objects come from: ``contenturl`` when set, else the URL."""
        return self.option("contenturl") or self.url

    @property
    def keyring(self) -> str:
        """The remote's GPG keyring file, relative to the repository."""
        return f"{self.name}.trustedkeys.gpg"


@_value
class Remote(RemoteOptions):
    """One remote: its name, URL and every option of its group (as text)."""

    name: str
    url: str
    options: Tuple[Tuple[str, str], ...] = ()
    #: the file the remote was read from: ``"config"`` (the repo config) or a remotes.d path
    source: Optional[str] = None


class RemoteFields(RemoteOptions):
    """:class:`Remote`'s fields in a plain class: what a pull reads a remote's configuration
    into (:func:`load_remote_fields`), building no attrs value for it; :meth:`value` is the
    Remote."""

    __slots__ = ("name", "url", "options", "source")

    def __init__(self, name: str, url: str, options: Tuple[Tuple[str, str], ...] = (),
                 source: Optional[str] = None) -> None:
        self.name = name
        self.url = url
        self.options = options
        self.source = source

    def value(self) -> Remote:
        return _DEFERRED.build("Remote")(  # type: ignore[no-any-return]
            name=self.name, url=self.url, options=self.options, source=self.source)


def _group(name: str) -> str:
    return f'remote "{name}"'


def _name_of(group: str) -> Optional[str]:
    # ostree_remote_new_from_keyfile: ^remote "(.+)"$
    if group.startswith('remote "') and group.endswith('"') and len(group) > len('remote ""'):
        return group[len('remote "'):-1]
    return None


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _is_system(repo: Repo, sysroot: Optional[str]) -> bool:
    return sysroot is not None or _same_file(repo.path, "/ostree/repo")


def remotes_dir(repo: Repo, sysroot: Optional[str] = None) -> Optional[str]:
    """The remotes.d directory of ``repo`` (opened through ``sysroot`` if given), or None."""
    if sysroot is not None:
        # a physical root (no sysroot/ inside: not a deployment) keeps its remotes in the repo
        if not os.path.lexists(os.path.join(sysroot, "sysroot")):
            return None
        return os.path.join(os.path.abspath(sysroot), SYSCONF_REMOTES)
    if _same_file(repo.path, "/ostree/repo"):
        return "/" + SYSCONF_REMOTES
    return None


def _read_groups(kf: KeyFile, source: str, out: Dict[str, Tuple[str, List[Tuple[str, str]]]]) -> None:
    found: Dict[str, Tuple[str, List[Tuple[str, str]]]] = {}
    for group in kf.groups():
        name = _name_of(group)
        if name is None:
            continue
        if name in out:
            raise RemoteError(f'Reloading remotes: Multiple specifications found for remote "{name}"')
        found[name] = (source, list(kf.items(group)))
    out.update(found)


def _load_all(repo: Repo, sysroot: Optional[str]) -> Dict[str, Tuple[str, List[Tuple[str, str]]]]:
    """name -> (source, options), the repo config first, then remotes.d."""
    out: Dict[str, Tuple[str, List[Tuple[str, str]]]] = {}
    _read_groups(repo.config, IN_CONFIG, out)
    d = remotes_dir(repo, sysroot)
    if d is None:
        return out
    try:
        names = sorted(os.listdir(d))
    except (FileNotFoundError, NotADirectoryError):
        return out
    except OSError as e:
        raise RemoteError(f"Reloading remotes: {d}: {e.strerror}") from None
    for fname in names:
        path = os.path.join(d, fname)
        if not fname.endswith(".conf") or not os.path.isfile(path):
            continue
        try:
            with open(path, "r", encoding="utf-8") as f:
                kf = KeyFile.parse(f.read())
        except (OSError, UnicodeDecodeError, OstreeError) as e:
            raise RemoteError(f"Reloading remotes: Failed to parse {path}: {e}") from None
        _read_groups(kf, path, out)
    return out


def _make(name: str, source: str, opts: List[Tuple[str, str]],
          inherited: Optional[RemoteFields] = None) -> RemoteFields:
    if inherited is not None:
        have = {k for k, _ in opts}
        opts = opts + [(k, v) for k, v in inherited.options if k not in have]
    url = dict(opts).get("url")
    if url is None:
        raise RemoteError(f'No "url" option in remote "{name}"')
    return RemoteFields(name, url, tuple(opts), source)


def list_remotes(repo: Repo, sysroot: Optional[str] = None) -> List[Remote]:
    """Every remote of ``repo`` (and of its parents), sorted by name.

    A remote without ``url`` (a metalink or custom-backend one) is listed with
    an empty URL; :func:`remote_url` is what refuses it."""
    names = sorted(_list_names(repo, sysroot))
    return [_load(repo, n, sysroot, require_url=False).value() for n in names]


def _list_names(repo: Repo, sysroot: Optional[str]) -> List[str]:
    names = set(_load_all(repo, sysroot))
    if repo.parent is not None:
        names.update(_list_names(repo.parent, None))
    return list(names)


def _load(repo: Repo, name: str, sysroot: Optional[str], require_url: bool = True) -> RemoteFields:
    if name.startswith("file://"):
        # libostree takes a file:// URL where a remote name goes, with default options
        return RemoteFields(name, name, (), None)
    remotes = _load_all(repo, sysroot)
    parent: Optional[RemoteFields] = None
    if repo.parent is not None:
        try:
            parent = _load(repo.parent, name, None, require_url=False)
        except RemoteError:
            parent = None
    if name not in remotes:
        if parent is not None:
            if require_url and not parent.url:
                raise RemoteError(f'No "url" option in remote "{name}"')
            return parent
        raise RemoteError(f'Remote "{name}" not found')
    source, opts = remotes[name]
    try:
        return _make(name, source, opts, parent)
    except RemoteError:
        if require_url:
            raise
        return RemoteFields(name, "", tuple(opts), source)


def load_remote(repo: Repo, name: str, sysroot: Optional[str] = None, *, require_url: bool = True) -> Remote:
    """The remote ``name``; :class:`RemoteError` if there is none or (unless not
    ``require_url``: a ``metalink`` or ``custom-backend`` remote) it has no ``url``."""
    return _load(repo, name, sysroot, require_url=require_url).value()


def load_remote_fields(repo: Repo, name: str, sysroot: Optional[str] = None, *,
                       require_url: bool = True) -> RemoteFields:
    """:func:`load_remote` as :class:`RemoteFields` (a pull's reading of its remote)."""
    return _load(repo, name, sysroot, require_url=require_url)


def remote_option(repo: Repo, name: str, key: str, default: Optional[str] = None,
                  sysroot: Optional[str] = None) -> Optional[str]:
    """One option of a remote as text (``default`` when the remote lacks it)."""
    return _load(repo, name, sysroot, require_url=False).option(key, default)


def remote_url(repo: Repo, name: str, sysroot: Optional[str] = None) -> str:
    """``ostree_repo_remote_get_url``: the ``url`` option, required."""
    return _load(repo, name, sysroot).url


def jar_path(repo_path: str, remote_name: str) -> str:
    """Where a remote's cookie jar lives: ``REPO/REMOTE.cookies.txt`` (read and written by
    :mod:`ostreepy.remote.cookies`, which a pull imports only when the file is there)."""
    return os.path.join(repo_path, f"{remote_name}.cookies.txt")


def _set_options(kf: KeyFile, group: str, url: Optional[str],
                 options: Union[Mapping[str, OptionValue], Sequence[Tuple[str, OptionValue]]]) -> None:
    if url:
        if url.startswith("metalink="):
            kf.set(group, "metalink", url[len("metalink="):])
        else:
            kf.set(group, "url", url)
    from collections.abc import Mapping as _Mapping  # (typing's is for type checkers only)
    items = options.items() if isinstance(options, _Mapping) else options
    for key, value in items:
        if isinstance(value, bool):
            kf.set_bool(group, key, value)
        elif isinstance(value, str):
            kf.set(group, key, value)
        else:
            kf.set_string_list(group, key, list(value))


def _write_repo_config(repo: Repo, new: KeyFile) -> None:
    old = repo.config
    repo.config = new
    try:
        repo.write_config()
    except BaseException:
        repo.config = old
        raise


def _copy(kf: KeyFile) -> KeyFile:
    return KeyFile.parse(kf.to_text())


def _write_remote_file(path: str, kf: KeyFile) -> None:
    try:
        write_file_atomic(path, kf.to_text().encode(), 0o644)
    except OSError as e:
        raise RemoteError(f"{path}: {e.strerror}") from None


def add_remote(repo: Repo, name: str, url: Optional[str],
               options: Union[Mapping[str, OptionValue], Sequence[Tuple[str, OptionValue]], None] = None,
               if_not_exists: bool = False, sysroot: Optional[str] = None) -> Remote:
    """Add a remote as ``ostree remote add`` does; returns it as configured.

    ``url`` may be ``metalink=URL`` (stored as ``metalink``); ``options`` map
    keys to text, booleans or string lists, written in their order."""
    validate_remote_name(name)
    existing = _load_all(repo, sysroot).get(name)
    if existing is not None:
        if if_not_exists:
            return _load(repo, name, sysroot, require_url=False).value()
        where = "(in config)" if existing[0] == IN_CONFIG else existing[0]
        raise RemoteError(f'Remote configuration for "{name}" already exists: {where}')
    group = _group(name)
    d = remotes_dir(repo, sysroot)
    if d is not None and repo.config.get_bool("core", "add-remotes-config-dir", _is_system(repo, sysroot)):
        kf = KeyFile()
        _set_options(kf, group, url, options or {})
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise RemoteError(f"{d}: {e.strerror}") from None
        _write_remote_file(os.path.join(d, f"{name}.conf"), kf)
    else:
        new = _copy(repo.config)
        _set_options(new, group, url, options or {})
        _write_repo_config(repo, new)
    return _load(repo, name, sysroot, require_url=False).value()


def replace_remote(repo: Repo, name: str, url: Optional[str],
                   options: Union[Mapping[str, OptionValue], Sequence[Tuple[str, OptionValue]], None] = None,
                   sysroot: Optional[str] = None) -> Remote:
    """``remote add --force``: the remote's whole group replaced where it lives, or added."""
    validate_remote_name(name)
    existing = _load_all(repo, sysroot).get(name)
    if existing is None:
        return add_remote(repo, name, url, options, sysroot=sysroot)
    group = _group(name)
    source = existing[0]
    if source == IN_CONFIG:
        new = _copy(repo.config)
        new.remove_group(group)
        _set_options(new, group, url, options or {})
        _write_repo_config(repo, new)
    else:
        kf = KeyFile()
        _set_options(kf, group, url, options or {})
        _write_remote_file(source, kf)
    return _load(repo, name, sysroot, require_url=False).value()


def delete_remote(repo: Repo, name: str, if_exists: bool = False, sysroot: Optional[str] = None) -> bool:
    """Remove a remote (its group or its remotes.d file) and its GPG keyring.
    Returns False when it did not exist and ``if_exists`` allowed that."""
    validate_remote_name(name)
    existing = _load_all(repo, sysroot).get(name)
    if existing is None:
        if if_exists:
            return False
        raise RemoteError(f'Remote "{name}" not found')
    source = existing[0]
    if source == IN_CONFIG:
        new = _copy(repo.config)
        if new.remove_group(_group(name)):
            _write_repo_config(repo, new)
    else:
        try:
            os.unlink(source)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise RemoteError(f"{source}: {e.strerror}") from None
    try:
        os.unlink(os.path.join(repo.path, f"{name}.trustedkeys.gpg"))
    except FileNotFoundError:
        pass
    except OSError as e:
        raise RemoteError(f"{name}.trustedkeys.gpg: {e.strerror}") from None
    return True


_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)
