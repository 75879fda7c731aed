"""``ostreepy admin``: the ``ostree admin`` verbs over a sysroot.

Flags and printed text follow ostree 2022.7/upstream, so the two commands can
be swapped in scripts. Registered by :mod:`ostreepy.cli.main`.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Optional

from bootloader.kargs import KernelArgs

from ..sysroot.deployment import format_status, origin_from_refspec, status_json
from ..errors import DeployError, OstreeError
from ..store.keyfile import KeyFile

if TYPE_CHECKING:
    from ..store.repo import Repo
    from ..sysroot.deployment import StatusRow

__all__ = ["register"]


class AdminUsageError(OstreeError):
    pass


def _print(s: str) -> None:
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


def _sysroot_path(args: argparse.Namespace) -> str:
    from ..sysroot.paths import default_sysroot_path
    return default_sysroot_path(getattr(args, "sysroot", None))


def _open(args: argparse.Namespace, **kw):  # noqa: ANN202
    from ..sysroot.sysroot import Sysroot
    cmdline = getattr(args, "booted_cmdline", None)
    return Sysroot(_sysroot_path(args), booted_cmdline=cmdline, message=_print, **kw)


def _add_sysroot(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sysroot", metavar="PATH", default=argparse.SUPPRESS,
                   help="Create a new OSTree sysroot at PATH")
    p.add_argument("--booted-cmdline", metavar="CMDLINE", default=argparse.SUPPRESS,
                   help="Kernel command line whose ostree= names the booted deployment")


# ---------------------------------------------------------------------- commands


def cmd_init_fs(args: argparse.Namespace) -> int:
    from ..sysroot.sysroot import init_fs
    init_fs(args.path, modern=args.modern, repo_mode=args.repo_mode, epoch=args.epoch)
    return 0


def cmd_os_init(args: argparse.Namespace) -> int:
    # os-init is ostree 2022.7's (Debian 12's): var/ gets lib, log, tmp, run and lock.
    # stateroot-init, the verb's newer name (2023.6), is the newest ostree's: an empty
    # var/ that the first deployment's /var fills (2024.3, "initial-var"), and the
    # message that came with the name. Between 2023.6 and 2024.2 ostree's
    # stateroot-init still filled var/ as os-init does.
    newest = getattr(args, "init_verb", "os-init") == "stateroot-init"
    with _open(args) as sr:
        sr.init_osname(args.stateroot, legacy_var=not newest)
    word = "stateroot" if newest else "root"
    _print(f"ostree/deploy/{args.stateroot} initialized as OSTree {word}")
    return 0


def _read_proc_cmdline() -> str:
    with open("/proc/cmdline", "r", encoding="utf-8") as f:
        return f.read()


def cmd_deploy(args: argparse.Namespace) -> int:
    if args.karg_proc_cmdline and args.karg_none:
        raise AdminUsageError("Can't specify both --karg-proc-cmdline and --karg-none")
    if args.karg_none and args.karg_delete:
        raise AdminUsageError("Can't specify both --karg-none and --karg-delete")
    if args.no_merge and args.karg_delete:
        raise AdminUsageError("Can't specify both --no-merge and --karg-delete")
    with _open(args) as sr:
        osname = args.os
        if osname is None and sr.booted is None:
            raise DeployError("Looking for booted deployment: Not currently booted into an OSTree "
                              "system and no --os= argument given")
        if args.origin_file:
            with open(args.origin_file, "r", encoding="utf-8") as f:
                origin = KeyFile.parse(f.read())
        else:
            origin = origin_from_refspec(args.refspec)
        merge = None if args.no_merge else sr.get_merge_deployment(osname)
        kargs: Optional[KernelArgs] = None
        if args.karg_none:
            kargs = KernelArgs()
        elif args.karg_proc_cmdline:
            kargs = KernelArgs.from_proc_cmdline(_read_proc_cmdline())
        elif merge is not None and (args.karg or args.karg_append or args.karg_delete):
            kargs = merge.kargs
        for a in args.karg or []:
            kargs = (kargs or KernelArgs()).set(a)
        for a in args.karg_append or []:
            kargs = (kargs or KernelArgs()).extend([a])
        for a in args.karg_delete or []:
            kargs = (kargs or KernelArgs()).delete_if_present(a)
        sr.deploy(osname, args.refspec, origin,
                  override_kargs=kargs.to_list() if kargs is not None else None,
                  merge=not args.no_merge, retain=args.retain, retain_pending=args.retain_pending,
                  retain_rollback=args.retain_rollback, make_default=not args.not_as_default,
                  stage=args.stage, prune=not args.no_prune)
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from ..sysroot.upgrader import UpgradeError, upgrade
    if args.pull_only and args.deploy_only:
        raise UpgradeError("Cannot simultaneously specify --pull-only and --deploy-only")
    if args.pull_only and args.reboot:
        raise UpgradeError("Cannot simultaneously specify --pull-only and --reboot or --kexec")
    with _open(args) as sr:
        result = upgrade(sr, args.os, override_commit=args.override_commit,
                         allow_downgrade=args.allow_downgrade, pull_only=args.pull_only,
                         deploy_only=args.deploy_only, stage=args.stage, progress=_console_progress())
    if not result.changed:
        _print("No update available.")
    elif args.reboot:
        raise DeployError("--reboot is not supported by ostreepy; reboot the machine yourself")
    return 0


def _console_progress():  # type: ignore[no-untyped-def]
    """ostree's one-line pull progress, on a terminal only."""
    if not sys.stdout.isatty():
        return None
    try:
        from .pull import console_progress
    except ImportError:
        return None
    return console_progress()


