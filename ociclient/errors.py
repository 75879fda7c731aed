"""The exception hierarchy of :mod:`ociclient`.

Every error this package raises on purpose derives from :class:`OciError`. Errors that come
from a registry carry the HTTP status and the distribution-spec error codes the registry sent
(``errors[].code`` of the JSON body), so callers can branch on them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up of every command that imports this
if TYPE_CHECKING:
    from typing import Optional, Sequence, Tuple


class OciError(Exception):
    """Root of all ociclient errors.

    :ivar codes: the registry's error codes (e.g. ``("MANIFEST_UNKNOWN",)``), empty if none.
    :ivar status: the HTTP status code of the response that caused it, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        codes: Sequence[str] = (),
        status: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.codes: Tuple[str, ...] = tuple(codes)
        self.status = status

    def __str__(self) -> str:
        return self.message


class ReferenceInvalid(OciError, ValueError):
    """An image reference (or transport name, tag, digest) does not parse."""


class ShortNameError(ReferenceInvalid):
    """A short name cannot be resolved as registries.conf asks (e.g. ``short-name-mode =
    "enforcing"`` with several unqualified-search registries and no prompt)."""


class DigestInvalid(OciError, ValueError):
    """A string is not a valid ``algorithm:hex`` digest."""


class NotFound(OciError):
    """The manifest, blob, tag, repository or layout entry does not exist."""


class Unauthorized(OciError):
    """Authentication failed or is required (HTTP 401)."""


class Denied(OciError):
    """Authenticated, but the access is not allowed (HTTP 403 / DENIED)."""


class DigestMismatch(OciError):
    """Content does not match the digest (or size) it was asked for or announced with."""


class SizeMismatch(DigestMismatch):
    """Content is longer or shorter than its descriptor says."""


class ManifestInvalid(OciError):
    """A manifest or index does not parse or does not follow the image spec."""


class ManifestTooLarge(ManifestInvalid):
    """A manifest is larger than the limit (4 MiB)."""


class ImageConfigInvalid(ManifestInvalid):
    """An image config blob does not parse or has fields of the wrong type."""


class UnsupportedMediaType(OciError):
    """A manifest or blob has a media type this client does not handle."""


class RateLimited(OciError):
    """The registry kept answering 429 Too Many Requests."""


class BlockedRegistry(OciError):
    """registries.conf marks the registry as blocked."""


class TransportError(OciError):
    """A network / TLS failure that persisted through the retries."""


class DeadlineExceeded(TransportError):
    """A request or a whole operation took longer than its time limit (not retried: a
    server that is slow on purpose is slow again)."""


class RegistryError(OciError):
    """Any other error answer from a registry."""


class ResponseTooLarge(RegistryError):
    """A registry answer (other than a blob) is larger than ociclient reads into memory."""


class UploadError(OciError):
    """A blob upload session failed."""


class LayoutError(OciError):
    """An OCI layout, oci-archive or dir: directory is malformed."""


class CredentialHelperError(OciError):
    """A docker-credential-* helper failed."""


class ConfigError(OciError):
    """registries.conf / auth.json could not be read."""


_CODE_MAP = {
    "UNAUTHORIZED": Unauthorized,
    "DENIED": Denied,
    "MANIFEST_UNKNOWN": NotFound,
    "BLOB_UNKNOWN": NotFound,
    "NAME_UNKNOWN": NotFound,
    "BLOB_UPLOAD_UNKNOWN": NotFound,
    "MANIFEST_INVALID": ManifestInvalid,
    "MANIFEST_BLOB_UNKNOWN": ManifestInvalid,
    "DIGEST_INVALID": DigestMismatch,
    "SIZE_INVALID": SizeMismatch,
    "TOOMANYREQUESTS": RateLimited,
    "UNSUPPORTED": UnsupportedMediaType,
    "BLOB_UPLOAD_INVALID": UploadError,
    "NAME_INVALID": ReferenceInvalid,
}

_STATUS_MAP = {
    401: Unauthorized,
    403: Denied,
    404: NotFound,
    415: UnsupportedMediaType,
    429: RateLimited,
}


def error_class_for(status: int, codes: Sequence[str]) -> type:
    """Pick the most specific exception class for a registry error answer (pure)."""
    for code in codes:
        cls = _CODE_MAP.get(code)
        if cls is not None:
            return cls
    return _STATUS_MAP.get(status, RegistryError)
