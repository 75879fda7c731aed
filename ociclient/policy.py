"""containers-policy.json: which images may be used, as containers-image decides.

Design: the JSON is parsed strictly into frozen values (:class:`Policy`, one
class per requirement and per identity rule), so a typo or an unknown field
is an error and never a weaker policy (containers-image refuses unknown keys
too).  Evaluation is pure: :meth:`Policy.requirements_for` picks the
requirements by scope (the transport's exact identity, then ever shorter
namespaces, then the transport's ``""``, then ``default``); :func:`evaluate`
runs every requirement of the list (all must accept) over the manifest bytes
and the signatures a caller fetched (:mod:`ociclient.signatures` does the
fetching).  Key files named by a policy are read when the policy is loaded,
so an unreadable key is an error before any image is looked at.

Scopes per transport, as containers-image's PolicyConfigurationIdentity and
PolicyConfigurationNamespaces: ``docker`` uses ``host/repo:tag`` (or
``@digest``), then ``host/repo``, ``host/ns``, ``host``, then ``*.domain``
wildcards; ``dir`` and ``oci`` use the absolute path (symlinks resolved; oci
with ``:image``) then its parent directories (not ``/``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import attrs

from . import pgpformat, simplesign
from .errors import OciError, ReferenceInvalid
from .reference import DockerReference, ImageReference, OciArchiveReference, OciLayoutReference, \
    parse_docker_reference

DEFAULT_POLICY = "/etc/containers/policy.json"
MAX_POLICY = 4 * 1024 * 1024
MAX_KEY_FILE = 16 * 1024 * 1024


class PolicyError(OciError):
    """A policy file (or a key it names) that cannot be read or does not parse."""


class PolicyRejected(OciError):
    """The policy does not allow the image."""


@attrs.frozen
class Signature:
    """One signature found for an image: its kind and the bytes as stored."""

    kind: str  # "simple-signing" or "sigstore"
    data: bytes
    annotations: Tuple[Tuple[str, str], ...] = ()  # sigstore: the layer's annotations


# ----------------------------------------------------------------------------- identity rules

def _named(s: str) -> Tuple[DockerReference, bool]:
    """A normalized reference and whether it is name-only (no tag, no digest)."""
    bare = parse_docker_reference(s, normalize=False)
    norm = parse_docker_reference(s)
    return norm, bare.tag is None and bare.digest is None


@attrs.frozen
class MatchRepoDigestOrExact:
    """A tagged image needs the very reference; a digested one, the same repository."""

    type = "matchRepoDigestOrExact"

    def matches(self, image: Optional[DockerReference], signed: str) -> bool:
        if image is None:
            return False
        sig, name_only = _named(signed)
        if name_only:
            return False
        if image.tag is not None:
            return sig.string() == image.string()
        return image.digest is not None and sig.name == image.name


@attrs.frozen
class MatchExact:
    """The signature names exactly the image's tagged or digested reference."""

    type = "matchExact"

    def matches(self, image: Optional[DockerReference], signed: str) -> bool:
        if image is None:
            return False
        sig, name_only = _named(signed)
        return not name_only and sig.string() == image.string()


@attrs.frozen
class MatchRepository:
    """The signature names the image's repository, any tag or digest."""

    type = "matchRepository"

    def matches(self, image: Optional[DockerReference], signed: str) -> bool:
        return image is not None and _named(signed)[0].name == image.name


@attrs.frozen
class ExactReference:
    """The signature names this tagged or digested reference, whatever the image is called."""

    docker_reference: str
    type = "exactReference"

    def matches(self, image: Optional[DockerReference], signed: str) -> bool:
        want, want_bare = _named(self.docker_reference)
        sig, name_only = _named(signed)
        return not want_bare and not name_only and sig.string() == want.string()


@attrs.frozen
class ExactRepository:
    """The signature names this repository, whatever the image is called."""

    docker_repository: str
    type = "exactRepository"

    def matches(self, image: Optional[DockerReference], signed: str) -> bool:
        return _named(signed)[0].name == _named(self.docker_repository)[0].name


