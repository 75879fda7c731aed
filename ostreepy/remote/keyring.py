"""The OpenPGP keys a remote trusts, found where libostree finds them.

For a remote ``NAME`` (``_ostree_repo_gpg_prepare_verifier`` and
``find_keyring`` in ostree-repo.c):

1. ``<repo>/NAME.trustedkeys.gpg`` or, failing that, the same file in a
   sysroot's ``/etc/ostree/remotes.d`` (the repo is a sysroot's
   ``ostree/repo``), or in a parent repository's directory;
2. plus every key file named by the remote's ``gpgkeypath=`` (``;`` or ``,``
   separated; a directory stands for each regular file in it);
3. only when step 1 found nothing: the global keyrings, every ``*.gpg`` in
   ``$OSTREE_GPG_HOME`` or ``/usr/share/ostree/trusted.gpg.d`` (except
   ``trustdb.gpg`` and ``secring.gpg``).

``import_keys`` merges keys into the remote's keyring file the way
``ostree remote gpg-import`` does (binary transferable keys, replaced
atomically); the count it returns is of keys new to that file.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.parse
from typing import Dict, List, Optional, Sequence, Tuple

import attrs

from ociclient.pgpformat import (TAG_PUBLIC_KEY, TAG_PUBLIC_SUBKEY, TAG_SECRET_KEY, TAG_SECRET_SUBKEY,
                                 TAG_USER_ATTRIBUTE, TAG_USER_ID, glib_c_time)

from ..errors import SignatureError
from .openpgp import Certificate, Keyring, OpenPGPError
from ..store.repo import Repo
from .config import RemoteOptions, load_remote

GLOBAL_KEYRING_DIR = "/usr/share/ostree/trusted.gpg.d"
MAX_KEYRING = 64 * 1024 * 1024


@attrs.frozen
class SubkeyInfo:
    """A subkey of a :class:`KeyInfo`: times in seconds since the epoch; invalid
    when no good binding signature ties it to its primary."""

    fingerprint: str
    created: int
    expires: Optional[int]
    revoked: bool
    invalid: bool


@attrs.frozen
class UserIDInfo:
    """A user ID of a :class:`KeyInfo`; invalid when no good self-signature covers it."""

    uid: str
    revoked: bool
    invalid: bool


@attrs.frozen
class KeyInfo:
    """One key of a remote's keyring, as ``ostree remote list-gpg-keys`` shows it."""

    fingerprint: str
    created: int
    expires: Optional[int]
    revoked: bool
    invalid: bool
    user_ids: Tuple[UserIDInfo, ...]
    subkeys: Tuple[SubkeyInfo, ...]

    def describe(self, now: Optional[float] = None) -> str:
        """The text ``ostree remote list-gpg-keys`` prints for this key (ot-dump.c)."""
        now = time.time() if now is None else now

        stamp = glib_c_time

        def head(label: str, indent: str, fpr: str, created: int, expires: Optional[int],
                 revoked: bool, invalid: bool) -> List[str]:
            out = [f"{label}: {fpr}{' (revoked)' if revoked else ''}{' (invalid)' if invalid else ''}",
                   f"{indent}Created: {stamp(created)}"]
            if expires:
                out.append(f"{indent}{'Expired' if now >= expires else 'Expires'}: {stamp(expires)}")
            return out

        lines = head("Key", "  ", self.fingerprint, self.created, self.expires, self.revoked, self.invalid)
        for u in self.user_ids:
            advanced, direct = wkd_urls(u.uid)
            lines += [f"  UID: {u.uid}{' (revoked)' if u.revoked else ''}{' (invalid)' if u.invalid else ''}",
                      f"  Advanced update URL: {advanced}", f"  Direct update URL: {direct}"]
        for s in self.subkeys:
            lines += head("  Subkey", "    ", s.fingerprint, s.created, s.expires, s.revoked, s.invalid)
        return "\n".join(lines) + "\n"


_ZBASE32 = "ybndrfg8ejkmcpqxot1uwisza345h769"