def cmd_status(args: argparse.Namespace) -> int:
    with _open(args) as sr:
        rows = sr.status_rows()
        if args.json:
            sys.stdout.write(status_json(rows))
        elif args.is_default:
            if not rows:
                raise DeployError("Not in a booted OSTree system")
            _print("default" if rows[0].booted else "not-default")
        else:
            sys.stdout.write(format_status(rows, lambda r: _status_signatures(sr.repo, _sysroot_path(args), r, args.verify)))
    return 0


def _status_signatures(repo: "Repo", sysroot: str, row: "StatusRow", verify: bool) -> str:
    """The lines ``ostree admin status`` prints after a deployment
    (deployment_print_status): with ``--verify`` the verification text of the
    origin's remote, which must pass; else, when that remote verifies GPG, each
    signature described against the keys of the remote named like the
    deployment's *stateroot* (ostree passes the osname there, ot-admin-builtin-status.c),
    nothing when that remote does not exist or the commit is unsigned."""
    from ..remote import trust
    from ..remote.config import load_remote
    from ..store.objects import ObjectType
    from ..store.refs import parse_refspec
    d = row.deployment
    refspec = d.origin.get("origin", "refspec") if d.origin is not None else None
    remote_name = parse_refspec(refspec)[0] if refspec else None
    try:
        commit = repo.load_metadata(ObjectType.COMMIT, d.csum)
    except OstreeError:
        commit = None
    if verify:
        if commit is None:
            raise DeployError("Cannot verify, failed to load commit")
        if d.origin is None:
            raise DeployError("Cannot verify deployment with no origin")
        if refspec is None:
            raise DeployError("No origin/refspec, cannot verify")
        if remote_name is None:
            raise DeployError("Cannot verify deployment without remote")
        text = trust.signature_verify_commit_data(load_remote(repo, remote_name, sysroot), commit,
                                                  repo.read_commit_detached_metadata(d.csum), repo=repo)
        return text + "\n"
    if commit is None or remote_name is None:
        return ""
    try:
        if not load_remote(repo, remote_name, sysroot).gpg_verify:
            return ""
        keys_of = load_remote(repo, d.osname, sysroot)
    except OstreeError:
        return ""
    return trust.describe_gpg_signatures(keys_of, commit, repo.read_commit_detached_metadata(d.csum),
                                         "    GPG: ", repo=repo) or ""


def _parse_index(s: str) -> int:
    try:
        if not s.isdigit():
            raise ValueError
        return int(s)
    except ValueError:
        raise DeployError(f"Invalid index: {s}") from None


def cmd_undeploy(args: argparse.Namespace) -> int:
    with _open(args) as sr:
        d = sr.undeploy(_parse_index(args.index))
        _print(f"Deleted deployment {d.name}")
        sr.cleanup()
    return 0


def _atoi(s: str) -> int:
    """C's atoi, as set-default reads its INDEX: leading digits (and sign), else 0."""
    import re
    m = re.match(r"\s*([+-]?\d+)", s)
    return int(m.group(1)) if m else 0