@attrs.frozen
class RemapIdentity:
    """Rewrite the image's ``prefix`` to ``signed_prefix``, then matchRepoDigestOrExact."""

    prefix: str
    signed_prefix: str
    type = "remapIdentity"

    def matches(self, image: Optional[DockerReference], signed: str) -> bool:
        if image is not None:
            s = image.string()
            if _prefix_matches(self.prefix, s):
                image = parse_docker_reference(self.signed_prefix + s[len(self.prefix):])
        return MatchRepoDigestOrExact().matches(image, signed)


IdentityRule = Union[MatchRepoDigestOrExact, MatchExact, MatchRepository, ExactReference, ExactRepository,
                     RemapIdentity]


def _prefix_matches(prefix: str, s: str) -> bool:
    """containers-image's refMatchesPrefix: whole components only."""
    if not s.startswith(prefix):
        return False
    rest = s[len(prefix):]
    return rest == "" or rest[0] in "/:@" or prefix.endswith("/")


# ----------------------------------------------------------------------------- requirements

@attrs.frozen
class InsecureAcceptAnything:
    """Accept any image, signed or not."""

    type = "insecureAcceptAnything"


@attrs.frozen
class Reject:
    """Refuse every image."""

    type = "reject"


@attrs.frozen
class SignedBy:
    """Simple signing by one of the GPG keys, with an identity rule."""

    keyring: pgpformat.Keyring = attrs.field(repr=False)
    fingerprints: Tuple[str, ...]
    identity: IdentityRule
    type = "signedBy"


@attrs.frozen
class SigstoreSigned:
    """A sigstore (cosign) signature by one of the public keys, with an identity rule."""

    public_keys: Tuple[bytes, ...] = attrs.field(repr=False)
    identity: IdentityRule
    type = "sigstoreSigned"


Requirement = Union[InsecureAcceptAnything, Reject, SignedBy, SigstoreSigned]


@attrs.frozen
class Policy:
    """A parsed policy.json: the default requirements and those per transport and scope."""

    default: Tuple[Requirement, ...]
    transports: Mapping[str, Mapping[str, Tuple[Requirement, ...]]] = attrs.field(factory=dict)

    @property
    def default_is_insecure(self) -> bool:
        """Whether the default is a lone insecureAcceptAnything (ostree-ext refuses
        signed references under such a policy, as nothing would be checked)."""
        return len(self.default) == 1 and isinstance(self.default[0], InsecureAcceptAnything)

    def requirements_for(self, ref: ImageReference) -> Tuple[str, Tuple[Requirement, ...]]:
        """The scope that applies to ``ref`` ("" for the transport default,
        "default" for the global one) and its requirements."""
        scopes = self.transports.get(ref.transport)
        if scopes is not None:
            for scope in policy_scopes(ref):
                if scope in scopes:
                    return scope, scopes[scope]
            if "" in scopes:
                return "", scopes[""]
        return "default", self.default


def policy_scopes(ref: ImageReference) -> List[str]:
    """The identity of ``ref`` then its namespaces, most specific first."""
    if isinstance(ref, DockerReference):
        out = [ref.string()]
        name = ref.name
        while True:
            out.append(name)
            if "/" not in name:
                break
            name = name.rsplit("/", 1)[0]
        host = name.split(":")[0]  # wildcards carry no port, as containers-image
        while "." in host:
            host = host.split(".", 1)[1]
            out.append("*." + host)
        return out
    path = os.path.realpath(ref.path)
    out = []
    if isinstance(ref, (OciLayoutReference, OciArchiveReference)) and ref.tag:
        out.append(f"{path}:{ref.tag}")
    out.append(path)
    while True:
        i = path.rfind("/")
        if i <= 0:
            break
        path = path[:i]
        out.append(path)
    return out


# ----------------------------------------------------------------------------- parsing

def _fields(obj: Mapping[str, object], what: str, allowed: Sequence[str]) -> None:
    extra = set(obj) - set(allowed)
    if extra:
        raise PolicyError(f"Unknown key {sorted(extra)[0]!r} in {what}")


