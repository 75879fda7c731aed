"""Hooks the store calls after it changed something, registered by the rooms above it.

The store may not import the transport (the summary writer lives there), yet a repository with
``core.auto-update-summary`` must regenerate its summary whenever its refs change. The room above
registers a function here; :class:`~ostreepy.store.repo.Repo` calls it. This module imports nothing,
so the command line can register its hook without loading the store for a verb that never opens a
repository."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Callable, List

#: run after a repository's refs changed when ``core.auto-update-summary`` asks (see
#: :meth:`Repo._refs_changed`); the summary writer of the remote room registers here
REFS_CHANGED_HOOKS: List[Callable[..., None]] = []


def on_refs_changed(hook: Callable[..., None]) -> None:
    """Call ``hook(repo)`` (with the :class:`~ostreepy.store.repo.Repo`; not named in the type
    because repo imports this module) whenever refs changed in a repository configured with
    ``core.auto-update-summary`` (registered once; a second registration is ignored)."""
    if hook not in REFS_CHANGED_HOOKS:
        REFS_CHANGED_HOOKS.append(hook)
