"""Parsing ``WWW-Authenticate`` challenges (RFC 7235) and building token scopes (pure)."""

from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Tuple

import attrs


@attrs.frozen
class Challenge:
    """One authentication challenge: a scheme (lower-cased) and its parameters."""

    scheme: str
    params: Dict[str, str] = attrs.field(factory=dict, hash=False)

    @property
    def realm(self) -> Optional[str]:
        return self.params.get("realm")

    @property
    def service(self) -> Optional[str]:
        return self.params.get("service")

    @property
    def scopes(self) -> Tuple[str, ...]:
        """The ``scope`` parameter split on spaces."""
        s = self.params.get("scope")
        return tuple(s.split()) if s else ()

    @property
    def error(self) -> Optional[str]:
        return self.params.get("error")


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
_WS = re.compile(r"[ \t]*")


def parse_challenges(header: str) -> List[Challenge]:
    """Parse a ``WWW-Authenticate`` value that may hold several challenges.

    >>> from ociclient.challenge import parse_challenges
    >>> parse_challenges('Bearer realm="https://a/token",service="reg",scope="repository:x:pull,push"')[0].scopes
    ('repository:x:pull,push',)
    """
    out: List[Challenge] = []
    i, n = 0, len(header)
    current: Optional[Challenge] = None
    while i < n:
        i = _WS.match(header, i).end()  # type: ignore[union-attr]
        if i < n and header[i] == ",":
            i += 1
            continue
        m = _TOKEN_RE.match(header, i)
        if not m:
            break
        word = m.group(0)
        j = _WS.match(header, m.end()).end()  # type: ignore[union-attr]
        if j < n and header[j] == "=" and current is not None:
            # a parameter of the current challenge
            j = _WS.match(header, j + 1).end()  # type: ignore[union-attr]
            if j < n and header[j] == '"':
                j += 1
                buf = []
                while j < n and header[j] != '"':
                    if header[j] == "\\" and j + 1 < n:
                        j += 1
                    buf.append(header[j])
                    j += 1
                value = "".join(buf)
                j += 1
            else:
                vm = _TOKEN_RE.match(header, j)
                value = vm.group(0) if vm else ""
                j = vm.end() if vm else j
            current.params[word.lower()] = value
            i = j
        else:
            current = Challenge(scheme=word.lower(), params={})
            out.append(current)
            i = m.end()
    return out


def repository_scope(repository: str, actions: Iterable[str]) -> str:
    """``repository:<name>:<a,b>``"""
    return f"repository:{repository}:{','.join(actions)}"


def merge_scopes(scopes: Iterable[str]) -> Tuple[str, ...]:
    """Merge scopes of the same resource (union of actions), keeping first-seen order."""
    order: List[Tuple[str, str]] = []
    acts: Dict[Tuple[str, str], List[str]] = {}
    for s in scopes:
        if not s:
            continue
        head, sep, actions = s.rpartition(":")
        if not sep or ":" not in head:
            key = (s, "")
            if key not in acts:
                order.append(key)
                acts[key] = []
            continue
        typ, _, name = head.partition(":")
        key = (typ, name)
        if key not in acts:
            order.append(key)
            acts[key] = []
        for a in actions.split(","):
            if a and a not in acts[key]:
                acts[key].append(a)
    out = []
    for key in order:
        if key[1] == "" and not acts[key]:
            out.append(key[0])
        else:
            out.append(f"{key[0]}:{key[1]}:{','.join(acts[key])}")
    return tuple(out)
