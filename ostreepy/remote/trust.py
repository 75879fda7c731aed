"""Signature policy of a pull: what a remote's options demand of a commit or
summary before any of its content is written.

The pull engine calls :func:`verify_commit` with a commit object's bytes and
its detached metadata before it writes the commit, and :func:`verify_summary`
before it trusts a summary.  Each returns normally when the remote's policy is
met and raises :class:`~ostreepy.errors.SignatureError` otherwise, with
libostree's texts (ostree-repo-pull-verify.c, ostree-repo-pull.c):

* GPG (``gpg-verify``, default true; ``gpg-verify-summary``, default false):
  ``ostree.gpgsigs`` (``aay``, one OpenPGP signature packet each) must hold at
  least one valid signature by a key of the remote's keyring
  (:mod:`.keyring`), checked natively by :mod:`ostreepy.remote.openpgp`.
* signapi (``sign-verify``, ``sign-verify-summary``): ``true`` means every
  signature type this build has (:data:`~ostreepy.store.signing.SIGN_TYPES`:
  ed25519, and libostree's test signer ``dummy``) with whatever keys the
  remote configures (``verification-TYPE-key`` inline,
  ``verification-TYPE-file``) or else the system's trusted key directories; a
  list of type names makes each named type require configured keys.  A type
  counts only where the signed data carries signatures of it.

The keyring file ``<repo>/<remote>.trustedkeys.gpg`` needs the repository:
pass it as ``repo=``; without it only ``gpgkeypath`` and the global keyrings
count.

A pull loads the signapi keys once, as it starts (:func:`check_remote_keys`, libostree's
_signapi_init_for_remote), and hands the :class:`SignKeys` to every check it makes
(``keys=``); a check without them loads the remote's keys itself.  The GPG keyring is read
for each check, as libostree reads it for each verification.
"""

from __future__ import annotations

import hashlib

from .._deferred import Deferred
from ..errors import ChecksumMismatchError, OstreeError, SignatureError
from ..store.objects import parse_commitmeta

# SignKeys is an attrs class built on first use (ostreepy._deferred): a pull whose remote
# verifies no signapi signatures loads no keys (remote_keys: None) and builds none
_DEFERRED = Deferred(globals())

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import List, Mapping, Optional, Sequence, Tuple

    from attrs import frozen as _value

    from ..store.gvariant import Variant
    from ..store.repo import Repo
    from .config import RemoteOptions as Remote
else:
    _value = _DEFERRED.register

if TYPE_CHECKING:
    # the signapi side (store.signing: its Signer class, base64) is imported where a remote
    # asks for sign-verify: ~0.9 ms of the start-up of every pull that does not
    from ..store.signing import Signer

GPGSIGS = "ostree.gpgsigs"


def _gpg_signatures(meta: Optional[Mapping[str, Variant]]) -> Optional[bytes]:
    v = (meta or {}).get(GPGSIGS)
    if not isinstance(v, _variant()) or v.type != "aay":
        return None
    return b"".join(bytes(x) for x in v.value)


def _gpg_verify(remote: Remote, data: bytes, meta: Optional[Mapping[str, Variant]],
                repo: Optional[Repo]) -> str:
    sigs = _gpg_signatures(meta)
    if sigs is None:
        raise SignatureError("GPG verification enabled, but no signatures found (use gpg-verify=false "
                             "in remote config to disable)")
    # here, not at the top: the OpenPGP code is most of a pull's start-up imports, and
    # only a remote with gpg-verify needs it
    from .keyring import keyring_for
    from .openpgp import OpenPGPError, require_valid, verify_detached
    keyring = keyring_for(repo, remote)
    try:
        checks = verify_detached(data, sigs, keyring)
    except OpenPGPError as e:
        raise SignatureError(f"GPG: {e}") from None
    good = require_valid(checks)
    return f'Good signature from "{good.user_id}" (key {good.fingerprint})'


def _sign_value(remote: Remote, key: str) -> Optional[List[str]]:
    """The signature types ``key`` enables; None when off, [] when "true"."""
    types = remote.sign_types(key)
    return None if types is None else list(types)


