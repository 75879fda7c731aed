"""Where an image's signatures live, and reading and writing them.

Design: configuration and naming are pure (:func:`parse_registries_d` for the
YAML subset registries.d files use, :meth:`RegistriesD.lookaside_for`
resolving each setting on its own through the ``docker`` namespaces, most
specific first, then ``default-docker``, then containers-image's built-in
lookaside; :func:`lookaside_url` naming
``<base>/<repo>@<algo>=<hex>/signature-<n>`` as containers-image does); the
I/O is a thin layer: ``dir:`` images keep ``signature-<n>`` files beside
``manifest.json``; lookaside stores are read over ``file://`` or HTTP(S) and
written (``lookaside-staging``, else ``lookaside``) only over ``file://``;
sigstore signatures live in a registry as ``sha256-<hex>.sig`` attachment
manifests, read and extended as containers-image does.
Reading stops at the first missing index, as containers-image does.

Signature blobs use containers-image's storage form: a simple signature is
its OpenPGP bytes as they are; other kinds start with a NUL, their format
name and a newline.
"""

from __future__ import annotations

import glob
import os
import re
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Tuple, Union

import attrs

from .errors import OciError
from .fsutil import atomic_write
from .policy import Signature
from .reference import DirReference, DockerReference, ImageReference

if TYPE_CHECKING:
    from .image import Options

DEFAULT_REGISTRIES_D = "/etc/containers/registries.d"
MAX_SIGNATURES = 128
MAX_SIGNATURE_BYTES = 4 * 1024 * 1024
MAX_CONFIG = 1024 * 1024


class RegistriesDError(OciError):
    """A registries.d file that cannot be read or parsed."""


# ----------------------------------------------------------------------------- registries.d

YamlValue = Union[str, bool, Dict[str, "YamlValue"]]


def _scalar(text: str, where: str) -> Union[str, bool]:
    t = text.strip()
    if t and t[0] in "\"'":
        if len(t) < 2 or t[-1] != t[0]:
            raise RegistriesDError(f"{where}: unterminated quoted string")
        return t[1:-1]
    if t in ("true", "True", "yes"):
        return True
    if t in ("false", "False", "no"):
        return False
    return t


def parse_registries_d(text: str, name: str = "registries.d") -> Dict[str, YamlValue]:
    """The block-mapping YAML subset registries.d files are written in
    (nested ``key: value`` by indentation, comments, quoted scalars); anything
    else is an error rather than a guess."""
    root: Dict[str, YamlValue] = {}
    stack: List[Tuple[int, Dict[str, YamlValue]]] = [(0, root)]
    pending: Optional[Tuple[int, Dict[str, YamlValue], str]] = None
    for n, line in enumerate(text.splitlines(), 1):
        where = f"{name}:{n}"
        body = re.sub(r"(^|\s)#.*$", "", line).rstrip()
        if not body.strip() or body.strip() == "---":
            continue
        indent = len(body) - len(body.lstrip(" "))
        if body[indent] == "\t":
            raise RegistriesDError(f"{where}: tabs in indentation")
        m = re.match(r"^\s*(.+?):(?:\s+(.*))?$", body)
        if not m or body.lstrip().startswith("- "):
            raise RegistriesDError(f"{where}: not a 'key: value' line")
        if pending is not None:
            pind, parent, pkey = pending
            if indent > pind:
                child: Dict[str, YamlValue] = {}
                parent[pkey] = child
                stack.append((indent, child))
            pending = None
        while indent < stack[-1][0]:
            stack.pop()
        if indent != stack[-1][0]:
            raise RegistriesDError(f"{where}: bad indentation")
        cur = stack[-1][1]
        key = str(_scalar(m.group(1), where))
        if key in cur:
            raise RegistriesDError(f"{where}: duplicate key {key!r}")
        if not m.group(2):
            cur[key] = ""
            pending = (indent, cur, key)
        else:
            cur[key] = _scalar(m.group(2), where)
    return root


@attrs.frozen
class LookasideConfig:
    """The signature storage settings of one registries.d namespace (None: not set there)."""

    lookaside: Optional[str] = None
    lookaside_staging: Optional[str] = None
    use_sigstore_attachments: Optional[bool] = None


_KEYS = {"lookaside": "lookaside", "lookaside-staging": "lookaside_staging",
         "use-sigstore-attachments": "use_sigstore_attachments"}
