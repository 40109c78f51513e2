"""The one list of runnable modules: the basic services shipped here, and plugins.

Atlas, Almanac and Chronicle are declared in this package. A module declared elsewhere
(Compute and Randomness live in the ``organisms`` package, which this one never imports)
registers through the ``coalition.modules`` entry-point group: the entry's name is the module
kind (``compute``, ``randomness``) and its value a `ModuleSpec`. `runnable()` is what
``coalition up`` plans and `start_member` runs; a shipped module missing from it is named, not
silently skipped.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Final

from ..modules import ModuleKind
from .almanac import ALMANAC
from .atlas import ATLAS
from .chronicle import CHRONICLE
from .module import ModuleSpec

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "runnable", "spec_of"]

log = logging.getLogger("coalition.services.registry")

ENTRY_POINT_GROUP: Final = "coalition.modules"
BUILTIN: Final[dict[ModuleKind, ModuleSpec[Any, Any]]] = {
    s.kind: s for s in (ATLAS, ALMANAC, CHRONICLE)
}


@cache
def runnable() -> dict[ModuleKind, ModuleSpec[Any, Any]]:
    """Every module this installation can run: built in, then registered plugins."""
    out = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            kind = ModuleKind(ep.name)
            spec = ep.load()
        except Exception as exc:  # a broken plugin must not take the built-in modules down
            log.error("module plugin %s (%s) cannot load: %s", ep.name, ep.value, exc)
            continue
        if not isinstance(spec, ModuleSpec) or spec.kind is not kind:
            log.error("module plugin %s (%s) is not a ModuleSpec for %s", ep.name, ep.value, kind)
            continue
        out.setdefault(kind, spec)
    return out


def spec_of(kind: ModuleKind) -> ModuleSpec[Any, Any]:
    """The declaration of ``kind``; `ValueError` names a module nobody implements here."""
    spec = runnable().get(kind)
    if spec is None:
        raise ValueError(f"the {kind.value} module is not implemented yet")
    return spec
