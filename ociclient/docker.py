"""The ``docker://`` transport: images in a registry as an :class:`ImageSource` / :class:`ImageDestination`."""

from __future__ import annotations

import logging
from typing import IO, BinaryIO, Callable, List, Optional, Tuple

import attrs

from .auth import lookup_credentials
from .digest import CHUNK, VerifyingReader
from .errors import BlockedRegistry, OciError, SizeMismatch
from .image import ImageDestination, ImageSource, OnRead, Options, operation_deadline
from .manifest import Descriptor
from .reference import DockerReference
from .registries_conf import PullSource, RegistriesConf, load_registries_conf
from .registry import RegistryClient, _ResumingStream
from .shortnames import Resolved, default_user_aliases_path, load_user_aliases, record_alias, resolve_short_name
from .transport import CERTS_D_DIRS, RetryPolicy, TLSConfig, Transport

log = logging.getLogger(__name__)


def resolve_registries_conf(options: Options) -> RegistriesConf:
    """The registries.conf that ``options`` ask for: none (``False``), a given value, a file
    path, or the system's files."""
    rc = options.registries_conf
    if rc is False:
        return RegistriesConf()
    if isinstance(rc, RegistriesConf):
        return rc
    if isinstance(rc, str):
        return load_registries_conf(rc, [])
    return load_registries_conf(env=options.env)


def make_client(ref: DockerReference, options: Options, insecure_conf: bool = False,
                conf: Optional[RegistriesConf] = None, deadline: Optional[float] = None) -> RegistryClient:
    """A :class:`RegistryClient` for ``ref``'s registry with credentials, TLS, retry and time
    limit options; ``deadline`` (monotonic) is the operation's end, by default
    ``options.command_timeout`` from now."""
    if deadline is None:
        deadline = operation_deadline(options)
    insecure = options.tls_verify is False or (options.tls_verify is None and insecure_conf)
    tls = TLSConfig(verify=not insecure, cert_dir=options.cert_dir,
                    certs_d=options.certs_d if options.certs_d is not None else CERTS_D_DIRS)
    creds = options.credentials
    conf_helpers: Tuple[str, ...] = conf.credential_helpers if conf is not None else ()

    def lookup():
        return lookup_credentials(ref.registry, ref.repository, authfile=options.authfile,
                                  env=options.env, credential_helpers=conf_helpers)

    kw = {}
    if options.user_agent:
        kw["user_agent"] = options.user_agent
    transport = Transport(
        ref.api_host, credentials=creds, insecure=insecure, tls=tls, timeout=options.timeout,
        retry=options.retry or RetryPolicy(),
        credentials_callback=None if creds is not None else lookup,
        registry_token=options.registry_token, request_timeout=options.request_timeout,
        deadline=deadline, **kw)  # type: ignore[arg-type]
    return RegistryClient(transport)


class RegistrySource(ImageSource):
    """Reads ``docker://`` images; with registries.conf mirrors tried in order.

    A short name (see :mod:`ociclient.shortnames`) is resolved first; with several candidates
    they are tried in order and the first that has the image wins. ``reference`` is then the
    fully qualified reference that was used (before mirrors), ``resolved`` how it was found.
    """

    def __init__(self, ref: DockerReference, options: Options = Options()) -> None:
        self.options = options
        # one deadline for the whole source, whichever mirrors and candidates it tries
        self._deadline = operation_deadline(options)
        conf = resolve_registries_conf(options)
        self._conf = conf
        self.resolved: Optional[Resolved] = None
        candidates = [ref]
        if ref.short_name is not None and options.registries_conf is not False:
            self.resolved = resolve_short_name(
                ref, conf, user_aliases=load_user_aliases(self._user_aliases_path()),
                prompt=options.short_name_prompt)
            candidates = list(self.resolved.candidates)
            log.info("%s", self.resolved.description())
        candidates = [attrs.evolve(c, short_name=None) for c in candidates]
        self.reference = candidates[0]
        #: (candidate, its pull sources) in order; errors for candidates that cannot be used
        self._candidates: List[Tuple[DockerReference, List[PullSource]]] = []
        self._skipped: List[str] = []
        for c in candidates:
            try:
                self._candidates.append((c, conf.pull_sources(c)))
            except BlockedRegistry as e:
                if len(candidates) == 1:
                    raise
                self._skipped.append(f"{c.string()}: {e}")
        if not self._candidates:
            raise BlockedRegistry("; ".join(self._skipped))
        self._sources: List[PullSource] = [ps for _, pss in self._candidates for ps in pss]
        self.client: Optional[RegistryClient] = None
        self.repo = self.reference.repository
        self._raw: Optional[Tuple[bytes, str, str]] = None
        self._clients: List[RegistryClient] = []
        self._winner: Optional[Tuple[DockerReference, List[PullSource]]] = None

    def _user_aliases_path(self) -> Optional[str]:
        p = self.options.short_name_aliases
        if p is False:
            return None
        return p if p else default_user_aliases_path(self.options.env)

    def _client_for(self, ps: PullSource) -> RegistryClient:
        c = make_client(ps.reference, self.options, ps.insecure, self._conf, self._deadline)
        self._clients.append(c)
        return c

    def get_raw_manifest(self) -> Tuple[bytes, str, str]:
        if self._raw is not None:
            return self._raw
        errors: List[str] = list(self._skipped)
        last: Optional[OciError] = None
        for cand, sources in self._candidates:
            for ps in sources:
                client = self._client_for(ps)
                try:
                    data, mtype, digest = client.get_manifest(ps.reference.repository, ps.reference.reference)
                except OciError as e:
                    last = e
                    errors.append(f"{ps.reference.string()}: {e}")
                    if len(self._sources) > 1:
                        log.info("pulling from %s failed: %s", ps.reference.string(), e)
                    continue
                self.client = client
                self.repo = ps.reference.repository
                self.pulled_from = ps.reference
                self.reference = cand
                self._winner = (cand, sources)
                self._raw = (data, mtype, digest)
                self._record_alias(cand)
                return self._raw
        assert last is not None
        if len(errors) > 1 or (self.resolved is not None and self.resolved.rationale != "none"):
            msg = "; ".join(errors)
            if self.resolved is not None and self.resolved.description():
                msg = f"{self.resolved.description()}: {msg}"
            raise type(last)(msg, codes=last.codes, status=last.status)
        raise last

    def _record_alias(self, cand: DockerReference) -> None:
        if self.resolved is None or not self.resolved.record:
            return
        path = self._user_aliases_path()
        if not path:
            return
        try:
            record_alias(path, self.resolved.user_input, cand.name)
        except (OSError, OciError) as e:  # podman only logs this too
            log.error("recording short-name alias %s=%s: %s", self.resolved.user_input, cand.name, e)

    def _ensure(self) -> RegistryClient:
        if self.client is None:
            self.get_raw_manifest()
        assert self.client is not None
        return self.client

    def get_manifest_by_digest(self, digest: str) -> Tuple[bytes, str]:
        data, mtype, _ = self._ensure().get_manifest(self.repo, digest)
        return data, mtype

    def open_raw_blob(self, descriptor: Descriptor, offset: int = 0) -> BinaryIO:
        return _ResumingStream(self._ensure(), self.repo, descriptor.digest, descriptor.size, offset)  # type: ignore[return-value]

    def open_blob(self, descriptor: Descriptor, on_read: OnRead = None) -> BinaryIO:
        return self._ensure().open_blob(self.repo, descriptor, on_read=on_read)

    def list_tags(self) -> List[str]:
        """Tags of the repository (Link pagination followed), from the primary location of the
        candidate that was pulled (the first one before any pull)."""
        ps = (self._winner or self._candidates[0])[1][-1]
        return self._client_for(ps).list_tags(ps.reference.repository)

    def close(self) -> None:
        for c in self._clients:
            c.close()