def _zbase32(data: bytes) -> str:
    bits = int.from_bytes(data, "big")
    n = (len(data) * 8 + 4) // 5
    bits <<= n * 5 - len(data) * 8
    return "".join(_ZBASE32[(bits >> (5 * (n - 1 - i))) & 31] for i in range(n))


def wkd_urls(uid: str) -> Tuple[str, str]:
    """The Web Key Directory URLs ostree shows for a user ID's address
    (ot_gpg_wkd_urls), or empty strings when it has no single address."""
    m = re.search(r"<([^<>]*)>", uid)
    email = m.group(1) if m else (uid if "@" in uid and " " not in uid else "")
    parts = email.split("@")
    if len(parts) != 2:
        return "", ""
    local, domain = parts
    enc = _zbase32(hashlib.sha1(local.lower().encode()).digest())
    esc = urllib.parse.quote(local, safe="")
    return (f"https://openpgpkey.{domain}/.well-known/openpgpkey/{domain.lower()}/hu/{enc}?l={esc}",
            f"https://{domain}/.well-known/openpgpkey/hu/{enc}?l={esc}")


def keyring_file_name(remote_name: str) -> str:
    """``NAME.trustedkeys.gpg``: the remote's own keyring file, in the repository directory."""
    return f"{remote_name}.trustedkeys.gpg"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEYRING + 1)
    except OSError as e:
        raise SignatureError(f"GPG: Can't read keyring {path}: {e.strerror}") from None
    if len(data) > MAX_KEYRING:
        raise SignatureError(f"GPG: keyring {path} is over {MAX_KEYRING} bytes")
    return data


def _remotes_d(repo: Repo) -> Optional[str]:
    """A sysroot's /etc/ostree/remotes.d when ``repo`` is that sysroot's ostree/repo."""
    parent, name = os.path.split(repo.path)
    root, ostree = os.path.split(parent)
    if name == "repo" and ostree == "ostree":
        d = os.path.join(root, "etc", "ostree", "remotes.d")
        if os.path.isdir(d):
            return d
    return None


def find_keyring(repo: Repo, remote_name: str) -> Optional[str]:
    """The path of the remote's own keyring file, if there is one."""
    name = keyring_file_name(remote_name)
    r: Optional[Repo] = repo
    while r is not None:
        for d in (r.path, _remotes_d(r)):
            if d and os.path.isfile(os.path.join(d, name)):
                return os.path.join(d, name)
        r = r.parent
    return None


def _keypath_list(value: str) -> List[str]:
    """``gpgkeypath`` split as ot_keyfile_get_string_list_with_separator_choice
    splits it: by whichever one of ';' and ',' it holds (both is an error), as a
    GLib list, so a leading separator gives an empty path and a trailing one none."""
    seps = [c for c in ";," if c in value]
    if not seps:
        return [value]
    if len(seps) > 1:
        raise SignatureError("key value list contains more than one separator")
    parts = value.split(seps[0])
    return parts[:-1] if parts and parts[-1] == "" else parts


def _keypath_files(remote: RemoteOptions) -> List[str]:
    """The key files of ``gpgkeypath``: a directory stands for each regular file
    in it; a path that is neither a directory nor a file (the empty one too) is
    an error worded as _ostree_gpg_verifier_add_keyfile_path's opendir()."""
    value = remote.option("gpgkeypath")
    out: List[str] = []
    for path in _keypath_list(value) if value is not None else []:
        try:
            names = sorted(os.listdir(path))
        except NotADirectoryError:
            out.append(path)
            continue
        except OSError as e:
            raise SignatureError(f"GPG: opendir({path}): {e.strerror}") from None
        out += [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
    return out


def keyring_dir_files(d: str) -> List[str]:
    """The keyrings of a directory as libostree reads one: its regular ``*.gpg``
    files but ``trustdb.gpg`` and ``secring.gpg`` (so not a gpg 2.2 ``pubring.kbx``)."""
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, n) for n in sorted(os.listdir(d))
            if n.endswith(".gpg") and n not in ("trustdb.gpg", "secring.gpg") and os.path.isfile(os.path.join(d, n))]


