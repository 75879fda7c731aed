"""The ``ociclient`` command line: skopeo's verbs and flags, so the two can be swapped.

    ociclient [--override-arch A] [--override-os O] [--override-variant V] VERB ...

Verbs: ``inspect``, ``copy``, ``list-tags``, ``manifest-digest``, ``delete``, ``login``,
``logout``, ``standalone-sign``, ``standalone-verify``, ``generate-sigstore-key``. Boolean
flags take ``--flag`` or ``--flag=false`` like Go flags. Errors print ``error: <message>``
and exit with status 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, TextIO

BOOL_FLAGS = ("tls-verify", "src-tls-verify", "dest-tls-verify", "raw", "config", "no-tags",
              "no-creds", "src-no-creds", "dest-no-creds", "password-stdin", "all", "quiet",
              "insecure-policy", "debug", "get-login", "remove-signatures")


def _preprocess(argv: Sequence[str]) -> List[str]:
    """Turn Go-style ``--flag=true|false`` into ``--flag`` / ``--no-flag-``."""
    out = []
    for a in argv:
        if a.startswith("--") and "=" in a:
            name, _, value = a[2:].partition("=")
            if name in BOOL_FLAGS:
                v = value.lower()
                if v in ("true", "1", "t", "yes"):
                    out.append(f"--{name}")
                    continue
                if v in ("false", "0", "f", "no"):
                    out.append(f"--no-{name}-")
                    continue
                raise SystemExit(f"error: invalid boolean value {value!r} for --{name}")
        out.append(a)
    return out


def _bool(p: argparse.ArgumentParser, name: str, help: str, default: Optional[bool] = None) -> None:
    dest = name.replace("-", "_")
    p.add_argument(f"--{name}", dest=dest, action="store_true", default=default, help=help)
    p.add_argument(f"--no-{name}-", dest=dest, action="store_false", help=argparse.SUPPRESS)


def _auth_flags(p: argparse.ArgumentParser, prefix: str = "") -> None:
    pre = f"{prefix}-" if prefix else ""
    p.add_argument(f"--{pre}creds", metavar="USERNAME[:PASSWORD]", help="credentials for the registry")
    p.add_argument(f"--{pre}username", help="username for the registry")
    p.add_argument(f"--{pre}password", help="password for the registry")
    _bool(p, f"{pre}no-creds", "access the registry anonymously")
    p.add_argument(f"--{pre}authfile", help="path of the authentication file")
    p.add_argument(f"--{pre}cert-dir", metavar="PATH", help="use certificates at PATH (*.crt, *.cert, *.key)")
    _bool(p, f"{pre}tls-verify", "require HTTPS and verify certificates")
    p.add_argument(f"--{pre}registry-token", metavar="TOKEN", help="a bearer token for the registry")


#: how long a verb that moves no blobs (inspect, list-tags, delete, login) may take by default
METADATA_COMMAND_TIMEOUT = 600.0


def _duration(text: str) -> float:
    """A Go duration (``1h2m3.5s``, ``500ms``) or plain seconds, as seconds."""
    import re

    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    t = text.strip()
    try:
        return max(0.0, float(t))
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d*)?)(ms|us|µs|ns|h|m|s)", t)
    if not parts or "".join(n + u for n, u in parts) != t:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30s, 5m, 1h30m)")
    return sum(float(n) * units[u] for n, u in parts)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ociclient", description="Work with OCI images and registries.")
    p.add_argument("--override-arch", metavar="ARCH")
    p.add_argument("--override-os", metavar="OS")
    p.add_argument("--override-variant", metavar="VARIANT")
    _bool(p, "insecure-policy", "run without any signature policy check")
    p.add_argument("--policy", metavar="PATH", help="signature policy file (default /etc/containers/policy.json)")
    p.add_argument("--registries.d", dest="registries_d", metavar="DIR",
                   help="registries.d directory for signature storage (default /etc/containers/registries.d)")
    p.add_argument("--registries-conf", metavar="PATH", help="use this registries.conf")
    p.add_argument("--command-timeout", metavar="DURATION", type=_duration, default=None,
                   help="time limit for the whole command, e.g. 90s, 5m, 1h30m (0: none; default: "
                        "none for copy, 10m for the other verbs)")
    p.add_argument("--request-timeout", metavar="DURATION", type=_duration, default=None,
                   help="time limit for one HTTP request, not counting blob bodies (default 5m)")
    p.add_argument("--tmpdir", help=argparse.SUPPRESS)
    _bool(p, "debug", "enable debug output")
    p.add_argument("-v", "--version", action="store_true", help="print the version")
    sub = p.add_subparsers(dest="verb", metavar="COMMAND")

    s = sub.add_parser("inspect", help="inspect an image")
    _auth_flags(s)
    _bool(s, "raw", "output the raw manifest or config")
    _bool(s, "config", "output the configuration")
    _bool(s, "no-tags", "do not list the repository's tags")
    s.add_argument("-n", dest="no_tags", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("--retry-times", type=int, default=None)
    s.add_argument("image", metavar="IMAGE-NAME")

    s = sub.add_parser("copy", help="copy an image")
    _auth_flags(s, "src")
    _auth_flags(s, "dest")
    s.add_argument("--authfile", help="path of the authentication file (both sides)")
    s.add_argument("--multi-arch", choices=("system", "all", "index-only"), default="system")
    _bool(s, "all", "same as --multi-arch=all")
    s.add_argument("-a", dest="all", action="store_true", help=argparse.SUPPRESS)
    _bool(s, "quiet", "suppress output")
    s.add_argument("-q", dest="quiet", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("--override-arch", dest="copy_override_arch", metavar="ARCH")
    s.add_argument("--override-os", dest="copy_override_os", metavar="OS")
    s.add_argument("--chunk-size", type=int, default=None, help="push blobs in chunks of this many bytes")
    s.add_argument("--parallel", type=int, default=6, help="concurrent blob transfers (default 6)")
    s.add_argument("--retry-times", type=int, default=None)
    s.add_argument("--digestfile", help="write the digest of the copied manifest to this file")
    _bool(s, "remove-signatures", "do not copy signatures from SOURCE-IMAGE")
    s.add_argument("--sign-by", metavar="FINGERPRINT", help="sign the image using a GPG key with this FINGERPRINT")
    s.add_argument("--sign-identity", metavar="REFERENCE",
                   help="identity of the signed image (default: the destination's docker reference)")
    s.add_argument("--sign-by-sigstore-private-key", metavar="PATH",
                   help="sign the image using a sigstore private key at PATH")
    s.add_argument("--sign-passphrase-file", metavar="PATH", help="read a passphrase for signing an image from PATH")
    s.add_argument("--sign-by-sigstore", metavar="PATH",
                   help="sign the image using a sigstore parameter file at PATH (privateKeyFile only)")
    s.add_argument("source", metavar="SOURCE-IMAGE")
    s.add_argument("destination", metavar="DESTINATION-IMAGE")

    s = sub.add_parser("generate-sigstore-key", help="generate a sigstore public/private key pair")
    s.add_argument("--output-prefix", required=True, metavar="PREFIX",
                   help="write the keys to PREFIX.pub and PREFIX.private")
    s.add_argument("--passphrase-file", metavar="PATH", help="read a passphrase for the private key from PATH")

    s = sub.add_parser("standalone-sign", help="create a signature of a manifest without an image")
    s.add_argument("-o", "--output", required=True, metavar="PATH", help="write the signature to PATH")
    s.add_argument("manifest", metavar="MANIFEST")
    s.add_argument("reference", metavar="DOCKER-REFERENCE")
    s.add_argument("key", metavar="KEY-FINGERPRINT")
    s.add_argument("--passphrase-file", metavar="PATH", help="read a passphrase for signing from PATH")
    s = sub.add_parser("standalone-verify", help="verify a signature made by standalone-sign")
    s.add_argument("manifest", metavar="MANIFEST")
    s.add_argument("reference", metavar="DOCKER-REFERENCE")
    s.add_argument("fingerprints", metavar="KEY-FINGERPRINTS", help="comma-separated, or 'any'")
    s.add_argument("signature", metavar="SIGNATURE")
    s.add_argument("--public-key-file", metavar="PATH", help="keys to verify with (default: the GnuPG keyring)")

    s = sub.add_parser("list-tags", help="list the tags of a repository")
    _auth_flags(s)
    s.add_argument("--retry-times", type=int, default=None)
    s.add_argument("repository", metavar="SOURCE-IMAGE")

    s = sub.add_parser("manifest-digest", help="compute the digest of a manifest file")
    s.add_argument("file", metavar="MANIFEST")

    s = sub.add_parser("delete", help="delete an image from a registry")
    _auth_flags(s)
    s.add_argument("--retry-times", type=int, default=None)
    s.add_argument("image", metavar="IMAGE-NAME")

    s = sub.add_parser("login", help="log in to a registry")
    s.add_argument("-u", "--username")
    s.add_argument("-p", "--password")
    _bool(s, "password-stdin", "take the password from stdin")
    s.add_argument("--authfile")
    s.add_argument("--cert-dir", metavar="PATH")
    _bool(s, "tls-verify", "require HTTPS and verify certificates")
    _bool(s, "get-login", "print the username stored for the registry")
    s.add_argument("registry", metavar="REGISTRY")

    s = sub.add_parser("logout", help="log out of a registry")
    s.add_argument("--authfile")
    _bool(s, "all", "remove all credentials")
    s.add_argument("-a", dest="all", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("registry", metavar="REGISTRY", nargs="?")
    return p


# --------------------------------------------------------------------------- helpers
def _options(args: argparse.Namespace, prefix: str = "", global_args: Optional[argparse.Namespace] = None):
    from .auth import Credentials
    from .errors import OciError
    from .image import Options
    from .transport import RetryPolicy

    pre = f"{prefix}_" if prefix else ""

    def get(name: str) -> Any:
        return getattr(args, pre + name, None)

    creds = None
    if get("creds"):
        if get("username") or get("password"):
            raise OciError("--creds cannot be used with --username/--password")
        creds = Credentials.parse(get("creds"))
    elif get("username"):
        creds = Credentials(get("username"), get("password") or "")
    elif get("password"):
        raise OciError("--password needs --username")
    if get("no_creds"):
        if creds is not None:
            raise OciError("--no-creds cannot be used with credentials")
        creds = Credentials("", "")
    authfile = get("authfile") or getattr(args, "authfile", None)
    kw: Dict[str, Any] = {}
    retry = None
    if getattr(args, "retry_times", None) is not None:
        retry = RetryPolicy(max_attempts=max(1, args.retry_times + 1))
    if global_args is not None and global_args.registries_conf:
        kw["registries_conf"] = global_args.registries_conf
    if get("registry_token"):
        if creds is not None:
            raise OciError("--registry-token cannot be used with credentials")
        kw["registry_token"] = get("registry_token")
    if sys.stdin.isatty() and sys.stdout.isatty():
        from .shortnames import terminal_prompt  # podman prompts for an ambiguous short name
        kw["short_name_prompt"] = terminal_prompt
    if global_args is not None:
        kw["command_timeout"] = _command_timeout(global_args)
        if global_args.request_timeout is not None:
            kw["request_timeout"] = global_args.request_timeout or None
    return Options(credentials=creds, authfile=authfile, tls_verify=get("tls_verify"),
                   cert_dir=get("cert_dir"), retry=retry, chunk_size=getattr(args, "chunk_size", None), **kw)


def _command_timeout(args: argparse.Namespace) -> Optional[float]:
    """``--command-timeout`` (0: none); unset: none for copy (blobs take as long as they are
    large), :data:`METADATA_COMMAND_TIMEOUT` for the verbs that move no blobs."""
    if args.command_timeout is not None:
        return args.command_timeout or None
    return None if args.verb == "copy" else METADATA_COMMAND_TIMEOUT


def _platform(args: argparse.Namespace, arch: Optional[str] = None, os_: Optional[str] = None):
    from .manifest import Platform, host_platform

    arch = arch or args.override_arch
    os_ = os_ or args.override_os
    if not (arch or os_ or args.override_variant):
        return None
    host = host_platform()
    return Platform(os=os_ or host.os, architecture=arch or host.architecture,
                    variant=args.override_variant if args.override_variant else None)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=4) + "\n")


class _ProgressBar:
    """A one-line progress bar on a terminal, skopeo-like lines otherwise."""

    def __init__(self, stream: Optional[TextIO] = None, quiet: bool = False) -> None:
        # sys.stderr when the bar is made, not when this module was imported (a
        # caller, or a test's capture, may have replaced it since)
        self.stream = stream = stream if stream is not None else sys.stderr
        self.tty = stream.isatty()
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, ev: object) -> None:
        from . import progress as p

        if self.quiet:
            return
        if isinstance(ev, p.BlobStarted) and not self.tty:
            self.stream.write(f"Copying blob {ev.digest}\n")
        elif isinstance(ev, p.BlobSkipped) and not self.tty:
            self.stream.write(f"Copying blob {ev.digest} skipped: already {ev.reason}\n")
        elif isinstance(ev, p.BlobProgress) and self.tty:
            now = time.monotonic()
            if now - self.last < 0.1 and ev.overall_done < ev.overall_total:
                return
            self.last = now
            total = max(ev.overall_total, 1)
            frac = min(1.0, ev.overall_done / total)
            width = 30
            bar = "=" * int(frac * width) + " " * (width - int(frac * width))
            self.stream.write(f"\rCopying blobs [{bar}] {ev.overall_done / 2**20:7.1f} / "
                              f"{ev.overall_total / 2**20:.1f} MiB {frac * 100:5.1f}%")
        elif isinstance(ev, p.ManifestWritten):
            if self.tty:
                self.stream.write("\n")
            self.stream.write("Writing manifest to image destination\n")
        elif isinstance(ev, p.TransferDone) and self.tty:
            pass
        self.stream.flush()


# --------------------------------------------------------------------------- verbs
def cmd_inspect(args: argparse.Namespace) -> int:
    from .config import parse_config
    from .docker import RegistrySource
    from .errors import OciError, UnsupportedMediaType
    from .manifest import ImageManifest, parse_manifest
    from .transports import open_source

    opts = _options(args, global_args=args)
    with open_source(args.image, opts) as src:
        if args.raw and not args.config:
            data, _, _ = src.get_raw_manifest()
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return 0
        data, mtype, digest = src.get_manifest(_platform(args))
        man = parse_manifest(data, mtype)
        if not isinstance(man, ImageManifest):
            raise UnsupportedMediaType(f"{digest} is an image index, not an image manifest")
        config_bytes = src.get_config(man)
        cfg = parse_config(config_bytes)
        if args.config:
            if args.raw:
                sys.stdout.buffer.write(config_bytes)
                sys.stdout.flush()
            else:
                _print_json(cfg.raw)
            return 0
        raw_digest = src.get_raw_manifest()[2]
        out: Dict[str, Any] = {}
        ref = src.reference
        if isinstance(src, RegistrySource):
            out["Name"] = ref.name  # type: ignore[union-attr]
        out["Digest"] = raw_digest
        tags: List[str] = []
        if isinstance(src, RegistrySource) and not args.no_tags:
            try:
                tags = src.list_tags()
            except OciError:
                tags = []
        out["RepoTags"] = tags
        out["Created"] = cfg.created
        out["DockerVersion"] = cfg.docker_version
        out["Labels"] = cfg.container_config.get("Labels")
        out["Architecture"] = cfg.architecture
        if cfg.variant:
            out["Variant"] = cfg.variant
        out["Os"] = cfg.os
        out["Layers"] = [layer.digest for layer in man.layers]
        if cfg.env is not None:
            out["Env"] = list(cfg.env)
        _print_json(out)
    return 0


def _policy(args: argparse.Namespace):
    """The policy as skopeo picks it: none with --insecure-policy, else --policy or
    /etc/containers/policy.json (unreadable is an error, never "accept")."""
    from .policy import INSECURE, load_policy
    from .signatures import load_registries_d
    policy = INSECURE if args.insecure_policy else load_policy(args.policy)
    return policy, load_registries_d(args.registries_d)


def _passphrase_file(path: str) -> bytes:
    """The first line of ``path`` without its newline, as skopeo (and gpg) read passphrase files."""
    return _read_arg_file(path, "passphrase").split(b"\n", 1)[0]


def _prompt_passphrase(key_path: str, twice: bool) -> bytes:
    """A passphrase typed at the terminal (skopeo refuses when stdin is not one)."""
    from .errors import OciError
    if not sys.stdin.isatty():
        raise OciError(f"Cannot prompt for a passphrase for key {key_path}, standard input is not a TTY")
    first = getpass.getpass(f"Passphrase for key {key_path}: ")
    if twice and getpass.getpass("Repeat the passphrase: ") != first:
        raise OciError("Passphrases do not match")
    return first.encode()


def cmd_generate_sigstore_key(args: argparse.Namespace) -> int:
    import os
    from .cosignkey import generate_key_pair
    from .errors import OciError
    from .fsutil import atomic_write
    private, public = f"{args.output_prefix}.private", f"{args.output_prefix}.pub"
    for path in (public, private):  # skopeo names the .pub when both exist
        if os.path.lexists(path):
            raise OciError(f"Refusing to overwrite existing {json.dumps(path)}")
    passphrase = (_passphrase_file(args.passphrase_file) if args.passphrase_file
                  else _prompt_passphrase(private, twice=True))
    priv_pem, pub_pem = generate_key_pair(passphrase)
    atomic_write(private, priv_pem, mode=0o600)
    atomic_write(public, pub_pem, mode=0o644)
    sys.stdout.write(f"Key written to {json.dumps(private)} and {json.dumps(public)}")  # no newline, as skopeo
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from .copy import copy_image
    from .errors import OciError

    src_opts = _options(args, "src", global_args=args)
    dst_opts = _options(args, "dest", global_args=args)
    multi = "all" if args.all else args.multi_arch
    bar = _ProgressBar(quiet=args.quiet)
    if not args.quiet:
        sys.stderr.write("Getting image source signatures\n")
    policy, regd = _policy(args)
    key = passphrase = None
    if args.sign_by_sigstore and args.sign_by_sigstore_private_key:
        raise OciError("Only one of --sign-by-sigstore and --sign-by-sigstore-private-key can be used")
    if args.sign_by_sigstore:
        from .cosignkey import parse_signing_params
        raw = _read_arg_file(args.sign_by_sigstore, "sigstore signing parameters")
        try:
            params = parse_signing_params(raw.decode(), json.dumps(args.sign_by_sigstore))
        except UnicodeDecodeError:
            raise OciError(f"{args.sign_by_sigstore} is not UTF-8") from None
        key = _read_arg_file(params.private_key_file, "private key")
        passphrase = (_passphrase_file(params.private_key_passphrase_file) if params.private_key_passphrase_file
                      else _prompt_passphrase(params.private_key_file, twice=False))
    elif args.sign_by_sigstore_private_key:
        if args.sign_by and args.sign_passphrase_file:
            raise OciError("Only one of --sign-by and sign-by-sigstore-private-key can be used with "
                           "sign-passphrase-file")
        key = _read_arg_file(args.sign_by_sigstore_private_key, "private key")
        passphrase = (_passphrase_file(args.sign_passphrase_file) if args.sign_passphrase_file
                      else _prompt_passphrase(args.sign_by_sigstore_private_key, twice=False))
    elif args.sign_by and args.sign_passphrase_file:
        passphrase = _passphrase_file(args.sign_passphrase_file)  # for a protected GnuPG key, as skopeo
    res = copy_image(args.source, args.destination, multi_arch=multi,
                     platform=_platform(args, args.copy_override_arch, args.copy_override_os),
                     src_options=src_opts, dst_options=dst_opts, progress=bar,
                     max_parallel=max(1, args.parallel), policy=policy, registries_d=regd,
                     remove_signatures=bool(args.remove_signatures), sign_by=args.sign_by,
                     sign_identity=args.sign_identity, sigstore_private_key=key, sign_passphrase=passphrase)
    if args.digestfile:
        with open(args.digestfile, "w") as f:
            f.write(res.digest)
    return 0


def cmd_list_tags(args: argparse.Namespace) -> int:
    from .docker import RegistrySource
    from .errors import ReferenceInvalid
    from .reference import parse_docker_reference

    repo = args.repository
    if not repo.startswith("docker://"):
        raise ReferenceInvalid(f"list-tags supports only docker:// references, not {repo!r}")
    ref = parse_docker_reference(repo[len("docker://"):], normalize=False)
    if ref.tag or ref.digest:
        raise ReferenceInvalid(f"tags or digests are not supported in list-tags: {repo!r}")
    ref = parse_docker_reference(repo[len("docker://"):])
    src = RegistrySource(ref, _options(args, global_args=args))
    try:
        tags = src.list_tags()
    finally:
        src.close()
    _print_json({"Repository": ref.name, "Tags": tags})
    return 0


def cmd_manifest_digest(args: argparse.Namespace) -> int:
    from .digest import digest_bytes
    from .errors import OciError

    try:
        with open(args.file, "rb") as f:
            data = f.read()
    except OSError as e:
        raise OciError(f"reading {args.file}: {e.strerror}") from None
    print(digest_bytes(data))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from .docker import make_client, resolve_registries_conf
    from .errors import ReferenceInvalid
    from .reference import DockerReference, parse_reference

    ref = parse_reference(args.image)
    if not isinstance(ref, DockerReference) or not args.image.startswith("docker://"):
        raise ReferenceInvalid("delete supports only docker:// references")
    opts = _options(args, global_args=args)
    conf = resolve_registries_conf(opts)
    target, insecure = conf.push_destination(ref)
    client = make_client(target, opts, insecure, conf)
    try:
        digest = target.digest
        if digest is None:
            desc = client.head_manifest(target.repository, target.reference)
            if desc is None:
                _, _, digest = client.get_manifest(target.repository, target.reference)
            else:
                digest = desc.digest
        client.delete_manifest(target.repository, digest)
    finally:
        client.close()
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    from .auth import lookup_credentials
    from .errors import OciError

    server = args.registry
    for pre in ("https://", "http://", "docker://"):
        if server.startswith(pre):
            server = server[len(pre):]
    server = server.rstrip("/")
    host = server.split("/", 1)[0]
    if args.get_login:
        creds = lookup_credentials(host, server.split("/", 1)[1] if "/" in server else None,
                                   authfile=args.authfile)
        if creds is None:
            raise OciError(f"not logged into {server}")
        print(creds.username)
        return 0
    username = args.username
    password = args.password
    if args.password_stdin:
        if password:
            raise OciError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\r\n")
    if not username:
        if not sys.stdin.isatty():
            raise OciError("username is required (use --username)")
        username = input("Username: ")
    if password is None:
        password = getpass.getpass("Password: ")
    from .porcelain import login
    login(server, username, password, authfile=args.authfile, tls_verify=args.tls_verify,
          cert_dir=args.cert_dir, request_timeout=args.request_timeout,
          command_timeout=_command_timeout(args))
    print("Login Succeeded!")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    from .auth import remove_credentials
    from .errors import OciError

    if args.all:
        remove_credentials(None, authfile=args.authfile, all=True)
        print("Removed login credentials for all registries")
        return 0
    if not args.registry:
        raise OciError("registry must be given unless --all is used")
    server = args.registry
    for pre in ("https://", "http://", "docker://"):
        if server.startswith(pre):
            server = server[len(pre):]
    server = server.rstrip("/")
    if not remove_credentials(server, authfile=args.authfile):
        raise OciError(f"not logged into {server}")
    print(f"Removed login credentials for {server}")
    return 0


def _read_arg_file(path: str, what: str) -> bytes:
    from .errors import OciError
    try:
        with open(path, "rb") as f:
            data = f.read(16 * 1024 * 1024 + 1)
    except OSError as e:
        raise OciError(f"Error reading {what} from {path}: {e.strerror}") from None
    if len(data) > 16 * 1024 * 1024:
        raise OciError(f"{what} {path} is too large")
    return data


def cmd_standalone_sign(args: argparse.Namespace) -> int:
    from .fsutil import atomic_write
    from .simplesign import sign
    passphrase = _passphrase_file(args.passphrase_file) if args.passphrase_file else None
    atomic_write(args.output, sign(_read_arg_file(args.manifest, "manifest"), args.reference, args.key,
                                   passphrase=passphrase))
    return 0


def cmd_standalone_verify(args: argparse.Namespace) -> int:
    from .digest import digest_bytes
    from .gpghome import homedir_keyring
    from .pgpformat import Keyring, OpenPGPError
    from .simplesign import SignatureInvalid, verify_standalone
    manifest = _read_arg_file(args.manifest, "manifest")
    try:
        keyring = (Keyring.from_bytes(_read_arg_file(args.public_key_file, "public keys")) if args.public_key_file
                   else homedir_keyring())
    except OpenPGPError as e:
        raise SignatureInvalid(f"Error reading public keys: {e}") from None
    fprs = [f.strip().upper() for f in args.fingerprints.split(",") if f.strip()]
    if fprs == ["ANY"]:
        fprs = [c.fingerprint for c in keyring.certificates]
    verify_standalone(manifest, args.reference, fprs, _read_arg_file(args.signature, "signature"), keyring)
    # skopeo 1.9's words (payload.signer is the key; skopeo does not print it)
    print(f"Signature verified, digest {digest_bytes(manifest)}")
    return 0


VERBS = {
    "generate-sigstore-key": cmd_generate_sigstore_key,
    "standalone-sign": cmd_standalone_sign, "standalone-verify": cmd_standalone_verify,
    "inspect": cmd_inspect, "copy": cmd_copy, "list-tags": cmd_list_tags,
    "manifest-digest": cmd_manifest_digest, "delete": cmd_delete, "login": cmd_login,
    "logout": cmd_logout,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .errors import OciError

    parser = build_parser()
    args = parser.parse_args(_preprocess(list(sys.argv[1:] if argv is None else argv)))
    if args.version:
        from . import __version__
        print(f"ociclient version {__version__}")
        return 0
    if not args.verb:
        parser.print_help()
        return 1
    if args.debug:
        import logging
        logging.basicConfig(level=logging.DEBUG)
    try:
        return VERBS[args.verb](args)
    except OciError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
