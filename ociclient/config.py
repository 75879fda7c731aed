"""Image config blobs (OCI ``application/vnd.oci.image.config.v1+json`` and Docker's
``application/vnd.docker.container.image.v1+json``): parsed and type-checked (pure, no I/O).

The fields ociclient and its users read are declared once in :data:`CONFIG_SCHEMA` (the
image-spec's Go types); :func:`parse_config` checks a blob against it and returns an
:class:`ImageConfig` whose typed fields can be used without further checks, plus the whole
checked document as ``raw`` for output. A config that does not fit raises
:class:`~ociclient.errors.ImageConfigInvalid`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

import attrs

from .digest import parse_digest
from .errors import DigestInvalid, ImageConfigInvalid
from .manifest import MAX_CONFIG_SIZE
from .schema import AnyValue, Bool, ListOf, MapOf, Obj, Str, check, load_json, opt, req

_STRINGS = ListOf(Str())

#: the container configuration (``config`` key); unknown keys are ignored
CONTAINER_CONFIG_SCHEMA = Obj({
    "User": opt(Str()), "ExposedPorts": opt(MapOf(AnyValue())), "Env": opt(_STRINGS),
    "Entrypoint": opt(_STRINGS), "Cmd": opt(_STRINGS), "Volumes": opt(MapOf(AnyValue())),
    "WorkingDir": opt(Str()), "Labels": opt(MapOf(Str())), "StopSignal": opt(Str()),
    "ArgsEscaped": opt(Bool()),
})

CONFIG_SCHEMA = Obj({
    "created": opt(Str()), "author": opt(Str()), "architecture": opt(Str()), "os": opt(Str()),
    "os.version": opt(Str()), "os.features": opt(_STRINGS), "variant": opt(Str()),
    "docker_version": opt(Str()),
    "config": opt(CONTAINER_CONFIG_SCHEMA),
    "rootfs": opt(Obj({"type": req(Str()), "diff_ids": opt(_STRINGS)})),
    "history": opt(ListOf(Obj({
        "created": opt(Str()), "created_by": opt(Str()), "author": opt(Str()),
        "comment": opt(Str()), "empty_layer": opt(Bool()),
    }))),
})


@attrs.frozen
class ImageConfig:
    """The checked fields of an image config.

    :ivar raw: the whole document (checked as far as :data:`CONFIG_SCHEMA` goes).
    :ivar diff_ids: ``rootfs.diff_ids``, each a valid digest.
    """

    raw: Mapping[str, Any] = attrs.field(hash=False)
    architecture: str = ""
    os: str = ""
    variant: Optional[str] = None
    created: Optional[str] = None
    docker_version: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    env: Optional[Tuple[str, ...]] = None
    diff_ids: Tuple[str, ...] = ()

    @property
    def container_config(self) -> Mapping[str, Any]:
        return self.raw.get("config") or {}


def parse_config(data: bytes) -> ImageConfig:
    """Parse and check an image config blob."""
    if len(data) > MAX_CONFIG_SIZE:
        raise ImageConfigInvalid(f"image config is {len(data)} bytes, over the {MAX_CONFIG_SIZE} byte limit")
    obj = load_json(data, "image config", ImageConfigInvalid)
    if not isinstance(obj, dict):
        raise ImageConfigInvalid("image config is not a JSON object")
    check(obj, CONFIG_SCHEMA, "image config", ImageConfigInvalid)
    inner = obj.get("config") or {}
    diff_ids = tuple((obj.get("rootfs") or {}).get("diff_ids") or ())
    for i, d in enumerate(diff_ids):
        try:
            parse_digest(d)
        except DigestInvalid as e:
            raise ImageConfigInvalid(f"image config: rootfs.diff_ids[{i}]: {e}") from None
    env = inner.get("Env")
    return ImageConfig(
        raw=obj,
        architecture=obj.get("architecture") or "",
        os=obj.get("os") or "",
        variant=obj.get("variant") or None,
        created=obj.get("created"),
        docker_version=obj.get("docker_version") or "",
        labels=dict(inner.get("Labels") or {}),
        env=tuple(env) if env is not None else None,
        diff_ids=diff_ids,
    )