def global_keyring_files() -> List[str]:
    """``$OSTREE_GPG_HOME`` or /usr/share/ostree/trusted.gpg.d, as libostree's global keyrings."""
    return keyring_dir_files(os.environ.get("OSTREE_GPG_HOME") or GLOBAL_KEYRING_DIR)


def keyring_from_files(paths: Sequence[str], imported: Sequence[str] = ()) -> Keyring:
    """The keys of keyring or key files (binary or armored), in order; those of
    ``imported`` are key files read as gpgme imports them (see :func:`_load`)."""
    kr = Keyring()
    for path in paths:
        kr = kr + _load(path, path in imported)
    return kr


def keyring_files(repo: Optional[Repo], remote: RemoteOptions, global_keyrings: bool = True) -> List[str]:
    """Every file whose keys ``remote``'s signatures are checked against, in order."""
    own = find_keyring(repo, remote.name) if repo is not None else None
    files = [own] if own else []
    files += _keypath_files(remote)
    if own is None and global_keyrings:
        files += global_keyring_files()
    return files


_CACHE: Dict[Tuple[str, int, int, int], Keyring] = {}


def _load(path: str, imported: bool = False) -> Keyring:
    """A keyring file, parsed once while it stays the same file (a pull checks many
    commits against it; checking self-signatures costs public-key operations).
    An ``imported`` file (``gpgkeypath``) that holds no OpenPGP keys has none, as
    libostree's gpgme_op_import of it finds none without an error (a directory
    given there holds a GnuPG home's trustdb.gpg in test-remote-gpg-import.sh)."""
    try:
        st = os.stat(path)
        key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    try:
        kr = Keyring.from_bytes(_read(path))
    except OpenPGPError as e:
        if not imported:
            raise SignatureError(f"GPG: keyring {path}: {e}") from None
        return Keyring()
    if key is not None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = kr
    return kr


def keyring_for(repo: Optional[Repo], remote: RemoteOptions) -> Keyring:
    """The keys that may sign for ``remote`` (see the module docstring)."""
    return keyring_from_files(keyring_files(repo, remote), _keypath_files(remote))


def any_remote_keyring(repo: Repo, keyring_dir: Optional[str] = None) -> Keyring:
    """The keys a commit already in ``repo`` is checked against when no remote is
    named (libostree's OSTREE_ALL_REMOTES): every ``*.gpg`` of the repository
    directory, the global keyrings, and ``keyring_dir``'s ``*.gpg``."""
    return keyring_from_files(keyring_dir_files(repo.path) + global_keyring_files()
                              + (keyring_dir_files(keyring_dir) if keyring_dir else []))


def _key_info(cert: Certificate, now: float) -> KeyInfo:
    p = cert.primary
    # a revoked primary key revokes its user IDs and subkeys too, as gpg (and so gpgme,
    # whose flags ostree prints) lists them
    return KeyInfo(
        fingerprint=p.fingerprint, created=p.created, expires=p.expires, revoked=p.revoked, invalid=not p.valid,
        user_ids=tuple(UserIDInfo(u.text, u.revoked or p.revoked, not u.valid) for u in cert.user_ids),
        subkeys=tuple(SubkeyInfo(s.fingerprint, s.created, s.expires, s.revoked or p.revoked, not s.valid)
                      for s in cert.subkeys))


def list_keys(repo: Repo, remote_name: Optional[str], key_ids: Sequence[str] = ()) -> List[KeyInfo]:
    """The keys of the remote's keyring and ``gpgkeypath`` (not the global ones,
    as ``ostree_repo_remote_get_gpg_keys`` for a named remote); with no remote named,
    the global keyrings' (``$OSTREE_GPG_HOME`` or trusted.gpg.d), as ostree's NULL name."""
    if remote_name is None:
        kr = keyring_from_files(global_keyring_files())
    else:
        remote = load_remote(repo, remote_name)
        kr = keyring_from_files(keyring_files(repo, remote, global_keyrings=False))
    now = time.time()
    return [_key_info(c, now) for c in _named(list(kr.certificates), key_ids)]


