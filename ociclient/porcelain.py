"""The high-level API of :mod:`ociclient`: skopeo's verbs as functions that
return values (:func:`inspect`, :func:`list_tags`, :func:`copy`,
:func:`login`, :func:`logout`), for tools that would otherwise run skopeo
and parse its output. The ``ociclient`` command line prints the same facts.

References are strings with a transport (``docker://quay.io/x:tag``,
``oci:/path:tag``, ``oci-archive:...``, ``dir:...``) or parsed
:class:`~ociclient.reference.ImageReference` s; ``options`` is an
:class:`~ociclient.image.Options` (credentials, auth file, TLS). Every
failure is an :class:`~ociclient.errors.OciError`.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple, Union

import attrs

from .auth import Credentials
from .copy import CopyResult
from .errors import OciError, ReferenceInvalid
from .image import Options
from .manifest import Platform
from .progress import ProgressCallback
from .reference import ImageReference

__all__ = ["InspectResult", "copy", "inspect", "list_tags", "login", "logout"]

RefArg = Union[str, ImageReference]


@attrs.frozen
class InspectResult:
    """What ``skopeo inspect`` shows of an image (its JSON keys in brackets)."""

    #: the repository (``Name``; registry images only)
    name: Optional[str]
    #: the digest of the top-level manifest (``Digest``; an index's when there is one)
    digest: str
    #: the digest of the image manifest for the platform
    manifest_digest: str
    #: the repository's tags (``RepoTags``; registry images only, when asked)
    repo_tags: Tuple[str, ...]
    created: Optional[str]
    docker_version: str
    labels: Mapping[str, str]
    architecture: str
    variant: Optional[str]
    os: str
    #: layer digests (``Layers``)
    layers: Tuple[str, ...]
    env: Optional[Tuple[str, ...]]
    #: the image config document
    config: Mapping[str, Any] = attrs.field(eq=False, repr=False)

    def to_skopeo_json(self) -> Dict[str, Any]:
        """The document ``skopeo inspect`` prints."""
        out: Dict[str, Any] = {}
        if self.name is not None:
            out["Name"] = self.name
        out.update({"Digest": self.digest, "RepoTags": list(self.repo_tags), "Created": self.created,
                    "DockerVersion": self.docker_version, "Labels": dict(self.labels) or None,
                    "Architecture": self.architecture})
        if self.variant:
            out["Variant"] = self.variant
        out["Os"] = self.os
        out["Layers"] = list(self.layers)
        if self.env is not None:
            out["Env"] = list(self.env)
        return out


def inspect(image: RefArg, *, options: Optional[Options] = None, platform: Optional[Platform] = None,
            tags: bool = True) -> InspectResult:
    """``skopeo inspect``: an image's manifest digest, config facts and layers
    (``platform`` picks the instance of an index: default the running
    machine); ``tags``: also list the repository's tags (registry images)."""
    from .config import parse_config
    from .docker import RegistrySource
    from .errors import UnsupportedMediaType
    from .manifest import ImageManifest, parse_manifest
    from .transports import open_source

    with open_source(image, options) as src:
        data, mtype, digest = src.get_manifest(platform)
        man = parse_manifest(data, mtype)
        if not isinstance(man, ImageManifest):
            raise UnsupportedMediaType(f"{digest} is an image index, not an image manifest")
        cfg = parse_config(src.get_config(man))
        raw_digest = src.get_raw_manifest()[2]
        name: Optional[str] = None
        repo_tags: Tuple[str, ...] = ()
        if isinstance(src, RegistrySource):
            name = getattr(src.reference, "name", None)
            if tags:
                try:
                    repo_tags = tuple(src.list_tags())
                except OciError:
                    repo_tags = ()
        labels = cfg.container_config.get("Labels") or {}
        return InspectResult(name, raw_digest, digest, repo_tags, cfg.created, cfg.docker_version, dict(labels),
                             cfg.architecture, cfg.variant, cfg.os, tuple(layer.digest for layer in man.layers),
                             cfg.env, cfg.raw)


def list_tags(repository: str, *, options: Optional[Options] = None) -> Tuple[str, ...]:
    """``skopeo list-tags``: the tags of a registry repository
    (``docker://quay.io/example/os``, no tag or digest)."""
    from .docker import RegistrySource
    from .reference import parse_docker_reference

    if not isinstance(repository, str) or not repository.startswith("docker://"):
        raise ReferenceInvalid(f"list_tags supports only docker:// references, not {repository!r}")
    bare = repository[len("docker://"):]
    plain = parse_docker_reference(bare, normalize=False)
    if plain.tag or plain.digest:
        raise ReferenceInvalid(f"tags or digests are not supported in list_tags: {repository!r}")
    src = RegistrySource(parse_docker_reference(bare), options or Options())
    try:
        return tuple(src.list_tags())
    finally:
        src.close()


def copy(source: RefArg, destination: RefArg, *, src_options: Optional[Options] = None,
         dst_options: Optional[Options] = None, multi_arch: str = "system", platform: Optional[Platform] = None,
         progress: Optional[ProgressCallback] = None) -> CopyResult:
    """``skopeo copy``: the image at ``source`` to ``destination``; returns the
    written manifest's digest and what was copied or skipped."""
    from .copy import copy_image

    return copy_image(source, destination, multi_arch=multi_arch, platform=platform, src_options=src_options,
                      dst_options=dst_options, progress=progress)


def _server(registry: str) -> str:
    for pre in ("https://", "http://", "docker://"):
        if registry.startswith(pre):
            registry = registry[len(pre):]
    return registry.rstrip("/")


def login(registry: str, username: str, password: str, *, authfile: Optional[str] = None,
          tls_verify: Optional[bool] = None, cert_dir: Optional[str] = None,
          request_timeout: Optional[float] = None, command_timeout: Optional[float] = None) -> str:
    """``skopeo login``: check the credentials against the registry's ``/v2/``,
    then store them in the auth file (default: podman's ``auth.json``);
    returns the server key they are stored under. ``request_timeout`` bounds the
    request (None: the transport's default), ``command_timeout`` the whole login
    (None: no bound)."""
    import time

    from .auth import store_credentials
    from .transport import TLSConfig, Transport, raise_for_response

    server = _server(registry)
    host = server.split("/", 1)[0]
    creds = Credentials(username, password)
    api_host = "registry-1.docker.io" if host == "docker.io" else host
    kw: Dict[str, Any] = {}
    if request_timeout is not None:
        kw["request_timeout"] = request_timeout or None
    t = Transport(api_host, credentials=creds, insecure=tls_verify is False,
                  tls=TLSConfig(verify=tls_verify is not False, cert_dir=cert_dir),
                  deadline=time.monotonic() + command_timeout if command_timeout else None, **kw)
    try:
        resp = t.request("GET", "/v2/")
        with resp:
            raise_for_response(resp, f"authenticating to {host}")
    finally:
        t.close()
    store_credentials(server, creds, authfile=authfile)
    return server


def logout(registry: Optional[str] = None, *, authfile: Optional[str] = None, all: bool = False) -> None:
    """``skopeo logout``: forget the credentials stored for ``registry`` (or for every registry)."""
    from .auth import remove_credentials

    if all:
        remove_credentials(None, authfile=authfile, all=True)
        return
    if not registry:
        raise OciError("registry must be given unless all=True")
    server = _server(registry)
    if not remove_credentials(server, authfile=authfile):
        raise OciError(f"not logged into {server}")