_OLD_KEYS = {"sigstore": "lookaside", "sigstore-staging": "lookaside_staging"}  # deprecated spellings


def _config(v: YamlValue, where: str) -> LookasideConfig:
    """One namespace's settings; keys containers-image does not know are ignored,
    as its (non-strict) YAML decoding does."""
    if v == "":
        return LookasideConfig()
    if not isinstance(v, dict):
        raise RegistriesDError(f"{where}: not a mapping")
    kw: Dict[str, object] = {}
    old: Dict[str, object] = {}
    for k, x in v.items():
        field = _KEYS.get(k) or _OLD_KEYS.get(k)
        if field is None:
            continue
        if field == "use_sigstore_attachments":
            if not isinstance(x, bool):
                raise RegistriesDError(f"{where}: use-sigstore-attachments is not a boolean")
        elif not isinstance(x, str):
            raise RegistriesDError(f"{where}: {k} is not a URL")
        if x == "":
            continue
        (kw if k in _KEYS else old)[field] = x
    for field, value in old.items():  # used only where the new spelling is absent
        kw.setdefault(field, value)
    return LookasideConfig(**kw)  # type: ignore[arg-type]


def builtin_default_lookaside() -> str:
    """containers-image's lookaside where none is configured: /var/lib/containers/sigstore
    for root, ``~/.local/share/containers/sigstore`` for anyone else."""
    if os.geteuid() == 0:
        return "file:///var/lib/containers/sigstore"
    return "file://" + os.path.join(os.path.expanduser("~"), ".local/share/containers/sigstore")


@attrs.frozen
class RegistriesD:
    """Every registries.d file merged: ``default-docker`` and the ``docker`` namespaces;
    ``builtin`` is the lookaside used when none is configured (set by :func:`load_registries_d`)."""

    default: LookasideConfig = LookasideConfig()
    docker: Mapping[str, LookasideConfig] = attrs.field(factory=dict)
    builtin: Optional[str] = None

    def lookaside_for(self, ref: DockerReference) -> LookasideConfig:
        """The settings for ``ref``, each resolved on its own as containers-image
        does: the most specific ``docker`` namespace that sets it, else
        ``default-docker``; for writing (``lookaside_staging``) a namespace's
        staging URL before its lookaside; no lookaside anywhere means the
        built-in one.  The result has every field set (attachments default off)."""
        from .policy import policy_scopes
        chain = [self.docker[s] for s in policy_scopes(ref) if s in self.docker] + [self.default]
        read = next((c.lookaside for c in chain if c.lookaside), None) or self.builtin
        write = next((c.lookaside_staging or c.lookaside for c in chain if c.lookaside_staging or c.lookaside),
                     None) or self.builtin
        attach = next((c.use_sigstore_attachments for c in chain if c.use_sigstore_attachments is not None), False)
        return LookasideConfig(read, write, attach)


def default_registries_d() -> str:
    """The user's ``~/.config/containers/registries.d`` if it exists, else
    /etc/containers/registries.d (containers-image's order, $HOME-based as for
    policy.json)."""
    user = os.path.join(os.path.expanduser("~"), ".config", "containers", "registries.d")
    return user if os.path.isdir(user) else DEFAULT_REGISTRIES_D


def load_registries_d(directory: Optional[str] = None) -> RegistriesD:
    """Every ``*.yaml`` of ``directory`` (default /etc/containers/registries.d);
    a namespace configured twice is an error, as in containers-image."""
    d = directory or default_registries_d()
    default: Optional[LookasideConfig] = None
    docker: Dict[str, LookasideConfig] = {}
    for path in sorted(glob.glob(os.path.join(d, "*.yaml"))):
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_CONFIG + 1)
        except OSError as e:
            raise RegistriesDError(f"Cannot read {path}: {e.strerror}") from None
        if len(raw) > MAX_CONFIG:
            raise RegistriesDError(f"{path} is over {MAX_CONFIG} bytes")
        try:
            doc = parse_registries_d(raw.decode(), path)
        except UnicodeDecodeError:
            raise RegistriesDError(f"{path} is not UTF-8") from None
        for k, v in doc.items():
            if k == "default-docker":
                if default is not None:
                    raise RegistriesDError(f"{path}: default-docker configured more than once")
                default = _config(v, f"{path} default-docker")
            elif k == "docker":
                if not isinstance(v, dict):
                    raise RegistriesDError(f"{path}: docker is not a mapping")
                for ns, c in v.items():
                    if ns in docker:
                        raise RegistriesDError(f"{path}: {ns} configured more than once")
                    docker[ns] = _config(c, f"{path} docker[{ns!r}]")
            # other top-level keys are ignored, as containers-image's YAML decoding does
    return RegistriesD(default or LookasideConfig(), docker, builtin_default_lookaside())