def cmd_set_default(args: argparse.Namespace) -> int:
    with _open(args) as sr:
        sr.set_default(_atoi(args.index))
        sr.cleanup()
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    with _open(args) as sr:
        sr.cleanup()
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    with _open(args) as sr:
        for s in args.indexes:
            if s in ("booted", "pending", "rollback"):
                target = None
                if sr.booted is not None:
                    pending, rollback = sr.query_deployments_for(None)
                    target = {"booted": sr.booted, "pending": pending, "rollback": rollback}[s]
                if target is None:
                    raise DeployError(f"Deployment type not found: {s}")
                index = target.index
            else:
                index = _parse_index(s)
            d = sr.indexed(index)
            want = not args.unpin
            if d.pinned == want:
                _print(f"Deployment {index} is already {'pinned' if want else 'unpinned'}")
            else:
                sr.set_pinned(d, want)
                _print(f"Deployment {index} is now {'pinned' if want else 'unpinned'}")
    return 0


def cmd_set_origin(args: argparse.Namespace) -> int:
    with _open(args) as sr:
        if args.index is None:
            if sr.booted is None:
                raise DeployError("Not currently booted into an OSTree system")
            target = sr.booted
        else:
            target = sr.indexed(args.index)
        repo = sr.repo
        group = f'remote "{args.remotename}"'
        if not repo.config.has_group(group):
            repo.config.set(group, "url", args.url)
            for kv in args.set or []:
                k, eq, v = kv.partition("=")
                if not eq:
                    raise AdminUsageError(f"Missing '=' in KEY=VALUE for --set: {kv}")
                repo.config.set(group, k, v)
            repo.write_config()
        refspec = target.origin_refspec
        branch = args.branch
        if refspec is None and branch is None:
            raise DeployError("No host refspec found, branch is required")
        if branch is None:
            assert refspec is not None
            branch = refspec.split(":", 1)[1] if ":" in refspec else refspec
        sr.write_origin_file(target, origin_from_refspec(f"{args.remotename}:{branch}"))
    return 0


def cmd_kargs_edit_in_place(args: argparse.Namespace) -> int:
    with _open(args) as sr:
        if not sr.deployments:
            raise DeployError("Unable to find a deployment in sysroot")
        for d in list(sr.deployments):
            d = next(x for x in sr.deployments if x.same(d))
            kargs = d.kargs
            for a in args.append_if_missing or []:
                kargs = kargs.append_if_missing(a)
            sr.set_kargs_in_place(d, str(kargs))
    return 0


def cmd_finalize_staged(args: argparse.Namespace) -> int:
    with _open(args) as sr:
        sr.finalize_staged()
    return 0


# ---------------------------------------------------------------------- parser


def cmd_switch(args: argparse.Namespace) -> int:
    """ot-admin-builtin-switch.c: follow another ref (``REMOTE:``: the same ref from
    another remote), pull it allowing older commits, deploy, then drop the old ref."""
    from ..store.refs import parse_refspec
    from ..sysroot.upgrader import UpgradeError, Upgrader
    with _open(args) as sr:
        with sr.locked():
            up = Upgrader(sr, args.os, ignore_unconfigured=True)
            old_refspec = up.origin.get("origin", "refspec") or ""
            old_remote, old_ref = parse_refspec(old_refspec)
            if args.refspec.endswith(":"):
                new_remote: Optional[str] = args.refspec[:-1]
                new_ref = old_ref
            else:
                new_remote, new_ref = parse_refspec(args.refspec)
            remote = new_remote or old_remote
            new_refspec = f"{remote}:{new_ref}" if remote else new_ref
            if new_refspec == old_refspec:
                raise UpgradeError(f"Old and new refs are equal: {new_refspec}")
            up.set_origin(origin_from_refspec(new_refspec))
            up.pull(allow_older=True, progress=_console_progress())
            up.deploy()
            _print(f"Deleting ref '{old_remote if old_remote else '(null)'}:{old_ref}'")
            sr.repo.set_ref(old_refspec, None)
    if args.reboot:
        raise DeployError("--reboot is not supported by ostreepy; reboot the machine yourself")
    return 0