def _named(certs: List[Certificate], key_ids: Sequence[str]) -> List[Certificate]:
    """The certificates each of ``key_ids`` matches, in that order (all when none
    are given), as gpgme_get_key finds one key per ID for ostree."""
    if not key_ids:
        return certs
    picked: List[Certificate] = []
    for kid in key_ids:
        found = [c for c in certs if c.matches(kid)]
        if not found:
            raise SignatureError(f'GPG: Unable to find key "{kid}"')
        picked += found
    return picked


# ----------------------------------------------------------------------------- import

def _components(cert: Certificate) -> List[Tuple[bytes, List[bytes]]]:
    """(leading packet, its signatures) for the primary, each user ID and each subkey."""
    comps: List[Tuple[bytes, List[bytes]]] = []
    for p in cert.packets:
        if p.tag in (TAG_PUBLIC_KEY, TAG_USER_ID, TAG_USER_ATTRIBUTE, TAG_PUBLIC_SUBKEY):
            comps.append((p.raw, []))
        elif p.tag in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            raise SignatureError("GPG: refusing to import a secret key into a remote's keyring")
        elif comps:
            comps[-1][1].append(p.raw)
    return comps


def _merge(old: Certificate, new: Certificate) -> bytes:
    comps = _components(old)
    index: Dict[bytes, List[bytes]] = {lead: sigs for lead, sigs in comps}
    for lead, sigs in _components(new):
        if lead in index:
            index[lead].extend(s for s in sigs if s not in index[lead])
        else:
            comps.append((lead, list(sigs)))
            index[lead] = comps[-1][1]
    return b"".join(lead + b"".join(sigs) for lead, sigs in comps)


def _raw(cert: Certificate) -> bytes:
    return b"".join(lead + b"".join(sigs) for lead, sigs in _components(cert))


def import_keys(repo: Repo, remote_name: str, data: bytes, key_ids: Sequence[str] = ()) -> int:
    """Add the keys in ``data`` (armored or binary; only those ``key_ids`` name,
    when given) to ``<repo>/<remote>.trustedkeys.gpg``; the number of keys new
    to it.  Keys without a valid self-signature are skipped, as gpg skips them."""
    from ..fsutil import write_file_atomic
    load_remote(repo, remote_name)
    try:
        incoming = Keyring.from_bytes(data)
    except OpenPGPError as e:
        raise SignatureError(f"GPG: Unable to import keys: {e}") from None
    certs: List[Certificate] = []
    for c in _named(list(incoming.certificates), key_ids):
        if c not in certs:  # a key named twice goes in once
            certs.append(c)
    path = os.path.join(repo.path, keyring_file_name(remote_name))
    existing = list(_load(path).certificates) if os.path.exists(path) else []
    blocks: Dict[str, bytes] = {c.fingerprint: _raw(c) for c in existing}
    order = [c.fingerprint for c in existing]
    by_fpr = {c.fingerprint: c for c in existing}
    imported = 0
    for c in certs:
        if not c.primary.valid or not c.fingerprint:
            continue
        if c.fingerprint in by_fpr:
            blocks[c.fingerprint] = _merge(by_fpr[c.fingerprint], c)
        else:
            blocks[c.fingerprint] = _raw(c)
            order.append(c.fingerprint)
            by_fpr[c.fingerprint] = c
            imported += 1
    write_file_atomic(path, b"".join(blocks[f] for f in order), 0o644)
    return imported


__all__ = ["KeyInfo", "SubkeyInfo", "UserIDInfo", "any_remote_keyring", "find_keyring", "global_keyring_files", "import_keys",
           "keyring_dir_files", "keyring_file_name", "keyring_files", "keyring_for", "keyring_from_files", "list_keys",
           "wkd_urls"]
