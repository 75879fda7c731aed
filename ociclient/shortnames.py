"""Short-name resolution as podman does it (containers-shortnames(5), containers/image
``pkg/shortnames``), for pulls.

A *short name* is an image name without a registry (``fedora``, ``library/x:1``,
``x@sha256:…``; see :func:`ociclient.reference.is_short_name`). Only names given without the
``docker://`` prefix are short names here: ``docker://x`` means ``docker.io/library/x`` as in
skopeo. :func:`resolve_short_name` turns a short name into the fully qualified references to
try, in order:

1. an alias: the user's ``short-name-aliases.conf`` cache first (``$XDG_CACHE_HOME`` or
   ``~/.cache``/``containers/short-name-aliases.conf``, ``/var/cache/containers/…`` for root),
   then the ``[aliases]`` of registries.conf and its drop-ins (a later file wins; an alias set
   to ``""`` resets one set earlier). An alias is always used, whatever the mode; the tag or
   digest of the input is put on it.
2. otherwise every ``unqualified-search-registries`` entry prefixed to the name as written
   (``reg/x:1``; ``library/`` is only added for ``docker.io``). With one entry there is no
   ambiguity. With several, ``short-name-mode`` decides: ``disabled`` and ``permissive`` try
   them all in order (the first registry that has the image wins), ``enforcing`` refuses with
   :class:`~ociclient.errors.ShortNameError` — unless a ``prompt`` is given (the command line
   gives one on a terminal, as podman prompts there), whose selection is used and recorded in
   the user's alias cache after a successful pull.
3. with no search registries configured the name falls back to ``docker.io`` (podman refuses
   instead; ociclient keeps the docker behaviour here).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

import attrs

from .errors import ConfigError, ReferenceInvalid, ShortNameError
from .reference import DockerReference, parse_docker_reference
from .registries_conf import Alias, RegistriesConf, parse_aliases, parse_alias_value, read_toml_file

log = logging.getLogger(__name__)

USER_ALIASES_FILE = os.path.join("containers", "short-name-aliases.conf")

#: ``prompt(candidates) -> chosen`` (one of the strings given), used when a short name is ambiguous
Prompt = Callable[[Sequence[str]], str]


def default_user_aliases_path(env: Optional[Mapping[str, str]] = None) -> str:
    """Where podman keeps the short-name aliases it recorded."""
    env = os.environ if env is None else env
    if os.geteuid() == 0:
        return os.path.join("/var/cache", USER_ALIASES_FILE)
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"), USER_ALIASES_FILE)


def load_user_aliases(path: Optional[str]) -> Tuple[Alias, ...]:
    """The ``[aliases]`` of the user's alias cache (a missing file has none)."""
    if not path:
        return ()
    obj = read_toml_file(path)
    if obj is None:
        return ()
    return parse_aliases(obj.get("aliases"), path)


def record_alias(path: str, name: str, value: str) -> None:
    """Add or replace ``name = value`` in the user's alias cache (``value`` fully qualified)."""
    value = parse_alias_value(value)
    entries = {a.name: (a.value or "") for a in load_user_aliases(path)}
    entries[name] = value
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    text = "[aliases]\n" + "".join(f"  {json.dumps(k)} = {json.dumps(v)}\n" for k, v in sorted(entries.items()))
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


@attrs.frozen
class Resolved:
    """What a name resolved to.

    :ivar user_input: the short name as written (without tag/digest), or the full name.
    :ivar candidates: fully qualified references to pull from, in order (at least one).
    :ivar rationale: ``"none"`` (not a short name), ``"alias"``, ``"search"``
        (unqualified-search registries), ``"selection"`` (chosen at the prompt) or
        ``"docker-hub"`` (no search registries: docker.io).
    :ivar origin: the file the alias or the search registries came from.
    :ivar record: whether a successful pull should record the candidate as an alias.
    """

    user_input: str
    candidates: Tuple[DockerReference, ...]
    rationale: str = "none"
    origin: str = ""
    record: bool = False

    def description(self) -> str:
        """A line to show before pulling (empty when there is nothing to say)."""
        if self.rationale == "alias":
            return f"Resolved {self.user_input!r} as an alias ({self.origin})"
        if self.rationale == "search":
            return f"Resolving {self.user_input!r} using unqualified-search registries ({self.origin})"
        if self.rationale == "docker-hub":
            return f"Resolving {self.user_input!r} to docker.io ({self.origin})"
        return ""