def cmd_instutil_set_kargs(args: argparse.Namespace) -> int:
    """ot-admin-instutil-builtin-set-kargs.c: new kernel arguments for the first
    deployment, written as a new boot configuration."""
    with _open(args) as sr:
        if not sr.deployments:
            raise DeployError("Unable to find a deployment in sysroot")
        first = sr.deployments[0]
        kargs = KernelArgs()
        if args.import_proc_cmdline:
            kargs = KernelArgs.from_proc_cmdline(_read_proc_cmdline())
        elif args.merge and first.bootconfig is not None:
            kargs = kargs.extend((first.bootconfig.get("options") or "").split(" "))
        # ostree_kernel_args_replace_argv: KEY=VALUE becomes the one KEY, where the
        # first old one was (not --karg-replace's old=new edit)
        for a in args.replace or []:
            kargs = kargs.set(a)
        kargs = kargs.extend(list(args.append or []) + list(args.args))
        sr.set_kargs(first, kargs.to_list())
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    """`ostree admin` with no verb: only --print-current-dir (ot-main.c), which prints
    the first deployment's directory, the booted one or not."""
    if not args.print_current_dir:
        sys.stderr.write("error: No \"admin\" subcommand specified\n")
        return 1
    return _print_current_dir(args)


def _print_current_dir(args: argparse.Namespace) -> int:
    import os
    with _open(args) as sr:
        if not sr.deployments:
            raise DeployError("Unable to find a deployment in sysroot")
        _print(os.path.abspath(sr.deployment_dir(sr.deployments[0])))
    return 0


