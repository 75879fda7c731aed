"""``ostreepy container``: ostree-ext's ``ostree container`` verbs over ostreepy's importer."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict

from ..errors import OstreeError


def _options(args: argparse.Namespace) -> Any:
    import ociclient
    kw: Dict[str, Any] = {}
    if getattr(args, "authfile", None):
        kw["authfile"] = args.authfile
    if getattr(args, "insecure_skip_tls_verification", False):
        kw["tls_verify"] = False
    if getattr(args, "cert_dir", None):
        kw["cert_dir"] = args.cert_dir
    if getattr(args, "auth_anonymous", False):
        kw["authfile"] = os.devnull
    return ociclient.Options(**kw)


def _add_transport_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--authfile", help="Path to a containers-auth.json file")
    p.add_argument("--auth-anonymous", action="store_true", help="Do not use credentials")
    p.add_argument("--cert-dir", help="Directory with TLS certificates (ca.crt, client certs)")
    p.add_argument("--insecure-skip-tls-verification", action="store_true",
                   help="Skip TLS verification (also allows plain HTTP)")


def _open_repo(path: str):
    from ..store.repo import Repo
    return Repo.open(path)


def _progress(args: argparse.Namespace, prep: Any):
    """Progress for a pull: bootc's progress-v0 JSON Lines on ``--progress-fd`` and a
    bar on a terminal, both from the bootc layer's renderers."""
    callbacks = []
    fd = getattr(args, "progress_fd", None)
    tty = sys.stderr.isatty() and not getattr(args, "quiet", False)
    if fd is None and not tty:
        return None  # nothing to render: the bootc layer (and its imports) is not needed
    from ..bootc import JsonlWriter, PullProgressMapper, TtyBar
    if fd is not None:
        writer = JsonlWriter(fd)
        layers = prep.layers
        mapper = PullProgressMapper(prep.manifest_digest, layers_total=len(layers),
                                    layers_to_fetch=prep.layers_needed,
                                    bytes_total=sum(p.descriptor.size for p in layers),
                                    bytes_to_fetch=prep.bytes_needed)

        def jsonl(ev) -> None:
            for event, lossy in mapper.feed(ev):
                writer.send(event, lossy)

        callbacks.append(jsonl)
    if tty:
        callbacks.append(TtyBar(sys.stderr))

    def cb(ev) -> None:
        for c in callbacks:
            c(ev)

    return cb


def cmd_image_pull(args: argparse.Namespace) -> int:
    from .. import porcelain
    from ..container.imgref import OstreeImageReference
    repo = _open_repo(args.repo)
    options = _options(args)
    # parsed as ostree-ext's CLI parses: ostree-* schemes only
    prep = porcelain.prepare_pull(repo, OstreeImageReference.parse(args.imgref), options=options)
    imgref = prep.imgref
    if prep.already_present and prep.previous is not None:
        print(f"No changes in {imgref} => {prep.previous.merge_commit}")
        return 0
    status = prep.format_layer_status()
    if status and not args.quiet:
        print(status)
    res = porcelain.pull(repo, imgref, options=options, legacy_paths=args.legacy_paths, prepared=prep,
                         progress=_progress(args, prep))
    if res.filtered:
        sys.stderr.write("Image contains non-ostree compatible file paths: "
                         + " ".join(f"{k}: {v}" for k, v in sorted(res.filtered.items())) + "\n")
    if res.verify_text is not None:
        print(res.verify_text)  # as ostree-ext: the signatures, before "Wrote:"
    print(f"Wrote: {imgref} => {res.merge_commit}")
    return 0


def cmd_image_list(args: argparse.Namespace) -> int:
    from ..container.store import list_images
    for name in list_images(_open_repo(args.repo)):
        print(name)
    return 0


def cmd_image_remove(args: argparse.Namespace) -> int:
    from ..container.store import remove_images
    n, layers = remove_images(_open_repo(args.repo), args.imgrefs, gc=not args.skip_gc)
    print(f"Removed images: {n}" if args.skip_gc else f"Removed images: {n} layers: {layers}")
    return 0


def cmd_image_prune_layers(args: argparse.Namespace) -> int:
    from ..container.store import prune_layers
    print(f"Removed layers: {prune_layers(_open_repo(args.repo))}")
    return 0


def _state(repo, imgref: str):
    from ..container.store import query_image
    st = query_image(repo, imgref)
    if st is None:
        raise OstreeError(f"No such image: {imgref}")
    return st