def lookaside_url(base: str, ref: DockerReference, manifest_digest: str, index: int) -> str:
    """``<base>/<repo>@<algo>=<hex>/signature-<index>`` (index from 1)."""
    algo, _, hexpart = manifest_digest.partition(":")
    return f"{base.rstrip('/')}/{ref.repository}@{algo}={hexpart}/signature-{index}"


# ----------------------------------------------------------------------------- blobs

SIGSTORE_FORMAT = "sigstore-json"


def signature_from_blob(blob: bytes) -> Signature:
    """A signature from containers-image's storage form (raw OpenPGP or NUL, format, newline, body)."""
    if blob[:1] == b"\0":
        head, nl, rest = blob[1:].partition(b"\n")
        if not nl:
            raise OciError("Invalid signature blob: no format line")
        fmt = head.decode("ascii", "replace")
        if fmt == "simple-signing":
            return Signature("simple-signing", rest)
        if fmt == SIGSTORE_FORMAT:
            import base64
            import json
            try:
                doc = json.loads(rest)
                ann = doc.get("annotations") or {}
                if not all(isinstance(k, str) and isinstance(v, str) for k, v in ann.items()):
                    raise ValueError("annotations")
                return Signature("sigstore", base64.b64decode(doc["payload"], validate=True),
                                 tuple(sorted(ann.items())))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                raise OciError("Invalid sigstore signature blob") from None
        raise OciError(f"Unsupported signature format {fmt!r}")
    return Signature("simple-signing", blob)


def signature_to_blob(sig: Signature) -> bytes:
    """The storage form :func:`signature_from_blob` reads."""
    if sig.kind == "simple-signing":
        return sig.data
    import base64
    import json
    from .sigstore import PAYLOAD_MEDIA_TYPE
    body = json.dumps({"mimeType": PAYLOAD_MEDIA_TYPE, "payload": base64.b64encode(sig.data).decode(),
                       "annotations": dict(sig.annotations)}, separators=(",", ":")).encode()
    return b"\0" + SIGSTORE_FORMAT.encode() + b"\n" + body


# ----------------------------------------------------------------------------- I/O