def _read(path: str, limit: int, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise PolicyError(f"Cannot read {what} {path}: {e.strerror}") from None
    if len(data) > limit:
        raise PolicyError(f"{what} {path} is over {limit} bytes")
    return data


def _key_blobs(req: Mapping[str, object], what: str, base: str) -> List[bytes]:
    given = [k for k in ("keyPath", "keyPaths", "keyData") if k in req]
    if len(given) != 1:
        raise PolicyError(f"{what} needs exactly one of keyPath, keyPaths and keyData")
    k = given[0]
    v = req[k]
    if k == "keyData":
        if not isinstance(v, str):
            raise PolicyError(f"{what}: keyData is not a string")
        try:
            return [base64.b64decode(v, validate=True)]
        except (binascii.Error, ValueError):
            raise PolicyError(f"{what}: keyData is not base64") from None
    paths = [v] if k == "keyPath" else v
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
        raise PolicyError(f"{what}: {k} must be a non-empty path" + ("" if k == "keyPath" else " list"))
    return [_read(os.path.join(base, p), MAX_KEY_FILE, "key file") for p in paths]


def _identity(v: object, what: str) -> IdentityRule:
    if v is None:
        return MatchRepoDigestOrExact()
    if not isinstance(v, dict) or not isinstance(v.get("type"), str):
        raise PolicyError(f"{what}: signedIdentity needs a type")
    t = v["type"]
    simple: Dict[str, IdentityRule] = {"matchExact": MatchExact(), "matchRepoDigestOrExact": MatchRepoDigestOrExact(),
                                       "matchRepository": MatchRepository()}
    try:
        if t in simple:
            _fields(v, f"{what} signedIdentity", ["type"])
            return simple[t]
        if t == "exactReference":
            _fields(v, f"{what} signedIdentity", ["type", "dockerReference"])
            ref, bare = _named(str(v.get("dockerReference", "")))
            if bare:
                raise PolicyError(f"{what}: exactReference needs a tag or digest")
            return ExactReference(str(v["dockerReference"]))
        if t == "exactRepository":
            _fields(v, f"{what} signedIdentity", ["type", "dockerRepository"])
            _named(str(v.get("dockerRepository", "")))
            return ExactRepository(str(v["dockerRepository"]))
        if t == "remapIdentity":
            _fields(v, f"{what} signedIdentity", ["type", "prefix", "signedPrefix"])
            p, s = v.get("prefix"), v.get("signedPrefix")
            if not isinstance(p, str) or not isinstance(s, str) or not p or not s:
                raise PolicyError(f"{what}: remapIdentity needs prefix and signedPrefix")
            return RemapIdentity(p, s)
    except ReferenceInvalid as e:
        raise PolicyError(f"{what}: {e}") from None
    raise PolicyError(f"{what}: unknown signedIdentity type {t!r}")


def _requirement(v: object, what: str, base: str) -> Requirement:
    if not isinstance(v, dict) or not isinstance(v.get("type"), str):
        raise PolicyError(f"{what}: a requirement needs a type")
    t = v["type"]
    if t == "insecureAcceptAnything":
        _fields(v, what, ["type"])
        return InsecureAcceptAnything()
    if t == "reject":
        _fields(v, what, ["type"])
        return Reject()
    if t == "signedBy":
        _fields(v, what, ["type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"])
        if v.get("keyType") != "GPGKeys":
            raise PolicyError(f"{what}: keyType {v.get('keyType')!r} is not supported (only GPGKeys)")
        kr = pgpformat.Keyring()
        for blob in _key_blobs(v, what, base):
            try:
                kr = kr + pgpformat.Keyring.from_bytes(blob)
            except pgpformat.OpenPGPError as e:
                raise PolicyError(f"{what}: bad GPG key: {e}") from None
        if not kr.certificates:
            raise PolicyError(f"{what}: no GPG keys")
        return SignedBy(kr, tuple(c.fingerprint for c in kr.certificates), _identity(v.get("signedIdentity"), what))
    if t == "sigstoreSigned":
        _fields(v, what, ["type", "keyPath", "keyPaths", "keyData", "fulcio", "rekorPublicKeyPath",
                          "rekorPublicKeyPaths", "rekorPublicKeyData", "pki", "signedIdentity"])
        for k in ("fulcio", "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "pki"):
            if k in v:
                raise PolicyError(f"{what}: sigstoreSigned with {k} is not supported by ociclient (only public keys)")
        return SigstoreSigned(tuple(_key_blobs(v, what, base)), _identity(v.get("signedIdentity"), what))
    raise PolicyError(f"{what}: unknown policy requirement type {t!r}")


def _requirements(v: object, what: str, base: str) -> Tuple[Requirement, ...]:
    if not isinstance(v, list) or not v:
        raise PolicyError(f"{what}: requirements must be a non-empty list")
    return tuple(_requirement(r, what, base) for r in v)


def parse_policy(data: bytes, base_dir: str = "/") -> Policy:
    """A policy from JSON bytes; relative key paths are relative to ``base_dir``."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise PolicyError(f"invalid policy: {e}") from None
    if not isinstance(doc, dict):
        raise PolicyError("invalid policy: not a JSON object")
    _fields(doc, "policy", ["default", "transports"])
    if "default" not in doc:
        raise PolicyError("invalid policy: Default policy is missing")
    default = _requirements(doc["default"], "default", base_dir)
    transports: Dict[str, Dict[str, Tuple[Requirement, ...]]] = {}
    tr = doc.get("transports", {})
    if not isinstance(tr, dict):
        raise PolicyError("invalid policy: transports is not an object")
    for name, scopes in tr.items():
        if not isinstance(scopes, dict):
            raise PolicyError(f"invalid policy: transports.{name} is not an object")
        transports[name] = {s: _requirements(r, f"transports.{name}[{s!r}]", base_dir) for s, r in scopes.items()}
    return Policy(default, transports)


def default_policy_path() -> str:
    """The user's ``~/.config/containers/policy.json`` if it exists, else
    ``/etc/containers/policy.json``: containers-image's order, whose home is
    $HOME (skopeo 1.18 ignores $XDG_CONFIG_HOME here; checked in the tests)."""
    user = os.path.join(os.path.expanduser("~"), ".config", "containers", "policy.json")
    return user if os.path.exists(user) else DEFAULT_POLICY


def load_policy(path: Optional[str] = None) -> Policy:
    """The policy at ``path`` (default :func:`default_policy_path`); a file
    that cannot be read or parsed is an error, never "accept"."""
    path = path or default_policy_path()
    return parse_policy(_read(path, MAX_POLICY, "policy"), os.path.dirname(os.path.abspath(path)))


INSECURE = Policy((InsecureAcceptAnything(),))


# ----------------------------------------------------------------------------- evaluation

@attrs.frozen
class Verdict:
    """Why an image was allowed: the scope used and, per signature requirement, who signed."""

    scope: str
    signed_by: Tuple[str, ...] = ()


def _image_identity(ref: ImageReference) -> Optional[DockerReference]:
    return ref if isinstance(ref, DockerReference) else None


def evaluate(policy: Policy, ref: ImageReference, manifest: bytes, signatures: Sequence[Signature],
             now: Optional[float] = None) -> Verdict:
    """Allow ``ref`` (whose top-level manifest is ``manifest``) or raise PolicyRejected."""
    scope, reqs = policy.requirements_for(ref)
    image = _image_identity(ref)
    signers: List[str] = []
    for req in reqs:
        if isinstance(req, InsecureAcceptAnything):
            continue
        if isinstance(req, Reject):
            raise PolicyRejected(f"Running image {ref} is rejected by policy.")
        kind = "simple-signing" if isinstance(req, SignedBy) else "sigstore"
        errors: List[str] = []
        accepted: Optional[str] = None
        for sig in signatures:
            if sig.kind != kind:
                continue
            try:
                accepted = _check(req, image, manifest, sig, now)
                break
            except OciError as e:
                errors.append(str(e))
        if accepted is None:
            if not errors:
                raise PolicyRejected("A signature was required, but no signature exists")
            raise PolicyRejected(errors[0] if len(errors) == 1 else "; ".join(errors))
        signers.append(accepted)
    return Verdict(scope, tuple(signers))


def _check(req: Requirement, image: Optional[DockerReference], manifest: bytes, sig: Signature,
           now: Optional[float]) -> str:
    if isinstance(req, SignedBy):
        payload = simplesign.verify(sig.data, req.keyring, req.fingerprints, manifest, now)
        signer = payload.signer
    else:
        from . import sigstore
        assert isinstance(req, SigstoreSigned)
        spayload = sigstore.verify(sig.data, dict(sig.annotations), req.public_keys, manifest)
        payload = spayload  # type: ignore[assignment]
        signer = "sigstore key"
    if not req.identity.matches(image, payload.docker_reference):
        raise PolicyRejected(f'Signature for identity "{payload.docker_reference}" is not accepted')
    return signer