@_value
class SignKeys:
    """A remote's signapi verifiers as a pull loaded them: ``commit`` for ``sign-verify``,
    ``summary`` for ``sign-verify-summary``, None where that setting is off."""

    commit: Optional[Tuple[Signer, ...]] = None
    summary: Optional[Tuple[Signer, ...]] = None


def check_remote_keys(remote: Remote, *, key_dirs: Optional[Sequence[str]] = None) -> SignKeys:
    """The remote's ``sign-verify`` and ``sign-verify-summary`` settings loaded as a
    pull starts (libostree's _signapi_init_for_remote), so that an unknown type or a
    named type without keys is refused before anything is fetched; the keys loaded are
    what the pull's checks then use."""
    loaded: List[Optional[Tuple[Signer, ...]]] = []
    for key in ("sign-verify", "sign-verify-summary"):
        types = _sign_value(remote, key)
        loaded.append(None if types is None else tuple(_signers(remote, types, key_dirs)))
    return _DEFERRED.build("SignKeys")(*loaded)  # type: ignore[no-any-return]


def remote_keys(remote: Remote, *, key_dirs: Optional[Sequence[str]] = None) -> Optional[SignKeys]:
    """:func:`check_remote_keys`, or None where the remote has neither ``sign-verify`` nor
    ``sign-verify-summary`` on: then there are no keys to load (nor a SignKeys to build), and
    the checks, given none, find no signapi setting to apply."""
    if remote.sign_types("sign-verify") is None and remote.sign_types("sign-verify-summary") is None:
        return None
    return check_remote_keys(remote, key_dirs=key_dirs)


def _loaded(remote: Remote, types: List[str], key_dirs: Optional[Sequence[str]],
            keys: Optional[Tuple[Signer, ...]]) -> List[Signer]:
    return list(keys) if keys is not None else _signers(remote, types, key_dirs)


def _signers(remote: Remote, types: List[str], key_dirs: Optional[Sequence[str]]) -> List[Signer]:
    """The verifiers of ``types`` (all this build has when empty); ``key_dirs`` None: ostree's
    default places for the keys of a type named without any (/etc/ostree, /usr/share/ostree)."""
    from ..store.signing import (DEFAULT_KEY_DIRS, KEY_FILE_TYPES, SIGN_TYPES, Signer, check_sign_type,
                                 load_public_keys, read_key_file)
    if key_dirs is None:
        key_dirs = DEFAULT_KEY_DIRS
    out = []
    required = bool(types)
    for t in (types or list(SIGN_TYPES)):
        t = check_sign_type(t.strip())
        pk_file = remote.option(f"verification-{t}-file")
        pk_inline = remote.option(f"verification-{t}-key")
        if pk_file is None and pk_inline is None:
            if required:
                raise SignatureError(f"No keys found for required signapi type {t}")
            out.append(load_public_keys(t, keys_dirs=key_dirs))
            continue
        public: List[str] = []
        if pk_file is not None:
            try:
                if t not in KEY_FILE_TYPES:
                    raise SignatureError(f"{t}: keys files are not implemented")
                public += read_key_file(pk_file)
            except SignatureError:
                raise SignatureError(f"Failed loading '{t}' keys from '{pk_file}") from None
        if pk_inline is not None:
            public.append(pk_inline.strip())
        out.append(Signer(t, public=tuple(public)))
    return out


def _sign_verify(signers: List[Signer], data: bytes, meta: Mapping[str, Variant]) -> str:
    found = False
    errors: List[str] = []
    for s in signers:
        v = meta.get(s.metadata_key)
        if not isinstance(v, _variant()) or v.type != "aay":
            continue
        found = True
        try:
            return s.verify(data, [bytes(x) for x in v.value])
        except SignatureError as e:
            errors.append(str(e))
    if not found:
        raise SignatureError("No signatures found")
    msg = errors[0]
    if len(errors) > 1:
        msg = f"({len(errors) - 1} other invalid signatures): {msg}"
    raise SignatureError(msg)


