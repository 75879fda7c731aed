"""The exception hierarchy of ostreepy; catch :class:`OstreeError` for all of them."""

from __future__ import annotations

__all__ = [
    "OstreeError", "GVariantError", "InvalidObjectError", "CorruptObjectError", "ChecksumMismatchError",
    "ObjectNotFoundError", "InvalidChecksumError", "RefNotFoundError", "InvalidRefError", "AmbiguousRefError",
    "UnsupportedFileTypeError", "RepoError", "RepoLockedError", "InvalidFilenameError", "PathNotFoundError",
    "CheckoutError", "TarError", "SignatureError", "DeployError", "BootcError", "SysrootError", "ArgumentError",
    "RegistryError", "FileSystemError", "FetchError", "FetchNotFoundError",
]


class OstreeError(Exception):
    """Root of every error ostreepy raises on purpose."""


class GVariantError(OstreeError):
    """Serialized GVariant data that does not match its type."""


class InvalidObjectError(OstreeError):
    """An object whose contents break the rules of its type."""


class CorruptObjectError(InvalidObjectError):
    """An object whose bytes do not hash to its name, or cannot be decoded."""

    def __init__(self, message: str, checksum: str | None = None) -> None:
        super().__init__(message)
        self.checksum = checksum


class ChecksumMismatchError(CorruptObjectError):
    """Data whose checksum is not the one it was asked or stored under."""

    def __init__(self, expected: str, actual: str, what: str = "object") -> None:
        super().__init__(
            f"Corrupted {what}; checksum expected='{expected}' actual='{actual}'", expected
        )
        self.expected = expected
        self.actual = actual


class ObjectNotFoundError(OstreeError):
    """An object the repository does not hold."""

    def __init__(self, checksum: str, objtype: str) -> None:
        super().__init__(f"No such metadata object {checksum}.{objtype}"
                         if objtype != "file" else f"Couldn't find file object '{checksum}'")
        self.checksum = checksum
        self.objtype = objtype


class InvalidChecksumError(OstreeError):
    """A string that is not a valid checksum."""


class RefNotFoundError(OstreeError):
    """A ref (or checksum prefix) that resolves to nothing."""


class InvalidRefError(OstreeError):
    """A ref name that breaks ostree's ref grammar."""


class AmbiguousRefError(RefNotFoundError):
    """A checksum prefix that matches more than one commit."""


class UnsupportedFileTypeError(OstreeError):
    """Devices, fifos and sockets cannot be committed."""


class RepoError(OstreeError):
    """A repository that cannot be opened or used as asked."""


class RepoLockedError(RepoError):
    """The repository lock could not be taken in time."""


class InvalidFilenameError(OstreeError):
    """A name from an object that would escape its directory."""


class PathNotFoundError(OstreeError):
    """A path that is not in a commit's tree."""


class CheckoutError(OstreeError):
    """A checkout that cannot be done as asked."""


class TarError(OstreeError):
    """A tar stream that is malformed or hostile."""


class SignatureError(OstreeError):
    """A signature that is missing, malformed or does not verify."""


class DeployError(OstreeError):
    """A deployment operation that failed; the sysroot is left as it was."""


class BootcError(DeployError):
    """A bootc verb that cannot do what was asked; nothing was changed."""


class SysrootError(DeployError):
    """A sysroot that is missing or malformed."""


class ArgumentError(OstreeError, TypeError):
    """A library call given a value of the wrong type or a path that is not
    there; the message names the Python parameter (``repo: expected ...``).
    A :class:`TypeError` too, so code written against plain Python keeps working."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class RegistryError(OstreeError):
    """A registry or image-transport failure (authentication, a missing image, a
    digest that does not match, a network error) met by an ostreepy call.

    The error :mod:`ociclient` raised is kept as ``__cause__`` and as
    :attr:`oci_error`; its HTTP :attr:`status` and registry error :attr:`codes`
    are copied for callers that branch on them."""

    def __init__(self, message: str, oci_error: BaseException | None = None) -> None:
        super().__init__(message)
        self.oci_error = oci_error
        self.status: int | None = getattr(oci_error, "status", None)
        self.codes: tuple[str, ...] = tuple(getattr(oci_error, "codes", ()) or ())


class FileSystemError(OstreeError, OSError):
    """An operating-system call that failed under a high-level call (a file
    missing, no permission, a full disk). Also an :class:`OSError`, with its
    ``errno``, ``strerror`` and ``filename``; the original is ``__cause__``."""


class FetchError(OstreeError):
    """A file of a remote repository could not be fetched (after the fetcher's retries).
    Also known as :class:`ostreepy.remote.fetcher.FetchError`."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class FetchNotFoundError(FetchError):
    """The remote answered that the file does not exist (HTTP 403/404/410, ENOENT).
    Also known as :class:`ostreepy.remote.fetcher.NotFound`."""


class FetchAheadBroken(FetchError):
    """A GET sent ahead of its answer (:meth:`ostreepy.remote.http.HttpFetcher.get_ahead`) that
    was not answered plainly (not 2xx, unframed, cut, late, too big, or the connection gone):
    the pull asks what is outstanding again another way; it never reaches a caller."""