def _read_file(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SIGNATURE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise OciError(f"Cannot read signature {path}: {e.strerror}") from None
    if len(data) > MAX_SIGNATURE_BYTES:
        raise OciError(f"Signature {path} is over {MAX_SIGNATURE_BYTES} bytes")
    return data


def _read_url(url: str) -> Optional[bytes]:
    if url.startswith("file://"):
        return _read_file(url[len("file://"):])
    if not url.startswith(("http://", "https://")):
        raise OciError(f"Unsupported lookaside URL scheme in {url}")
    import requests
    try:
        r = requests.get(url, timeout=60, stream=True, allow_redirects=True)
    except requests.RequestException as e:
        raise OciError(f"Reading signature from {url}: {e}") from None
    with r:
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise OciError(f"Reading signature from {url}: status {r.status_code}")
        data = r.raw.read(MAX_SIGNATURE_BYTES + 1, decode_content=True)
    if len(data) > MAX_SIGNATURE_BYTES:
        raise OciError(f"Signature {url} is over {MAX_SIGNATURE_BYTES} bytes")
    return data


def attachment_tag(manifest_digest: str) -> str:
    """The tag cosign and containers-image keep an image's sigstore signatures under."""
    algo, _, hexpart = manifest_digest.partition(":")
    return f"{algo}-{hexpart}.sig"


def read_attachments(ref: DockerReference, manifest_digest: str,
                     options: Optional["Options"] = None) -> List[Signature]:
    """The sigstore signatures in the ``sha256-<hex>.sig`` manifest of ``ref``'s repository."""
    from . import mediatypes as mt
    from .errors import NotFound
    from .manifest import ImageManifest, parse_manifest
    from .sigstore import PAYLOAD_MEDIA_TYPE
    from .transports import open_source
    out: List[Signature] = []
    with open_source(ref.with_tag(attachment_tag(manifest_digest)), options) as src:
        try:
            data, mtype, _ = src.get_raw_manifest()
        except NotFound:
            return out
        if mt.is_index(mtype):
            raise OciError(f"sigstore attachments of {ref} are an index, not an image manifest")
        m = parse_manifest(data, mtype)
        assert isinstance(m, ImageManifest)
        for layer in m.layers[:MAX_SIGNATURES]:
            if layer.media_type != PAYLOAD_MEDIA_TYPE:
                continue
            if layer.size > MAX_SIGNATURE_BYTES:
                raise OciError(f"sigstore payload of {layer.size} bytes is over {MAX_SIGNATURE_BYTES}")
            with src.open_blob(layer) as f:
                payload = f.read(MAX_SIGNATURE_BYTES + 1)
            out.append(Signature("sigstore", payload, tuple(sorted(dict(layer.annotations).items()))))
    return out


def read_signatures(ref: ImageReference, manifest_digest: str, registries_d: Optional[RegistriesD] = None,
                    options: Optional["Options"] = None) -> List[Signature]:
    """The signatures stored for ``ref`` (whose manifest has ``manifest_digest``):
    ``dir:`` files; for a registry the lookaside's, then (when registries.d
    says use-sigstore-attachments) the sigstore attachments."""
    out: List[Signature] = []
    if isinstance(ref, DirReference):
        for i in range(1, MAX_SIGNATURES + 1):
            blob = _read_file(os.path.join(ref.path, f"signature-{i}"))
            if blob is None:
                break
            out.append(signature_from_blob(blob))
    elif isinstance(ref, DockerReference):
        conf = (registries_d or RegistriesD()).lookaside_for(ref)
        if conf.lookaside:
            for i in range(1, MAX_SIGNATURES + 1):
                blob = _read_url(lookaside_url(conf.lookaside, ref, manifest_digest, i))
                if blob is None:
                    break
                out.append(signature_from_blob(blob))
        if conf.use_sigstore_attachments:
            out.extend(read_attachments(ref, manifest_digest, options))
    return out


def storage_problem(ref: ImageReference, registries_d: Optional[RegistriesD] = None,
                    kinds: "frozenset[str]" = frozenset({"simple-signing"})) -> Optional[str]:
    """Why :func:`write_signatures` cannot put signatures of ``kinds`` at ``ref``, or None."""
    if isinstance(ref, DirReference):
        return None
    if not isinstance(ref, DockerReference):
        return f"Pushing signatures to {ref} is not supported"
    conf = (registries_d or RegistriesD()).lookaside_for(ref)
    if "simple-signing" in kinds:
        target = conf.lookaside_staging or conf.lookaside
        if not (target and target.startswith("file://")):
            return (f"signatures cannot be stored at {ref} "
                    "(a registry needs a file:// lookaside-staging in registries.d)")
    if "sigstore" in kinds and not conf.use_sigstore_attachments:
        # containers-image's words; it finds out after pushing the image, we before
        return "writing sigstore attachments is disabled by configuration"
    return None


def can_store_signatures(ref: ImageReference, registries_d: Optional[RegistriesD] = None,
                         kinds: "frozenset[str]" = frozenset({"simple-signing"})) -> bool:
    """Whether :func:`write_signatures` can put signatures of ``kinds`` where ``ref``
    is read from: ``dir:`` holds any; a registry keeps simple signatures in a
    ``file://`` lookaside and sigstore ones as attachments when registries.d
    says ``use-sigstore-attachments``."""
    return storage_problem(ref, registries_d, kinds) is None


def write_signatures(ref: ImageReference, manifest_digest: str, sigs: List[Signature],
                     registries_d: Optional[RegistriesD] = None, options: Optional["Options"] = None) -> None:
    """Store ``sigs`` where ``ref``'s reader will look: ``dir:`` files (replacing
    what was there); for a registry simple signatures in the lookaside (replacing)
    and sigstore ones added to the attachment manifest, as containers-image does."""
    problem = storage_problem(ref, registries_d, frozenset(s.kind for s in sigs))
    if problem:
        raise OciError(problem)
    if isinstance(ref, DirReference):
        _write_files([os.path.join(ref.path, f"signature-{i}") for i in range(1, len(sigs) + 2)], sigs)
        return
    assert isinstance(ref, DockerReference)
    simple = [s for s in sigs if s.kind == "simple-signing"]
    if simple:
        conf = (registries_d or RegistriesD()).lookaside_for(ref)
        base = (conf.lookaside_staging or conf.lookaside or "")[len("file://"):]
        paths = [lookaside_url(base, ref, manifest_digest, i) for i in range(1, len(simple) + 2)]
        os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
        _write_files(paths, simple)
    cosign = [s for s in sigs if s.kind == "sigstore"]
    if cosign:
        write_attachments(ref, manifest_digest, cosign, options)


def _write_files(paths: List[str], sigs: List[Signature]) -> None:
    for p, s in zip(paths, sigs):
        atomic_write(p, signature_to_blob(s))
    try:
        os.unlink(paths[len(sigs)])  # the reader stops at the first gap
    except FileNotFoundError:
        pass


def _go_json(doc: object) -> bytes:
    """JSON as Go's encoding/json writes it (compact; <, > and & escaped)."""
    import json
    out = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def write_attachments(ref: DockerReference, manifest_digest: str, sigs: List[Signature],
                      options: Optional["Options"] = None) -> None:
    """Add sigstore ``sigs`` to the ``sha256-<hex>.sig`` manifest of ``ref``'s
    repository as containers-image does: a payload layer per signature (one
    already there, same bytes and annotations, is not added twice), its digest
    appended to the config's ``rootfs.diff_ids``, the manifest re-tagged."""
    import io
    import json
    from . import mediatypes as mt
    from .digest import digest_bytes
    from .errors import NotFound
    from .manifest import Descriptor
    from .transports import open_destination, open_source
    tagged = ref.with_tag(attachment_tag(manifest_digest))
    manifest: Dict[str, object]
    config: Dict[str, object]
    with open_source(tagged, options) as src:
        try:
            data, mtype, _ = src.get_raw_manifest()
        except NotFound:
            data = b""
        if data:
            if mtype != mt.OCI_MANIFEST:
                raise OciError(f"sigstore attachments of {ref} are {mtype}, not an OCI image manifest")
            try:
                manifest = json.loads(data)
                cdesc = Descriptor.from_dict(manifest["config"])  # type: ignore[arg-type]
                with src.open_blob(cdesc) as f:
                    config = json.loads(f.read(MAX_CONFIG + 1))
                layers = manifest["layers"]
                diff_ids = config.setdefault("rootfs", {"type": "layers"}).setdefault("diff_ids", [])  # type: ignore
                if not isinstance(layers, list) or not isinstance(diff_ids, list):
                    raise TypeError("layers")
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                raise OciError(f"Invalid sigstore attachment manifest for {ref}") from None
        else:
            layers, diff_ids = [], []
            manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": {}, "layers": layers}
            config = {"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    from .sigstore import PAYLOAD_MEDIA_TYPE
    new: List[Tuple[bytes, str]] = []
    for s in sigs:
        d = digest_bytes(s.data)
        ann = dict(s.annotations)
        if any(isinstance(x, dict) and x.get("mediaType") == PAYLOAD_MEDIA_TYPE and x.get("digest") == d
               and x.get("size") == len(s.data) and (x.get("annotations") or {}) == ann for x in layers):
            continue
        layer: Dict[str, object] = {"mediaType": PAYLOAD_MEDIA_TYPE, "digest": d, "size": len(s.data)}
        if ann:
            layer["annotations"] = ann
        layers.append(layer)
        diff_ids.append(d)
        new.append((s.data, d))
    cblob = _go_json(config)
    cd = digest_bytes(cblob)
    manifest["config"] = {"mediaType": mt.OCI_CONFIG, "digest": cd, "size": len(cblob)}
    with open_destination(tagged, options) as dst:
        for blob, d in new + [(cblob, cd)]:
            mtype_ = mt.OCI_CONFIG if d == cd else PAYLOAD_MEDIA_TYPE
            dst.put_blob(io.BytesIO(blob), Descriptor(mtype_, d, len(blob)))
        dst.put_manifest(_go_json(manifest), mt.OCI_MANIFEST, tagged.tag)
        dst.commit()