def verify_commit(remote: Remote, checksum: str, commit: bytes,
                  detached: Optional[Mapping[str, Variant]], *, repo: Optional[Repo] = None,
                  key_dirs: Optional[Sequence[str]] = None, keys: Optional[SignKeys] = None) -> None:
    """Check ``commit`` (the commit object's bytes) against ``remote``'s
    gpg-verify / sign-verify policy, from its detached metadata."""
    actual = hashlib.sha256(commit).hexdigest()
    if actual != checksum:
        raise ChecksumMismatchError(checksum, actual, "commit")
    if remote.gpg_verify:
        try:
            _gpg_verify(remote, commit, detached, repo)
        except SignatureError as e:
            raise SignatureError(f"Commit {checksum}: {e}") from None
    types = _sign_value(remote, "sign-verify")
    if types is not None:
        signers = _loaded(remote, types, key_dirs, keys.commit if keys is not None else None)
        if detached is None:
            raise SignatureError("Can't verify commit without detached metadata")
        try:
            _sign_verify(signers, commit, detached)
        except SignatureError as e:
            raise SignatureError(f"Can't verify commit: {e}") from None


def verify_summary(remote: Remote, summary: bytes, summary_sig: Optional[bytes], *,
                   repo: Optional[Repo] = None, key_dirs: Optional[Sequence[str]] = None,
                   keys: Optional[SignKeys] = None) -> None:
    """Check ``summary`` against ``summary.sig`` (an ``a{sv}``) under the remote's
    gpg-verify-summary / sign-verify-summary policy."""
    types = _sign_value(remote, "sign-verify-summary")
    if not remote.gpg_verify_summary and types is None:
        return
    meta: Optional[Mapping[str, Variant]] = None
    if summary_sig is not None:
        try:
            meta = parse_commitmeta(summary_sig)
        except OstreeError:
            # GLib reads a malformed a{sv} as holding nothing, so libostree finds no
            # signatures in it ("No signatures found"), and so do we
            meta = {}
    if remote.gpg_verify_summary:
        if meta is None:
            raise SignatureError("GPG verification enabled, but no summary.sig found (use "
                                 "gpg-verify-summary=false in remote config to disable)")
        _gpg_verify(remote, summary, meta, repo)
    if types is not None:
        signers = _loaded(remote, types, key_dirs, keys.summary if keys is not None else None)
        if meta is None:
            raise SignatureError("Signatures verification enabled, but no summary.sig found (use "
                                 "sign-verify-summary=false in remote config to disable)")
        try:
            _sign_verify(signers, summary, meta)
        except SignatureError as e:
            raise SignatureError(f"Can't verify summary: {e}") from None


def verify_static_delta(remote: Remote, superblock: bytes, signatures: Optional[Mapping[str, Variant]], *,
                        key_dirs: Optional[Sequence[str]] = None, keys: Optional[SignKeys] = None) -> Optional[str]:
    """A signed static-delta superblock (``superblock``: the plain bytes the
    signatures cover) against the remote's ``sign-verify`` keys; None when the
    remote has sign-verify off or the superblock carries no signatures.

    libostree's pull reads no signed superblock (it relies on the to-commit's
    own signatures, which are checked too); ``core.sign-verify-deltas`` is an
    ``apply-offline`` setting. A signature a superblock does carry is not left
    unchecked when the remote names keys."""
    types = _sign_value(remote, "sign-verify")
    if types is None or signatures is None:
        return None
    signers = _loaded(remote, types, key_dirs, keys.commit if keys is not None else None)
    try:
        return _sign_verify(signers, superblock, signatures)
    except SignatureError as e:
        raise SignatureError(f"Static delta signature verification failed: {e}") from None


def describe_gpg_signatures(remote: Remote, commit: bytes, detached: Optional[Mapping[str, Variant]],
                            prefix: str, *, repo: Optional[Repo] = None) -> Optional[str]:
    """Every GPG signature of a commit checked against ``remote``'s keys, as
    ostree_gpg_verify_result_describe writes them (each line after ``prefix``);
    None when the commit has no ``ostree.gpgsigs`` (ostree's G_IO_ERROR_NOT_FOUND)."""
    sigs = _gpg_signatures(detached)
    if sigs is None:
        return None
    from .keyring import keyring_for
    from .openpgp import OpenPGPError, verify_detached
    try:
        checks = verify_detached(commit, sigs, keyring_for(repo, remote))
    except OpenPGPError as e:
        raise SignatureError(f"GPG: {e}") from None
    return "".join(f"{prefix}{line}\n" for c in checks for line in c.describe().split("\n"))


