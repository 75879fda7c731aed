"""The house: each room of ``ostreepy`` imports only the rooms below it, and no
modules import each other in a circle. Read from the source (every import,
also those inside functions), so a lazy import cannot hide a wrong direction."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

ROOT = Path(__file__).resolve().parents[2]

# room -> the rooms it may import; "base" is ostreepy's own errors, progress and fsutil
ALLOWED: Dict[str, Set[str]] = {
    "base": set(),
    "store": {"base"},
    "remote": {"base", "store", "ociclient"},
    "composefs": {"base", "store"},
    "container": {"base", "store", "ociclient"},
    "sysroot": {"base", "store", "remote", "composefs", "bootloader"},
    "bootc": {"base", "store", "remote", "container", "sysroot", "composefs", "bootloader", "ociclient"},
    "install": {"base", "store", "remote", "container", "sysroot", "composefs", "bootc", "bootloader", "ociclient"},
    "api": {"base", "store", "remote", "container", "sysroot", "composefs", "bootc", "install", "bootloader",
            "ociclient"},
    "cli": {"base", "store", "remote", "container", "sysroot", "composefs", "bootc", "install", "api",
            "bootloader", "ociclient"},
    "ociclient": {"ociclient"},
    "bootloader": {"bootloader"},
}
BASE = {"errors", "progress", "_deferred", "_process", "fsutil", "parallel", "_version"}


def room_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("ociclient", "bootloader"):
        return parts[0]
    if len(parts) == 1:
        return "api"  # the package itself re-exports the high-level layer
    if parts[1] in BASE and len(parts) == 2:
        return "base"
    if parts[1] in ("porcelain", "demo"):
        return "api"
    if parts[1] == "__main__":
        return "cli"
    return parts[1]


def modules() -> Dict[str, Path]:
    out = {}
    for pkg in ("ostreepy", "ociclient", "bootloader"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            rel = p.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def imports_of(name: str, path: Path, known: Set[str]) -> List[Tuple[str, bool]]:
    """(imported module, at module level) for every import in the file."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    pkg = name if is_pkg else name.rsplit(".", 1)[0]
    toplevel = {id(n) for n in tree.body}
    # imports under `if TYPE_CHECKING:` do not run
    for n in tree.body:
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n.test):
            toplevel.update(id(x) for x in ast.walk(n))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            cands = [target] + [f"{target}.{a.name}" for a in node.names]
            for c in cands:
                if c in known:
                    out.append((c, id(node) in toplevel))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in known:
                    out.append((a.name, id(node) in toplevel))
    return out


def test_rooms_import_only_rooms_below():
    mods = modules()
    known = set(mods)
    bad = []
    for name, path in mods.items():
        src_room = room_of(name)
        for target, _ in imports_of(name, path, known):
            dst_room = room_of(target)
            if dst_room == src_room:
                continue
            if dst_room not in ALLOWED[src_room]:
                bad.append(f"{name} ({src_room}) imports {target} ({dst_room})")
    assert not bad, "\n".join(bad)


def test_no_import_circles():
    """No cycle among imports, lazy ones included (a package importing its own
    submodules to re-export them is the package, not a circle)."""
    mods = modules()
    known = set(mods)
    graph: Dict[str, Set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for target, _top in imports_of(name, path, known):
            if target == name or target.startswith(name + "."):
                continue  # a package re-exporting its own modules
            if name.startswith(target + "."):
                continue  # `from . import x` names the package only to reach its module x
            deps.add(target)
        graph[name] = deps
    cycles = []
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "\n".join(cycles)


def test_every_room_has_a_design_docstring():
    for name, path in modules().items():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        if path.name == "__main__.py":
            continue
        assert doc and len(doc) > 20, f"{name} has no module docstring"


def test_no_room_shadows_a_high_level_name():
    """``ostreepy.pull`` is a function; a subpackage ``ostreepy/pull/`` would
    replace it on the package as soon as anything imported the subpackage."""
    import ostreepy
    rooms = {p.name for p in (ROOT / "ostreepy").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules_ = {p.stem for p in (ROOT / "ostreepy").glob("*.py")}
    functions = {n for n in ostreepy.__all__ if callable(getattr(ostreepy, n, None))
                 and not isinstance(getattr(ostreepy, n), type(ostreepy))}
    assert not functions & (rooms | modules_)