def cmd_image_metadata(args: argparse.Namespace) -> int:
    from ..container.store import canonical_json
    st = _state(_open_repo(args.repo), args.imgref)
    data = st.config_json if args.config else st.manifest_json
    sys.stdout.write(canonical_json(data))
    sys.stdout.flush()
    return 0


def cmd_image_history(args: argparse.Namespace) -> int:
    from ..container.store import image_history_rows
    from ..store.prune import format_size
    st = _state(_open_repo(args.repo), args.imgref)
    rows = [("ID", "SIZE", "CRCEATED BY")] + [(i, format_size(s), c) for i, s, c in image_history_rows(st)]
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    for r in rows:
        print(" " + "  ".join(r[k].ljust(widths[k]) for k in range(3)).rstrip())
    return 0


def cmd_encapsulate(args: argparse.Namespace) -> int:
    from ..porcelain import encapsulate
    labels = {}
    for kv in args.label or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise OstreeError(f"Missing '=' in label {kv}")
        labels[k] = v
    repo = _open_repo(args.repo)
    res = encapsulate(repo, args.rev, args.imgref, labels=labels, cmd=args.cmd,
                      compression_fast=args.compression_fast, options=_options(args))
    print(res.manifest_digest)
    return 0


def cmd_unencapsulate(args: argparse.Namespace) -> int:
    from .. import porcelain
    from ..container.imgref import OstreeImageReference
    repo = _open_repo(args.repo)
    # parsed as ostree-ext's CLI parses: ostree-* schemes only
    commit = porcelain.unencapsulate(repo, OstreeImageReference.parse(args.imgref), write_ref=args.write_ref,
                                     options=_options(args))
    print(f"Imported: {args.write_ref} => {commit}" if args.write_ref else f"Imported: {commit}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("container", help="Import and export container images")
    csub = p.add_subparsers(dest="container_command", metavar="COMMAND")

    img = csub.add_parser("image", help="Commands operating on stored container images")
    isub = img.add_subparsers(dest="image_command", metavar="COMMAND")

    q = isub.add_parser("pull", help="Pull an image into the repository")
    q.add_argument("repo", help="Path to the repository")
    q.add_argument("imgref", help="Image reference, e.g. ostree-unverified-registry:quay.io/x/y:tag")
    q.add_argument("--quiet", action="store_true")
    q.add_argument("--progress-fd", type=int, help="Write progress as JSON Lines (bootc progress-v0) to this fd")
    q.add_argument("--legacy-paths", action="store_true",
                   help="Older ostree-ext path rules: /var to usr/share/factory/var, drop other top-level dirs")
    _add_transport_args(q)
    q.set_defaults(func=cmd_image_pull)

    q = isub.add_parser("list", help="List stored images")
    q.add_argument("--repo", required=True)
    q.set_defaults(func=cmd_image_list)

    q = isub.add_parser("remove", help="Remove stored images")
    q.add_argument("--repo", required=True)
    q.add_argument("--skip-gc", action="store_true")
    q.add_argument("imgrefs", nargs="+")
    q.set_defaults(func=cmd_image_remove)

    q = isub.add_parser("prune-layers", help="Remove layer refs no image uses")
    q.add_argument("--repo", required=True)
    q.set_defaults(func=cmd_image_prune_layers)

    q = isub.add_parser("metadata", help="Print the stored manifest (or config) JSON")
    q.add_argument("--repo", required=True)
    q.add_argument("--config", action="store_true")
    q.add_argument("imgref")
    q.set_defaults(func=cmd_image_metadata)

    q = isub.add_parser("history", help="Print the layers of a stored image")
    q.add_argument("--repo", required=True)
    q.add_argument("imgref")
    q.set_defaults(func=cmd_image_history)

    try:
        from .bootc import add_image_deploy_parser
    except ImportError:
        pass
    else:
        add_image_deploy_parser(isub)

    q = csub.add_parser("encapsulate", aliases=["export"], help="Export a commit as a container image")
    q.add_argument("--repo", required=True)
    q.add_argument("-l", "--label", action="append")
    q.add_argument("--cmd", action="append")
    q.add_argument("--compression-fast", action="store_true")
    _add_transport_args(q)
    q.add_argument("rev")
    q.add_argument("imgref")
    q.set_defaults(func=cmd_encapsulate)

    q = csub.add_parser("unencapsulate", aliases=["import"], help="Import an ostree-encapsulated image")
    q.add_argument("--repo", required=True)
    q.add_argument("--write-ref")
    q.add_argument("--quiet", action="store_true")
    _add_transport_args(q)
    q.add_argument("imgref")
    q.set_defaults(func=cmd_unencapsulate)