def gpg_verify_result_text(remote: Remote, data: bytes, detached: Optional[Mapping[str, Variant]], *,
                           repo: Optional[Repo] = None) -> str:
    """ostree_print_gpg_verify_result's text for the GPG signatures of ``detached``
    over ``data`` (a summary and its ``summary.sig``, as ``ostree remote summary``
    prints them): a count line, then each signature after a blank line, indented."""
    sigs = _gpg_signatures(detached)
    if sigs is None:
        # ostree_repo_verify_summary finds no signature in it
        raise SignatureError("No signatures found")
    from .keyring import keyring_for
    from .openpgp import OpenPGPError, verify_detached
    try:
        checks = verify_detached(data, sigs, keyring_for(repo, remote))
    except OpenPGPError as e:
        raise SignatureError(f"GPG: {e}") from None
    out = [f"GPG: Verification enabled, found {len(checks)} signature{'' if len(checks) == 1 else 's'}:\n"]
    out += ["\n" + "".join(f"  {line}\n" for line in c.describe().split("\n")) for c in checks]
    return "".join(out)


def require_commit_verification(remote: Remote) -> None:
    """A remote that verifies commits at all: ``gpg-verify`` on, or ``sign-verify`` naming
    types (read as libostree reads it: GKeyFile's true/false/1/0, else a list of types).
    ostree_repo_signature_verify_commit_data refuses one with neither rather than passing."""
    if not remote.gpg_verify and _sign_value(remote, "sign-verify") is None:
        raise SignatureError(f"Cannot verify commit for remote {remote.name}; GPG verification disabled, "
                             "and no signapi verifiers configured")


def signature_verify_commit_data(remote: Remote, commit: bytes, detached: Optional[Mapping[str, Variant]], *,
                                 repo: Optional[Repo] = None, key_dirs: Optional[Sequence[str]] = None) -> str:
    """``ostree_repo_signature_verify_commit_data(repo, remote, commit, detached, 0)``
    (ostree-repo-pull-verify.c), what ostree-ext verifies an image's embedded commit
    with: GPG when the remote has ``gpg-verify`` (default true) and the ``sign-verify``
    types, each that is on must find a good signature, and a remote with neither is
    an error rather than a pass.  Returns libostree's results text: lines starting
    with ``GPG:`` describing every OpenPGP signature, then the signapi success message."""
    # in libostree's order: no detached metadata is refused before the remote is looked at
    if detached is None:
        raise SignatureError("Can't verify commit without detached metadata")
    gpg = remote.gpg_verify
    types = _sign_value(remote, "sign-verify")
    signers = _signers(remote, types, key_dirs) if types is not None else None
    require_commit_verification(remote)
    out = ""
    if gpg:
        sigs = _gpg_signatures(detached)
        if sigs is None:
            raise SignatureError("GPG verification enabled, but no signatures found (use gpg-verify=false "
                                 "in remote config to disable)")
        from .keyring import keyring_for
        from .openpgp import OpenPGPError, require_valid, verify_detached
        try:
            checks = verify_detached(commit, sigs, keyring_for(repo, remote))
        except OpenPGPError as e:
            raise SignatureError(f"GPG: {e}") from None
        require_valid(checks)
        out = "".join("".join(f"GPG: {line}\n" for line in c.describe().split("\n")) for c in checks)
    if signers is not None:
        try:
            msg = _sign_verify(signers, commit, detached)
        except SignatureError as e:
            raise SignatureError(f"Can't verify commit: {e}") from None
        out = (out + "\n" if out else "") + msg
    return out


def _variant() -> type[Variant]:
    from ..store import gvariant
    return gvariant.Variant


_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)
