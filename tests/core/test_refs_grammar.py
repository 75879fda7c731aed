"""Ref names, remote names, refspecs and collection IDs are told by string methods
(ostreepy.store.refs, which imports no re): they accept and refuse what ostree-core.c's
regular expressions do, read here as the module read them before."""

from __future__ import annotations

import random
import re

from ostreepy.errors import InvalidRefError
from ostreepy.store import refs

_F = r"[\w\d][-._\w\d]*"
_REF = re.compile(rf"^(?:{_F}/)*{_F}$", re.ASCII)
_REMOTE = re.compile(rf"^{_F}$", re.ASCII)
_REFSPEC = re.compile(rf"^(?:({_F}):)?((?:{_F}/)*{_F})$", re.ASCII)
_ELEMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def _answer(fn, text):
    try:
        return fn(text)
    except InvalidRefError:
        return "refused"


def test_the_string_grammar_is_the_regular_expressions() -> None:
    rng = random.Random(3)
    alphabet = "aZ09_-./:\n é\t"
    samples = ["main", "a/b", "a//b", "/a", "a/", "-a", "_a", "o:main", ":main", "o:", "a:b:c", "x\n", "é",
               "exampleos/x86_64/stable", "org.example.Os", "a.b", "1a.b", "a.", ""]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7))) for _ in range(40000)]
    for s in samples:
        assert (_answer(refs.validate_ref, s) == s) == bool(_REF.fullmatch(s)), repr(s)
        assert (_answer(refs.validate_remote_name, s) == s) == bool(_REMOTE.fullmatch(s)), repr(s)
        m = _REFSPEC.fullmatch(s)
        assert _answer(refs.parse_refspec, s) == ((m.group(1), m.group(2)) if m else "refused"), repr(s)
        c = s.replace("/", ".")
        parts = c.split(".")
        valid = len(c) <= 255 and len(parts) >= 2 and all(_ELEMENT.fullmatch(p) for p in parts)
        assert (_answer(refs.validate_collection_id, c) == c) == valid, repr(c)