def register(subparsers: "argparse._SubParsersAction") -> None:
    admin = subparsers.add_parser("admin", help="Commands for managing a host system booted with ostree")
    admin.add_argument("--sysroot", metavar="PATH", default=None,
                       help="Create a new OSTree sysroot at PATH")
    admin.add_argument("--booted-cmdline", metavar="CMDLINE", default=None,
                       help="Kernel command line whose ostree= names the booted deployment")
    admin.add_argument("--print-current-dir", action="store_true", help=argparse.SUPPRESS)
    admin.set_defaults(func=cmd_admin)
    sub = admin.add_subparsers(dest="admin_command", metavar="COMMAND")

    p = sub.add_parser("switch", help="Construct new tree from REFSPEC and deploy it")
    _add_sysroot(p)
    p.add_argument("--os", "--stateroot", dest="os", metavar="OSNAME")
    p.add_argument("-r", "--reboot", action="store_true")
    p.add_argument("refspec")
    p.set_defaults(func=cmd_switch)

    p = sub.add_parser("instutil", help="Deployment utilities for use by installers")
    isub = p.add_subparsers(dest="instutil_command", metavar="COMMAND")
    k = isub.add_parser("set-kargs", help="Set new kernel command line arguments (not in place)")
    _add_sysroot(k)
    k.add_argument("--import-proc-cmdline", action="store_true")
    k.add_argument("--merge", action="store_true")
    k.add_argument("--replace", action="append", metavar="NAME=VALUE")
    k.add_argument("--append", action="append", metavar="NAME=VALUE")
    k.add_argument("args", nargs="*", metavar="ARGS")
    k.set_defaults(func=cmd_instutil_set_kargs)

    p = sub.add_parser("init-fs", help="Initialize a root filesystem")
    p.add_argument("--modern", action="store_true", help="Only create /boot and /ostree")
    p.add_argument("-E", "--epoch", type=int, default=0)
    p.add_argument("--repo-mode", default="bare", choices=["bare", "bare-user", "bare-user-only"],
                   help="Mode of the new ostree/repo (ostreepy extension)")
    p.add_argument("path")
    p.set_defaults(func=cmd_init_fs)

    # stateroot-init is os-init's newer name (ostree 2023.6); libtest.sh of later tags calls it
    for verb in ("os-init", "stateroot-init"):
        p = sub.add_parser(verb, help="Initialize empty state for given operating system")
        _add_sysroot(p)
        p.add_argument("stateroot", metavar="OSNAME")
        p.set_defaults(func=cmd_os_init, init_verb=verb)

    p = sub.add_parser("deploy", help="Checkout revision REFSPEC as the new default deployment")
    _add_sysroot(p)
    p.add_argument("--os", "--stateroot", dest="os", metavar="OSNAME")
    p.add_argument("--origin-file", metavar="FILENAME")
    p.add_argument("--no-prune", action="store_true")
    p.add_argument("--no-merge", action="store_true")
    p.add_argument("--retain", action="store_true")
    p.add_argument("--retain-pending", action="store_true")
    p.add_argument("--retain-rollback", action="store_true")
    p.add_argument("--stage", action="store_true")
    p.add_argument("--not-as-default", action="store_true")
    p.add_argument("--karg-proc-cmdline", action="store_true")
    p.add_argument("--karg", action="append", metavar="NAME=VALUE")
    p.add_argument("--karg-append", action="append", metavar="NAME=VALUE")
    p.add_argument("--karg-none", action="store_true")
    p.add_argument("--karg-delete", action="append", metavar="NAME=VALUE")
    p.add_argument("refspec")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("upgrade", help="Construct new tree from current origin and deploy it, if it changed")
    _add_sysroot(p)
    p.add_argument("--os", "--stateroot", dest="os", metavar="OSNAME")
    p.add_argument("-r", "--reboot", action="store_true")
    p.add_argument("--allow-downgrade", action="store_true")
    p.add_argument("--override-commit", metavar="CHECKSUM")
    p.add_argument("--pull-only", action="store_true")
    p.add_argument("--deploy-only", action="store_true")
    p.add_argument("--stage", action="store_true")
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("status", help="List deployments")
    _add_sysroot(p)
    p.add_argument("-J", "--json", action="store_true")
    p.add_argument("-D", "--is-default", action="store_true")
    p.add_argument("-V", "--verify", action="store_true")
    p.add_argument("-S", "--skip-signatures", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("undeploy", help="Delete deployment INDEX")
    _add_sysroot(p)
    p.add_argument("index")
    p.set_defaults(func=cmd_undeploy)

    p = sub.add_parser("set-default", help="Make deployment INDEX the default")
    _add_sysroot(p)
    p.add_argument("index", metavar="INDEX")
    p.set_defaults(func=cmd_set_default)

    p = sub.add_parser("cleanup", help="Delete untagged deployments and repository objects")
    _add_sysroot(p)
    p.set_defaults(func=cmd_cleanup)

    p = sub.add_parser("pin", help="Change the \"pinning\" state of a deployment")
    _add_sysroot(p)
    p.add_argument("-u", "--unpin", action="store_true")
    p.add_argument("indexes", nargs="+", metavar="INDEX")
    p.set_defaults(func=cmd_pin)

    p = sub.add_parser("set-origin", help="Set Origin and create a new origin file")
    _add_sysroot(p)
    p.add_argument("--index", type=int)
    p.add_argument("-s", "--set", action="append", metavar="KEY=VALUE")
    p.add_argument("remotename")
    p.add_argument("url")
    p.add_argument("branch", nargs="?")
    p.set_defaults(func=cmd_set_origin)

    p = sub.add_parser("kargs", help="Change kernel arguments")
    ksub = p.add_subparsers(dest="kargs_command", metavar="COMMAND")
    k = ksub.add_parser("edit-in-place", help="Set new kernel command line arguments in place")
    _add_sysroot(k)
    k.add_argument("--append-if-missing", action="append", metavar="NAME=VALUE")
    # ostree's GOptionContext leaves extra arguments (a refspec in its own tests) unread
    k.add_argument("ignored", nargs="*", help=argparse.SUPPRESS)
    k.set_defaults(func=cmd_kargs_edit_in_place)

    p = sub.add_parser("finalize-staged", help="Finalize the staged deployment")
    _add_sysroot(p)
    p.add_argument("--hold", action="store_true")
    p.set_defaults(func=cmd_finalize_staged)

    _wrap_print_current_dir(sub)


def _wrap_print_current_dir(sub: "argparse._SubParsersAction") -> None:
    """`ostree admin --print-current-dir VERB` prints the directory and exits before
    VERB runs (ot-main.c), whatever VERB is."""
    for p in sub.choices.values():
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                _wrap_print_current_dir(a)
        func = p.get_default("func")
        if func is None:
            continue

        def run(args: argparse.Namespace, func=func) -> int:  # noqa: ANN001
            if getattr(args, "print_current_dir", False):
                return _print_current_dir(args)
            return func(args)
        p.set_defaults(func=run)