def _with_tag_digest(name: str, ref: DockerReference) -> DockerReference:
    base = parse_docker_reference(name, normalize=False)
    return DockerReference(base.registry, base.repository, ref.tag, ref.digest)


def resolve_short_name(
    ref: DockerReference, conf: RegistriesConf, *, user_aliases: Sequence[Alias] = (),
    prompt: Optional[Prompt] = None,
) -> Resolved:
    """Resolve ``ref`` for a pull (see the module docstring); pure apart from ``prompt``.

    Raises :class:`~ociclient.errors.ShortNameError` when ``short-name-mode = "enforcing"``
    forbids trying several registries and there is no prompt.
    """
    if ref.short_name is None:
        return Resolved(ref.string(), (ref,))
    name = ref.short_name
    mode = conf.short_name_mode

    alias: Optional[Alias] = None
    for a in user_aliases:
        if a.name == name:
            alias = a
            break
    if alias is None:
        alias = conf.find_alias(name)
    if alias is not None and alias.value is not None:
        return Resolved(name, (_with_tag_digest(alias.value, ref),), "alias", alias.origin)

    registries = conf.unqualified_search_registries
    files = ", ".join(conf.files)
    if not registries:
        plain = attrs.evolve(ref, short_name=None)
        why = (f"no unqualified-search registries are defined in {files}" if files
               else "no containers-registries.conf(5) was found")
        return Resolved(name, (plain,), "docker-hub", why)

    origin = conf.search_registries_origin or files
    cands: List[DockerReference] = []
    for reg in registries:
        try:
            cands.append(parse_docker_reference(f"{reg}/{ref.short_input()}"))
        except ReferenceInvalid as e:
            raise ConfigError(f"creating reference with unqualified-search registry {reg!r}: {e}") from None
    resolved = Resolved(name, tuple(cands), "search", origin)
    if mode == "disabled" or len(cands) == 1:
        return resolved
    if prompt is not None:
        strs = [c.string() for c in cands]
        choice = prompt(strs)
        if choice not in strs:
            raise ShortNameError(f"short name {ref.short_input()!r}: {choice!r} is not one of the candidates")
        return Resolved(name, (cands[strs.index(choice)],), "selection", origin, record=True)
    if mode == "permissive":
        return resolved
    raise ShortNameError(
        f"short name {ref.short_input()!r} is ambiguous: the unqualified-search registries of "
        f"{origin} give {len(cands)} candidates ({', '.join(c.string() for c in cands)}) and "
        "short-name-mode is \"enforcing\" (short-name resolution enforced but cannot prompt "
        "without a TTY); use a fully qualified name or add an alias to [aliases]")


def terminal_prompt(candidates: Sequence[str], stdin: Any = None, stderr: Any = None) -> str:
    """Ask on the terminal which candidate to pull (the command line's prompt)."""
    import sys

    stdin = stdin or sys.stdin
    stderr = stderr or sys.stderr
    stderr.write("? Please select an image:\n")
    for i, c in enumerate(candidates, 1):
        stderr.write(f"  {i}) {c}\n")
    while True:
        stderr.write(f"Choice [1-{len(candidates)}]: ")
        stderr.flush()
        line = stdin.readline()
        if not line:
            raise ShortNameError("short-name selection: no answer")
        line = line.strip()
        if line.isdigit() and 1 <= int(line) <= len(candidates):
            return candidates[int(line) - 1]
        if line in candidates:
            return line