class RegistryDestination(ImageDestination):
    """Writes ``docker://`` images (blobs, then manifests; tag from the reference)."""

    def __init__(self, ref: DockerReference, options: Options = Options()) -> None:
        self.reference = ref
        self.options = options
        conf = resolve_registries_conf(options)
        target, insecure = conf.push_destination(ref)
        self.target = target
        self.repo = target.repository
        self.tag = target.tag if not target.digest else None
        self.client = make_client(target, options, insecure, conf)

    def has_blob(self, digest: str) -> bool:
        return self.client.blob_exists(self.repo, digest) is not None

    def try_reuse_blob(self, descriptor: Descriptor, source: Optional[ImageSource] = None) -> Optional[str]:
        if self.has_blob(descriptor.digest):
            return "exists"
        if isinstance(source, RegistrySource) and source.client is not None \
                and source.client.host == self.client.host and source.repo != self.repo:
            try:
                if self.client.mount_blob(self.repo, descriptor.digest, source.repo):
                    return "mounted"
            except OciError as e:
                log.debug("mount of %s failed: %s", descriptor.digest, e)
        return None

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor, on_read: OnRead = None) -> None:
        verifying = VerifyingReader(stream, descriptor.digest, descriptor.size, on_read=on_read)
        self.client.upload_blob(self.repo, verifying, descriptor, chunk_size=self.options.chunk_size)  # type: ignore[arg-type]

    def put_blob_from(self, source: ImageSource, descriptor: Descriptor, on_read: OnRead = None,
                      on_start: Optional[Callable[[int], None]] = None) -> None:
        """Copy a blob from ``source``; a chunked upload that the registry makes go back
        (HTTP 416 and a shorter ``Range``) reads the blob from ``source`` again."""
        if self.options.chunk_size is None:
            return super().put_blob_from(source, descriptor, on_read, on_start)
        if on_start is not None:
            on_start(0)

        high = [0]  # how much of the blob was reported as progress (streams read ahead)

        def open_at(offset: int) -> IO[bytes]:
            """The verified blob from ``offset`` (the bytes before it are read and hashed
            again, but only bytes past what was reported before count as progress)."""
            pos = [0]

            def counted(n: int) -> None:
                start = pos[0]
                pos[0] += n
                new = pos[0] - max(start, high[0])
                if new > 0:
                    high[0] = pos[0]
                    if on_read is not None:
                        on_read(new)

            f = source.open_blob(descriptor, on_read=counted)
            left = offset
            try:
                while left:
                    chunk = f.read(min(left, CHUNK))
                    if not chunk:
                        raise SizeMismatch(f"blob {descriptor.digest} ended before offset {offset}")
                    left -= len(chunk)
            except BaseException:
                f.close()
                raise
            return f

        first = open_at(0)
        try:
            self.client.upload_blob(self.repo, first, descriptor, chunk_size=self.options.chunk_size,
                                    reopen=open_at)
        finally:
            first.close()

    def put_manifest(self, data: bytes, media_type: str, tag: Optional[str] = None) -> str:
        from .digest import digest_bytes
        ref = tag or digest_bytes(data)
        return self.client.put_manifest(self.repo, ref, data, media_type)

    def put_instance_manifest(self, data: bytes, media_type: str) -> str:
        return self.put_manifest(data, media_type, None)

    def close(self) -> None:
        self.client.close()
